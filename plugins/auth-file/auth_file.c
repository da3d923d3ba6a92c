/* auth_file.c — the default auth plugin: users and password hashes from
 * files, OpenSSH authorized_keys per user. See README.md for the config.
 *
 * Answers (the contract of sg_ev_auth in plugin.h):
 *   unknown user                      → SG_DECLINED (the next plugin may know it)
 *   known user, wrong password or key → SG_DENY
 *   crypt(3) and authorized_keys files run on the work pool → SG_AGAIN, then
 *   host->complete on the loop.
 */
#include "ak_host.h"
#include "authorized_keys.h"
#include "keyfile.h"
#include "pwverify.h"
#include "usercert.h"
#include "userdb.h"

#include <plugin.h>

#include <crypt.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AF_RELOAD_CHECK_MS 1000 /* stat the user files at most this often */

struct af_job;

struct af_state {
    const struct sg_host *host;
    const sg_plugin_ref *self;
    char *users_file;
    char *passwd_file;
    char *keys_dir;     /* authorized_keys_dir */
    char *keys_pattern; /* authorized_keys_file */
    char *ca_file;      /* trusted_user_ca_keys */
    bool reload;
    char dummy_hash[CRYPT_GENSALT_OUTPUT_SIZE]; /* for unknown users: same cost, never matches */
    struct udb *db;
    struct udb_stamp users_stamp, passwd_stamp;
    uint64_t last_check_ms;
    unsigned jobs_pending;
    bool finished; /* fini ran while jobs were pending */
};

/* Per-connection context (host->conn_set_ctx). */
struct af_conn {
    char *kbd_user;      /* user whose keyboard-interactive-1 was accepted */
    char *applied_user;  /* groups/attributes already set for this user */
    struct af_job *jobs; /* pending work items of this connection */
};

enum af_job_kind { JOB_PASSWORD, JOB_KBDINT, JOB_PUBKEY, JOB_CERT };

struct af_job {
    struct af_state *st;
    sg_conn *conn; /* NULL once the connection ended */
    sg_request *req;
    enum af_job_kind kind;
    char *user;
    bool user_known; /* in the user database */
    bool is_probe;
    /* password / kbdint */
    char *hash;
    char *password;
    size_t password_len;
    /* publickey */
    struct ak_key offered;
    char *peer;
    char *paths[2];
    time_t now;
    /* certificate */
    struct uc_cert cert;
    char *ca_file;      /* trusted_user_ca_keys, or NULL */
    const char *anchor; /* where the CA key was found (a path of the job) */
    bool sig_refused;   /* a trusted CA key, but its signature did not verify */
    /* results (written by the work function) */
    bool ok;
    bool file_found;
    struct ak_restrict restr; /* of the matching line */
    struct kf_log log;
    struct af_job *next; /* in af_conn.jobs */
};

/* ---- small helpers -------------------------------------------------------- */

static void af_warn_cb(void *arg, const char *msg)
{
    struct af_state *st = arg;
    st->host->log(st->self, NULL, SG_LOG_INFO, "%s", msg);
}

static struct af_conn *conn_ctx(struct af_state *st, sg_conn *conn, bool create)
{
    struct af_conn *c = st->host->conn_get_ctx(conn, st->self);
    if (!c && create) {
        c = calloc(1, sizeof *c);
        if (c)
            st->host->conn_set_ctx(conn, st->self, c);
    }
    return c;
}

static void job_free(struct af_job *j)
{
    if (!j)
        return;
    free(j->user);
    free(j->hash);
    if (j->password) {
        OPENSSL_cleanse(j->password, j->password_len);
        free(j->password);
    }
    ak_key_clear(&j->offered);
    uc_cert_clear(&j->cert);
    free(j->ca_file);
    ak_restrict_clear(&j->restr);
    free(j->peer);
    free(j->paths[0]);
    free(j->paths[1]);
    free(j);
}

