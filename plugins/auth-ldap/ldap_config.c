/* ldap_config.c — parse and validate the auth-ldap config object. */
#include "ldap_config.h"

#include "ldap_escape.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_USER_FILTER "(&(objectClass=posixAccount)(uid=%u))"
#define DEFAULT_AD_FILTER "(&(objectClass=user)(sAMAccountName=%u))"
#define DEFAULT_GROUP_FILTER "(|(member=%d)(uniqueMember=%d)(memberUid=%u))"

enum key_type { K_STR, K_BOOL, K_INT, K_LIST };

struct key_def {
    const char *name;
    enum key_type type;
    size_t off;       /* offset of the field in struct sg_ldap_conf */
    size_t count_off; /* K_LIST: offset of the count */
    int min, max;     /* K_INT */
};

#define F(field) offsetof(struct sg_ldap_conf, field)
static const struct key_def key_defs[] = {
    {"uris", K_LIST, F(uris), F(n_uris), 0, 0},
    {"starttls", K_BOOL, F(starttls), 0, 0, 0},
    {"ca_file", K_STR, F(ca_file), 0, 0, 0},
    {"verify_hostname", K_BOOL, F(verify_hostname), 0, 0, 0},
    {"bind_dn", K_STR, F(bind_dn), 0, 0, 0},
    {"bind_password", K_STR, F(bind_password), 0, 0, 0},
    {"base_dn", K_STR, F(base_dn), 0, 0, 0},
    {"user_filter", K_STR, F(user_filter), 0, 0, 0},
    {"bind_dn_template", K_STR, F(bind_dn_template), 0, 0, 0},
    {"ad_domain", K_STR, F(ad_domain), 0, 0, 0},
    {"key_attribute", K_STR, F(key_attribute), 0, 0, 0},
    {"group_base_dn", K_STR, F(group_base_dn), 0, 0, 0},
    {"group_filter", K_STR, F(group_filter), 0, 0, 0},
    {"group_name_attribute", K_STR, F(group_name_attribute), 0, 0, 0},
    {"use_member_of", K_BOOL, F(use_member_of), 0, 0, 0},
    {"attributes", K_LIST, F(attributes), F(n_attributes), 0, 0},
    {"timeout_ms", K_INT, F(timeout_ms), 0, 100, 600000},
    {"network_timeout_ms", K_INT, F(network_timeout_ms), 0, 100, 600000},
    {"pool_size", K_INT, F(pool_size), 0, 0, 64},
    {"authoritative", K_BOOL, F(authoritative), 0, 0, 0},
};
#undef F
#define N_KEYS (sizeof(key_defs) / sizeof(key_defs[0]))

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void sg_ldap_conf_free(struct sg_ldap_conf *c)
{
    if (!c)
        return;
    free_list(c->uris, c->n_uris);
    free(c->ca_file);
    free(c->bind_dn);
    if (c->bind_password) {
        explicit_bzero(c->bind_password, strlen(c->bind_password));
        free(c->bind_password);
    }
    free(c->base_dn);
    free(c->user_filter);
    free(c->bind_dn_template);
    free(c->ad_domain);
    free(c->key_attribute);
    free(c->group_base_dn);
    free(c->group_filter);
    free(c->group_name_attribute);
    free_list(c->attributes, c->n_attributes);
    free(c);
}

/* Levenshtein distance, small strings only (for "did you mean"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(key_defs[i].name, name) == 0)
            return &key_defs[i];
    return NULL;
}

static const char *closest_key(const char *name)
{
    const char *best = NULL;
    size_t bd = 4;
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t d = edit_distance(name, key_defs[i].name);
        size_t nl = strlen(name);
        if (nl >= 4 && strncmp(name, key_defs[i].name, nl) == 0)
            d = 1; /* a prefix: "timeout" -> "timeout_ms" */
        if (d < bd) {
            bd = d;
            best = key_defs[i].name;
        }
    }
    return best;
}

