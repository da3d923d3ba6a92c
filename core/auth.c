/* auth.c — the auth chain.
 *
 * Each auth request becomes a job that asks the plugins of auth.chain in
 * order; SG_DECLINED moves on, SG_AGAIN parks the job (the auth lane holds
 * later auth messages) until host->complete. keyboard-interactive is the
 * reference's sequence: a start event, then one "keyboard-interactive-N"
 * event per answer (each must be accepted), then a final
 * "keyboard-interactive". MFA: auth.required method sets; a method that does
 * not complete a set is answered with partial success. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* the message accessors below are marked deprecated in favour of server
 * callbacks, which cannot defer an answer; queue mode needs them */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

enum job_kind { J_NONE, J_PASSWORD, J_PK_PROBE, J_PK_SIGSTATUS, J_PK_FINAL, J_KBD_START,
                J_KBD_ANSWER, J_KBD_FINAL };

struct sg_auth_job {
    struct sg_conn *c;
    ssh_message msg;
    enum job_kind kind;
    int method_bit;
    char method[48];
    char *param;
    size_t param_len;
    char key_alg[64];
    char key_fp[128];
    char *key_text;
    bool sig_valid;
    int answer;          /* kbd: 1-based answer index */
    int n_answers;
    size_t next_plugin;
    struct sg_request *req;
    sg_ltimer *timer;    /* limits.timeout while a plugin has not answered */
    struct sg_restrict staged; /* host->conn_restrict during this attempt */
};

static const struct {
    const char *name;
    int bit;
} method_bits[] = {
    {"none", SSH_AUTH_METHOD_NONE},
    {"password", SSH_AUTH_METHOD_PASSWORD},
    {"publickey", SSH_AUTH_METHOD_PUBLICKEY},
    {"keyboard-interactive", SSH_AUTH_METHOD_INTERACTIVE},
};

int sg_auth_method_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(method_bits) / sizeof(method_bits[0]); i++)
        if (strcmp(method_bits[i].name, name) == 0)
            return method_bits[i].bit;
    return 0;
}

static const char *method_name(int bit)
{
    for (size_t i = 0; i < sizeof(method_bits) / sizeof(method_bits[0]); i++)
        if (method_bits[i].bit == bit)
            return method_bits[i].name;
    return "?";
}

int sg_auth_methods_mask(const struct sg_config *cfg)
{
    int m = 0;
    for (size_t i = 0; i < cfg->auth.methods.n; i++)
        m |= sg_auth_method_bit(cfg->auth.methods.v[i]);
    int without_none = m & ~(int)SSH_AUTH_METHOD_NONE;
    return without_none ? without_none : m;
}

static int set_mask(const struct sg_strlist *set)
{
    int m = 0;
    for (size_t i = 0; i < set->n; i++)
        m |= sg_auth_method_bit(set->v[i]);
    return m;
}

bool sg_auth_required_met(const struct sg_config *cfg, int done)
{
    if (cfg->auth.n_required == 0)
        return done != 0;
    for (size_t i = 0; i < cfg->auth.n_required; i++) {
        int need = set_mask(&cfg->auth.required[i]);
        if ((done & need) == need)
            return true;
    }
    return false;
}

int sg_auth_next_methods(const struct sg_config *cfg, int done)
{
    int all = sg_auth_methods_mask(cfg);
    if (cfg->auth.n_required == 0 || done == 0) {
        if (cfg->auth.n_required == 0)
            return all;
        int m = 0; /* first step: anything that starts a set */
        for (size_t i = 0; i < cfg->auth.n_required; i++)
            m |= set_mask(&cfg->auth.required[i]);
        return m & all;
    }
    int m = 0;
    for (size_t i = 0; i < cfg->auth.n_required; i++) {
        int need = set_mask(&cfg->auth.required[i]);
        if ((done & need) == done) /* this set is still reachable */
            m |= need & ~done;
    }
    return m & all;
}

static int parse_methods(const char *list)
{
    int m = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        m |= sg_auth_method_bit(t);
    return m;
}

