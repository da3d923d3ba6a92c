/* tunnel_connect.c — direct-tcpip (ssh -L / -D): resolve off the loop,
 * check every resolved address against the policy, connect non-blocking to
 * exactly a checked address (no second resolution), then hand the socket
 * to a relay and complete the channel open. */
#include "tunnel.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CX_MAX_ADDRS 16

enum { CX_FAILED = -1, CX_PENDING = 0, CX_CONNECTED = 1 };

enum { OPEN_PROHIBITED = 1, OPEN_CONNECT_FAILED = 2, OPEN_RESOURCE_SHORTAGE = 4 };

struct tunnel_connect {
    struct tunnel_chan *tch; /* NULL once the channel went away (or was answered) */
    struct tunnel_state *st;
    sg_request *req;
    const struct tp_policy *pol;
    char name[TP_HOST_MAX + 1];
    int port;
    bool work_pending;
    /* resolver output (written by the pool thread) */
    int gai_err;
    struct tp_addr res[CX_MAX_ADDRS];
    size_t n_res;
    /* permitted candidates, tried in order */
    struct tp_addr cand[CX_MAX_ADDRS];
    size_t n_cand, next;
    int fd;
    sg_watch *w;
    sg_timer *timer;
    int last_err;
    char peer[64];
};

static void cx_drop_io(struct tunnel_connect *cx)
{
    const struct sg_host *host = cx->st->host;
    if (cx->w) {
        host->fd_watch_remove(cx->w);
        cx->w = NULL;
    }
    if (cx->fd >= 0) {
        close(cx->fd);
        cx->fd = -1;
    }
}

/* Free cx unless the resolver still holds it (then resolve_done frees it). */
static void cx_release(struct tunnel_connect *cx)
{
    cx_drop_io(cx);
    if (cx->timer) {
        cx->st->host->timer_cancel(cx->timer);
        cx->timer = NULL;
    }
    cx->tch = NULL;
    if (!cx->work_pending)
        free(cx);
}

static void format_peer(const struct tp_addr *a, int port, char *buf, size_t len)
{
    char ip[64];
    tp_addr_format(a, ip, sizeof(ip));
    snprintf(buf, len, a->family == AF_INET6 ? "[%.46s]:%d" : "%.46s:%d", ip, port);
}

static void connect_watch_cb(int fd, unsigned events, void *arg);

/* Try the candidates from cx->next on. */
static int try_connect(struct tunnel_connect *cx)
{
    while (cx->next < cx->n_cand) {
        const struct tp_addr *a = &cx->cand[cx->next++];
        struct sockaddr_storage ss;
        socklen_t sl;
        int fd;

        if (tp_addr_to_sockaddr(a, cx->port, &ss, &sl) != 0)
            continue;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            cx->last_err = errno;
            continue;
        }
        format_peer(a, cx->port, cx->peer, sizeof(cx->peer));
        cx->fd = fd;
        if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
            return CX_CONNECTED;
        if (errno == EINPROGRESS) {
            cx->w = cx->st->host->fd_watch(fd, SG_WATCH_WRITE, connect_watch_cb, cx);
            if (cx->w)
                return CX_PENDING;
            cx->last_err = ENOMEM;
        } else {
            cx->last_err = errno;
        }
        close(fd);
        cx->fd = -1;
    }
    return CX_FAILED;
}

/* Connected: the socket goes to a relay. Returns SG_OK or an SG_DENY reason
 * (negative) when the relay could not be made. */
