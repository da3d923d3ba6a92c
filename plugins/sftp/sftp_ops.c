/* SFTP v3 request handlers and the dispatch table. File-system access goes
 * through sftp_path.c (confined beneath the root fd) and *at() calls on the
 * parent directory fd; nothing here builds host paths from client input. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sftp_idname.h"
#include "sftp_session.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define SFTP_HANDLE_LEN 8
/* private error code: an OPEN of something that is not a regular file */
#define EFTYPE_NOTREG 100000
/* Stop adding READDIR entries once the reply is this large. */
#define SFTP_READDIR_BYTES (64u * 1024u)
#define SFTP_READDIR_MAX 256u

typedef void (*sftp_op_fn)(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb);

/* ======================================================================
 * Replies
 * ====================================================================== */

uint32_t sftp_errno_status(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return SSH_FX_OK;
    case ENOENT:
    case ENOTDIR:
    case EBADF:
        return SSH_FX_NO_SUCH_FILE;
    case EACCES:
    case EPERM:
    case EXDEV:
    case EROFS:
        return SSH_FX_PERMISSION_DENIED;
    case ENOSYS:
    case EOPNOTSUPP:
        return SSH_FX_OP_UNSUPPORTED;
    default:
        return SSH_FX_FAILURE;
    }
}

static const char *errno_message(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return "No such file or directory";
    case EBADF:
        return "Invalid handle";
    case EACCES:
    case EPERM:
        return "Permission denied";
    case EXDEV:
        return "Permission denied (outside the root)";
    case EROFS:
        return "Read-only file system";
    case ENOSYS:
    case EOPNOTSUPP:
        return "Operation unsupported";
    case EEXIST:
        return "File exists";
    case ENOTEMPTY:
        return "Directory not empty";
    case EISDIR:
        return "Is a directory";
    case ELOOP:
        return "Too many levels of symbolic links (or a symbolic link not followed)";
    case ENOSPC:
        return "No space left on device";
    case EDQUOT:
        return "Disk quota exceeded";
    case EFBIG:
        return "File too large";
    case ENAMETOOLONG:
        return "File name too long";
    case EINVAL:
        return "Invalid argument";
    case EMFILE:
    case ENFILE:
        return "Too many open files";
    case EBUSY:
        return "Device or resource busy";
    case EFTYPE_NOTREG:
        return "Not a regular file";
    case ECONNABORTED:
        return "Session ended";
    default:
        return "Failure";
    }
}

void sftp_reply_status(struct sftp_session *s, uint32_t id, uint32_t code, const char *msg)
{
    size_t st = sftp_packet_begin(&s->out, SSH_FXP_STATUS, id);

    sftp_put_u32(&s->out, code);
    sftp_put_cstr(&s->out, msg);
    sftp_put_cstr(&s->out, "en");
    sftp_packet_end(&s->out, st);
}

void sftp_reply_errno(struct sftp_session *s, uint32_t id, int err)
{
    sftp_reply_status(s, id, sftp_errno_status(err), errno_message(err));
}

void sftp_reply_ok(struct sftp_session *s, uint32_t id)
{
    sftp_reply_status(s, id, SSH_FX_OK, "Success");
}

void sftp_reply_attrs(struct sftp_session *s, uint32_t id, const struct sftp_attrs *a)
{
    size_t st = sftp_packet_begin(&s->out, SSH_FXP_ATTRS, id);

    sftp_put_attrs(&s->out, a);
    sftp_packet_end(&s->out, st);
}

void sftp_reply_name1(struct sftp_session *s, uint32_t id, const char *name)
{
    struct sftp_attrs a = {0};
    size_t st = sftp_packet_begin(&s->out, SSH_FXP_NAME, id);

    sftp_put_u32(&s->out, 1);
    sftp_put_cstr(&s->out, name);
    sftp_put_cstr(&s->out, name);
    sftp_put_attrs(&s->out, &a);
    sftp_packet_end(&s->out, st);
}

static void reply_bad_message(struct sftp_session *s, uint32_t id)
{
    sftp_reply_status(s, id, SSH_FX_BAD_MESSAGE, "Bad message");
}

/* ======================================================================
 * Shared helpers
 * ====================================================================== */

int sftp_get_path(struct sftp_session *s, struct sftp_rbuf *rb, char *rel, size_t cap)
{
    char raw[SFTP_MAX_PATH + 1];

    (void)s;
    if (sftp_get_name(rb, raw, sizeof(raw)) < 0)
        return -1;
    return sftp_path_normalize("", raw, false, rel, cap) < 0 ? -1 : 0;
}

