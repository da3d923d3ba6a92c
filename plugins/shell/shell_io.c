/* shell_io.c — pump bytes between a child and its SSH channel with
 * backpressure in both directions, reap the child through its pidfd, and
 * finish the channel in the order OpenSSH expects (exit-status or
 * exit-signal, EOF, close) once the child exited and its output drained.
 *
 * Memory per session is bounded: SH_OUT_BUF per output stream (a stream
 * whose bytes the channel does not take stops being read until
 * on_channel_ready_to_send), and about SH_IN_HIGH of client input (the
 * channel input is paused above it, resumed when it drained). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "shell_int.h"

#define SH_READS_PER_WAKEUP 4

static void sh_out_cb(int fd, unsigned events, void *arg);
static void sh_in_cb(int fd, unsigned events, void *arg);
static void sh_pid_cb(int fd, unsigned events, void *arg);
static void sh_maybe_finish(struct sh_sess *s);

static const struct sg_host *H(struct sh_sess *s)
{
    return s->pl->host;
}

/* After the channel is gone the output fds are kept (unwatched) as a sign
 * of life of the child's process group: true while some process still
 * holds the write side (no POLLHUP on our read end). */
static bool sh_group_holds_output(struct sh_sess *s)
{
    int fds[2] = {s->out.fd, s->err.fd};
    for (int i = 0; i < 2; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (fds[i] >= 0 && poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return true;
    }
    return false;
}

/* ================================================================ output */

static void sh_out_close(struct sh_sess *s, struct sh_out *o)
{
    if (o->w) {
        H(s)->fd_watch_remove(o->w);
        o->w = NULL;
    }
    if (o->fd >= 0) {
        /* with a pty, in.fd is a dup of the same master: only close ours */
        close(o->fd);
        o->fd = -1;
    }
    o->eof = true;
    o->len = 0;
}

static void sh_out_watch(struct sh_sess *s, struct sh_out *o, bool on)
{
    if (on && !o->w && o->fd >= 0)
        o->w = H(s)->fd_watch(o->fd, SG_WATCH_READ, sh_out_cb, s);
    else if (!on && o->w) {
        /* removed rather than set to 0 events: a hung-up pipe would keep
         * reporting EPOLLHUP and spin the loop */
        H(s)->fd_watch_remove(o->w);
        o->w = NULL;
    }
}

/* Send what is pending. Returns true when everything went out. */
static bool sh_out_flush(struct sh_sess *s, struct sh_out *o)
{
    while (o->len > 0) {
        if (o->discard || !s->ch) {
            o->len = 0;
            break;
        }
        long n = H(s)->chan_send(s->ch, o->stream, o->buf + o->off, o->len);
        if (n < 0) {
            if (n == SG_E_WOULDBLOCK)
                return false;
            o->discard = true; /* closed / EOF sent: drop the rest */
            o->len = 0;
            break;
        }
        if (n == 0)
            return false;
        o->off += (size_t)n;
        o->len -= (size_t)n;
    }
    o->off = 0;
    return true;
}

static struct sh_out *sh_out_of(struct sh_sess *s, int fd)
{
    return s->out.fd == fd ? &s->out : &s->err;
}

/* The stream ended (EOF, EIO, error, or a drained pty of an exited child):
 * send what is left, then close. */
static void sh_out_done(struct sh_sess *s, struct sh_out *o)
{
    if (o->len > 0 && !sh_out_flush(s, o)) {
        o->draining = true;
        sh_out_watch(s, o, false);
        return;
    }
    sh_out_close(s, o);
    sh_maybe_finish(s);
}

static void sh_out_cb(int fd, unsigned events, void *arg)
{
    struct sh_sess *s = arg;
    struct sh_out *o = sh_out_of(s, fd);
    (void)events;

    if (o->fd < 0 || o->draining)
        return;
    for (int i = 0; i < SH_READS_PER_WAKEUP; i++) {
        if (o->len > 0 && !sh_out_flush(s, o)) {
            sh_out_watch(s, o, false); /* resumed by on_channel_ready_to_send */
            return;
        }
        ssize_t n = read(o->fd, o->buf, SH_OUT_BUF);
        if (n > 0) {
            o->off = 0;
            o->len = (size_t)n;
            /* a short read took all there was: the watch (level-triggered)
             * calls again when more comes; a reaped child's pty still needs
             * the EAGAIN below */
            if ((size_t)n < SH_OUT_BUF && !s->reaped)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* A pty whose child is gone: the kernel flushes the line
             * discipline before it answers EAGAIN, so everything the child
             * wrote was read; a background process may still hold the
             * slave: do not wait for it (OpenSSH does the same). */
            if (s->reaped && s->in.is_pty && o == &s->out)
                sh_out_done(s, o);
            return;
        }
        /* 0 = EOF; EIO = every pty slave fd closed; other errors: give up */
        sh_out_done(s, o);
        return;
    }
    if (o->len > 0 && !sh_out_flush(s, o))
        sh_out_watch(s, o, false);
}

/* Resume a stream after the channel has room again. */
static void sh_out_resume(struct sh_sess *s, struct sh_out *o)
{
    if (o->eof)
        return;
    if (o->len > 0 && !sh_out_flush(s, o))
        return; /* still short: the host fires ready_to_send again */
    if (o->draining) {
        sh_out_close(s, o);
        sh_maybe_finish(s);
        return;
    }
    sh_out_watch(s, o, true);
    sh_out_cb(o->fd, SG_WATCH_READ, s); /* EAGAIN is harmless; a drained pty needs it */
}

void sh_io_ready_to_send(struct sh_sess *s)
{
    sh_out_resume(s, &s->out);
    if (s->err.fd >= 0 || s->err.draining)
        sh_out_resume(s, &s->err);
}

/* ================================================================ input */

static void sh_in_close(struct sh_sess *s)
{
    struct sh_in *in = &s->in;
    if (in->w) {
        H(s)->fd_watch_remove(in->w);
        in->w = NULL;
    }
    if (in->fd >= 0) {
        close(in->fd);
        in->fd = -1;
    }
    free(in->buf);
    in->buf = NULL;
    in->len = in->cap = 0;
    in->closed = true;
    if (in->paused && s->ch) {
        H(s)->chan_pause_input(s->ch, false); /* input is dropped from now on */
        in->paused = false;
    }
}

/* Client EOF once everything before it was written: a pty gets its VEOF
 * character (^D by default), a pipe is closed. */
static void sh_in_eof_now(struct sh_sess *s)
{
    struct sh_in *in = &s->in;
    in->eof_pending = false;
    if (in->closed || in->fd < 0)
        return;
    if (in->is_pty) {
        struct termios t;
        unsigned char c = 4;
        if (tcgetattr(in->fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
            c = t.c_cc[VEOF];
        ssize_t w = write(in->fd, &c, 1);
        (void)w; /* a full pty buffer drops it, as a typed ^D would block */
        return;
    }
    sh_in_close(s);
}

/* Write as much of the buffer as the child takes. */
static void sh_in_flush(struct sh_sess *s)
{
    struct sh_in *in = &s->in;
    size_t off = 0;
    while (off < in->len) {
        ssize_t n = write(in->fd, in->buf + off, in->len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        sh_in_close(s); /* EPIPE / EIO: the child does not read any more */
        return;
    }
    if (off > 0) {
        memmove(in->buf, in->buf + off, in->len - off);
        in->len -= off;
    }
    if (in->len == 0 && in->w) {
        H(s)->fd_watch_remove(in->w);
        in->w = NULL;
    } else if (in->len > 0 && !in->w) {
        in->w = H(s)->fd_watch(in->fd, SG_WATCH_WRITE, sh_in_cb, s);
    }
    if (in->paused && in->len <= SH_IN_LOW && s->ch) {
        H(s)->chan_pause_input(s->ch, false);
        in->paused = false;
    }
    if (in->len == 0 && in->eof_pending)
        sh_in_eof_now(s);
}

static void sh_in_cb(int fd, unsigned events, void *arg)
{
    struct sh_sess *s = arg;
    (void)fd;
    if (events & SG_WATCH_ERROR && !(events & SG_WATCH_WRITE)) {
        sh_in_close(s);
        return;
    }
    sh_in_flush(s);
}

void sh_io_input(struct sh_sess *s, const uint8_t *data, size_t len)
{
    struct sh_in *in = &s->in;
    if (in->closed || (s->started && in->fd < 0) || len == 0)
        return; /* nobody reads: drop, like writing to a closed pipe */
    if (in->len + len > in->cap) {
        size_t ncap = in->cap ? in->cap : 16 * 1024;
        while (ncap < in->len + len)
            ncap *= 2;
        uint8_t *nb = realloc(in->buf, ncap);
        if (!nb) {
            H(s)->log(s->pl->self, s->conn, SG_LOG_ERROR, "out of memory for stdin");
            sh_in_close(s);
            return;
        }
        in->buf = nb;
        in->cap = ncap;
    }
    memcpy(in->buf + in->len, data, len);
    in->len += len;
    if (s->started)
        sh_in_flush(s);
    if (!in->closed && in->len >= SH_IN_HIGH && !in->paused && s->ch) {
        H(s)->chan_pause_input(s->ch, true);
        in->paused = true;
    }
}

void sh_io_input_eof(struct sh_sess *s)
{
    s->in.eof_pending = true;
    if (s->started && s->in.len == 0)
        sh_in_eof_now(s);
}

/* ================================================================ child exit */

static void sh_send_exit(struct sh_sess *s)
{
    const struct sg_host *h = H(s);
    if (s->status.exited) {
        h->chan_exit_status(s->ch, s->status.code);
    } else if (s->status.signo > 0) {
        h->chan_exit_signal(s->ch, sp_signal_name(s->status.signo), s->status.core_dumped, "");
    }
}

/* Exit reported, output drained: exit-status / exit-signal, EOF, close. */
static void sh_maybe_finish(struct sh_sess *s)
{
    if (s->finished || !s->reaped || !s->out.eof || !s->err.eof)
        return;
    s->finished = true;
    sh_in_close(s);
    if (!s->ch)
        return;
    if (s->status_known)
        sh_send_exit(s);
    H(s)->chan_send_eof(s->ch);
    H(s)->chan_close(s->ch);
}

static void sh_pid_cb(int fd, unsigned events, void *arg)
{
    struct sh_sess *s = arg;
    (void)fd;
    (void)events;
    int r = sp_reap(s->child.pidfd, &s->status);
    if (r == 0)
        return;
    s->reaped = true;
    s->status_known = r > 0;
    if (r < 0)
        H(s)->log(s->pl->self, s->conn, SG_LOG_ERROR, "cannot reap child %d (%s): no exit status",
                  (int)s->child.pid, strerror(-r));
    else
        H(s)->log(s->pl->self, s->conn, SG_LOG_VERBOSE, "child %d %s %d%s", (int)s->child.pid,
                  s->status.exited ? "exited with" : "killed by signal",
                  s->status.exited ? s->status.code : s->status.signo,
                  s->status.core_dumped ? " (core dumped)" : "");
    H(s)->fd_watch_remove(s->pid_w);
    s->pid_w = NULL;
    close(s->child.pidfd);
    s->child.pidfd = -1;
    if (!s->ch) {
        /* the channel is already gone: nothing to report to. A pending
         * kill timer stays while background members of the group still
         * hold the output (they may ignore SIGHUP). */
        if (s->kill_timer && !sh_group_holds_output(s)) {
            H(s)->timer_cancel(s->kill_timer);
            s->kill_timer = NULL;
        }
        if (!s->kill_timer)
            sh_io_stop(s);
        sh_sess_maybe_free(s);
        return;
    }
    /* a pty is drained now (see sh_out_cb); pipes run until their EOF */
    if (s->in.is_pty && !s->out.eof && s->out.w)
        sh_out_cb(s->out.fd, SG_WATCH_READ, s);
    sh_maybe_finish(s);
}

/* ================================================================ lifecycle */

static int sh_out_init(struct sh_sess *s, struct sh_out *o, int fd, enum sg_stream stream)
{
    o->fd = fd;
    o->stream = stream;
    o->eof = fd < 0;
    if (fd < 0)
        return 0;
    o->buf = malloc(SH_OUT_BUF);
    if (!o->buf)
        return -1;
    o->w = H(s)->fd_watch(fd, SG_WATCH_READ, sh_out_cb, s);
    return o->w ? 0 : -1;
}

int sh_io_start(struct sh_sess *s)
{
    s->in.fd = s->child.in_fd;
    s->in.is_pty = s->child.err_fd < 0;
    s->child.in_fd = -1;
    int ofd = s->child.out_fd, efd = s->child.err_fd;
    s->child.out_fd = s->child.err_fd = -1;
    if (sh_out_init(s, &s->out, ofd, SG_STDOUT) < 0 || sh_out_init(s, &s->err, efd, SG_STDERR) < 0)
        return -1;
    s->pid_w = H(s)->fd_watch(s->child.pidfd, SG_WATCH_READ, sh_pid_cb, s);
    if (!s->pid_w)
        return -1;
    /* input that arrived before the child existed */
    if (s->in.len > 0)
        sh_in_flush(s);
    else if (s->in.eof_pending)
        sh_in_eof_now(s);
    return 0;
}

void sh_io_window(struct sh_sess *s)
{
    if (!s->started || !s->in.is_pty || s->out.fd < 0)
        return;
    struct winsize ws = {.ws_row = (unsigned short)s->rows,
                         .ws_col = (unsigned short)s->cols,
                         .ws_xpixel = (unsigned short)s->wpx,
                         .ws_ypixel = (unsigned short)s->hpx};
    ioctl(s->out.fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
}

/* Remove every watch and close every fd except the pidfd watch. */
void sh_io_stop(struct sh_sess *s)
{
    sh_in_close(s);
    sh_out_close(s, &s->out);
    sh_out_close(s, &s->err);
    free(s->out.buf);
    free(s->err.buf);
    s->out.buf = s->err.buf = NULL;
}

/* Signal the child's process group. Once the leader is reaped only the
 * group is signalled (never the bare pid, which may be reused): the group id
 * stays allocated while members of the group exist. */
static void sh_signal_group(struct sh_sess *s, int sig)
{
    if (s->reaped)
        kill(-s->child.pid, sig);
    else
        sp_kill_group(s->child.pid, sig);
}

static void sh_kill_cb(void *arg)
{
    struct sh_sess *s = arg;
    s->kill_timer = NULL;
    if (!s->reaped || sh_group_holds_output(s)) {
        H(s)->log(s->pl->self, NULL, SG_LOG_VERBOSE, "grace time over: SIGKILL to process group %d",
                  (int)s->child.pid);
        sh_signal_group(s, SIGKILL);
    }
    if (s->reaped) {
        sh_io_stop(s);
        sh_sess_maybe_free(s);
    }
}

/* Remove the watches of a session whose channel is gone, keep the output
 * fds open as signs of life (see sh_group_holds_output). */
static void sh_io_unwatch(struct sh_sess *s)
{
    sh_in_close(s);
    struct sh_out *o[2] = {&s->out, &s->err};
    for (int i = 0; i < 2; i++) {
        if (o[i]->w) {
            H(s)->fd_watch_remove(o[i]->w);
            o[i]->w = NULL;
        }
        o[i]->len = 0;
    }
}

/* The channel is gone (client closed it or the connection ended): stop
 * talking to it. If the child still runs, or something of its process group
 * still holds its output open (a background job), the group is hung up
 * (SIGHUP + SIGCONT), then killed after kill_grace_ms if it is still there:
 * no orphans. The session is freed once the child is reaped and the group
 * is gone or the timer fired. */
void sh_io_channel_gone(struct sh_sess *s)
{
    if (s->in.paused) /* the channel is gone: nothing to resume */
        s->in.paused = false;
    s->ch = NULL;
    s->conn = NULL; /* may end before the child is reaped */
    sh_io_unwatch(s);
    bool group_alive = s->started && (!s->reaped || sh_group_holds_output(s));
    if (!group_alive) {
        sh_io_stop(s);
        return;
    }
    H(s)->log(s->pl->self, NULL, SG_LOG_VERBOSE, "channel closed, hanging up child %d%s",
              (int)s->child.pid, s->reaped ? "'s process group" : "");
    sh_signal_group(s, SIGHUP);
    sh_signal_group(s, SIGCONT);
    s->kill_timer = H(s)->timer_add(s->conf.kill_grace_ms, sh_kill_cb, s);
    if (!s->kill_timer) {
        sh_signal_group(s, SIGKILL);
        if (s->reaped)
            sh_io_stop(s);
    }
}
