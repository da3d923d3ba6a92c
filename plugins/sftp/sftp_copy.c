/* copy-data (OpenSSH's server-side copy between two open file handles).
 *
 * The request is checked at once; the data is then moved in slices from the
 * loop (sftp_copy_continue, called by the session's run loop), at most one
 * slice budget (~4 MiB) per loop callback, so a copy of many GiB does not
 * hold the worker. The session handles no further request until the copy
 * ended and its STATUS was queued: replies keep the request order.
 *
 * copy_file_range(2) moves the bytes inside the kernel; where it cannot
 * (another file system, a file system without it, an O_APPEND target) the
 * copy continues with pread/pwrite through a bounce buffer. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp_session.h"

/* fallback bounce buffer */
#define SFTP_COPY_BUF (256u * 1024u)

/* open for reading (want_write false) / writing? */
static bool fd_allows(int fd, bool want_write)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return false;
    fl &= O_ACCMODE;
    return fl == O_RDWR || fl == (want_write ? O_WRONLY : O_RDONLY);
}

void sftp_ext_copy_data(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_copy_req r;
    struct sftp_handle *rh, *wh;
    struct stat rst, wst;

    if (sftp_get_copy_req(rb, &r) < 0) {
        sftp_reply_status(s, id, SSH_FX_BAD_MESSAGE, "Bad message");
        return;
    }
    rh = sftp_handle_lookup(s, r.read_handle, r.read_handle_len, SFTP_H_FILE);
    wh = sftp_handle_lookup(s, r.write_handle, r.write_handle_len, SFTP_H_FILE);
    if (!rh || !wh) {
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_COPY, rh->path))
        return;
    if (!fd_allows(rh->fd, false)) {
        sftp_audit(s, "copy", rh->path, wh->path + 1, 0, EBADF);
        sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED,
                          "Permission denied (read handle not open for reading)");
        return;
    }
    if (!fd_allows(wh->fd, true)) {
        sftp_audit(s, "copy", rh->path, wh->path + 1, 0, EBADF);
        sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED,
                          "Permission denied (write handle not open for writing)");
        return;
    }
    if (r.read_offset > (uint64_t)INT64_MAX || r.write_offset > (uint64_t)INT64_MAX) {
        sftp_reply_errno(s, id, EINVAL);
        return;
    }
    /* Like sftp-server: never copy a file onto itself (the same handle,
     * another handle of it, a hard link). Overlapping ranges would corrupt
     * it, and "until EOF" while writing behind the read offset never ends. */
    if (fstat(rh->fd, &rst) < 0 || fstat(wh->fd, &wst) < 0) {
        sftp_reply_errno(s, id, errno);
        return;
    }
    if (rst.st_dev == wst.st_dev && rst.st_ino == wst.st_ino) {
        sftp_audit(s, "copy", rh->path, wh->path + 1, 0, EINVAL);
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Source and destination are the same file");
        return;
    }
    s->copy = (struct sftp_copy){
        .active = true,
        .id = id,
        .rh = rh,
        .wh = wh,
        .roff = r.read_offset,
        .woff = r.write_offset,
        .left = r.length,
        .to_eof = r.length == 0,
    };
}

/* pread/pwrite through the bounce buffer: up to `want` bytes at the
 * current offsets. Sets *moved to the bytes written; returns 0 (*moved 0:
 * the end of the source) or -errno (*fail_fd: the handle at fault). */
static int bounce(struct sftp_copy *c, size_t want, size_t *moved, int *fail_fd)
{
    ssize_t n, w;

    *moved = 0;
    if (!c->buf) {
        c->buf = malloc(SFTP_COPY_BUF);
        if (!c->buf)
            return -ENOMEM;
    }
    if (want > SFTP_COPY_BUF)
        want = SFTP_COPY_BUF;
    do {
        n = pread(c->rh->fd, c->buf, want, (off_t)c->roff);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        *fail_fd = c->rh->fd;
        return -errno;
    }
    while (*moved < (size_t)n) {
        w = pwrite(c->wh->fd, c->buf + *moved, (size_t)n - *moved, (off_t)(c->woff + *moved));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *fail_fd = c->wh->fd;
            return w < 0 ? -errno : -EIO;
        }
        *moved += (size_t)w;
    }
    return 0;
}

