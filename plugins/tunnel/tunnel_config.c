/* tunnel_config.c — plugin and route config (JSON text) → struct tp_policy.
 * Every key is optional; unknown keys and wrong types are errors. */
#include "tunnel_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*key_fn)(struct tp_policy *p, json_t *v, char *err, size_t errlen);

static void *dup_array(const void *src, size_t n, size_t elem)
{
    void *dst;
    if (n == 0)
        return NULL;
    dst = malloc(n * elem);
    if (dst)
        memcpy(dst, src, n * elem);
    return dst;
}

/* String array → parsed elements via fn. Replaces *arr / *n on success. */
static int parse_list(json_t *v, const char *key, void **arr, size_t *n, size_t elem,
                      int (*fn)(const char *, void *, char *, size_t), char *err, size_t errlen)
{
    size_t count, i;
    json_t *item;
    char *out = NULL;
    int rc = -1;

    if (!json_is_array(v)) {
        snprintf(err, errlen, "%s: expected an array of strings", key);
        goto out;
    }
    count = json_array_size(v);
    if (count > 1024) {
        snprintf(err, errlen, "%s: too many entries (max 1024)", key);
        goto out;
    }
    if (count) {
        out = calloc(count, elem);
        if (!out) {
            snprintf(err, errlen, "%s: out of memory", key);
            goto out;
        }
    }
    json_array_foreach(v, i, item) {
        char perr[200];
        if (!json_is_string(item)) {
            snprintf(err, errlen, "%s[%zu]: expected a string", key, i);
            goto out;
        }
        if (fn(json_string_value(item), out + i * elem, perr, sizeof(perr)) != 0) {
            snprintf(err, errlen, "%s[%zu]: %s", key, i, perr);
            goto out;
        }
    }
    free(*arr);
    *arr = out;
    *n = count;
    out = NULL;
    rc = 0;
out:
    free(out);
    return rc;
}

static int open_fn(const char *s, void *o, char *e, size_t l)
{
    return tp_open_pattern_parse(s, o, e, l);
}
static int listen_fn(const char *s, void *o, char *e, size_t l)
{
    return tp_listen_pattern_parse(s, o, e, l);
}
static int cidr_fn(const char *s, void *o, char *e, size_t l)
{
    return tp_cidr_parse(s, o, e, l);
}

static int key_permit_open(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    return parse_list(v, "permit_open", (void **)&p->open, &p->n_open, sizeof(*p->open),
                      open_fn, err, errlen);
}
static int key_permit_listen(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    return parse_list(v, "permit_listen", (void **)&p->listen, &p->n_listen,
                      sizeof(*p->listen), listen_fn, err, errlen);
}
static int key_allow_cidrs(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    return parse_list(v, "allow_cidrs", (void **)&p->allow, &p->n_allow, sizeof(*p->allow),
                      cidr_fn, err, errlen);
}
static int key_deny_cidrs(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    return parse_list(v, "deny_cidrs", (void **)&p->deny, &p->n_deny, sizeof(*p->deny),
                      cidr_fn, err, errlen);
}
static int key_allow_self(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "allow_self: expected true or false");
        return -1;
    }
    p->allow_self = json_is_true(v);
    return 0;
}

static int get_uint(json_t *v, const char *key, long long lo, long long hi, long long *out,
                    char *err, size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "%s: expected an integer in %lld..%lld", key, lo, hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int key_max_forwards(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    long long x;
    if (get_uint(v, "max_forwards", 0, 100000, &x, err, errlen))
        return -1;
    p->max_forwards = (unsigned)x;
    return 0;
}
static int key_max_listeners(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    long long x;
    if (get_uint(v, "max_listeners", 0, 10000, &x, err, errlen))
        return -1;
    p->max_listeners = (unsigned)x;
    return 0;
}
static int key_connect_timeout(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    long long x;
    if (get_uint(v, "connect_timeout_ms", 1, 600000, &x, err, errlen))
        return -1;
    p->connect_timeout_ms = (unsigned)x;
    return 0;
}
static int key_idle_timeout(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    long long x;
    if (get_uint(v, "idle_timeout", 0, 30LL * 24 * 3600, &x, err, errlen))
        return -1;
    p->idle_timeout_s = (unsigned)x;
    return 0;
}
static int key_max_buffer(struct tp_policy *p, json_t *v, char *err, size_t errlen)
{
    long long x;
    if (get_uint(v, "max_buffer", 4096, 64LL * 1024 * 1024, &x, err, errlen))
        return -1;
    p->max_buffer = (size_t)x;
    return 0;
}

static const struct {
    const char *name;
    key_fn fn;
} key_handlers[] = {
    {"permit_open", key_permit_open},
    {"permit_listen", key_permit_listen},
    {"allow_cidrs", key_allow_cidrs},
    {"deny_cidrs", key_deny_cidrs},
    {"allow_self", key_allow_self},
    {"max_forwards", key_max_forwards},
    {"max_listeners", key_max_listeners},
    {"connect_timeout_ms", key_connect_timeout},
    {"idle_timeout", key_idle_timeout},
    {"max_buffer", key_max_buffer},
};

static struct tp_policy *policy_copy(const struct tp_policy *base)
{
    struct tp_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (!base) {
        struct tp_cidr deny[16];
        p->n_deny = tp_default_deny(deny, 16);
        p->deny = dup_array(deny, p->n_deny, sizeof(*deny));
        p->max_forwards = TC_DEFAULT_MAX_FORWARDS;
        p->max_listeners = TC_DEFAULT_MAX_LISTENERS;
        p->connect_timeout_ms = TC_DEFAULT_CONNECT_TIMEOUT_MS;
        p->max_buffer = TC_DEFAULT_MAX_BUFFER;
        if (p->n_deny && !p->deny)
            goto fail;
        return p;
    }
    *p = *base;
    p->open = dup_array(base->open, base->n_open, sizeof(*base->open));
    p->listen = dup_array(base->listen, base->n_listen, sizeof(*base->listen));
    p->allow = dup_array(base->allow, base->n_allow, sizeof(*base->allow));
    p->deny = dup_array(base->deny, base->n_deny, sizeof(*base->deny));
    if ((p->n_open && !p->open) || (p->n_listen && !p->listen) || (p->n_allow && !p->allow) ||
        (p->n_deny && !p->deny))
        goto fail;
    return p;
fail:
    tc_policy_free(p);
    return NULL;
}

struct tp_policy *tc_policy_parse(const char *json, const struct tp_policy *base, char *err,
                                  size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;
    struct tp_policy *p = NULL, *ret = NULL;

    if (err && errlen)
        err[0] = '\0';
    p = policy_copy(base);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!json || !*json) {
        ret = p;
        p = NULL;
        goto out;
    }
    root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "bad JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v) {
        size_t i, n = sizeof(key_handlers) / sizeof(key_handlers[0]);
        for (i = 0; i < n; i++)
            if (strcmp(key, key_handlers[i].name) == 0)
                break;
        if (i == n) {
            snprintf(err, errlen, "unknown key '%.64s'", key);
            goto out;
        }
        if (key_handlers[i].fn(p, v, err, errlen) != 0)
            goto out;
    }
    ret = p;
    p = NULL;
out:
    json_decref(root);
    tc_policy_free(p);
    return ret;
}

void tc_policy_free(struct tp_policy *p)
{
    if (!p)
        return;
    free(p->open);
    free(p->listen);
    free(p->allow);
    free(p->deny);
    free(p);
}
