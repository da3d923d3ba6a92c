/* config.c — load and validate the JSON config (see config.h).
 *
 * Flow: the text is parsed by jansson (JSON_REJECT_DUPLICATES); a config
 * with every default is built; then each known key found in the JSON is
 * applied through the tables below ({key, handler, offset, min, max}; the
 * machinery is config_schema.c). The first error stops the load; its
 * message names FILE:LINE:COL (found by config_json_pos.c on the original
 * text) and the JSON path. This file holds sshgate's keys, their rules and
 * defaults; algorithm names are in config_algorithms.c, CIDRs in
 * config_cidr.c, the dump in config_dump.c.
 */
#include "config.h"

#include "config_algorithms.h"
#include "config_schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SG_VERSION
#define SG_VERSION "0.0.0"
#endif
#ifndef SG_BUILD_PLUGIN_DIR
#define SG_BUILD_PLUGIN_DIR ""
#endif
#ifndef SG_INSTALL_PLUGIN_DIR
#define SG_INSTALL_PLUGIN_DIR "/usr/local/lib/sshgate"
#endif

extern const char sg_default_config_text[];

#define CFG_MAX_FILE ((size_t)16 << 20) /* a config larger than 16 MiB is a mistake */
#define CFG_MAX_PROMPTS 16

static sg_config_warning_cb warning_cb;
static void *warning_ud;

void sg_config_set_warning_cb(sg_config_warning_cb cb, void *userdata)
{
    warning_cb = cb;
    warning_ud = userdata;
}

static void print_warning(const char *line, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "sshgated: %s\n", line);
}

/* ---- client patterns (CIDR helpers are in config_cidr.c) ------------------ */

static int check_client(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    if (sg_client_pattern_valid(s))
        return 0;
    if (strchr(s, '/'))
        return sg_cfg_fail(c, "'%s' is not a valid CIDR (address/prefix, e.g. 10.0.0.0/8)",
                           SG_CFG_SHOW(s));
    return sg_cfg_fail(c,
                       "'%s' is not an IP address, CIDR or IP glob such as \"192.168.*\" "
                       "(host names are not supported)",
                       SG_CFG_SHOW(s));
}

static int f_clients(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_strlist(c, v, SG_CFG_SL_SINGLE | SG_CFG_SL_UNIQUE, check_client, NULL,
                                SG_CFG_AT(base, f, struct sg_strlist));
}

/* ---- top-level scalars with their own rules ------------------------------- */

static int f_workers(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "auto") != 0)
            return sg_cfg_fail(c, "expected a number of workers (1..1024) or \"auto\", got '%s'",
                               SG_CFG_SHOW(json_string_value(v)));
        c->cfg->workers = 0;
        return 0;
    }
    if (!json_is_integer(v))
        return sg_cfg_type_error(c, v, "an integer or \"auto\"");
    return sg_cfg_f_int(c, f, v, base);
}

static int parse_uint_part(const char **p, int *out)
{
    long v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > 1000000)
            return -1;
    }
    *out = (int)v;
    *p = s;
    return 0;
}

static int f_max_startups(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    int start, rate, full;
    if (json_is_integer(v)) {
        long long n = json_integer_value(v);
        if (n < 1 || n > 100000)
            return sg_cfg_fail(c, "%lld is out of range (1..100000)", n);
        start = full = (int)n;
        rate = 100;
    } else if (json_is_string(v)) {
        const char *p = json_string_value(v);
        if (parse_uint_part(&p, &start) < 0 || *p++ != ':' || parse_uint_part(&p, &rate) < 0 ||
            *p++ != ':' || parse_uint_part(&p, &full) < 0 || *p)
            return sg_cfg_fail(c, "'%s' is not \"start:rate:full\" (e.g. \"10:30:100\")",
                               SG_CFG_SHOW(json_string_value(v)));
        if (start < 1 || start > full)
            return sg_cfg_fail(c, "start must be between 1 and full (got %d:%d:%d)", start, rate,
                               full);
        if (rate < 1 || rate > 100)
            return sg_cfg_fail(c, "rate must be a percentage 1..100 (got %d)", rate);
        if (full > 100000)
            return sg_cfg_fail(c, "full must be at most 100000 (got %d)", full);
    } else {
        return sg_cfg_type_error(c, v, "a \"start:rate:full\" string");
    }
    c->cfg->limits.max_startups_start = start;
    c->cfg->limits.max_startups_rate = rate;
    c->cfg->limits.max_startups_full = full;
    return 0;
}

static int f_rekey_bytes(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_integer(v))
        return sg_cfg_type_error(c, v, "an integer number of bytes");
    long long x = json_integer_value(v);
    if (x < 16384)
        return sg_cfg_fail(c, "%lld bytes is too small (at least 16384)", x);
    c->cfg->rekey.bytes = (uint64_t)x;
    return 0;
}

/* RFC 4253 4.2: softwareversion is printable US-ASCII without spaces and
 * '-'; an optional " comments" follows; the whole line is at most 255
 * characters including "SSH-2.0-" and CR LF. */
