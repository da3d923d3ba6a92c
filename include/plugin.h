/*
 * sshgate plugin ABI — the one public header for plugin authors.
 *
 * A plugin is a shared object (.so) that exports exactly one symbol:
 *
 *     const struct sg_plugin *sg_plugin_entry(unsigned abi_major, unsigned abi_minor);
 *
 * sshgated calls it with the ABI version it was built with. Return NULL to
 * refuse (e.g. the major differs from SG_PLUGIN_ABI_MAJOR); otherwise return
 * a pointer to a static descriptor that stays valid until the .so is unloaded.
 * The loader itself refuses a descriptor whose `abi_major` differs from its
 * own, so a plugin built against another major never runs.
 *
 * ---------------------------------------------------------------------------
 * Rules that hold for every call in this header
 * ---------------------------------------------------------------------------
 * PROCESS MODEL. sshgated runs N worker processes. `init` is called once in
 *   every worker (after fork), so plugin state is per worker. Two sessions of
 *   one user may land on different workers.
 * THREADING. Every handler and every host call runs on the worker's single
 *   loop thread, except the `work` function given to host->queue_work (runs on
 *   a pool thread and may call nothing of the host but host->post) and
 *   host->post itself, which is the one thread-safe host call. No locks are
 *   needed in plugin code that stays on the loop thread.
 * NO RE-ENTRY. While a plugin is inside a host call (chan_send, chan_close,
 *   ...), the host does not call that connection's channel handlers: input
 *   libssh reads while flushing is held back and delivered afterwards from the
 *   loop. Other handlers may still run from inside a host call only where
 *   stated (none today).
 * NEVER BLOCK. A handler must return quickly: blocking I/O goes to
 *   host->queue_work, sockets and pipes go through host->fd_watch.
 * OWNERSHIP. Event structs and every pointer inside them are BORROWED until
 *   the handler returns: copy what you keep. Strings are NUL-terminated UTF-8
 *   unless a length is given. Buffers passed to host calls are borrowed for
 *   the call only: the host copies what it keeps. Objects returned by the
 *   host (sg_conn, sg_chan) stay valid until the matching `on_disconnected` /
 *   `on_channel_closed` handler has returned; never use them afterwards.
 * SIZES. Every event struct and the host table start with `size` (bytes).
 *   Minor ABI versions only append fields; check `size` before reading a
 *   field newer than the ABI you were built against (SG_HAS_FIELD).
 * RESULTS. Handlers return an `enum sg_result`:
 *   SG_OK        accept / handled
 *   SG_DECLINED  not mine: the host asks the next plugin (auth chain), or
 *                uses its default
 *   SG_DENY      refuse
 *   SG_AGAIN     the decision comes later: keep ev->req and call
 *                host->complete(req, SG_OK | SG_DENY | ...) exactly once, on
 *                the loop thread (from a timer, fd watch or work `done`).
 *                Only handlers whose event carries a `req` may return it.
 *   negative     an SG_E_* error; treated as SG_DENY and logged.
 * NO LIBSSH. Plugins never see libssh (or jansson) types and must not call
 *   libssh. Everything goes through the host table.
 */
#ifndef SSHGATE_PLUGIN_H
#define SSHGATE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_PLUGIN_ABI_MAJOR 1
#define SG_PLUGIN_ABI_MINOR 1

/* Name of the one symbol a plugin exports. */
#define SG_PLUGIN_ENTRY_SYMBOL "sg_plugin_entry"

/* True when struct pointer `p` (starting with `size`) carries `field`. */
#define SG_HAS_FIELD(p, field)                                                 \
    ((p)->size >= offsetof(__typeof__(*(p)), field) + sizeof((p)->field))

enum sg_result {
    SG_OK = 0,
    SG_DECLINED = 1,
    SG_DENY = 2,
    SG_AGAIN = 3,
    SG_E_INVAL = -1,       /* bad argument */
    SG_E_NOMEM = -2,       /* out of memory */
    SG_E_IO = -3,          /* I/O or transport error */
    SG_E_STATE = -4,       /* object in the wrong state (closed, not open yet) */
    SG_E_WOULDBLOCK = -5,  /* try again after on_channel_ready_to_send */
    SG_E_NOTFOUND = -6,    /* no such connection / channel / field */
    SG_E_UNSUPPORTED = -7, /* the transport cannot do this (see the call) */
    SG_E_LIMIT = -8,       /* a configured limit was reached */
};