/* ---- job lifecycle ------------------------------------------------------------- */
static void job_free(struct sg_auth_job *j)
{
    if (!j)
        return;
    if (j->timer)
        sg_timer_cancel(sg_w->loop, j->timer);
    if (j->msg)
        ssh_message_free(j->msg);
    if (j->param) {
        memset(j->param, 0, j->param_len);
        free(j->param);
    }
    free(j->key_text);
    sg_restrict_clear(&j->staged);
    free(j);
}

static void job_end(struct sg_auth_job *j)
{
    struct sg_conn *c = j->c;
    if (c->auth_job == j)
        c->auth_job = NULL;
    job_free(j);
    sg_lane_release(c, SG_LANE_AUTH);
}

static void send_banner(struct sg_conn *c)
{
    if (c->banner_sent)
        return;
    c->banner_sent = true;
    const char *b = c->banner ? c->banner : sg_w->cfg->banner;
    if (!b || !*b)
        return;
    ssh_string s = ssh_string_from_char(b);
    if (s) {
        ssh_send_issue_banner(c->ssh, s);
        ssh_string_free(s);
    }
}

static void auth_fail(struct sg_auth_job *j, const char *why)
{
    struct sg_conn *c = j->c;
    const struct sg_config *cfg = sg_w->cfg;
    if (j->kind != J_NONE) {
        c->auth_failures++;
        SG_INFO(c->id, "auth failed: user %s method %s from %s: %s", c->user ? c->user : "?",
                j->method, c->peer_ip, why);
        if (sg_admission_auth_failed(sg_w->adm, cfg, (struct sockaddr *)&c->peer))
            SG_INFO(c->id, "source %s penalised for %ds after repeated auth failures", c->peer_ip,
                    cfg->limits.per_source_penalty);
    }
    if (j->kind != J_NONE && c->auth_failures >= cfg->limits.max_auth_attempts) {
        /* like OpenSSH: the attempt that reaches the limit is answered with
         * the disconnect itself, so the client sees why */
        SG_INFO(c->id, "too many authentication failures for %s from %s", c->user ? c->user : "?",
                c->peer_ip);
        sg_conn_close(c, SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                      "Too many authentication failures");
    } else {
        ssh_message_auth_set_methods(j->msg, sg_auth_next_methods(cfg, (int)c->methods_done));
        ssh_message_reply_default(j->msg);
    }
    job_end(j);
}

static void auth_accept(struct sg_auth_job *j, bool partial, const char *avail)
{
    struct sg_conn *c = j->c;
    const struct sg_config *cfg = sg_w->cfg;
    c->methods_done |= (unsigned)j->method_bit;
    sg_restrict_merge(&c->restr, &j->staged); /* the credential's restrictions hold now */
    if (!partial && sg_auth_required_met(cfg, (int)c->methods_done)) {
        ssh_message_auth_reply_success(j->msg, 0);
        c->authenticated = true;
        free(c->auth_method);
        c->auth_method = strdup(j->method_bit == SSH_AUTH_METHOD_INTERACTIVE ? "keyboard-interactive"
                                                                             : method_name(j->method_bit));
        if (c->grace_timer) {
            sg_timer_cancel(sg_w->loop, c->grace_timer);
            c->grace_timer = NULL;
        }
        sg_admission_authenticated(sg_w->adm, (struct sockaddr *)&c->peer);
        SG_INFO(c->id, "accepted %s for %s from %s port %d%s%s", c->auth_method, c->user,
                c->peer_ip, c->peer_port, j->key_fp[0] ? " key " : "", j->key_fp);
        sg_fire_status(c, "auth: %s accepted via %s", c->user, c->auth_method);
    } else {
        int next = avail && *avail ? parse_methods(avail) : sg_auth_next_methods(cfg, (int)c->methods_done);
        if (!next)
            next = sg_auth_methods_mask(cfg) & ~(int)c->methods_done;
        ssh_message_auth_set_methods(j->msg, next);
        ssh_message_auth_reply_success(j->msg, 1);
        SG_INFO(c->id, "partial success: %s for %s, more methods needed", j->method, c->user);
        sg_fire_status(c, "auth: %s partial success via %s", c->user, j->method);
    }
    job_end(j);
}

