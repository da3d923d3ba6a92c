/* ldap_client.c — connections, StartTLS, searches and binds (pool threads).
 *
 * Every operation is bounded by a per-request deadline (timeout_ms from the
 * start of the request): TCP connects by network_timeout_ms (and the
 * deadline), StartTLS, binds and searches by the time left. Binds and
 * StartTLS use the asynchronous call + ldap_result() with a timeout; searches
 * use ldap_search_ext_s() with its timeout argument; LDAP_OPT_TIMEOUT is set
 * as well for anything synchronous inside libldap.
 */
#include "ldap_client.h"

#include "ldap_escape.h"

#include <ctype.h>
#include <lber.h>
#include <ldap.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEYS 128
#define MAX_KEY_LEN 16384
#define MAX_GROUPS 256
#define MAX_NAME_LEN 256
#define MAX_ATTR_LEN 4096
#define GROUP_SIZELIMIT 1000

/* A connection and the index of the URI it goes to. */
struct lconn {
    LDAP *ld;
    size_t idx;
};

struct sg_ldap_client {
    struct sg_ldap_conf *conf;
    atomic_int refs;
    pthread_mutex_t mu; /* protects idle / n_idle */
    struct lconn *idle;
    size_t n_idle;
};

struct deadline {
    struct timespec end;
};

/* ---- small helpers ------------------------------------------------------- */

static void deadline_init(struct deadline *d, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, &d->end);
    d->end.tv_sec += ms / 1000;
    d->end.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d->end.tv_nsec >= 1000000000L) {
        d->end.tv_sec++;
        d->end.tv_nsec -= 1000000000L;
    }
}

static int remaining_ms(const struct deadline *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms =
        (long long)(d->end.tv_sec - now.tv_sec) * 1000 + (d->end.tv_nsec - now.tv_nsec) / 1000000L;
    return ms < 0 ? 0 : ms > 600000 ? 600000 : (int)ms;
}

/* The share of the time left that an attempt on URI `idx` (of n) may use:
 * the rest is kept for the URIs after it, so a server that accepts TCP but
 * never answers cannot eat the whole budget before failover. */
static struct deadline slice(const struct deadline *dl, size_t idx, size_t n)
{
    struct deadline d;
    int share = remaining_ms(dl) / (int)(n > idx ? n - idx : 1);
    deadline_init(&d, share);
    return d;
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void why_add(struct sg_ldap_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void why_add(struct sg_ldap_result *r, const char *fmt, ...)
{
    size_t used = strlen(r->why);
    if (used + 3 >= sizeof(r->why))
        return;
    if (used) {
        memcpy(r->why + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why + used, sizeof(r->why) - used, fmt, ap);
    va_end(ap);
}

/* Copy a server-supplied text for the log: printable ASCII only, short. */
static void clean_text(const char *in, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; in && in[i] && j + 1 < outlen && i < 200; i++)
        out[j++] = isprint((unsigned char)in[i]) ? in[i] : '?';
    out[j] = '\0';
}

/* "Can't contact LDAP server (-1): <diagnostic>" */
static void describe(LDAP *ld, int rc, const char *diag_in, char *out, size_t outlen)
{
    char *diag = NULL;
    char clean[256] = "";
    if (diag_in)
        clean_text(diag_in, clean, sizeof(clean));
    else if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS &&
             diag) {
        clean_text(diag, clean, sizeof(clean));
        ldap_memfree(diag);
    }
    snprintf(out, outlen, "%s (%d)%s%s", ldap_err2string(rc), rc, clean[0] ? ": " : "", clean);
}

/* Errors that mean the connection itself is unusable. */
static bool conn_broken(int rc)
{
    return rc < 0 || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_PROTOCOL_ERROR ||
           rc == LDAP_OTHER;
}

static char *dup_len(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int push_str(char ***v, size_t *n, char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(**v));
    if (!nv) {
        free(s);
        return -1;
    }
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void add_group(struct sg_ldap_user *u, const char *name)
{
    if (!name_ok(name) || u->n_groups >= MAX_GROUPS)
        return;
    for (size_t i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], name) == 0)
            return;
    char *s = strdup(name);
    if (s)
        push_str(&u->groups, &u->n_groups, s);
}