struct sftp_handle *sftp_get_handle(struct sftp_session *s, struct sftp_rbuf *rb, int kind)
{
    const uint8_t *p;
    uint32_t n;

    if (sftp_get_string(rb, &p, &n) < 0)
        return NULL;
    return sftp_handle_lookup(s, p, n, kind);
}

struct sftp_handle *sftp_handle_lookup(struct sftp_session *s, const uint8_t *p, uint32_t n,
                                       int kind)
{
    uint32_t idx, gen;
    struct sftp_handle *h;

    if (n != SFTP_HANDLE_LEN)
        return NULL;
    idx = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    gen = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    if (idx >= s->cfg.max_handles)
        return NULL;
    h = &s->handles[idx];
    if (h->kind == SFTP_H_FREE || h->gen != gen || (kind && h->kind != kind))
        return NULL;
    return h;
}

bool sftp_permit(struct sftp_session *s, uint32_t id, enum sftp_op op, const char *rel)
{
    if (sftp_cfg_permits(&s->cfg, op))
        return true;
    sftp_audit(s, sftp_op_name(op), rel, NULL, 0, EACCES);
    sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED, "Permission denied (operation not allowed)");
    return false;
}

void sftp_audit(struct sftp_session *s, const char *op, const char *rel, const char *rel2,
                uint64_t bytes, int err)
{
    char path[SFTP_MAX_PATH + 2], path2[SFTP_MAX_PATH + 2], nbytes[24];
    struct sg_kv kv[6];
    size_t n = 0;

    if (!s->cfg.audit || !s->host)
        return;
    if (rel && rel[0] == '/')
        snprintf(path, sizeof(path), "%s", rel);
    else if (sftp_path_display(rel ? rel : "", path, sizeof(path)) < 0)
        snprintf(path, sizeof(path), "?");
    snprintf(nbytes, sizeof(nbytes), "%llu", (unsigned long long)bytes);
    kv[n++] = (struct sg_kv){"user", s->user ? s->user : ""};
    kv[n++] = (struct sg_kv){"op", op};
    kv[n++] = (struct sg_kv){"path", path};
    if (rel2) {
        if (sftp_path_display(rel2, path2, sizeof(path2)) < 0)
            snprintf(path2, sizeof(path2), "?");
        kv[n++] = (struct sg_kv){"path2", path2};
    }
    kv[n++] = (struct sg_kv){"bytes", nbytes};
    kv[n++] = (struct sg_kv){"result", err ? errno_message(err) : "ok"};
    s->host->log_event(s->self, s->conn, SG_LOG_INFO, "sftp", kv, n);
}

/* ---- attribute changes ---------------------------------------------------- */

/* chmod on an O_PATH fd that refers to a non-symlink object. */
static int fd_chmod(int fd, mode_t mode)
{
    char proc[64];

    if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
        return -errno;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return chmod(proc, mode) == 0 ? 0 : -errno;
}

static int fd_utimes(int fd, const struct timespec ts[2])
{
    char proc[64];

    if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return utimensat(AT_FDCWD, proc, ts, 0) == 0 ? 0 : -errno;
}

/* Ownership changes: every user shares the daemon's identity, so giving
 * files away (or taking them) is refused; a no-op change succeeds. */
static int fd_chown(int fd, const struct stat *st, const struct sftp_attrs *a)
{
    if ((uid_t)a->uid == st->st_uid && (gid_t)a->gid == st->st_gid)
        return 0;
    (void)fd;
    return -EPERM;
}