/* Log levels (the config's log.level uses the same numbers). */
enum sg_log_level {
    SG_LOG_ERROR = 0,
    SG_LOG_INFO = 1,
    SG_LOG_VERBOSE = 2,
    SG_LOG_DEBUG = 3,
};

/* Capability bits a plugin announces in its descriptor (informational; the
 * loader logs them and routes check that the routed plugin has the handler). */
#define SG_CAP_AUTH      (1u << 0) /* takes part in the auth chain */
#define SG_CAP_SESSION   (1u << 1) /* shell / exec on session channels */
#define SG_CAP_SUBSYSTEM (1u << 2) /* subsystems (sftp, ...) */
#define SG_CAP_TUNNEL    (1u << 3) /* direct-tcpip / tcpip-forward */
#define SG_CAP_OBSERVER  (1u << 4) /* only watches events (audit, policy) */

/* Opaque handles owned by the host. */
typedef struct sg_conn sg_conn;       /* one SSH connection */
typedef struct sg_chan sg_chan;       /* one SSH channel */
typedef struct sg_request sg_request; /* a pending SG_AGAIN decision (a handle: see complete) */
typedef struct sg_plugin_ref sg_plugin_ref; /* the host's handle for a loaded plugin */
typedef struct sg_timer sg_timer;     /* a loop timer */
typedef struct sg_watch sg_watch;     /* an fd watch */
struct sg_completion;                 /* extra results for host->complete (below) */

/* ======================================================================
 * Events (one struct per documented event of the reference component)
 * ====================================================================== */

/* ConnectionRequest: a TCP connection was accepted and passed
 * allowed_clients/blocked_clients. Return SG_DENY to close it at once;
 * SG_OK or SG_DECLINED let it go on. `conn` is NULL here. */
struct sg_ev_connection_request {
    size_t size;
    const char *address; /* peer IP, numeric (IPv4 or IPv6) */
    int port;            /* peer port */
    const char *local_address;
    int local_port;
};

/* Connected: the SSH version exchange and key exchange are done. */
struct sg_ev_connected {
    size_t size;
    int status_code;         /* 0 */
    const char *description; /* e.g. "kex done: curve25519-sha256 ..." */
};

/* Disconnected: fires exactly once for every connection that fired
 * on_connected (and for connections that failed before, with the reason).
 * Release every per-connection resource here. */
struct sg_ev_disconnected {
    size_t size;
    int status_code;         /* 0 = closed normally; otherwise an SSH disconnect reason code */
    const char *description; /* why */
};

/* Error: something failed on a connection (protocol, I/O, plugin error). */
struct sg_ev_error {
    size_t size;
    int error_code;          /* an SG_E_* value */
    const char *description;
};

/* Log: every log line the host writes (after masking, at or below the
 * configured level). Observer plugins may ship them elsewhere. Do not call
 * host->log from this handler (it would be dropped to avoid loops). */
struct sg_ev_log {
    size_t size;
    int level;               /* enum sg_log_level */
    const char *message;
    const char *log_type;    /* "info", "auth", "audit", "debug", "error" */
};

/* SSHStatus: progress notes (kex done with algorithms, rekey, auth result). */
struct sg_ev_status {
    size_t size;
    const char *message;
};

/* SSHServiceRequest: "ssh-userauth" or "ssh-connection". SG_DENY refuses. */
struct sg_ev_service_request {
    size_t size;
    const char *service;
};