static void clear_user(struct sg_ldap_user *u)
{
    free(u->dn);
    free_strv(u->keys, u->n_keys);
    free_strv(u->groups, u->n_groups);
    free_strv(u->attr_names, u->n_attrs);
    free_strv(u->attr_values, u->n_attrs);
    memset(u, 0, sizeof(*u));
}

void sg_ldap_result_clear(struct sg_ldap_result *res)
{
    clear_user(&res->user);
    memset(res, 0, sizeof(*res));
}

/* ---- the client object --------------------------------------------------- */

struct sg_ldap_client *sg_ldap_client_new(struct sg_ldap_conf *conf)
{
    struct sg_ldap_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->idle = calloc((size_t)conf->pool_size + 1, sizeof(*cl->idle));
    if (!cl->idle) {
        free(cl);
        return NULL;
    }
    cl->conf = conf;
    atomic_init(&cl->refs, 1);
    pthread_mutex_init(&cl->mu, NULL);
    return cl;
}

const struct sg_ldap_conf *sg_ldap_client_conf(const struct sg_ldap_client *cl)
{
    return cl->conf;
}

void sg_ldap_client_ref(struct sg_ldap_client *cl)
{
    atomic_fetch_add(&cl->refs, 1);
}

void sg_ldap_client_unref(struct sg_ldap_client *cl)
{
    if (!cl || atomic_fetch_sub(&cl->refs, 1) != 1)
        return;
    for (size_t i = 0; i < cl->n_idle; i++)
        ldap_unbind_ext(cl->idle[i].ld, NULL, NULL);
    free(cl->idle);
    pthread_mutex_destroy(&cl->mu);
    sg_ldap_conf_free(cl->conf);
    free(cl);
}

static bool pool_take(struct sg_ldap_client *cl, struct lconn *out)
{
    bool got = false;
    pthread_mutex_lock(&cl->mu);
    if (cl->n_idle > 0) {
        *out = cl->idle[--cl->n_idle];
        got = true;
    }
    pthread_mutex_unlock(&cl->mu);
    return got;
}

static void pool_give(struct sg_ldap_client *cl, struct lconn *lc)
{
    LDAP *ld = lc->ld;
    pthread_mutex_lock(&cl->mu);
    if (cl->n_idle < (size_t)cl->conf->pool_size) {
        cl->idle[cl->n_idle++] = *lc;
        ld = NULL;
    }
    pthread_mutex_unlock(&cl->mu);
    if (ld)
        ldap_unbind_ext(ld, NULL, NULL);
    lc->ld = NULL;
}

/* ---- connecting ---------------------------------------------------------- */

enum open_result {
    OPEN_OK = 0,
    OPEN_TRANSPORT, /* connect, TLS, timeout, server error: try the next URI */
    OPEN_BIND,      /* the server refused the credentials: final */
};

/* Wait for the result of `msgid`; returns the LDAP result code and, if
 * asked, the server's diagnostic text (ldap_memfree it) and the message. */
static int wait_result(LDAP *ld, int msgid, const struct deadline *dl, char **diag,
                       LDAPMessage **keep)
{
    LDAPMessage *res = NULL;
    int ms = remaining_ms(dl);
    struct timeval tv = tv_ms(ms > 0 ? ms : 1);
    int rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
    if (rc == 0) {
        ldap_abandon_ext(ld, msgid, NULL, NULL);
        return LDAP_TIMEOUT;
    }
    if (rc < 0) {
        int err = LDAP_SERVER_DOWN;
        ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
        return err ? err : LDAP_SERVER_DOWN;
    }
    int err = LDAP_OTHER;
    char *text = NULL;
    rc = ldap_parse_result(ld, res, &err, NULL, &text, NULL, NULL, keep ? 0 : 1);
    if (rc != LDAP_SUCCESS) {
        if (keep)
            ldap_msgfree(res);
        return rc;
    }
    if (keep)
        *keep = res;
    if (diag)
        *diag = text;
    else
        ldap_memfree(text);
    return err;
}

static int simple_bind(LDAP *ld, const char *dn, const char *pw, size_t plen,
                       const struct deadline *dl, char **diag)
{
    struct berval cred = {.bv_len = plen, .bv_val = (char *)pw};
    int msgid = -1;
    int rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
    if (rc != LDAP_SUCCESS)
        return rc;
    return wait_result(ld, msgid, dl, diag, NULL);
}