static int set_key(struct sg_ldap_conf *c, const struct key_def *k, json_t *v, char *err,
                   size_t errlen)
{
    char *base = (char *)c;
    switch (k->type) {
    case K_STR: {
        if (!json_is_string(v))
            goto type;
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
            set_err(err, errlen, "auth-ldap: \"%s\" contains a NUL byte", k->name);
            return -1;
        }
        char **dst = (char **)(base + k->off);
        free(*dst);
        *dst = strdup(s);
        return *dst ? 0 : -1;
    }
    case K_BOOL:
        if (!json_is_boolean(v))
            goto type;
        *(bool *)(base + k->off) = json_is_true(v);
        return 0;
    case K_INT: {
        if (!json_is_integer(v))
            goto type;
        json_int_t n = json_integer_value(v);
        if (n < k->min || n > k->max) {
            set_err(err, errlen, "auth-ldap: \"%s\" must be %d..%d", k->name, k->min, k->max);
            return -1;
        }
        *(int *)(base + k->off) = (int)n;
        return 0;
    }
    case K_LIST: {
        if (!json_is_array(v))
            goto type;
        size_t n = json_array_size(v);
        char **list = calloc(n + 1, sizeof(*list));
        if (!list)
            return -1;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || !json_string_value(e)[0] ||
                strlen(json_string_value(e)) != json_string_length(e)) {
                free_list(list, i);
                set_err(err, errlen, "auth-ldap: \"%s\"[%zu] must be a non-empty string", k->name,
                        i);
                return -1;
            }
            list[i] = strdup(json_string_value(e));
            if (!list[i]) {
                free_list(list, i);
                return -1;
            }
        }
        char ***dst = (char ***)(base + k->off);
        size_t *cnt = (size_t *)(base + k->count_off);
        free_list(*dst, *cnt);
        *dst = list;
        *cnt = n;
        return 0;
    }
    }
type:
    set_err(err, errlen, "auth-ldap: \"%s\" has the wrong type (%s expected)", k->name,
            k->type == K_STR    ? "string"
            : k->type == K_BOOL ? "boolean"
            : k->type == K_INT  ? "integer"
                                : "array of strings");
    return -1;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

/* Turn "" into NULL for optional strings. */
static void null_if_empty(char **s)
{
    if (*s && !**s) {
        free(*s);
        *s = NULL;
    }
}

static int set_default(char **dst, const char *def)
{
    if (*dst)
        return 0;
    *dst = strdup(def);
    return *dst ? 0 : -1;
}

static bool attr_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == ';'))
            return false;
    }
    return true;
}

static int resolve_ca_file(struct sg_ldap_conf *c, const char *base_dir, char *err, size_t errlen)
{
    char joined[PATH_MAX], real[PATH_MAX];
    if (!c->ca_file)
        return 0;
    if (c->ca_file[0] == '/' || !base_dir)
        snprintf(joined, sizeof(joined), "%s", c->ca_file);
    else if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", base_dir, c->ca_file) >=
             sizeof(joined)) {
        set_err(err, errlen, "auth-ldap: ca_file: path too long");
        return -1;
    }
    if (!realpath(joined, real) || access(real, R_OK) != 0) {
        set_err(err, errlen, "auth-ldap: ca_file \"%s\": %s", joined, strerror(errno));
        return -1;
    }
    free(c->ca_file);
    c->ca_file = strdup(real);
    return c->ca_file ? 0 : -1;
}

static int validate(struct sg_ldap_conf *c, const char *base_dir, char *err, size_t errlen)
{
    const char *why;
    if (c->n_uris == 0) {
        set_err(err, errlen, "auth-ldap: \"uris\" must list at least one ldap:// or ldaps:// URI");
        return -1;
    }
    for (size_t i = 0; i < c->n_uris; i++) {
        const char *u = c->uris[i];
        if (strncmp(u, "ldap://", 7) && strncmp(u, "ldaps://", 8) && strncmp(u, "ldapi://", 8)) {
            set_err(err, errlen, "auth-ldap: uris[%zu] \"%s\": scheme must be ldap, ldaps or ldapi",
                    i, u);
            return -1;
        }
        if (strchr(u, ' ') || strchr(u, ',')) {
            set_err(err, errlen, "auth-ldap: uris[%zu]: one URI per array element", i);
            return -1;
        }
    }
    null_if_empty(&c->ca_file);
    null_if_empty(&c->bind_dn);
    null_if_empty(&c->bind_dn_template);
    null_if_empty(&c->ad_domain);
    null_if_empty(&c->group_base_dn);
    null_if_empty(&c->base_dn);
    if (c->bind_dn && empty(c->bind_password)) {
        set_err(err, errlen,
                "auth-ldap: \"bind_dn\" needs a non-empty \"bind_password\" (an empty one would be "
                "an unauthenticated bind)");
        return -1;
    }
    if (!c->bind_dn && !empty(c->bind_password)) {
        set_err(err, errlen, "auth-ldap: \"bind_password\" given without \"bind_dn\"");
        return -1;
    }
    if (c->ad_domain && c->bind_dn_template) {
        set_err(err, errlen,
                "auth-ldap: \"ad_domain\" and \"bind_dn_template\" exclude each other");
        return -1;
    }
    c->mode = c->ad_domain          ? SG_LDAP_MODE_AD
              : c->bind_dn_template ? SG_LDAP_MODE_TEMPLATE
                                    : SG_LDAP_MODE_SEARCH;
    if (c->mode != SG_LDAP_MODE_TEMPLATE && !c->base_dn) {
        set_err(err, errlen, "auth-ldap: \"base_dn\" is required (or set \"bind_dn_template\")");
        return -1;
    }
    if (c->ad_domain && strpbrk(c->ad_domain, "@ \t\r\n")) {
        set_err(err, errlen, "auth-ldap: \"ad_domain\" must be a domain name such as example.org");
        return -1;
    }
    if (set_default(&c->user_filter,
                    c->mode == SG_LDAP_MODE_AD ? DEFAULT_AD_FILTER : DEFAULT_USER_FILTER) ||
        set_default(&c->key_attribute, "sshPublicKey") ||
        set_default(&c->group_filter, DEFAULT_GROUP_FILTER) ||
        set_default(&c->group_name_attribute, "cn"))
        return -1;
    if ((why = sg_ldap_template_check(c->user_filter, "u", 'u', true))) {
        set_err(err, errlen, "auth-ldap: \"user_filter\": %s", why);
        return -1;
    }
    if ((why = sg_ldap_template_check(c->group_filter, "ud", 0, true))) {
        set_err(err, errlen, "auth-ldap: \"group_filter\": %s", why);
        return -1;
    }
    if (c->bind_dn_template &&
        (why = sg_ldap_template_check(c->bind_dn_template, "u", 'u', false))) {
        set_err(err, errlen, "auth-ldap: \"bind_dn_template\": %s", why);
        return -1;
    }
    if (c->key_attribute[0] && !attr_name_ok(c->key_attribute)) {
        set_err(err, errlen, "auth-ldap: \"key_attribute\": not an attribute name");
        return -1;
    }
    if (!attr_name_ok(c->group_name_attribute)) {
        set_err(err, errlen, "auth-ldap: \"group_name_attribute\": not an attribute name");
        return -1;
    }
    for (size_t i = 0; i < c->n_attributes; i++) {
        if (!attr_name_ok(c->attributes[i])) {
            set_err(err, errlen, "auth-ldap: attributes[%zu] \"%s\": not an attribute name", i,
                    c->attributes[i]);
            return -1;
        }
    }
    if (c->network_timeout_ms > c->timeout_ms)
        c->network_timeout_ms = c->timeout_ms;
    return resolve_ca_file(c, base_dir, err, errlen);
}

