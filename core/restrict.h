/* restrict.h — restrictions that come with a credential (OpenSSH
 * authorized_keys options such as no-pty, permitopen=, permitlisten=),
 * given by an auth plugin through host->conn_restrict and enforced by the
 * core on top of the routes for the rest of the connection.
 *
 * A set only ever tightens: flags add up, and each permit list given is one
 * more condition (a destination must match an entry of every list). */
#ifndef SSHGATE_RESTRICT_H
#define SSHGATE_RESTRICT_H

#include <stdbool.h>
#include <stddef.h>

struct sg_restrictions;

struct sg_permit {
    char *host; /* literal host (permit_open) or pattern (permit_listen); "*" = any */
    int port;   /* -1 = any */
};

struct sg_permit_list {
    struct sg_permit *v;
    size_t n;
    struct sg_permit_list *next;
};

struct sg_restrict {
    unsigned flags;                /* SG_RESTRICT_* of plugin.h */
    struct sg_permit_list *open;   /* permit_open lists (all must allow) */
    struct sg_permit_list *listen; /* permit_listen lists */
    char *force_command;           /* command="..." or NULL */
};

/* Parse the plugin's restrictions and add them to *into. Nothing is added
 * when an entry is malformed, or when a forced command differs from the one
 * of *into or of *applied (may be NULL): returns SG_E_INVAL and writes why. */
int sg_restrict_add(struct sg_restrict *into, const struct sg_restrict *applied,
                    const struct sg_restrictions *r, char *why, size_t whylen);

/* Move everything of *from into *into (from is left empty). */
void sg_restrict_merge(struct sg_restrict *into, struct sg_restrict *from);

void sg_restrict_clear(struct sg_restrict *r);

/* May a direct-tcpip channel go to host:port as the client sent them? */
bool sg_restrict_open_allowed(const struct sg_restrict *r, const char *host, int port);

/* May the client listen on address:port (tcpip-forward)? */
bool sg_restrict_listen_allowed(const struct sg_restrict *r, const char *address, int port);

#endif