static void job_unlink(struct af_job *j)
{
    if (!j->conn)
        return;
    struct af_conn *c = j->st->host->conn_get_ctx(j->conn, j->st->self);
    for (struct af_job **pp = c ? &c->jobs : NULL; pp && *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    j->next = NULL;
}

/* Re-read the user files when they changed (rate-limited). */
static void af_maybe_reload(struct af_state *st)
{
    if (!st->reload)
        return;
    uint64_t now = st->host->now_ms();
    if (st->last_check_ms && now - st->last_check_ms < AF_RELOAD_CHECK_MS)
        return;
    st->last_check_ms = now;
    struct udb_stamp us, ps;
    if (udb_stamp_get(st->users_file, &us) != 0 || udb_stamp_get(st->passwd_file, &ps) != 0) {
        st->host->log(st->self, NULL, SG_LOG_ERROR, "cannot stat user files: %s", strerror(errno));
        return;
    }
    if (udb_stamp_equal(&us, &st->users_stamp) && udb_stamp_equal(&ps, &st->passwd_stamp))
        return;
    st->users_stamp = us;
    st->passwd_stamp = ps;
    struct udb *db = NULL;
    char err[512];
    if (udb_load(st->users_file, st->passwd_file, af_warn_cb, st, &db, err, sizeof err) != 0) {
        st->host->log(st->self, NULL, SG_LOG_ERROR, "reload failed, keeping the previous users: %s",
                      err);
        return;
    }
    udb_free(st->db);
    st->db = db;
    st->host->log(st->self, NULL, SG_LOG_INFO, "users reloaded: %zu user(s)", db->n);
}

/* Set groups and attributes of `user` on the connection (once per user). */
static void af_apply_user(struct af_state *st, sg_conn *conn, const char *user)
{
    const struct udb_user *u = udb_find(st->db, user);
    struct af_conn *c = conn_ctx(st, conn, true);
    if (!u || !c)
        return;
    if (c->applied_user && strcmp(c->applied_user, user) == 0)
        return;
    free(c->applied_user);
    c->applied_user = strdup(user);
    for (size_t i = 0; i < u->n_groups; i++)
        if (st->host->conn_add_group(conn, u->groups[i]) < 0)
            st->host->log(st->self, conn, SG_LOG_ERROR, "cannot add group %s", u->groups[i]);
    for (size_t i = 0; i < u->n_attrs; i++)
        if (st->host->conn_set_attr(conn, u->attrs[i].name, u->attrs[i].value) < 0)
            st->host->log(st->self, conn, SG_LOG_ERROR, "cannot set attribute %s",
                          u->attrs[i].name);
}

/* Hand the key's authorized_keys restrictions to the host, which enforces
 * them if this attempt succeeds. At the probe only check that it can: a host
 * without conn_restrict (ABI < 1.1) cannot enforce them, so such a key is
 * refused (fail closed). Returns false if the key must be refused. */
static bool af_restrict(struct af_state *st, sg_conn *conn, const struct ak_restrict *r,
                        bool is_probe)
{
    enum ak_host_result rc = ak_host_restrict(st->host, conn, r, is_probe);
    if (rc != AK_HOST_OK)
        st->host->log(st->self, conn, SG_LOG_INFO, "%s", ak_host_result_text(rc));
    return rc == AK_HOST_OK;
}

/* Accept a certificate that a trust anchor vouched for: its restrictions
 * and the anchor line's (`r`, extended here) go to the host together.
 * Returns false if the attempt must be refused (logged). */
static bool cert_accept(struct af_state *st, sg_conn *conn, const char *user,
                        const struct uc_cert *cert, struct ak_restrict *r, bool is_probe)
{
    char why[200];
    int rc = uc_restrict_add(r, cert, why, sizeof why);
    if (rc != AK_OK) {
        st->host->log(st->self, conn, SG_LOG_INFO, "certificate for %s refused: %s", user,
                      rc == AK_ERR_NOMEM ? "out of memory" : why);
        return false;
    }
    if (!af_restrict(st, conn, r, is_probe))
        return false;
    if (!is_probe) { /* which certificate it was, as OpenSSH logs it */
        char fp[64];
        uc_ca_fingerprint(cert, fp, sizeof fp);
        st->host->log(st->self, conn, SG_LOG_INFO,
                      "certificate accepted for %s: ID \"%.256s\" (serial %llu), CA %s %s", user,
                      cert->key_id ? cert->key_id : "", (unsigned long long)cert->serial,
                      cert->ca.type, fp);
    }
    return true;
}

static void log_untrusted(struct af_state *st, sg_conn *conn, const char *user,
                          const struct uc_cert *cert)
{
    char fp[64];
    uc_ca_fingerprint(cert, fp, sizeof fp);
    st->host->log(st->self, conn, SG_LOG_INFO,
                  "certificate for %s refused: no trusted CA key vouches for it (CA %s %s)", user,
                  cert->ca.type, fp);
}

static const char *job_label(const struct af_job *j)
{
    switch (j->kind) {
    case JOB_PUBKEY:
        return j->is_probe ? "publickey probe" : "publickey";
    case JOB_CERT:
        return j->is_probe ? "certificate probe" : "certificate";
    case JOB_KBDINT:
        return "keyboard-interactive response";
    case JOB_PASSWORD:
        break;
    }
    return "password";
}

/* ---- work pool ------------------------------------------------------------ */

/* A certificate's anchor: a cert-authority line in the user's authorized_keys
 * files, else the trusted_user_ca_keys file (for a user known by now). */
static void cert_find_anchor(struct af_job *j)
{
    for (int i = 0; i < 2 && !j->ok; i++) {
        if (!j->paths[i])
            continue;
        int r = kf_scan_ca(j->paths[i], KF_CA_AUTHORIZED_KEYS, &j->cert, j->user, j->peer, j->now,
                           &j->log, &j->restr);
        if (r != KF_MISSING)
            j->file_found = true;
        if (r == KF_MATCH) {
            j->ok = true;
            j->anchor = j->paths[i];
        }
    }
    if (j->ok || !j->ca_file || !(j->user_known || j->file_found))
        return;
    int r = kf_scan_ca(j->ca_file, KF_CA_TRUSTED_FILE, &j->cert, j->user, j->peer, j->now,
                       &j->log, &j->restr);
    if (r == KF_MISSING)
        kf_log_add(&j->log, "%s: no such file (trusted_user_ca_keys)", j->ca_file);
    if (r == KF_MATCH) {
        j->ok = true;
        j->anchor = j->ca_file;
    }
}

/* A certificate: the anchor, then the signature of the CA it trusts. */
static void cert_work(struct af_job *j)
{
    char why[200];
    cert_find_anchor(j);
    if (j->ok && !uc_verify_signature(&j->cert, why, sizeof why)) {
        kf_log_add(&j->log, "certificate for %s refused: %s", j->user, why);
        j->ok = false;
        j->sig_refused = true;
    }
}

static void job_work_cb(void *arg)
{
    struct af_job *j = arg;
    switch (j->kind) {
    case JOB_PASSWORD:
    case JOB_KBDINT:
        j->ok = pw_verify(j->password, j->password_len, j->hash);
        break;
    case JOB_PUBKEY:
        for (int i = 0; i < 2 && !j->ok; i++) {
            if (!j->paths[i])
                continue;
            int r = kf_scan(j->paths[i], &j->offered, j->peer, j->now, &j->log, &j->restr);
            if (r != KF_MISSING)
                j->file_found = true;
            if (r == KF_MATCH)
                j->ok = true;
        }
        break;
    case JOB_CERT:
        cert_work(j);
        break;
    }
}

static void job_done_cb(void *arg)
{
    struct af_job *j = arg;
    struct af_state *st = j->st;
    int result;

    st->jobs_pending--;
    if (st->finished) { /* fini already ran: nobody to answer to */
        job_free(j);
        if (st->jobs_pending == 0)
            free(st);
        return;
    }
    for (int i = 0; i < j->log.n; i++)
        st->host->log(st->self, j->conn, SG_LOG_INFO, "%s", j->log.line[i]);
    if (j->log.dropped)
        st->host->log(st->self, j->conn, SG_LOG_INFO, "(%d more lines about authorized_keys)",
                      j->log.dropped);
    job_unlink(j);

    if (j->ok)
        result = SG_OK;
    else if (j->user_known || j->file_found)
        result = SG_DENY;
    else
        result = SG_DECLINED;
    bool key_job = j->kind == JOB_PUBKEY || j->kind == JOB_CERT;
    if (result == SG_OK) {
        /* the users may have been reloaded while the work ran: a user that
         * was disabled, removed or got a new password meanwhile is refused */
        const struct udb_user *u = udb_find(st->db, j->user);
        if (key_job ? (u && u->disabled)
                    : (!u || u->disabled || !u->password || strcmp(u->password, j->hash) != 0))
            result = SG_DENY;
    }
    if (result == SG_OK && j->kind == JOB_PUBKEY && j->conn &&
        !af_restrict(st, j->conn, &j->restr, j->is_probe))
        result = SG_DENY;
    if (result == SG_OK && j->kind == JOB_CERT && j->conn &&
        !cert_accept(st, j->conn, j->user, &j->cert, &j->restr, j->is_probe))
        result = SG_DENY;
    if (!j->ok && j->kind == JOB_CERT && !j->sig_refused && result == SG_DENY && j->conn)
        log_untrusted(st, j->conn, j->user, &j->cert);

    if (j->conn) {
        st->host->log(st->self, j->conn, SG_LOG_VERBOSE, "%s for %s: %s%s%s", job_label(j), j->user,
                      result == SG_OK     ? "accepted"
                      : result == SG_DENY ? "refused"
                                          : "unknown user",
                      result == SG_OK && j->anchor ? ", CA key in " : "",
                      result == SG_OK && j->anchor ? j->anchor : "");
        if (result == SG_OK && j->kind == JOB_KBDINT) {
            struct af_conn *c = conn_ctx(st, j->conn, true);
            if (c) {
                free(c->kbd_user);
                c->kbd_user = strdup(j->user);
            }
        }
        if (result == SG_OK && (j->kind == JOB_PASSWORD || (key_job && !j->is_probe)))
            af_apply_user(st, j->conn, j->user);
    }
    st->host->complete(j->req, result, NULL);
    job_free(j);
}

static int job_queue(struct af_state *st, sg_conn *conn, struct af_job *j)
{
    struct af_conn *c = conn_ctx(st, conn, true);
    if (!c) {
        job_free(j);
        return SG_E_NOMEM;
    }
    j->next = c->jobs;
    c->jobs = j;
    st->jobs_pending++;
    if (st->host->queue_work(job_work_cb, job_done_cb, j) < 0) {
        st->jobs_pending--;
        j->conn = conn;
        job_unlink(j);
        job_free(j);
        st->host->log(st->self, conn, SG_LOG_ERROR, "cannot queue work");
        return SG_E_IO;
    }
    return SG_AGAIN;
}

static struct af_job *job_new(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev,
                              enum af_job_kind kind)
{
    struct af_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->st = st;
    j->conn = conn;
    j->req = ev->req;
    j->kind = kind;
    j->is_probe = ev->is_probe;
    j->user = strdup(ev->user);
    if (!j->user) {
        free(j);
        return NULL;
    }
    return j;
}

/* ---- methods -------------------------------------------------------------- */

typedef int (*af_method_fn)(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev);

static int m_decline(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev)
{
    return SG_DECLINED;
}

/* Shared by "password" and "keyboard-interactive-1". */
static int check_password(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev,
                          enum af_job_kind kind)
{
    const struct udb_user *u = udb_find(st->db, ev->user);
    const char *hash = u ? u->password : NULL;
    bool known = hash != NULL; /* no password field: not ours */

    if (!ev->param || ev->param_len == 0 || ev->param_len > PW_MAX_PASSWORD) {
        if (known)
            st->host->log(st->self, conn, SG_LOG_VERBOSE,
                          "password for %s: refused (empty or "
                          "too long)",
                          ev->user);
        return known ? SG_DENY : SG_DECLINED;
    }
    if (!known || u->disabled || pw_hash_classify(hash) != PW_HASH_USABLE) {
        if (known)
            st->host->log(st->self, conn, SG_LOG_VERBOSE, "password for %s: refused (%s)", ev->user,
                          u->disabled ? "user disabled" : "password locked");
        /* Spend the time of a real check anyway (against a hash that never
         * matches), so response times do not tell which names exist. */
        if (!st->dummy_hash[0] || !ev->req)
            return known ? SG_DENY : SG_DECLINED;
        hash = st->dummy_hash;
    }
    if (!ev->req)
        return SG_E_STATE;
    struct af_job *j = job_new(st, conn, ev, kind);
    if (!j || !(j->hash = strdup(hash)) || !(j->password = malloc(ev->param_len))) {
        job_free(j);
        return SG_E_NOMEM;
    }
    memcpy(j->password, ev->param, ev->param_len);
    j->password_len = ev->param_len;
    j->user_known = known; /* unknown: declined after the check */
    return job_queue(st, conn, j);
}

static int m_password(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev)
{
    return check_password(st, conn, ev, JOB_PASSWORD);
}

/* The users_file entry of `k` usable for this peer now, or NULL. */
static const struct ak_key *key_in_user(const struct udb_user *u, const struct ak_key *k,
                                        const char *peer, time_t now, struct af_state *st,
                                        sg_conn *conn)
{
    for (size_t i = 0; u && i < u->n_keys; i++) {
        char why[300];
        if (!ak_key_authorizes(&u->keys[i], k)) {
            if (ak_key_same(&u->keys[i], k))
                st->host->log(st->self, conn, SG_LOG_INFO,
                              "users_file key %zu of %s refused: a cert-authority key only signs "
                              "certificates",
                              i, u->name);
            continue;
        }
        if (ak_key_options_allow(&u->keys[i], peer, now, why, sizeof why))
            return &u->keys[i];
        st->host->log(st->self, conn, SG_LOG_INFO, "users_file key %zu of %s refused: %s", i,
                      u->name, why);
    }
    return NULL;
}

/* The users_file cert-authority entry that vouches for `cert`, or NULL. */
static const struct ak_key *ca_in_user(const struct udb_user *u, const struct uc_cert *cert,
                                       const char *peer, time_t now, struct af_state *st,
                                       sg_conn *conn)
{
    for (size_t i = 0; u && i < u->n_keys; i++) {
        char why[300];
        if (uc_vouches(&u->keys[i], true, cert, u->name, peer, now, why, sizeof why))
            return &u->keys[i];
        if (why[0])
            st->host->log(st->self, conn, SG_LOG_INFO, "users_file CA key %zu of %s refused: %s",
                          i, u->name, why);
    }
    return NULL;
}

/* The peer's numeric address ("" if unknown); borrowed until the
 * connection ends. */
static const char *conn_peer(struct af_state *st, sg_conn *conn)
{
    struct sg_conn_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (st->host->conn_info(conn, &info) == 0 && info.peer_address)
        return info.peer_address;
    return "";
}

/* A job that reads the user's authorized_keys files: peer, time, paths. */
static struct af_job *key_job_new(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev,
                                  enum af_job_kind kind, const char *peer, time_t now)
{
    struct af_job *j = job_new(st, conn, ev, kind);
    if (!j || !(j->peer = strdup(peer)))
        goto fail;
    j->user_known = udb_find(st->db, ev->user) != NULL;
    j->now = now;
    if (st->keys_dir) {
        size_t n = strlen(st->keys_dir) + strlen(ev->user) + 2;
        if (!(j->paths[0] = malloc(n)))
            goto fail;
        snprintf(j->paths[0], n, "%s/%s", st->keys_dir, ev->user);
    }
    if (st->keys_pattern && !(j->paths[1] = kf_expand(st->keys_pattern, ev->user)))
        goto fail;
    return j;
fail:
    job_free(j);
    return NULL;
}

/* Is the offered key (text "type base64") a certificate? */
static bool offered_is_cert(const char *param, size_t len)
{
    const char *sp = memchr(param, ' ', len);
    return uc_is_cert_type(param, sp ? (size_t)(sp - param) : len);
}

/* publickey with a certificate: checked here; the CA key is looked up in
 * the users_file entry, then (work pool) in the user's authorized_keys
 * files and the trusted_user_ca_keys file; the CA signature is verified
 * once a trusted CA key is found. */
static int m_certificate(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev,
                         const struct udb_user *u, size_t plen)
{
    struct uc_cert cert;
    struct ak_restrict restr = {0};
    char why[300];
    const char *peer = conn_peer(st, conn);
    time_t now = time(NULL);
    int rc;

    if (uc_parse_text(ev->param, plen, &cert, why, sizeof why) != 0 ||
        !uc_check(&cert, peer, now, why, sizeof why)) {
        st->host->log(st->self, conn, SG_LOG_INFO, "certificate for %s refused: %s", ev->user,
                      why);
        rc = u ? SG_DENY : SG_DECLINED;
        goto out;
    }
    const struct ak_key *entry = ca_in_user(u, &cert, peer, now, st, conn);
    if (entry && !uc_verify_signature(&cert, why, sizeof why)) {
        st->host->log(st->self, conn, SG_LOG_INFO, "certificate for %s refused: %s", ev->user,
                      why);
        rc = SG_DENY;
        goto out;
    }
    if (entry) {
        if (ak_restrict_copy(&restr, &entry->restr) != AK_OK) {
            rc = SG_E_NOMEM;
            goto out;
        }
        rc = cert_accept(st, conn, ev->user, &cert, &restr, ev->is_probe) ? SG_OK : SG_DENY;
        st->host->log(st->self, conn, SG_LOG_VERBOSE, "certificate%s for %s: %s (users_file)",
                      ev->is_probe ? " probe" : "", ev->user,
                      rc == SG_OK ? "accepted" : "refused");
        if (rc == SG_OK && !ev->is_probe)
            af_apply_user(st, conn, ev->user);
        goto out;
    }
    bool files = (st->keys_dir || st->keys_pattern || st->ca_file) && udb_name_valid(ev->user);
    if (!files || !ev->req) {
        if (u)
            log_untrusted(st, conn, ev->user, &cert);
        rc = u ? SG_DENY : SG_DECLINED;
        goto out;
    }
    struct af_job *j = key_job_new(st, conn, ev, JOB_CERT, peer, now);
    if (!j || (st->ca_file && !(j->ca_file = strdup(st->ca_file)))) {
        job_free(j);
        rc = SG_E_NOMEM;
        goto out;
    }
    j->cert = cert; /* moved into the job */
    memset(&cert, 0, sizeof cert);
    rc = job_queue(st, conn, j);
out:
    ak_restrict_clear(&restr);
    uc_cert_clear(&cert);
    return rc;
}

static int m_publickey(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev)
{
    const struct udb_user *u = udb_find(st->db, ev->user);
    struct ak_key offered;
    char why[200];
    int rc;

    if (u && u->disabled) {
        st->host->log(st->self, conn, SG_LOG_VERBOSE, "publickey for %s: user disabled", ev->user);
        return SG_DENY;
    }
    size_t plen = ev->param ? (ev->param_len ? ev->param_len : strlen(ev->param)) : 0;
    if (ev->param && offered_is_cert(ev->param, plen))
        return m_certificate(st, conn, ev, u, plen);
    if (!ev->param || ak_parse_public_key(ev->param, plen, &offered, why, sizeof why) != AK_OK) {
        st->host->log(st->self, conn, SG_LOG_INFO, "publickey for %s: offered key unusable: %s",
                      ev->user, ev->param ? why : "no key");
        return u ? SG_DENY : SG_DECLINED;
    }
    const char *peer = conn_peer(st, conn);
    time_t now = time(NULL);

    const struct ak_key *entry = key_in_user(u, &offered, peer, now, st, conn);
    if (entry) {
        if (!af_restrict(st, conn, &entry->restr, ev->is_probe)) {
            rc = SG_DENY;
            goto out;
        }
        st->host->log(st->self, conn, SG_LOG_VERBOSE, "publickey%s for %s: accepted (users_file)",
                      ev->is_probe ? " probe" : "", ev->user);
        if (!ev->is_probe)
            af_apply_user(st, conn, ev->user);
        rc = SG_OK;
        goto out;
    }
    bool files = (st->keys_dir || st->keys_pattern) && udb_name_valid(ev->user);
    if (!files || !ev->req) {
        rc = u ? SG_DENY : SG_DECLINED;
        goto out;
    }
    struct af_job *j = key_job_new(st, conn, ev, JOB_PUBKEY, peer, now);
    if (!j) {
        rc = SG_E_NOMEM;
        goto out;
    }
    j->offered = offered; /* moved into the job */
    memset(&offered, 0, sizeof offered);
    rc = job_queue(st, conn, j);
out:
    ak_key_clear(&offered);
    return rc;
}

/* "keyboard-interactive": the start (kbdint_start) or the final decision. */
static int m_kbdint(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev)
{
    const struct udb_user *u = udb_find(st->db, ev->user);
    struct af_conn *c = conn_ctx(st, conn, false);

    if (ev->kbdint_start) {
        if (c) { /* a new round: forget an earlier answer */
            free(c->kbd_user);
            c->kbd_user = NULL;
        }
        if (!u || !u->password)
            return SG_DECLINED;
        if (u->disabled || pw_hash_classify(u->password) != PW_HASH_USABLE)
            return SG_DENY;
        return SG_OK; /* the configured prompts are used; response 1 is the password */
    }
    if (c && c->kbd_user && strcmp(c->kbd_user, ev->user) == 0 && u && !u->disabled) {
        free(c->kbd_user);
        c->kbd_user = NULL;
        af_apply_user(st, conn, ev->user);
        return SG_OK;
    }
    return u && u->password ? SG_DENY : SG_DECLINED;
}

/* "keyboard-interactive-N": response 1 is the password; others are not ours. */
static int m_kbdint_response(struct af_state *st, sg_conn *conn, struct sg_ev_auth *ev,
                             const char *index)
{
    if (strcmp(index, "1") != 0)
        return SG_DECLINED;
    return check_password(st, conn, ev, JOB_KBDINT);
}

static const struct {
    const char *method;
    af_method_fn fn;
} af_methods[] = {
    {"none", m_decline},        {"password", m_password},
    {"publickey", m_publickey}, {"keyboard-interactive", m_kbdint},
    {"sigstatus", m_decline},
};

#define KBD_PREFIX "keyboard-interactive-"

static int af_on_auth_request(void *state, sg_conn *conn, struct sg_ev_auth *ev)
{
    struct af_state *st = state;
    if (!ev || !ev->method || !ev->user || !ev->user[0])
        return SG_DECLINED;
    af_maybe_reload(st);
    if (strncmp(ev->method, KBD_PREFIX, strlen(KBD_PREFIX)) == 0)
        return m_kbdint_response(st, conn, ev, ev->method + strlen(KBD_PREFIX));
    for (size_t i = 0; i < sizeof af_methods / sizeof af_methods[0]; i++)
        if (strcmp(af_methods[i].method, ev->method) == 0)
            return af_methods[i].fn(st, conn, ev);
    return SG_DECLINED;
}

static void af_on_disconnected(void *state, sg_conn *conn, const struct sg_ev_disconnected *ev)
{
    struct af_state *st = state;
    struct af_conn *c = st->host->conn_get_ctx(conn, st->self);
    if (!c)
        return;
    for (struct af_job *j = c->jobs, *next; j; j = next) {
        next = j->next;
        j->conn = NULL; /* done still completes the request (ignored by the host) */
        j->next = NULL;
    }
    free(c->kbd_user);
    free(c->applied_user);
    free(c);
    st->host->conn_set_ctx(conn, st->self, NULL);
}

/* ---- init / fini ---------------------------------------------------------- */

static void af_state_free(struct af_state *st)
{
    if (!st)
        return;
    free(st->users_file);
    free(st->passwd_file);
    free(st->keys_dir);
    free(st->keys_pattern);
    free(st->ca_file);
    udb_free(st->db);
    st->db = NULL;
    st->users_file = st->passwd_file = st->keys_dir = st->keys_pattern = st->ca_file = NULL;
    if (st->jobs_pending)
        st->finished = true; /* freed by the last job_done_cb */
    else
        free(st);
}

typedef int (*af_conf_fn)(struct af_state *st, json_t *v, char *err, size_t errlen);

static int conf_path(char **dst, const char *key, json_t *v, char *err, size_t errlen)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "config.%s: must be a non-empty string (a path)", key);
        return -1;
    }
    return (*dst = strdup(json_string_value(v))) ? 0 : -1;
}