int sftp_apply_attrs(struct sftp_session *s, int fd, const char *rel, bool follow,
                     const struct sftp_attrs *a)
{
    struct timespec ts[2];
    struct stat st;
    int obj = -1, dirfd = -1, wfd = -1, rc = 0;
    const char *name;
    bool is_path_fd = false;

    if (fd >= 0) {
        obj = fd;
    } else if (follow) {
        obj = sftp_resolve_open(&s->root, rel, O_PATH, 0);
        is_path_fd = true;
    } else {
        rc = sftp_resolve_parent(&s->root, rel, &dirfd, &name);
        if (rc < 0) {
            if (rc != -EACCES || rel[0])
                goto out;
            obj = sftp_resolve_open(&s->root, "", O_PATH, 0); /* the root itself */
            rc = 0;
        } else {
            obj = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (obj < 0)
                obj = -errno;
        }
        is_path_fd = true;
    }
    if (obj < 0) {
        rc = obj;
        obj = -1;
        goto out;
    }
    if (fstat(obj, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (a->flags & SSH_FILEXFER_ATTR_SIZE) {
        if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
            rc = S_ISDIR(st.st_mode) ? -EISDIR : -EOPNOTSUPP;
            goto out;
        }
        if (is_path_fd) {
            /* reopen the very same object (no path walk) for writing */
            char proc[64];
            snprintf(proc, sizeof(proc), "/proc/self/fd/%d", obj);
            wfd = open(proc, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
            if (wfd < 0) {
                rc = -errno;
                goto out;
            }
        }
        if (ftruncate(wfd >= 0 ? wfd : obj, (off_t)a->size) < 0) {
            rc = -errno;
            goto out;
        }
    }
    if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) {
        mode_t mode = (mode_t)(a->perm & 01777); /* never setuid/setgid */
        if (S_ISLNK(st.st_mode)) {
            rc = -EOPNOTSUPP;
            goto out;
        }
        rc = is_path_fd ? fd_chmod(obj, mode) : (fchmod(obj, mode) == 0 ? 0 : -errno);
        if (rc < 0)
            goto out;
    }
    if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) {
        ts[0].tv_sec = (time_t)a->atime;
        ts[0].tv_nsec = 0;
        ts[1].tv_sec = (time_t)a->mtime;
        ts[1].tv_nsec = 0;
        rc = is_path_fd ? fd_utimes(obj, ts) : (futimens(obj, ts) == 0 ? 0 : -errno);
        if (rc < 0)
            goto out;
    }
    if (a->flags & SSH_FILEXFER_ATTR_UIDGID) {
        rc = fd_chown(obj, &st, a);
        if (rc < 0)
            goto out;
    }
out:
    if (wfd >= 0)
        close(wfd);
    if (obj >= 0 && obj != fd)
        close(obj);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* ---- handles -------------------------------------------------------------- */

static struct sftp_handle *handle_alloc(struct sftp_session *s, uint32_t *idx)
{
    unsigned i;

    if (s->open_handles >= s->cfg.max_handles)
        return NULL;
    for (i = 0; i < s->cfg.max_handles; i++) {
        if (s->handles[i].kind == SFTP_H_FREE) {
            *idx = i;
            return &s->handles[i];
        }
    }
    return NULL;
}

static void reply_handle(struct sftp_session *s, uint32_t id, uint32_t idx, uint32_t gen)
{
    uint8_t hb[SFTP_HANDLE_LEN] = {
        (uint8_t)(idx >> 24), (uint8_t)(idx >> 16), (uint8_t)(idx >> 8), (uint8_t)idx,
        (uint8_t)(gen >> 24), (uint8_t)(gen >> 16), (uint8_t)(gen >> 8), (uint8_t)gen,
    };
    size_t st = sftp_packet_begin(&s->out, SSH_FXP_HANDLE, id);

    sftp_put_string(&s->out, hb, sizeof(hb));
    sftp_packet_end(&s->out, st);
}

static const char *handle_op(const struct sftp_handle *h)
{
    if (h->kind == SFTP_H_DIR)
        return "list";
    if ((h->pflags & SSH_FXF_READ) && (h->pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND)))
        return "read-write";
    if (h->pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND))
        return "upload";
    return "download";
}

static int handle_close(struct sftp_session *s, struct sftp_handle *h)
{
    int rc = 0;

    if (h->kind == SFTP_H_DIR) {
        if (h->dir && closedir(h->dir) < 0)
            rc = -errno;
    } else if (h->kind == SFTP_H_FILE) {
        if (h->fd >= 0 && close(h->fd) < 0)
            rc = -errno;
    }
    if (h->kind != SFTP_H_DIR)
        sftp_audit(s, handle_op(h), h->path, NULL, h->bytes_read + h->bytes_written,
                   rc ? rc : (h->failed ? EIO : 0));
    free(h->path);
    h->path = NULL;
    h->dir = NULL;
    h->fd = -1;
    h->kind = SFTP_H_FREE;
    h->gen++;
    s->open_handles--;
    return rc;
}

void sftp_close_all_handles(struct sftp_session *s)
{
    unsigned i;

    sftp_copy_cancel(s); /* it uses two of the handles */
    if (!s->handles)
        return;
    for (i = 0; i < s->cfg.max_handles; i++)
        if (s->handles[i].kind != SFTP_H_FREE)
            handle_close(s, &s->handles[i]);
}

/* ======================================================================
 * Request handlers
 * ====================================================================== */

