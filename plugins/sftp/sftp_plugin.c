/*
 * sftp plugin: descriptor, host glue and flow control.
 *
 * One session per channel (a "subsystem" request routed here). Client bytes
 * are framed into packets (4-byte length, at most SFTP_MAX_PACKET), handled
 * by sftp_dispatch, and the replies queued in an output buffer that is
 * pushed with host->chan_send. When the queue exceeds SFTP_OUTQ_HIGH (the
 * client does not read, or the window is closed) the session stops
 * consuming requests and pauses the channel input; it resumes once the
 * queue drained below SFTP_OUTQ_LOW. At most SFTP_SLICE_REQUESTS work units
 * (a request is 1 unit, plus 1 per 16 KiB of file data: ~4 MiB of I/O)
 * are handled per loop callback; the rest waits for a 0 ms timer so other
 * sessions on the worker get their turn. A copy-data request moves its data
 * in such slices too (sftp_copy.c); later requests wait until it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp_session.h"

struct sftp_plugin {
    const struct sg_host *host;
    const sg_plugin_ref *self;
    struct sftp_cfg cfg;
};

static void pump(struct sftp_session *s);

/* ---- session life --------------------------------------------------------- */

static void session_free(struct sftp_session *s)
{
    if (!s)
        return;
    if (s->resume_timer) {
        s->host->timer_cancel(s->resume_timer);
        s->resume_timer = NULL;
    }
    if (s->kick_timer) {
        s->host->timer_cancel(s->kick_timer);
        s->kick_timer = NULL;
    }
    if (s->trim_timer) {
        s->host->timer_cancel(s->trim_timer);
        s->trim_timer = NULL;
    }
    sftp_close_all_handles(s);
    free(s->handles);
    sftp_ids_free(s);
    sftp_root_close(&s->root);
    sftp_wbuf_free(&s->out);
    free(s->in);
    free(s->user);
    free(s->root_abs);
    sftp_cfg_free(&s->cfg);
    free(s);
}

/* Every entry from the host (handlers, timers) is bracketed by enter/leave;
 * a session closed during a nested call is freed when the outermost returns. */
static void enter(struct sftp_session *s)
{
    s->busy++;
}

static void leave(struct sftp_session *s)
{
    if (--s->busy == 0 && s->gone)
        session_free(s);
}

/* mkdir -p: parents 0755, the last component `mode` (exactly, umask aside) */
static int mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    for (i = 1; i < n; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            int err = errno;
            buf[i] = '/';
            return -err;
        }
        buf[i] = '/';
    }
    if (mkdir(buf, (mode_t)mode) < 0)
        return errno == EEXIST ? 0 : -errno;
    return chmod(buf, (mode_t)mode) < 0 ? -errno : 0;
}

static struct sftp_session *session_new(struct sftp_plugin *pl, sg_chan *ch, const char *route_cfg)
{
    struct sg_conn_info info;
    struct sftp_session *s;
    char err[256], root[PATH_MAX];
    int rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->host = pl->host;
    s->self = pl->self;
    s->ch = ch;
    s->conn = pl->host->chan_conn(ch);
    s->root.fd = -1;
    sftp_wbuf_init(&s->out);
    if (sftp_cfg_copy(&s->cfg, &pl->cfg) < 0)
        goto fail;
    if (sftp_cfg_apply_json(&s->cfg, route_cfg, err, sizeof(err)) < 0) {
        pl->host->log(pl->self, s->conn, SG_LOG_ERROR, "route config: %s", err);
        goto fail;
    }
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    if (pl->host->conn_info(s->conn, &info) != SG_OK || !info.user) {
        pl->host->log(pl->self, s->conn, SG_LOG_ERROR, "no connection info");
        goto fail;
    }
    s->user = strdup(info.user);
    if (!s->user)
        goto fail;
    if (sftp_cfg_expand_root(s->cfg.root, s->user, root, sizeof(root)) < 0) {
        pl->host->log(pl->self, s->conn, SG_LOG_ERROR,
                      "cannot build the sftp root for user \"%s\" from \"%s\"", s->user,
                      s->cfg.root);
        goto fail;
    }
    if (s->cfg.create_root) {
        rc = mkdir_p(root, s->cfg.root_mode);
        if (rc < 0) {
            pl->host->log(pl->self, s->conn, SG_LOG_ERROR, "cannot create sftp root %s: %s", root,
                          strerror(-rc));
            goto fail;
        }
    }
    rc = sftp_root_open(&s->root, root, s->cfg.force_walk);
    if (rc < 0) {
        pl->host->log(pl->self, s->conn, SG_LOG_ERROR, "cannot open sftp root %s: %s", root,
                      strerror(-rc));
        goto fail;
    }
    s->root_abs = realpath(root, NULL);
    if (!s->root_abs)
        goto fail;
    s->handles = calloc(s->cfg.max_handles, sizeof(*s->handles));
    if (!s->handles)
        goto fail;
    for (unsigned i = 0; i < s->cfg.max_handles; i++)
        s->handles[i].fd = -1;
    if (s->root.walk)
        pl->host->log(pl->self, s->conn, SG_LOG_VERBOSE,
                      "openat2 unavailable: symlinks are not followed in this session");
    return s;
fail:
    session_free(s);
    return NULL;
}

