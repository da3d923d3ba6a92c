/* tunnel_listen.c — tcpip-forward (ssh -R): per-connection listeners that
 * open a forwarded-tcpip channel to the client for every accepted socket.
 * Listeners are keyed by their connection: only that connection can cancel
 * one, and a second bind to an address:port in use fails in the kernel. */
#include "tunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TL_BACKLOG 128
#define TL_ACCEPTS_PER_WAKEUP 16
#define TL_PORT0_TRIES 16
#define TL_PAUSE_MS 1000 /* after EMFILE/ENFILE */

struct tunnel_listener {
    struct tunnel_listener *next;
    struct tunnel_conn *tc;
    const struct tp_policy *pol;
    char address[TP_HOST_MAX + 1]; /* as requested: reported in forwarded-tcpip opens */
    int req_port;                   /* as requested (0 = assigned) */
    int port;                       /* bound */
    size_t n;
    int fds[2];
    sg_watch *w[2];
    sg_timer *pause;
};

static void accept_cb(int fd, unsigned events, void *arg);

static void listener_free(struct tunnel_listener *l)
{
    const struct sg_host *host = l->tc->st->host;
    if (l->pause)
        host->timer_cancel(l->pause);
    for (size_t i = 0; i < l->n; i++) {
        if (l->w[i])
            host->fd_watch_remove(l->w[i]);
        if (l->fds[i] >= 0)
            close(l->fds[i]);
    }
    free(l);
}

/* Close one listener of tc and report the tunnel as closed. */
static void listener_close(struct tunnel_listener **pp)
{
    struct tunnel_listener *l = *pp;
    struct tunnel_conn *tc = l->tc;
    *pp = l->next;
    tc->n_listeners--;
    tc->st->host->log(tc->st->self, tc->conn, SG_LOG_INFO, "remote forward %s:%d closed",
                      l->address, l->port);
    tc->st->host->tunnel_closed(tc->conn, 1, l->address, l->port);
    listener_free(l);
}

void tunnel_listen_close_all(struct tunnel_conn *tc)
{
    while (tc->listeners)
        listener_close(&tc->listeners);
}

/* Bind + listen one non-blocking socket. Returns the fd or -errno. */
static int bind_one(const struct tp_addr *a, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1, err;

    if (tp_addr_to_sockaddr(a, port, &ss, &sl) != 0)
        return -EINVAL;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, TL_BACKLOG) != 0) {
        err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct tp_addr a;
    int port = -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        tp_addr_from_sockaddr((struct sockaddr *)&ss, sl, &a, &port) != 0)
        return -1;
    return port;
}

static bool addr_missing_family(int err)
{
    return err == EAFNOSUPPORT || err == EADDRNOTAVAIL || err == EPROTONOSUPPORT;
}

/* Bind every planned address on one port (port 0: the first bind picks it
 * and must be permitted). Fills l->fds. Returns 0 or -errno. */
static int bind_plan(struct tunnel_listener *l, const struct tp_listen_plan *plan, int port)
{
    int err = 0;
    l->n = 0;
    for (size_t i = 0; i < plan->n; i++) {
        int fd = bind_one(&plan->addrs[i], port);
        if (fd < 0) {
            /* no IPv6 (or IPv4) here: "localhost" still works on the other */
            if (plan->n > 1 && addr_missing_family(-fd))
                continue;
            err = fd;
            goto fail;
        }
        l->fds[l->n++] = fd;
        if (port == 0) {
            port = bound_port(fd);
            if (port <= 0 || !tp_listen_port_ok(l->pol, &plan->addrs[i], port)) {
                err = -EACCES;
                goto fail;
            }
        }
    }
    if (l->n == 0) {
        err = -EADDRNOTAVAIL;
        goto fail;
    }
    l->port = port;
    return 0;
fail:
    for (size_t i = 0; i < l->n; i++)
        close(l->fds[i]);
    l->n = 0;
    return err;
}

static int listener_watch(struct tunnel_listener *l, unsigned events)
{
    const struct sg_host *host = l->tc->st->host;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->w[i]) {
            l->w[i] = host->fd_watch(l->fds[i], events, accept_cb, l);
            if (!l->w[i])
                return SG_E_NOMEM;
        } else if (host->fd_watch_modify(l->w[i], events) != SG_OK) {
            return SG_E_IO;
        }
    }
    return SG_OK;
}

static void resume_cb(void *arg)
{
    struct tunnel_listener *l = arg;
    l->pause = NULL;
    listener_watch(l, SG_WATCH_READ);
}

