/* session.c — one SSH connection from accept to close.
 *
 * libssh 0.10.6 is driven in non-blocking "queue" mode: no server callbacks,
 * every request (service, auth, channel open, channel request, global
 * request) is taken with ssh_message_get() after each read and answered by
 * auth.c / channel.c — which lets a plugin answer later (SG_AGAIN): the
 * message is simply kept until host->complete. Channel data, EOF, close and
 * signals come through per-channel callbacks (channel.c). */
#include "session.h"
#include "kexwatch.h"
#include "readahead.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "auth.h"
#include "channel.h"
#include "log.h"

struct sg_worker *sg_w;

#define MAX_HELD 256

/* ---- event fan-out --------------------------------------------------------- */
void sg_fire_status(struct sg_conn *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    SG_VERB(c->id, "%s", buf);
    struct sg_ev_status ev = {.size = sizeof(ev), .message = buf};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_status)
            p->desc->on_status(p->state, (sg_conn *)c, &ev);
    }
}

void sg_fire_error(struct sg_conn *c, int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    SG_INFO(c->id, "error: %s", buf);
    struct sg_ev_error ev = {.size = sizeof(ev), .error_code = code, .description = buf};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_error)
            p->desc->on_error(p->state, (sg_conn *)c, &ev);
    }
}

bool sg_conn_has_group(void *conn, const char *group)
{
    struct sg_conn *c = conn;
    for (size_t i = 0; i < c->n_groups; i++)
        if (strcmp(c->groups[i], group) == 0)
            return true;
    return false;
}

/* ---- lanes ------------------------------------------------------------------ */
bool sg_lane_hold(struct sg_conn *c, enum sg_lane lane, ssh_message m)
{
    if (!c->lane_busy[lane])
        return false;
    if (c->n_held >= MAX_HELD) {
        ssh_message_free(m);
        sg_conn_close(c, SSH2_DISCONNECT_PROTOCOL_ERROR, "too many requests waiting for an answer");
        return true;
    }
    struct sg_held *h = calloc(1, sizeof(*h));
    if (!h) {
        ssh_message_free(m);
        sg_conn_close(c, SSH2_DISCONNECT_BY_APPLICATION, "out of memory");
        return true;
    }
    h->msg = m;
    if (c->held_tail[lane])
        c->held_tail[lane]->next = h;
    else
        c->held_head[lane] = h;
    c->held_tail[lane] = h;
    c->n_held++;
    return true;
}

void sg_lane_release(struct sg_conn *c, enum sg_lane lane)
{
    c->lane_busy[lane] = false;
    while (!c->lane_busy[lane] && c->held_head[lane] && !c->closing) {
        struct sg_held *h = c->held_head[lane];
        c->held_head[lane] = h->next;
        if (!h->next)
            c->held_tail[lane] = NULL;
        c->n_held--;
        ssh_message m = h->msg;
        free(h);
        sg_handle_message(c, m);
    }
    sg_conn_touch(c);
}

static void free_held(struct sg_conn *c)
{
    for (int lane = 0; lane < 2; lane++) {
        while (c->held_head[lane]) {
            struct sg_held *h = c->held_head[lane];
            c->held_head[lane] = h->next;
            ssh_message_free(h->msg);
            free(h);
        }
        c->held_tail[lane] = NULL;
    }
    c->n_held = 0;
}

/* ---- dispatch ------------------------------------------------------------------ */
static void service_request(struct sg_conn *c, ssh_message m)
{
    const char *svc = ssh_message_service_service(m);
    struct sg_ev_service_request ev = {.size = sizeof(ev), .service = svc ? svc : ""};
    bool deny = !svc || (strcmp(svc, "ssh-userauth") && strcmp(svc, "ssh-connection"));
    for (size_t i = 0; i < sg_w->plugins.n && !deny; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_service_request &&
            p->desc->on_service_request(p->state, (sg_conn *)c, &ev) == SG_DENY)
            deny = true;
    }
    if (deny) {
        ssh_message_free(m);
        sg_conn_close(c, SSH2_DISCONNECT_SERVICE_NOT_AVAILABLE, "service not available");
        return;
    }
    ssh_message_service_reply_success(m);
    ssh_message_free(m);
}

