/* ldap_client.h — the directory side of auth-ldap. Runs on pool threads only.
 *
 * Everything here uses the synchronous libldap API with explicit timeouts
 * and is meant to be called from host->queue_work's `work` function: these
 * calls block (bounded by the config's timeouts). Nothing here calls the
 * host; reasons for failures are returned as text for the loop to log.
 *
 * A client owns the parsed config and a small pool of idle service-bound (or
 * anonymous) connections used for searches. The pool is protected by a mutex
 * because several pool threads may run requests at once. A client is
 * reference-counted so a request still running on a pool thread keeps it
 * alive after the plugin's fini.
 */
#ifndef SG_LDAP_CLIENT_H
#define SG_LDAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "ldap_config.h"

struct sg_ldap_client;

enum sg_ldap_status {
    SG_LDAP_OK = 0,
    SG_LDAP_BAD_PASSWORD, /* bind refused (invalid credentials, account locked...) */
    SG_LDAP_NO_USER,      /* no entry for this name */
    SG_LDAP_AMBIGUOUS,    /* the filter matched more than one entry */
    SG_LDAP_ERROR,        /* directory down, timeout, TLS failure, ... (fail closed) */
};

/* What the directory said about a user. */
struct sg_ldap_user {
    char *dn;
    char **keys; /* values of key_attribute (NUL-terminated copies) */
    size_t n_keys;
    char **groups; /* group names (memberOf RDN values, group search) */
    size_t n_groups;
    char **attr_names; /* configured attributes found (first value each) */
    char **attr_values;
    size_t n_attrs;
};

struct sg_ldap_result {
    enum sg_ldap_status status;
    struct sg_ldap_user user;
    char why[512]; /* for the log: what happened (no secrets) */
};

/* Takes ownership of conf. NULL on OOM. Refcount 1. */
struct sg_ldap_client *sg_ldap_client_new(struct sg_ldap_conf *conf);
const struct sg_ldap_conf *sg_ldap_client_conf(const struct sg_ldap_client *cl);
void sg_ldap_client_ref(struct sg_ldap_client *cl);
/* Drops a reference; the last one closes the pooled connections. */
void sg_ldap_client_unref(struct sg_ldap_client *cl);

/* Password check in the configured mode, then groups and attributes.
 * user: ulen bytes; password: plen bytes (> 0; the caller refuses empty
 * ones). Blocks for at most about timeout_ms. */
void sg_ldap_authenticate(struct sg_ldap_client *cl, const char *user, size_t ulen,
                          const char *password, size_t plen, struct sg_ldap_result *res);

/* Find the user's entry with the service connection (no password): keys
 * (if key_attribute is set), groups and attributes. */
void sg_ldap_lookup(struct sg_ldap_client *cl, const char *user, size_t ulen,
                    struct sg_ldap_result *res);

void sg_ldap_result_clear(struct sg_ldap_result *res);

#endif
