/* config_json_pos.h — JSON paths and source positions for config error messages.
 *
 * jansson does not keep the line and column of parsed values, so on the
 * error path the config loader walks the original text again with the small
 * scanner here and asks where the value (or member name) at a JSON path
 * ("$.limits.max_startups", "$.routes[2].match.kind") starts.
 *
 * Paths are built with struct sg_jpath on both sides so they compare as
 * plain strings: ".key" for keys made of [A-Za-z0-9_-], ["key"] (JSON
 * escaped) otherwise, "[N]" for array elements.
 */
#ifndef SSHGATE_CONFIG_JSON_POS_H
#define SSHGATE_CONFIG_JSON_POS_H

#include <stdbool.h>
#include <stddef.h>

/* A growable path string, "$" when empty. After an allocation failure the
 * path stays at its last good value and `oom` is set. */
struct sg_jpath {
    char *s;
    size_t len, cap;
    bool oom;
};

void sg_jpath_init(struct sg_jpath *p);
void sg_jpath_free(struct sg_jpath *p);
/* Append a member name / array index; return the previous length for pop. */
size_t sg_jpath_push_key(struct sg_jpath *p, const char *key);
size_t sg_jpath_push_index(struct sg_jpath *p, size_t index);
void sg_jpath_pop(struct sg_jpath *p, size_t old_len);
static inline const char *sg_jpath_str(const struct sg_jpath *p)
{
    return p->s ? p->s : "$";
}

/* Find where the value at `path` starts in the JSON `text` (len bytes), or,
 * with want_key, where its member name starts. line and col are 1-based;
 * columns count UTF-8 characters, like jansson's. Returns 0 when found, -1
 * when not found or the text is not JSON. */
int sg_json_pos_find(const char *text, size_t len, const char *path, bool want_key, int *line,
                     int *col);

#endif