static void global_request(struct sg_conn *c, ssh_message m)
{
    int sub = ssh_message_subtype(m);
    if (sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD || sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
        if (sg_lane_hold(c, SG_LANE_GLOBAL, m))
            return;
        sg_global_forward_request(c, m);
        return;
    }
    /* keepalive@openssh.com and unknown requests: failure (= "alive" for keepalive) */
    ssh_message_reply_default(m);
    ssh_message_free(m);
}

void sg_handle_message(struct sg_conn *c, ssh_message m)
{
    if (c->closing) {
        ssh_message_free(m);
        return;
    }
    if (!c->kex_done) {
        c->kex_done = true; /* 0.10.6: a request means the key exchange finished */
    }
    switch (ssh_message_type(m)) {
    case SSH_REQUEST_SERVICE:
        service_request(c, m);
        break;
    case SSH_REQUEST_AUTH:
        if (sg_lane_hold(c, SG_LANE_AUTH, m))
            return;
        sg_auth_message(c, m);
        break;
    case SSH_REQUEST_CHANNEL_OPEN:
        if (!c->authenticated)
            goto refuse;
        sg_channel_open_message(c, m);
        break;
    case SSH_REQUEST_CHANNEL:
        if (!c->authenticated)
            goto refuse;
        sg_channel_request_message(c, m);
        break;
    case SSH_REQUEST_GLOBAL:
        if (!c->authenticated)
            goto refuse;
        global_request(c, m);
        break;
    default:
        goto refuse;
    }
    return;
refuse:
    ssh_message_reply_default(m);
    ssh_message_free(m);
}

static bool client_version_ok(struct sg_conn *c);

static void fire_connected(struct sg_conn *c)
{
    if (c->connected_fired)
        return;
    c->connected_fired = true;
    if (!client_version_ok(c)) {
        SG_INFO(c->id, "client version '%s' does not match client_version_pattern",
                ssh_get_clientbanner(c->ssh) ? ssh_get_clientbanner(c->ssh) : "?");
        sg_conn_close(c, SSH2_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED,
                      "client version not allowed");
        return;
    }
    const char *kex = ssh_get_kex_algo(c->ssh);
    const char *cin = ssh_get_cipher_in(c->ssh), *mac = ssh_get_hmac_in(c->ssh);
    char desc[256];
    snprintf(desc, sizeof(desc), "kex done: %s %s %s", kex ? kex : "?", cin ? cin : "?",
             mac ? mac : "?");
    SG_INFO(c->id, "connection from %s port %d (%s), %s", c->peer_ip, c->peer_port,
            ssh_get_clientbanner(c->ssh) ? ssh_get_clientbanner(c->ssh) : "?", desc);
    struct sg_ev_connected ev = {.size = sizeof(ev), .status_code = 0, .description = desc};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_connected)
            p->desc->on_connected(p->state, (sg_conn *)c, &ev);
    }
    sg_fire_status(c, "%s", desc);
}

/* Handle the requests libssh queued, at most 256 per call (fairness between
 * connections). What is left is drained in the next rounds (drain_pending),
 * and conn_io_cb reads no input until the queue is empty: libssh's queue has
 * no bound of its own, so a client pipelining small requests would
 * otherwise grow it by thousands per read while only 256 were handled.
 * (ssh_message_get on an empty queue polls the socket and may read and
 * queue more: that is bounded by the same budget.) */
static void drain_messages(struct sg_conn *c)
{
    int budget = 256;
    c->msgq_empty = false;
    while (!c->closing) {
        if (budget-- == 0) {
            c->drain_pending = true;
            sg_conn_touch(c);
            return;
        }
        ssh_message m = ssh_message_get(c->ssh);
        if (!m) {
            c->msgq_empty = true;
            if (c->n_ended_chans)
                sg_channels_reap(c, true); /* no queued request points at them now */
            return;
        }
        if (!c->connected_fired)
            fire_connected(c);
        sg_handle_message(c, m);
    }
}

static bool client_version_ok(struct sg_conn *c)
{
    const char *pat = sg_w->cfg->client_version_pattern;
    if (!pat || !*pat)
        return true;
    const char *v = ssh_get_clientbanner(c->ssh);
    return v && fnmatch(pat, v, 0) == 0;
}

