/* channel.h — SSH channels: open, requests and routing, data framing, flow
 * control both ways, EOF/close ordering; tcpip-forward global requests. */
#ifndef SSHGATE_CHANNEL_H
#define SSHGATE_CHANNEL_H

#include <libssh/callbacks.h>

#include "session.h"

/* A request seen before the channel had an owner (pty-req, env, ...): replayed. */
struct sg_prereq {
    char type[16];
    char *a, *b;              /* env name/value, pty term */
    uint32_t cols, rows, wpx, hpx;
    struct sg_prereq *next;
};

struct sg_chan {
    uint32_t id;
    struct sg_conn *conn;
    ssh_channel ch;            /* NULL until open (direct-tcpip pending) */
    struct ssh_channel_callbacks_struct cbs;
    char type[20];             /* "session", "direct-tcpip", "forwarded-tcpip" */
    struct sg_plugin_ref *owner;
    void *ctx;
    char request[16];          /* "shell", "exec", "subsystem" */
    char *command;             /* exec command or subsystem name */
    long route_index;
    bool has_pty;
    char *term;
    uint32_t cols, rows, wpx, hpx;
    uint8_t *pty_modes;        /* the last pty-req's encoded terminal modes */
    size_t pty_modes_len;
    struct sg_prereq *pre_head, *pre_tail;
    size_t n_pre;
    /* state */
    bool opened, opened_fired, denied;
    bool paused, resume_pending;
    bool eof_in, eof_in_fired, eof_sent, close_sent, remote_closed, finalized;
    bool blocked;
    bool fwd_opening, fwd_failed;
    char *fwd_addr, *orig_addr;
    int fwd_port, orig_port;
    /* framing */
    size_t record_length;
    char *eol;
    size_t eol_len, max_len;
    uint8_t *carry;
    size_t carry_len, carry_cap;
    char *pending_signal;      /* a signal request that came during a host call */
    uint8_t *inq;              /* input taken from libssh on resume, not yet delivered */
    size_t inq_off, inq_len, inq_cap;
    uint64_t bytes_in, bytes_out;
    /* channel request lane (SG_AGAIN on shell/exec/subsystem) */
    bool lane_busy;
    struct sg_held *held_head, *held_tail;
    struct sg_chan *next, *prev;
};

/* A tcpip-forward registered on a connection (for cancel and ownership). */
struct sg_forward {
    char *address;
    int port;
    struct sg_plugin_ref *owner;
    struct sg_forward *next;
};

void sg_channel_open_message(struct sg_conn *c, ssh_message m);
void sg_channel_request_message(struct sg_conn *c, ssh_message m);
void sg_global_forward_request(struct sg_conn *c, ssh_message m);
void sg_channels_after_dispatch(struct sg_conn *c);
void sg_channels_teardown(struct sg_conn *c);
/* Free (free_them) or forget the libssh channels of ended channels that were
 * kept while libssh's request queue could still point at them. */
void sg_channels_reap(struct sg_conn *c, bool free_them);
void sg_forwards_teardown(struct sg_conn *c);

/* host->complete for channel opens, channel requests and tunnels. */
void sg_channel_complete(struct sg_request *r, int result, const struct sg_completion *extra);

/* The host API's channel calls. */
long sg_chan_send(struct sg_chan *h, int stream, const void *data, size_t len);
size_t sg_chan_send_room(struct sg_chan *h);
int sg_chan_send_eof(struct sg_chan *h);
int sg_chan_exit_status(struct sg_chan *h, int status);
int sg_chan_exit_signal(struct sg_chan *h, const char *sig, bool core, const char *msg);
int sg_chan_close(struct sg_chan *h);
void sg_chan_pause(struct sg_chan *h, bool paused);
int sg_chan_set_record_length(struct sg_chan *h, size_t n);
int sg_chan_set_eol(struct sg_chan *h, const char *eol, size_t eol_len, size_t max_len);
int sg_chan_open_forwarded(struct sg_conn *c, struct sg_plugin_ref *p, const char *addr, int port,
                           const char *orig, int oport, struct sg_chan **out);
void sg_tunnel_closed(struct sg_conn *c, int direction, const char *addr, int port);

#endif