static void op_open(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1];
    struct sftp_attrs a;
    struct sftp_handle *h;
    uint32_t pflags, idx;
    struct stat st;
    int flags, fd = -1, rc;
    mode_t mode;
    bool wr;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0 || sftp_get_u32(rb, &pflags) < 0 ||
        sftp_get_attrs(rb, &a) < 0) {
        reply_bad_message(s, id);
        return;
    }
    wr = (pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND | SSH_FXF_CREAT | SSH_FXF_TRUNC)) != 0;
    if (((pflags & SSH_FXF_READ) || !wr) && !sftp_permit(s, id, SFTP_OP_OPEN_READ, rel))
        return;
    if (wr && !sftp_permit(s, id, SFTP_OP_OPEN_WRITE, rel))
        return;
    if ((pflags & SSH_FXF_READ) && (pflags & SSH_FXF_WRITE))
        flags = O_RDWR;
    else if (pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND))
        flags = O_WRONLY;
    else
        flags = O_RDONLY;
    if (pflags & SSH_FXF_APPEND)
        flags |= O_APPEND;
    if (pflags & SSH_FXF_CREAT)
        flags |= O_CREAT;
    if (pflags & SSH_FXF_TRUNC)
        flags |= O_TRUNC;
    if (pflags & SSH_FXF_EXCL)
        flags |= O_EXCL;
    if ((flags & (O_TRUNC | O_CREAT)) && (flags & O_ACCMODE) == O_RDONLY) {
        rc = -EINVAL;
        goto fail;
    }
    h = handle_alloc(s, &idx);
    if (!h) {
        sftp_audit(s, "open", rel, NULL, 0, EMFILE);
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Too many open handles");
        return;
    }
    mode = (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS) ? (mode_t)(a.perm & 0777)
                                                     : (mode_t)s->cfg.file_mode;
    mode &= ~(mode_t)s->cfg.umask;
    fd = sftp_resolve_open(&s->root, rel, flags | O_NOCTTY | O_NONBLOCK, mode);
    if (fd < 0) {
        rc = fd;
        fd = -1;
        goto fail;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EFTYPE_NOTREG;
        goto fail;
    }
    h->path = malloc(strlen(rel) + 2);
    if (!h->path) {
        rc = -ENOMEM;
        goto fail;
    }
    sftp_path_display(rel, h->path, strlen(rel) + 2);
    h->kind = SFTP_H_FILE;
    h->fd = fd;
    h->dir = NULL;
    h->pflags = pflags;
    h->bytes_read = h->bytes_written = 0;
    h->failed = false;
    s->open_handles++;
    reply_handle(s, id, idx, h->gen);
    return;
fail:
    if (fd >= 0)
        close(fd);
    sftp_audit(s, wr ? "open-write" : "open-read", rel, NULL, 0, rc);
    sftp_reply_errno(s, id, rc);
}

static void op_close(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, 0);
    int rc;

    if (!h) {
        sftp_reply_status(s, id, rb->err ? SSH_FX_BAD_MESSAGE : SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    rc = handle_close(s, h);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_read(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, SFTP_H_FILE);
    uint64_t off;
    uint32_t len;
    uint8_t *dst;
    size_t st;
    ssize_t n;

    if (sftp_get_u64(rb, &off) < 0 || sftp_get_u32(rb, &len) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!h) {
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (off > (uint64_t)INT64_MAX) {
        sftp_reply_errno(s, id, EINVAL);
        return;
    }
    if (len > s->cfg.max_read)
        len = s->cfg.max_read;
    if (len == 0) {
        sftp_reply_status(s, id, SSH_FX_EOF, "End of file");
        return;
    }
    st = sftp_packet_begin(&s->out, SSH_FXP_DATA, id);
    dst = sftp_wbuf_reserve(&s->out, 4 + (size_t)len);
    if (!dst) {
        sftp_packet_abort(&s->out, st);
        return; /* oom: the session ends (checked by the caller) */
    }
    do {
        n = pread(h->fd, dst + 4, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        int err = n < 0 ? errno : 0;
        sftp_packet_abort(&s->out, st);
        if (n == 0) {
            sftp_reply_status(s, id, SSH_FX_EOF, "End of file");
        } else {
            h->failed = true;
            sftp_reply_errno(s, id, err);
        }
        return;
    }
    dst[0] = (uint8_t)((uint32_t)n >> 24);
    dst[1] = (uint8_t)((uint32_t)n >> 16);
    dst[2] = (uint8_t)((uint32_t)n >> 8);
    dst[3] = (uint8_t)n;
    s->out.len += 4 + (size_t)n;
    sftp_packet_end(&s->out, st);
    h->bytes_read += (uint64_t)n;
}

static void op_write(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, SFTP_H_FILE);
    const uint8_t *data;
    uint32_t len;
    uint64_t off;
    size_t done = 0;
    ssize_t n;

    if (sftp_get_u64(rb, &off) < 0 || sftp_get_string(rb, &data, &len) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!h) {
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (off > (uint64_t)INT64_MAX - len) {
        sftp_reply_errno(s, id, EFBIG);
        return;
    }
    while (done < len) {
        n = pwrite(h->fd, data + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            h->failed = true;
            h->bytes_written += done;
            sftp_reply_errno(s, id, err);
            return;
        }
        done += (size_t)n;
    }
    h->bytes_written += done;
    sftp_reply_ok(s, id);
}

/* stat of `rel`: follow symlinks (beneath the root) or not */
static int stat_rel(struct sftp_session *s, const char *rel, bool follow, struct stat *st)
{
    const char *name;
    int fd, rc = 0;

    if (follow || !rel[0]) {
        fd = sftp_resolve_open(&s->root, rel, O_PATH, 0);
        if (fd < 0)
            return fd;
        if (fstat(fd, st) < 0)
            rc = -errno;
        close(fd);
        return rc;
    }
    rc = sftp_resolve_parent(&s->root, rel, &fd, &name);
    if (rc < 0)
        return rc;
    if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* ATTRS reply; the owner and group become nameable (users-groups-by-id) */
static void reply_stat(struct sftp_session *s, uint32_t id, const struct stat *st)
{
    struct sftp_attrs a;

    sftp_ids_note(s, true, (uint32_t)st->st_uid);
    sftp_ids_note(s, false, (uint32_t)st->st_gid);
    sftp_attrs_from_stat(&a, st);
    sftp_reply_attrs(s, id, &a);
}

static void do_stat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb, bool follow)
{
    char rel[SFTP_MAX_PATH + 1];
    struct stat st;
    int rc;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_STAT, rel))
        return;
    rc = stat_rel(s, rel, follow, &st);
    if (rc < 0) {
        sftp_reply_errno(s, id, rc);
        return;
    }
    reply_stat(s, id, &st);
}

static void op_lstat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    do_stat(s, id, rb, false);
}

