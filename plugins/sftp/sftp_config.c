/* sftp plugin configuration (see sftp_config.h). */
#include "sftp_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[SFTP_OP_COUNT] = {
    [SFTP_OP_OPEN_READ] = "open-read", [SFTP_OP_OPEN_WRITE] = "open-write",
    [SFTP_OP_LIST] = "list",           [SFTP_OP_STAT] = "stat",
    [SFTP_OP_REMOVE] = "remove",       [SFTP_OP_RENAME] = "rename",
    [SFTP_OP_MKDIR] = "mkdir",         [SFTP_OP_RMDIR] = "rmdir",
    [SFTP_OP_SETSTAT] = "setstat",     [SFTP_OP_SYMLINK] = "symlink",
    [SFTP_OP_HARDLINK] = "hardlink",   [SFTP_OP_READLINK] = "readlink",
    [SFTP_OP_STATVFS] = "statvfs",     [SFTP_OP_FSYNC] = "fsync",
    [SFTP_OP_COPY] = "copy",
};

/* Operations that change the file system: refused when read_only. */
static const uint32_t write_ops = (1u << SFTP_OP_OPEN_WRITE) | (1u << SFTP_OP_REMOVE) |
                                  (1u << SFTP_OP_RENAME) | (1u << SFTP_OP_MKDIR) |
                                  (1u << SFTP_OP_RMDIR) | (1u << SFTP_OP_SETSTAT) |
                                  (1u << SFTP_OP_SYMLINK) | (1u << SFTP_OP_HARDLINK) |
                                  (1u << SFTP_OP_FSYNC) | (1u << SFTP_OP_COPY);

const char *sftp_op_name(enum sftp_op op)
{
    return (unsigned)op < SFTP_OP_COUNT ? op_names[op] : "?";
}

int sftp_cfg_init(struct sftp_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->root = strdup("sftp/%u");
    if (!c->root)
        return -ENOMEM;
    c->create_root = true;
    c->root_mode = 0700;
    c->umask = 0022;
    c->file_mode = 0666;
    c->dir_mode = 0777;
    c->symlinks = SFTP_SYMLINKS_INSIDE;
    c->max_handles = SFTP_DEFAULT_MAX_HANDLES;
    c->max_read = SFTP_DEFAULT_MAX_READ;
    c->audit = true;
    return 0;
}

void sftp_cfg_free(struct sftp_cfg *c)
{
    free(c->root);
    c->root = NULL;
}

int sftp_cfg_copy(struct sftp_cfg *dst, const struct sftp_cfg *src)
{
    *dst = *src;
    dst->root = strdup(src->root);
    return dst->root ? 0 : -ENOMEM;
}

bool sftp_cfg_permits(const struct sftp_cfg *c, enum sftp_op op)
{
    uint32_t bit = 1u << op;

    if (c->read_only && (write_ops & bit))
        return false;
    if (c->has_allow && !(c->allow_mask & bit))
        return false;
    return !(c->deny_mask & bit);
}

/* ---- JSON ----------------------------------------------------------------- */

static int get_mode(json_t *v, unsigned max, unsigned *out)
{
    char *end;
    long n;

    if (json_is_integer(v)) {
        n = (long)json_integer_value(v);
    } else if (json_is_string(v)) {
        errno = 0;
        n = strtol(json_string_value(v), &end, 8);
        if (errno || end == json_string_value(v) || *end)
            return -1;
    } else {
        return -1;
    }
    if (n < 0 || (unsigned long)n > max)
        return -1;
    *out = (unsigned)n;
    return 0;
}

static int get_ops(json_t *v, uint32_t *mask, const char **bad)
{
    size_t i, k;
    json_t *e;

    *mask = 0;
    *bad = NULL;
    if (!json_is_array(v))
        return -1;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return -1;
        for (k = 0; k < SFTP_OP_COUNT; k++)
            if (strcmp(json_string_value(e), op_names[k]) == 0)
                break;
        /* accept the extension spellings as aliases */
        if (k == SFTP_OP_COUNT && strcmp(json_string_value(e), "posix-rename") == 0)
            k = SFTP_OP_RENAME;
        if (k == SFTP_OP_COUNT && strcmp(json_string_value(e), "lsetstat") == 0)
            k = SFTP_OP_SETSTAT;
        if (k == SFTP_OP_COUNT && strcmp(json_string_value(e), "copy-data") == 0)
            k = SFTP_OP_COPY;
        if (k == SFTP_OP_COUNT) {
            *bad = json_string_value(e);
            return -1;
        }
        *mask |= 1u << k;
    }
    return 0;
}

