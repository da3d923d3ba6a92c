/* channel.c — channels between the client and the plugin that owns them.
 *
 * Inbound flow control: while the owner has paused input, the libssh data
 * callback consumes nothing, so libssh keeps the bytes and does not reopen
 * the window; a peer that sends more than the window allows is cut off.
 * Resuming reads the bytes libssh kept (outside any libssh callback).
 * Outbound: chan_send never writes more than the remote window, nor while the
 * connection's output buffer is still pending, so output stays bounded;
 * blocked channels are re-checked after every dispatch and their owners get
 * on_channel_ready_to_send. */
#include "channel.h"
#include "pty_modes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* libssh 0.10 offers a 1,280,000-byte window and tops it up whenever window +
 * buffered data falls below half of that, so up to 1.92 MB can be buffered
 * legitimately; a peer that exceeds that by 10% ignores the window. */
#define SG_WINDOW_LIMIT ((1280000u + 640000u) / 10 * 11)
#define RESUME_CHUNK 65536
/* Run a libssh call made for a plugin: input libssh reads while flushing is
 * held back (data_cb, signal_cb) and requests it queued are drained later. */
#define LIBSSH_CALL(conn, stmt)                                                                    \
    do {                                                                                           \
        (conn)->in_libssh_call++;                                                                  \
        stmt;                                                                                      \
        (conn)->in_libssh_call--;                                                                  \
        (conn)->drain_pending = true;                                                              \
    } while (0)
#define SG_OUT_LIMIT (1u << 20) /* output bytes libssh may hold for one connection */

static void fire_closed(struct sg_chan *h);

/* A request libssh queued holds a pointer to its channel, and libssh's reply
 * to it reads the channel. So the libssh channel of a channel that ended is
 * freed at once only when no request can be waiting in libssh's queue (the
 * last drain emptied it and libssh read no input since); otherwise it is
 * kept, out of our list (its requests are dropped, see
 * sg_channel_request_message), until a drain finds the queue empty. */
static void drop_libssh_channel(struct sg_conn *c, struct sg_chan *h)
{
    ssh_channel ch = h->ch;
    h->ch = NULL;
    if (c->msgq_empty && !c->drain_pending) {
        ssh_channel_free(ch);
        return;
    }
    ssh_remove_channel_callbacks(ch, &h->cbs); /* they point at h, freed next */
    ssh_channel *v = realloc(c->ended_chans, (c->n_ended_chans + 1) * sizeof(*v));
    if (!v)
        return; /* libssh frees it with the session */
    c->ended_chans = v;
    c->ended_chans[c->n_ended_chans++] = ch;
}

void sg_channels_reap(struct sg_conn *c, bool free_them)
{
    for (size_t i = 0; free_them && i < c->n_ended_chans; i++)
        ssh_channel_free(c->ended_chans[i]);
    free(c->ended_chans);
    c->ended_chans = NULL;
    c->n_ended_chans = 0;
}

/* ---- lookup / lifecycle --------------------------------------------------- */
static struct sg_chan *chan_new(struct sg_conn *c, const char *type)
{
    struct sg_chan *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->id = ++c->next_chan_id;
    h->conn = c;
    h->route_index = -1;
    snprintf(h->type, sizeof(h->type), "%s", type);
    h->next = c->chans;
    if (c->chans)
        c->chans->prev = h;
    c->chans = h;
    c->n_chans++;
    return h;
}

static void chan_free(struct sg_chan *h)
{
    struct sg_conn *c = h->conn;
    if (h->prev)
        h->prev->next = h->next;
    else
        c->chans = h->next;
    if (h->next)
        h->next->prev = h->prev;
    c->n_chans--;
    if (strcmp(h->type, "session") == 0 && h->opened && c->n_sessions)
        c->n_sessions--;
    for (struct sg_prereq *p = h->pre_head; p;) {
        struct sg_prereq *n = p->next;
        free(p->a);
        free(p->b);
        free(p);
        p = n;
    }
    while (h->held_head) {
        struct sg_held *x = h->held_head;
        h->held_head = x->next;
        ssh_message_free(x->msg);
        free(x);
    }
    for (struct sg_request *r = c->reqs; r; r = r->next)
        if (r->chan == h)
            r->chan = NULL;
    free(h->command);
    free(h->term);
    free(h->pty_modes);
    free(h->eol);
    free(h->carry);
    free(h->inq);
    free(h->pending_signal);
    free(h->fwd_addr);
    free(h->orig_addr);
    free(h);
}

static struct sg_chan *chan_find(struct sg_conn *c, ssh_channel ch)
{
    for (struct sg_chan *h = c->chans; h; h = h->next)
        if (h->ch == ch)
            return h;
    return NULL;
}

/* ---- inbound data ----------------------------------------------------------------- */
static void fire_data(struct sg_chan *h, const uint8_t *data, size_t len, bool is_stderr, bool eol)
{
    struct sg_ev_data ev = {.size = sizeof(ev),
                            .channel_id = h->id,
                            .data = data,
                            .len = len,
                            .is_stderr = is_stderr,
                            .eol_found = eol};
    h->owner->desc->on_channel_data(h->owner->state, (sg_chan *)h, &ev);
}

static int carry_reserve(struct sg_chan *h, size_t need)
{
    if (need <= h->carry_cap)
        return 0;
    uint8_t *p = realloc(h->carry, need);
    if (!p)
        return -1;
    h->carry = p;
    h->carry_cap = need;
    return 0;
}

/* Deliver complete frames sitting in carry. */
static void flush_carry(struct sg_chan *h, bool is_stderr)
{
    while (!h->paused && h->carry_len && !h->conn->closing && h->owner) {
        if (h->record_length) {
            if (h->carry_len < h->record_length)
                return;
            fire_data(h, h->carry, h->record_length, is_stderr, false);
            memmove(h->carry, h->carry + h->record_length, h->carry_len - h->record_length);
            h->carry_len -= h->record_length;
        } else if (h->eol) {
            uint8_t *p = memmem(h->carry, h->carry_len, h->eol, h->eol_len);
            size_t n;
            bool found = p != NULL;
            if (found)
                n = (size_t)(p - h->carry) + h->eol_len;
            else if (h->carry_len >= h->max_len)
                n = h->max_len;
            else
                return;
            if (n > h->max_len) { /* the line is longer than max_len: cut it */
                n = h->max_len;
                found = false;
            }
            fire_data(h, h->carry, n, is_stderr, found);
            memmove(h->carry, h->carry + n, h->carry_len - n);
            h->carry_len -= n;
        } else {
            size_t n = h->carry_len;
            h->carry_len = 0;
            fire_data(h, h->carry, n, is_stderr, false);
        }
    }
}