/* Move up to `want` bytes at the current offsets: as bounce(). */
static int copy_some(struct sftp_copy *c, size_t want, size_t *moved, int *fail_fd)
{
    loff_t ro, wo;
    ssize_t n;
    int rc;

    *moved = 0;
    while (!c->no_cfr) {
        ro = (loff_t)c->roff;
        wo = (loff_t)c->woff;
        n = copy_file_range(c->rh->fd, &ro, c->wh->fd, &wo, want, 0);
        if (n > 0) {
            *moved = (size_t)n;
            return 0;
        }
        if (n == 0)
            break; /* the end, unless the file system reports sizes wrongly: read */
        if (errno == EINTR)
            continue;
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
            errno == EBADF) {
            /* cross-device, unsupported, or an O_APPEND target (both handles
             * were checked to allow the access): copy through a buffer */
            c->no_cfr = true;
            break;
        }
        *fail_fd = c->wh->fd; /* ENOSPC, EDQUOT, EFBIG, EIO: mostly the target */
        return -errno;
    }
    rc = bounce(c, want, moved, fail_fd);
    if (*moved > 0)
        c->no_cfr = true; /* copy_file_range saw an end that is not there */
    return rc;
}

static void copy_finish(struct sftp_session *s, int rc)
{
    struct sftp_copy *c = &s->copy;

    sftp_audit(s, "copy", c->rh->path, c->wh->path + 1, c->done, rc);
    if (rc < 0)
        sftp_reply_errno(s, c->id, rc);
    else
        sftp_reply_ok(s, c->id);
    free(c->buf);
    *c = (struct sftp_copy){0};
}

void sftp_copy_continue(struct sftp_session *s, unsigned *budget)
{
    struct sftp_copy *c = &s->copy;
    uint64_t allowed, moved = 0, units, want;
    int fail_fd = -1, rc = 0;
    bool end = false;
    size_t got;

    if (!c->active)
        return;
    allowed = (uint64_t)(*budget ? *budget : 1) * SFTP_UNIT_BYTES;
    while (moved < allowed) {
        want = allowed - moved;
        if (!c->to_eof && want > c->left)
            want = c->left;
        /* offsets stay within off_t */
        if (want > (uint64_t)INT64_MAX - c->roff)
            want = (uint64_t)INT64_MAX - c->roff;
        if (want > (uint64_t)INT64_MAX - c->woff)
            want = (uint64_t)INT64_MAX - c->woff;
        if (want == 0) {
            if ((!c->to_eof && c->left == 0) || c->roff >= (uint64_t)INT64_MAX)
                end = true; /* nothing can be read past the largest offset */
            else
                rc = -EFBIG; /* the target cannot grow any further */
            break;
        }
        rc = copy_some(c, (size_t)want, &got, &fail_fd);
        c->roff += got;
        c->woff += got;
        c->done += got;
        moved += got;
        if (!c->to_eof)
            c->left -= got;
        if (rc < 0)
            break;
        if (got == 0 || (!c->to_eof && c->left == 0)) {
            end = true; /* the end of the source ends a shorter copy too */
            break;
        }
    }
    c->rh->bytes_read += moved;
    c->wh->bytes_written += moved;
    if (rc < 0) {
        if (fail_fd == c->rh->fd)
            c->rh->failed = true;
        else if (fail_fd == c->wh->fd)
            c->wh->failed = true;
    }
    units = 1 + moved / SFTP_UNIT_BYTES;
    *budget = units >= *budget ? 0 : *budget - (unsigned)units;
    if (rc < 0 || end)
        copy_finish(s, rc);
}

void sftp_copy_cancel(struct sftp_session *s)
{
    if (!s->copy.active)
        return;
    sftp_audit(s, "copy", s->copy.rh->path, s->copy.wh->path + 1, s->copy.done, ECONNABORTED);
    free(s->copy.buf);
    s->copy = (struct sftp_copy){0};
}