static void op_stat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    do_stat(s, id, rb, true);
}

static int handle_fd(const struct sftp_handle *h)
{
    return h->kind == SFTP_H_DIR ? dirfd(h->dir) : h->fd;
}

static void op_fstat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, 0);
    struct stat st;

    if (!h) {
        sftp_reply_status(s, id, rb->err ? SSH_FX_BAD_MESSAGE : SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (fstat(handle_fd(h), &st) < 0) {
        sftp_reply_errno(s, id, errno);
        return;
    }
    reply_stat(s, id, &st);
}

static void op_setstat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1];
    struct sftp_attrs a;
    int rc;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0 || sftp_get_attrs(rb, &a) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_SETSTAT, rel))
        return;
    rc = sftp_apply_attrs(s, -1, rel, true, &a);
    sftp_audit(s, "setstat", rel, NULL, 0, rc);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_fsetstat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, 0);
    struct sftp_attrs a;
    int rc;

    if (sftp_get_attrs(rb, &a) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!h) {
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_SETSTAT, h->path))
        return;
    rc = sftp_apply_attrs(s, handle_fd(h), NULL, true, &a);
    sftp_audit(s, "setstat", h->path, NULL, 0, rc);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_opendir(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1];
    struct sftp_handle *h;
    uint32_t idx;
    DIR *d;
    int fd;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_LIST, rel))
        return;
    h = handle_alloc(s, &idx);
    if (!h) {
        sftp_reply_status(s, id, SSH_FX_FAILURE, "Too many open handles");
        return;
    }
    fd = sftp_resolve_open(&s->root, rel, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0);
    if (fd < 0) {
        sftp_reply_errno(s, id, fd);
        return;
    }
    d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        sftp_reply_errno(s, id, err);
        return;
    }
    h->path = malloc(strlen(rel) + 2);
    if (!h->path) {
        closedir(d);
        sftp_reply_errno(s, id, ENOMEM);
        return;
    }
    sftp_path_display(rel, h->path, strlen(rel) + 2);
    h->kind = SFTP_H_DIR;
    h->dir = d;
    h->fd = -1;
    h->pflags = 0;
    h->bytes_read = h->bytes_written = 0;
    h->failed = false;
    s->open_handles++;
    reply_handle(s, id, idx, h->gen);
}

static struct sftp_idname *ids_find(struct sftp_session *s, bool user, uint32_t id)
{
    struct sftp_idset *set = &s->seen[user ? 0 : 1];
    unsigned i;

    for (i = 0; i < set->n; i++)
        if (set->v[i].id == id)
            return &set->v[i];
    return NULL;
}