static int f_version_string(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                            void *base)
{
    if (sg_cfg_check_string(c, f, v, true) < 0)
        return -1;
    const char *s = json_string_value(v);
    if (strncmp(s, "SSH-", 4) == 0)
        return sg_cfg_fail(c, "write only the part after \"SSH-2.0-\" (e.g. \"sshgate_1.0\")");
    size_t len = strlen(s);
    if (len > 255 - 10)
        return sg_cfg_fail(c, "too long: the identification line is limited to 255 characters "
                              "(at most 245 here)");
    bool comments = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e)
            return sg_cfg_fail(c, "character %zu is not printable US-ASCII (RFC 4253)", i + 1);
        if (comments)
            continue;
        if (ch == ' ') {
            if (i == 0)
                return sg_cfg_fail(c, "must start with the software version, not a space");
            comments = true;
        } else if (ch == '-') {
            return sg_cfg_fail(c, "the software version must not contain '-' (RFC 4253); use '_'");
        }
    }
    return sg_cfg_set_str(&c->cfg->version_string, s) < 0 ? sg_cfg_oom(c) : 0;
}

static int f_strict_kex(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_boolean(v))
        return sg_cfg_type_error(c, v, "true or false");
    if (!json_is_true(v))
        return sg_cfg_fail(c,
                           "libssh 0.10.6 always offers strict key exchange "
                           "(kex-strict-s-v00@openssh.com) and cannot turn it off; remove the key "
                           "or set it to true");
    c->cfg->strict_kex = true;
    return 0;
}

static const char *const log_formats[] = {"text", "json", NULL};

static int f_log_format(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_string(v))
        return sg_cfg_type_error(c, v, "\"text\" or \"json\"");
    const char *s = json_string_value(v);
    if (strcmp(s, "text") && strcmp(s, "json"))
        return sg_cfg_fail(c, "unknown log format '%s'%s: expected \"text\" or \"json\"",
                           SG_CFG_SHOW(s), SG_CFG_DYM(s, log_formats, 2));
    c->cfg->log.json = strcmp(s, "json") == 0;
    return 0;
}

/* ---- listen ------------------------------------------------------------- */

static int f_listen_address(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                            void *base)
{
    unsigned char buf[16];
    if (sg_cfg_check_string(c, f, v, true) < 0)
        return -1;
    const char *s = json_string_value(v);
    if (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1) {
        if (s[0] == '[')
            return sg_cfg_fail(c, "write the IPv6 address without brackets (e.g. \"::1\")");
        return sg_cfg_fail(c,
                           "'%s' is not a numeric IPv4 or IPv6 address (host names are not "
                           "resolved)",
                           SG_CFG_SHOW(s));
    }
    return sg_cfg_set_str(SG_CFG_AT(base, f, char *), s) < 0 ? sg_cfg_oom(c) : 0;
}

static const struct sg_cfg_field listen_fields[] = {
    {"address", f_listen_address, offsetof(struct sg_listen, address), 0, 64, NULL},
    {"port", sg_cfg_f_int, offsetof(struct sg_listen, port), 1, 65535, NULL},
    {"backlog", sg_cfg_f_int, offsetof(struct sg_listen, backlog), 1, 65535, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static void listen_free(struct sg_listen *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        free(l[i].address);
    free(l);
}

static bool same_address(const char *a, const char *b)
{
    unsigned char x[16] = {0}, y[16] = {0};
    int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
    return fa == fb && inet_pton(fa, a, x) == 1 && inet_pton(fb, b, y) == 1 &&
           memcmp(x, y, sizeof(x)) == 0;
}

static int f_listen(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    struct sg_listen *list = NULL;
    size_t n = 0, i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v))
        return sg_cfg_type_error(c, v, "an array of {\"address\", \"port\"} objects");
    if (json_array_size(v) == 0)
        return sg_cfg_fail(c, "must list at least one address to listen on");
    if (!(list = calloc(json_array_size(v), sizeof(*list))))
        return sg_cfg_oom(c);
    json_array_foreach(v, i, item)
    {
        size_t old = sg_jpath_push_index(&c->path, i);
        struct sg_listen *l = &list[n++];
        l->port = 2222;
        l->backlog = 128;
        if (!(l->address = strdup("127.0.0.1"))) {
            sg_cfg_oom(c);
            goto out;
        }
        if (sg_cfg_parse_object(c, item, listen_fields, l) < 0)
            goto out;
        for (size_t j = 0; j + 1 < n; j++)
            if (list[j].port == l->port && same_address(list[j].address, l->address)) {
                sg_cfg_fail(c, "%s port %d is already listed at $.listen[%zu]", l->address, l->port,
                            j);
                goto out;
            }
        sg_jpath_pop(&c->path, old);
    }
    listen_free(c->cfg->listen, c->cfg->n_listen);
    c->cfg->listen = list;
    c->cfg->n_listen = n;
    list = NULL;
    rc = 0;
out:
    listen_free(list, n);
    return rc;
}

static int f_host_keys(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_strlist(c, v, SG_CFG_SL_NONEMPTY | SG_CFG_SL_UNIQUE, NULL, NULL,
                                &c->cfg->host_keys);
}

/* ---- algorithms --------------------------------------------------------- */

static int check_algo(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    enum sg_algo_kind kind = (enum sg_algo_kind)(intptr_t)arg;
    char msg[512];
    const char *const *names = sg_algo_names(kind);
    size_t n = 0;

    switch (sg_algo_check(kind, s, msg, sizeof(msg))) {
    case SG_ALGO_OK:
        return 0;
    case SG_ALGO_WEAK:
        return sg_cfg_warn(c, "%s", msg);
    case SG_ALGO_UNSUPPORTED:
        return sg_cfg_fail(c, "%s", msg);
    case SG_ALGO_UNKNOWN:
        break;
    }
    while (names && names[n])
        n++;
    return sg_cfg_fail(c, "unknown %s '%s'%s", sg_algo_label(kind), SG_CFG_SHOW(s),
                       SG_CFG_DYM(s, names, n));
}

