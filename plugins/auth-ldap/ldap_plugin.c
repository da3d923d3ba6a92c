/* ldap_plugin.c — the auth-ldap plugin: descriptor, config, auth events and
 * the SG_AGAIN plumbing.
 *
 * Every decision that needs the directory is handed to the host's work pool
 * (host->queue_work): the pool thread runs the synchronous libldap calls of
 * ldap_client.c, then `job_done` runs on the loop thread, applies groups and
 * attributes (loop-only host calls) and answers with host->complete. The
 * loop thread never calls libldap.
 *
 * Per connection (host->conn_set_ctx) the plugin keeps: the request in
 * flight, the first keyboard-interactive response (the password), and the
 * last lookup of the user's entry for publickey (so the signature stage does
 * not query again right after the probe).
 */
#include <plugin.h>

#include "ldap_client.h"
#include "ldap_config.h"
#include "ldap_escape.h"
#include "ak_host.h"
#include "ldap_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_CACHE_MS 30000 /* how long a publickey lookup is reused on one connection */

static const struct sg_host *host;
static const sg_plugin_ref *me;

struct ldap_state {
    struct sg_ldap_client *cl;
    bool authoritative;
    bool keys_enabled;
};

struct job;

struct conn_ctx {
    struct job *inflight; /* the request on a pool thread, or NULL */
    char *kbd_password;   /* keyboard-interactive response 1 */
    size_t kbd_len;
    bool kbd_have;
    char *cache_user; /* publickey lookup cache */
    uint64_t cache_time;
    struct sg_ldap_result cache;
};

enum job_kind { JOB_PASSWORD, JOB_LOOKUP };

struct job {
    enum job_kind kind;
    struct sg_ldap_client *cl; /* ref held until the work function ends */
    sg_conn *conn;             /* NULL once the connection ended */
    struct conn_ctx *ctx;
    sg_request *req;
    const char *method; /* static label for logs */
    char *user;
    size_t ulen;
    char *password;
    size_t plen;
    char *offered; /* publickey: "type base64" */
    size_t olen;
    bool is_probe;
    bool authoritative;
    struct sg_ldap_result res;
};

/* ---- helpers ------------------------------------------------------------- */

static void wipe_free(char *p, size_t n)
{
    if (p) {
        explicit_bzero(p, n);
        free(p);
    }
}

/* A user name for the log: printable, at most 64 bytes. */
static const char *log_name(const char *user, char *buf, size_t buflen)
{
    size_t j = 0;
    for (size_t i = 0; user[i] && j + 4 < buflen && i < 64; i++)
        buf[j++] = (unsigned char)user[i] >= 0x20 && (unsigned char)user[i] < 0x7f ? user[i] : '?';
    if (strlen(user) > 64 && j + 4 < buflen) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

static struct conn_ctx *ctx_get(sg_conn *conn, bool create)
{
    struct conn_ctx *ctx = host->conn_get_ctx(conn, me);
    if (!ctx && create) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx)
            host->conn_set_ctx(conn, me, ctx);
    }
    return ctx;
}

static void ctx_forget_kbd(struct conn_ctx *ctx)
{
    wipe_free(ctx->kbd_password, ctx->kbd_len);
    ctx->kbd_password = NULL;
    ctx->kbd_len = 0;
    ctx->kbd_have = false;
}

static void ctx_forget_cache(struct conn_ctx *ctx)
{
    free(ctx->cache_user);
    ctx->cache_user = NULL;
    sg_ldap_result_clear(&ctx->cache);
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->cl)
        sg_ldap_client_unref(j->cl);
    free(j->user);
    wipe_free(j->password, j->plen);
    free(j->offered);
    sg_ldap_result_clear(&j->res);
    free(j);
}

/* Groups and attributes of a user who just authenticated. */
static void apply_user(sg_conn *conn, const struct sg_ldap_user *u)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (host->conn_add_group(conn, u->groups[i]) < 0)
            host->log(me, conn, SG_LOG_ERROR, "ldap: could not add group \"%s\"", u->groups[i]);
    for (size_t i = 0; i < u->n_attrs; i++)
        if (host->conn_set_attr(conn, u->attr_names[i], u->attr_values[i]) < 0)
            host->log(me, conn, SG_LOG_ERROR, "ldap: could not set attribute \"%s\"",
                      u->attr_names[i]);
    if (u->n_groups)
        host->log(me, conn, SG_LOG_VERBOSE, "ldap: %zu group(s), first \"%s\"", u->n_groups,
                  u->groups[0]);
}