/* ---- output --------------------------------------------------------------- */

static void fatal(struct sftp_session *s, const char *why)
{
    if (s->dead)
        return;
    s->dead = true;
    s->host->log(s->self, s->conn, SG_LOG_INFO, "sftp session of %s ended: %s",
                 s->user ? s->user : "?", why);
    sftp_close_all_handles(s);
    free(s->in);
    s->in = NULL;
    s->in_len = s->in_cap = 0;
    sftp_wbuf_free(&s->out);
    if (!s->close_sent) {
        s->close_sent = true;
        s->host->chan_close(s->ch);
    }
}

static void kick_cb(void *arg)
{
    struct sftp_session *s = arg;

    s->kick_timer = NULL;
    enter(s);
    pump(s);
    leave(s);
}

/* A blocked send normally ends with on_channel_ready_to_send. As a safety
 * net (the event must not be lost, or the session would hang with replies
 * queued) the send is also retried from a timer with a growing delay. */
static void arm_kick(struct sftp_session *s)
{
    if (s->kick_timer)
        return;
    s->kick_ms = s->kick_ms ? (s->kick_ms >= 100 ? 200 : s->kick_ms * 2) : 5;
    s->kick_timer = s->host->timer_add(s->kick_ms, kick_cb, s);
}

static void flush(struct sftp_session *s)
{
    long n;

    while (!s->dead && sftp_wbuf_pending(&s->out) > 0) {
        n = s->host->chan_send(s->ch, SG_STDOUT, s->out.p + s->out.head,
                               sftp_wbuf_pending(&s->out));
        if (n == SG_E_WOULDBLOCK || n == 0) {
            s->host->log(s->self, s->conn, SG_LOG_DEBUG, "sftp: output waits (%zu queued)",
                         sftp_wbuf_pending(&s->out));
            arm_kick(s);
            return;
        }
        if (n < 0) {
            fatal(s, "channel send failed");
            return;
        }
        sftp_wbuf_consume(&s->out, (size_t)n);
    }
}

/* ---- input ---------------------------------------------------------------- */

static bool has_packet(const struct sftp_session *s)
{
    uint32_t blen;

    return s->in_len > 0 && sftp_frame_peek(s->in, s->in_len, &blen) != 0;
}

static void resume_cb(void *arg)
{
    struct sftp_session *s = arg;

    s->resume_timer = NULL;
    enter(s);
    pump(s);
    leave(s);
}

/* Handle complete packets of buf while the output queue has room and the
 * slice budget lasts; returns the bytes consumed. */
static size_t process(struct sftp_session *s, const uint8_t *buf, size_t len, unsigned *budget)
{
    size_t off = 0;
    uint32_t blen;
    int r;

    /* a copy in progress holds every later request */
    while (!s->dead && !s->copy.active && sftp_wbuf_pending(&s->out) < SFTP_OUTQ_HIGH) {
        r = sftp_frame_peek(buf + off, len - off, &blen);
        if (r < 0) {
            fatal(s, "bad packet length");
            return len;
        }
        if (r == 0)
            break;
        if (*budget == 0) {
            if (!s->resume_timer)
                s->resume_timer = s->host->timer_add(0, resume_cb, s);
            break;
        }
        size_t out_before = s->out.len, cost;
        if (sftp_dispatch(s, buf + off + 4, blen) < 0) {
            fatal(s, s->out.oom ? "out of memory" : "protocol error");
            return len;
        }
        off += 4 + blen;
        /* one unit per request plus one per 16 KiB moved (WRITE data in,
         * READ data out): a slice does at most ~4 MiB of file I/O */
        cost =
            1 + (blen + (s->out.len > out_before ? s->out.len - out_before : 0)) / SFTP_UNIT_BYTES;
        *budget = cost >= *budget ? 0 : *budget - (unsigned)cost;
    }
    return off;
}

static int append_in(struct sftp_session *s, const uint8_t *data, size_t len)
{
    size_t ncap;
    uint8_t *np;

    if (len == 0)
        return 0;
    if (s->in_len + len > SFTP_IN_MAX)
        return -1;
    if (s->in_cap - s->in_len < len) {
        ncap = s->in_cap ? s->in_cap : 64 * 1024;
        while (ncap < s->in_len + len)
            ncap *= 2;
        np = realloc(s->in, ncap);
        if (!np)
            return -1;
        s->in = np;
        s->in_cap = ncap;
    }
    memcpy(s->in + s->in_len, data, len);
    s->in_len += len;
    return 0;
}

