/* config_schema.c — the table-driven JSON checker behind config.c (see
 * config_schema.h): positioned errors and warnings, typed fields, string
 * lists. */
#include "config_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_suggest.h"

/* Copy s for a message: at most SG_CFG_SHOW_MAX characters, control bytes as '?'. */
const char *sg_cfg_shown(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    if (len == 0)
        return "";
    for (; s && s[i] && i + 4 < len && i < SG_CFG_SHOW_MAX; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s && s[i] && i + 4 <= len) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static void cfg_locate(struct sg_cfg_ctx *c, bool at_key, int *line, int *col)
{
    if (sg_json_pos_find(c->text, c->text_len, sg_jpath_str(&c->path), at_key, line, col) < 0) {
        *line = 1;
        *col = 1;
    }
}

static void cfg_vformat_at(struct sg_cfg_ctx *c, bool at_key, char *buf, size_t len,
                           const char *tag, const char *fmt, va_list ap)
{
    int line, col;
    cfg_locate(c, at_key, &line, &col);
    int n = snprintf(buf, len, "%s:%d:%d: %s: %s", c->name, line, col, sg_jpath_str(&c->path), tag);
    if (n >= 0 && (size_t)n < len)
        vsnprintf(buf + n, len - (size_t)n, fmt, ap);
}

/* Record the (first) error at the current path; returns -1. */
int sg_cfg_fail_at(struct sg_cfg_ctx *c, bool at_key, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    c->failed = true;
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        cfg_vformat_at(c, at_key, c->err, c->errlen, "", fmt, ap);
        va_end(ap);
    }
    return -1;
}