/* The answer for a user the directory does not know. */
static int unknown_user(bool authoritative)
{
    return authoritative ? SG_DENY : SG_DECLINED;
}

/* ---- pool side ----------------------------------------------------------- */

static void job_work(void *arg)
{
    struct job *j = arg;
    if (j->kind == JOB_PASSWORD)
        sg_ldap_authenticate(j->cl, j->user, j->ulen, j->password, j->plen, &j->res);
    else
        sg_ldap_lookup(j->cl, j->user, j->ulen, &j->res);
    wipe_free(j->password, j->plen);
    j->password = NULL;
    j->plen = 0;
    sg_ldap_client_unref(j->cl); /* the loop side never needs the client */
    j->cl = NULL;
}

/* ---- loop side: decisions ------------------------------------------------ */

static int decide_password(struct job *j)
{
    char name[80];
    const struct sg_ldap_result *r = &j->res;
    log_name(j->user, name, sizeof(name));
    switch (r->status) {
    case SG_LDAP_OK:
        host->log(me, j->conn, SG_LOG_INFO, "ldap: %s accepted for \"%s\" (%s)%s%s", j->method,
                  name, r->user.dn ? r->user.dn : "?", r->why[0] ? ": " : "", r->why);
        apply_user(j->conn, &r->user);
        return SG_OK;
    case SG_LDAP_BAD_PASSWORD:
        host->log(me, j->conn, SG_LOG_INFO, "ldap: %s rejected for \"%s\": %s", j->method, name,
                  r->why[0] ? r->why : "wrong password");
        return SG_DENY;
    case SG_LDAP_NO_USER:
        host->log(me, j->conn, SG_LOG_VERBOSE, "ldap: no directory entry for \"%s\"%s", name,
                  j->authoritative ? " (authoritative: denied)" : "");
        return unknown_user(j->authoritative);
    case SG_LDAP_AMBIGUOUS:
        host->log(me, j->conn, SG_LOG_ERROR, "ldap: \"%s\" denied: %s", name, r->why);
        return SG_DENY;
    default:
        host->log(me, j->conn, SG_LOG_ERROR,
                  "ldap: directory unavailable, denying \"%s\" (fail closed): %s", name,
                  r->why[0] ? r->why : "unknown error");
        return SG_DENY;
    }
}