/* Returns how many bytes were taken (the rest stays with libssh). */
static size_t deliver(struct sg_chan *h, const uint8_t *data, size_t len, bool is_stderr)
{
    if (len == 0)
        return 0; /* an empty CHANNEL_DATA carries nothing to deliver */
    if (!h->owner || !h->owner->desc->on_channel_data || h->denied)
        return h->owner ? len : 0; /* no program yet: keep it (bounded by the window) */
    flush_carry(h, is_stderr);
    if (h->paused)
        return 0;
    h->bytes_in += len;
    h->conn->last_activity_ms = sg_now_ms();
    if (!h->record_length && !h->eol) {
        fire_data(h, data, len, is_stderr, false);
        return len;
    }
    size_t frame = h->record_length ? h->record_length : h->max_len;
    size_t off = 0;
    while (off < len && !h->paused && !h->conn->closing) {
        size_t take = frame > h->carry_len ? frame - h->carry_len : 0;
        if (take == 0) {
            flush_carry(h, is_stderr);
            if (h->carry_len >= frame)
                break;
            continue;
        }
        if (take > len - off)
            take = len - off;
        if (carry_reserve(h, h->carry_len + take) < 0)
            break;
        memcpy(h->carry + h->carry_len, data + off, take);
        h->carry_len += take;
        off += take;
        flush_carry(h, is_stderr);
    }
    return off;
}

static int data_cb(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr,
                   void *userdata)
{
    struct sg_chan *h = userdata;
    if (h->conn->closing || h->finalized)
        return (int)len;
    if (h->conn->in_libssh_call) {
        /* libssh read input while flushing a write made for a plugin: the
         * plugin is inside a host call, so deliver later, from the loop */
        h->resume_pending = true;
        sg_conn_touch(h->conn);
        return 0;
    }
    if (h->paused || h->inq_len > h->inq_off || (!h->owner && strcmp(h->type, "session") == 0)) {
        if (len > SG_WINDOW_LIMIT) {
            sg_conn_close(h->conn, SSH2_DISCONNECT_PROTOCOL_ERROR,
                          "peer sent past the channel window");
            return (int)len;
        }
        return 0;
    }
    size_t n = deliver(h, data, len, is_stderr != 0);
    sg_conn_touch(h->conn);
    return (int)n;
}

static void eof_cb(ssh_session s, ssh_channel ch, void *userdata)
{
    struct sg_chan *h = userdata;
    h->eof_in = true;
    sg_conn_touch(h->conn);
}

static void close_cb(ssh_session s, ssh_channel ch, void *userdata)
{
    struct sg_chan *h = userdata;
    h->remote_closed = true;
    h->eof_in = true;
    sg_conn_touch(h->conn);
}

static void signal_cb(ssh_session s, ssh_channel ch, const char *signal, void *userdata)
{
    struct sg_chan *h = userdata;
    if (!h->owner || !h->owner->desc->on_channel_request || h->conn->closing)
        return;
    if (h->conn->in_libssh_call) { /* the owner is inside a host call: later */
        free(h->pending_signal);
        h->pending_signal = strdup(signal ? signal : "");
        sg_conn_touch(h->conn);
        return;
    }
    struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                       .channel_id = h->id,
                                       .type = "signal",
                                       .signal_name = signal ? signal : ""};
    h->owner->desc->on_channel_request(h->owner->state, (sg_chan *)h, &ev);
    sg_conn_touch(h->conn);
}

static int wontblock_cb(ssh_session s, ssh_channel ch, uint32_t bytes, void *userdata)
{
    struct sg_chan *h = userdata;
    sg_conn_touch(h->conn);
    return 0;
}

static void set_callbacks(struct sg_chan *h)
{
    memset(&h->cbs, 0, sizeof(h->cbs));
    h->cbs.userdata = h;
    h->cbs.channel_data_function = data_cb;
    h->cbs.channel_eof_function = eof_cb;
    h->cbs.channel_close_function = close_cb;
    h->cbs.channel_signal_function = signal_cb;
    h->cbs.channel_write_wontblock_function = wontblock_cb;
    ssh_callbacks_init(&h->cbs);
    ssh_set_channel_callbacks(h->ch, &h->cbs);
}

static void fire_opened(struct sg_chan *h)
{
    if (h->opened_fired || !h->owner)
        return;
    h->opened_fired = true;
    if (h->owner->desc->on_channel_opened) {
        struct sg_ev_channel_opened ev = {.size = sizeof(ev), .channel_id = h->id};
        h->owner->desc->on_channel_opened(h->owner->state, (sg_chan *)h, &ev);
    }
}

static void fire_closed(struct sg_chan *h)
{
    if (h->finalized)
        return;
    h->finalized = true;
    if (h->owner && h->owner->desc->on_channel_closed) {
        struct sg_ev_channel_closed ev = {.size = sizeof(ev), .channel_id = h->id};
        h->owner->desc->on_channel_closed(h->owner->state, (sg_chan *)h, &ev);
    }
}

/* ---- channel open ------------------------------------------------------------------ */
static bool observers_allow_open(struct sg_conn *c, struct sg_chan *h,
                                 struct sg_ev_channel_open *ev)
{
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p == h->owner || !p->desc->on_channel_open_request)
            continue;
        if (strcmp(h->type, "session") != 0)
            continue; /* direct-tcpip: only the routed plugin decides */
        if (p->desc->on_channel_open_request(p->state, (sg_conn *)c, (sg_chan *)h, ev) == SG_DENY) {
            SG_INFO(c->id, "channel %s refused by plugin %s", h->type, p->name);
            return false;
        }
    }
    return true;
}

static bool accept_open(struct sg_chan *h, ssh_message m)
{
    h->ch = ssh_message_channel_request_open_reply_accept(m);
    if (!h->ch)
        return false;
    h->opened = true;
    set_callbacks(h);
    return true;
}