/* SSHUserAuthRequest. Asked of the plugins named in config `auth.chain`, in
 * order; the first answer other than SG_DECLINED decides. If every plugin
 * declines, the attempt fails.
 *
 * method is one of:
 *   "none"                    param "" (reply SG_OK only for open services)
 *   "password"                param = the password (param_len bytes)
 *   "publickey"               param = the key in OpenSSH text form
 *                             ("ssh-ed25519 AAAA..."), key_algorithm and
 *                             key_fingerprint set. A user certificate comes
 *                             as its certificate type and the whole
 *                             certificate blob ("ssh-ed25519-cert-v01@
 *                             openssh.com AAAA..."): libssh checked only the
 *                             signature made with the certified key, the
 *                             plugin checks the certificate (see auth-file's
 *                             usercert.h); key_algorithm is then the
 *                             certificate type and key_fingerprint hashes
 *                             the whole certificate. Fired at the probe
 *                             (is_probe, no signature yet: answer whether the
 *                             key is authorized) and again after libssh
 *                             verified the signature (is_probe false).
 *   "sigstatus"               only with config auth.fire_after_signature:
 *                             after the signature check, param "1" (valid)
 *                             or "0" (invalid; always rejected afterwards).
 *   "keyboard-interactive-N"  the N-th (1-based) response of an
 *                             INFO_RESPONSE, param = the answer. Every
 *                             response must be accepted (SG_OK).
 *   "keyboard-interactive"    fired once when the client starts the method
 *                             (param "", kbdint_start true: a plugin may set
 *                             per-connection prompts with
 *                             host->conn_set_kbdint_prompts and return
 *                             SG_OK/SG_DECLINED) and once more after all
 *                             responses (param "", kbdint_start false): SG_OK
 *                             is needed for success.
 *
 * Outputs (read by the host when the handler returns SG_OK, or at
 * host->complete for SG_AGAIN):
 *   partial_success  the method is accepted but more are needed (MFA): the
 *                    host replies partial success.
 *   available_methods  comma-separated methods to offer next ("" = host
 *                    default from auth.methods / auth.required). The plugin
 *                    may point it at a static or at memory it keeps alive
 *                    until on_disconnected.
 * The host itself enforces auth.required method sets: an SG_OK that does not
 * complete a required set is sent as partial success. */
struct sg_ev_auth {
    size_t size;
    sg_request *req;         /* for SG_AGAIN */
    const char *user;
    const char *service;     /* "ssh-connection" */
    const char *method;
    const char *param;
    size_t param_len;
    const char *key_algorithm;   /* publickey: e.g. "ssh-ed25519", "rsa-sha2-512"; else "" */
    const char *key_fingerprint; /* publickey: "SHA256:..." ; else "" */
    bool is_probe;               /* publickey without signature */
    bool kbdint_start;           /* keyboard-interactive start (see above) */
    /* outputs */
    bool partial_success;
    const char *available_methods;
};

/* SSHChannelOpenRequest: a client asks to open a channel.
 * type "session": fired to every loaded plugin that has the handler
 *   (observers/policy): any SG_DENY refuses it. The channel belongs to no
 *   plugin until a shell/exec/subsystem request is routed.
 * type "direct-tcpip" (ssh -L / -D): routed (kind "direct-tcpip"); only the
 *   routed plugin is asked; it becomes the channel's owner. SG_OK opens it,
 *   SG_DENY refuses (set deny_reason), SG_AGAIN defers (e.g. while a TCP
 *   connect is in progress) until host->complete. Data can be sent once
 *   on_channel_opened has fired. */
struct sg_ev_channel_open {
    size_t size;
    sg_request *req;         /* for SG_AGAIN (direct-tcpip only) */
    uint32_t channel_id;
    const char *type;        /* "session", "direct-tcpip" */
    const char *host;        /* direct-tcpip: destination host as sent */
    int port;                /* direct-tcpip: destination port */
    const char *orig_address;/* direct-tcpip: originator address */
    int orig_port;
    const char *route_config;/* JSON text of the matched route's "config" ("{}" if none) */
    /* output: reason on SG_DENY: 1 prohibited, 2 connect failed,
     * 3 unknown channel type, 4 resource shortage (SSH_OPEN_* codes).
     * libssh 0.10.6 always sends 1; for 2-4 the host first sends the
     * reason as an SSH_MSG_DEBUG ("channel open refused: connect failed"). */
    int deny_reason;
};

/* SSHChannelOpened: the channel is open (also fires for channels the plugin
 * opened with host->chan_open_forwarded once the client confirms). */
struct sg_ev_channel_opened {
    size_t size;
    uint32_t channel_id;
};

/* SSHChannelRequest: a request on a session channel.
 *
 * type: "pty-req", "env", "x11-req", "auth-agent-req" arrive before the
 *   channel is routed: the host answers them itself (pty-req and env: success;
 *   x11-req and auth-agent-req: failure) and REPLAYS them, in order, to the
 *   owner right after a shell/exec/subsystem request was routed to it, with
 *   `replayed` true (the return value is then only logged: an env the plugin
 *   refuses is dropped).
 * "shell", "exec", "subsystem" pick the route (kind, command glob, subsystem
 *   name); the routed plugin becomes the channel's owner and is asked here:
 *   SG_OK → success reply, then on_channel_requested; SG_DENY → failure;
 *   SG_AGAIN → decided by host->complete.
 * "window-change", "signal" arrive later to the owner.
 * Fields are decoded for the well-known types; `payload` holds the request
 * specific data (after the want-reply flag) for host->param_get.
 * pty_modes: the pty-req's terminal modes as sent (RFC 4254 section 8
 * encoding: opcode byte + uint32 value pairs, ending with opcode 0); also set
 * when a pty-req is replayed. NULL when the client sent none, or when they
 * could not be read from libssh (it has no call for them; the core locates
 * them in libssh's message and gives up unless every check holds).
 * Known limits of libssh 0.10.6: "break" and "xon-xoff" are never delivered
 * (libssh does not keep the name of a request it does not know). */