/* RFC 4253 4.2: the version line must not contain NUL. libssh 0.10.6 cuts
 * the string at the NUL without noticing, so look at the first line while it
 * is still in the kernel. Returns false when the connection must go. */
static bool version_line_ok(struct sg_conn *c, int fd)
{
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0)
        return true; /* nothing yet, or EOF/error: libssh will see it */
    size_t off = 0;
    while (off < (size_t)n) {
        char *nl = memchr(buf + off, '\n', (size_t)n - off);
        size_t end = nl ? (size_t)(nl - buf) : (size_t)n;
        bool is_version = end - off >= 4 && memcmp(buf + off, "SSH-", 4) == 0;
        if (is_version && memchr(buf + off, '\0', end - off))
            return false;
        if (is_version && nl) {
            c->version_checked = true;
            return true;
        }
        if (!nl)
            break;
        off = end + 1;
    }
    if ((size_t)n == sizeof(buf))
        c->version_checked = true; /* no version line in the first KiB: libssh decides */
    return true;
}

static void conn_io_cb(int fd, uint32_t events, void *arg);

/* readahead.c hands over the client's bytes as libssh reads them, until
 * the client's KEXINIT was judged (kexwatch.h) */
static int kex_observe(void *arg, const unsigned char *data, size_t len)
{
    struct sg_conn *c = arg;
    if (!c->kexwatch)
        return 1;
    enum sg_kexwatch_result r = sg_kexwatch_feed(c->kexwatch, data, len);
    if (r == SG_KEXWATCH_MORE)
        return 0;
    free(c->kexwatch);
    c->kexwatch = NULL;
    if (r == SG_KEXWATCH_VIOLATION) {
        c->kex_violation = true;
        return -1;
    }
    return 1;
}

/* After a key-exchange step: true (and the connection closing) when the
 * strict kex rule was broken */
static bool kex_violated(struct sg_conn *c)
{
    if (!c->kex_violation)
        return false;
    SG_INFO(c->id, "strict kex: %s sent a packet before its KEXINIT: closed", c->peer_ip);
    sg_conn_close(c, SSH2_DISCONNECT_KEY_EXCHANGE_FAILED, "strict kex: packet before KEXINIT");
    sg_conn_touch(c);
    return true;
}

/* epoll does not see bytes already read ahead into user space */
static void readahead_cb(void *arg)
{
    struct sg_conn *c = arg;
    c->readahead_timer = NULL;
    conn_io_cb(c->watch_fd, EPOLLIN, c);
}