static int start_tls(LDAP *ld, const struct deadline *dl, char **diag)
{
    int msgid = -1;
    int rc = ldap_start_tls(ld, NULL, NULL, &msgid);
    if (rc != LDAP_SUCCESS)
        return rc;
    rc = wait_result(ld, msgid, dl, diag, NULL);
    if (rc != LDAP_SUCCESS)
        return rc;
    return ldap_install_tls(ld);
}

static void set_timeouts(LDAP *ld, const struct sg_ldap_conf *c, const struct deadline *dl)
{
    int left = remaining_ms(dl);
    int net = c->network_timeout_ms < left ? c->network_timeout_ms : left;
    struct timeval tnet = tv_ms(net > 0 ? net : 1), top = tv_ms(left > 0 ? left : 1);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tnet);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &top);
}

static int set_tls_options(LDAP *ld, const struct sg_ldap_conf *c)
{
    int demand = c->verify_hostname ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_ALLOW;
    int min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    int is_server = 0;
    int rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
    if (rc == LDAP_OPT_SUCCESS && c->ca_file)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file);
    if (rc == LDAP_OPT_SUCCESS)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min);
    if (rc == LDAP_OPT_SUCCESS)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
    return rc;
}

/* Connect to one URI, StartTLS if configured, bind if dn != NULL. */
static enum open_result open_uri(const struct sg_ldap_conf *c, const char *uri,
                                 const struct deadline *dl, const char *dn, const char *pw,
                                 size_t plen, LDAP **out, char *why, size_t whylen, int *bind_rc)
{
    LDAP *ld = NULL;
    char *diag = NULL;
    int version = LDAP_VERSION3;
    bool ldaps = strncmp(uri, "ldaps://", 8) == 0;
    bool ldapi = strncmp(uri, "ldapi://", 8) == 0;
    const char *step = "initialize";
    enum open_result res = OPEN_TRANSPORT;
    int rc = ldap_initialize(&ld, uri);
    if (rc != LDAP_SUCCESS)
        goto out;
    step = "options";
    if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) != LDAP_OPT_SUCCESS ||
        (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) != LDAP_OPT_SUCCESS)
        goto out;
    set_timeouts(ld, c, dl);
    if ((ldaps || (c->starttls && !ldapi)) && (rc = set_tls_options(ld, c)) != LDAP_OPT_SUCCESS) {
        step = "TLS options";
        goto out;
    }
    step = ldaps ? "connect/TLS handshake" : "connect";
    if ((rc = ldap_connect(ld)) != LDAP_SUCCESS)
        goto out;
    if (c->starttls && !ldaps && !ldapi) {
        step = "StartTLS";
        set_timeouts(ld, c, dl);
        if ((rc = start_tls(ld, dl, &diag)) != LDAP_SUCCESS)
            goto out;
    }
    if (dn) {
        step = "bind";
        set_timeouts(ld, c, dl);
        rc = simple_bind(ld, dn, pw, plen, dl, &diag);
        if (rc != LDAP_SUCCESS) {
            if (!conn_broken(rc))
                res = OPEN_BIND;
            goto out;
        }
    }
    res = OPEN_OK;
    *out = ld;
    ld = NULL;
out:
    if (res != OPEN_OK) {
        char text[384];
        if (rc == LDAP_TIMEOUT)
            snprintf(text, sizeof(text), "timed out");
        else
            describe(ld, rc, diag, text, sizeof(text));
        if ((rc == LDAP_CONNECT_ERROR && (ldaps || c->starttls)) ||
            (rc == LDAP_SERVER_DOWN && ldaps))
            snprintf(text + strlen(text), sizeof(text) - strlen(text),
                     " (%sTLS: certificate not trusted by ca_file, or the name in the URI is not "
                     "in the certificate)",
                     rc == LDAP_SERVER_DOWN ? "server down, or " : "");
        snprintf(why, whylen, "%s: %s: %s", uri, step, text);
        if (bind_rc)
            *bind_rc = rc;
    }
    if (diag && res == OPEN_BIND && bind_rc && rc == LDAP_INVALID_CREDENTIALS &&
        strstr(diag, "data 525"))
        *bind_rc = -525; /* Active Directory: no such user */
    ldap_memfree(diag);
    if (ld)
        ldap_unbind_ext(ld, NULL, NULL);
    return res;
}

