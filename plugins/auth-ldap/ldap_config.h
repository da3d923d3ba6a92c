/* ldap_config.h — the auth-ldap plugin's config object (parsed with jansson).
 * Every key, its default and its meaning: plugins/auth-ldap/README.md. */
#ifndef SG_LDAP_CONFIG_H
#define SG_LDAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* How a password is checked. */
enum sg_ldap_mode {
    SG_LDAP_MODE_SEARCH = 0, /* search the entry (user_filter), then bind as its DN */
    SG_LDAP_MODE_TEMPLATE,   /* bind as bind_dn_template with %u DN-escaped */
    SG_LDAP_MODE_AD,         /* bind as "user@ad_domain", then search sAMAccountName */
};

struct sg_ldap_conf {
    enum sg_ldap_mode mode;
    char **uris; /* tried in order (failover) */
    size_t n_uris;
    bool starttls;
    char *ca_file; /* absolute path, or NULL: libldap's default */
    bool verify_hostname;
    char *bind_dn;       /* NULL: anonymous service searches */
    char *bind_password; /* NULL with bind_dn NULL */
    char *base_dn;
    char *user_filter;      /* %u: RFC 4515-escaped user name */
    char *bind_dn_template; /* %u: RFC 4514-escaped user name */
    char *ad_domain;
    char *key_attribute;        /* "sshPublicKey"; "" disables publickey */
    char *group_base_dn;        /* NULL: no group search */
    char *group_filter;         /* %u user, %d entry DN (both RFC 4515-escaped) */
    char *group_name_attribute; /* "cn" */
    bool use_member_of;
    char **attributes; /* copied to the connection (conn_set_attr) */
    size_t n_attributes;
    int timeout_ms;         /* budget of one auth request; per-operation cap */
    int network_timeout_ms; /* TCP connect (and TLS handshake) */
    int pool_size;          /* idle service connections kept */
    bool authoritative;     /* unknown user: SG_DENY instead of SG_DECLINED */
};

/* Parse the plugin's config JSON. `base_dir` resolves a relative ca_file
 * (NULL = the cwd). On error returns NULL and writes one line into err. */
struct sg_ldap_conf *sg_ldap_conf_parse(const char *json, const char *base_dir, char *err,
                                        size_t errlen);
void sg_ldap_conf_free(struct sg_ldap_conf *c);

/* One line describing the config for the log, bind_password masked. */
int sg_ldap_conf_describe(const struct sg_ldap_conf *c, char *out, size_t outlen);

#endif
