/*
 * One SFTP session (one channel): internal interface shared by the request
 * handlers (sftp_ops.c, sftp_ext.c) and the host glue (sftp_plugin.c).
 */
#ifndef SSHGATE_SFTP_SESSION_H
#define SSHGATE_SFTP_SESSION_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>

#include "plugin.h"
#include "sftp_codec.h"
#include "sftp_config.h"
#include "sftp_path.h"

enum sftp_handle_kind { SFTP_H_FREE = 0, SFTP_H_FILE, SFTP_H_DIR };

struct sftp_handle {
    int kind;     /* enum sftp_handle_kind */
    uint32_t gen; /* bumped on every reuse: stale handles are refused */
    int fd;       /* file, or the directory fd (owned by dir) */
    DIR *dir;
    char *path;      /* as the client sees it ("/..."), for audit */
    uint32_t pflags; /* OPEN pflags */
    uint64_t bytes_read, bytes_written;
    bool failed; /* an I/O error happened on it */
};

/* A copy-data request in progress: it is worked on in slices from the loop
 * (sftp_copy.c); the session handles no further request until it ends. */
struct sftp_copy {
    bool active;
    uint32_t id; /* request to answer */
    struct sftp_handle *rh, *wh;
    uint64_t roff, woff;
    uint64_t left; /* bytes still to copy (when !to_eof) */
    bool to_eof;   /* length 0: until the end of the source */
    uint64_t done;
    bool no_cfr; /* copy_file_range unusable for this pair: pread/pwrite */
    uint8_t *buf;
};

/* uid or gid shown to the client (attrs of STAT/LSTAT/FSTAT/READDIR), and
 * its name once looked up: users-groups-by-id@openssh.com names only
 * these, so a client cannot enumerate the host's account database. */
struct sftp_idname {
    uint32_t id;
    bool resolved;
    char *name; /* NULL: no such user/group (or not looked up yet) */
};

struct sftp_idset {
    struct sftp_idname *v;
    unsigned n, cap;
};

struct sftp_session {
    const struct sg_host *host;
    const sg_plugin_ref *self;
    sg_chan *ch;
    sg_conn *conn;
    struct sftp_cfg cfg; /* plugin config + route config */
    char *user;
    char *root_abs; /* canonical host path of the root (never sent) */
    struct sftp_root root;
    bool inited; /* INIT received */
    uint32_t client_version;

    struct sftp_handle *handles; /* cfg.max_handles entries */
    unsigned open_handles;

    /* input: unprocessed client bytes (at most one partial packet plus what
     * arrived while paused) */
    uint8_t *in;
    size_t in_len, in_cap;
    /* output queue of encoded replies */
    struct sftp_wbuf out;

    bool paused; /* input paused (output queue full or slice budget) */
    bool eof;    /* client sent EOF */
    bool dead;   /* protocol error / closing: ignore further input */
    bool close_sent;
    sg_timer *resume_timer;
    /* re-entrancy: the host may call back into the plugin from inside a host
     * call (data read while chan_send writes). Nested calls only record
     * what happened; the outer call acts on it. */
    unsigned busy;     /* depth of plugin entries in progress */
    bool nested_event; /* data/EOF arrived during a nested call */
    bool gone;         /* on_channel_closed came while busy: free at exit */
    const char *pending_fatal;
    sg_timer *kick_timer; /* retry a blocked send if ready_to_send is late */
    sg_timer *trim_timer; /* give big idle buffers back (SFTP_TRIM_MS) */
    unsigned kick_ms;     /* its back-off (5 ms doubling to 200 ms) */

    struct sftp_copy copy;     /* copy-data in progress */
    struct sftp_idset seen[2]; /* [0] uids, [1] gids shown to the client */
};

/* Limits of the output queue (bytes) that pause / resume request processing. */
#define SFTP_OUTQ_HIGH (1024u * 1024u)
#define SFTP_OUTQ_LOW (256u * 1024u)
/* Work per slice before yielding to the loop, in units: 1 per request plus 1
 * per SFTP_UNIT_BYTES of file data moved (so ~4 MiB of file I/O, or 256
 * requests). */
