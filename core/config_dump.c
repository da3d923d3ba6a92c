/* config_dump.c — print the effective config as JSON (sshgated -t).
 *
 * Every key is written, defaults included, in the same shape the loader
 * reads, so loading a dump gives an equal config. Plugin and route
 * "config" objects are embedded as JSON objects; with redaction on, string
 * values of keys that name a secret (…password, …secret, …token, …) are
 * printed as "<redacted>" (that dump then no longer loads to the same
 * config: the secrets are missing). */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDACTED "<redacted>"

/* json_object_set_new that remembers failure in *ok */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v) < 0)
        *ok = false;
}

static void append(json_t *arr, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(arr, v) < 0)
        *ok = false;
}

static json_t *strlist_json(const struct sg_strlist *l)
{
    json_t *a = json_array();
    bool ok = a != NULL;
    for (size_t i = 0; ok && i < l->n; i++)
        append(a, json_string(l->v[i]), &ok);
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* A key that names a secret: ends with one of these words (any case). */
static bool secret_key(const char *key)
{
    static const char *const words[] = {"password", "passwd",      "secret",     "passphrase",
                                        "token",    "private_key", "credentials"};
    size_t kl = strlen(key);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t wl = strlen(words[i]);
        if (kl >= wl && strcasecmp(key + kl - wl, words[i]) == 0)
            return true;
    }
    return false;
}

static void redact(json_t *v, size_t *n)
{
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            if (json_is_string(child) && secret_key(key) && json_string_length(child) > 0) {
                json_string_set(child, REDACTED);
                (*n)++;
            } else {
                redact(child, n);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) redact(child, n);
    }
}

/* Redact the embedded "config" of every plugin or route object in arr. */
static void redact_configs(json_t *arr, size_t *n)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) redact(json_object_get(o, "config"), n);
}

static json_t *embedded_json(const char *text)
{
    return json_loads(text ? text : "{}", 0, NULL);
}

static json_t *listen_json(const struct sg_config *cfg, bool *ok)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < cfg->n_listen; i++) {
        json_t *o = json_object();
        if (o) {
            put(o, "address", json_string(cfg->listen[i].address), ok);
            put(o, "port", json_integer(cfg->listen[i].port), ok);
            put(o, "backlog", json_integer(cfg->listen[i].backlog), ok);
        }
        append(a, o, ok);
    }
    return a;
}

static json_t *limits_json(const struct sg_config *cfg, bool *ok)
{
    char startups[64];
    json_t *o = json_object();
    if (!o)
        return NULL;
    snprintf(startups, sizeof(startups), "%d:%d:%d", cfg->limits.max_startups_start,
             cfg->limits.max_startups_rate, cfg->limits.max_startups_full);
    put(o, "max_connections", json_integer(cfg->limits.max_connections), ok);
    put(o, "max_startups", json_string(startups), ok);
    put(o, "per_source_max", json_integer(cfg->limits.per_source_max), ok);
    put(o, "per_source_penalty", json_integer(cfg->limits.per_source_penalty), ok);
    put(o, "per_source_penalty_failures", json_integer(cfg->limits.per_source_penalty_failures),
        ok);
    put(o, "login_grace_time", json_integer(cfg->limits.login_grace_time), ok);
    put(o, "max_auth_attempts", json_integer(cfg->limits.max_auth_attempts), ok);
    put(o, "idle_timeout", json_integer(cfg->limits.idle_timeout), ok);
    put(o, "timeout", json_integer(cfg->limits.timeout), ok);
    put(o, "max_channels", json_integer(cfg->limits.max_channels), ok);
    put(o, "max_sessions", json_integer(cfg->limits.max_sessions), ok);
    return o;
}

static json_t *algorithms_json(const struct sg_config *cfg, bool *ok)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "kex", strlist_json(&cfg->algorithms.kex), ok);
    put(o, "ciphers", strlist_json(&cfg->algorithms.ciphers), ok);
    put(o, "macs", strlist_json(&cfg->algorithms.macs), ok);
    put(o, "host_key", strlist_json(&cfg->algorithms.host_key), ok);
    put(o, "pubkey_auth", strlist_json(&cfg->algorithms.pubkey_auth), ok);
    put(o, "compression", strlist_json(&cfg->algorithms.compression), ok);
    return o;
}

static json_t *small_objects(const struct sg_config *cfg, const char *which, bool *ok)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    switch (which[0]) {
    case 'r': /* rekey */
        put(o, "bytes", json_integer((json_int_t)cfg->rekey.bytes), ok);
        put(o, "seconds", json_integer(cfg->rekey.seconds), ok);
        break;
    case 'k': /* keepalive */
        put(o, "interval", json_integer(cfg->keepalive.interval), ok);
        put(o, "count_max", json_integer(cfg->keepalive.count_max), ok);
        break;
    case 't': /* tcp */
        put(o, "keepalive_time", json_integer(cfg->tcp.keepalive_time), ok);
        put(o, "keepalive_interval", json_integer(cfg->tcp.keepalive_interval), ok);
        put(o, "nodelay", json_boolean(cfg->tcp.nodelay), ok);
        put(o, "rcvbuf", json_integer(cfg->tcp.rcvbuf), ok);
        put(o, "sndbuf", json_integer(cfg->tcp.sndbuf), ok);
        break;
    case 'l': /* log */
        put(o, "level", json_integer(cfg->log.level), ok);
        put(o, "format", json_string(cfg->log.json ? "json" : "text"), ok);
        put(o, "mask_secrets", json_boolean(cfg->log.mask_secrets), ok);
        break;
    }
    return o;
}