static bool tunnel_policy_allows(struct sg_conn *c, int direction, const char *addr, int port)
{
    struct sg_ev_tunnel ev = {
        .size = sizeof(ev), .direction = direction, .address = addr, .port = port};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_tunnel_requested &&
            p->desc->on_tunnel_requested(p->state, (sg_conn *)c, &ev) == SG_DENY) {
            SG_INFO(c->id, "tunnel %s %s:%d refused by plugin %s",
                    direction ? "reverse" : "forward", addr, port, p->name);
            return false;
        }
    }
    return true;
}

static struct sg_plugin_ref *route_plugin(struct sg_conn *c, enum sg_route_kind kind,
                                          const char *command, const char *subsystem, long *idx)
{
    struct sg_route_query q = {.kind = kind,
                               .command = command,
                               .subsystem = subsystem,
                               .user = c->user,
                               .has_group = sg_conn_has_group,
                               .ctx = c,
                               .source = (struct sockaddr *)&c->peer};
    *idx = sg_route_match(sg_w->cfg, &q);
    if (*idx < 0)
        return NULL;
    return sg_plugins_find(&sg_w->plugins, sg_w->cfg->routes[*idx].plugin);
}

static const char *route_config(long idx)
{
    return idx >= 0 && sg_w->cfg->routes[idx].config_json ? sg_w->cfg->routes[idx].config_json
                                                          : "{}";
}

static const char *route_name(long idx, char *buf, size_t n)
{
    if (idx < 0)
        return "";
    const char *nm = sg_w->cfg->routes[idx].name;
    if (nm && *nm)
        return nm;
    snprintf(buf, n, "#%ld", idx);
    return buf;
}

/* libssh 0.10.6 refuses every channel open as "administratively
 * prohibited": no call takes another reason. When the plugin gave one
 * (connect failed, resource shortage), it goes first in an SSH_MSG_DEBUG,
 * which `ssh -v` shows as "Remote: channel open refused: ...". */
static void refuse_open(struct sg_conn *c, ssh_message m, int reason)
{
    static const char *const why[] = {NULL, NULL, "connect failed", "unknown channel type",
                                      "resource shortage"};
    if (reason >= 2 && reason <= 4) {
        char msg[64];
        snprintf(msg, sizeof(msg), "channel open refused: %s", why[reason]);
        ssh_send_debug(c->ssh, msg, 0);
    }
    ssh_message_reply_default(m);
}

static void open_direct_tcpip(struct sg_conn *c, ssh_message m)
{
    const char *host = ssh_message_channel_request_open_destination(m);
    int port = ssh_message_channel_request_open_destination_port(m);
    const char *orig = ssh_message_channel_request_open_originator(m);
    int oport = ssh_message_channel_request_open_originator_port(m);
    host = host ? host : "";
    int reason = 0; /* a plugin's deny_reason */
    if (!sg_restrict_open_allowed(&c->restr, host, port)) {
        SG_INFO(c->id, "direct-tcpip to %s:%d refused: not permitted by the credential (%s)", host,
                port,
                c->restr.flags & SG_RESTRICT_PORT_FORWARDING ? "no port forwarding" : "permitopen");
        goto refuse;
    }
    if (!tunnel_policy_allows(c, 0, host, port))
        goto refuse;
    long idx;
    struct sg_plugin_ref *p = route_plugin(c, SG_ROUTE_DIRECT_TCPIP, NULL, NULL, &idx);
    if (!p || !p->desc->on_channel_open_request) {
        SG_INFO(c->id, "no route for direct-tcpip to %s:%d (user %s): refused", host, port,
                c->user);
        goto refuse;
    }
    struct sg_chan *h = chan_new(c, "direct-tcpip");
    if (!h)
        goto refuse;
    h->owner = p;
    h->route_index = idx;
    struct sg_request *req = sg_request_new(c, SG_REQ_CHAN_OPEN, NULL, p);
    if (!req) {
        chan_free(h);
        goto refuse;
    }
    req->chan = h;
    struct sg_ev_channel_open ev = {.size = sizeof(ev),
                                    .req = sg_request_handle(req),
                                    .channel_id = h->id,
                                    .type = "direct-tcpip",
                                    .host = host,
                                    .port = port,
                                    .orig_address = orig ? orig : "",
                                    .orig_port = oport,
                                    .route_config = route_config(idx)};
    int r = p->desc->on_channel_open_request(p->state, (sg_conn *)c, (sg_chan *)h, &ev);
    if (r == SG_AGAIN) {
        req->msg = m;
        sg_request_asked(req);
        return;
    }
    sg_request_free(req);
    if (r == SG_OK && accept_open(h, m)) {
        ssh_message_free(m);
        fire_opened(h);
        return;
    }
    SG_INFO(c->id, "direct-tcpip to %s:%d refused by plugin %s", host, port, p->name);
    fire_closed(h);
    chan_free(h);
    reason = ev.deny_reason;
refuse:
    refuse_open(c, m, reason);
    ssh_message_free(m);
}

void sg_channel_open_message(struct sg_conn *c, ssh_message m)
{
    const struct sg_config *cfg = sg_w->cfg;
    int sub = ssh_message_subtype(m);
    if (c->n_chans >= (size_t)cfg->limits.max_channels) {
        SG_INFO(c->id, "channel refused: max_channels (%d) reached", cfg->limits.max_channels);
        goto refuse;
    }
    if (sub == SSH_CHANNEL_DIRECT_TCPIP) {
        open_direct_tcpip(c, m);
        return;
    }
    if (sub != SSH_CHANNEL_SESSION)
        goto refuse;
    if (c->n_sessions >= (size_t)cfg->limits.max_sessions) {
        SG_INFO(c->id, "session refused: max_sessions (%d) reached", cfg->limits.max_sessions);
        goto refuse;
    }
    struct sg_chan *h = chan_new(c, "session");
    if (!h)
        goto refuse;
    struct sg_ev_channel_open ev = {.size = sizeof(ev),
                                    .channel_id = h->id,
                                    .type = "session",
                                    .host = "",
                                    .orig_address = "",
                                    .route_config = "{}"};
    if (!observers_allow_open(c, h, &ev) || !accept_open(h, m)) {
        chan_free(h);
        goto refuse;
    }
    c->n_sessions++;
    ssh_message_free(m);
    return;
refuse:
    ssh_message_reply_default(m);
    ssh_message_free(m);
}

/* ---- channel requests ------------------------------------------------------------- */
static int ask_owner(struct sg_chan *h, struct sg_ev_channel_request *ev)
{
    if (!h->owner || !h->owner->desc->on_channel_request)
        return SG_DENY;
    int r = h->owner->desc->on_channel_request(h->owner->state, (sg_chan *)h, ev);
    return r < 0 ? SG_DENY : r;
}