/* Publickey against a (cached) lookup result. */
static int decide_key(sg_conn *conn, const struct sg_ldap_result *r, const char *user,
                      const char *offered, size_t olen, bool is_probe, bool authoritative)
{
    char name[80];
    log_name(user, name, sizeof(name));
    switch (r->status) {
    case SG_LDAP_OK:
        break;
    case SG_LDAP_NO_USER:
        return unknown_user(authoritative);
    case SG_LDAP_AMBIGUOUS:
        host->log(me, conn, SG_LOG_ERROR, "ldap: publickey for \"%s\" denied: %s", name, r->why);
        return SG_DENY;
    default:
        host->log(me, conn, SG_LOG_ERROR,
                  "ldap: directory unavailable, denying publickey for \"%s\" (fail closed): %s",
                  name, r->why[0] ? r->why : "unknown error");
        return SG_DENY;
    }
    struct ak_key offer;
    char why[160];
    if (ak_parse_public_key(offered, olen, &offer, why, sizeof(why)) != AK_OK) {
        host->log(me, conn, SG_LOG_VERBOSE, "ldap: offered key not understood: %s", why);
        return SG_DECLINED;
    }
    struct sg_conn_info info = {.size = sizeof(info)};
    const char *peer = host->conn_info(conn, &info) == 0 && info.peer_address ? info.peer_address
                                                                              : "";
    time_t now = time(NULL);
    int result = SG_DECLINED;
    for (size_t i = 0; i < r->user.n_keys && result == SG_DECLINED; i++) {
        struct ak_key entry;
        enum sg_key_match m = sg_ldap_key_match(&offer, r->user.keys[i], strlen(r->user.keys[i]),
                                                &entry, why, sizeof(why));
        if (m == SG_KEY_UNSUPPORTED || m == SG_KEY_BAD)
            host->log(me, conn, SG_LOG_VERBOSE, "ldap: key value %zu of \"%s\" skipped: %s", i,
                      name, why);
        if (m != SG_KEY_MATCH)
            continue;
        if (!ak_key_options_allow(&entry, peer, now, why, sizeof(why))) {
            /* as in authorized_keys: another value may still allow the key */
            host->log(me, conn, SG_LOG_INFO, "ldap: key value %zu of \"%s\" refused: %s", i,
                      name, why);
        } else {
            enum ak_host_result rc = ak_host_restrict(host, conn, &entry.restr, is_probe);
            if (rc != AK_HOST_OK) {
                host->log(me, conn, SG_LOG_INFO, "ldap: %s", ak_host_result_text(rc));
                result = SG_DENY;
            } else {
                result = SG_OK;
            }
        }
        ak_key_clear(&entry);
    }
    ak_key_clear(&offer);
    if (result == SG_OK && !is_probe) {
        host->log(me, conn, SG_LOG_INFO, "ldap: publickey accepted for \"%s\" (%s)", name,
                  r->user.dn ? r->user.dn : "?");
        apply_user(conn, &r->user);
    }
    if (result == SG_DECLINED)
        host->log(me, conn, SG_LOG_VERBOSE,
                  "ldap: offered key is not among the %zu key(s) of \"%s\"", r->user.n_keys, name);
    return result;
}

static void job_done(void *arg)
{
    struct job *j = arg;
    int result = SG_DENY;
    if (j->ctx)
        j->ctx->inflight = NULL;
    if (!j->conn)
        goto out; /* the connection ended meanwhile: complete() ignores it */
    if (j->kind == JOB_PASSWORD) {
        result = decide_password(j);
    } else {
        result = decide_key(j->conn, &j->res, j->user, j->offered, j->olen, j->is_probe,
                            j->authoritative);
        if (j->ctx && j->res.status != SG_LDAP_ERROR) { /* keep the lookup for the next stage */
            ctx_forget_cache(j->ctx);
            j->ctx->cache_user = j->user;
            j->user = NULL;
            j->ctx->cache = j->res;
            memset(&j->res, 0, sizeof(j->res));
            j->ctx->cache_time = host->now_ms();
        }
    }
out:
    host->complete(j->req, result, NULL);
    job_free(j);
}

/* Hand a job to the pool; SG_AGAIN, or SG_DENY if that fails. */
static int job_start(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                     struct sg_ev_auth *ev, struct job *j)
{
    char name[80];
    j->conn = conn;
    j->ctx = ctx;
    j->req = ev->req;
    j->authoritative = st->authoritative;
    j->ulen = strlen(ev->user);
    j->user = strdup(ev->user);
    if (!j->user || !ev->req)
        goto fail;
    j->cl = st->cl;
    sg_ldap_client_ref(j->cl);
    if (host->queue_work(job_work, job_done, j) < 0)
        goto fail;
    ctx->inflight = j;
    host->log(me, conn, SG_LOG_VERBOSE, "ldap: directory request (%s) for \"%s\"", j->method,
              log_name(ev->user, name, sizeof(name)));
    return SG_AGAIN;
fail:
    host->log(me, conn, SG_LOG_ERROR, "ldap: cannot start the directory request for \"%s\"",
              log_name(ev->user, name, sizeof(name)));
    job_free(j);
    return SG_DENY;
}

static int start_password(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                          struct sg_ev_auth *ev, const char *pw, size_t plen, const char *label)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return SG_E_NOMEM;
    j->kind = JOB_PASSWORD;
    j->method = label;
    j->password = malloc(plen + 1);
    if (!j->password) {
        free(j);
        return SG_E_NOMEM;
    }
    memcpy(j->password, pw, plen);
    j->password[plen] = '\0';
    j->plen = plen;
    return job_start(st, conn, ctx, ev, j);
}