/* Try the URIs in order, from `start`, until one connects (and binds). */
static enum open_result open_conn(struct sg_ldap_client *cl, const struct deadline *dl,
                                  size_t start, const char *dn, const char *pw, size_t plen,
                                  struct lconn *out, struct sg_ldap_result *r, int *bind_rc)
{
    const struct sg_ldap_conf *c = cl->conf;
    enum open_result res = OPEN_TRANSPORT;
    for (size_t i = start; i < c->n_uris; i++) {
        char why[448];
        if (remaining_ms(dl) <= 0) {
            why_add(r, "no time left for %s (timeout_ms %d)", c->uris[i], c->timeout_ms);
            break;
        }
        struct deadline part = slice(dl, i, c->n_uris);
        res = open_uri(c, c->uris[i], &part, dn, pw, plen, &out->ld, why, sizeof(why), bind_rc);
        if (res == OPEN_OK) {
            out->idx = i;
            return res;
        }
        if (res == OPEN_BIND) {
            if (!bind_rc || *bind_rc != LDAP_INVALID_CREDENTIALS)
                why_add(r, "%s", why);
            return res;
        }
        why_add(r, "%s", why);
    }
    return res == OPEN_BIND ? res : OPEN_TRANSPORT;
}

/* ---- searching ----------------------------------------------------------- */

static int do_search(LDAP *ld, const struct sg_ldap_conf *c, const char *base, int scope,
                     const char *filter, char **attrs, int sizelimit, const struct deadline *dl,
                     LDAPMessage **res)
{
    int ms = remaining_ms(dl);
    *res = NULL;
    if (ms <= 0)
        return LDAP_TIMEOUT;
    struct timeval tv = tv_ms(ms);
    set_timeouts(ld, c, dl);
    return ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit, res);
}

static char *first_value(LDAP *ld, LDAPMessage *e, const char *attr, size_t maxlen)
{
    struct berval **vals = ldap_get_values_len(ld, e, attr);
    char *s = NULL;
    for (size_t i = 0; vals && vals[i] && !s; i++) {
        if (vals[i]->bv_len == 0 || vals[i]->bv_len > maxlen ||
            memchr(vals[i]->bv_val, '\0', vals[i]->bv_len))
            continue;
        s = dup_len(vals[i]->bv_val, vals[i]->bv_len);
    }
    ldap_value_free_len(vals);
    return s;
}

static void collect_entry(LDAP *ld, LDAPMessage *e, const struct sg_ldap_conf *c, bool want_keys,
                          struct sg_ldap_user *u)
{
    char *dn = ldap_get_dn(ld, e);
    if (dn) {
        free(u->dn);
        u->dn = strdup(dn);
        ldap_memfree(dn);
    }
    if (want_keys && c->key_attribute[0]) {
        struct berval **vals = ldap_get_values_len(ld, e, c->key_attribute);
        for (size_t i = 0; vals && vals[i] && u->n_keys < MAX_KEYS; i++) {
            if (vals[i]->bv_len == 0 || vals[i]->bv_len > MAX_KEY_LEN ||
                memchr(vals[i]->bv_val, '\0', vals[i]->bv_len))
                continue;
            char *k = dup_len(vals[i]->bv_val, vals[i]->bv_len);
            if (k)
                push_str(&u->keys, &u->n_keys, k);
        }
        ldap_value_free_len(vals);
    }
    if (c->use_member_of) {
        struct berval **vals = ldap_get_values_len(ld, e, "memberOf");
        for (size_t i = 0; vals && vals[i]; i++) {
            char *g = sg_ldap_dn_first_value(vals[i]->bv_val, vals[i]->bv_len);
            if (g)
                add_group(u, g);
            free(g);
        }
        ldap_value_free_len(vals);
    }
    for (size_t i = 0; i < c->n_attributes; i++) {
        char *v = first_value(ld, e, c->attributes[i], MAX_ATTR_LEN);
        char *n = v ? strdup(c->attributes[i]) : NULL;
        if (!v || !n) {
            free(v);
            free(n);
            continue;
        }
        if (push_str(&u->attr_values, &u->n_attrs, v) != 0) {
            free(n);
            continue;
        }
        u->n_attrs--; /* push the name at the same index */
        if (push_str(&u->attr_names, &u->n_attrs, n) != 0) {
            free(u->attr_values[u->n_attrs]);
            u->attr_values[u->n_attrs] = NULL;
        }
    }
}