static void drop_in(struct sftp_session *s, size_t n)
{
    if (n >= s->in_len) {
        s->in_len = 0;
        return;
    }
    memmove(s->in, s->in + n, s->in_len - n);
    s->in_len -= n;
}

/* After a burst the queues may hold megabytes of capacity: free it once the
 * session stayed idle (both queues empty) for a while. */
static void trim_cb(void *arg)
{
    struct sftp_session *s = arg;

    s->trim_timer = NULL;
    if (s->dead || s->busy)
        return;
    if (s->in_len == 0 && s->in_cap > SFTP_TRIM_BYTES) {
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
    if (sftp_wbuf_pending(&s->out) == 0 && s->out.cap > SFTP_TRIM_BYTES)
        sftp_wbuf_free(&s->out);
}

static void arm_trim(struct sftp_session *s)
{
    if (s->trim_timer || (s->in_cap <= SFTP_TRIM_BYTES && s->out.cap <= SFTP_TRIM_BYTES))
        return;
    s->trim_timer = s->host->timer_add(SFTP_TRIM_MS, trim_cb, s);
}

static void update_flow(struct sftp_session *s)
{
    bool want;

    if (s->dead)
        return;
    if (s->paused)
        want = sftp_wbuf_pending(&s->out) >= SFTP_OUTQ_LOW || s->resume_timer != NULL;
    else
        want = sftp_wbuf_pending(&s->out) >= SFTP_OUTQ_HIGH || s->resume_timer != NULL;
    if (s->copy.active)
        want = true; /* requests wait for the copy: let the client wait too */
    if (want != s->paused) {
        s->host->log(s->self, s->conn, SG_LOG_DEBUG, "sftp: input %s (%zu queued, %zu buffered)",
                     want ? "paused" : "resumed", sftp_wbuf_pending(&s->out), s->in_len);
        s->paused = want;
        s->host->chan_pause_input(s->ch, want);
    }
    arm_trim(s);
    /* client finished: end once every request was answered and sent */
    if (s->eof && !s->copy.active && !has_packet(s) && sftp_wbuf_pending(&s->out) == 0 &&
        !s->close_sent) {
        sftp_close_all_handles(s);
        s->close_sent = true;
        /* like sftp-server exiting 0 under sshd: scp checks it */
        s->host->chan_exit_status(s->ch, 0);
        s->host->chan_close(s->ch);
    }
}

/* Work through buffered requests: handle, send, repeat while the output
 * drains at once (the window is open), within one slice budget. Fresh
 * channel data (data/len, may be NULL) is parsed in place when nothing is
 * buffered, and its unhandled rest kept. Returns -1 if the session died. */
static int run(struct sftp_session *s, const uint8_t *data, size_t len)
{
    unsigned budget = SFTP_SLICE_REQUESTS;
    size_t used;

    if (s->dead)
        return -1;
    if (data && len) {
        if (s->in_len == 0 && !s->resume_timer && !s->copy.active &&
            sftp_wbuf_pending(&s->out) < SFTP_OUTQ_LOW) {
            used = process(s, data, len, &budget);
            if (s->dead)
                return -1;
            data += used;
            len -= used;
        }
        if (append_in(s, data, len) < 0) {
            fatal(s, "input buffer limit");
            return -1;
        }
    }
    for (;;) {
        s->nested_event = false;
        flush(s);
        if (s->pending_fatal)
            fatal(s, s->pending_fatal);
        if (s->dead)
            return -1;
        if (!s->resume_timer && sftp_wbuf_pending(&s->out) < SFTP_OUTQ_LOW &&
            (s->copy.active || has_packet(s))) {
            if (budget > 0 && s->copy.active) {
                sftp_copy_continue(s, &budget);
                if (s->out.oom)
                    fatal(s, "out of memory");
                if (s->dead)
                    return -1;
                continue;
            }
            if (budget > 0) {
                used = process(s, s->in, s->in_len, &budget);
                if (s->dead)
                    return -1;
                drop_in(s, used);
                continue;
            }
            /* yield to the loop; continue from a 0 ms timer */
            s->resume_timer = s->host->timer_add(0, resume_cb, s);
        }
        update_flow(s);
        if (s->dead)
            return -1;
        if (!s->nested_event)
            break;
    }
    return 0;
}

static void pump(struct sftp_session *s)
{
    (void)run(s, NULL, 0);
}

/* ---- handlers ------------------------------------------------------------- */

static int sftp_init(const struct sg_host *host, const sg_plugin_ref *self, const char *config_json,
                     void **state)
{
    struct sftp_plugin *pl;
    char err[256];

    pl = calloc(1, sizeof(*pl));
    if (!pl)
        return SG_E_NOMEM;
    pl->host = host;
    pl->self = self;
    if (sftp_cfg_init(&pl->cfg) < 0) {
        free(pl);
        return SG_E_NOMEM;
    }
    if (sftp_cfg_apply_json(&pl->cfg, config_json, err, sizeof(err)) < 0) {
        host->log(self, NULL, SG_LOG_ERROR, "%s", err);
        sftp_cfg_free(&pl->cfg);
        free(pl);
        return SG_E_INVAL;
    }
    *state = pl;
    return SG_OK;
}

static void sftp_fini(void *state)
{
    struct sftp_plugin *pl = state;

    if (!pl)
        return;
    sftp_cfg_free(&pl->cfg);
    free(pl);
}

static int sftp_on_channel_request(void *state, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s;

    if (ev->replayed || strcmp(ev->type, "subsystem") != 0)
        return SG_OK; /* pty-req/env replays, window-change, signal: nothing to do */
    if (pl->host->chan_get_ctx(ch))
        return SG_DENY; /* a second subsystem on the same channel */
    s = session_new(pl, ch, ev->route_config);
    if (!s)
        return SG_DENY;
    pl->host->chan_set_ctx(ch, s);
    return SG_OK;
}

static void sftp_on_channel_requested(void *state, sg_chan *ch,
                                      const struct sg_ev_channel_requested *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s = pl->host->chan_get_ctx(ch);

    if (!s)
        return;
    s->host->log(s->self, s->conn, SG_LOG_VERBOSE, "sftp session started for %s", s->user);
    /* Clients send INIT right behind the subsystem request. Bytes that
     * reached the host before the channel had an owner may still sit in its
     * transport buffer; asking for plain framing makes the host deliver
     * them now instead of when the next packet arrives. */
    s->host->chan_set_record_length(ch, 0);
}

static void sftp_on_channel_data(void *state, sg_chan *ch, const struct sg_ev_data *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s = pl->host->chan_get_ctx(ch);

    if (!s || s->dead || ev->is_stderr || ev->len == 0)
        return;
    if (s->busy) { /* nested: keep the bytes for the outer call */
        if (append_in(s, ev->data, ev->len) < 0)
            s->pending_fatal = "input buffer limit";
        s->nested_event = true;
        return;
    }
    enter(s);
    (void)run(s, ev->data, ev->len);
    leave(s);
}

static void sftp_on_channel_eof(void *state, sg_chan *ch, const struct sg_ev_channel_eof *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s = pl->host->chan_get_ctx(ch);

    if (!s || s->dead)
        return;
    s->eof = true;
    if (s->busy) {
        s->nested_event = true;
        return;
    }
    enter(s);
    pump(s);
    leave(s);
}

static void sftp_on_channel_closed(void *state, sg_chan *ch, const struct sg_ev_channel_closed *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s = pl->host->chan_get_ctx(ch);

    if (!s)
        return;
    pl->host->chan_set_ctx(ch, NULL);
    if (s->busy) { /* inside one of our own host calls: free on the way out */
        s->gone = s->dead = s->close_sent = true;
        return;
    }
    session_free(s);
}

static void sftp_on_ready_to_send(void *state, sg_chan *ch, const struct sg_ev_ready_to_send *ev)
{
    struct sftp_plugin *pl = state;
    struct sftp_session *s = pl->host->chan_get_ctx(ch);

    if (!s || s->dead)
        return;
    if (s->kick_timer) {
        s->host->timer_cancel(s->kick_timer);
        s->kick_timer = NULL;
    }
    s->kick_ms = 0;
    if (s->busy) { /* the outer call is sending already */
        s->nested_event = true;
        return;
    }
    enter(s);
    pump(s);
    leave(s);
}

static const struct sg_plugin sftp_descriptor = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "sftp",
    .version = "1.0.0",
    .caps = SG_CAP_SUBSYSTEM,
    .init = sftp_init,
    .fini = sftp_fini,
    .on_channel_request = sftp_on_channel_request,
    .on_channel_requested = sftp_on_channel_requested,
    .on_channel_data = sftp_on_channel_data,
    .on_channel_eof = sftp_on_channel_eof,
    .on_channel_closed = sftp_on_channel_closed,
    .on_channel_ready_to_send = sftp_on_ready_to_send,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned abi_major,
                                                                               unsigned abi_minor)
{
    (void)abi_minor;
    if (abi_major != SG_PLUGIN_ABI_MAJOR)
        return NULL;
    return &sftp_descriptor;
}
