/* SFTP v3 wire codec (see sftp_codec.h). No host calls. */
#include "sftp_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- framing ------------------------------------------------------------ */

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int sftp_frame_peek(const uint8_t *buf, size_t avail, uint32_t *body_len)
{
    uint32_t n;

    if (avail < 4)
        return 0;
    n = load_be32(buf);
    if (n == 0 || n > SFTP_MAX_PACKET)
        return -1;
    if (avail - 4 < n)
        return 0;
    *body_len = n;
    return 1;
}

/* ---- reader ------------------------------------------------------------- */

void sftp_rbuf_init(struct sftp_rbuf *rb, const uint8_t *p, size_t len)
{
    rb->p = p;
    rb->len = len;
    rb->off = 0;
    rb->err = false;
}

size_t sftp_rbuf_left(const struct sftp_rbuf *rb)
{
    return rb->len - rb->off;
}

static int need(struct sftp_rbuf *rb, size_t n)
{
    if (rb->err || sftp_rbuf_left(rb) < n) {
        rb->err = true;
        return -1;
    }
    return 0;
}

int sftp_get_u8(struct sftp_rbuf *rb, uint8_t *v)
{
    if (need(rb, 1) < 0)
        return -1;
    *v = rb->p[rb->off++];
    return 0;
}

int sftp_get_u32(struct sftp_rbuf *rb, uint32_t *v)
{
    if (need(rb, 4) < 0)
        return -1;
    *v = load_be32(rb->p + rb->off);
    rb->off += 4;
    return 0;
}

int sftp_get_u64(struct sftp_rbuf *rb, uint64_t *v)
{
    uint32_t hi, lo;

    if (need(rb, 8) < 0)
        return -1;
    hi = load_be32(rb->p + rb->off);
    lo = load_be32(rb->p + rb->off + 4);
    rb->off += 8;
    *v = ((uint64_t)hi << 32) | lo;
    return 0;
}

int sftp_get_string(struct sftp_rbuf *rb, const uint8_t **s, uint32_t *len)
{
    uint32_t n;

    if (sftp_get_u32(rb, &n) < 0)
        return -1;
    if (need(rb, n) < 0)
        return -1;
    *s = rb->p + rb->off;
    *len = n;
    rb->off += n;
    return 0;
}

