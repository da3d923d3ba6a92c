/* tunnel_plugin.c — the tunnel plugin: descriptor, config, event dispatch.
 *
 * direct-tcpip (ssh -L / -D): tunnel_connect.c; tcpip-forward (ssh -R):
 * tunnel_listen.c; byte pump: tunnel_relay.c; policy: tunnel_policy.c.
 */
#include "tunnel.h"

#include <stdlib.h>
#include <string.h>

#include "tunnel_config.h"

/* ---------------------------------------------------------------- helpers */

static struct tunnel_conn *conn_ctx(struct tunnel_state *st, sg_conn *conn, bool create)
{
    struct tunnel_conn *tc = st->host->conn_get_ctx(conn, st->self);
    if (tc || !create)
        return tc;
    tc = calloc(1, sizeof(*tc));
    if (!tc)
        return NULL;
    tc->st = st;
    tc->conn = conn;
    st->host->conn_set_ctx(conn, st->self, tc);
    return tc;
}

/* The effective policy of a route (plugin config overridden by the route's
 * config), parsed once per distinct route config text. */
static const struct tp_policy *route_policy(struct tunnel_state *st, sg_conn *conn,
                                            const char *text)
{
    struct tunnel_route_policy *rp;
    if (!text)
        text = "{}";
    for (rp = st->routes; rp; rp = rp->next)
        if (strcmp(rp->text, text) == 0)
            goto found;
    rp = calloc(1, sizeof(*rp));
    if (!rp)
        return NULL;
    rp->text = strdup(text);
    if (!rp->text) {
        free(rp);
        return NULL;
    }
    rp->pol = tc_policy_parse(text, st->defaults, rp->err, sizeof(rp->err));
    rp->next = st->routes;
    st->routes = rp;
found:
    if (!rp->pol)
        st->host->log(st->self, conn, SG_LOG_ERROR, "route config refused: %s", rp->err);
    return rp->pol;
}

/* Remember the gateway's own endpoint this connection came in on. */
static void note_self(struct tunnel_state *st, sg_conn *conn)
{
    struct sg_conn_info info;
    struct tp_endpoint ep;
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    if (st->host->conn_info(conn, &info) != SG_OK || !info.local_address)
        return;
    if (tp_addr_parse(info.local_address, &ep.addr) != 0)
        return;
    ep.port = info.local_port;
    for (size_t i = 0; i < st->n_self; i++)
        if (st->self_eps[i].port == ep.port && tp_addr_equal(&st->self_eps[i].addr, &ep.addr))
            return;
    if (st->n_self < TUNNEL_MAX_SELF)
        st->self_eps[st->n_self++] = ep;
}

struct tunnel_chan *tunnel_chan_new(struct tunnel_conn *tc, int kind)
{
    struct tunnel_chan *tch = calloc(1, sizeof(*tch));
    if (!tch)
        return NULL;
    tch->tc = tc;
    tch->kind = kind;
    tch->next = tc->chans;
    if (tc->chans)
        tc->chans->pprev = &tch->next;
    tch->pprev = &tc->chans;
    tc->chans = tch;
    if (kind == TUNNEL_DIRECT)
        tc->n_direct++;
    else
        tc->n_forwarded++;
    return tch;
}

void tunnel_chan_free(struct tunnel_chan *tch)
{
    if (!tch)
        return;
    if (tch->cx)
        tunnel_connect_abort(tch);
    tr_release(tch->relay);
    tch->relay = NULL;
    *tch->pprev = tch->next;
    if (tch->next)
        tch->next->pprev = tch->pprev;
    if (tch->kind == TUNNEL_DIRECT)
        tch->tc->n_direct--;
    else
        tch->tc->n_forwarded--;
    free(tch);
}

/* ---------------------------------------------------------------- lifecycle */

static int tunnel_init(const struct sg_host *host, const sg_plugin_ref *self,
                       const char *config_json, void **state)
{
    char err[256];
    struct tunnel_state *st = calloc(1, sizeof(*st));
    if (!st)
        return SG_E_NOMEM;
    st->host = host;
    st->self = self;
    st->defaults = tc_policy_parse(config_json, NULL, err, sizeof(err));
    if (!st->defaults) {
        host->log(self, NULL, SG_LOG_ERROR, "tunnel config: %s", err);
        free(st);
        return SG_E_INVAL;
    }
    *state = st;
    return SG_OK;
}

static void tunnel_fini(void *state)
{
    struct tunnel_state *st = state;
    struct tunnel_route_policy *rp, *next;
    if (!st)
        return;
    tr_fini();
    for (rp = st->routes; rp; rp = next) {
        next = rp->next;
        tc_policy_free(rp->pol);
        free(rp->text);
        free(rp);
    }
    tc_policy_free(st->defaults);
    free(st);
}

static void tunnel_on_disconnected(void *state, sg_conn *conn, const struct sg_ev_disconnected *ev)
{
    struct tunnel_state *st = state;
    struct tunnel_conn *tc = conn_ctx(st, conn, false);
    (void)ev;
    if (!tc)
        return;
    tunnel_listen_close_all(tc);
    while (tc->chans) {
        struct tunnel_chan *tch = tc->chans;
        if (tch->opened && tch->kind == TUNNEL_DIRECT)
            st->host->tunnel_closed(conn, 0, tch->host, tch->port);
        tunnel_chan_free(tch);
    }
    st->host->conn_set_ctx(conn, st->self, NULL);
    free(tc);
}