static int conf_users_file(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    return conf_path(&st->users_file, "users_file", v, err, errlen);
}

static int conf_passwd_file(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    return conf_path(&st->passwd_file, "passwd_file", v, err, errlen);
}

static int conf_keys_dir(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    return conf_path(&st->keys_dir, "authorized_keys_dir", v, err, errlen);
}

static int conf_keys_file(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    if (conf_path(&st->keys_pattern, "authorized_keys_file", v, err, errlen) != 0)
        return -1;
    if (!kf_pattern_valid(st->keys_pattern)) {
        snprintf(err, errlen, "config.authorized_keys_file: only %%u and %%%% may follow '%%'");
        return -1;
    }
    return 0;
}

static int conf_ca_file(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    return conf_path(&st->ca_file, "trusted_user_ca_keys", v, err, errlen);
}

static int conf_reload(struct af_state *st, json_t *v, char *err, size_t errlen)
{
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "config.reload: must be true or false");
        return -1;
    }
    st->reload = json_is_true(v);
    return 0;
}

static const struct {
    const char *key;
    af_conf_fn fn;
} af_conf_keys[] = {
    {"users_file", conf_users_file},
    {"passwd_file", conf_passwd_file},
    {"authorized_keys_dir", conf_keys_dir},
    {"authorized_keys_file", conf_keys_file},
    {"trusted_user_ca_keys", conf_ca_file},
    {"reload", conf_reload},
};

