/* config.h — the daemon's configuration: load, validate, print.
 *
 * One JSON file (jansson). Every key has a default; unknown keys and wrong
 * types are errors that name file:line:column and the JSON path. The whole
 * config is read in the master, validated, then inherited by the workers
 * (fork) — nothing here is touched after fork except read-only.
 */
#ifndef SSHGATE_CONFIG_H
#define SSHGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A NULL-terminated string list with its count. */
struct sg_strlist {
    char **v;    /* v[n] == NULL */
    size_t n;
};

struct sg_listen {
    char *address;   /* "127.0.0.1", "::1", "0.0.0.0", "::" */
    int port;        /* 1..65535 */
    int backlog;     /* default 128 */
};

struct sg_plugin_conf {
    char *name;         /* unique, [a-z0-9_-]+ */
    char *path;         /* resolved absolute path of the .so */
    char *config_json;  /* the "config" object as compact JSON text ("{}") */
};

/* Route match kinds. */
enum sg_route_kind {
    SG_ROUTE_ANY = 0,        /* "*" */
    SG_ROUTE_SHELL,          /* "shell" */
    SG_ROUTE_EXEC,           /* "exec" */
    SG_ROUTE_SUBSYSTEM,      /* "subsystem" */
    SG_ROUTE_DIRECT_TCPIP,   /* "direct-tcpip" */
    SG_ROUTE_TCPIP_FORWARD,  /* "tcpip-forward" */
};

struct sg_cidr {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];    /* network order; v4 in the first 4 bytes */
    int prefix;          /* 0..32 / 0..128 */
};

struct sg_route {
    char *name;              /* "" if not given */
    enum sg_route_kind kind;
    char *command;           /* exec: fnmatch glob on the command ("" = any) */
    char *subsystem;         /* subsystem name ("" = any) */
    struct sg_strlist users; /* fnmatch globs; empty = any */
    struct sg_strlist groups;/* any of these groups; empty = any */
    struct sg_cidr *sources; /* source CIDRs; n_sources == 0 = any */
    size_t n_sources;
    char *plugin;            /* plugin name (must be in plugins[]) */
    char *config_json;       /* the route's "config" object as JSON text ("{}") */
};

struct sg_kbd_prompt {
    char *prompt;
    bool echo;
};

struct sg_config {
    char *path;                 /* file it came from ("<embedded>" for the default) */
    char *base_dir;             /* relative paths resolve against this */

    struct sg_listen *listen;   size_t n_listen;   /* default [{127.0.0.1, 2222, 128}] */
    struct sg_strlist host_keys;/* resolved paths; generated when missing */
    int workers;                /* 0 = "auto" (number of cores) */
    char *user;                 /* drop privileges to this account ("" = stay) */
    char *plugin_dir;           /* where plugin "path"s without '/' are looked up */
    char *control_socket;       /* unix socket for --status ("" = off) */
    char *pid_file;             /* "" = none */

    struct {
        int max_connections;    /* 1000, 1..100000, across all workers */
        int max_startups_start, max_startups_rate, max_startups_full; /* "10:30:100" */
        int per_source_max;     /* concurrent connections per source address, 0 = off; default 50 */
        int per_source_penalty; /* seconds a source is refused after repeated auth failures; 0 = off; default 30 */
        int per_source_penalty_failures; /* failures (within penalty window) that trigger it; default 10 */
        int login_grace_time;   /* seconds, 120; 0 = none */
        int max_auth_attempts;  /* 6 */
        int idle_timeout;       /* seconds without channel traffic, 0 = off */
        int timeout;            /* DefaultTimeout: seconds for a reply/connect, 60 */
        int max_channels;       /* open channels per connection, 64 */
        int max_sessions;       /* session channels per connection, 10 */
    } limits;

    struct {
        struct sg_strlist kex, ciphers, macs, host_key, pubkey_auth, compression;
    } algorithms;               /* validated against what libssh 0.10.6 can do */