static void start_forwarded(struct tunnel_listener *l, int cfd, const struct sockaddr *sa,
                            socklen_t sl)
{
    struct tunnel_conn *tc = l->tc;
    struct tunnel_state *st = tc->st;
    const struct sg_host *host = st->host;
    struct tunnel_chan *tch;
    struct tp_addr peer;
    char ip[64] = "0.0.0.0";
    int pport = 0, one = 1, rc;
    sg_chan *ch = NULL;

    if (tc->n_forwarded >= l->pol->max_forwards) {
        host->log(st->self, tc->conn, SG_LOG_INFO,
                  "remote forward %s:%d: connection dropped, max_forwards (%u) reached",
                  l->address, l->port, l->pol->max_forwards);
        close(cfd);
        return;
    }
    if (tp_addr_from_sockaddr(sa, sl, &peer, &pport) == 0)
        tp_addr_format(&peer, ip, sizeof(ip));
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tch = tunnel_chan_new(tc, TUNNEL_FORWARDED);
    if (!tch) {
        close(cfd);
        return;
    }
    tch->pol = l->pol;
    tch->port = l->port;
    snprintf(tch->host, sizeof(tch->host), "%s", l->address);
    snprintf(tch->peer, sizeof(tch->peer), "%.46s:%d", ip, pport);
    rc = host->chan_open_forwarded(tc->conn, st->self, l->address, l->port, ip, pport, &ch);
    if (rc != SG_OK || !ch) {
        host->log(st->self, tc->conn, SG_LOG_INFO,
                  "remote forward %s:%d: cannot open forwarded-tcpip channel (%d)", l->address,
                  l->port, rc);
        close(cfd);
        tunnel_chan_free(tch);
        return;
    }
    tch->ch = ch;
    /* nothing is read from the socket before the client confirms (tr_start) */
    tch->relay = tr_new(host, ch, cfd, l->pol->max_buffer, l->pol->idle_timeout_s);
    if (!tch->relay) {
        close(cfd);
        host->chan_close(ch);
        tunnel_chan_free(tch);
        return;
    }
    host->chan_set_ctx(ch, tch);
}

static void accept_cb(int fd, unsigned events, void *arg)
{
    struct tunnel_listener *l = arg;
    (void)events;
    for (int i = 0; i < TL_ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* level-triggered: stop watching for a while instead of spinning */
                if (!l->pause && listener_watch(l, 0) == SG_OK)
                    l->pause = l->tc->st->host->timer_add(TL_PAUSE_MS, resume_cb, l);
            }
            return;
        }
        start_forwarded(l, cfd, (struct sockaddr *)&ss, sl);
    }
}

static struct tunnel_listener **find_listener(struct tunnel_conn *tc, const char *address,
                                              int port)
{
    for (struct tunnel_listener **pp = &tc->listeners; *pp; pp = &(*pp)->next) {
        struct tunnel_listener *l = *pp;
        if (strcasecmp(l->address, address) == 0 && (l->port == port || l->req_port == port))
            return pp;
    }
    return NULL;
}

static int cancel_forward(struct tunnel_conn *tc, struct sg_ev_tunnel *ev)
{
    const char *address = ev->address ? ev->address : "";
    struct tunnel_listener **pp = find_listener(tc, address, ev->port);
    if (!pp) {
        char disp[80];
        tc->st->host->log(tc->st->self, tc->conn, SG_LOG_INFO,
                          "cancel-tcpip-forward %s:%d refused: no such forward on this "
                          "connection",
                          tp_printable(address, disp, sizeof(disp)), ev->port);
        return SG_DENY;
    }
    listener_close(pp);
    return SG_OK;
}

int tunnel_listen_request(struct tunnel_conn *tc, struct sg_ev_tunnel *ev,
                          const struct tp_policy *pol)
{
    struct tunnel_state *st = tc->st;
    const struct sg_host *host = st->host;
    const char *address = ev->address ? ev->address : "";
    struct tunnel_listener *l = NULL;
    struct tp_listen_plan plan;
    char disp[80];
    int v, rc = SG_DENY, err = 0;

    tp_printable(address, disp, sizeof(disp));
    if (ev->cancel)
        return cancel_forward(tc, ev);
    if (tc->n_listeners >= pol->max_listeners) {
        host->log(st->self, tc->conn, SG_LOG_INFO,
                  "remote forward %s:%d refused: max_listeners (%u) reached", disp,
                  ev->port, pol->max_listeners);
        goto out;
    }
    if (strlen(address) > TP_HOST_MAX) {
        v = TP_DENY_BAD_HOST;
    } else {
        v = tp_listen_check(pol, address, ev->port, &plan);
    }
    if (v != TP_PERMIT) {
        host->log(st->self, tc->conn, SG_LOG_INFO, "remote forward %s:%d refused: %s", disp,
                  ev->port, tp_verdict_str(v));
        goto out;
    }
    l = calloc(1, sizeof(*l));
    if (!l)
        goto out;
    l->tc = tc;
    l->pol = pol;
    l->req_port = ev->port;
    snprintf(l->address, sizeof(l->address), "%s", address);
    for (int tries = 0; tries < (ev->port == 0 ? TL_PORT0_TRIES : 1); tries++) {
        err = bind_plan(l, &plan, ev->port);
        if (err == 0 || ev->port != 0)
            break;
    }
    if (err != 0) {
        host->log(st->self, tc->conn, SG_LOG_INFO, "remote forward %s:%d refused: %s", disp,
                  ev->port,
                  err == -EACCES ? "no permitted port assigned" : strerror(-err));
        goto out;
    }
    if (listener_watch(l, SG_WATCH_READ) != SG_OK)
        goto out;
    l->next = tc->listeners;
    tc->listeners = l;
    tc->n_listeners++;
    ev->port = l->port;
    host->log(st->self, tc->conn, SG_LOG_INFO, "remote forward listening on %s:%d", l->address,
              l->port);
    l = NULL;
    rc = SG_OK;
out:
    if (l)
        listener_free(l);
    return rc;
}