void sftp_ids_note(struct sftp_session *s, bool user, uint32_t id)
{
    struct sftp_idset *set = &s->seen[user ? 0 : 1];
    struct sftp_idname *nv;
    unsigned ncap;

    if (ids_find(s, user, id) || set->n >= SFTP_IDS_MAX)
        return; /* known, or full: later ids stay unnamed */
    if (set->n == set->cap) {
        ncap = set->cap ? set->cap * 2 : 8;
        if (ncap > SFTP_IDS_MAX)
            ncap = SFTP_IDS_MAX;
        nv = realloc(set->v, ncap * sizeof(*nv));
        if (!nv)
            return; /* only costs the name */
        set->v = nv;
        set->cap = ncap;
    }
    set->v[set->n++] = (struct sftp_idname){.id = id, .resolved = false, .name = NULL};
}

const char *sftp_ids_name(struct sftp_session *s, bool user, uint32_t id)
{
    struct sftp_idname *e = ids_find(s, user, id);
    char name[SFTP_IDNAME_MAX + 1];

    if (!e)
        return NULL;
    if (!e->resolved) {
        e->resolved = true;
        if (sftp_id_name(user, id, name, sizeof(name)) == 0)
            e->name = strdup(name); /* NULL on ENOMEM: treated as unknown */
    }
    return e->name;
}

void sftp_ids_free(struct sftp_session *s)
{
    unsigned k, i;

    for (k = 0; k < 2; k++) {
        for (i = 0; i < s->seen[k].n; i++)
            free(s->seen[k].v[i].name);
        free(s->seen[k].v);
        s->seen[k] = (struct sftp_idset){0};
    }
}

/* Owner or group column of a long name: the remembered name, else a direct
 * lookup (set full), else the number. */
static void longname_id(struct sftp_session *s, bool user, uint32_t id, char *out, size_t cap)
{
    const char *name;

    sftp_ids_note(s, user, id);
    name = sftp_ids_name(s, user, id);
    if (name && strlen(name) < cap)
        memcpy(out, name, strlen(name) + 1);
    else if (ids_find(s, user, id))
        snprintf(out, cap, "%u", id); /* known to have no name */
    else
        (void)sftp_id_name(user, id, out, cap);
}