static void add_prereq(struct sg_chan *h, const char *type, const char *a, const char *b)
{
    if (h->n_pre >= 64)
        return; /* a client flooding env requests: keep the first 64 */
    struct sg_prereq *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    snprintf(p->type, sizeof(p->type), "%s", type);
    p->a = a ? strdup(a) : NULL;
    p->b = b ? strdup(b) : NULL;
    p->cols = h->cols;
    p->rows = h->rows;
    p->wpx = h->wpx;
    p->hpx = h->hpx;
    if (h->pre_tail)
        h->pre_tail->next = p;
    else
        h->pre_head = p;
    h->pre_tail = p;
    h->n_pre++;
}

static void replay_prereqs(struct sg_chan *h)
{
    for (struct sg_prereq *p = h->pre_head; p && !h->conn->closing; p = p->next) {
        struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                           .channel_id = h->id,
                                           .type = p->type,
                                           .want_reply = true,
                                           .replayed = true};
        if (strcmp(p->type, "env") == 0) {
            ev.env_name = p->a ? p->a : "";
            ev.env_value = p->b ? p->b : "";
        } else if (strcmp(p->type, "pty-req") == 0) {
            ev.term = p->a ? p->a : "";
            ev.cols = p->cols;
            ev.rows = p->rows;
            ev.width_px = p->wpx;
            ev.height_px = p->hpx;
            ev.pty_modes = h->pty_modes;
            ev.pty_modes_len = h->pty_modes_len;
        }
        if (ask_owner(h, &ev) != SG_OK)
            SG_VERB(h->conn->id, "channel %u: %s %s refused by %s", h->id, p->type,
                    ev.env_name ? ev.env_name : "", h->owner->name);
    }
}

static void request_decided(struct sg_chan *h, ssh_message m, int r)
{
    if (r == SG_OK) {
        ssh_message_channel_request_reply_success(m);
        /* data that came before the routing waits in libssh: pull it */
        h->resume_pending = true;
        sg_conn_touch(h->conn);
        if (h->owner->desc->on_channel_requested) {
            struct sg_ev_channel_requested ev = {
                .size = sizeof(ev), .channel_id = h->id, .type = h->request};
            h->owner->desc->on_channel_requested(h->owner->state, (sg_chan *)h, &ev);
        }
    } else {
        h->denied = true;
        SG_INFO(h->conn->id, "%s '%s' refused by plugin %s", h->request,
                h->command ? h->command : "", h->owner->name);
        ssh_message_reply_default(m);
    }
}

static void program_request(struct sg_conn *c, struct sg_chan *h, ssh_message m, int sub)
{
    const char *type = sub == SSH_CHANNEL_REQUEST_EXEC    ? "exec"
                       : sub == SSH_CHANNEL_REQUEST_SHELL ? "shell"
                                                          : "subsystem";
    const char *cmd = sub == SSH_CHANNEL_REQUEST_EXEC ? ssh_message_channel_request_command(m)
                      : sub == SSH_CHANNEL_REQUEST_SUBSYSTEM
                          ? ssh_message_channel_request_subsystem(m)
                          : "";
    cmd = cmd ? cmd : "";
    if (h->owner) { /* one program per channel */
        ssh_message_reply_default(m);
        ssh_message_free(m);
        return;
    }
    const char *original = NULL; /* the client's command when a credential forced another */
    if (c->restr.force_command) {
        original = sub == SSH_CHANNEL_REQUEST_EXEC ? cmd : "";
        SG_INFO(c->id, "channel %u: %s '%s' replaced by the credential's forced command '%s'",
                h->id, type, cmd, c->restr.force_command);
        if (strcmp(c->restr.force_command, "internal-sftp") == 0) {
            sub = SSH_CHANNEL_REQUEST_SUBSYSTEM;
            type = "subsystem";
            cmd = "sftp";
        } else {
            sub = SSH_CHANNEL_REQUEST_EXEC;
            type = "exec";
            cmd = c->restr.force_command;
        }
    }
    enum sg_route_kind kind = sub == SSH_CHANNEL_REQUEST_EXEC    ? SG_ROUTE_EXEC
                              : sub == SSH_CHANNEL_REQUEST_SHELL ? SG_ROUTE_SHELL
                                                                 : SG_ROUTE_SUBSYSTEM;
    long idx;
    struct sg_plugin_ref *p = route_plugin(c, kind, sub == SSH_CHANNEL_REQUEST_EXEC ? cmd : NULL,
                                           sub == SSH_CHANNEL_REQUEST_SUBSYSTEM ? cmd : NULL, &idx);
    if (!p || !p->desc->on_channel_request) {
        SG_INFO(c->id, "no route for %s '%s' of user %s: refused", type, cmd, c->user);
        ssh_message_reply_default(m);
        ssh_message_free(m);
        return;
    }
    h->owner = p;
    h->route_index = idx;
    snprintf(h->request, sizeof(h->request), "%s", type);
    h->command = strdup(cmd);
    SG_VERB(c->id, "channel %u: %s '%s' routed to %s", h->id, type, cmd, p->name);
    fire_opened(h);
    replay_prereqs(h);
    if (c->closing) {
        ssh_message_free(m);
        return;
    }
    char rn[32];
    struct sg_request *req = sg_request_new(c, SG_REQ_CHAN_REQUEST, NULL, p);
    if (!req) {
        ssh_message_reply_default(m);
        ssh_message_free(m);
        return;
    }
    req->chan = h;
    struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                       .req = sg_request_handle(req),
                                       .channel_id = h->id,
                                       .type = type,
                                       .want_reply = true,
                                       .command = sub == SSH_CHANNEL_REQUEST_EXEC ? cmd : NULL,
                                       .subsystem =
                                           sub == SSH_CHANNEL_REQUEST_SUBSYSTEM ? cmd : NULL,
                                       .term = h->term,
                                       .cols = h->cols,
                                       .rows = h->rows,
                                       .route_config = route_config(idx),
                                       .route_name = route_name(idx, rn, sizeof(rn)),
                                       .original_command = original};
    int r = ask_owner(h, &ev);
    if (r == SG_AGAIN) {
        req->msg = m;
        h->lane_busy = true;
        sg_request_asked(req);
        return;
    }
    sg_request_free(req);
    request_decided(h, m, r);
    ssh_message_free(m);
}