static int f_algos(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_strlist(
        c, v, SG_CFG_SL_SINGLE | SG_CFG_SL_COMMAS | SG_CFG_SL_NONEMPTY | SG_CFG_SL_UNIQUE,
        check_algo, f->extra, SG_CFG_AT(base, f, struct sg_strlist));
}

#define ALGO_FIELD(key, member, kind)                                                              \
    {                                                                                              \
        key, f_algos, offsetof(struct sg_config, algorithms.member), 0, 0, (const void *)(kind)    \
    }

static const struct sg_cfg_field algorithm_fields[] = {
    ALGO_FIELD("kex", kex, SG_ALGO_KEX),
    ALGO_FIELD("ciphers", ciphers, SG_ALGO_CIPHER),
    ALGO_FIELD("macs", macs, SG_ALGO_MAC),
    ALGO_FIELD("host_key", host_key, SG_ALGO_HOST_KEY),
    ALGO_FIELD("pubkey_auth", pubkey_auth, SG_ALGO_PUBKEY_AUTH),
    ALGO_FIELD("compression", compression, SG_ALGO_COMPRESSION),
    {NULL, NULL, 0, 0, 0, NULL},
};

/* ---- plugins ------------------------------------------------------------ */

struct plugin_tmp {
    char *name, *path, *config_json;
};

static int f_plugin_name(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (sg_cfg_check_string(c, f, v, true) < 0)
        return -1;
    const char *s = json_string_value(v);
    if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s))
        return sg_cfg_fail(c, "plugin name '%s' may only contain a-z, 0-9, '_' and '-'",
                           SG_CFG_SHOW(s));
    return sg_cfg_set_str(SG_CFG_AT(base, f, char *), s) < 0 ? sg_cfg_oom(c) : 0;
}

static const struct sg_cfg_field plugin_fields[] = {
    {"name", f_plugin_name, offsetof(struct plugin_tmp, name), 0, 64, NULL},
    {"path", sg_cfg_f_string_nonempty, offsetof(struct plugin_tmp, path), 0, 4096, NULL},
    {"config", sg_cfg_f_json_object, offsetof(struct plugin_tmp, config_json), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static char *path_join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s%s", dir, (*dir && dir[strlen(dir) - 1] != '/') ? "/" : "", name,
                 suffix);
    return out;
}

/* dir itself resolved against base_dir when relative. */
static char *resolve_dir(const struct sg_config *cfg, const char *dir)
{
    if (dir[0] == '/')
        return strdup(dir);
    return path_join(cfg->base_dir, dir, "");
}

static char *plugin_path(const struct sg_config *cfg, const char *name, const char *path)
{
    char *dir = NULL, *out = NULL;
    if (path && path[0] == '/')
        return strdup(path);
    if (path && strchr(path, '/'))
        return path_join(cfg->base_dir, path, "");
    if (!(dir = resolve_dir(cfg, cfg->plugin_dir)))
        return NULL;
    out = path ? path_join(dir, path, "") : path_join(dir, name, ".so");
    free(dir);
    return out;
}

static void plugins_free(struct sg_plugin_conf *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].path);
        free(p[i].config_json);
    }
    free(p);
}

static int f_plugins(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    struct sg_plugin_conf *list = NULL;
    struct plugin_tmp t = {0};
    size_t n = 0, i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v))
        return sg_cfg_type_error(c, v, "an array of {\"name\", \"path\", \"config\"} objects");
    if (json_array_size(v) && !(list = calloc(json_array_size(v), sizeof(*list))))
        return sg_cfg_oom(c);
    json_array_foreach(v, i, item)
    {
        size_t old = sg_jpath_push_index(&c->path, i);
        memset(&t, 0, sizeof(t));
        if (sg_cfg_parse_object(c, item, plugin_fields, &t) < 0)
            goto out;
        if (!t.name) {
            sg_cfg_missing_key(c, "name");
            goto out;
        }
        for (size_t j = 0; j < n; j++)
            if (strcmp(list[j].name, t.name) == 0) {
                size_t o2 = sg_jpath_push_key(&c->path, "name");
                sg_cfg_fail(c, "duplicate plugin name '%s' (also $.plugins[%zu])", t.name, j);
                sg_jpath_pop(&c->path, o2);
                goto out;
            }
        struct sg_plugin_conf *p = &list[n];
        p->path = plugin_path(c->cfg, t.name, t.path);
        p->config_json = t.config_json ? t.config_json : strdup("{}");
        t.config_json = NULL;
        p->name = t.name;
        t.name = NULL;
        n++;
        free(t.path);
        t.path = NULL;
        if (!p->path || !p->config_json) {
            sg_cfg_oom(c);
            goto out;
        }
        sg_jpath_pop(&c->path, old);
    }
    plugins_free(c->cfg->plugins, c->cfg->n_plugins);
    c->cfg->plugins = list;
    c->cfg->n_plugins = n;
    list = NULL;
    rc = 0;
out:
    free(t.name);
    free(t.path);
    free(t.config_json);
    plugins_free(list, n);
    return rc;
}

const struct sg_plugin_conf *sg_config_plugin(const struct sg_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_plugins; i++)
        if (strcmp(cfg->plugins[i].name, name) == 0)
            return &cfg->plugins[i];
    return NULL;
}