struct sg_ev_channel_request {
    size_t size;
    sg_request *req;         /* for SG_AGAIN (shell/exec/subsystem only) */
    uint32_t channel_id;
    const char *type;
    bool want_reply;
    bool replayed;
    const uint8_t *payload;  /* request-specific fields, SSH wire encoding */
    size_t payload_len;
    /* decoded */
    const char *command;     /* exec */
    const char *subsystem;   /* subsystem */
    const char *env_name, *env_value;       /* env */
    const char *term;                        /* pty-req */
    uint32_t cols, rows, width_px, height_px; /* pty-req, window-change */
    const uint8_t *pty_modes; size_t pty_modes_len; /* pty-req (NULL: none, see above) */
    const char *signal_name; /* signal: "TERM", "INT", ... (no "SIG" prefix) */
    const char *route_config;/* shell/exec/subsystem: JSON of the route's "config" */
    const char *route_name;  /* shell/exec/subsystem: the route's "name" or "#<index>" */
    /* since ABI 1.1: set when a credential forced the command
     * (sg_restrictions.force_command): the exec command the client sent,
     * "" for a shell or subsystem request. `command` (or `subsystem` for
     * "internal-sftp") is then the forced command. NULL otherwise. The shell
     * plugin exports it as SSH_ORIGINAL_COMMAND. */
    const char *original_command;
};

/* SSHChannelRequested: fired after the success reply of a shell, exec or
 * subsystem request was sent: start the work here. */
struct sg_ev_channel_requested {
    size_t size;
    uint32_t channel_id;
    const char *type;        /* "shell", "exec", "subsystem" */
};

/* SSHChannelDataIn: data from the client to the channel owner.
 * The plugin takes all `len` bytes (copy what you keep). To stop the flow
 * (backpressure), call host->chan_pause_input(ch, true): the host then stops
 * delivering, stops opening the SSH window, and disconnects a peer that sends
 * past the window. Framing (host->chan_set_record_length /
 * chan_set_eol) changes how the bytes are cut into calls. */
struct sg_ev_data {  /* len is never 0 */
    size_t size;
    uint32_t channel_id;
    const uint8_t *data;
    size_t len;
    bool is_stderr;          /* extended data (type 1) */
    bool eol_found;          /* EOL framing: the record ended with the EOL string */
};

/* SSHChannelEOF / SSHChannelClosed. After on_channel_closed returns, the
 * sg_chan is gone: forget it. Closed fires once for every channel that had
 * an owner, also when the connection ends. */
struct sg_ev_channel_eof {
    size_t size;
    uint32_t channel_id;
};
struct sg_ev_channel_closed {
    size_t size;
    uint32_t channel_id;
};

/* SSHChannelReadyToSend: after a chan_send that returned less than asked (or
 * SG_E_WOULDBLOCK), fires once when the remote window and the connection's
 * output buffer have room again. */
struct sg_ev_ready_to_send {
    size_t size;
    uint32_t channel_id;
    size_t window;           /* bytes that can be sent now */
};

/* SSHTunnelRequested: direction 0 = forward (direct-tcpip: ssh -L / -D),
 * 1 = reverse (tcpip-forward: ssh -R). Fired to every loaded plugin that has
 * the handler before routing (any SG_DENY refuses), then, for reverse
 * tunnels, to the routed plugin, which owns the listener: it answers SG_OK
 * (setting `port` to the bound port when 0 was asked), SG_DENY, or SG_AGAIN.
 * cancel-tcpip-forward is delivered to the routed plugin with cancel=true. */
struct sg_ev_tunnel {
    size_t size;
    sg_request *req;         /* for SG_AGAIN (routed reverse requests) */
    int direction;           /* 0 forward, 1 reverse */
    const char *address;
    int port;                /* in/out: reverse with 0 → set the bound port */
    bool cancel;             /* cancel-tcpip-forward */
    bool routed;             /* false: policy fan-out; true: you own it */
    const char *route_config;
};

