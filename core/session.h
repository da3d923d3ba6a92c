/* session.h — one SSH connection: accept, kex, message dispatch, limits,
 * keepalive, teardown. Also the worker-wide state every core file shares. */
#ifndef SSHGATE_SESSION_H
#define SSHGATE_SESSION_H

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/ssh2.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "listener.h"
#include "loop.h"
#include "plugin.h"
#include "plugin_loader.h"
#include "request.h"
#include "restrict.h"

struct sg_chan;
struct sg_request;

/* The worker: one per process. */
struct sg_worker {
    const struct sg_config *cfg;
    sg_loop *loop;
    struct sg_plugin_set plugins;
    ssh_bind bind;
    struct sg_admission *adm;
    int slot;                 /* worker index */
    bool draining;            /* stop accepting; exit when the last connection ends */
    bool shutting_down;       /* SIGTERM: close everything */
    struct sg_conn *conns;    /* all live connections */
    size_t n_conns;
    uint64_t next_id;
    struct sg_conn *dirty;    /* connections needing post-dispatch work */
    sg_io **listen_io;
    size_t n_listen;
    const struct sg_listener *listeners;
};
extern struct sg_worker *sg_w;

enum sg_lane { SG_LANE_AUTH = 0, SG_LANE_GLOBAL = 1, SG_LANE_CHANNEL = 2 };

/* A message waiting because an earlier one of its lane awaits an SG_AGAIN decision. */
struct sg_held {
    ssh_message msg;
    struct sg_held *next;
};

struct sg_conn {
    uint64_t id;
    int fd;
    int watch_fd;             /* our duplicate of fd, registered in epoll */
    ssh_session ssh;
    ssh_event event;
    sg_io *io;
    struct sockaddr_storage peer;
    char peer_ip[64];
    int peer_port;
    char local_ip[64];
    int local_port;
    bool admitted;
    bool kex_done;
    bool version_checked;     /* the client's version line was seen free of NUL */
    bool connected_fired;
    bool closing;             /* teardown requested */
    bool freed;
    char *close_reason;
    int close_code;
    struct sg_conn *next, *prev;   /* worker list */
    struct sg_conn *next_dirty;
    bool is_dirty;
    int dispatch_depth;
    int in_libssh_call;       /* >0: a host call is inside libssh (input is held back) */
    bool drain_pending;       /* libssh may have queued requests outside conn_io_cb */
    bool msgq_empty;          /* the last drain emptied libssh's message queue */
    ssh_channel *ended_chans; /* libssh channels kept until that queue is empty */
    size_t n_ended_chans;

    /* auth */
    char *user;
    bool authenticated;
    char *auth_method;
    int auth_failures;
    unsigned methods_done;    /* bit per method (auth.c) */
    bool banner_sent;
    bool none_seen;           /* the first "none" is free */
    bool kbd_pending;         /* keyboard-interactive prompts sent, no answer yet */
    char *banner;             /* per-connection override */
    char *kbd_instruction;
    struct sg_kbd_prompt *kbd_prompts;
    size_t n_kbd_prompts;
    struct sg_auth_job *auth_job;  /* in flight (SG_AGAIN) */
    char **groups;            /* NULL-terminated */
    size_t n_groups;
    char **attrs;             /* name,value pairs, NULL-terminated */
    size_t n_attrs;
    struct sg_restrict restr;     /* from the credentials (host->conn_restrict) */
    void **plugin_ctx;        /* one slot per loaded plugin */

    /* channels */
    struct sg_chan *chans;
    size_t n_chans, n_sessions;
    uint32_t next_chan_id;
    size_t unflushed;         /* bytes written since the output was last seen drained */

    /* held messages and pending decisions */
    struct sg_held *held_head[2], *held_tail[2]; /* auth and global lanes */
    size_t n_held;
    bool lane_busy[2];
    struct sg_request *reqs;  /* pending SG_AGAIN decisions of this connection */
    struct sg_forward *forwards; /* tcpip-forward owners (global requests) */

    /* timers and activity */
    sg_ltimer *grace_timer, *idle_timer, *keepalive_timer;
    sg_ltimer *readahead_timer; /* bytes read ahead are left: come back */
    bool readahead;             /* fd attached to readahead.c */
    struct sg_kexwatch *kexwatch; /* the client's bytes up to its KEXINIT (strict kex) */
    bool kex_violation;         /* a strict client sent a packet before KEXINIT */
    uint64_t last_rx_ms, last_activity_ms;
    uint64_t start_ms;
};

/* accept a client socket (called by the worker's listener callback). */
void sg_session_accept(int fd, const struct sockaddr *sa, socklen_t sl);
/* Request teardown (done in post-dispatch, never inside a libssh callback). */
void sg_conn_close(struct sg_conn *c, int code, const char *reason);
/* Mark for post-dispatch work. */
void sg_conn_touch(struct sg_conn *c);
/* The loop's after-hook: flow control, deferred resumes, closes. */
void sg_sessions_after_dispatch(void *arg);
/* Close every connection (shutdown). */
void sg_sessions_close_all(const char *reason);


/* Message lanes: hold while a decision is pending, release when done. */
bool sg_lane_hold(struct sg_conn *c, enum sg_lane lane, ssh_message m);
void sg_lane_release(struct sg_conn *c, enum sg_lane lane);

/* Event fan-out helpers. */
void sg_fire_status(struct sg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_fire_error(struct sg_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool sg_conn_has_group(void *conn, const char *group);

/* Dispatch of one libssh message (session.c routes to auth.c / channel.c). */
void sg_handle_message(struct sg_conn *c, ssh_message m);

#endif
