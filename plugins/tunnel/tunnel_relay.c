/* tunnel_relay.c — socket <-> channel pump with backpressure (see .h). */
#include "tunnel_relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Socket → channel: one read() takes up to TR_READ into the worker's
 * scratch buffer and goes to the channel with one chan_send (libssh then
 * packs it into SSH packets and flushes them with one write); only what
 * the window does not take yet is copied into the relay's own buffer.
 * libssh 0.10.6 puts (the client's maximum packet size - 10) bytes of data
 * in each packet; OpenSSH, libssh and Go clients announce 32768 for
 * direct-tcpip and forwarded-tcpip channels, so TR_READ is the data of four
 * full packets. 128 KiB made a fifth packet of 40 bytes per read: 25 % more
 * packets (each with its own padding, tag and system-call share) for the
 * same bytes. A client with another packet size is served as before. */
#define TR_PACKET_DATA (32768 - 10)
#define TR_READ (4 * TR_PACKET_DATA)
#define TR_READS_PER_WAKEUP 4 /* fairness between connections */
#define TR_CHUNK (64 * 1024)  /* gathering buffers above this are given back when idle */
/* Channel data towards the socket is gathered for the rest of the current
 * loop round (a 0 ms timer) up to this size, then written with one send():
 * one wakeup of the reader per round instead of one per SSH packet. */
#define TR_COALESCE (256 * 1024)
#define TR_LINGER_MS 30000 /* at most this long for a closed channel's last bytes */

struct tr_relay {
    const struct sg_host *host;
    sg_chan *ch;
    int fd;
    sg_watch *w;
    unsigned want; /* events the watch has now */
    sg_timer *idle;
    sg_timer *flush; /* gathered channel data goes out when it fires */
    uint64_t last_active;
    unsigned idle_ms;
    size_t max_buffer;

    uint8_t *up; /* channel → socket backlog */
    size_t up_off, up_len, up_cap;
    uint8_t *down; /* socket → channel bytes the window did not take yet (NULL: none) */
    size_t down_off, down_len;

    bool started, paused, in_eof, wr_shut, sock_eof, eof_sent, closing;
    int depth;                       /* nesting of relay callbacks */
    bool dead;                       /* tr_free requested during a callback */
    bool orphan;                     /* the channel is gone: write what is left, then go */
    struct tr_relay *onext, **oprev; /* list of orphans (freed by tr_fini) */
    const char *reason;
    uint64_t bytes_up, bytes_down;
};

static void relay_release(struct tr_relay *r);
static struct tr_relay *g_orphans; /* this worker's lingering relays */
static uint8_t *g_scratch;         /* this worker's socket read buffer (TR_READ) */

static void enter(struct tr_relay *r)
{
    r->depth++;
}

/* Returns true when r was freed (caller must not touch it). */
static bool leave(struct tr_relay *r)
{
    if (--r->depth == 0 && r->dead) {
        relay_release(r);
        return true;
    }
    return false;
}

static void watch_cb(int fd, unsigned events, void *arg);

static void drop_io(struct tr_relay *r)
{
    if (r->w) {
        r->host->fd_watch_remove(r->w);
        r->w = NULL;
    }
    r->want = 0;
    if (r->idle) {
        r->host->timer_cancel(r->idle);
        r->idle = NULL;
    }
    if (r->flush) {
        r->host->timer_cancel(r->flush);
        r->flush = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    free(r->up);
    r->up = NULL;
    r->up_len = r->up_off = r->up_cap = 0;
    free(r->down);
    r->down = NULL;
    r->down_len = r->down_off = 0;
}

void tr_close(struct tr_relay *r, const char *reason)
{
    if (r->closing || r->dead)
        return;
    r->closing = true;
    r->reason = reason;
    drop_io(r);
    if (r->orphan) {
        r->dead = true; /* released when the callback returns */
        return;
    }
    r->host->chan_close(r->ch);
}

static void update_watch(struct tr_relay *r)
{
    unsigned want = 0;
    if (r->closing || r->fd < 0)
        return;
    if (r->started && !r->orphan && !r->sock_eof && r->down_len == 0)
        want |= SG_WATCH_READ;
    if (r->up_len > 0 && !r->flush)
        want |= SG_WATCH_WRITE;
    if (want == r->want && (want == 0 || r->w))
        return;
    if (want == 0) {
        if (r->w)
            r->host->fd_watch_remove(r->w);
        r->w = NULL;
    } else if (!r->w) {
        r->w = r->host->fd_watch(r->fd, want, watch_cb, r);
        if (!r->w) {
            tr_close(r, "cannot watch socket");
            return;
        }
    } else if (r->host->fd_watch_modify(r->w, want) != SG_OK) {
        tr_close(r, "cannot watch socket");
        return;
    }
    r->want = want;
}

static void check_done(struct tr_relay *r)
{
    if (!r->closing && r->sock_eof && r->eof_sent && r->wr_shut)
        tr_close(r, NULL);
}

static void send_eof(struct tr_relay *r)
{
    if (r->eof_sent || r->closing)
        return;
    r->eof_sent = true;
    r->host->chan_send_eof(r->ch);
}

static void touch(struct tr_relay *r)
{
    if (r->idle_ms)
        r->last_active = r->host->now_ms();
}

/* chan_send as much of data as the channel takes now: the count, or -1
 * when the relay closed. */
static long send_down(struct tr_relay *r, const uint8_t *data, size_t len)
{
    long sent = r->host->chan_send(r->ch, SG_STDOUT, data, len);
    if (sent == SG_E_WOULDBLOCK)
        sent = 0;
    if (sent < 0) {
        tr_close(r, "channel send failed");
        return -1;
    }
    r->bytes_down += (uint64_t)sent;
    return sent;
}

/* Send the bytes the window held back. Returns false if the relay closed. */
static bool push_down(struct tr_relay *r)
{
    if (r->down_len > 0) {
        long sent = send_down(r, r->down + r->down_off, r->down_len);
        if (sent < 0)
            return false;
        r->down_off += (size_t)sent;
        r->down_len -= (size_t)sent;
        if (r->down_len > 0)
            return true; /* short send: the rest waits for tr_on_ready */
    }
    free(r->down);
    r->down = NULL;
    r->down_off = 0;
    return true;
}

/* Keep what the channel did not take of a socket read. */
static bool hold_down(struct tr_relay *r, const uint8_t *rest, size_t n)
{
    r->down = malloc(n);
    if (!r->down) {
        tr_close(r, "out of memory");
        return false;
    }
    memcpy(r->down, rest, n);
    r->down_off = 0;
    r->down_len = n;
    return true;
}

static void pump_down(struct tr_relay *r)
{
    /* The worker's buffer; a relay deeper on the stack would get its own
     * (the host defers plugin events while inside libssh, so nesting is a
     * safety net, not a path the relays take). */
    static bool busy;
    bool shared = !busy;
    if (shared && !g_scratch)
        g_scratch = malloc(TR_READ);
    uint8_t *buf = shared ? g_scratch : malloc(TR_READ);
    if (!buf) {
        tr_close(r, "out of memory");
        return;
    }
    busy = true;
    for (int i = 0; i < TR_READS_PER_WAKEUP && !r->closing; i++) {
        ssize_t n = read(r->fd, buf, TR_READ);
        if (n > 0) {
            touch(r);
            long sent = send_down(r, buf, (size_t)n);
            if (sent < 0)
                break;
            if (sent < n) { /* window full: wait for tr_on_ready */
                hold_down(r, buf + sent, (size_t)(n - sent));
                break;
            }
            continue;
        }
        if (n == 0) {
            r->sock_eof = true;
            send_eof(r);
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            break;
        tr_close(r, "socket read error");
        break;
    }
    if (shared)
        busy = false;
    else
        free(buf);
    update_watch(r);
    check_done(r);
}

static void shut_wr(struct tr_relay *r)
{
    if (r->wr_shut || r->fd < 0)
        return;
    r->wr_shut = true;
    shutdown(r->fd, SHUT_WR);
}

static void flush_up(struct tr_relay *r)
{
    while (r->up_len > 0) {
        ssize_t n = send(r->fd, r->up + r->up_off, r->up_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            tr_close(r, "socket write error");
            return;
        }
        r->bytes_up += (uint64_t)n;
        r->up_off += (size_t)n;
        r->up_len -= (size_t)n;
    }
    if (r->up_len == 0) {
        r->up_off = 0;
        if (r->up_cap > TR_CHUNK) { /* an idle relay keeps no round-sized buffer */
            free(r->up);
            r->up = NULL;
            r->up_cap = 0;
        }
    }
    if (r->orphan && r->up_len == 0) { /* all written: the orphan is done */
        shut_wr(r);
        r->closing = r->dead = true;
        return;
    }
    if (r->paused && !r->orphan && r->up_len <= r->max_buffer / 2) {
        r->paused = false;
        r->host->chan_pause_input(r->ch, false);
    }
    if (r->up_len == 0 && r->in_eof)
        shut_wr(r);
    update_watch(r);
    check_done(r);
}

static void watch_cb(int fd, unsigned events, void *arg)
{
    struct tr_relay *r = arg;
    (void)fd;
    enter(r);
    if (!r->closing && (events & (SG_WATCH_WRITE | SG_WATCH_ERROR)) && r->up_len > 0)
        flush_up(r);
    if (!r->closing && (events & (SG_WATCH_READ | SG_WATCH_ERROR)) && (r->want & SG_WATCH_READ))
        pump_down(r);
    leave(r);
}

static void idle_cb(void *arg)
{
    struct tr_relay *r = arg;
    uint64_t now, quiet;
    r->idle = NULL;
    if (r->closing || r->dead)
        return;
    enter(r);
    now = r->host->now_ms();
    quiet = now - r->last_active;
    if (quiet >= r->idle_ms)
        tr_close(r, "idle timeout");
    else
        r->idle = r->host->timer_add(r->idle_ms - quiet, idle_cb, r);
    leave(r);
}

struct tr_relay *tr_new(const struct sg_host *host, sg_chan *ch, int fd, size_t max_buffer,
                        unsigned idle_timeout_s)
{
    struct tr_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->host = host;
    r->ch = ch;
    r->fd = fd;
    r->max_buffer = max_buffer ? max_buffer : 256 * 1024;
    r->idle_ms = idle_timeout_s * 1000u;
    return r;
}

int tr_start(struct tr_relay *r)
{
    if (r->started || r->closing)
        return SG_E_STATE;
    enter(r);
    r->started = true;
    if (r->idle_ms) {
        r->last_active = r->host->now_ms();
        r->idle = r->host->timer_add(r->idle_ms, idle_cb, r);
    }
    update_watch(r);
    leave(r);
    return SG_OK;
}

static bool up_append(struct tr_relay *r, const uint8_t *data, size_t len)
{
    if (r->up_off > 0 && r->up_len > 0 && r->up_off + r->up_len + len > r->up_cap) {
        memmove(r->up, r->up + r->up_off, r->up_len);
        r->up_off = 0;
    } else if (r->up_len == 0) {
        r->up_off = 0;
    }
    if (r->up_off + r->up_len + len > r->up_cap) {
        size_t cap = r->up_cap ? r->up_cap : TR_COALESCE + TR_CHUNK;
        while (cap < r->up_off + r->up_len + len)
            cap *= 2;
        uint8_t *n = realloc(r->up, cap);
        if (!n)
            return false;
        r->up = n;
        r->up_cap = cap;
    }
    memcpy(r->up + r->up_off + r->up_len, data, len);
    r->up_len += len;
    return true;
}

static void flush_cb(void *arg)
{
    struct tr_relay *r = arg;
    r->flush = NULL;
    if (r->closing || r->dead)
        return;
    enter(r);
    flush_up(r);
    leave(r);
}

void tr_on_data(struct tr_relay *r, const uint8_t *data, size_t len)
{
    if (r->closing || r->dead || r->in_eof || r->wr_shut || len == 0)
        return;
    enter(r);
    touch(r);
    if (!up_append(r, data, len)) {
        tr_close(r, "out of memory");
        goto out;
    }
    if (r->want & SG_WATCH_WRITE) {
        /* the socket is full: the write watch sends when it drains */
    } else if (r->up_len >= TR_COALESCE || r->up_len >= r->max_buffer) {
        if (r->flush) {
            r->host->timer_cancel(r->flush);
            r->flush = NULL;
        }
        flush_up(r);
        if (r->closing)
            goto out;
    } else if (!r->flush) {
        r->flush = r->host->timer_add(0, flush_cb, r);
        if (!r->flush)
            flush_up(r);
        if (r->closing)
            goto out;
    }
    if (r->up_len >= r->max_buffer && !r->paused) {
        r->paused = true;
        r->host->chan_pause_input(r->ch, true);
    }
    update_watch(r);
out:
    leave(r);
}

void tr_on_eof(struct tr_relay *r)
{
    if (r->closing || r->dead || r->in_eof)
        return;
    enter(r);
    r->in_eof = true;
    if (r->up_len == 0)
        shut_wr(r);
    check_done(r);
    leave(r);
}

void tr_on_ready(struct tr_relay *r)
{
    if (r->closing || r->dead || !r->started)
        return;
    enter(r);
    if (!push_down(r))
        goto out;
    if (r->down_len == 0 && r->sock_eof)
        send_eof(r);
    update_watch(r);
    check_done(r);
out:
    leave(r);
}

void tr_get_stats(const struct tr_relay *r, struct tr_stats *out)
{
    out->bytes_to_socket = r->bytes_up;
    out->bytes_to_channel = r->bytes_down;
    out->close_reason = r->reason;
    out->buffered = r->up_len;
}

static void relay_release(struct tr_relay *r)
{
    if (r->oprev) {
        *r->oprev = r->onext;
        if (r->onext)
            r->onext->oprev = r->oprev;
    }
    drop_io(r);
    free(r);
}

static void linger_cb(void *arg)
{
    struct tr_relay *r = arg;
    r->idle = NULL;
    enter(r);
    tr_close(r, "linger timeout");
    leave(r);
}

void tr_release(struct tr_relay *r)
{
    if (!r)
        return;
    if (r->closing || r->dead || r->depth > 0 || r->fd < 0 || r->up_len == 0) {
        tr_free(r);
        return;
    }
    /* data the client sent before closing the channel still goes out, as
     * with OpenSSH: keep the socket until it is written */
    r->orphan = true;
    r->ch = NULL;
    r->onext = g_orphans;
    if (g_orphans)
        g_orphans->oprev = &r->onext;
    r->oprev = &g_orphans;
    g_orphans = r;
    r->paused = false;
    if (r->idle)
        r->host->timer_cancel(r->idle);
    r->idle = r->host->timer_add(TR_LINGER_MS, linger_cb, r);
    enter(r);
    if (!r->flush)
        flush_up(r);
    if (!r->closing)
        update_watch(r);
    leave(r);
}

void tr_free(struct tr_relay *r)
{
    if (!r)
        return;
    if (r->depth > 0) {
        r->dead = true;
        r->closing = true;
        drop_io(r);
        return;
    }
    relay_release(r);
}

void tr_fini(void)
{
    while (g_orphans) {
        struct tr_relay *r = g_orphans;
        r->depth = 0; /* fini runs outside every relay callback */
        relay_release(r);
    }
    free(g_scratch);
    g_scratch = NULL;
}