static void conn_io_cb(int fd, uint32_t events, void *arg)
{
    struct sg_conn *c = arg;
    if (c->closing)
        return;
    if (!c->version_checked && !c->kex_done && !version_line_ok(c, c->watch_fd)) {
        SG_INFO(c->id, "NUL byte in the client version line from %s: closed", c->peer_ip);
        sg_conn_close(c, SSH2_DISCONNECT_PROTOCOL_ERROR, "invalid version line");
        sg_conn_touch(c);
        return;
    }
    c->last_rx_ms = sg_now_ms();
    c->dispatch_depth++;
    if (!c->kex_done) {
        int rc = ssh_handle_key_exchange(c->ssh);
        if (kex_violated(c))
            goto out;
        if (rc == SSH_OK) {
            c->kex_done = true;
        } else if (rc == SSH_ERROR) {
            const char *e = ssh_get_error(c->ssh);
            sg_conn_close(c, -1, e && *e ? e : "key exchange failed");
            goto out;
        }
        if (c->kex_done)
            fire_connected(c);
    } else {
        /* libssh takes at most 4 KiB per poll callback; readahead.c reads
         * the socket in large blocks underneath: take up to 256 KiB per
         * readiness event, and come back for what was read ahead */
        if (!c->readahead) {
            c->readahead = sg_readahead_attach(ssh_get_fd(c->ssh)); /* dropped by close() */
            free(c->kexwatch);
            c->kexwatch = NULL;
        }
        if (!c->msgq_empty)
            drain_messages(c); /* requests left from an earlier round come first */
        for (int i = 0; i < 64 && !c->closing && c->msgq_empty; i++) {
            int rc = ssh_event_dopoll(c->event, 0);
            /* at most 8 reads (32 KiB) of requests queued; not after every
             * read: a drain that empties the queue costs libssh a poll(2) */
            if (i % 8 == 7)
                drain_messages(c);
            if (rc == SSH_ERROR) {
                int st = ssh_get_status(c->ssh);
                if (st & (SSH_CLOSED | SSH_CLOSED_ERROR)) {
                    const char *e = ssh_get_error(c->ssh);
                    sg_conn_close(c, 0, e && *e ? e : "connection closed by peer");
                    goto out;
                }
                break;
            }
            if (rc == SSH_AGAIN)
                break;
        }
    }
    drain_messages(c);
    if (!c->closing && (ssh_get_status(c->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
        const char *e = ssh_get_error(c->ssh);
        sg_conn_close(c, 0, e && *e ? e : "connection closed by peer");
    }
out:
    c->dispatch_depth--;
    sg_conn_touch(c);
}

/* ---- timers ----------------------------------------------------------------- */
static void grace_cb(void *arg)
{
    struct sg_conn *c = arg;
    c->grace_timer = NULL;
    if (!c->authenticated) {
        SG_INFO(c->id, "login grace time (%ds) exceeded for %s", sg_w->cfg->limits.login_grace_time,
                c->peer_ip);
        sg_conn_close(c, SSH2_DISCONNECT_BY_APPLICATION, "login grace time exceeded");
    }
}

static void idle_cb(void *arg)
{
    struct sg_conn *c = arg;
    c->idle_timer = NULL;
    uint64_t idle = (uint64_t)sg_w->cfg->limits.idle_timeout * 1000, now = sg_now_ms();
    if (now - c->last_activity_ms >= idle) {
        sg_conn_close(c, SSH2_DISCONNECT_BY_APPLICATION, "idle timeout");
        return;
    }
    c->idle_timer = sg_timer_add(sg_w->loop, idle - (now - c->last_activity_ms), idle_cb, c);
}

static void keepalive_cb(void *arg)
{
    struct sg_conn *c = arg;
    c->keepalive_timer = NULL;
    uint64_t iv = (uint64_t)sg_w->cfg->keepalive.interval * 1000, now = sg_now_ms();
    uint64_t max =
        iv * (uint64_t)(sg_w->cfg->keepalive.count_max > 0 ? sg_w->cfg->keepalive.count_max : 1);
    if (now - c->last_rx_ms > max + iv / 2) {
        sg_conn_close(c, SSH2_DISCONNECT_BY_APPLICATION, "keepalive timeout");
        return;
    }
    if (c->kex_done && now - c->last_rx_ms >= iv) {
        ssh_send_keepalive(c->ssh);
        sg_conn_touch(c);
    }
    c->keepalive_timer = sg_timer_add(sg_w->loop, iv, keepalive_cb, c);
}

/* ---- accept ---------------------------------------------------------------------- */
static void tcp_options(int fd)
{
    const struct sg_config *cfg = sg_w->cfg;
    int one = 1;
    if (cfg->tcp.nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cfg->tcp.keepalive_time > 0) {
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &cfg->tcp.keepalive_time, sizeof(int));
        if (cfg->tcp.keepalive_interval > 0)
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &cfg->tcp.keepalive_interval, sizeof(int));
    }
    if (cfg->tcp.rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg->tcp.rcvbuf, sizeof(int));
    if (cfg->tcp.sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cfg->tcp.sndbuf, sizeof(int));
}

