/* tunnel.h — shared state of the tunnel plugin (internal). */
#ifndef SSHGATE_TUNNEL_H
#define SSHGATE_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "plugin.h"
#include "tunnel_policy.h"
#include "tunnel_relay.h"

#define TUNNEL_MAX_SELF 32     /* remembered own listening endpoints */

struct tunnel_route_policy {
    struct tunnel_route_policy *next;
    char *text;                /* route config JSON text (cache key) */
    struct tp_policy *pol;     /* NULL when the text is invalid */
    char err[256];
};

/* Per plugin instance (one per worker). */
struct tunnel_state {
    const struct sg_host *host;
    const sg_plugin_ref *self;
    struct tp_policy *defaults;
    struct tunnel_route_policy *routes;
    struct tp_endpoint self_eps[TUNNEL_MAX_SELF];
    size_t n_self;
};

struct tunnel_chan;
struct tunnel_listener;
struct tunnel_connect;

/* Per SSH connection (conn ctx slot). */
struct tunnel_conn {
    struct tunnel_state *st;
    sg_conn *conn;
    struct tunnel_chan *chans;
    struct tunnel_listener *listeners;
    unsigned n_direct, n_forwarded, n_listeners;
};

enum { TUNNEL_DIRECT = 0, TUNNEL_FORWARDED = 1 };

/* Per channel we own (chan ctx slot). */
struct tunnel_chan {
    struct tunnel_chan *next, **pprev;
    struct tunnel_conn *tc;
    sg_chan *ch;
    int kind;                       /* TUNNEL_DIRECT / TUNNEL_FORWARDED */
    char host[TP_HOST_MAX + 1];     /* direct: destination; forwarded: listen address */
    int port;
    char peer[64];                  /* connected / originating address */
    const struct tp_policy *pol;
    struct tunnel_connect *cx;      /* direct: while resolving / connecting */
    struct tr_relay *relay;
    bool opened;
};

/* tunnel_plugin.c */
struct tunnel_chan *tunnel_chan_new(struct tunnel_conn *tc, int kind);
void tunnel_chan_free(struct tunnel_chan *tch);

/* tunnel_connect.c: direct-tcpip. Returns SG_AGAIN, SG_OK or SG_DENY (with
 * ev->deny_reason). */
int tunnel_direct_open(struct tunnel_conn *tc, sg_chan *ch, struct sg_ev_channel_open *ev,
                       const struct tp_policy *pol);
/* The channel went away while connecting: drop the attempt (no complete). */
void tunnel_connect_abort(struct tunnel_chan *tch);

/* tunnel_listen.c: tcpip-forward / cancel-tcpip-forward. */
int tunnel_listen_request(struct tunnel_conn *tc, struct sg_ev_tunnel *ev,
                          const struct tp_policy *pol);
void tunnel_listen_close_all(struct tunnel_conn *tc);

#endif
