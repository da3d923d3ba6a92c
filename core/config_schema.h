/* config_schema.h — the table-driven JSON checker behind config.c.
 *
 * A struct sg_cfg_field table lists the keys of one JSON object with a
 * handler, an offset into the C struct being filled, bounds and an extra
 * argument. sg_cfg_parse_object() rejects unknown keys (with "did you
 * mean"), then runs the handlers in table order. Every error is recorded
 * once, as "FILE:LINE:COL: $.json.path: message", with the position found
 * by config_json_pos.c on the original text. Internal to the config loader.
 */
#ifndef SSHGATE_CONFIG_SCHEMA_H
#define SSHGATE_CONFIG_SCHEMA_H

#include "config.h"
#include "config_json_pos.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SG_CFG_MAX_SECONDS 2147483 /* INT_MAX / 1000: fits in int milliseconds */
#define SG_CFG_MAX_STRING 65536
#define SG_CFG_SHOW_MAX 80 /* characters of a bad value quoted in a message */

typedef void (*sg_cfg_warn_fn)(const char *line, void *userdata);

struct sg_cfg_ctx {
    const char *name; /* file name for messages */
    const char *text; /* the JSON text (for positions) */
    size_t text_len;
    struct sg_jpath path; /* JSON path of the value being checked */
    char *err;            /* first error goes here */
    size_t errlen;
    bool failed;
    struct sg_strlist *warnings; /* warning lines are appended here */
    sg_cfg_warn_fn warn_cb;      /* and passed to this (may be NULL) */
    void *warn_ud;
    struct sg_config *cfg; /* the config being filled */
    bool chain_set;        /* auth.chain given explicitly */
};

struct sg_cfg_field;
typedef int (*sg_cfg_field_fn)(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                               void *base);

struct sg_cfg_field {
    const char *key;
    sg_cfg_field_fn fn;
    size_t off;         /* into the struct `base` points at */
    long long min, max; /* integers; max string length for strings (0 = default) */
    const void *extra;  /* sub-table, flags, algorithm kind, ... */
};

#define SG_CFG_AT(base, f, type) ((type *)((char *)(base) + (f)->off))

/* ---- messages ---- */
/* Record the first error at the current path (at the member name with
 * at_key, else at the value); returns -1. */
int sg_cfg_fail_at(struct sg_cfg_ctx *c, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define sg_cfg_fail(c, ...) sg_cfg_fail_at((c), false, __VA_ARGS__)
int sg_cfg_oom(struct sg_cfg_ctx *c);
/* A warning at the current path; returns 0, or -1 when out of memory. */
int sg_cfg_warn(struct sg_cfg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sg_cfg_type_error(struct sg_cfg_ctx *c, const json_t *v, const char *want);
int sg_cfg_missing_key(struct sg_cfg_ctx *c, const char *key);
/* s for a message: at most SG_CFG_SHOW_MAX characters, control bytes as '?'. */
const char *sg_cfg_shown(const char *s, char *buf, size_t len);
#define SG_CFG_SHOW(s) sg_cfg_shown((s), (char[SG_CFG_SHOW_MAX + 8]){0}, SG_CFG_SHOW_MAX + 8)
/* " (did you mean 'x'?)" or "" */
const char *sg_cfg_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf,
                                size_t len);
#define SG_CFG_DYM(word, cands, n) sg_cfg_did_you_mean((word), (cands), (n), (char[160]){0}, 160)

/* ---- string lists and strings ---- */
int sg_cfg_strlist_push(struct sg_strlist *l, const char *s);
void sg_cfg_strlist_free(struct sg_strlist *l);
/* Replace l with a copy of the NULL-terminated items (NULL = empty list). */
int sg_cfg_strlist_init(struct sg_strlist *l, const char *const *items);
int sg_cfg_set_str(char **dst, const char *s);

/* ---- objects and typed fields ---- */
int sg_cfg_parse_object(struct sg_cfg_ctx *c, json_t *obj, const struct sg_cfg_field *fields,
                        void *base);
int sg_cfg_check_string(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                        bool nonempty);
/* Handlers for struct sg_cfg_field.fn: */
int sg_cfg_f_object(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                    void *base); /* extra = sub-table, same base */
int sg_cfg_f_int(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                 void *base); /* int in min..max */
int sg_cfg_f_seconds(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base);
int sg_cfg_f_bool(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base);
int sg_cfg_f_string(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base);
int sg_cfg_f_string_nonempty(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                             void *base);
int sg_cfg_f_json_object(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                         void *base); /* char *: compact JSON text */
int sg_cfg_f_strlist(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                     void *base); /* min = SG_CFG_SL_* flags */

enum {
    SG_CFG_SL_SINGLE = 1,   /* a single string is a one-element list */
    SG_CFG_SL_COMMAS = 2,   /* a single string may be comma-separated */
    SG_CFG_SL_NONEMPTY = 4, /* at least one element */
    SG_CFG_SL_UNIQUE = 8,   /* no duplicates */
};

/* Per-item check: may fail with sg_cfg_fail (path = the item). */
typedef int (*sg_cfg_item_check_fn)(struct sg_cfg_ctx *c, const char *s, const void *arg);
/* A string list (see the flags); on success *dst is replaced. */
int sg_cfg_parse_strlist(struct sg_cfg_ctx *c, json_t *v, int flags, sg_cfg_item_check_fn check,
                         const void *arg, struct sg_strlist *dst);

#endif