static void op_readdir(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, SFTP_H_DIR);
    char longname[SFTP_MAX_PATH + 2 * SFTP_IDNAME_MAX + 64];
    char owner[SFTP_IDNAME_MAX + 1], group[SFTP_IDNAME_MAX + 1];
    uid_t last_uid = (uid_t)-1;
    gid_t last_gid = (gid_t)-1;
    struct dirent *de;
    struct sftp_attrs a;
    struct stat st;
    size_t start, count_off, base;
    uint32_t count = 0;
    time_t now = time(NULL);

    if (!h) {
        sftp_reply_status(s, id, rb->err ? SSH_FX_BAD_MESSAGE : SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    start = sftp_packet_begin(&s->out, SSH_FXP_NAME, id);
    count_off = s->out.len;
    sftp_put_u32(&s->out, 0);
    base = s->out.len;
    while (count < SFTP_READDIR_MAX && s->out.len - base < SFTP_READDIR_BYTES) {
        size_t ln;
        errno = 0;
        de = readdir(h->dir);
        if (!de)
            break;
        if (fstatat(dirfd(h->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* vanished meanwhile */
        if (st.st_uid != last_uid) {
            longname_id(s, true, (uint32_t)st.st_uid, owner, sizeof(owner));
            last_uid = st.st_uid;
        }
        if (st.st_gid != last_gid) {
            longname_id(s, false, (uint32_t)st.st_gid, group, sizeof(group));
            last_gid = st.st_gid;
        }
        ln = sftp_format_longname(longname, sizeof(longname), de->d_name, &st, owner, group, now);
        sftp_put_cstr(&s->out, de->d_name);
        sftp_put_string(&s->out, longname, ln);
        sftp_attrs_from_stat(&a, &st);
        sftp_put_attrs(&s->out, &a);
        count++;
    }
    if (count == 0) {
        int err = errno;
        sftp_packet_abort(&s->out, start);
        if (err)
            sftp_reply_errno(s, id, err);
        else
            sftp_reply_status(s, id, SSH_FX_EOF, "End of directory");
        return;
    }
    if (!s->out.oom) {
        uint8_t *c = s->out.p + count_off;
        c[0] = (uint8_t)(count >> 24);
        c[1] = (uint8_t)(count >> 16);
        c[2] = (uint8_t)(count >> 8);
        c[3] = (uint8_t)count;
    }
    sftp_packet_end(&s->out, start);
}

/* Run an *at() operation on the parent directory of rel. */
static int with_parent(struct sftp_session *s, const char *rel,
                       int (*fn)(int, const char *, void *), void *arg)
{
    const char *name;
    int dirfd, rc;

    rc = sftp_resolve_parent(&s->root, rel, &dirfd, &name);
    if (rc < 0)
        return rc;
    rc = fn(dirfd, name, arg);
    close(dirfd);
    return rc;
}

static int at_unlink(int dirfd, const char *name, void *arg)
{
    return unlinkat(dirfd, name, arg ? AT_REMOVEDIR : 0) == 0 ? 0 : -errno;
}

static int at_mkdir(int dirfd, const char *name, void *arg)
{
    return mkdirat(dirfd, name, *(mode_t *)arg) == 0 ? 0 : -errno;
}

static void path_op(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb, enum sftp_op op,
                    bool with_attrs)
{
    char rel[SFTP_MAX_PATH + 1];
    struct sftp_attrs a;
    mode_t mode;
    int rc;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0 || (with_attrs && sftp_get_attrs(rb, &a) < 0)) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, op, rel))
        return;
    switch (op) {
    case SFTP_OP_MKDIR:
        mode = (a.flags & SSH_FILEXFER_ATTR_PERMISSIONS) ? (mode_t)(a.perm & 01777)
                                                         : (mode_t)s->cfg.dir_mode;
        mode &= ~(mode_t)s->cfg.umask;
        rc = rel[0] ? with_parent(s, rel, at_mkdir, &mode) : -EEXIST;
        break;
    case SFTP_OP_RMDIR:
        rc = with_parent(s, rel, at_unlink, (void *)1);
        break;
    default:
        rc = with_parent(s, rel, at_unlink, NULL);
        break;
    }
    sftp_audit(s, sftp_op_name(op), rel, NULL, 0, rc);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_remove(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    path_op(s, id, rb, SFTP_OP_REMOVE, false);
}

static void op_mkdir(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    path_op(s, id, rb, SFTP_OP_MKDIR, true);
}

static void op_rmdir(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    path_op(s, id, rb, SFTP_OP_RMDIR, false);
}

static void op_realpath(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1], disp[SFTP_MAX_PATH + 2];

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    sftp_path_display(rel, disp, sizeof(disp));
    sftp_reply_name1(s, id, disp);
}

/* rename helper shared with posix-rename@openssh.com (sftp_ext.c) */
int sftp_do_rename(struct sftp_session *s, const char *from, const char *to, bool overwrite);
int sftp_do_rename(struct sftp_session *s, const char *from, const char *to, bool overwrite)
{
    const char *n1, *n2;
    int d1 = -1, d2 = -1, rc;
    struct stat st;

    rc = sftp_resolve_parent(&s->root, from, &d1, &n1);
    if (rc < 0)
        goto out;
    rc = sftp_resolve_parent(&s->root, to, &d2, &n2);
    if (rc < 0)
        goto out;
    if (overwrite) {
        rc = renameat(d1, n1, d2, n2) == 0 ? 0 : -errno;
        goto out;
    }
    if (syscall(SYS_renameat2, d1, n1, d2, n2, RENAME_NOREPLACE) == 0) {
        rc = 0;
        goto out;
    }
    rc = -errno;
    if (rc != -EINVAL && rc != -ENOSYS)
        goto out;
    /* file system without RENAME_NOREPLACE: check, then rename (racy) */
    if (fstatat(d2, n2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        rc = -EEXIST;
        goto out;
    }
    rc = renameat(d1, n1, d2, n2) == 0 ? 0 : -errno;
out:
    if (d1 >= 0)
        close(d1);
    if (d2 >= 0)
        close(d2);
    return rc;
}

static void op_rename(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char from[SFTP_MAX_PATH + 1], to[SFTP_MAX_PATH + 1];
    int rc;

    if (sftp_get_path(s, rb, from, sizeof(from)) < 0 || sftp_get_path(s, rb, to, sizeof(to)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_RENAME, from))
        return;
    rc = sftp_do_rename(s, from, to, false);
    sftp_audit(s, "rename", from, to, 0, rc);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_readlink(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1], target[SFTP_MAX_PATH + 1], disp[SFTP_MAX_PATH + 2];
    const char *name;
    ssize_t n;
    int dirfd, rc;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_READLINK, rel))
        return;
    rc = sftp_resolve_parent(&s->root, rel, &dirfd, &name);
    if (rc < 0) {
        sftp_reply_errno(s, id, rc == -EACCES && !rel[0] ? -EINVAL : rc);
        return;
    }
    n = readlinkat(dirfd, name, target, sizeof(target) - 1);
    rc = n < 0 ? -errno : 0;
    close(dirfd);
    if (rc < 0) {
        sftp_reply_errno(s, id, rc);
        return;
    }
    target[n] = '\0';
    rc = sftp_readlink_display(rel, target, s->root_abs, disp, sizeof(disp));
    if (rc < 0) {
        sftp_audit(s, "readlink", rel, NULL, 0, rc);
        sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED,
                          "Permission denied (link target outside the root)");
        return;
    }
    sftp_reply_name1(s, id, disp);
}