static int unknown_plugin(struct sg_cfg_ctx *c, const char *s)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < c->cfg->n_plugins && n < 64; i++)
        names[n++] = c->cfg->plugins[i].name;
    if (c->cfg->n_plugins == 0)
        return sg_cfg_fail(c, "unknown plugin '%s': $.plugins is empty", SG_CFG_SHOW(s));
    return sg_cfg_fail(c, "unknown plugin '%s': not declared in $.plugins%s", SG_CFG_SHOW(s),
                       SG_CFG_DYM(s, names, n));
}

static int check_plugin_ref(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    return sg_config_plugin(c->cfg, s) ? 0 : unknown_plugin(c, s);
}

/* ---- auth --------------------------------------------------------------- */

static const char *const auth_method_names[] = {"none", "password", "publickey",
                                                "keyboard-interactive", NULL};

static int check_method(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    for (size_t i = 0; auth_method_names[i]; i++)
        if (strcmp(auth_method_names[i], s) == 0)
            return 0;
    return sg_cfg_fail(c,
                       "unknown auth method '%s'%s: expected none, password, publickey or "
                       "keyboard-interactive",
                       SG_CFG_SHOW(s), SG_CFG_DYM(s, auth_method_names, 4));
}

static int check_offered_method(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    if (check_method(c, s, arg) < 0)
        return -1;
    if (!sg_strlist_contains(&c->cfg->auth.methods, s))
        return sg_cfg_fail(c, "method '%s' is required here but not offered in $.auth.methods",
                           SG_CFG_SHOW(s));
    return 0;
}

static int f_auth_chain(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (sg_cfg_parse_strlist(c, v, SG_CFG_SL_SINGLE | SG_CFG_SL_UNIQUE, check_plugin_ref, NULL,
                             &c->cfg->auth.chain) < 0)
        return -1;
    c->chain_set = true;
    return 0;
}

static int f_auth_methods(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    return sg_cfg_parse_strlist(
        c, v, SG_CFG_SL_SINGLE | SG_CFG_SL_COMMAS | SG_CFG_SL_NONEMPTY | SG_CFG_SL_UNIQUE,
        check_method, NULL, &c->cfg->auth.methods);
}

static void required_free(struct sg_strlist *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        sg_cfg_strlist_free(&r[i]);
    free(r);
}

static int f_auth_required(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                           void *base)
{
    struct sg_strlist *sets = NULL;
    size_t n = 0, i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v))
        return sg_cfg_type_error(c, v,
                                 "an array of method sets, e.g. [[\"publickey\", \"password\"]]");
    if (json_array_size(v) && !(sets = calloc(json_array_size(v), sizeof(*sets))))
        return sg_cfg_oom(c);
    json_array_foreach(v, i, item)
    {
        size_t old = sg_jpath_push_index(&c->path, i);
        if (!json_is_array(item)) {
            sg_cfg_type_error(c, item, "an array of method names");
            goto out;
        }
        if (sg_cfg_parse_strlist(c, item, SG_CFG_SL_NONEMPTY | SG_CFG_SL_UNIQUE,
                                 check_offered_method, NULL, &sets[n]) < 0)
            goto out;
        n++;
        sg_jpath_pop(&c->path, old);
    }
    required_free(c->cfg->auth.required, c->cfg->auth.n_required);
    c->cfg->auth.required = sets;
    c->cfg->auth.n_required = n;
    sets = NULL;
    rc = 0;
out:
    required_free(sets, n);
    return rc;
}

static const struct sg_cfg_field prompt_fields[] = {
    {"prompt", sg_cfg_f_string, offsetof(struct sg_kbd_prompt, prompt), 0, 1024, NULL},
    {"echo", sg_cfg_f_bool, offsetof(struct sg_kbd_prompt, echo), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static void prompts_free(struct sg_kbd_prompt *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].prompt);
    free(p);
}

static int f_kbd_prompts(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    struct sg_kbd_prompt *list = NULL;
    size_t n = 0, i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v))
        return sg_cfg_type_error(c, v, "an array of {\"prompt\", \"echo\"} objects");
    if (json_array_size(v) == 0 || json_array_size(v) > CFG_MAX_PROMPTS)
        return sg_cfg_fail(c, "must list 1..%d prompts", CFG_MAX_PROMPTS);
    if (!(list = calloc(json_array_size(v), sizeof(*list))))
        return sg_cfg_oom(c);
    json_array_foreach(v, i, item)
    {
        size_t old = sg_jpath_push_index(&c->path, i);
        struct sg_kbd_prompt *p = &list[n++];
        if (sg_cfg_parse_object(c, item, prompt_fields, p) < 0)
            goto out;
        if (!p->prompt) {
            sg_cfg_missing_key(c, "prompt");
            goto out;
        }
        sg_jpath_pop(&c->path, old);
    }
    prompts_free(c->cfg->auth.kbd_prompts, c->cfg->auth.n_kbd_prompts);
    c->cfg->auth.kbd_prompts = list;
    c->cfg->auth.n_kbd_prompts = n;
    list = NULL;
    rc = 0;
out:
    prompts_free(list, n);
    return rc;
}