int sftp_get_name(struct sftp_rbuf *rb, char *out, size_t cap)
{
    const uint8_t *s;
    uint32_t n;

    if (sftp_get_string(rb, &s, &n) < 0)
        return -1;
    if (n > SFTP_MAX_PATH || (size_t)n + 1 > cap || memchr(s, 0, n) != NULL) {
        rb->err = true;
        return -1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int sftp_get_attrs(struct sftp_rbuf *rb, struct sftp_attrs *a)
{
    uint32_t count, i;
    const uint8_t *s;
    uint32_t n;

    memset(a, 0, sizeof(*a));
    if (sftp_get_u32(rb, &a->flags) < 0)
        return -1;
    if ((a->flags & SSH_FILEXFER_ATTR_SIZE) && sftp_get_u64(rb, &a->size) < 0)
        return -1;
    if ((a->flags & SSH_FILEXFER_ATTR_UIDGID) &&
        (sftp_get_u32(rb, &a->uid) < 0 || sftp_get_u32(rb, &a->gid) < 0))
        return -1;
    if ((a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) && sftp_get_u32(rb, &a->perm) < 0)
        return -1;
    if ((a->flags & SSH_FILEXFER_ATTR_ACMODTIME) &&
        (sftp_get_u32(rb, &a->atime) < 0 || sftp_get_u32(rb, &a->mtime) < 0))
        return -1;
    if (a->flags & SSH_FILEXFER_ATTR_EXTENDED) {
        if (sftp_get_u32(rb, &count) < 0)
            return -1;
        /* each pair needs at least 8 bytes: reject absurd counts early */
        if (count > sftp_rbuf_left(rb) / 8) {
            rb->err = true;
            return -1;
        }
        for (i = 0; i < count; i++) {
            if (sftp_get_string(rb, &s, &n) < 0 || sftp_get_string(rb, &s, &n) < 0)
                return -1;
        }
    }
    return 0;
}

int sftp_get_u32_list(struct sftp_rbuf *rb, struct sftp_rbuf *list, uint32_t *count)
{
    const uint8_t *s;
    uint32_t n;

    if (sftp_get_string(rb, &s, &n) < 0)
        return -1;
    if (n % 4 != 0) {
        rb->err = true;
        return -1;
    }
    sftp_rbuf_init(list, s, n);
    *count = n / 4;
    return 0;
}

int sftp_get_copy_req(struct sftp_rbuf *rb, struct sftp_copy_req *r)
{
    if (sftp_get_string(rb, &r->read_handle, &r->read_handle_len) < 0 ||
        sftp_get_u64(rb, &r->read_offset) < 0 || sftp_get_u64(rb, &r->length) < 0 ||
        sftp_get_string(rb, &r->write_handle, &r->write_handle_len) < 0 ||
        sftp_get_u64(rb, &r->write_offset) < 0)
        return -1;
    return 0;
}

/* ---- writer ------------------------------------------------------------- */

void sftp_wbuf_init(struct sftp_wbuf *w)
{
    memset(w, 0, sizeof(*w));
}

void sftp_wbuf_free(struct sftp_wbuf *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}

size_t sftp_wbuf_pending(const struct sftp_wbuf *w)
{
    return w->len - w->head;
}

void sftp_wbuf_consume(struct sftp_wbuf *w, size_t n)
{
    if (n > w->len - w->head)
        n = w->len - w->head;
    w->head += n;
    if (w->head == w->len) {
        w->head = w->len = 0;
    } else if (w->head >= 64 * 1024 && w->len - w->head <= w->head) {
        memmove(w->p, w->p + w->head, w->len - w->head);
        w->len -= w->head;
        w->head = 0;
    }
}

uint8_t *sftp_wbuf_reserve(struct sftp_wbuf *w, size_t n)
{
    size_t want, ncap;
    uint8_t *np;

    if (w->oom)
        return NULL;
    /* never move data here: a packet being built keeps its start offset
     * (compaction happens only in sftp_wbuf_consume) */
    if (w->cap - w->len >= n)
        return w->p + w->len;
    if (n > SIZE_MAX / 2 - w->len) {
        w->oom = true;
        return NULL;
    }
    want = w->len + n;
    ncap = w->cap ? w->cap : 4096;
    while (ncap < want)
        ncap *= 2;
    np = realloc(w->p, ncap);
    if (!np) {
        w->oom = true;
        return NULL;
    }
    w->p = np;
    w->cap = ncap;
    return w->p + w->len;
}

void sftp_put_u8(struct sftp_wbuf *w, uint8_t v)
{
    uint8_t *d = sftp_wbuf_reserve(w, 1);

    if (d) {
        *d = v;
        w->len++;
    }
}

void sftp_put_u32(struct sftp_wbuf *w, uint32_t v)
{
    uint8_t *d = sftp_wbuf_reserve(w, 4);

    if (d) {
        store_be32(d, v);
        w->len += 4;
    }
}

void sftp_put_u64(struct sftp_wbuf *w, uint64_t v)
{
    sftp_put_u32(w, (uint32_t)(v >> 32));
    sftp_put_u32(w, (uint32_t)v);
}

void sftp_put_string(struct sftp_wbuf *w, const void *s, size_t len)
{
    uint8_t *d;

    if (len > UINT32_MAX) {
        w->oom = true;
        return;
    }
    d = sftp_wbuf_reserve(w, 4 + len);
    if (!d)
        return;
    store_be32(d, (uint32_t)len);
    if (len)
        memcpy(d + 4, s, len);
    w->len += 4 + len;
}

void sftp_put_cstr(struct sftp_wbuf *w, const char *s)
{
    sftp_put_string(w, s, strlen(s));
}

void sftp_put_attrs(struct sftp_wbuf *w, const struct sftp_attrs *a)
{
    uint32_t flags = a->flags & ~SSH_FILEXFER_ATTR_EXTENDED;

    sftp_put_u32(w, flags);
    if (flags & SSH_FILEXFER_ATTR_SIZE)
        sftp_put_u64(w, a->size);
    if (flags & SSH_FILEXFER_ATTR_UIDGID) {
        sftp_put_u32(w, a->uid);
        sftp_put_u32(w, a->gid);
    }
    if (flags & SSH_FILEXFER_ATTR_PERMISSIONS)
        sftp_put_u32(w, a->perm);
    if (flags & SSH_FILEXFER_ATTR_ACMODTIME) {
        sftp_put_u32(w, a->atime);
        sftp_put_u32(w, a->mtime);
    }
}

size_t sftp_packet_begin(struct sftp_wbuf *w, uint8_t type, uint32_t id)
{
    size_t start = w->len;

    sftp_put_u32(w, 0);
    sftp_put_u8(w, type);
    if (type != SSH_FXP_VERSION)
        sftp_put_u32(w, id);
    return start;
}

void sftp_packet_end(struct sftp_wbuf *w, size_t start)
{
    if (w->oom || w->len < start + 4)
        return;
    store_be32(w->p + start, (uint32_t)(w->len - start - 4));
}

void sftp_packet_abort(struct sftp_wbuf *w, size_t start)
{
    if (start <= w->len)
        w->len = start;
}

/* ---- helpers ------------------------------------------------------------ */

void sftp_attrs_from_stat(struct sftp_attrs *a, const struct stat *st)
{
    memset(a, 0, sizeof(*a));
    a->flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID | SSH_FILEXFER_ATTR_PERMISSIONS |
               SSH_FILEXFER_ATTR_ACMODTIME;
    a->size = (uint64_t)st->st_size;
    a->uid = (uint32_t)st->st_uid;
    a->gid = (uint32_t)st->st_gid;
    a->perm = (uint32_t)st->st_mode;
    a->atime = (uint32_t)st->st_atime;
    a->mtime = (uint32_t)st->st_mtime;
}

void sftp_mode_string(uint32_t mode, char out[11])
{
    static const char rwx[] = "rwxrwxrwx";
    int i;

    switch (mode & S_IFMT) {
    case S_IFDIR:
        out[0] = 'd';
        break;
    case S_IFLNK:
        out[0] = 'l';
        break;
    case S_IFCHR:
        out[0] = 'c';
        break;
    case S_IFBLK:
        out[0] = 'b';
        break;
    case S_IFIFO:
        out[0] = 'p';
        break;
    case S_IFSOCK:
        out[0] = 's';
        break;
    case S_IFREG:
        out[0] = '-';
        break;
    default:
        out[0] = '?';
        break;
    }
    for (i = 0; i < 9; i++)
        out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    if (mode & S_ISUID)
        out[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID)
        out[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX)
        out[9] = (mode & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

size_t sftp_format_longname(char *out, size_t cap, const char *name, const struct stat *st,
                            const char *owner, const char *group, time_t now)
{
    char mode[11], when[32];
    struct tm tm;
    time_t t = st->st_mtime;
    const char *fmt;
    int n;

    if (cap == 0)
        return 0;
    sftp_mode_string((uint32_t)st->st_mode, mode);
    /* like ls: the year instead of the time for dates more than ~6 months away */
    if (t > now + 3600 || t < now - 182 * 24 * 3600)
        fmt = "%b %e  %Y";
    else
        fmt = "%b %e %H:%M";
    if (!localtime_r(&t, &tm) || strftime(when, sizeof(when), fmt, &tm) == 0)
        snprintf(when, sizeof(when), "?");
    n = snprintf(out, cap, "%s %4lu %-8s %-8s %8llu %s %s", mode, (unsigned long)st->st_nlink,
                 owner, group, (unsigned long long)st->st_size, when, name);
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

const char *sftp_type_name(uint8_t type)
{
    static const char *const names[] = {
        [SSH_FXP_INIT] = "init",         [SSH_FXP_VERSION] = "version",
        [SSH_FXP_OPEN] = "open",         [SSH_FXP_CLOSE] = "close",
        [SSH_FXP_READ] = "read",         [SSH_FXP_WRITE] = "write",
        [SSH_FXP_LSTAT] = "lstat",       [SSH_FXP_FSTAT] = "fstat",
        [SSH_FXP_SETSTAT] = "setstat",   [SSH_FXP_FSETSTAT] = "fsetstat",
        [SSH_FXP_OPENDIR] = "opendir",   [SSH_FXP_READDIR] = "readdir",
        [SSH_FXP_REMOVE] = "remove",     [SSH_FXP_MKDIR] = "mkdir",
        [SSH_FXP_RMDIR] = "rmdir",       [SSH_FXP_REALPATH] = "realpath",
        [SSH_FXP_STAT] = "stat",         [SSH_FXP_RENAME] = "rename",
        [SSH_FXP_READLINK] = "readlink", [SSH_FXP_SYMLINK] = "symlink",
    };

    if (type < sizeof(names) / sizeof(names[0]) && names[type])
        return names[type];
    if (type == SSH_FXP_EXTENDED)
        return "extended";
    return "unknown";
}