static void addr_text(const struct sockaddr *sa, socklen_t sl, char *ip, size_t n, int *port)
{
    char serv[16];
    if (getnameinfo(sa, sl, ip, (socklen_t)n, serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
        snprintf(ip, n, "?");
    *port = atoi(serv);
}

static int join_list(const struct sg_strlist *l, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n; i++) {
        int w = snprintf(buf + off, n - off, "%s%s", i ? "," : "", l->v[i]);
        if (w < 0 || (size_t)w >= n - off)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int session_options(struct sg_conn *c)
{
    const struct sg_config *cfg = sg_w->cfg;
    char buf[1024];
    if (join_list(&cfg->algorithms.compression, buf, sizeof(buf)) == 0 && buf[0]) {
        if (ssh_options_set(c->ssh, SSH_OPTIONS_COMPRESSION_C_S, buf) < 0 ||
            ssh_options_set(c->ssh, SSH_OPTIONS_COMPRESSION_S_C, buf) < 0)
            return -1;
    }
    uint64_t rekey = cfg->rekey.bytes;
    if (rekey && ssh_options_set(c->ssh, SSH_OPTIONS_REKEY_DATA, &rekey) < 0)
        return -1;
    uint32_t secs = (uint32_t)cfg->rekey.seconds;
    if (secs && ssh_options_set(c->ssh, SSH_OPTIONS_REKEY_TIME, &secs) < 0)
        return -1;
    ssh_set_auth_methods(c->ssh, sg_auth_methods_mask(cfg));
    return 0;
}

static void fire_connection_request_denied_cleanup(int fd)
{
    close(fd);
}

void sg_session_accept(int fd, const struct sockaddr *sa, socklen_t sl)
{
    const struct sg_config *cfg = sg_w->cfg;
    char ip[64];
    int port;
    addr_text(sa, sl, ip, sizeof(ip), &port);
    enum sg_admit a = sg_admit(sg_w->adm, cfg, sa, ip);
    if (a != SG_ADMIT_OK) {
        SG_INFO(0, "refused connection from %s port %d: %s", ip, port, sg_admit_str(a));
        fire_connection_request_denied_cleanup(fd);
        return;
    }
    struct sockaddr_storage local;
    socklen_t ll = sizeof(local);
    char lip[64] = "?";
    int lport = 0;
    if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
        addr_text((struct sockaddr *)&local, ll, lip, sizeof(lip), &lport);
    struct sg_ev_connection_request cr = {
        .size = sizeof(cr), .address = ip, .port = port, .local_address = lip, .local_port = lport};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->desc->on_connection_request &&
            p->desc->on_connection_request(p->state, &cr) == SG_DENY) {
            SG_INFO(0, "connection from %s port %d denied by plugin %s", ip, port, p->name);
            sg_admission_release(sg_w->adm, sa, false);
            close(fd);
            return;
        }
    }
    struct sg_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        sg_admission_release(sg_w->adm, sa, false);
        close(fd);
        return;
    }
    c->plugin_ctx = calloc(sg_w->plugins.n ? sg_w->plugins.n : 1, sizeof(void *));
    c->id = ((uint64_t)(sg_w->slot + 1) << 32) | ++sg_w->next_id;
    c->fd = fd;
    c->watch_fd = -1;
    c->admitted = true;
    memcpy(&c->peer, sa, sl < sizeof(c->peer) ? sl : sizeof(c->peer));
    snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
    c->peer_port = port;
    snprintf(c->local_ip, sizeof(c->local_ip), "%s", lip);
    c->local_port = lport;
    c->start_ms = c->last_rx_ms = c->last_activity_ms = sg_now_ms();
    /* on the list first: sg_conn_close/teardown work from here on */
    c->next = sg_w->conns;
    if (sg_w->conns)
        sg_w->conns->prev = c;
    sg_w->conns = c;
    sg_w->n_conns++;
    if (!c->plugin_ctx) {
        sg_conn_close(c, -1, "out of memory");
        sg_conn_touch(c);
        return;
    }
    tcp_options(fd);
    c->ssh = ssh_new();
    if (!c->ssh || ssh_bind_accept_fd(sg_w->bind, c->ssh, fd) != SSH_OK) {
        SG_ERR(c->id, "cannot set up SSH session: %s", c->ssh ? ssh_get_error(c->ssh) : "ssh_new");
        if (!c->ssh)
            close(fd);
        sg_conn_close(c, -1, "session setup failed");
        sg_conn_touch(c);
        return;
    }
    if (session_options(c) < 0) {
        SG_ERR(c->id, "session options: %s", ssh_get_error(c->ssh));
        sg_conn_close(c, -1, "session setup failed");
        sg_conn_touch(c);
        return;
    }
    ssh_set_blocking(c->ssh, 0);
    if (!version_line_ok(c, fd)) { /* the client may have sent it already */
        SG_INFO(c->id, "NUL byte in the client version line from %s: closed", c->peer_ip);
        sg_conn_close(c, SSH2_DISCONNECT_PROTOCOL_ERROR, "invalid version line");
        sg_conn_touch(c);
        return;
    }
    if ((c->kexwatch = malloc(sizeof(*c->kexwatch)))) {
        sg_kexwatch_init(c->kexwatch);
        if (!sg_readahead_observe(fd, kex_observe, c)) {
            free(c->kexwatch);
            c->kexwatch = NULL;
        }
    }
    int rc = ssh_handle_key_exchange(c->ssh); /* sends our version and KEXINIT */
    if (kex_violated(c))
        return;
    c->event = ssh_event_new();
    if (rc == SSH_ERROR || !c->event || ssh_event_add_session(c->event, c->ssh) != SSH_OK) {
        sg_conn_close(c, -1, rc == SSH_ERROR ? ssh_get_error(c->ssh) : "event setup failed");
        sg_conn_touch(c);
        return;
    }
    if (rc == SSH_OK)
        c->kex_done = true;
    /* epoll watches a private duplicate: libssh closes the session socket by
     * itself on some write errors, and the fd number may then be reused by
     * the next accept before our teardown removes the registration */
    c->watch_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    c->io =
        c->watch_fd >= 0 ? sg_io_add(sg_w->loop, c->watch_fd, EPOLLIN, conn_io_cb, c, false) : NULL;
    if (!c->io) {
        sg_conn_close(c, -1, "epoll");
        sg_conn_touch(c);
        return;
    }
    if (cfg->limits.login_grace_time > 0)
        c->grace_timer =
            sg_timer_add(sg_w->loop, (uint64_t)cfg->limits.login_grace_time * 1000, grace_cb, c);
    if (cfg->limits.idle_timeout > 0)
        c->idle_timer =
            sg_timer_add(sg_w->loop, (uint64_t)cfg->limits.idle_timeout * 1000, idle_cb, c);
    if (cfg->keepalive.interval > 0)
        c->keepalive_timer =
            sg_timer_add(sg_w->loop, (uint64_t)cfg->keepalive.interval * 1000, keepalive_cb, c);
    SG_VERB(c->id, "accepted %s port %d on %s port %d", ip, port, lip, lport);
    sg_conn_touch(c);
}