/* Attributes to ask for (NULL-terminated, in `buf`). */
static char **entry_attrs(const struct sg_ldap_conf *c, bool want_keys, char **buf, size_t cap)
{
    size_t n = 0;
    if (want_keys && c->key_attribute[0] && n + 1 < cap)
        buf[n++] = c->key_attribute;
    if (c->use_member_of && n + 1 < cap)
        buf[n++] = "memberOf";
    for (size_t i = 0; i < c->n_attributes && n + 1 < cap; i++)
        buf[n++] = c->attributes[i];
    if (n == 0)
        buf[n++] = LDAP_NO_ATTRS;
    buf[n] = NULL;
    return buf;
}

static int group_search(LDAP *ld, const struct sg_ldap_conf *c, const char *user, size_t ulen,
                        const struct deadline *dl, struct sg_ldap_user *u, struct sg_ldap_result *r)
{
    const char *err = NULL;
    char *attrs[2] = {c->group_name_attribute, NULL};
    LDAPMessage *res = NULL;
    int rc;
    char *filter = sg_ldap_expand(c->group_filter, user, ulen, u->dn, SG_LDAP_ESC_FILTER, &err);
    if (!filter) {
        why_add(r, "group_filter: %s", err);
        return LDAP_FILTER_ERROR;
    }
    rc = do_search(ld, c, c->group_base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, GROUP_SIZELIMIT, dl,
                   &res);
    free(filter);
    if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
        for (LDAPMessage *e = ldap_first_entry(ld, res); e; e = ldap_next_entry(ld, e)) {
            char *g = first_value(ld, e, c->group_name_attribute, MAX_NAME_LEN);
            if (g)
                add_group(u, g);
            free(g);
        }
        if (rc == LDAP_SIZELIMIT_EXCEEDED)
            why_add(r, "group search: more than %d groups, the rest ignored", GROUP_SIZELIMIT);
        rc = LDAP_SUCCESS;
    } else {
        char text[384];
        describe(ld, rc, NULL, text, sizeof(text));
        why_add(r, "group search in \"%s\": %s", c->group_base_dn,
                rc == LDAP_TIMEOUT ? "timed out" : text);
    }
    ldap_msgfree(res);
    return rc;
}

/* What find_entry needs and gives. */
struct find_args {
    const char *user;
    size_t ulen;
    bool want_keys;
    const struct deadline *dl;    /* the whole request */
    const struct deadline *op_dl; /* this attempt (a slice of dl) */
    const char *uri;              /* this attempt's URI, for messages */
    size_t served;                /* index of the URI that answered */
    struct sg_ldap_result *r;
    enum sg_ldap_status status;
};

/* Find the user's entry (search modes: user_filter under base_dn; template
 * mode: the templated DN itself), collect it, then the group search.
 * Returns the LDAP code of the last operation (for connection health). */
static int find_entry(LDAP *ld, const struct sg_ldap_conf *c, struct find_args *a)
{
    const char *err = NULL;
    char *base = NULL, *filter = NULL;
    char *attr_buf[80];
    LDAPMessage *res = NULL;
    int scope = LDAP_SCOPE_SUBTREE, rc, n;
    struct sg_ldap_result *r = a->r;
    a->status = SG_LDAP_ERROR;
    if (c->mode == SG_LDAP_MODE_TEMPLATE) {
        base = sg_ldap_expand(c->bind_dn_template, a->user, a->ulen, NULL, SG_LDAP_ESC_DN, &err);
        filter = strdup("(objectClass=*)");
        scope = LDAP_SCOPE_BASE;
    } else {
        base = strdup(c->base_dn);
        filter = sg_ldap_expand(c->user_filter, a->user, a->ulen, NULL, SG_LDAP_ESC_FILTER, &err);
    }
    if (!base || !filter) {
        why_add(r, "template: %s", err ? err : "out of memory");
        rc = LDAP_NO_MEMORY;
        goto out;
    }
    rc = do_search(ld, c, base, scope, filter, entry_attrs(c, a->want_keys, attr_buf, 80), 2,
                   a->op_dl, &res);
    if (rc == LDAP_NO_SUCH_OBJECT && c->mode == SG_LDAP_MODE_TEMPLATE) {
        a->status = SG_LDAP_NO_USER;
        goto out;
    }
    if (rc == LDAP_SIZELIMIT_EXCEEDED) {
        a->status = SG_LDAP_AMBIGUOUS;
        why_add(r, "the filter matched more than one entry");
        rc = LDAP_SUCCESS;
        goto out;
    }
    if (rc != LDAP_SUCCESS) {
        char text[384];
        describe(ld, rc, NULL, text, sizeof(text));
        why_add(r, "%s: search in \"%s\": %s", a->uri, base,
                rc == LDAP_TIMEOUT ? "timed out" : text);
        goto out;
    }
    n = ldap_count_entries(ld, res);
    if (n == 0) {
        a->status = SG_LDAP_NO_USER;
        goto out;
    }
    if (n > 1) {
        a->status = SG_LDAP_AMBIGUOUS;
        why_add(r, "the filter matched %d entries", n);
        goto out;
    }
    collect_entry(ld, ldap_first_entry(ld, res), c, a->want_keys, &r->user);
    if (!r->user.dn) {
        why_add(r, "entry without a DN");
        goto out;
    }
    if (c->group_base_dn &&
        (rc = group_search(ld, c, a->user, a->ulen, a->op_dl, &r->user, r)) != LDAP_SUCCESS)
        goto out;
    a->status = SG_LDAP_OK;
out:
    ldap_msgfree(res);
    free(base);
    free(filter);
    return rc;
}