    struct { uint64_t bytes; int seconds; } rekey;          /* 1 GiB, 3600 */
    struct { int interval; int count_max; } keepalive;      /* 0 (off), 3 */
    struct { int keepalive_time, keepalive_interval; bool nodelay; int rcvbuf, sndbuf; } tcp;
                                                            /* 0,0,true,0,0 (0 = OS default) */
    char *version_string;       /* software part after "SSH-2.0-": "sshgate_<ver>" */
    char *client_version_pattern; /* fnmatch on the client's version ("" = any) */
    char *banner;               /* auth banner text ("" = none) */
    bool strict_kex;            /* true (false is an error: libssh 0.10.6 always offers it) */
    struct sg_strlist allowed_clients; /* IP globs or CIDRs; empty = all */
    struct sg_strlist blocked_clients;

    struct {
        int level;              /* 0..3, default 1 */
        bool json;              /* "format": "text" | "json" */
        bool mask_secrets;      /* true */
    } log;

    struct sg_plugin_conf *plugins; size_t n_plugins;

    struct {
        struct sg_strlist chain;   /* plugin names, in order; default ["auth-file"] if such a plugin exists */
        struct sg_strlist methods; /* offered: "publickey","password","keyboard-interactive","none" */
        struct sg_strlist *required; size_t n_required; /* MFA sets, e.g. [["publickey","password"]] */
        char *kbd_instruction;
        struct sg_kbd_prompt *kbd_prompts; size_t n_kbd_prompts; /* default [{"Password: ", false}] */
        bool fire_after_signature; /* false */
    } auth;

    struct sg_route *routes; size_t n_routes;

    /* Added by config.c: warnings found while loading (weak algorithms
     * listed explicitly), one "FILE:LINE:COL: $.path: warning: ..." line each.
     * They are also passed to the warning callback (see below) at load time. */
    struct sg_strlist warnings;
};

/* Load and validate. On error returns NULL and writes one line into err:
 * "FILE:LINE:COL: $.json.path: message". */
struct sg_config *sg_config_load_file(const char *path, char *err, size_t errlen);
/* Same from text; `name` is used in messages and base_dir is the cwd. */
struct sg_config *sg_config_load_string(const char *text, const char *name, char *err,
                                        size_t errlen);
/* The embedded default (conf/sshgate.json compiled in). */
const char *sg_config_default_text(void);
void sg_config_free(struct sg_config *cfg);
/* Print the effective config (every key, defaults filled) as JSON. With
 * redact_secrets, secret-looking string values in plugin and route configs
 * (keys ending in password, secret, token, ...) print as "<redacted>"; their
 * number goes to *n_redacted (may be NULL). */
int sg_config_dump(const struct sg_config *cfg, FILE *out, bool redact_secrets,
                   size_t *n_redacted);

/* Helpers shared with the router and admission code. */
int sg_cidr_parse(const char *text, struct sg_cidr *out);      /* 0 ok, -1 bad */
bool sg_cidr_match(const struct sg_cidr *c, int family, const void *addr);
const struct sg_plugin_conf *sg_config_plugin(const struct sg_config *cfg, const char *name);

/* Added by config.c: */
/* Format a CIDR as "a.b.c.d/n" or "x::y/n"; returns 0, or -1 if len is too small. */
int sg_cidr_format(const struct sg_cidr *c, char *buf, size_t len);
/* Match one allowed_clients/blocked_clients entry (CIDR, bare IP, or fnmatch
 * glob on the textual IP) against an address (AF_INET: 4 bytes, AF_INET6: 16
 * bytes). IPv4-mapped IPv6 addresses match IPv4 entries and globs. */
bool sg_client_pattern_match(const char *pattern, int family, const void *addr);
/* Any entry of the list matches. */
bool sg_client_list_match(const struct sg_strlist *list, int family, const void *addr);
/* Whether a string is a valid allowed/blocked_clients entry. */
bool sg_client_pattern_valid(const char *pattern);
/* Join a list with a separator (e.g. ',' for libssh algorithm options).
 * Returns a malloc'd string ("" for an empty list) or NULL on OOM. */
char *sg_strlist_join(const struct sg_strlist *l, char sep);
bool sg_strlist_contains(const struct sg_strlist *l, const char *s);
/* "*", "shell", "exec", "subsystem", "direct-tcpip", "tcpip-forward". */
const char *sg_route_kind_name(enum sg_route_kind kind);
/* Where load warnings go besides cfg->warnings. Default (cb NULL): printed
 * to stderr as "sshgated: <line>". */
typedef void (*sg_config_warning_cb)(const char *msg, void *userdata);
void sg_config_set_warning_cb(sg_config_warning_cb cb, void *userdata);

#endif