#define SFTP_SLICE_REQUESTS 256u
#define SFTP_UNIT_BYTES 16384u
/* Distinct uids (and gids) remembered per session for users-groups-by-id. */
#define SFTP_IDS_MAX 256u
/* Most ids (uids + gids) named by one users-groups-by-id request. */
#define SFTP_UGID_MAX 512u
/* Longest user/group name answered (longer ones count as unknown). */
#define SFTP_IDNAME_MAX 255u
/* Buffers larger than SFTP_TRIM_BYTES are freed after SFTP_TRIM_MS idle. */
#define SFTP_TRIM_BYTES (256u * 1024u)
#define SFTP_TRIM_MS 2000u
/* Input kept while paused before we call the peer abusive. */
#define SFTP_IN_MAX (4u * 1024u * 1024u)

/* ---- dispatch (sftp_ops.c) -------------------------------------------- */
/* Handle one packet body (type byte first). Returns 0, or -1 on a fatal
 * protocol error (the session must end). */
int sftp_dispatch(struct sftp_session *s, const uint8_t *body, size_t len);
/* Close every open handle (audit events included). */
void sftp_close_all_handles(struct sftp_session *s);

/* ---- replies (sftp_ops.c) -------------------------------------------- */
void sftp_reply_status(struct sftp_session *s, uint32_t id, uint32_t code, const char *msg);
/* Status from an errno value (negative or positive). */
void sftp_reply_errno(struct sftp_session *s, uint32_t id, int err);
void sftp_reply_ok(struct sftp_session *s, uint32_t id);
void sftp_reply_attrs(struct sftp_session *s, uint32_t id, const struct sftp_attrs *a);
/* NAME reply with one entry: name, longname (same as name), empty attrs. */
void sftp_reply_name1(struct sftp_session *s, uint32_t id, const char *name);
/* Status code for an errno value. */
uint32_t sftp_errno_status(int err);

/* ---- helpers shared by ops and extensions (sftp_ops.c) ---------------- */
/* Read a path, normalise it; rel receives the relative path. -1: bad message. */
int sftp_get_path(struct sftp_session *s, struct sftp_rbuf *rb, char *rel, size_t cap);
/* Look up a handle string; NULL if invalid. kind 0 = any. */
struct sftp_handle *sftp_get_handle(struct sftp_session *s, struct sftp_rbuf *rb, int kind);
/* The same for a handle string already read (p, n). */
struct sftp_handle *sftp_handle_lookup(struct sftp_session *s, const uint8_t *p, uint32_t n,
                                       int kind);
/* Remember that uid (user) or gid (!user) `id` was shown to the client. */
void sftp_ids_note(struct sftp_session *s, bool user, uint32_t id);
/* Name of a uid/gid shown to the client: looked up (getpwuid_r/getgrgid_r)
 * once per session and remembered. NULL if it was never shown, or has no
 * name. */
const char *sftp_ids_name(struct sftp_session *s, bool user, uint32_t id);
void sftp_ids_free(struct sftp_session *s);
/* Policy check; replies PERMISSION_DENIED and returns false if refused. */
bool sftp_permit(struct sftp_session *s, uint32_t id, enum sftp_op op, const char *rel);
/* One audit event: op, path (relative form "/..."), bytes, result ("ok" or
 * an error text). path2 may be NULL (rename target). */
void sftp_audit(struct sftp_session *s, const char *op, const char *rel, const char *rel2,
                uint64_t bytes, int err);
/* Apply attributes to an object: either an open fd (fd >= 0) or the entry
 * `rel` (follow = SETSTAT, !follow = LSETSTAT). Returns 0 or -errno. */
int sftp_apply_attrs(struct sftp_session *s, int fd, const char *rel, bool follow,
                     const struct sftp_attrs *a);

/* ---- extensions (sftp_ext.c) ------------------------------------------ */
/* Append the extension name/data pairs to the VERSION packet. */
void sftp_ext_put_version(struct sftp_session *s);
/* Handle SSH_FXP_EXTENDED (after the id). Returns 0 or -1 (fatal). */
int sftp_ext_dispatch(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb);

/* ---- copy-data (sftp_copy.c) ----------------------------------------- */
/* The copy-data request: checks it, then starts the copy (s->copy) or
 * answers the refusal. */
void sftp_ext_copy_data(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb);
/* Move the next slice of the copy in progress, at most *budget work units
 * (each SFTP_UNIT_BYTES; at least one is charged). Queues the STATUS reply
 * and ends the copy when it is complete or failed. */
void sftp_copy_continue(struct sftp_session *s, unsigned *budget);
/* End a copy in progress without a reply (the session is ending). */
void sftp_copy_cancel(struct sftp_session *s);

#endif