/* Run find_entry on a service connection: a pooled one, else a new one
 * (URIs in order). When the connection fails under the search (a reused one
 * went stale, or a server accepts TCP but never answers), try again: from
 * the first URI after a stale connection, from the next URI after a dead
 * one, while time is left. */
static void service_find(struct sg_ldap_client *cl, struct find_args *a)
{
    const struct sg_ldap_conf *c = cl->conf;
    size_t start = 0;
    a->status = SG_LDAP_ERROR;
    for (size_t attempt = 0; attempt <= c->n_uris; attempt++) {
        struct lconn lc = {0};
        bool reused = pool_take(cl, &lc);
        if (!reused) {
            int brc = 0;
            enum open_result o =
                open_conn(cl, a->dl, start, c->bind_dn, c->bind_password,
                          c->bind_password ? strlen(c->bind_password) : 0, &lc, a->r, &brc);
            if (o == OPEN_BIND)
                why_add(a->r, "service bind as \"%s\" refused: %s", c->bind_dn,
                        ldap_err2string(brc == -525 ? LDAP_INVALID_CREDENTIALS : brc));
            if (o != OPEN_OK)
                return;
        }
        struct deadline op = slice(a->dl, lc.idx, c->n_uris);
        a->op_dl = &op;
        a->uri = c->uris[lc.idx];
        a->served = lc.idx;
        int rc = find_entry(lc.ld, c, a);
        if (!conn_broken(rc)) {
            pool_give(cl, &lc);
            return;
        }
        ldap_unbind_ext(lc.ld, NULL, NULL);
        start = reused && rc != LDAP_TIMEOUT ? 0 : lc.idx + 1;
        if (start >= c->n_uris || remaining_ms(a->dl) <= 0)
            return;
        clear_user(&a->r->user);
    }
}

/* ---- public entry points ------------------------------------------------- */

static void set_status(struct sg_ldap_result *r, enum sg_ldap_status st)
{
    r->status = st;
}

void sg_ldap_lookup(struct sg_ldap_client *cl, const char *user, size_t ulen,
                    struct sg_ldap_result *res)
{
    struct deadline dl;
    memset(res, 0, sizeof(*res));
    deadline_init(&dl, cl->conf->timeout_ms);
    struct find_args a = {.user = user, .ulen = ulen, .want_keys = true, .dl = &dl, .r = res};
    service_find(cl, &a);
    set_status(res, a.status);
}

/* Bind as `dn` with the password on a fresh connection (URIs from `start`).
 * On success the connection is returned in *keep (if keep != NULL) or
 * closed. */