static const struct sg_cfg_field kbd_fields[] = {
    {"instruction", sg_cfg_f_string, offsetof(struct sg_config, auth.kbd_instruction), 0, 4096,
     NULL},
    {"prompts", f_kbd_prompts, 0, 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct sg_cfg_field auth_fields[] = {
    {"chain", f_auth_chain, 0, 0, 0, NULL},
    {"methods", f_auth_methods, 0, 0, 0, NULL},
    {"required", f_auth_required, 0, 0, 0, NULL},
    {"keyboard_interactive", sg_cfg_f_object, 0, 0, 0, kbd_fields},
    {"fire_after_signature", sg_cfg_f_bool, offsetof(struct sg_config, auth.fire_after_signature),
     0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* ---- routes ------------------------------------------------------------- */

static const char *const route_kind_names[] = {
    [SG_ROUTE_ANY] = "*",
    [SG_ROUTE_SHELL] = "shell",
    [SG_ROUTE_EXEC] = "exec",
    [SG_ROUTE_SUBSYSTEM] = "subsystem",
    [SG_ROUTE_DIRECT_TCPIP] = "direct-tcpip",
    [SG_ROUTE_TCPIP_FORWARD] = "tcpip-forward",
};
#define N_ROUTE_KINDS (sizeof(route_kind_names) / sizeof(route_kind_names[0]))

const char *sg_route_kind_name(enum sg_route_kind kind)
{
    return (unsigned)kind < N_ROUTE_KINDS ? route_kind_names[kind] : "?";
}

static int f_route_kind(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (!json_is_string(v))
        return sg_cfg_type_error(c, v, "a string");
    const char *s = json_string_value(v);
    for (size_t k = 0; k < N_ROUTE_KINDS; k++)
        if (strcmp(route_kind_names[k], s) == 0) {
            ((struct sg_route *)base)->kind = (enum sg_route_kind)k;
            return 0;
        }
    return sg_cfg_fail(c,
                       "unknown request kind '%s'%s: expected \"*\", \"shell\", \"exec\", "
                       "\"subsystem\", \"direct-tcpip\" or \"tcpip-forward\"",
                       SG_CFG_SHOW(s), SG_CFG_DYM(s, route_kind_names, N_ROUTE_KINDS));
}

static int check_cidr(struct sg_cfg_ctx *c, const char *s, const void *arg)
{
    struct sg_cidr cidr;
    if (sg_cidr_parse(s, &cidr) < 0)
        return sg_cfg_fail(c, "'%s' is not an IP address or CIDR (e.g. \"10.0.0.0/8\", \"::1\")",
                           SG_CFG_SHOW(s));
    return 0;
}

static int f_route_sources(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v,
                           void *base)
{
    struct sg_route *r = base;
    struct sg_strlist l = {0};
    struct sg_cidr *cidrs = NULL;
    int rc = -1;

    if (sg_cfg_parse_strlist(c, v, SG_CFG_SL_SINGLE | SG_CFG_SL_UNIQUE, check_cidr, NULL, &l) < 0)
        goto out;
    if (l.n && !(cidrs = calloc(l.n, sizeof(*cidrs)))) {
        sg_cfg_oom(c);
        goto out;
    }
    for (size_t i = 0; i < l.n; i++)
        sg_cidr_parse(l.v[i], &cidrs[i]);
    free(r->sources);
    r->sources = cidrs;
    r->n_sources = l.n;
    rc = 0;
out:
    sg_cfg_strlist_free(&l);
    return rc;
}

#define RF(member) offsetof(struct sg_route, member)
static const struct sg_cfg_field match_fields[] = {
    {"kind", f_route_kind, 0, 0, 0, NULL},
    {"command", sg_cfg_f_string, RF(command), 0, 4096, NULL},
    {"subsystem", sg_cfg_f_string_nonempty, RF(subsystem), 0, 256, NULL},
    {"user", sg_cfg_f_strlist, RF(users), SG_CFG_SL_SINGLE | SG_CFG_SL_UNIQUE, 0, NULL},
    {"group", sg_cfg_f_strlist, RF(groups), SG_CFG_SL_SINGLE | SG_CFG_SL_UNIQUE, 0, NULL},
    {"source", f_route_sources, 0, 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static int f_route_match(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    struct sg_route *r = base;
    if (sg_cfg_parse_object(c, v, match_fields, r) < 0)
        return -1;
    if (!json_object_get(v, "kind"))
        return sg_cfg_missing_key(c, "kind");
    static const struct {
        const char *key;
        enum sg_route_kind kind;
    } only[] = {
        {"command", SG_ROUTE_EXEC},
        {"subsystem", SG_ROUTE_SUBSYSTEM},
    };
    for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
        if (!json_object_get(v, only[i].key) || r->kind == only[i].kind)
            continue;
        size_t old = sg_jpath_push_key(&c->path, only[i].key);
        sg_cfg_fail_at(c, true, "'%s' only applies to kind \"%s\" (this route matches \"%s\")",
                       only[i].key, route_kind_names[only[i].kind], route_kind_names[r->kind]);
        sg_jpath_pop(&c->path, old);
        return -1;
    }
    return 0;
}

static int f_route_plugin(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    if (sg_cfg_check_string(c, f, v, true) < 0)
        return -1;
    if (check_plugin_ref(c, json_string_value(v), NULL) < 0)
        return -1;
    return sg_cfg_set_str(&((struct sg_route *)base)->plugin, json_string_value(v)) < 0
               ? sg_cfg_oom(c)
               : 0;
}

static const struct sg_cfg_field route_fields[] = {
    {"name", sg_cfg_f_string, RF(name), 0, 256, NULL},
    {"match", f_route_match, 0, 0, 0, NULL},
    {"plugin", f_route_plugin, 0, 0, 0, NULL},
    {"config", sg_cfg_f_json_object, RF(config_json), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static void route_clear(struct sg_route *r)
{
    free(r->name);
    free(r->command);
    free(r->subsystem);
    sg_cfg_strlist_free(&r->users);
    sg_cfg_strlist_free(&r->groups);
    free(r->sources);
    free(r->plugin);
    free(r->config_json);
}

static void routes_free(struct sg_route *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        route_clear(&r[i]);
    free(r);
}

static int route_defaults(struct sg_route *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = SG_ROUTE_ANY;
    if (!(r->name = strdup("")) || !(r->command = strdup("")) || !(r->subsystem = strdup("")) ||
        !(r->config_json = strdup("{}")) || sg_cfg_strlist_init(&r->users, NULL) < 0 ||
        sg_cfg_strlist_init(&r->groups, NULL) < 0)
        return -1;
    return 0;
}

static int f_routes(struct sg_cfg_ctx *c, const struct sg_cfg_field *f, json_t *v, void *base)
{
    struct sg_route *list = NULL;
    size_t n = 0, i;
    json_t *item;
    int rc = -1;

    if (!json_is_array(v))
        return sg_cfg_type_error(c, v, "an array of route objects");
    if (json_array_size(v) && !(list = calloc(json_array_size(v), sizeof(*list))))
        return sg_cfg_oom(c);
    json_array_foreach(v, i, item)
    {
        size_t old = sg_jpath_push_index(&c->path, i);
        struct sg_route *r = &list[n++];
        if (route_defaults(r) < 0) {
            sg_cfg_oom(c);
            goto out;
        }
        if (sg_cfg_parse_object(c, item, route_fields, r) < 0)
            goto out;
        if (!json_object_get(item, "match")) {
            sg_cfg_missing_key(c, "match");
            goto out;
        }
        if (!json_object_get(item, "plugin")) {
            sg_cfg_missing_key(c, "plugin");
            goto out;
        }
        sg_jpath_pop(&c->path, old);
    }
    routes_free(c->cfg->routes, c->cfg->n_routes);
    c->cfg->routes = list;
    c->cfg->n_routes = n;
    list = NULL;
    rc = 0;
out:
    routes_free(list, n);
    return rc;
}

/* ---- the top-level table ------------------------------------------------ */

#define CF(member) offsetof(struct sg_config, member)
#define LIM(member) CF(limits.member)

static const struct sg_cfg_field limits_fields[] = {
    {"max_connections", sg_cfg_f_int, LIM(max_connections), 1, 100000, NULL},
    {"max_startups", f_max_startups, 0, 0, 0, NULL},
    {"per_source_max", sg_cfg_f_int, LIM(per_source_max), 0, 100000, NULL},
    {"per_source_penalty", sg_cfg_f_seconds, LIM(per_source_penalty), 0, SG_CFG_MAX_SECONDS, NULL},
    {"per_source_penalty_failures", sg_cfg_f_int, LIM(per_source_penalty_failures), 1, 100000,
     NULL},
    {"login_grace_time", sg_cfg_f_seconds, LIM(login_grace_time), 0, SG_CFG_MAX_SECONDS, NULL},
    {"max_auth_attempts", sg_cfg_f_int, LIM(max_auth_attempts), 1, 1000, NULL},
    {"idle_timeout", sg_cfg_f_seconds, LIM(idle_timeout), 0, SG_CFG_MAX_SECONDS, NULL},
    {"timeout", sg_cfg_f_seconds, LIM(timeout), 0, SG_CFG_MAX_SECONDS, NULL},
    {"max_channels", sg_cfg_f_int, LIM(max_channels), 1, 10000, NULL},
    {"max_sessions", sg_cfg_f_int, LIM(max_sessions), 1, 10000, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct sg_cfg_field rekey_fields[] = {
    {"bytes", f_rekey_bytes, 0, 0, 0, NULL},
    {"seconds", sg_cfg_f_seconds, CF(rekey.seconds), 0, SG_CFG_MAX_SECONDS, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct sg_cfg_field keepalive_fields[] = {
    {"interval", sg_cfg_f_seconds, CF(keepalive.interval), 0, SG_CFG_MAX_SECONDS, NULL},
    {"count_max", sg_cfg_f_int, CF(keepalive.count_max), 1, 1000, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct sg_cfg_field tcp_fields[] = {
    {"keepalive_time", sg_cfg_f_seconds, CF(tcp.keepalive_time), 0, 32767, NULL},
    {"keepalive_interval", sg_cfg_f_seconds, CF(tcp.keepalive_interval), 0, 32767, NULL},
    {"nodelay", sg_cfg_f_bool, CF(tcp.nodelay), 0, 0, NULL},
    {"rcvbuf", sg_cfg_f_int, CF(tcp.rcvbuf), 0, 1 << 30, NULL},
    {"sndbuf", sg_cfg_f_int, CF(tcp.sndbuf), 0, 1 << 30, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct sg_cfg_field log_fields[] = {
    {"level", sg_cfg_f_int, CF(log.level), 0, 3, NULL},
    {"format", f_log_format, 0, 0, 0, NULL},
    {"mask_secrets", sg_cfg_f_bool, CF(log.mask_secrets), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* Order matters: plugin_dir before plugins, plugins before auth and routes,
 * auth.methods before auth.required. */
static const struct sg_cfg_field top_fields[] = {
    {"listen", f_listen, 0, 0, 0, NULL},
    {"host_keys", f_host_keys, 0, 0, 0, NULL},
    {"workers", f_workers, CF(workers), 1, 1024, NULL},
    {"user", sg_cfg_f_string, CF(user), 0, 256, NULL},
    {"plugin_dir", sg_cfg_f_string_nonempty, CF(plugin_dir), 0, 4096, NULL},
    {"control_socket", sg_cfg_f_string, CF(control_socket), 0, 107, NULL},
    {"pid_file", sg_cfg_f_string, CF(pid_file), 0, 4096, NULL},
    {"limits", sg_cfg_f_object, 0, 0, 0, limits_fields},
    {"algorithms", sg_cfg_f_object, 0, 0, 0, algorithm_fields},
    {"rekey", sg_cfg_f_object, 0, 0, 0, rekey_fields},
    {"keepalive", sg_cfg_f_object, 0, 0, 0, keepalive_fields},
    {"tcp", sg_cfg_f_object, 0, 0, 0, tcp_fields},
    {"version_string", f_version_string, 0, 0, 0, NULL},
    {"client_version_pattern", sg_cfg_f_string, CF(client_version_pattern), 0, 255, NULL},
    {"banner", sg_cfg_f_string, CF(banner), 0, SG_CFG_MAX_STRING, NULL},
    {"strict_kex", f_strict_kex, 0, 0, 0, NULL},
    {"allowed_clients", f_clients, CF(allowed_clients), 0, 0, NULL},
    {"blocked_clients", f_clients, CF(blocked_clients), 0, 0, NULL},
    {"log", sg_cfg_f_object, 0, 0, 0, log_fields},
    {"plugins", f_plugins, 0, 0, 0, NULL},
    {"auth", sg_cfg_f_object, 0, 0, 0, auth_fields},
    {"routes", f_routes, 0, 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* ---- defaults ----------------------------------------------------------- */

static const char *const default_host_keys[] = {
    "state/ssh_host_ed25519_key", "state/ssh_host_ecdsa_key", "state/ssh_host_rsa_key", NULL};
static const char *const default_methods[] = {"publickey", "password", "keyboard-interactive",
                                              NULL};

static const char *default_plugin_dir(void)
{
    struct stat st;
    if (SG_BUILD_PLUGIN_DIR[0] && stat(SG_BUILD_PLUGIN_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return SG_BUILD_PLUGIN_DIR;
    return SG_INSTALL_PLUGIN_DIR;
}

static int cfg_defaults(struct sg_config *cfg)
{
    if (!(cfg->listen = calloc(1, sizeof(*cfg->listen))) ||
        !(cfg->listen[0].address = strdup("127.0.0.1")))
        return -1;
    cfg->n_listen = 1;
    cfg->listen[0].port = 2222;
    cfg->listen[0].backlog = 128;
    if (sg_cfg_strlist_init(&cfg->host_keys, default_host_keys) < 0)
        return -1;
    cfg->workers = 0;
    if (!(cfg->user = strdup("")) || !(cfg->plugin_dir = strdup(default_plugin_dir())) ||
        !(cfg->control_socket = strdup("")) || !(cfg->pid_file = strdup("")))
        return -1;

    cfg->limits.max_connections = 1000;
    cfg->limits.max_startups_start = 10;
    cfg->limits.max_startups_rate = 30;
    cfg->limits.max_startups_full = 100;
    cfg->limits.per_source_max = 50;
    cfg->limits.per_source_penalty = 30;
    cfg->limits.per_source_penalty_failures = 10;
    cfg->limits.login_grace_time = 120;
    cfg->limits.max_auth_attempts = 6;
    cfg->limits.idle_timeout = 0;
    cfg->limits.timeout = 60;
    cfg->limits.max_channels = 64;
    cfg->limits.max_sessions = 10;

    struct sg_strlist *algos[SG_ALGO_KIND_COUNT] = {
        [SG_ALGO_KEX] = &cfg->algorithms.kex,
        [SG_ALGO_CIPHER] = &cfg->algorithms.ciphers,
        [SG_ALGO_MAC] = &cfg->algorithms.macs,
        [SG_ALGO_HOST_KEY] = &cfg->algorithms.host_key,
        [SG_ALGO_PUBKEY_AUTH] = &cfg->algorithms.pubkey_auth,
        [SG_ALGO_COMPRESSION] = &cfg->algorithms.compression,
    };
    for (int k = 0; k < SG_ALGO_KIND_COUNT; k++)
        if (sg_cfg_strlist_init(algos[k], sg_algo_defaults((enum sg_algo_kind)k)) < 0)
            return -1;

    cfg->rekey.bytes = (uint64_t)1 << 30;
    cfg->rekey.seconds = 3600;
    cfg->keepalive.interval = 0;
    cfg->keepalive.count_max = 3;
    cfg->tcp.nodelay = true;
    if (!(cfg->version_string = strdup("sshgate_" SG_VERSION)) ||
        !(cfg->client_version_pattern = strdup("")) || !(cfg->banner = strdup("")))
        return -1;
    cfg->strict_kex = true;
    if (sg_cfg_strlist_init(&cfg->allowed_clients, NULL) < 0 ||
        sg_cfg_strlist_init(&cfg->blocked_clients, NULL) < 0)
        return -1;
    cfg->log.level = 1;
    cfg->log.json = false;
    cfg->log.mask_secrets = true;

    if (sg_cfg_strlist_init(&cfg->auth.chain, NULL) < 0 ||
        sg_cfg_strlist_init(&cfg->auth.methods, default_methods) < 0 ||
        !(cfg->auth.kbd_instruction = strdup("")) ||
        !(cfg->auth.kbd_prompts = calloc(1, sizeof(*cfg->auth.kbd_prompts))) ||
        !(cfg->auth.kbd_prompts[0].prompt = strdup("Password: ")))
        return -1;
    cfg->auth.n_kbd_prompts = 1;
    cfg->auth.fire_after_signature = false;
    if (sg_cfg_strlist_init(&cfg->warnings, NULL) < 0)
        return -1;
    return 0;
}

/* ---- load --------------------------------------------------------------- */

void sg_config_free(struct sg_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->base_dir);
    listen_free(cfg->listen, cfg->n_listen);
    sg_cfg_strlist_free(&cfg->host_keys);
    free(cfg->user);
    free(cfg->plugin_dir);
    free(cfg->control_socket);
    free(cfg->pid_file);
    sg_cfg_strlist_free(&cfg->algorithms.kex);
    sg_cfg_strlist_free(&cfg->algorithms.ciphers);
    sg_cfg_strlist_free(&cfg->algorithms.macs);
    sg_cfg_strlist_free(&cfg->algorithms.host_key);
    sg_cfg_strlist_free(&cfg->algorithms.pubkey_auth);
    sg_cfg_strlist_free(&cfg->algorithms.compression);
    free(cfg->version_string);
    free(cfg->client_version_pattern);
    free(cfg->banner);
    sg_cfg_strlist_free(&cfg->allowed_clients);
    sg_cfg_strlist_free(&cfg->blocked_clients);
    plugins_free(cfg->plugins, cfg->n_plugins);
    sg_cfg_strlist_free(&cfg->auth.chain);
    sg_cfg_strlist_free(&cfg->auth.methods);
    required_free(cfg->auth.required, cfg->auth.n_required);
    free(cfg->auth.kbd_instruction);
    prompts_free(cfg->auth.kbd_prompts, cfg->auth.n_kbd_prompts);
    routes_free(cfg->routes, cfg->n_routes);
    sg_cfg_strlist_free(&cfg->warnings);
    free(cfg);
}

static struct sg_config *load_text(const char *text, size_t len, const char *name,
                                   const char *base_dir, char *err, size_t errlen)
{
    struct sg_cfg_ctx c;
    struct sg_config *cfg = NULL;
    json_error_t jerr;
    json_t *root = NULL;

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.text = text;
    c.text_len = len;
    c.err = err;
    c.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    sg_jpath_init(&c.path);
    if (c.path.oom) {
        sg_cfg_oom(&c);
        goto out;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", name, jerr.line < 1 ? 1 : jerr.line,
                     jerr.column < 1 ? 1 : jerr.column, jerr.text);
        goto out;
    }
    if (!(cfg = calloc(1, sizeof(*cfg))) || !(cfg->path = strdup(name)) ||
        !(cfg->base_dir = strdup(base_dir)) || cfg_defaults(cfg) < 0) {
        sg_cfg_oom(&c);
        goto fail;
    }
    c.cfg = cfg;
    c.warnings = &cfg->warnings;
    c.warn_cb = warning_cb ? warning_cb : print_warning;
    c.warn_ud = warning_cb ? warning_ud : NULL;
    if (!json_is_object(root)) {
        sg_cfg_type_error(&c, root, "an object");
        goto fail;
    }
    if (sg_cfg_parse_object(&c, root, top_fields, cfg) < 0)
        goto fail;
    if (!c.chain_set && sg_config_plugin(cfg, "auth-file")) {
        static const char *const chain[] = {"auth-file", NULL};
        if (sg_cfg_strlist_init(&cfg->auth.chain, chain) < 0) {
            sg_cfg_oom(&c);
            goto fail;
        }
    }
    goto out;
fail:
    sg_config_free(cfg);
    cfg = NULL;
out:
    if (!cfg && err && errlen && !err[0])
        snprintf(err, errlen, "%s: cannot load the config", name);
    /* one line: jansson quotes the input near a syntax error verbatim */
    for (char *p = err; !cfg && p && errlen && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    json_decref(root);
    sg_jpath_free(&c.path);
    return cfg;
}

struct sg_config *sg_config_load_string(const char *text, const char *name, char *err,
                                        size_t errlen)
{
    char cwd[PATH_MAX];
    if (!name)
        name = "<string>";
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "%s: no config text", name);
        return NULL;
    }
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    return load_text(text, strlen(text), name, cwd, err, errlen);
}

struct sg_config *sg_config_load_file(const char *path, char *err, size_t errlen)
{
    struct sg_config *cfg = NULL;
    char *text = NULL, *real = NULL;
    FILE *fp = NULL;
    struct stat st;
    size_t len = 0;

    if (!path) {
        if (err && errlen)
            snprintf(err, errlen, "no config file given");
        return NULL;
    }
    if (!(fp = fopen(path, "rb")) || fstat(fileno(fp), &st) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > CFG_MAX_FILE) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path,
                     S_ISREG(st.st_mode) ? "file is too large (limit 16 MiB)"
                                         : "not a regular file");
        goto out;
    }
    if (!(text = malloc((size_t)st.st_size + 1))) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    len = fread(text, 1, (size_t)st.st_size, fp);
    if (ferror(fp)) {
        if (err && errlen)
            snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    text[len] = '\0';
    if (!(real = realpath(path, NULL))) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    cfg = load_text(text, len, path, real, err, errlen);
out:
    if (fp)
        fclose(fp);
    free(text);
    free(real);
    return cfg;
}

const char *sg_config_default_text(void)
{
    return sg_default_config_text;
}