/* ---- close -------------------------------------------------------------------- */
void sg_conn_close(struct sg_conn *c, int code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_code = code;
    c->close_reason = strdup(reason ? reason : "closed");
    sg_conn_touch(c);
}

void sg_conn_touch(struct sg_conn *c)
{
    if (c->is_dirty)
        return;
    c->is_dirty = true;
    c->next_dirty = sg_w->dirty;
    sg_w->dirty = c;
}

static void teardown(struct sg_conn *c)
{
    const char *reason = c->close_reason ? c->close_reason : "closed";
    if (c->grace_timer)
        sg_timer_cancel(sg_w->loop, c->grace_timer);
    if (c->idle_timer)
        sg_timer_cancel(sg_w->loop, c->idle_timer);
    if (c->keepalive_timer)
        sg_timer_cancel(sg_w->loop, c->keepalive_timer);
    if (c->readahead_timer)
        sg_timer_cancel(sg_w->loop, c->readahead_timer);
    c->grace_timer = c->idle_timer = c->keepalive_timer = c->readahead_timer = NULL;
    sg_channels_teardown(c);
    sg_forwards_teardown(c);
    sg_auth_teardown(c);
    if (c->connected_fired || c->kex_done) {
        struct sg_ev_disconnected ev = {.size = sizeof(ev),
                                        .status_code = c->close_code > 0 ? c->close_code : 0,
                                        .description = reason};
        for (size_t i = 0; i < sg_w->plugins.n; i++) {
            struct sg_plugin_ref *p = &sg_w->plugins.v[i];
            if (p->desc->on_disconnected)
                p->desc->on_disconnected(p->state, (sg_conn *)c, &ev);
        }
    }
    SG_INFO(c->id, "closed %s port %d%s%s: %s", c->peer_ip, c->peer_port, c->user ? " user " : "",
            c->user ? c->user : "", reason);
    /* pending decisions end here; a plugin's later complete() finds its
     * handle stale and is ignored */
    sg_requests_free_conn(c);
    free_held(c);
    sg_readahead_unobserve(c->fd, c); /* no-op if libssh closed it and the number moved on */
    free(c->kexwatch);
    c->kexwatch = NULL;
    if (c->io)
        sg_io_del(c->io);
    if (c->watch_fd >= 0)
        close(c->watch_fd);
    if (c->event) {
        if (c->ssh)
            ssh_event_remove_session(c->event, c->ssh);
        ssh_event_free(c->event);
    }
    if (c->ssh) {
        if (ssh_is_connected(c->ssh)) {
            ssh_session_set_disconnect_message(c->ssh, reason);
            ssh_disconnect(c->ssh);
        }
        ssh_free(c->ssh);
    }
    if (c->admitted)
        sg_admission_release(sg_w->adm, (struct sockaddr *)&c->peer, c->authenticated);
    if (c->prev)
        c->prev->next = c->next;
    else
        sg_w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sg_w->n_conns--;
    for (size_t i = 0; i < c->n_groups; i++)
        free(c->groups[i]);
    free(c->groups);
    for (size_t i = 0; i < c->n_attrs * 2; i++)
        free(c->attrs[i]);
    free(c->attrs);
    sg_restrict_clear(&c->restr);
    free(c->plugin_ctx);
    free(c->user);
    free(c->auth_method);
    free(c->banner);
    free(c->close_reason);
    free(c);
}