static enum sg_ldap_status user_bind(struct sg_ldap_client *cl, const struct deadline *dl,
                                     size_t start, const char *dn, const char *pw, size_t plen,
                                     struct lconn *keep, struct sg_ldap_result *r)
{
    struct lconn lc = {0};
    int brc = 0;
    enum open_result o = open_conn(cl, dl, start, dn, pw, plen, &lc, r, &brc);
    if (o == OPEN_OK) {
        if (keep)
            *keep = lc;
        else
            ldap_unbind_ext(lc.ld, NULL, NULL);
        return SG_LDAP_OK;
    }
    if (o == OPEN_BIND) {
        if (brc == -525)
            return SG_LDAP_NO_USER;
        if (brc == LDAP_INVALID_CREDENTIALS)
            why_add(r, "bind as \"%s\" refused: invalid credentials", dn);
        return SG_LDAP_BAD_PASSWORD;
    }
    return SG_LDAP_ERROR;
}

static void auth_search(struct sg_ldap_client *cl, const char *user, size_t ulen, const char *pw,
                        size_t plen, const struct deadline *dl, struct sg_ldap_result *r)
{
    struct find_args a = {.user = user, .ulen = ulen, .dl = dl, .r = r};
    service_find(cl, &a);
    if (a.status != SG_LDAP_OK) {
        set_status(r, a.status);
        return;
    }
    /* bind where the search was answered: that server is known to be up */
    set_status(r, user_bind(cl, dl, a.served, r->user.dn, pw, plen, NULL, r));
}

/* Template and AD modes: bind first (unless a service account can tell an
 * unknown user apart first), then read the entry for groups/attributes with
 * the service connection if there is one, else with the user's own. */
static void auth_bind_first(struct sg_ldap_client *cl, const char *user, size_t ulen,
                            const char *pw, size_t plen, const struct deadline *dl,
                            struct sg_ldap_result *r)
{
    const struct sg_ldap_conf *c = cl->conf;
    const char *err = NULL;
    struct lconn lc = {0};
    struct find_args a = {.user = user, .ulen = ulen, .dl = dl, .r = r};
    char *bind_name =
        c->mode == SG_LDAP_MODE_TEMPLATE
            ? sg_ldap_expand(c->bind_dn_template, user, ulen, NULL, SG_LDAP_ESC_DN, &err)
            : NULL;
    if (c->mode == SG_LDAP_MODE_AD) {
        size_t n = ulen + 1 + strlen(c->ad_domain) + 1;
        bind_name = malloc(n);
        if (bind_name) {
            memcpy(bind_name, user, ulen);
            snprintf(bind_name + ulen, n - ulen, "@%s", c->ad_domain);
        }
    }
    if (!bind_name) {
        why_add(r, "bind name: %s", err ? err : "out of memory");
        set_status(r, SG_LDAP_ERROR);
        return;
    }
    if (c->bind_dn) {
        service_find(cl, &a);
        if (a.status != SG_LDAP_OK) {
            set_status(r, a.status);
            goto out;
        }
    }
    enum sg_ldap_status st =
        user_bind(cl, dl, a.served, bind_name, pw, plen, c->bind_dn ? NULL : &lc, r);
    if (st != SG_LDAP_OK) {
        set_status(r, st);
        goto out;
    }
    if (!c->bind_dn) { /* read the entry as the user */
        struct deadline op = slice(dl, lc.idx, c->n_uris);
        a.op_dl = &op;
        a.uri = c->uris[lc.idx];
        find_entry(lc.ld, c, &a);
        if (a.status == SG_LDAP_ERROR || a.status == SG_LDAP_AMBIGUOUS) {
            set_status(r, SG_LDAP_ERROR);
            goto out;
        }
        if (a.status == SG_LDAP_NO_USER)
            why_add(r, "bound as \"%s\" but could not read the entry: no groups/attributes",
                    bind_name);
    }
    set_status(r, SG_LDAP_OK);
out:
    if (lc.ld)
        ldap_unbind_ext(lc.ld, NULL, NULL);
    free(bind_name);
}

void sg_ldap_authenticate(struct sg_ldap_client *cl, const char *user, size_t ulen,
                          const char *password, size_t plen, struct sg_ldap_result *res)
{
    struct deadline dl;
    memset(res, 0, sizeof(*res));
    if (plen == 0) { /* never an unauthenticated bind */
        res->status = SG_LDAP_BAD_PASSWORD;
        why_add(res, "empty password");
        return;
    }
    deadline_init(&dl, cl->conf->timeout_ms);
    if (cl->conf->mode == SG_LDAP_MODE_SEARCH)
        auth_search(cl, user, ulen, password, plen, &dl, res);
    else
        auth_bind_first(cl, user, ulen, password, plen, &dl, res);
}