/* SSHTunnelClosed: a tunnel ended (cancel, connection end, or the owning
 * plugin said so with host->tunnel_closed). Fired to every plugin. */
struct sg_ev_tunnel_closed {
    size_t size;
    int direction;
    const char *address;
    int port;
};

/* ======================================================================
 * Host API (handed to init; valid for the life of the worker)
 * ====================================================================== */

/* Connection facts (host->conn_info). Strings are borrowed until the
 * connection ends (on_disconnected returned). */
struct sg_conn_info {
    size_t size;
    uint64_t id;             /* unique within the daemon run (worker-prefixed) */
    const char *peer_address;
    int peer_port;
    const char *local_address;
    int local_port;
    const char *user;        /* "" before auth */
    bool authenticated;
    const char *client_version; /* ClientSSHVersionString */
    const char *kex, *cipher_in, *cipher_out, *mac_in, *mac_out, *host_key;
    bool strict_kex;         /* NegotiatedStrictKex */
    const char *auth_method; /* the method that completed auth */
    const char *const *groups; /* NULL-terminated: groups set by auth plugins */
};

/* Channel facts (host->chan_info). */
struct sg_chan_info {
    size_t size;
    uint32_t id;
    const char *type;        /* "session", "direct-tcpip", "forwarded-tcpip" */
    const char *request;     /* "shell", "exec", "subsystem", "" */
    const char *command;     /* exec command or subsystem name, "" */
    bool has_pty;
    const char *term;
    uint32_t cols, rows;
    uint64_t bytes_in, bytes_out;
};

/* One key/value pair of a structured log event (host->log_event). */
struct sg_kv {
    const char *key;
    const char *value;
};

/* One keyboard-interactive prompt. */
struct sg_kbdint_prompt {
    const char *prompt;
    bool echo;
};

/* Restrictions that come with a credential (OpenSSH authorized_keys options
 * such as restrict, no-pty, permitopen=, permitlisten=; certificate options),
 * for host->conn_restrict. The host enforces them on top of the routes for
 * the rest of the connection; a refused request is logged with the reason.
 * (Agent and X11 forwarding need no flag: sshgate never offers them.) */
#define SG_RESTRICT_PTY             (1u << 0) /* pty-req refused (the session runs without) */
#define SG_RESTRICT_PORT_FORWARDING (1u << 1) /* direct-tcpip (-L, -D) and tcpip-forward (-R) refused */

struct sg_restrictions {
    size_t size;      /* sizeof(struct sg_restrictions) */
    unsigned flags;   /* SG_RESTRICT_* */
    /* NULL: no list. Otherwise a NULL-terminated list of "host:port"
     * (IPv6 as "[addr]:port"): a direct-tcpip channel may only go to a
     * listed destination. The host is compared literally with what the
     * client sent (no name lookup, no patterns), "*" = any host; port "*" =
     * any port. An empty list (first element NULL) allows no destination. */
    const char *const *permit_open;
    /* NULL: no list. Otherwise a NULL-terminated list of "[host:]port": a
     * tcpip-forward may only listen on a listed address and port. The host
     * is a pattern (* and ?, case-insensitive) matched against the address
     * the client sent (OpenSSH's ssh sends "localhost" when -R names none);
     * no host = any address; port "*" = any port (port 0 is only matched by
     * "*"). */
    const char *const *permit_listen;
    /* NULL: none. Otherwise OpenSSH's command="...": every shell, exec or
     * subsystem request of the connection runs this command instead. The
     * host routes it as an exec of this command (routes match it like any
     * exec command; "internal-sftp" routes as the "sftp" subsystem) and
     * gives the plugin what the client asked for in ev->original_command.
     * A second, different forced command is refused (SG_E_INVAL). */
    const char *force_command;
};

/* Output streams for chan_send. */
enum sg_stream { SG_STDOUT = 0, SG_STDERR = 1 };

/* fd watch events (bit mask). */
#define SG_WATCH_READ  0x1
#define SG_WATCH_WRITE 0x2
#define SG_WATCH_ERROR 0x4 /* only reported: error or hang-up */