static void handle_channel_request(struct sg_conn *c, struct sg_chan *h, ssh_message m)
{
    int sub = ssh_message_subtype(m);
    switch (sub) {
    case SSH_CHANNEL_REQUEST_PTY: {
        if (c->restr.flags & SG_RESTRICT_PTY) {
            SG_INFO(c->id, "channel %u: pty-req refused: not permitted by the credential (no-pty)",
                    h->id);
            ssh_message_reply_default(m);
            break;
        }
        const char *term = ssh_message_channel_request_pty_term(m);
        free(h->term);
        h->term = strdup(term ? term : "");
        h->cols = (uint32_t)ssh_message_channel_request_pty_width(m);
        h->rows = (uint32_t)ssh_message_channel_request_pty_height(m);
        h->wpx = (uint32_t)ssh_message_channel_request_pty_pxwidth(m);
        h->hpx = (uint32_t)ssh_message_channel_request_pty_pxheight(m);
        h->has_pty = true;
        const uint8_t *modes;
        size_t modes_len;
        free(h->pty_modes);
        h->pty_modes = NULL;
        h->pty_modes_len = 0;
        if (sg_pty_modes(m, &modes, &modes_len) && (h->pty_modes = malloc(modes_len))) {
            memcpy(h->pty_modes, modes, modes_len);
            h->pty_modes_len = modes_len;
        }
        if (h->owner) {
            struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                               .channel_id = h->id,
                                               .type = "pty-req",
                                               .want_reply = true,
                                               .term = h->term,
                                               .cols = h->cols,
                                               .rows = h->rows,
                                               .width_px = h->wpx,
                                               .height_px = h->hpx,
                                               .pty_modes = h->pty_modes,
                                               .pty_modes_len = h->pty_modes_len};
            if (ask_owner(h, &ev) == SG_OK)
                ssh_message_channel_request_reply_success(m);
            else
                ssh_message_reply_default(m);
        } else {
            add_prereq(h, "pty-req", h->term, NULL);
            ssh_message_channel_request_reply_success(m);
        }
        break;
    }
    case SSH_CHANNEL_REQUEST_ENV: {
        const char *n = ssh_message_channel_request_env_name(m);
        const char *v = ssh_message_channel_request_env_value(m);
        if (h->owner) {
            struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                               .channel_id = h->id,
                                               .type = "env",
                                               .want_reply = true,
                                               .env_name = n ? n : "",
                                               .env_value = v ? v : ""};
            if (ask_owner(h, &ev) == SG_OK)
                ssh_message_channel_request_reply_success(m);
            else
                ssh_message_reply_default(m);
        } else {
            add_prereq(h, "env", n, v);
            ssh_message_channel_request_reply_success(m);
        }
        break;
    }
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE: {
        h->cols = (uint32_t)ssh_message_channel_request_pty_width(m);
        h->rows = (uint32_t)ssh_message_channel_request_pty_height(m);
        h->wpx = (uint32_t)ssh_message_channel_request_pty_pxwidth(m);
        h->hpx = (uint32_t)ssh_message_channel_request_pty_pxheight(m);
        if (h->owner) {
            struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                               .channel_id = h->id,
                                               .type = "window-change",
                                               .cols = h->cols,
                                               .rows = h->rows,
                                               .width_px = h->wpx,
                                               .height_px = h->hpx};
            ask_owner(h, &ev);
        }
        ssh_message_channel_request_reply_success(m);
        break;
    }
    case SSH_CHANNEL_REQUEST_EXEC:
    case SSH_CHANNEL_REQUEST_SHELL:
    case SSH_CHANNEL_REQUEST_SUBSYSTEM:
        program_request(c, h, m, sub);
        return;
    default: /* x11-req and unknown requests: refused */
        ssh_message_reply_default(m);
        break;
    }
    ssh_message_free(m);
}

void sg_channel_request_message(struct sg_conn *c, ssh_message m)
{
    struct sg_chan *h = chan_find(c, ssh_message_channel_request_channel(m));
    if (!h) { /* not a channel of ours (any more): libssh's reply would read it */
        SG_DBG(c->id, "channel request for a freed channel dropped");
        ssh_message_free(m);
        return;
    }
    if (h->close_sent || h->remote_closed) {
        ssh_message_reply_default(m);
        ssh_message_free(m);
        return;
    }
    if (h->lane_busy) {
        struct sg_held *x = calloc(1, sizeof(*x));
        if (!x || c->n_held >= 256) {
            free(x);
            ssh_message_free(m);
            sg_conn_close(c, SSH2_DISCONNECT_PROTOCOL_ERROR, "too many requests waiting");
            return;
        }
        x->msg = m;
        if (h->held_tail)
            h->held_tail->next = x;
        else
            h->held_head = x;
        h->held_tail = x;
        c->n_held++;
        return;
    }
    handle_channel_request(c, h, m);
}

static void release_chan_lane(struct sg_chan *h)
{
    struct sg_conn *c = h->conn;
    h->lane_busy = false;
    while (!h->lane_busy && h->held_head && !c->closing) {
        struct sg_held *x = h->held_head;
        h->held_head = x->next;
        if (!x->next)
            h->held_tail = NULL;
        c->n_held--;
        ssh_message m = x->msg;
        free(x);
        handle_channel_request(c, h, m);
    }
}

/* ---- tcpip-forward ------------------------------------------------------------ */
static void forward_add(struct sg_conn *c, const char *addr, int port, struct sg_plugin_ref *p)
{
    struct sg_forward *f = calloc(1, sizeof(*f));
    if (!f)
        return;
    f->address = strdup(addr);
    f->port = port;
    f->owner = p;
    f->next = c->forwards;
    c->forwards = f;
}

static struct sg_forward *forward_take(struct sg_conn *c, const char *addr, int port)
{
    for (struct sg_forward **pp = &c->forwards; *pp; pp = &(*pp)->next) {
        struct sg_forward *f = *pp;
        if (f->port == port && strcmp(f->address, addr) == 0) {
            *pp = f->next;
            return f;
        }
    }
    return NULL;
}

static void fire_tunnel_closed(struct sg_conn *c, int direction, const char *addr, int port)
{
    struct sg_ev_tunnel_closed ev = {
        .size = sizeof(ev), .direction = direction, .address = addr, .port = port};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_tunnel_closed)
            p->desc->on_tunnel_closed(p->state, (sg_conn *)c, &ev);
    }
}