static void send_kbd_prompts(struct sg_auth_job *j)
{
    struct sg_conn *c = j->c;
    const struct sg_config *cfg = sg_w->cfg;
    size_t n = c->kbd_prompts ? c->n_kbd_prompts : cfg->auth.n_kbd_prompts;
    const struct sg_kbd_prompt *pv = c->kbd_prompts ? c->kbd_prompts : cfg->auth.kbd_prompts;
    const char *instr = c->kbd_instruction ? c->kbd_instruction
                                           : (cfg->auth.kbd_instruction ? cfg->auth.kbd_instruction : "");
    const char *prompts[32];
    char echo[32];
    if (n > 32)
        n = 32;
    for (size_t i = 0; i < n; i++) {
        prompts[i] = pv[i].prompt;
        echo[i] = pv[i].echo;
    }
    ssh_message_auth_interactive_request(j->msg, "", instr, (unsigned)n, prompts, echo);
    job_end(j);
}

static void job_run(struct sg_auth_job *j);
static void step_done(struct sg_auth_job *j, int r, bool partial, const char *avail);

/* A plugin that keeps an auth decision pending longer than limits.timeout is
 * taken as a refusal (fail closed); its late answer is then dropped. */
static void job_timeout_cb(void *arg)
{
    struct sg_auth_job *j = arg;
    struct sg_conn *c = j->c;
    j->timer = NULL;
    if (!j->req)
        return;
    struct sg_request *r = j->req;
    SG_INFO(c->id, "auth %s for %s: plugin %s did not answer within %ds: refused", j->method,
            c->user ? c->user : "?", r->plugin ? r->plugin->name : "?", sg_w->cfg->limits.timeout);
    /* the plugin's handle goes stale: its late complete() is ignored */
    sg_request_free(r);
    j->req = NULL;
    c->dispatch_depth++;
    step_done(j, SG_DENY, false, NULL);
    c->dispatch_depth--;
    sg_conn_touch(c);
}

static void step_done(struct sg_auth_job *j, int r, bool partial, const char *avail)
{
    bool ok = r == SG_OK;
    switch (j->kind) {
    case J_NONE:
    case J_PASSWORD:
    case J_PK_FINAL:
    case J_KBD_FINAL:
        if (ok)
            auth_accept(j, partial, avail);
        else
            auth_fail(j, r == SG_DECLINED ? "no plugin accepted" : "denied");
        return;
    case J_PK_PROBE:
        if (ok) {
            ssh_message_auth_reply_pk_ok_simple(j->msg);
            job_end(j);
        } else {
            auth_fail(j, "key not authorized");
        }
        return;
    case J_PK_SIGSTATUS:
        if (!j->sig_valid) {
            auth_fail(j, "invalid signature");
            return;
        }
        j->kind = J_PK_FINAL;
        snprintf(j->method, sizeof(j->method), "publickey");
        j->next_plugin = 0;
        job_run(j);
        return;
    case J_KBD_START:
        if (r == SG_DENY) {
            auth_fail(j, "denied");
            return;
        }
        send_kbd_prompts(j);
        return;
    case J_KBD_ANSWER:
        if (!ok) {
            auth_fail(j, "answer not accepted");
            return;
        }
        if (j->answer < j->n_answers) {
            j->answer++;
        } else {
            j->kind = J_KBD_FINAL;
            j->answer = 0;
        }
        j->next_plugin = 0;
        job_run(j);
        return;
    }
}

