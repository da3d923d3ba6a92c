/* SFTP path normalisation and confined resolution (see sftp_path.h). */
#include "sftp_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* ---- lexical normalisation ------------------------------------------------ */

int sftp_path_normalize(const char *base, const char *in, bool strict, char *out, size_t cap)
{
    size_t len = 0, n;
    const char *p = in, *c;

    if (cap == 0)
        return -ENAMETOOLONG;
    out[0] = '\0';
    if (in[0] != '/' && base && base[0]) {
        n = strlen(base);
        if (n + 1 > cap)
            return -ENAMETOOLONG;
        memcpy(out, base, n + 1);
        len = n;
    }
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        c = p;
        while (*p && *p != '/')
            p++;
        n = (size_t)(p - c);
        if (n == 1 && c[0] == '.')
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (len == 0) {
                if (strict)
                    return -EACCES;
                continue;
            }
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the separator */
            out[len] = '\0';
            continue;
        }
        if (len + (len ? 1 : 0) + n + 1 > cap)
            return -ENAMETOOLONG;
        if (len)
            out[len++] = '/';
        memcpy(out + len, c, n);
        len += n;
        out[len] = '\0';
    }
    return (int)len;
}

int sftp_path_display(const char *rel, char *out, size_t cap)
{
    size_t n = strlen(rel);

    if (n + 2 > cap)
        return -ENAMETOOLONG;
    out[0] = '/';
    memcpy(out + 1, rel, n + 1);
    return (int)(n + 1);
}

/* ---- root ----------------------------------------------------------------- */

static long sys_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
    struct open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (unsigned long long)(unsigned)flags;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        how.mode = mode & 07777;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int sftp_root_open(struct sftp_root *r, const char *host_path, bool force_walk)
{
    long fd;

    r->fd = open(host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r->fd < 0)
        return -errno;
    r->walk = force_walk;
    if (!force_walk) {
        fd = sys_openat2(r->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd >= 0)
            close((int)fd);
        else if (errno == ENOSYS)
            r->walk = true;
    }
    return 0;
}

void sftp_root_close(struct sftp_root *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Walk fallback: every component opened with O_NOFOLLOW. `rel` has no "."
 * or ".." components (normalised), so the walk cannot climb out. */
static int walk_open(const struct sftp_root *r, const char *rel, int flags, mode_t mode)
{
    char comp[256];
    const char *p = rel, *c;
    int cur = -1, next, rc;
    size_t n;
    struct stat st;

    cur = openat(r->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    for (;;) {
        c = p;
        while (*p && *p != '/')
            p++;
        n = (size_t)(p - c);
        if (n == 0) { /* the root itself */
            rc = openat(cur, ".", flags | O_CLOEXEC, mode);
            rc = rc < 0 ? -errno : rc;
            goto out;
        }
        if (n >= sizeof(comp)) {
            rc = -ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, c, n);
        comp[n] = '\0';
        if (!*p) {
            rc = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            if (rc < 0) {
                rc = -errno;
                goto out;
            }
            if ((flags & O_PATH) && fstat(rc, &st) == 0 && S_ISLNK(st.st_mode)) {
                close(rc);
                rc = -ELOOP;
            }
            goto out;
        }
        next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            rc = -errno;
            goto out;
        }
        close(cur);
        cur = next;
        p++; /* skip '/' */
    }
out:
    if (cur >= 0)
        close(cur);
    return rc;
}

int sftp_resolve_open(const struct sftp_root *r, const char *rel, int flags, mode_t mode)
{
    long fd;
    int tries;

    if (r->walk)
        return walk_open(r, rel, flags, mode);
    for (tries = 0; tries < 8; tries++) {
        fd = sys_openat2(r->fd, rel[0] ? rel : ".", flags | O_CLOEXEC, mode);
        if (fd >= 0)
            return (int)fd;
        if (errno != EAGAIN)
            break;
    }
    return -errno;
}

int sftp_resolve_parent(const struct sftp_root *r, const char *rel, int *dirfd, const char **name)
{
    char dir[4097];
    const char *slash;
    size_t n;
    int fd;

    *dirfd = -1;
    if (!rel[0])
        return -EACCES;
    slash = strrchr(rel, '/');
    if (!slash) {
        dir[0] = '\0';
        *name = rel;
    } else {
        n = (size_t)(slash - rel);
        if (n >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, rel, n);
        dir[n] = '\0';
        *name = slash + 1;
    }
    fd = sftp_resolve_open(r, dir, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    *dirfd = fd;
    return 0;
}

/* ---- symlink policy ------------------------------------------------------- */

static void dir_of(const char *rel, char *out, size_t cap)
{
    const char *slash = strrchr(rel, '/');
    size_t n = slash ? (size_t)(slash - rel) : 0;

    if (n >= cap)
        n = cap - 1;
    memcpy(out, rel, n);
    out[n] = '\0';
}

int sftp_symlink_target(const char *linkrel, const char *target, char *out, size_t cap)
{
    char dir[4097], norm[4097];
    size_t depth = 0, len = 0, n, i;
    int rc;

    if (!target[0])
        return -EINVAL;
    dir_of(linkrel, dir, sizeof(dir));
    if (target[0] != '/') {
        rc = sftp_path_normalize(dir, target, true, norm, sizeof(norm));
        if (rc < 0)
            return rc;
        n = strlen(target);
        if (n + 1 > cap)
            return -ENAMETOOLONG;
        memcpy(out, target, n + 1);
        return (int)n;
    }
    rc = sftp_path_normalize("", target, true, norm, sizeof(norm));
    if (rc < 0)
        return rc;
    if (dir[0]) {
        depth = 1;
        for (i = 0; dir[i]; i++)
            depth += dir[i] == '/';
    }
    out[0] = '\0';
    for (i = 0; i < depth; i++) {
        if (len + 3 + 1 > cap)
            return -ENAMETOOLONG;
        memcpy(out + len, "../", 4);
        len += 3;
    }
    n = strlen(norm);
    if (n == 0) {
        if (len == 0) {
            if (cap < 2)
                return -ENAMETOOLONG;
            memcpy(out, ".", 2);
            return 1;
        }
        out[--len] = '\0'; /* drop the trailing '/' */
        return (int)len;
    }
    if (len + n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(out + len, norm, n + 1);
    return (int)(len + n);
}

int sftp_readlink_display(const char *linkrel, const char *stored, const char *root_abs, char *out,
                          size_t cap)
{
    char dir[4097], norm[4097];
    size_t rn, n;
    int rc;

    if (stored[0] == '/') {
        rn = root_abs ? strlen(root_abs) : 0;
        while (rn > 0 && root_abs[rn - 1] == '/')
            rn--;
        if (rn == 0 || strncmp(stored, root_abs, rn) != 0 ||
            (stored[rn] != '/' && stored[rn] != '\0'))
            return -EACCES;
        rc = sftp_path_normalize("", stored + rn, true, norm, sizeof(norm));
        if (rc < 0)
            return rc;
        return sftp_path_display(norm, out, cap);
    }
    dir_of(linkrel, dir, sizeof(dir));
    rc = sftp_path_normalize(dir, stored, true, norm, sizeof(norm));
    if (rc < 0)
        return rc;
    n = strlen(stored);
    if (n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(out, stored, n + 1);
    return (int)n;
}