static int at_symlink(int dirfd, const char *name, void *arg)
{
    return symlinkat((const char *)arg, dirfd, name) == 0 ? 0 : -errno;
}

static void op_symlink(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    /* OpenSSH (and every client that talks to it) sends the target first,
     * then the new link's path: the reverse of the draft. */
    char target[SFTP_MAX_PATH + 1], rel[SFTP_MAX_PATH + 1], stored[SFTP_MAX_PATH + 1];
    int rc;

    if (sftp_get_name(rb, target, sizeof(target)) < 0 ||
        sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        reply_bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_SYMLINK, rel))
        return;
    if (s->cfg.symlinks == SFTP_SYMLINKS_OFF) {
        sftp_audit(s, "symlink", rel, NULL, 0, EACCES);
        sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED, "Permission denied (symlinks disabled)");
        return;
    }
    rc = sftp_symlink_target(rel, target, stored, sizeof(stored));
    if (rc < 0) {
        sftp_audit(s, "symlink", rel, NULL, 0, rc);
        if (rc == -EACCES)
            sftp_reply_status(s, id, SSH_FX_PERMISSION_DENIED,
                              "Permission denied (link target outside the root)");
        else
            sftp_reply_errno(s, id, rc);
        return;
    }
    rc = with_parent(s, rel, at_symlink, stored);
    sftp_audit(s, "symlink", rel, NULL, 0, rc);
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void op_extended(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    (void)sftp_ext_dispatch(s, id, rb);
}

/* ======================================================================
 * Dispatch
 * ====================================================================== */

static const struct {
    uint8_t type;
    sftp_op_fn fn;
} sftp_handlers[] = {
    {SSH_FXP_OPEN, op_open},         {SSH_FXP_CLOSE, op_close},       {SSH_FXP_READ, op_read},
    {SSH_FXP_WRITE, op_write},       {SSH_FXP_LSTAT, op_lstat},       {SSH_FXP_FSTAT, op_fstat},
    {SSH_FXP_SETSTAT, op_setstat},   {SSH_FXP_FSETSTAT, op_fsetstat}, {SSH_FXP_OPENDIR, op_opendir},
    {SSH_FXP_READDIR, op_readdir},   {SSH_FXP_REMOVE, op_remove},     {SSH_FXP_MKDIR, op_mkdir},
    {SSH_FXP_RMDIR, op_rmdir},       {SSH_FXP_REALPATH, op_realpath}, {SSH_FXP_STAT, op_stat},
    {SSH_FXP_RENAME, op_rename},     {SSH_FXP_READLINK, op_readlink}, {SSH_FXP_SYMLINK, op_symlink},
    {SSH_FXP_EXTENDED, op_extended},
};

static int handle_init(struct sftp_session *s, struct sftp_rbuf *rb)
{
    size_t st;

    if (s->inited || sftp_get_u32(rb, &s->client_version) < 0)
        return -1;
    s->inited = true;
    st = sftp_packet_begin(&s->out, SSH_FXP_VERSION, 0);
    sftp_put_u32(&s->out, 3);
    sftp_ext_put_version(s);
    sftp_packet_end(&s->out, st);
    return 0;
}

int sftp_dispatch(struct sftp_session *s, const uint8_t *body, size_t len)
{
    struct sftp_rbuf rb;
    uint8_t type;
    uint32_t id;
    size_t i;

    sftp_rbuf_init(&rb, body, len);
    if (sftp_get_u8(&rb, &type) < 0)
        return -1;
    if (type == SSH_FXP_INIT)
        return handle_init(s, &rb);
    if (!s->inited || sftp_get_u32(&rb, &id) < 0)
        return -1;
    for (i = 0; i < sizeof(sftp_handlers) / sizeof(sftp_handlers[0]); i++) {
        if (sftp_handlers[i].type == type) {
            sftp_handlers[i].fn(s, id, &rb);
            return s->out.oom ? -1 : 0;
        }
    }
    sftp_reply_status(s, id, SSH_FX_OP_UNSUPPORTED, "Operation unsupported");
    return s->out.oom ? -1 : 0;
}
