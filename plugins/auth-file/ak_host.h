/* ak_host.h — hand the restrictions of an authorized_keys entry to the host
 * (host->conn_restrict, plugin ABI 1.1), for the plugins that read
 * authorized_keys lines (auth-file, and auth-ldap for its key values). */
#ifndef SG_AUTH_FILE_AK_HOST_H
#define SG_AUTH_FILE_AK_HOST_H

#include <plugin.h>
#include <stdbool.h>

#include "authorized_keys.h"

enum ak_host_result {
    AK_HOST_OK = 0,           /* nothing to restrict, or the host took them */
    AK_HOST_UNSUPPORTED = -1, /* the host is older than ABI 1.1: refuse the key */
    AK_HOST_REFUSED = -2,     /* the host refused them (e.g. a second forced command) */
};

/* For a probe only checks that the host could enforce r; otherwise applies
 * r to conn (they take effect if the auth attempt succeeds). */
enum ak_host_result ak_host_restrict(const struct sg_host *host, sg_conn *conn,
                                     const struct ak_restrict *r, bool is_probe);

/* A log line for a result other than AK_HOST_OK. */
const char *ak_host_result_text(enum ak_host_result r);

#endif