int sg_cfg_oom(struct sg_cfg_ctx *c)
{
    if (!c->failed && c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: out of memory", c->name);
    c->failed = true;
    return -1;
}

int sg_cfg_warn(struct sg_cfg_ctx *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    cfg_vformat_at(c, false, line, sizeof(line), "warning: ", fmt, ap);
    va_end(ap);
    if (c->warnings && sg_cfg_strlist_push(c->warnings, line) < 0)
        return sg_cfg_oom(c);
    if (c->warn_cb)
        c->warn_cb(line, c->warn_ud);
    return 0;
}

/* ---- small helpers ------------------------------------------------------ */

int sg_cfg_strlist_push(struct sg_strlist *l, const char *s)
{
    char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    if (!(v[l->n] = strdup(s)))
        return -1;
    v[++l->n] = NULL;
    return 0;
}

void sg_cfg_strlist_free(struct sg_strlist *l)
{
    for (size_t i = 0; l->v && i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int sg_cfg_strlist_init(struct sg_strlist *l, const char *const *items)
{
    sg_cfg_strlist_free(l);
    if (!(l->v = calloc(1, sizeof(*l->v))))
        return -1;
    for (size_t i = 0; items && items[i]; i++)
        if (sg_cfg_strlist_push(l, items[i]) < 0)
            return -1;
    return 0;
}

bool sg_strlist_contains(const struct sg_strlist *l, const char *s)
{
    for (size_t i = 0; l && l->v && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

char *sg_strlist_join(const struct sg_strlist *l, char sep)
{
    size_t len = 1;
    for (size_t i = 0; l && i < l->n; i++)
        len += strlen(l->v[i]) + 1;
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; l && i < l->n; i++) {
        size_t k = strlen(l->v[i]);
        if (i)
            *p++ = sep;
        memcpy(p, l->v[i], k);
        p += k;
    }
    *p = '\0';
    return out;
}

int sg_cfg_set_str(char **dst, const char *s)
{
    char *d = strdup(s);
    if (!d)
        return -1;
    free(*dst);
    *dst = d;
    return 0;
}

/* " (did you mean 'x'?)" or "" */
const char *sg_cfg_did_you_mean(const char *word, const char *const *cands, size_t n, char *buf,
                                size_t len)
{
    const char *s = sg_suggest(word, cands, n);
    buf[0] = '\0';
    if (s)
        snprintf(buf, len, " (did you mean '%s'?)", s);
    return buf;
}

static const char *cfg_type_label(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

int sg_cfg_type_error(struct sg_cfg_ctx *c, const json_t *v, const char *want)
{
    return sg_cfg_fail(c, "expected %s, got %s", want, cfg_type_label(v));
}

/* ---- the field table machinery ------------------------------------------ */

int sg_cfg_parse_object(struct sg_cfg_ctx *c, json_t *obj, const struct sg_cfg_field *fields,
                        void *base)
{
    const char *key;
    json_t *val;

    if (!json_is_object(obj))
        return sg_cfg_type_error(c, obj, "an object");
    json_object_foreach(obj, key, val)
    {
        const char *names[64];
        size_t n = 0;
        const struct sg_cfg_field *f;
        for (f = fields; f->key; f++) {
            if (strcmp(f->key, key) == 0)
                break;
            if (n < 64)
                names[n++] = f->key;
        }
        if (f->key)
            continue;
        for (; f->key && n < 64; f++)
            names[n++] = f->key;
        size_t old = sg_jpath_push_key(&c->path, key);
        sg_cfg_fail_at(c, true, "unknown key '%s'%s", SG_CFG_SHOW(key), SG_CFG_DYM(key, names, n));
        sg_jpath_pop(&c->path, old);
        return -1;
    }
    for (const struct sg_cfg_field *f = fields; f->key; f++) {
        json_t *v = json_object_get(obj, f->key);
        if (!v)
            continue;
        size_t old = sg_jpath_push_key(&c->path, f->key);
        int rc = f->fn(c, f, v, base);
        sg_jpath_pop(&c->path, old);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int sg_cfg_missing_key(struct sg_cfg_ctx *c, const char *key)
{
    return sg_cfg_fail(c, "missing required key '%s'", key);
}

int sg_cfg_f_object(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_object(c, v, f->extra, base);
}

int sg_cfg_f_int(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_integer(v))
        return sg_cfg_type_error(c, v, "an integer");
    long long x = json_integer_value(v);
    if (x < f->min || x > f->max)
        return sg_cfg_fail(c, "%lld is out of range (%lld..%lld)", x, f->min, f->max);
    *SG_CFG_AT(base, f, int) = (int)x;
    return 0;
}

int sg_cfg_f_seconds(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_integer(v))
        return sg_cfg_type_error(c, v, "an integer number of seconds");
    long long x = json_integer_value(v);
    if (x < f->min || x > f->max)
        return sg_cfg_fail(c, "%lld seconds is out of range (%lld..%lld)", x, f->min, f->max);
    *SG_CFG_AT(base, f, int) = (int)x;
    return 0;
}

int sg_cfg_f_bool(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_boolean(v))
        return sg_cfg_type_error(c, v, "true or false");
    *SG_CFG_AT(base, f, bool) = json_is_true(v);
    return 0;
}

int sg_cfg_check_string(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                        bool nonempty)
{
    if (!json_is_string(v))
        return sg_cfg_type_error(c, v, "a string");
    size_t len = json_string_length(v);
    size_t max = f->max > 0 ? (size_t)f->max : SG_CFG_MAX_STRING;
    if (nonempty && len == 0)
        return sg_cfg_fail(c, "must not be empty");
    if (len > max)
        return sg_cfg_fail(c, "string is too long (%zu bytes, at most %zu)", len, max);
    if (strlen(json_string_value(v)) != len)
        return sg_cfg_fail(c, "string contains a NUL character");
    return 0;
}

int sg_cfg_f_string(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (sg_cfg_check_string(c, f, v, false) < 0)
        return -1;
    return sg_cfg_set_str(SG_CFG_AT(base, f, char *), json_string_value(v)) < 0 ? sg_cfg_oom(c) : 0;
}

int sg_cfg_f_string_nonempty(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                             void *base)
{
    if (sg_cfg_check_string(c, f, v, true) < 0)
        return -1;
    return sg_cfg_set_str(SG_CFG_AT(base, f, char *), json_string_value(v)) < 0 ? sg_cfg_oom(c) : 0;
}

/* Any JSON object, kept as compact JSON text. */
int sg_cfg_f_json_object(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_object(v))
        return sg_cfg_type_error(c, v, "an object");
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return sg_cfg_oom(c);
    free(*SG_CFG_AT(base, f, char *));
    *SG_CFG_AT(base, f, char *) = text;
    return 0;
}

/* ---- string lists -------------------------------------------------------- */

static int cfg_strlist_add_checked(struct sg_cfg_ctx *c, struct sg_strlist *out, const char *s,
                                   int flags, sg_cfg_item_check_fn check, const void *arg)
{
    if (!*s)
        return sg_cfg_fail(c, "empty string in list");
    if ((flags & SG_CFG_SL_UNIQUE) && sg_strlist_contains(out, s))
        return sg_cfg_fail(c, "'%s' is listed twice", SG_CFG_SHOW(s));
    if (check && check(c, s, arg) < 0)
        return -1;
    return sg_cfg_strlist_push(out, s) < 0 ? sg_cfg_oom(c) : 0;
}

int sg_cfg_parse_strlist(struct sg_cfg_ctx *c, json_t *v, int flags, sg_cfg_item_check_fn check,
                         const void *arg, struct sg_strlist *dst)
{
    struct sg_strlist out = {0};
    int rc = -1;

    if (sg_cfg_strlist_init(&out, NULL) < 0) {
        sg_cfg_oom(c);
        goto out;
    }
    if (json_is_string(v) && (flags & SG_CFG_SL_SINGLE)) {
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
            sg_cfg_fail(c, "string contains a NUL character");
            goto out;
        }
        if (!(flags & SG_CFG_SL_COMMAS)) {
            if (cfg_strlist_add_checked(c, &out, s, flags, check, arg) < 0)
                goto out;
        } else {
            char *copy = strdup(s), *save = NULL;
            if (!copy) {
                sg_cfg_oom(c);
                goto out;
            }
            bool bad = false;
            if (!*copy || copy[strlen(copy) - 1] == ',' || *copy == ',' || strstr(copy, ",,")) {
                sg_cfg_fail(c, "empty name in comma-separated list");
                bad = true;
            }
            for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save))
                bad = cfg_strlist_add_checked(c, &out, t, flags, check, arg) < 0;
            free(copy);
            if (bad)
                goto out;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            size_t old = sg_jpath_push_index(&c->path, i);
            int r = -1;
            if (!json_is_string(item))
                sg_cfg_type_error(c, item, "a string");
            else if (strlen(json_string_value(item)) != json_string_length(item))
                sg_cfg_fail(c, "string contains a NUL character");
            else
                r = cfg_strlist_add_checked(c, &out, json_string_value(item), flags, check, arg);
            if (r < 0)
                goto out; /* the path is reset by the caller */
            sg_jpath_pop(&c->path, old);
        }
    } else {
        sg_cfg_type_error(c, v,
                          (flags & SG_CFG_SL_SINGLE) ? "a string or an array of strings"
                                                     : "an array of strings");
        goto out;
    }
    if ((flags & SG_CFG_SL_NONEMPTY) && out.n == 0) {
        sg_cfg_fail(c, "must list at least one entry");
        goto out;
    }
    sg_cfg_strlist_free(dst);
    *dst = out;
    memset(&out, 0, sizeof(out));
    rc = 0;
out:
    sg_cfg_strlist_free(&out);
    return rc;
}

int sg_cfg_f_strlist(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_strlist(c, v, (int)f->min, NULL, NULL,
                                SG_CFG_AT(base, f, struct sg_strlist));
}