static void fill_event(struct sg_auth_job *j, struct sg_ev_auth *ev)
{
    struct sg_conn *c = j->c;
    *ev = (struct sg_ev_auth){.size = sizeof(*ev)};
    ev->user = c->user ? c->user : "";
    ev->service = "ssh-connection";
    ev->key_algorithm = j->key_alg;
    ev->key_fingerprint = j->key_fp;
    ev->param = "";
    ev->param_len = 0;
    switch (j->kind) {
    case J_KBD_ANSWER: {
        snprintf(j->method, sizeof(j->method), "keyboard-interactive-%d", j->answer);
        const char *a = ssh_userauth_kbdint_getanswer(c->ssh, (unsigned)(j->answer - 1));
        ev->param = a ? a : "";
        ev->param_len = strlen(ev->param);
        break;
    }
    case J_KBD_START:
        ev->kbdint_start = true;
        /* fall through */
    case J_KBD_FINAL:
        snprintf(j->method, sizeof(j->method), "keyboard-interactive");
        break;
    case J_PK_SIGSTATUS:
        ev->param = j->sig_valid ? "1" : "0";
        ev->param_len = 1;
        break;
    case J_PK_PROBE:
    case J_PK_FINAL:
        ev->param = j->key_text ? j->key_text : "";
        ev->param_len = strlen(ev->param);
        ev->is_probe = j->kind == J_PK_PROBE;
        break;
    default:
        if (j->param) {
            ev->param = j->param;
            ev->param_len = j->param_len;
        }
        break;
    }
    ev->method = j->method;
}

static void job_run(struct sg_auth_job *j)
{
    struct sg_conn *c = j->c;
    const struct sg_strlist *chain = &sg_w->cfg->auth.chain;
    for (; j->next_plugin < chain->n; j->next_plugin++) {
        struct sg_plugin_ref *p = sg_plugins_find(&sg_w->plugins, chain->v[j->next_plugin]);
        if (!p || !p->desc->on_auth_request)
            continue;
        struct sg_ev_auth ev;
        fill_event(j, &ev);
        struct sg_request *req = sg_request_new(c, SG_REQ_AUTH, NULL, p);
        if (!req) {
            auth_fail(j, "out of memory");
            return;
        }
        ev.req = sg_request_handle(req);
        int r = p->desc->on_auth_request(p->state, (sg_conn *)c, &ev);
        SG_DBG(c->id, "auth %s user %s: plugin %s says %d", j->method, ev.user, p->name, r);
        if (r == SG_AGAIN) {
            j->req = req;
            c->lane_busy[SG_LANE_AUTH] = true;
            if (sg_w->cfg->limits.timeout > 0 && !j->timer)
                j->timer = sg_timer_add(sg_w->loop, (uint64_t)sg_w->cfg->limits.timeout * 1000,
                                        job_timeout_cb, j);
            sg_request_asked(req); /* the answer may already be there */
            return;
        }
        sg_request_free(req);
        if (r == SG_DECLINED)
            continue;
        step_done(j, r < 0 ? SG_DENY : r, ev.partial_success, ev.available_methods);
        return;
    }
    step_done(j, SG_DECLINED, false, NULL);
}

void sg_auth_complete(struct sg_request *r, int result, bool partial, const char *avail)
{
    struct sg_conn *c = r->conn;
    if (!c || !c->auth_job || c->auth_job->req != r) {
        sg_request_free(r);
        return;
    }
    struct sg_auth_job *j = c->auth_job;
    j->req = NULL;
    if (j->timer) {
        sg_timer_cancel(sg_w->loop, j->timer);
        j->timer = NULL;
    }
    char *avail_copy = avail ? strdup(avail) : NULL;
    sg_request_free(r);
    c->dispatch_depth++;
    if (result == SG_DECLINED) {
        j->next_plugin++;
        job_run(j);
    } else {
        step_done(j, result < 0 ? SG_DENY : result, partial, avail_copy);
    }
    c->dispatch_depth--;
    free(avail_copy);
    sg_conn_touch(c);
}

/* ---- entry ---------------------------------------------------------------------- */
static bool key_type_allowed(const char *type)
{
    const struct sg_strlist *l = &sg_w->cfg->algorithms.pubkey_auth;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], type) == 0)
            return true;
        if (strcmp(type, "ssh-rsa") == 0 && strncmp(l->v[i], "rsa-sha2-", 9) == 0)
            return true;
        if (strcmp(type, "ssh-rsa-cert-v01@openssh.com") == 0 &&
            strncmp(l->v[i], "rsa-sha2-", 9) == 0 && strstr(l->v[i], "cert"))
            return true;
    }
    return false;
}