static int apply_key(struct sftp_cfg *c, const char *key, json_t *v, char *err, size_t errlen)
{
    const char *bad;
    json_int_t n;
    char *s;

    if (strcmp(key, "root") == 0) {
        if (!json_is_string(v) || !json_string_value(v)[0])
            goto type;
        s = strdup(json_string_value(v));
        if (!s)
            goto type;
        free(c->root);
        c->root = s;
    } else if (strcmp(key, "create_root") == 0) {
        if (!json_is_boolean(v))
            goto type;
        c->create_root = json_is_true(v);
    } else if (strcmp(key, "root_mode") == 0) {
        if (get_mode(v, 07777, &c->root_mode) < 0)
            goto type;
    } else if (strcmp(key, "umask") == 0) {
        if (get_mode(v, 0777, &c->umask) < 0)
            goto type;
    } else if (strcmp(key, "file_mode") == 0) {
        if (get_mode(v, 0777, &c->file_mode) < 0)
            goto type;
    } else if (strcmp(key, "dir_mode") == 0) {
        if (get_mode(v, 01777, &c->dir_mode) < 0)
            goto type;
    } else if (strcmp(key, "read_only") == 0) {
        if (!json_is_boolean(v))
            goto type;
        c->read_only = json_is_true(v);
    } else if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0) {
        uint32_t mask;
        if (get_ops(v, &mask, &bad) < 0) {
            if (bad)
                snprintf(err, errlen, "sftp: %s: unknown operation \"%s\"", key, bad);
            else
                snprintf(err, errlen, "sftp: %s: expected an array of operation names", key);
            return -1;
        }
        if (key[0] == 'a') {
            c->has_allow = true;
            c->allow_mask = mask;
        } else {
            c->deny_mask = mask;
        }
    } else if (strcmp(key, "symlinks") == 0) {
        if (!json_is_string(v))
            goto type;
        if (strcmp(json_string_value(v), "inside") == 0)
            c->symlinks = SFTP_SYMLINKS_INSIDE;
        else if (strcmp(json_string_value(v), "off") == 0)
            c->symlinks = SFTP_SYMLINKS_OFF;
        else
            goto type;
    } else if (strcmp(key, "max_handles") == 0) {
        if (!json_is_integer(v))
            goto type;
        n = json_integer_value(v);
        if (n < 1 || n > 65536)
            goto type;
        c->max_handles = (unsigned)n;
    } else if (strcmp(key, "max_read") == 0) {
        if (!json_is_integer(v))
            goto type;
        n = json_integer_value(v);
        if (n < 512 || n > SFTP_DEFAULT_MAX_READ)
            goto type;
        c->max_read = (uint32_t)n;
    } else if (strcmp(key, "audit") == 0) {
        if (!json_is_boolean(v))
            goto type;
        c->audit = json_is_true(v);
    } else if (strcmp(key, "resolve") == 0) {
        if (!json_is_string(v))
            goto type;
        if (strcmp(json_string_value(v), "walk") == 0)
            c->force_walk = true;
        else if (strcmp(json_string_value(v), "openat2") == 0)
            c->force_walk = false;
        else
            goto type;
    } else {
        snprintf(err, errlen, "sftp: unknown config key \"%s\"", key);
        return -1;
    }
    return 0;
type:
    snprintf(err, errlen, "sftp: bad value for \"%s\" (see plugins/sftp/README.md)", key);
    return -1;
}

int sftp_cfg_apply_json(struct sftp_cfg *c, const char *json_text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;
    int rc = -1;

    if (!json_text || !json_text[0])
        return 0;
    root = json_loads(json_text, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "sftp: config: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "sftp: config must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (apply_key(c, key, v, err, errlen) < 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int sftp_cfg_expand_root(const char *tmpl, const char *user, char *out, size_t cap)
{
    size_t len = 0, n;
    const char *p;

    if (!user || !user[0] || strchr(user, '/') || strcmp(user, ".") == 0 || strcmp(user, "..") == 0)
        return -1;
    for (p = tmpl; *p; p++) {
        const char *add = p;
        n = 1;
        if (*p == '%') {
            if (p[1] == 'u') {
                add = user;
                n = strlen(user);
                p++;
            } else if (p[1] == '%') {
                p++;
            } else {
                return -1;
            }
        }
        if (len + n + 1 > cap)
            return -1;
        memcpy(out + len, add, n);
        len += n;
    }
    if (len == 0)
        return -1;
    out[len] = '\0';
    return 0;
}