static void update_interest(struct sg_conn *c)
{
    if (!c->io || !c->ssh)
        return;
    /* Bytes read ahead into user space do not wake epoll. libssh reads the
     * socket in more places than conn_io_cb (a plugin's write flushes, a
     * resumed channel polls): whatever was left, come back for it. */
    if (c->readahead && !c->readahead_timer && sg_readahead_pending(ssh_get_fd(c->ssh)) > 0)
        c->readahead_timer = sg_timer_add(sg_w->loop, 0, readahead_cb, c);
    uint32_t want = EPOLLIN;
    if (ssh_get_poll_flags(c->ssh) & SSH_WRITE_PENDING)
        want |= EPOLLOUT;
    else if (c->unflushed) {
        c->unflushed = 0; /* drained: blocked channels may go on */
        for (struct sg_chan *h = c->chans; h; h = h->next)
            if (h->blocked) {
                sg_conn_touch(c);
                break;
            }
    }
    sg_io_mod(c->io, want);
}

static sg_ltimer *g_more_timer;
static void more_cb(void *arg)
{
    g_more_timer = NULL; /* the after-hook runs next */
}

void sg_sessions_after_dispatch(void *arg)
{
    for (int round = 0; round < 16 && sg_w->dirty; round++) {
        struct sg_conn *list = sg_w->dirty;
        sg_w->dirty = NULL;
        for (struct sg_conn *c = list; c; c->is_dirty = false, c = c->next_dirty)
            ;
        /* second pass: the list links stay valid because nothing is freed
         * until teardown below, and teardown only frees the current entry */
        struct sg_conn *c = list;
        while (c) {
            struct sg_conn *next = c->next_dirty;
            if (c->closing) {
                if (c->is_dirty) { /* re-queued during this round: unlink */
                    struct sg_conn **pp = &sg_w->dirty;
                    while (*pp && *pp != c)
                        pp = &(*pp)->next_dirty;
                    if (*pp)
                        *pp = c->next_dirty;
                }
                teardown(c);
            } else {
                /* requests libssh read during a flush made for a plugin */
                if (c->drain_pending && c->kex_done && c->connected_fired) {
                    c->drain_pending = false;
                    drain_messages(c);
                }
                if (!c->closing)
                    sg_channels_after_dispatch(c);
                if (!c->closing)
                    update_interest(c);
                else
                    sg_conn_touch(c);
            }
            c = next;
        }
    }
    if (sg_w->dirty && !g_more_timer) /* work left after the last round: come back soon */
        g_more_timer = sg_timer_add(sg_w->loop, 0, more_cb, NULL);
    if (sg_w->draining && sg_w->n_conns == 0)
        sg_loop_stop(sg_w->loop);
}

void sg_sessions_close_all(const char *reason)
{
    for (struct sg_conn *c = sg_w->conns; c; c = c->next)
        sg_conn_close(c, SSH2_DISCONNECT_BY_APPLICATION, reason);
}
