/* readahead.c — large socket reads under libssh 0.10.6 (see readahead.h). */
#include "readahead.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* fd numbers covered: the kernel's default nr_open. The table is reserved
 * address space; only the pages holding used slots are ever touched. */
#define RA_MAX_FD (1 << 20)
#define RA_POOL_MAX 8 /* idle buffers kept for reuse (malloc of 128 KiB would mmap) */

struct sg_ra {
    bool buffering; /* attached: reads ahead */
    char *buf;
    size_t off, len; /* unread bytes: buf[off .. len) */
    sg_readahead_observer observe;
    void *observe_arg;
};

static struct sg_ra **g_tab; /* RA_MAX_FD slots, created at the first attach */
static int g_pending;        /* attached fds holding unread bytes */
static char *g_pool[RA_POOL_MAX];
static int g_pool_n;

static inline struct sg_ra *slot(int fd)
{
    struct sg_ra **tab = __atomic_load_n(&g_tab, __ATOMIC_ACQUIRE);
    if (!tab || fd < 0 || fd >= RA_MAX_FD)
        return NULL;
    return __atomic_load_n(&tab[fd], __ATOMIC_RELAXED);
}

static char *buf_get(void)
{
    return g_pool_n > 0 ? g_pool[--g_pool_n] : malloc(SG_READAHEAD_SIZE);
}

static void buf_put(struct sg_ra *r)
{
    if (!r->buf)
        return;
    if (g_pool_n < RA_POOL_MAX)
        g_pool[g_pool_n++] = r->buf;
    else
        free(r->buf);
    r->buf = NULL;
}

/* The buffer was emptied: give it back, it is reused by whichever socket
 * reads next (an idle connection holds no buffer). */
static void drained(struct sg_ra *r)
{
    r->off = r->len = 0;
    __atomic_store_n(&g_pending, g_pending - 1, __ATOMIC_RELAXED);
    buf_put(r);
}

static struct sg_ra *slot_create(int fd)
{
    if (fd < 0 || fd >= RA_MAX_FD)
        return NULL;
    if (!g_tab) {
        void *p = mmap(NULL, (size_t)RA_MAX_FD * sizeof(*g_tab), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        __atomic_store_n(&g_tab, (struct sg_ra **)p, __ATOMIC_RELEASE);
    }
    if (g_tab[fd])
        return g_tab[fd];
    struct sg_ra *r = calloc(1, sizeof(*r));
    if (r)
        __atomic_store_n(&g_tab[fd], r, __ATOMIC_RELAXED);
    return r;
}

bool sg_readahead_attach(int fd)
{
    struct sg_ra *r = slot_create(fd);
    if (!r)
        return false;
    r->buffering = true;
    r->observe = NULL; /* watching ends where reading ahead begins */
    r->observe_arg = NULL;
    return true;
}

bool sg_readahead_observe(int fd, sg_readahead_observer fn, void *arg)
{
    struct sg_ra *r = slot_create(fd);
    if (!r)
        return false;
    r->observe = fn;
    r->observe_arg = arg;
    return true;
}

void sg_readahead_unobserve(int fd, void *arg)
{
    struct sg_ra *r = slot(fd);
    if (!r || r->observe_arg != arg)
        return;
    r->observe = NULL;
    r->observe_arg = NULL;
    if (!r->buffering)
        sg_readahead_detach(fd);
}

void sg_readahead_detach(int fd)
{
    struct sg_ra *r = slot(fd);
    if (!r)
        return;
    __atomic_store_n(&g_tab[fd], NULL, __ATOMIC_RELAXED);
    if (r->off < r->len)
        drained(r);
    buf_put(r);
    free(r);
}

size_t sg_readahead_pending(int fd)
{
    struct sg_ra *r = slot(fd);
    return r ? r->len - r->off : 0;
}

/* ---- the calls libssh makes ----------------------------------------------- */

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct sg_ra *r = slot(fd);
    if (!r || flags != 0 || len == 0)
        return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    if (!r->buffering) { /* watched, not read ahead */
        ssize_t n = syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
        if (n > 0 && r->observe) {
            int v = r->observe(r->observe_arg, buf, (size_t)n);
            if (v != 0) {
                r->observe = NULL;
                r->observe_arg = NULL;
            }
            if (v < 0) {
                errno = ECONNRESET;
                return -1;
            }
        }
        return n;
    }
    if (r->off < r->len) {
        size_t k = r->len - r->off < len ? r->len - r->off : len;
        memcpy(buf, r->buf + r->off, k);
        r->off += k;
        if (r->off == r->len)
            drained(r);
        return (ssize_t)k;
    }
    if (!r->buf && !(r->buf = buf_get()))
        return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
    /* one system call: the caller's buffer first, then ours */
    struct iovec iov[2] = {{.iov_base = buf, .iov_len = len},
                           {.iov_base = r->buf, .iov_len = SG_READAHEAD_SIZE}};
    ssize_t n = readv(fd, iov, 2);
    if (n <= (ssize_t)len) {
        int e = errno;
        buf_put(r);
        errno = e;
        return n;
    }
    r->off = 0;
    r->len = (size_t)n - len;
    __atomic_store_n(&g_pending, g_pending + 1, __ATOMIC_RELAXED);
    return (ssize_t)len;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (__atomic_load_n(&g_pending, __ATOMIC_RELAXED) > 0) {
        int ready = 0;
        for (nfds_t i = 0; i < nfds; i++) {
            struct sg_ra *r = (fds[i].events & POLLIN) ? slot(fds[i].fd) : NULL;
            if (r && r->off < r->len)
                ready++;
        }
        if (ready) { /* bytes in hand: no need to ask the kernel */
            for (nfds_t i = 0; i < nfds; i++) {
                struct sg_ra *r = (fds[i].events & POLLIN) ? slot(fds[i].fd) : NULL;
                fds[i].revents = r && r->off < r->len ? POLLIN : 0;
            }
            return ready;
        }
    }
    struct timespec ts, *tsp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        tsp = &ts;
    }
    return ppoll(fds, nfds, tsp, NULL);
}

int close(int fd)
{
    if (slot(fd))
        sg_readahead_detach(fd); /* before the number can be handed out again */
    return (int)syscall(SYS_close, fd);
}