static void forward_decided(struct sg_conn *c, ssh_message m, struct sg_plugin_ref *p, int r,
                            const char *addr, int port, bool cancel)
{
    if (r == SG_OK) {
        ssh_message_global_request_reply_success(m, (uint16_t)port);
        if (!cancel) {
            forward_add(c, addr, port, p);
            SG_INFO(c->id, "remote forward %s:%d for %s", addr, port, c->user);
        }
    } else {
        SG_INFO(c->id, "%s %s:%d refused", cancel ? "cancel-tcpip-forward" : "tcpip-forward", addr,
                port);
        ssh_message_reply_default(m);
    }
}

void sg_global_forward_request(struct sg_conn *c, ssh_message m)
{
    bool cancel = ssh_message_subtype(m) == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD;
    const char *addr = ssh_message_global_request_address(m);
    int port = ssh_message_global_request_port(m);
    addr = addr ? addr : "";
    struct sg_plugin_ref *p = NULL;
    long idx = -1;
    struct sg_forward *f = NULL;
    if (cancel) {
        f = forward_take(c, addr, port);
        if (!f) {
            SG_INFO(c->id, "cancel-tcpip-forward %s:%d: no such forward on this connection", addr,
                    port);
            goto refuse;
        }
        p = f->owner;
    } else {
        if (!sg_restrict_listen_allowed(&c->restr, addr, port)) {
            SG_INFO(c->id, "tcpip-forward %s:%d refused: not permitted by the credential (%s)",
                    addr, port,
                    c->restr.flags & SG_RESTRICT_PORT_FORWARDING ? "no port forwarding"
                                                                  : "permitlisten");
            goto refuse;
        }
        if (!tunnel_policy_allows(c, 1, addr, port))
            goto refuse;
        p = route_plugin(c, SG_ROUTE_TCPIP_FORWARD, NULL, NULL, &idx);
        if (!p) {
            SG_INFO(c->id, "no route for tcpip-forward %s:%d (user %s): refused", addr, port,
                    c->user);
            goto refuse;
        }
    }
    if (!p->desc->on_tunnel_requested)
        goto refuse;
    struct sg_request *req = sg_request_new(c, SG_REQ_TUNNEL, NULL, p);
    if (!req)
        goto refuse;
    req->tunnel_address = strdup(addr);
    req->tunnel_port = port;
    req->tunnel_cancel = cancel;
    struct sg_ev_tunnel ev = {.size = sizeof(ev),
                              .req = sg_request_handle(req),
                              .direction = 1,
                              .address = addr,
                              .port = port,
                              .cancel = cancel,
                              .routed = true,
                              .route_config = route_config(idx)};
    int r = p->desc->on_tunnel_requested(p->state, (sg_conn *)c, &ev);
    if (r == SG_AGAIN) {
        req->msg = m;
        c->lane_busy[SG_LANE_GLOBAL] = true;
        if (f) {
            free(f->address);
            free(f);
            fire_tunnel_closed(c, 1, addr, port);
        }
        sg_request_asked(req);
        return;
    }
    sg_request_free(req);
    forward_decided(c, m, p, r < 0 ? SG_DENY : r, addr, ev.port, cancel);
    ssh_message_free(m);
    if (f) {
        fire_tunnel_closed(c, 1, f->address, f->port);
        free(f->address);
        free(f);
    }
    return;
refuse:
    if (f) {
        free(f->address);
        free(f);
    }
    ssh_message_reply_default(m);
    ssh_message_free(m);
}

void sg_tunnel_closed(struct sg_conn *c, int direction, const char *addr, int port)
{
    if (direction == 1) {
        struct sg_forward *f = forward_take(c, addr, port);
        if (!f)
            return;
        free(f->address);
        free(f);
    }
    fire_tunnel_closed(c, direction, addr, port);
}

void sg_forwards_teardown(struct sg_conn *c)
{
    while (c->forwards) {
        struct sg_forward *f = c->forwards;
        c->forwards = f->next;
        fire_tunnel_closed(c, 1, f->address, f->port);
        free(f->address);
        free(f);
    }
}

/* ---- completion (SG_AGAIN) -------------------------------------------------------- */
void sg_channel_complete(struct sg_request *r, int result, const struct sg_completion *extra)
{
    struct sg_conn *c = r->conn;
    if (!c || c->closing || !r->msg) {
        sg_request_free(r);
        return;
    }
    if (result < 0)
        result = SG_DENY;
    ssh_message m = r->msg;
    r->msg = NULL;
    struct sg_chan *h = r->chan;
    enum sg_req_kind kind = r->kind;
    struct sg_plugin_ref *p = r->plugin;
    char *addr = r->tunnel_address ? strdup(r->tunnel_address) : NULL;
    int port = r->tunnel_port;
    bool cancel = r->tunnel_cancel;
    sg_request_free(r);
    c->dispatch_depth++;
    switch (kind) {
    case SG_REQ_CHAN_OPEN:
        if (h && result == SG_OK && accept_open(h, m)) {
            fire_opened(h);
        } else {
            refuse_open(c, m, extra && SG_HAS_FIELD(extra, deny_reason) ? extra->deny_reason : 0);
            if (h) {
                fire_closed(h);
                chan_free(h);
            }
        }
        break;
    case SG_REQ_CHAN_REQUEST:
        if (h) {
            request_decided(h, m, result);
            release_chan_lane(h);
        } else {
            ssh_message_reply_default(m);
        }
        break;
    case SG_REQ_TUNNEL:
        if (extra && SG_HAS_FIELD(extra, port) && extra->port > 0 && port == 0)
            port = extra->port;
        forward_decided(c, m, p, result, addr ? addr : "", port, cancel);
        sg_lane_release(c, SG_LANE_GLOBAL);
        break;
    default:
        ssh_message_reply_default(m);
        break;
    }
    ssh_message_free(m);
    free(addr);
    c->dispatch_depth--;
    sg_conn_touch(c);
}