typedef void (*sg_timer_cb)(void *arg);
typedef void (*sg_watch_cb)(int fd, unsigned events, void *arg);
typedef void (*sg_work_fn)(void *arg);   /* runs on a pool thread */
typedef void (*sg_done_fn)(void *arg);   /* runs on the loop thread after work */
typedef void (*sg_post_fn)(void *arg);   /* runs on the loop thread */

struct sg_host {
    size_t size;
    unsigned abi_major, abi_minor;

    /* ---- logging ---------------------------------------------------- */
    /* printf-style log line at `level` (enum sg_log_level), tagged with the
     * connection (may be NULL) and the plugin's name. */
    void (*log)(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
    /* One structured event (e.g. an audit record): `event` plus `n` fields.
     * Rendered as JSON or key=value by config log.format. */
    void (*log_event)(const sg_plugin_ref *self, sg_conn *conn, int level, const char *event,
                      const struct sg_kv *fields, size_t n);

    /* ---- connections ------------------------------------------------ */
    int (*conn_info)(sg_conn *conn, struct sg_conn_info *out); /* out->size must be set */
    /* Per-plugin context slot on a connection (NULL initially). */
    void *(*conn_get_ctx)(sg_conn *conn, const sg_plugin_ref *self);
    void (*conn_set_ctx)(sg_conn *conn, const sg_plugin_ref *self, void *ctx);
    /* Group membership and attributes, set by auth plugins for routes. */
    int (*conn_add_group)(sg_conn *conn, const char *group);
    bool (*conn_has_group)(sg_conn *conn, const char *group);
    int (*conn_set_attr)(sg_conn *conn, const char *name, const char *value);
    const char *(*conn_get_attr)(sg_conn *conn, const char *name); /* borrowed */
    /* Per-connection keyboard-interactive prompts (KeyboardInteractivePrompts[id]);
     * call from the kbdint_start auth event. Copied. */
    int (*conn_set_kbdint_prompts)(sg_conn *conn, const char *instruction,
                                   const struct sg_kbdint_prompt *prompts, size_t n);
    /* Per-connection auth banner (UserAuthBanner[id]); effective if set
     * before the client's first auth request. Copied. */
    int (*conn_set_banner)(sg_conn *conn, const char *banner);
    /* Disconnect with a reason text (sent to the client). The connection
     * ends after the current handler returns; on_disconnected follows. */
    void (*disconnect)(sg_conn *conn, const char *reason);
    /* Server-initiated rekey (ExchangeKeys). libssh 0.10.6 has no public call
     * for it: returns SG_E_UNSUPPORTED. Rekeying by volume and time
     * (config rekey.bytes/seconds) works. */
    int (*exchange_keys)(sg_conn *conn);

    /* ---- channels --------------------------------------------------- */
    sg_conn *(*chan_conn)(sg_chan *ch);
    int (*chan_info)(sg_chan *ch, struct sg_chan_info *out); /* out->size must be set */
    void *(*chan_get_ctx)(sg_chan *ch);          /* the owner's slot */
    void (*chan_set_ctx)(sg_chan *ch, void *ctx);
    /* Send data. Returns bytes taken (0..len), never more than the remote
     * window allows; a short count means: keep the rest and wait for
     * on_channel_ready_to_send. Negative: SG_E_STATE (closed/EOF sent),
     * SG_E_IO. Data is copied. */
    long (*chan_send)(sg_chan *ch, enum sg_stream stream, const void *data, size_t len);
    /* Bytes chan_send would take now (remote window and output room). */
    size_t (*chan_send_room)(sg_chan *ch);
    int (*chan_send_eof)(sg_chan *ch);
    /* exit-status / exit-signal (signal name without "SIG"; e.g. "TERM"). */
    int (*chan_exit_status)(sg_chan *ch, int status);
    int (*chan_exit_signal)(sg_chan *ch, const char *signal_name, bool core_dumped,
                            const char *message);
    /* Close the channel (sends EOF first if not sent). on_channel_closed
     * follows once the client's close arrived or the connection ended. */
    int (*chan_close)(sg_chan *ch);
    /* Stop (true) or resume (false) delivering on_channel_data. */
    void (*chan_pause_input)(sg_chan *ch, bool paused);
    /* Framing of received data (ChangeRecordLength / ChannelEOL /
     * MaxChannelLength). record_length > 0: deliver exactly that many bytes
     * per call (a shorter rest only at EOF). eol != NULL: deliver up to and
     * including the EOL string, or max_len bytes without it
     * (ev->eol_found false). Both 0/NULL: deliver as received. */
    int (*chan_set_record_length)(sg_chan *ch, size_t record_length);
    int (*chan_set_eol)(sg_chan *ch, const char *eol, size_t eol_len, size_t max_len);
    /* Open a forwarded-tcpip channel to the client (ssh -R). The channel is
     * owned by the calling plugin; on_channel_opened fires on confirmation,
     * on_channel_closed on refusal. *out is valid at once for ctx slots. */
    int (*chan_open_forwarded)(sg_conn *conn, const sg_plugin_ref *self,
                               const char *bound_address, int bound_port,
                               const char *orig_address, int orig_port, sg_chan **out);
    /* SendSSHPacket for channel requests: only "exit-status", "exit-signal",
     * "eof", "close" are possible with libssh 0.10.6 (payload built with
     * param_set); other types → SG_E_UNSUPPORTED. */
    int (*chan_send_request)(sg_chan *ch, const char *type, const uint8_t *payload, size_t len);
    /* Tell the host a tunnel ended (fires on_tunnel_closed to all plugins). */
    void (*tunnel_closed)(sg_conn *conn, int direction, const char *address, int port);

    /* ---- asynchronous decisions ------------------------------------- */
    /* Finish an SG_AGAIN: result SG_OK, SG_DENY or SG_E_*; for auth events
     * also SG_DECLINED (the host then asks the next plugin of the chain).
     * For auth events the outputs (partial_success, available_methods) are
     * passed here; for tunnels `port` is the bound port; for channel opens
     * deny_reason. `extra` may be NULL.
     * `req` is a handle (slot and generation), never an address: the host
     * frees the request when it stops waiting for it, and from then on the
     * handle resolves to nothing and complete() is ignored (debug log). So
     * it is safe, and ignored, when: the connection ended; an auth decision
     * passed config limits.timeout (taken as SG_DENY); the request was
     * already completed (a second call). Called from inside the handler
     * that is about to return SG_AGAIN, the answer is held and applied when
     * the handler returns (if the handler returns anything else, that
     * result counts and the held answer is dropped). */
    void (*complete)(sg_request *req, int result, const struct sg_completion *extra);

    /* ---- loop ------------------------------------------------------- */
    /* One-shot timer after `ms` milliseconds. Cancel before it fires with
     * timer_cancel (never after it fired). */
    sg_timer *(*timer_add)(uint64_t ms, sg_timer_cb cb, void *arg);
    void (*timer_cancel)(sg_timer *t);
    /* Watch an fd (non-blocking, owned by the plugin) for SG_WATCH_* events;
     * level-triggered. Remove before closing the fd. */
    sg_watch *(*fd_watch)(int fd, unsigned events, sg_watch_cb cb, void *arg);
    int (*fd_watch_modify)(sg_watch *w, unsigned events);
    void (*fd_watch_remove)(sg_watch *w);
    /* Run `work(arg)` on a pool thread, then `done(arg)` on the loop. */
    int (*queue_work)(sg_work_fn work, sg_done_fn done, void *arg);
    /* Thread-safe: run fn(arg) on the loop thread soon. */
    int (*post)(sg_post_fn fn, void *arg);
    uint64_t (*now_ms)(void); /* monotonic milliseconds */

    /* ---- SSH param codec (GetSSHParam / SetSSHParam) ---------------- */
    /* Read field `field` of a request payload of type `request_type`
     * (well-known names: see docs/plugins.md, e.g. pty-req "TerminalType",
     * or "%s,i" style type lists: the value of the last listed field).
     * Writes the textual value (types: s text, sb hex, m/i/l/b decimal,
     * f "True"/"False") NUL-terminated into out. Returns its length, or
     * SG_E_NOTFOUND / SG_E_INVAL / SG_E_LIMIT (out too small). */
    long (*param_get)(const uint8_t *payload, size_t len, const char *request_type,
                      const char *field, char *out, size_t out_size);
    /* Same, raw bytes (strings without length prefix, integers big-endian). */
    long (*param_get_bytes)(const uint8_t *payload, size_t len, const char *request_type,
                            const char *field, uint8_t *out, size_t out_size);
    /* Append field of type ("s","sb","m","i","l","b","f") with textual value
     * to buf (used bytes *len, capacity cap). Returns new length or SG_E_*. */
    long (*param_set)(uint8_t *buf, size_t *len, size_t cap, const char *type, const char *value);

    /* ---- since ABI 1.1 (check SG_HAS_FIELD(host, conn_restrict)) ---- */
    /* Restrict the connection (struct sg_restrictions above; borrowed for
     * the call). Meant for an auth plugin that accepts a credential carrying
     * restrictions: call it from on_auth_request (or before host->complete)
     * for an attempt you answer SG_OK. During an auth attempt the
     * restrictions are held and applied only if the attempt succeeds (also
     * as partial success); a refused attempt, or a publickey probe, drops
     * them. Outside auth they apply at once. Restrictions only add up: flags
     * accumulate and every permit list given is one more condition. Returns
     * SG_OK, SG_E_INVAL (a malformed entry: nothing is applied; logged) or
     * SG_E_NOMEM. A plugin that cannot call it (older host) must refuse a
     * credential whose restrictions it cannot have enforced. */
    int (*conn_restrict)(sg_conn *conn, const struct sg_restrictions *r);
};

/* Extra results for host->complete. */
struct sg_completion {
    size_t size;
    bool partial_success;            /* auth */
    const char *available_methods;   /* auth (copied) */
    int port;                        /* tunnel: bound port */
    int deny_reason;                 /* channel open */
};

/* ======================================================================
 * The descriptor a plugin returns from sg_plugin_entry
 * ====================================================================== */
struct sg_plugin {
    size_t size;              /* sizeof(struct sg_plugin) */
    unsigned abi_major;       /* SG_PLUGIN_ABI_MAJOR */
    unsigned abi_minor;       /* SG_PLUGIN_ABI_MINOR */
    const char *name;         /* short, unique: "sftp" */
    const char *version;      /* the plugin's own version */
    uint32_t caps;            /* SG_CAP_* */