static int af_parse_config(struct af_state *st, const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    json_t *root = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "config:%d:%d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config: must be an object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        size_t i, n = sizeof af_conf_keys / sizeof af_conf_keys[0];
        for (i = 0; i < n; i++)
            if (strcmp(af_conf_keys[i].key, k) == 0)
                break;
        if (i == n) {
            snprintf(err, errlen,
                     "config: unknown key \"%.60s\" (known: users_file, passwd_file, "
                     "authorized_keys_dir, authorized_keys_file, trusted_user_ca_keys, reload)",
                     k);
            goto out;
        }
        err[0] = '\0';
        if (af_conf_keys[i].fn(st, v, err, errlen) != 0) {
            if (!err[0])
                snprintf(err, errlen, "config.%s: out of memory", k);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int af_init(const struct sg_host *host, const sg_plugin_ref *self, const char *config_json,
                   void **state)
{
    char err[512];
    struct af_state *st = calloc(1, sizeof *st);
    if (!st)
        return SG_E_NOMEM;
    st->host = host;
    st->self = self;
    st->reload = true;
    if (af_parse_config(st, config_json, err, sizeof err) != 0)
        goto fail;
    if (udb_stamp_get(st->users_file, &st->users_stamp) != 0 ||
        udb_stamp_get(st->passwd_file, &st->passwd_stamp) != 0) {
        snprintf(err, sizeof err, "cannot stat user files: %s", strerror(errno));
        goto fail;
    }
    if (udb_load(st->users_file, st->passwd_file, af_warn_cb, st, &st->db, err, sizeof err) != 0)
        goto fail;
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, st->dummy_hash, sizeof st->dummy_hash) ||
        pw_hash_classify(st->dummy_hash) != PW_HASH_USABLE) {
        st->dummy_hash[0] = '\0'; /* unknown users are then declined at once */
        host->log(self, NULL, SG_LOG_INFO,
                  "crypt_gensalt failed: no timing cover for unknown users");
    }
    st->last_check_ms = host->now_ms();
    host->log(self, NULL, SG_LOG_VERBOSE, "%zu user(s) from %s%s%s", st->db->n,
              st->users_file ? st->users_file : "(no users_file)", st->passwd_file ? " and " : "",
              st->passwd_file ? st->passwd_file : "");
    *state = st;
    return SG_OK;
fail:
    host->log(self, NULL, SG_LOG_ERROR, "%s", err);
    af_state_free(st);
    return SG_E_INVAL;
}

static void af_fini(void *state)
{
    af_state_free(state);
}

static const struct sg_plugin af_plugin = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "auth-file",
    .version = "1.0.0",
    .caps = SG_CAP_AUTH,
    .init = af_init,
    .fini = af_fini,
    .on_disconnected = af_on_disconnected,
    .on_auth_request = af_on_auth_request,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned abi_major,
                                                                               unsigned abi_minor)
{
    (void)abi_minor;
    return abi_major == SG_PLUGIN_ABI_MAJOR ? &af_plugin : NULL;
}