/* ---- host calls ----------------------------------------------------------------------- */
size_t sg_chan_send_room(struct sg_chan *h)
{
    if (!h->ch || !h->opened || h->eof_sent || h->close_sent || h->conn->closing ||
        h->remote_closed)
        return 0;
    /* bound what libssh buffers for the socket: allow up to SG_OUT_LIMIT
     * written since the output was last seen drained */
    if (h->conn->unflushed >= SG_OUT_LIMIT)
        return 0;
    size_t room = ssh_channel_window_size(h->ch);
    size_t out = SG_OUT_LIMIT - h->conn->unflushed;
    return room < out ? room : out;
}

long sg_chan_send(struct sg_chan *h, int stream, const void *data, size_t len)
{
    if (!h->ch || !h->opened || h->eof_sent || h->close_sent || h->conn->closing ||
        h->remote_closed)
        return SG_E_STATE;
    if (len == 0)
        return 0;
    size_t room = sg_chan_send_room(h);
    if (room == 0) {
        h->blocked = true;
        sg_conn_touch(h->conn);
        return 0;
    }
    size_t n = len < room ? len : room;
    if (n > 1u << 20)
        n = 1u << 20;
    int rc;
    LIBSSH_CALL(h->conn, rc = stream == SG_STDERR
                                  ? ssh_channel_write_stderr(h->ch, data, (uint32_t)n)
                                  : ssh_channel_write(h->ch, data, (uint32_t)n));
    if (rc < 0)
        return SG_E_IO;
    h->bytes_out += (uint64_t)rc;
    h->conn->unflushed += (size_t)rc;
    h->conn->last_activity_ms = sg_now_ms();
    if ((size_t)rc < len)
        h->blocked = true;
    sg_conn_touch(h->conn);
    return rc;
}

int sg_chan_send_eof(struct sg_chan *h)
{
    if (!h->ch || !h->opened || h->close_sent)
        return SG_E_STATE;
    if (h->eof_sent)
        return SG_OK;
    h->eof_sent = true;
    sg_conn_touch(h->conn);
    int rc;
    LIBSSH_CALL(h->conn, rc = ssh_channel_send_eof(h->ch));
    return rc == SSH_OK ? SG_OK : SG_E_IO;
}

int sg_chan_exit_status(struct sg_chan *h, int status)
{
    if (!h->ch || !h->opened || h->close_sent || h->remote_closed)
        return SG_E_STATE;
    int rc;
    LIBSSH_CALL(h->conn, rc = ssh_channel_request_send_exit_status(h->ch, status));
    return rc == SSH_OK ? SG_OK : SG_E_IO;
}

int sg_chan_exit_signal(struct sg_chan *h, const char *sig, bool core, const char *msg)
{
    if (!h->ch || !h->opened || h->close_sent || h->remote_closed)
        return SG_E_STATE;
    int rc;
    LIBSSH_CALL(h->conn, rc = ssh_channel_request_send_exit_signal(h->ch, sig, core ? 1 : 0,
                                                                   msg ? msg : "", ""));
    return rc == SSH_OK ? SG_OK : SG_E_IO;
}

int sg_chan_close(struct sg_chan *h)
{
    if (!h->ch || !h->opened) { /* not open yet: nothing to tell the client */
        return SG_E_STATE;
    }
    if (h->close_sent)
        return SG_OK;
    if (!h->eof_sent && !h->remote_closed)
        sg_chan_send_eof(h);
    h->close_sent = true;
    sg_conn_touch(h->conn);
    int rc;
    LIBSSH_CALL(h->conn, rc = ssh_channel_close(h->ch));
    return rc == SSH_OK ? SG_OK : SG_E_IO;
}

void sg_chan_pause(struct sg_chan *h, bool paused)
{
    if (h->paused == paused)
        return;
    h->paused = paused;
    if (!paused)
        h->resume_pending = true;
    sg_conn_touch(h->conn);
}

int sg_chan_set_record_length(struct sg_chan *h, size_t n)
{
    if (n > (1u << 20))
        return SG_E_INVAL;
    h->record_length = n;
    if (n && carry_reserve(h, n) < 0)
        return SG_E_NOMEM;
    h->resume_pending = true; /* what carry holds may now make complete frames */
    sg_conn_touch(h->conn);
    return SG_OK;
}

int sg_chan_set_eol(struct sg_chan *h, const char *eol, size_t eol_len, size_t max_len)
{
    free(h->eol);
    h->eol = NULL;
    h->eol_len = 0;
    if (!eol || eol_len == 0)
        return SG_OK;
    if (max_len == 0 || max_len > (1u << 20) || eol_len > 64)
        return SG_E_INVAL;
    h->eol = malloc(eol_len);
    if (!h->eol)
        return SG_E_NOMEM;
    memcpy(h->eol, eol, eol_len);
    h->eol_len = eol_len;
    h->max_len = max_len;
    h->resume_pending = true;
    sg_conn_touch(h->conn);
    return carry_reserve(h, max_len) < 0 ? SG_E_NOMEM : SG_OK;
}

int sg_chan_open_forwarded(struct sg_conn *c, struct sg_plugin_ref *p, const char *addr, int port,
                           const char *orig, int oport, struct sg_chan **out)
{
    if (c->closing || !c->authenticated)
        return SG_E_STATE;
    if (c->n_chans >= (size_t)sg_w->cfg->limits.max_channels)
        return SG_E_LIMIT;
    struct sg_chan *h = chan_new(c, "forwarded-tcpip");
    if (!h)
        return SG_E_NOMEM;
    h->owner = p;
    h->ch = ssh_channel_new(c->ssh);
    h->fwd_addr = strdup(addr ? addr : "");
    h->orig_addr = strdup(orig ? orig : "");
    h->fwd_port = port;
    h->orig_port = oport;
    if (!h->ch || !h->fwd_addr || !h->orig_addr) {
        if (h->ch)
            ssh_channel_free(h->ch);
        h->ch = NULL;
        chan_free(h);
        return SG_E_NOMEM;
    }
    set_callbacks(h);
    h->fwd_opening = true;
    *out = h;
    int rc;
    LIBSSH_CALL(c, rc = ssh_channel_open_reverse_forward(h->ch, h->fwd_addr, h->fwd_port,
                                                         h->orig_addr, h->orig_port));
    if (rc == SSH_OK) {
        h->fwd_opening = false;
        h->opened = true;
    } else if (rc == SSH_ERROR) {
        h->fwd_opening = false;
        h->fwd_failed = true;
    }
    sg_conn_touch(c);
    return SG_OK;
}