/* ---- auth methods -------------------------------------------------------- */

static int auth_password(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                         struct sg_ev_auth *ev)
{
    char name[80];
    if (ev->param_len == 0 || !ev->param) {
        host->log(me, conn, SG_LOG_INFO, "ldap: empty password for \"%s\" refused (never sent)",
                  log_name(ev->user, name, sizeof(name)));
        return SG_DENY;
    }
    return start_password(st, conn, ctx, ev, ev->param, ev->param_len, "password");
}

static int auth_publickey(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                          struct sg_ev_auth *ev)
{
    if (!st->keys_enabled || !ev->param || ev->param_len == 0)
        return SG_DECLINED;
    if (ctx->cache_user && strcmp(ctx->cache_user, ev->user) == 0 &&
        host->now_ms() - ctx->cache_time < KEY_CACHE_MS)
        return decide_key(conn, &ctx->cache, ev->user, ev->param, ev->param_len, ev->is_probe,
                          st->authoritative);
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return SG_E_NOMEM;
    j->kind = JOB_LOOKUP;
    j->method = "publickey";
    j->is_probe = ev->is_probe;
    j->olen = ev->param_len;
    j->offered = malloc(ev->param_len + 1);
    if (!j->offered) {
        free(j);
        return SG_E_NOMEM;
    }
    memcpy(j->offered, ev->param, ev->param_len);
    j->offered[ev->param_len] = '\0';
    return job_start(st, conn, ctx, ev, j);
}

/* "keyboard-interactive": the start (prompts: the host's defaults, one
 * "Password: ") and the end (check the remembered first response). */
static int auth_kbdint(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                       struct sg_ev_auth *ev)
{
    char name[80];
    if (ev->kbdint_start) {
        ctx_forget_kbd(ctx);
        return SG_DECLINED;
    }
    if (!ctx->kbd_have)
        return SG_DECLINED;
    if (ctx->kbd_len == 0) {
        ctx_forget_kbd(ctx);
        host->log(me, conn, SG_LOG_INFO, "ldap: empty password for \"%s\" refused (never sent)",
                  log_name(ev->user, name, sizeof(name)));
        return SG_DENY;
    }
    int rc =
        start_password(st, conn, ctx, ev, ctx->kbd_password, ctx->kbd_len, "keyboard-interactive");
    ctx_forget_kbd(ctx);
    return rc;
}

/* "keyboard-interactive-N": remember response 1 (the password). */
static int auth_kbdint_response(struct ldap_state *st, sg_conn *conn, struct conn_ctx *ctx,
                                struct sg_ev_auth *ev)
{
    const char *n = ev->method + strlen("keyboard-interactive-");
    if (strcmp(n, "1") != 0)
        return SG_OK;
    ctx_forget_kbd(ctx);
    ctx->kbd_password = malloc(ev->param_len + 1);
    if (!ctx->kbd_password)
        return SG_E_NOMEM;
    if (ev->param_len)
        memcpy(ctx->kbd_password, ev->param, ev->param_len);
    ctx->kbd_password[ev->param_len] = '\0';
    ctx->kbd_len = ev->param_len;
    ctx->kbd_have = true;
    return SG_OK;
}

typedef int (*auth_fn)(struct ldap_state *, sg_conn *, struct conn_ctx *, struct sg_ev_auth *);

static const struct {
    const char *method;
    bool prefix;     /* match "method<anything>" */
    bool needs_user; /* check the user name before anything else */
    auth_fn fn;
} auth_handlers[] = {
    {"password", false, true, auth_password},
    {"publickey", false, true, auth_publickey},
    {"keyboard-interactive-", true, false, auth_kbdint_response},
    {"keyboard-interactive", false, true, auth_kbdint},
};