static int cx_make_relay(struct tunnel_connect *cx)
{
    struct tunnel_chan *tch = cx->tch;
    const struct tp_policy *pol = cx->pol;
    int one = 1;

    if (cx->w) {
        cx->st->host->fd_watch_remove(cx->w);
        cx->w = NULL;
    }
    setsockopt(cx->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tch->relay = tr_new(cx->st->host, tch->ch, cx->fd, pol->max_buffer, pol->idle_timeout_s);
    if (!tch->relay)
        return -OPEN_RESOURCE_SHORTAGE;
    cx->fd = -1; /* owned by the relay */
    snprintf(tch->peer, sizeof(tch->peer), "%s", cx->peer);
    return SG_OK;
}

static void log_deny(struct tunnel_state *st, struct tunnel_chan *tch, const char *what,
                     const char *why)
{
    st->host->log(st->self, tch->tc->conn, SG_LOG_INFO, "direct-tcpip to %s:%d refused: %s%s%s",
                  tch->host, tch->port, what, *what ? ": " : "", why);
}

/* Answer the pending open with SG_DENY and forget the channel. */
static void finish_deny(struct tunnel_connect *cx, int reason)
{
    struct sg_completion comp;
    struct tunnel_chan *tch = cx->tch;
    sg_request *req = cx->req;
    const struct sg_host *host = cx->st->host;

    memset(&comp, 0, sizeof(comp));
    comp.size = sizeof(comp);
    comp.deny_reason = reason;
    tch->cx = NULL;
    host->chan_set_ctx(tch->ch, NULL);
    tunnel_chan_free(tch);
    cx_release(cx);
    host->complete(req, SG_DENY, &comp);
}

static void finish_connected(struct tunnel_connect *cx)
{
    struct tunnel_chan *tch = cx->tch;
    sg_request *req = cx->req;
    const struct sg_host *host = cx->st->host;
    int rc = cx_make_relay(cx);

    if (rc != SG_OK) {
        finish_deny(cx, -rc);
        return;
    }
    tch->cx = NULL;
    cx_release(cx);
    host->complete(req, SG_OK, NULL);
}

static void connect_failed(struct tunnel_connect *cx)
{
    log_deny(cx->st, cx->tch, "connect failed",
             cx->last_err ? strerror(cx->last_err) : "no address");
    finish_deny(cx, OPEN_CONNECT_FAILED);
}

static void connect_watch_cb(int fd, unsigned events, void *arg)
{
    struct tunnel_connect *cx = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    (void)events;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        finish_connected(cx);
        return;
    }
    cx->last_err = err;
    cx_drop_io(cx);
    switch (try_connect(cx)) {
    case CX_PENDING:
        return;
    case CX_CONNECTED:
        finish_connected(cx);
        return;
    default:
        connect_failed(cx);
        return;
    }
}

static void connect_timeout_cb(void *arg)
{
    struct tunnel_connect *cx = arg;
    cx->timer = NULL;
    if (!cx->tch)
        return;
    cx->last_err = ETIMEDOUT;
    connect_failed(cx);
}

/* ---- resolution (pool thread, then loop) ------------------------------ */

static void resolve_work(void *arg)
{
    struct tunnel_connect *cx = arg;
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cx->port);
    cx->gai_err = getaddrinfo(cx->name, port, &hints, &res);
    if (cx->gai_err != 0)
        return;
    for (ai = res; ai && cx->n_res < CX_MAX_ADDRS; ai = ai->ai_next) {
        struct tp_addr a;
        bool dup = false;
        if (tp_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a, NULL) != 0)
            continue;
        for (size_t i = 0; i < cx->n_res && !dup; i++)
            dup = tp_addr_equal(&cx->res[i], &a);
        if (!dup)
            cx->res[cx->n_res++] = a;
    }
    freeaddrinfo(res);
}

static void resolve_done(void *arg)
{
    struct tunnel_connect *cx = arg;
    struct tunnel_state *st = cx->st;
    int first = TP_DENY_NO_MATCH;
    char denied[64] = "";

    cx->work_pending = false;
    if (!cx->tch) { /* channel gone or already answered (timeout) */
        free(cx);
        return;
    }
    if (cx->gai_err != 0 || cx->n_res == 0) {
        log_deny(st, cx->tch, "cannot resolve",
                 cx->gai_err ? gai_strerror(cx->gai_err) : "no address");
        finish_deny(cx, OPEN_CONNECT_FAILED);
        return;
    }
    for (size_t i = 0; i < cx->n_res; i++) {
        int v = tp_open_check(cx->pol, cx->name, &cx->res[i], cx->port, st->self_eps,
                              st->n_self);
        if (v == TP_PERMIT) {
            cx->cand[cx->n_cand++] = cx->res[i];
        } else if (!denied[0]) {
            first = v;
            tp_addr_format(&cx->res[i], denied, sizeof(denied));
        }
    }
    if (cx->n_cand == 0) {
        char why[160];
        snprintf(why, sizeof(why), "%s (%s)", tp_verdict_str(first), denied);
        log_deny(st, cx->tch, "resolved address", why);
        finish_deny(cx, OPEN_PROHIBITED);
        return;
    }
    switch (try_connect(cx)) {
    case CX_PENDING:
        return;
    case CX_CONNECTED:
        finish_connected(cx);
        return;
    default:
        connect_failed(cx);
        return;
    }
}