/* ---- after dispatch ------------------------------------------------------------------------ */
/* Resume after a pause. libssh's ssh_channel_read() reopens the window
 * whenever it is below half, whatever is still buffered, so reading a little
 * at a time would let a fast peer grow libssh's buffer without bound. So:
 * first hand out what the input queue holds; only when it is empty, take
 * everything libssh buffered at once into the queue. While the queue is not
 * empty, data_cb keeps new data in libssh (window closing). Per channel that
 * bounds input to about two windows (~3 MB). */
static bool inq_deliver(struct sg_chan *h)
{
    while (h->inq_off < h->inq_len && !h->paused && !h->conn->closing && !h->finalized) {
        size_t n = h->inq_len - h->inq_off;
        if (n > RESUME_CHUNK)
            n = RESUME_CHUNK;
        size_t took = deliver(h, h->inq + h->inq_off, n, false);
        if (took == 0)
            break;
        h->inq_off += took;
    }
    if (h->inq_off == h->inq_len) {
        h->inq_off = h->inq_len = 0;
        if (h->inq_cap > 4 * RESUME_CHUNK) { /* give a burst's memory back */
            free(h->inq);
            h->inq = NULL;
            h->inq_cap = 0;
        }
        return true;
    }
    return false;
}

static void inq_fill(struct sg_chan *h)
{
    for (;;) {
        if (h->inq_cap - h->inq_len < RESUME_CHUNK) {
            size_t cap = h->inq_cap ? h->inq_cap * 2 : 4 * RESUME_CHUNK;
            uint8_t *p = realloc(h->inq, cap);
            if (!p) {
                sg_conn_close(h->conn, SSH2_DISCONNECT_BY_APPLICATION, "out of memory");
                return;
            }
            h->inq = p;
            h->inq_cap = cap;
        }
        int n = ssh_channel_read_nonblocking(h->ch, h->inq + h->inq_len, RESUME_CHUNK, 0);
        h->conn->drain_pending = true; /* the read may have taken in requests */
        sg_conn_touch(h->conn);
        if (n <= 0)
            return;
        h->inq_len += (size_t)n;
        if (h->inq_len >
            2 * SG_WINDOW_LIMIT) { /* cannot happen with a peer that obeys the window */
            sg_conn_close(h->conn, SSH2_DISCONNECT_PROTOCOL_ERROR,
                          "peer sent past the channel window");
            return;
        }
    }
}

static void resume_input(struct sg_chan *h)
{
    h->resume_pending = false;
    if (!h->ch || !h->owner)
        return;
    flush_carry(h, false);
    if (!inq_deliver(h) || h->paused)
        return;
    if (ssh_channel_poll(h->ch, 0) <= 0)
        return;
    inq_fill(h);
    inq_deliver(h);
}

static void fire_eof_in(struct sg_chan *h)
{
    if (h->eof_in_fired || h->paused || !h->owner)
        return;
    /* a last short frame at EOF */
    if (h->carry_len && !h->conn->closing && h->owner->desc->on_channel_data) {
        size_t n = h->carry_len;
        h->carry_len = 0;
        fire_data(h, h->carry, n, false, false);
    }
    h->eof_in_fired = true;
    if (h->owner->desc->on_channel_eof) {
        struct sg_ev_channel_eof ev = {.size = sizeof(ev), .channel_id = h->id};
        h->owner->desc->on_channel_eof(h->owner->state, (sg_chan *)h, &ev);
    }
}

static void chan_after(struct sg_chan *h)
{
    struct sg_conn *c = h->conn;
    if (h->fwd_opening) {
        int rc = ssh_channel_open_reverse_forward(h->ch, h->fwd_addr, h->fwd_port, h->orig_addr,
                                                  h->orig_port);
        c->drain_pending = true;
        if (rc == SSH_OK) {
            h->fwd_opening = false;
            h->opened = true;
        } else if (rc == SSH_ERROR) {
            h->fwd_opening = false;
            h->fwd_failed = true;
        } else {
            return;
        }
    }
    if (h->fwd_failed) {
        SG_VERB(c->id, "forwarded-tcpip to %s:%d refused by the client", h->fwd_addr, h->fwd_port);
        fire_closed(h);
        drop_libssh_channel(c, h);
        chan_free(h);
        return;
    }
    if (h->opened && !h->opened_fired && strcmp(h->type, "forwarded-tcpip") == 0)
        fire_opened(h);
    if (h->pending_signal) {
        char *sig = h->pending_signal;
        h->pending_signal = NULL;
        signal_cb(NULL, h->ch, sig, h);
        free(sig);
    }
    if (h->resume_pending && !h->paused)
        resume_input(h);
    if (h->eof_in && !h->eof_in_fired && !h->paused && h->owner && !c->closing) {
        /* data still queued must reach the owner before EOF */
        if (h->inq_len > h->inq_off || (h->ch && ssh_channel_poll(h->ch, 0) > 0))
            resume_input(h);
        if (!h->paused && h->inq_len == h->inq_off)
            fire_eof_in(h);
    }
    if (h->blocked && !c->closing && sg_chan_send_room(h) > 0) {
        h->blocked = false;
        if (h->owner && h->owner->desc->on_channel_ready_to_send) {
            struct sg_ev_ready_to_send ev = {
                .size = sizeof(ev), .channel_id = h->id, .window = sg_chan_send_room(h)};
            h->owner->desc->on_channel_ready_to_send(h->owner->state, (sg_chan *)h, &ev);
        }
    }
    if (h->remote_closed && !c->closing) {
        if (!h->eof_in_fired && h->owner && !h->paused)
            fire_eof_in(h);
        fire_closed(h);
        if (h->ch) {
            if (!h->close_sent)
                ssh_channel_close(h->ch);
            drop_libssh_channel(c, h);
        }
        chan_free(h);
        return;
    }
    if (!h->owner && h->close_sent && h->ch && ssh_channel_is_closed(h->ch) && !h->opened) {
        chan_free(h);
    }
}

void sg_channels_after_dispatch(struct sg_conn *c)
{
    struct sg_chan *h = c->chans;
    while (h && !c->closing) {
        struct sg_chan *next = h->next;
        chan_after(h);
        h = next;
    }
}

void sg_channels_teardown(struct sg_conn *c)
{
    sg_channels_reap(c, false); /* ssh_free releases them */
    while (c->chans) {
        struct sg_chan *h = c->chans;
        fire_closed(h);
        h->ch = NULL; /* ssh_free releases them */
        chan_free(h);
    }
}