struct sg_ldap_conf *sg_ldap_conf_parse(const char *json, const char *base_dir, char *err,
                                        size_t errlen)
{
    json_error_t jerr;
    struct sg_ldap_conf *c = NULL;
    json_t *root = json_loads(json ? json : "{}", JSON_REJECT_DUPLICATES, &jerr);
    const char *key;
    json_t *val;
    if (!root) {
        set_err(err, errlen, "auth-ldap: config: %s (line %d, column %d)", jerr.text, jerr.line,
                jerr.column);
        goto fail;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "auth-ldap: config must be a JSON object");
        goto fail;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->verify_hostname = true;
    c->use_member_of = true;
    c->timeout_ms = 5000;
    c->network_timeout_ms = 3000;
    c->pool_size = 4;
    json_object_foreach(root, key, val)
    {
        const struct key_def *k = find_key(key);
        if (!k) {
            const char *near = closest_key(key);
            if (near)
                set_err(err, errlen, "auth-ldap: unknown key \"%s\" (did you mean \"%s\"?)", key,
                        near);
            else
                set_err(err, errlen, "auth-ldap: unknown key \"%s\"", key);
            goto fail;
        }
        err[0] = '\0';
        if (set_key(c, k, val, err, errlen) != 0) {
            if (!err[0])
                goto oom;
            goto fail;
        }
    }
    err[0] = '\0';
    if (validate(c, base_dir, err, errlen) != 0) {
        if (!err[0])
            goto oom;
        goto fail;
    }
    json_decref(root);
    return c;
oom:
    set_err(err, errlen, "auth-ldap: out of memory");
fail:
    json_decref(root);
    sg_ldap_conf_free(c);
    return NULL;
}

int sg_ldap_conf_describe(const struct sg_ldap_conf *c, char *out, size_t outlen)
{
    static const char *const modes[] = {"search+bind", "bind-dn-template", "active-directory"};
    return snprintf(out, outlen,
                    "mode=%s uris=%s%s starttls=%s ca_file=%s verify_hostname=%s bind_dn=%s "
                    "bind_password=%s base_dn=%s timeout_ms=%d network_timeout_ms=%d pool_size=%d "
                    "authoritative=%s",
                    modes[c->mode], c->uris[0], c->n_uris > 1 ? ",..." : "",
                    c->starttls ? "true" : "false", c->ca_file ? c->ca_file : "(default)",
                    c->verify_hostname ? "true" : "false", c->bind_dn ? c->bind_dn : "(anonymous)",
                    c->bind_password ? "********" : "(none)", c->base_dn ? c->base_dn : "",
                    c->timeout_ms, c->network_timeout_ms, c->pool_size,
                    c->authoritative ? "true" : "false");
}