/* ---- entry points ----------------------------------------------------- */

void tunnel_connect_abort(struct tunnel_chan *tch)
{
    struct tunnel_connect *cx = tch->cx;
    const struct sg_host *host;
    sg_request *req;
    if (!cx)
        return;
    host = cx->st->host;
    req = cx->req;
    tch->cx = NULL;
    cx_release(cx);
    /* the connection is ending: the host only frees the pending request */
    host->complete(req, SG_DENY, NULL);
}

static int deny_now(struct sg_ev_channel_open *ev, int reason)
{
    ev->deny_reason = reason;
    return SG_DENY;
}

int tunnel_direct_open(struct tunnel_conn *tc, sg_chan *ch, struct sg_ev_channel_open *ev,
                       const struct tp_policy *pol)
{
    struct tunnel_state *st = tc->st;
    const struct sg_host *host = st->host;
    const char *name = ev->host ? ev->host : "";
    struct tunnel_chan *tch = NULL;
    struct tunnel_connect *cx = NULL;
    struct tp_addr addr;
    char disp[80];
    int v, cls;

    tp_printable(name, disp, sizeof(disp));
    if (tc->n_direct >= pol->max_forwards) {
        host->log(st->self, tc->conn, SG_LOG_INFO,
                  "direct-tcpip to %s:%d refused: max_forwards (%u) reached", disp, ev->port,
                  pol->max_forwards);
        return deny_now(ev, OPEN_RESOURCE_SHORTAGE);
    }
    v = tp_open_precheck(pol, name, ev->port);
    if (v != TP_PERMIT) {
        host->log(st->self, tc->conn, SG_LOG_INFO, "direct-tcpip to %s:%d refused: %s", disp,
                  ev->port, tp_verdict_str(v));
        return deny_now(ev, OPEN_PROHIBITED);
    }
    cls = tp_classify_host(name, &addr);
    if (cls == TP_HOST_NUMERIC) {
        v = tp_open_check(pol, NULL, &addr, ev->port, st->self_eps, st->n_self);
        if (v != TP_PERMIT) {
            host->log(st->self, tc->conn, SG_LOG_INFO, "direct-tcpip to %s:%d refused: %s",
                      disp, ev->port, tp_verdict_str(v));
            return deny_now(ev, OPEN_PROHIBITED);
        }
    }
    tch = tunnel_chan_new(tc, TUNNEL_DIRECT);
    cx = calloc(1, sizeof(*cx));
    if (!tch || !cx) {
        free(cx);
        tunnel_chan_free(tch);
        return deny_now(ev, OPEN_RESOURCE_SHORTAGE);
    }
    tch->ch = ch;
    tch->pol = pol;
    tch->port = ev->port;
    snprintf(tch->host, sizeof(tch->host), "%s", name);
    tch->cx = cx;
    cx->tch = tch;
    cx->st = st;
    cx->req = ev->req;
    cx->pol = pol;
    cx->port = ev->port;
    cx->fd = -1;
    snprintf(cx->name, sizeof(cx->name), "%s", name);

    if (cls == TP_HOST_NUMERIC) {
        int rc;
        cx->cand[cx->n_cand++] = addr;
        switch (try_connect(cx)) {
        case CX_CONNECTED:
            rc = cx_make_relay(cx);
            if (rc != SG_OK)
                break;
            tch->cx = NULL;
            cx_release(cx);
            host->chan_set_ctx(ch, tch);
            return SG_OK;
        case CX_PENDING:
            goto pending;
        default:
            log_deny(st, tch, "connect failed",
                     cx->last_err ? strerror(cx->last_err) : "no address");
            rc = -OPEN_CONNECT_FAILED;
            break;
        }
        tch->cx = NULL;
        cx_release(cx);
        tunnel_chan_free(tch);
        return deny_now(ev, -rc);
    }
    cx->work_pending = true;
    if (host->queue_work(resolve_work, resolve_done, cx) != SG_OK) {
        cx->work_pending = false;
        tch->cx = NULL;
        cx_release(cx);
        tunnel_chan_free(tch);
        return deny_now(ev, OPEN_RESOURCE_SHORTAGE);
    }
pending:
    cx->timer = host->timer_add(pol->connect_timeout_ms, connect_timeout_cb, cx);
    host->chan_set_ctx(ch, tch);
    return SG_AGAIN;
}