static json_t *plugins_json(const struct sg_config *cfg, bool *ok)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < cfg->n_plugins; i++) {
        json_t *o = json_object();
        if (o) {
            put(o, "name", json_string(cfg->plugins[i].name), ok);
            put(o, "path", json_string(cfg->plugins[i].path), ok);
            put(o, "config", embedded_json(cfg->plugins[i].config_json), ok);
        }
        append(a, o, ok);
    }
    return a;
}

static json_t *auth_json(const struct sg_config *cfg, bool *ok)
{
    json_t *o = json_object(), *req = json_array(), *kbd = json_object(), *prompts = json_array();
    if (!o || !req || !kbd || !prompts) {
        json_decref(o);
        json_decref(req);
        json_decref(kbd);
        json_decref(prompts);
        return NULL;
    }
    for (size_t i = 0; i < cfg->auth.n_required; i++)
        append(req, strlist_json(&cfg->auth.required[i]), ok);
    for (size_t i = 0; i < cfg->auth.n_kbd_prompts; i++) {
        json_t *p = json_object();
        if (p) {
            put(p, "prompt", json_string(cfg->auth.kbd_prompts[i].prompt), ok);
            put(p, "echo", json_boolean(cfg->auth.kbd_prompts[i].echo), ok);
        }
        append(prompts, p, ok);
    }
    put(kbd, "instruction", json_string(cfg->auth.kbd_instruction), ok);
    put(kbd, "prompts", prompts, ok);
    put(o, "chain", strlist_json(&cfg->auth.chain), ok);
    put(o, "methods", strlist_json(&cfg->auth.methods), ok);
    put(o, "required", req, ok);
    put(o, "keyboard_interactive", kbd, ok);
    put(o, "fire_after_signature", json_boolean(cfg->auth.fire_after_signature), ok);
    return o;
}

static json_t *route_json(const struct sg_route *r, bool *ok)
{
    json_t *o = json_object(), *m = json_object(), *src = json_array();
    if (!o || !m || !src) {
        json_decref(o);
        json_decref(m);
        json_decref(src);
        return NULL;
    }
    for (size_t i = 0; i < r->n_sources; i++) {
        char buf[64];
        if (sg_cidr_format(&r->sources[i], buf, sizeof(buf)) < 0)
            *ok = false;
        else
            append(src, json_string(buf), ok);
    }
    put(m, "kind", json_string(sg_route_kind_name(r->kind)), ok);
    if (r->kind == SG_ROUTE_EXEC)
        put(m, "command", json_string(r->command), ok);
    if (r->kind == SG_ROUTE_SUBSYSTEM && r->subsystem[0])
        put(m, "subsystem", json_string(r->subsystem), ok);
    put(m, "user", strlist_json(&r->users), ok);
    put(m, "group", strlist_json(&r->groups), ok);
    put(m, "source", src, ok);
    put(o, "name", json_string(r->name), ok);
    put(o, "match", m, ok);
    put(o, "plugin", json_string(r->plugin), ok);
    put(o, "config", embedded_json(r->config_json), ok);
    return o;
}

int sg_config_dump(const struct sg_config *cfg, FILE *out, bool redact_secrets, size_t *n_redacted)
{
    json_t *root = json_object(), *routes = json_array();
    bool ok = root && routes;
    int rc = -1;
    size_t redacted = 0;

    if (!ok || !cfg || !out)
        goto out;
    put(root, "listen", listen_json(cfg, &ok), &ok);
    put(root, "host_keys", strlist_json(&cfg->host_keys), &ok);
    put(root, "workers", cfg->workers ? json_integer(cfg->workers) : json_string("auto"), &ok);
    put(root, "user", json_string(cfg->user), &ok);
    put(root, "plugin_dir", json_string(cfg->plugin_dir), &ok);
    put(root, "control_socket", json_string(cfg->control_socket), &ok);
    put(root, "pid_file", json_string(cfg->pid_file), &ok);
    put(root, "limits", limits_json(cfg, &ok), &ok);
    put(root, "algorithms", algorithms_json(cfg, &ok), &ok);
    put(root, "rekey", small_objects(cfg, "rekey", &ok), &ok);
    put(root, "keepalive", small_objects(cfg, "keepalive", &ok), &ok);
    put(root, "tcp", small_objects(cfg, "tcp", &ok), &ok);
    put(root, "version_string", json_string(cfg->version_string), &ok);
    put(root, "client_version_pattern", json_string(cfg->client_version_pattern), &ok);
    put(root, "banner", json_string(cfg->banner), &ok);
    put(root, "strict_kex", json_boolean(cfg->strict_kex), &ok);
    put(root, "allowed_clients", strlist_json(&cfg->allowed_clients), &ok);
    put(root, "blocked_clients", strlist_json(&cfg->blocked_clients), &ok);
    put(root, "log", small_objects(cfg, "log", &ok), &ok);
    put(root, "plugins", plugins_json(cfg, &ok), &ok);
    put(root, "auth", auth_json(cfg, &ok), &ok);
    for (size_t i = 0; i < cfg->n_routes; i++)
        append(routes, route_json(&cfg->routes[i], &ok), &ok);
    put(root, "routes", routes, &ok);
    routes = NULL;
    if (!ok)
        goto out;
    if (redact_secrets) {
        redact_configs(json_object_get(root, "plugins"), &redacted);
        redact_configs(json_object_get(root, "routes"), &redacted);
    }
    if (json_dumpf(root, out, JSON_INDENT(2)) < 0 || fputc('\n', out) == EOF)
        goto out;
    rc = 0;
out:
    if (n_redacted)
        *n_redacted = redacted;
    json_decref(root);
    json_decref(routes);
    return rc;
}