    /* Called once per worker. config_json: the plugin's "config" object
     * from the config file as JSON text ("{}" if absent). Store your state
     * in *state. Return SG_OK, or an SG_E_* to refuse loading (the daemon
     * then refuses the config). `self` identifies the plugin in host calls. */
    int (*init)(const struct sg_host *host, const sg_plugin_ref *self,
                const char *config_json, void **state);
    /* Called once per worker at exit, after every connection ended. */
    void (*fini)(void *state);

    /* Handlers (NULL = not interested). `state` is what init stored. */
    int (*on_connection_request)(void *state, const struct sg_ev_connection_request *ev);
    void (*on_connected)(void *state, sg_conn *conn, const struct sg_ev_connected *ev);
    void (*on_disconnected)(void *state, sg_conn *conn, const struct sg_ev_disconnected *ev);
    int (*on_service_request)(void *state, sg_conn *conn, const struct sg_ev_service_request *ev);
    int (*on_auth_request)(void *state, sg_conn *conn, struct sg_ev_auth *ev);
    int (*on_channel_open_request)(void *state, sg_conn *conn, sg_chan *ch,
                                   struct sg_ev_channel_open *ev);
    void (*on_channel_opened)(void *state, sg_chan *ch, const struct sg_ev_channel_opened *ev);
    int (*on_channel_request)(void *state, sg_chan *ch, const struct sg_ev_channel_request *ev);
    void (*on_channel_requested)(void *state, sg_chan *ch, const struct sg_ev_channel_requested *ev);
    void (*on_channel_data)(void *state, sg_chan *ch, const struct sg_ev_data *ev);
    void (*on_channel_eof)(void *state, sg_chan *ch, const struct sg_ev_channel_eof *ev);
    void (*on_channel_closed)(void *state, sg_chan *ch, const struct sg_ev_channel_closed *ev);
    void (*on_channel_ready_to_send)(void *state, sg_chan *ch, const struct sg_ev_ready_to_send *ev);
    int (*on_tunnel_requested)(void *state, sg_conn *conn, struct sg_ev_tunnel *ev);
    void (*on_tunnel_closed)(void *state, sg_conn *conn, const struct sg_ev_tunnel_closed *ev);
    void (*on_status)(void *state, sg_conn *conn, const struct sg_ev_status *ev);
    void (*on_log)(void *state, sg_conn *conn, const struct sg_ev_log *ev);
    void (*on_error)(void *state, sg_conn *conn, const struct sg_ev_error *ev);

    void *reserved[8];        /* must be NULL */
};

/* The entry point every plugin defines (visibility default). */
const struct sg_plugin *sg_plugin_entry(unsigned abi_major, unsigned abi_minor);

#ifdef __cplusplus
}
#endif
#endif /* SSHGATE_PLUGIN_H */