static int prepare_pubkey(struct sg_auth_job *j, ssh_message m)
{
    ssh_key key = ssh_message_auth_pubkey(m);
    if (!key)
        return -1;
    const char *type = ssh_key_type_to_char(ssh_key_type(key));
    if (!type)
        return -1;
    snprintf(j->key_alg, sizeof(j->key_alg), "%s", type);
    char *b64 = NULL;
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
        return -1;
    size_t n = strlen(type) + strlen(b64) + 2;
    j->key_text = malloc(n);
    if (j->key_text)
        snprintf(j->key_text, n, "%s %s", type, b64);
    ssh_string_free_char(b64);
    unsigned char *hash = NULL;
    size_t hlen = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
        char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
        if (fp) {
            snprintf(j->key_fp, sizeof(j->key_fp), "%s", fp);
            ssh_string_free_char(fp);
        }
        ssh_clean_pubkey_hash(&hash);
    }
    return j->key_text ? 0 : -1;
}

void sg_auth_message(struct sg_conn *c, ssh_message m)
{
    const struct sg_config *cfg = sg_w->cfg;
    int sub = ssh_message_subtype(m);
    const char *user = ssh_message_auth_user(m);
    if (sub == SSH_AUTH_METHOD_INTERACTIVE && ssh_message_auth_kbdint_is_response(m))
        user = c->user; /* an INFO_RESPONSE carries no user name */
    struct sg_auth_job *j = calloc(1, sizeof(*j));
    if (!j) {
        ssh_message_reply_default(m);
        ssh_message_free(m);
        return;
    }
    j->c = c;
    j->msg = m;
    c->auth_job = j;
    send_banner(c);
    if (c->authenticated) { /* already in: nothing more to decide */
        ssh_message_reply_default(m);
        job_end(j);
        return;
    }
    if (!user || !*user || strlen(user) > 256 || memchr(user, '\n', strlen(user))) {
        j->kind = J_PASSWORD;
        snprintf(j->method, sizeof(j->method), "%s", "invalid-user");
        auth_fail(j, "invalid user name");
        return;
    }
    if (!c->user || strcmp(c->user, user) != 0) {
        free(c->user);
        c->user = strdup(user);
        c->methods_done = 0; /* a different user starts over */
        if (!c->user) {
            auth_fail(j, "out of memory");
            return;
        }
    }
    int offered = sg_auth_next_methods(cfg, (int)c->methods_done);
    /* like OpenSSH: only the first "none" is free, and a keyboard-interactive
     * start while prompts are unanswered abandons (and counts) the previous one */
    bool kbd_response = sub == SSH_AUTH_METHOD_INTERACTIVE && ssh_message_auth_kbdint_is_response(m);
    if ((sub == SSH_AUTH_METHOD_NONE && c->none_seen) ||
        (sub == SSH_AUTH_METHOD_INTERACTIVE && !kbd_response && c->kbd_pending)) {
        j->kind = J_PASSWORD; /* a counted failure */
        snprintf(j->method, sizeof(j->method), "%s",
                 sub == SSH_AUTH_METHOD_NONE ? "none" : "keyboard-interactive");
        auth_fail(j, sub == SSH_AUTH_METHOD_NONE ? "repeated none" : "keyboard-interactive restarted");
        return;
    }
    if (sub == SSH_AUTH_METHOD_NONE)
        c->none_seen = true;
    if (sub == SSH_AUTH_METHOD_INTERACTIVE)
        c->kbd_pending = !kbd_response;
    switch (sub) {
    case SSH_AUTH_METHOD_NONE:
        j->kind = J_NONE;
        j->method_bit = SSH_AUTH_METHOD_NONE;
        snprintf(j->method, sizeof(j->method), "none");
        if (!(set_mask(&cfg->auth.methods) & SSH_AUTH_METHOD_NONE)) {
            auth_fail(j, "method none not enabled");
            return;
        }
        break;
    case SSH_AUTH_METHOD_PASSWORD: {
        j->kind = J_PASSWORD;
        j->method_bit = SSH_AUTH_METHOD_PASSWORD;
        snprintf(j->method, sizeof(j->method), "password");
        const char *pw = ssh_message_auth_password(m);
        j->param_len = pw ? strlen(pw) : 0;
        j->param = strdup(pw ? pw : "");
        break;
    }
    case SSH_AUTH_METHOD_PUBLICKEY: {
        j->method_bit = SSH_AUTH_METHOD_PUBLICKEY;
        snprintf(j->method, sizeof(j->method), "publickey");
        if (prepare_pubkey(j, m) < 0) {
            j->kind = J_PK_FINAL;
            auth_fail(j, "unreadable key");
            return;
        }
        if (!key_type_allowed(j->key_alg)) {
            j->kind = J_PK_FINAL;
            auth_fail(j, "key type not accepted by algorithms.pubkey_auth");
            return;
        }
        enum ssh_publickey_state_e st = ssh_message_auth_publickey_state(m);
        if (st == SSH_PUBLICKEY_STATE_NONE) {
            j->kind = J_PK_PROBE;
        } else {
            j->sig_valid = st == SSH_PUBLICKEY_STATE_VALID;
            if (cfg->auth.fire_after_signature) {
                j->kind = J_PK_SIGSTATUS;
                snprintf(j->method, sizeof(j->method), "sigstatus");
            } else if (!j->sig_valid) {
                j->kind = J_PK_FINAL;
                auth_fail(j, "invalid signature");
                return;
            } else {
                j->kind = J_PK_FINAL;
            }
        }
        break;
    }
    case SSH_AUTH_METHOD_INTERACTIVE:
        j->method_bit = SSH_AUTH_METHOD_INTERACTIVE;
        snprintf(j->method, sizeof(j->method), "keyboard-interactive");
        if (ssh_message_auth_kbdint_is_response(m)) {
            size_t expect = c->kbd_prompts ? c->n_kbd_prompts : cfg->auth.n_kbd_prompts;
            j->n_answers = ssh_userauth_kbdint_getnanswers(c->ssh);
            if (j->n_answers < 0 || (size_t)j->n_answers != expect) {
                j->kind = J_KBD_FINAL;
                auth_fail(j, "wrong number of answers");
                return;
            }
            if (j->n_answers == 0) {
                j->kind = J_KBD_FINAL;
            } else {
                j->kind = J_KBD_ANSWER;
                j->answer = 1;
            }
        } else {
            j->kind = J_KBD_START;
        }
        break;
    default:
        j->kind = J_PASSWORD;
        snprintf(j->method, sizeof(j->method), "unsupported");
        auth_fail(j, "method not supported");
        return;
    }
    if (j->kind != J_NONE && !(offered & j->method_bit) && j->kind != J_KBD_ANSWER &&
        j->kind != J_KBD_FINAL) {
        auth_fail(j, "method not offered");
        return;
    }
    job_run(j);
}

int sg_auth_restrict(struct sg_conn *c, const struct sg_restrictions *r, char *why, size_t whylen)
{
    if (c->auth_job)
        return sg_restrict_add(&c->auth_job->staged, &c->restr, r, why, whylen);
    return sg_restrict_add(&c->restr, NULL, r, why, whylen);
}

void sg_auth_teardown(struct sg_conn *c)
{
    if (c->auth_job) {
        struct sg_auth_job *j = c->auth_job;
        c->auth_job = NULL;
        j->req = NULL; /* freed with the connection's other requests */
        job_free(j);
    }
    for (size_t i = 0; i < c->n_kbd_prompts; i++)
        free(c->kbd_prompts[i].prompt);
    free(c->kbd_prompts);
    free(c->kbd_instruction);
    c->kbd_prompts = NULL;
    c->n_kbd_prompts = 0;
}
