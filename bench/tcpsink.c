/* tcpsink.c — the far end and the near end of the `ssh -L` throughput figure.
 *
 *   tcpsink serve PORT        listen on 127.0.0.1:PORT and print "listening";
 *                             per connection read a 9-byte command:
 *                             'D' + size (u64 BE) -> send that many pattern
 *                             bytes, then close; 'U' + size -> read to EOF,
 *                             checking every byte against the pattern, then
 *                             reply count (u64 BE) + mismatches (u32 BE, 0/1)
 *   tcpsink down PORT SIZE    connect, ask for SIZE bytes, read and check to EOF
 *   tcpsink up PORT SIZE      connect, send SIZE bytes, half-close, read reply
 *
 * The client modes print one JSON line {"bytes", "seconds", "ok", "error"}:
 * seconds spans the transfer (command sent .. last byte read or reply read),
 * ok means the byte count is SIZE and every byte was the pattern's.
 *
 * Written in C so that the harness costs little CPU next to the two servers
 * on a 2-core machine: the check is a memcmp() against the pattern (the
 * Python version's crc32 alone took ~0.4 s of CPU per GiB).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20) /* the pattern repeats every BLOCK bytes */
#define SOCKBUF (4 << 20)

static unsigned char g_pattern[BLOCK];

static void make_pattern(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64*, fixed seed */
    for (size_t i = 0; i < BLOCK; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull;
        memcpy(g_pattern + i, &v, 8);
    }
}

static bool send_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

static bool recv_exact(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

static bool send_pattern(int fd, uint64_t size)
{
    uint64_t off = 0;
    while (off < size) {
        size_t at = (size_t)(off % BLOCK), n = BLOCK - at;
        if (n > size - off)
            n = (size_t)(size - off);
        if (!send_all(fd, g_pattern + at, n))
            return false;
        off += n;
    }
    return true;
}

/* True when data (n bytes at stream offset off) is the pattern's. */
static bool matches(const unsigned char *data, size_t n, uint64_t off)
{
    while (n > 0) {
        size_t at = (size_t)(off % BLOCK), k = BLOCK - at;
        if (k > n)
            k = n;
        if (memcmp(data, g_pattern + at, k) != 0)
            return false;
        data += k;
        n -= k;
        off += k;
    }
    return true;
}

/* Read to EOF; *count = bytes read, *bad = some byte differed. False on a
 * socket error (other than EOF). */
static bool recv_check(int fd, unsigned char *buf, uint64_t *count, bool *bad)
{
    *count = 0;
    *bad = false;
    for (;;) {
        ssize_t r = recv(fd, buf, BLOCK, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        if (r == 0)
            return true;
        if (!*bad && !matches(buf, (size_t)r, *count))
            *bad = true;
        *count += (uint64_t)r;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void *handle(void *arg)
{
    int fd = (int)(intptr_t)arg, sz = SOCKBUF;
    unsigned char cmd[9];
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (recv_exact(fd, cmd, sizeof(cmd))) {
        uint64_t size = get_be64(cmd + 1);
        if (cmd[0] == 'D') {
            send_pattern(fd, size);
        } else if (cmd[0] == 'U') {
            unsigned char *buf = malloc(BLOCK), reply[12];
            uint64_t count;
            bool bad;
            if (buf && recv_check(fd, buf, &count, &bad)) {
                put_be64(reply, count);
                memset(reply + 8, 0, 4);
                reply[11] = bad ? 1 : 0;
                send_all(fd, reply, sizeof(reply));
            }
            free(buf);
        }
    }
    close(fd);
    return NULL;
}

static int serve(int port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 64) < 0) {
        perror("tcpsink serve");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror("tcpsink accept");
            return 1;
        }
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, handle, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int client(bool down, int port, uint64_t size)
{
    char err[160] = "";
    double seconds = -1;
    uint64_t count = 0;
    bool ok = false, bad = false;
    unsigned char *buf = malloc(BLOCK);
    int fd = socket(AF_INET, SOCK_STREAM, 0), sz = SOCKBUF;
    struct timeval tmo = {.tv_sec = 20}; /* a stall is a failure */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!buf || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        snprintf(err, sizeof(err), "connect: %s", strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
    unsigned char cmd[9];
    cmd[0] = down ? 'D' : 'U';
    put_be64(cmd + 1, size);
    double t0 = now();
    if (!send_all(fd, cmd, sizeof(cmd))) {
        snprintf(err, sizeof(err), "send: %s", strerror(errno));
        goto out;
    }
    if (down) {
        if (!recv_check(fd, buf, &count, &bad)) {
            snprintf(err, sizeof(err), "recv after %llu bytes: %s", (unsigned long long)count,
                     strerror(errno));
            goto out;
        }
    } else {
        unsigned char reply[12];
        if (!send_pattern(fd, size) || shutdown(fd, SHUT_WR) < 0) {
            snprintf(err, sizeof(err), "send: %s", strerror(errno));
            goto out;
        }
        if (!recv_exact(fd, reply, sizeof(reply))) {
            snprintf(err, sizeof(err), "no reply from the sink");
            goto out;
        }
        count = get_be64(reply);
        bad = reply[11] != 0;
    }
    seconds = now() - t0;
    ok = count == size && !bad;
    if (!ok)
        snprintf(err, sizeof(err), "got %llu bytes%s, want %llu", (unsigned long long)count,
                 bad ? " differing from the pattern" : "", (unsigned long long)size);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    printf("{\"bytes\": %llu, \"seconds\": ", (unsigned long long)count);
    if (seconds >= 0)
        printf("%.9f", seconds);
    else
        printf("null");
    printf(", \"ok\": %s, \"error\": \"%s\"}\n", ok ? "true" : "false", err);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    make_pattern();
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]));
    if (argc == 4 && (strcmp(argv[1], "down") == 0 || strcmp(argv[1], "up") == 0))
        return client(argv[1][0] == 'd', atoi(argv[2]), strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: tcpsink serve PORT | tcpsink down|up PORT SIZE\n");
    return 2;
}