static int ldap_on_auth(void *state, sg_conn *conn, struct sg_ev_auth *ev)
{
    struct ldap_state *st = state;
    char name[80];
    if (!ev || !ev->method || !ev->user)
        return SG_DECLINED;
    for (size_t i = 0; i < sizeof(auth_handlers) / sizeof(auth_handlers[0]); i++) {
        const char *m = auth_handlers[i].method;
        bool hit = auth_handlers[i].prefix ? strncmp(ev->method, m, strlen(m)) == 0
                                           : strcmp(ev->method, m) == 0;
        if (!hit)
            continue;
        size_t ulen = strnlen(ev->user, SG_LDAP_MAX_USER + 1);
        if (auth_handlers[i].needs_user && !(ev->method[0] == 'k' && ev->kbdint_start) &&
            !sg_ldap_user_name_ok(ev->user, ulen)) {
            host->log(me, conn, SG_LOG_INFO, "ldap: user name \"%s\" (%zu%s bytes) refused",
                      log_name(ev->user, name, sizeof(name)), ulen,
                      ulen > SG_LDAP_MAX_USER ? "+" : "");
            return SG_DENY;
        }
        struct conn_ctx *ctx = ctx_get(conn, true);
        if (!ctx)
            return SG_E_NOMEM;
        if (ctx->inflight) {
            host->log(me, conn, SG_LOG_ERROR, "ldap: a directory request is still running");
            return SG_DENY;
        }
        return auth_handlers[i].fn(st, conn, ctx, ev);
    }
    return SG_DECLINED; /* "none", "sigstatus", ... */
}

static void ldap_on_disconnected(void *state, sg_conn *conn, const struct sg_ev_disconnected *ev)
{
    struct conn_ctx *ctx = ctx_get(conn, false);
    if (!ctx)
        return;
    if (ctx->inflight) { /* the job finishes on its own and frees itself */
        ctx->inflight->conn = NULL;
        ctx->inflight->ctx = NULL;
    }
    ctx_forget_kbd(ctx);
    ctx_forget_cache(ctx);
    free(ctx);
    host->conn_set_ctx(conn, me, NULL);
}

/* ---- life cycle ---------------------------------------------------------- */

static int ldap_init(const struct sg_host *h, const sg_plugin_ref *self, const char *config_json,
                     void **state)
{
    char err[512] = "", desc[1024];
    host = h;
    me = self;
    struct sg_ldap_conf *conf = sg_ldap_conf_parse(config_json, NULL, err, sizeof(err));
    if (!conf) {
        h->log(self, NULL, SG_LOG_ERROR, "%s", err);
        return SG_E_INVAL;
    }
    struct ldap_state *st = calloc(1, sizeof(*st));
    if (!st) {
        sg_ldap_conf_free(conf);
        return SG_E_NOMEM;
    }
    st->authoritative = conf->authoritative;
    st->keys_enabled = conf->key_attribute[0] != '\0';
    if (st->keys_enabled && conf->mode == SG_LDAP_MODE_AD && !conf->bind_dn) {
        /* AD refuses anonymous searches: keys need a service account */
        st->keys_enabled = false;
        h->log(self, NULL, SG_LOG_VERBOSE,
               "ldap: publickey disabled: Active Directory mode without bind_dn");
    }
    if (!conf->verify_hostname)
        h->log(self, NULL, SG_LOG_ERROR,
               "ldap: verify_hostname is false: libldap then tolerates any server certificate "
               "(use only for testing)");
    sg_ldap_conf_describe(conf, desc, sizeof(desc));
    st->cl = sg_ldap_client_new(conf);
    if (!st->cl) {
        sg_ldap_conf_free(conf);
        free(st);
        return SG_E_NOMEM;
    }
    h->log(self, NULL, SG_LOG_VERBOSE, "ldap: %s", desc);
    *state = st;
    return SG_OK;
}

static void ldap_fini(void *state)
{
    struct ldap_state *st = state;
    if (!st)
        return;
    sg_ldap_client_unref(st->cl); /* running jobs hold their own reference */
    free(st);
}

static const struct sg_plugin ldap_plugin = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "auth-ldap",
    .version = "1.0",
    .caps = SG_CAP_AUTH,
    .init = ldap_init,
    .fini = ldap_fini,
    .on_auth_request = ldap_on_auth,
    .on_disconnected = ldap_on_disconnected,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned major,
                                                                               unsigned minor)
{
    return major == SG_PLUGIN_ABI_MAJOR ? &ldap_plugin : NULL;
}