/* ---------------------------------------------------------------- channels */

static int tunnel_on_channel_open_request(void *state, sg_conn *conn, sg_chan *ch,
                                          struct sg_ev_channel_open *ev)
{
    struct tunnel_state *st = state;
    struct tunnel_conn *tc;
    const struct tp_policy *pol;

    if (!ev->type || strcmp(ev->type, "direct-tcpip") != 0)
        return SG_DECLINED;
    pol = route_policy(st, conn, ev->route_config);
    tc = conn_ctx(st, conn, true);
    if (!pol || !tc) {
        ev->deny_reason = pol ? 4 : 1;
        return SG_DENY;
    }
    note_self(st, conn);
    return tunnel_direct_open(tc, ch, ev, pol);
}

static struct tunnel_chan *chan_ctx(struct tunnel_state *st, sg_chan *ch)
{
    return st->host->chan_get_ctx(ch);
}

static void tunnel_on_channel_opened(void *state, sg_chan *ch,
                                     const struct sg_ev_channel_opened *ev)
{
    struct tunnel_state *st = state;
    struct tunnel_chan *tch = chan_ctx(st, ch);
    (void)ev;
    if (!tch || !tch->relay || tch->opened)
        return;
    tch->opened = true;
    st->host->log(st->self, tch->tc->conn, SG_LOG_VERBOSE, "%s channel open: %s:%d <-> %s",
                  tch->kind == TUNNEL_DIRECT ? "direct-tcpip" : "forwarded-tcpip", tch->host,
                  tch->port, tch->peer);
    tr_start(tch->relay);
}

static void tunnel_on_channel_data(void *state, sg_chan *ch, const struct sg_ev_data *ev)
{
    struct tunnel_chan *tch = chan_ctx(state, ch);
    if (tch && tch->relay && !ev->is_stderr)
        tr_on_data(tch->relay, ev->data, ev->len);
}

static void tunnel_on_channel_eof(void *state, sg_chan *ch, const struct sg_ev_channel_eof *ev)
{
    struct tunnel_chan *tch = chan_ctx(state, ch);
    (void)ev;
    if (tch && tch->relay)
        tr_on_eof(tch->relay);
}

static void tunnel_on_channel_ready_to_send(void *state, sg_chan *ch,
                                            const struct sg_ev_ready_to_send *ev)
{
    struct tunnel_chan *tch = chan_ctx(state, ch);
    (void)ev;
    if (tch && tch->relay)
        tr_on_ready(tch->relay);
}

static void tunnel_on_channel_closed(void *state, sg_chan *ch,
                                     const struct sg_ev_channel_closed *ev)
{
    struct tunnel_state *st = state;
    struct tunnel_chan *tch = chan_ctx(st, ch);
    (void)ev;
    if (!tch)
        return;
    st->host->chan_set_ctx(ch, NULL);
    if (tch->relay && tch->opened) {
        struct tr_stats s;
        tr_get_stats(tch->relay, &s);
        st->host->log(st->self, tch->tc->conn, SG_LOG_VERBOSE,
                      "%s channel %s:%d closed (%s): %llu bytes in, %llu bytes out",
                      tch->kind == TUNNEL_DIRECT ? "direct-tcpip" : "forwarded-tcpip", tch->host,
                      tch->port, s.close_reason ? s.close_reason : "done",
                      (unsigned long long)s.bytes_to_socket,
                      (unsigned long long)s.bytes_to_channel);
    }
    if (tch->opened && tch->kind == TUNNEL_DIRECT)
        st->host->tunnel_closed(tch->tc->conn, 0, tch->host, tch->port);
    tunnel_chan_free(tch);
}

/* ---------------------------------------------------------------- tunnels */

static int tunnel_on_tunnel_requested(void *state, sg_conn *conn, struct sg_ev_tunnel *ev)
{
    struct tunnel_state *st = state;
    struct tunnel_conn *tc;
    const struct tp_policy *pol;

    if (!ev->routed)
        return SG_DECLINED; /* policy fan-out: our policy applies when routed */
    if (ev->direction != 1)
        return SG_OK; /* forward tunnels are decided at channel open */
    pol = route_policy(st, conn, ev->route_config);
    tc = conn_ctx(st, conn, true);
    if (!pol || !tc)
        return SG_DENY;
    note_self(st, conn);
    return tunnel_listen_request(tc, ev, pol);
}

/* ---------------------------------------------------------------- descriptor */

static const struct sg_plugin tunnel_plugin = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "tunnel",
    .version = "1.0.0",
    .caps = SG_CAP_TUNNEL,
    .init = tunnel_init,
    .fini = tunnel_fini,
    .on_disconnected = tunnel_on_disconnected,
    .on_channel_open_request = tunnel_on_channel_open_request,
    .on_channel_opened = tunnel_on_channel_opened,
    .on_channel_data = tunnel_on_channel_data,
    .on_channel_eof = tunnel_on_channel_eof,
    .on_channel_closed = tunnel_on_channel_closed,
    .on_channel_ready_to_send = tunnel_on_channel_ready_to_send,
    .on_tunnel_requested = tunnel_on_tunnel_requested,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned abi_major,
                                                                               unsigned abi_minor)
{
    (void)abi_minor;
    if (abi_major != SG_PLUGIN_ABI_MAJOR)
        return NULL;
    return &tunnel_plugin;
}
