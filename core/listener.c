/* listener.c — sockets and the shared admission table. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

/* ---- sockets -------------------------------------------------------------- */
static int open_one(const struct sg_listen *ls, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ls->address, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)ls->port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, ls->address, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)ls->port);
        sl = sizeof(*s6);
    } else {
        snprintf(err, errlen, "listen address %s is not a numeric IP", ls->address);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        listen(fd, ls->backlog > 0 ? ls->backlog : 128) < 0) {
        snprintf(err, errlen, "cannot listen on [%s]:%d: %s", ls->address, ls->port,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sg_listeners_open(const struct sg_config *cfg, struct sg_listener **out, size_t *n, char *err,
                      size_t errlen)
{
    struct sg_listener *l = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*l));
    if (!l)
        return -1;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        int fd = open_one(&cfg->listen[i], err, errlen);
        if (fd < 0) {
            sg_listeners_close(l, i);
            return -1;
        }
        l[i].fd = fd;
        snprintf(l[i].address, sizeof(l[i].address), "%s", cfg->listen[i].address);
        l[i].port = cfg->listen[i].port;
    }
    *out = l;
    *n = cfg->n_listen;
    return 0;
}

void sg_listeners_close(struct sg_listener *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        if (l[i].fd >= 0)
            close(l[i].fd);
    free(l);
}

bool sg_listeners_same(const struct sg_listener *l, size_t n, const struct sg_config *cfg)
{
    if (n != cfg->n_listen)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].address, cfg->listen[i].address) || l[i].port != cfg->listen[i].port)
            return false;
    return true;
}

/* ---- admission ------------------------------------------------------------ */
#define SRC_SLOTS 4096

struct src_entry {
    uint8_t addr[16];
    bool used;
    uint16_t conns[SG_MAX_WORKERS];
    int failures;
    uint64_t first_failure_ms;
    uint64_t penalty_until_ms;
};

struct sg_admission {
    pthread_mutex_t mu;
    int total[SG_MAX_WORKERS];
    int startups[SG_MAX_WORKERS];
    struct src_entry src[SRC_SLOTS];
};

static int g_slot;

void sg_admission_set_slot(int slot)
{
    g_slot = slot >= 0 && slot < SG_MAX_WORKERS ? slot : 0;
}

struct sg_admission *sg_admission_create(void)
{
    struct sg_admission *a =
        mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        return NULL;
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&a->mu, &at);
    pthread_mutexattr_destroy(&at);
    return a;
}

void sg_admission_destroy(struct sg_admission *a)
{
    if (a)
        munmap(a, sizeof(*a));
}

static void lock(struct sg_admission *a)
{
    if (pthread_mutex_lock(&a->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&a->mu); /* a worker died holding it */
}

static void unlock(struct sg_admission *a)
{
    pthread_mutex_unlock(&a->mu);
}

void sg_admission_forget_slot(struct sg_admission *a, int slot)
{
    if (!a || slot < 0 || slot >= SG_MAX_WORKERS)
        return;
    lock(a);
    a->total[slot] = 0;
    a->startups[slot] = 0;
    for (size_t i = 0; i < SRC_SLOTS; i++)
        a->src[i].conns[slot] = 0;
    unlock(a);
}

static void addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff; /* v4-mapped form: one key per client either way */
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static struct src_entry *src_find(struct sg_admission *a, const struct sockaddr *sa, bool create)
{
    uint8_t key[16];
    addr_key(sa, key);
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    struct src_entry *free_e = NULL;
    for (size_t probe = 0; probe < 64; probe++) {
        struct src_entry *e = &a->src[(h + probe) % SRC_SLOTS];
        if (e->used && memcmp(e->addr, key, 16) == 0)
            return e;
        if (!free_e) {
            bool idle = !e->used;
            if (e->used && e->penalty_until_ms < sg_now_ms() && e->failures == 0) {
                idle = true;
                for (int w = 0; w < SG_MAX_WORKERS && idle; w++)
                    idle = e->conns[w] == 0;
            }
            if (idle)
                free_e = e;
        }
    }
    if (!create || !free_e)
        return NULL;
    memset(free_e, 0, sizeof(*free_e));
    free_e->used = true;
    memcpy(free_e->addr, key, 16);
    return free_e;
}

static int sum(const int *v)
{
    int s = 0;
    for (int i = 0; i < SG_MAX_WORKERS; i++)
        s += v[i];
    return s;
}

static int src_conns(const struct src_entry *e)
{
    int s = 0;
    for (int i = 0; i < SG_MAX_WORKERS; i++)
        s += e->conns[i];
    return s;
}

/* CIDR or glob patterns; an IPv4-mapped IPv6 peer (a dual-stack listener)
 * is matched as the IPv4 address it is */
static bool list_match(const struct sg_strlist *l, const struct sockaddr *sa)
{
    int fam = sa->sa_family;
    const void *addr = fam == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                      : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    return sg_client_list_match(l, fam, addr);
}

bool sg_client_allowed(const struct sg_config *cfg, const struct sockaddr *sa)
{
    if (cfg->allowed_clients.n && !list_match(&cfg->allowed_clients, sa))
        return false;
    if (cfg->blocked_clients.n && list_match(&cfg->blocked_clients, sa))
        return false;
    return true;
}

const char *sg_admit_str(enum sg_admit a)
{
    static const char *const s[] = {"ok",
                                    "not in allowed_clients or in blocked_clients",
                                    "max_connections reached",
                                    "max_startups reached",
                                    "per_source_max reached",
                                    "source penalised after auth failures"};
    return a <= SG_ADMIT_PENALTY ? s[a] : "?";
}

enum sg_admit sg_admit(struct sg_admission *a, const struct sg_config *cfg,
                       const struct sockaddr *sa, const char *ip)
{
    if (!sg_client_allowed(cfg, sa))
        return SG_ADMIT_NOT_ALLOWED;
    enum sg_admit r = SG_ADMIT_OK;
    lock(a);
    int total = sum(a->total), startups = sum(a->startups);
    struct src_entry *e = src_find(a, sa, true);
    uint64_t now = sg_now_ms();
    if (total >= cfg->limits.max_connections) {
        r = SG_ADMIT_FULL;
    } else if (startups >= cfg->limits.max_startups_full) {
        r = SG_ADMIT_STARTUPS;
    } else if (startups >= cfg->limits.max_startups_start) {
        /* OpenSSH semantics: refuse with probability rate% at start, rising
         * linearly to 100% at full */
        int span = cfg->limits.max_startups_full - cfg->limits.max_startups_start;
        int p = cfg->limits.max_startups_rate +
                (span > 0 ? (100 - cfg->limits.max_startups_rate) *
                                (startups - cfg->limits.max_startups_start) / span
                          : 100);
        if ((int)(random() % 100) < p)
            r = SG_ADMIT_STARTUPS;
    }
    if (r == SG_ADMIT_OK && e) {
        if (e->penalty_until_ms > now)
            r = SG_ADMIT_PENALTY;
        else if (cfg->limits.per_source_max > 0 && src_conns(e) >= cfg->limits.per_source_max)
            r = SG_ADMIT_PER_SOURCE;
    }
    if (r == SG_ADMIT_OK) {
        a->total[g_slot]++;
        a->startups[g_slot]++;
        if (e)
            e->conns[g_slot]++;
    }
    unlock(a);
    return r;
}

void sg_admission_authenticated(struct sg_admission *a, const struct sockaddr *sa)
{
    lock(a);
    if (a->startups[g_slot] > 0)
        a->startups[g_slot]--;
    struct src_entry *e = src_find(a, sa, false);
    if (e)
        e->failures = 0;
    unlock(a);
}

void sg_admission_release(struct sg_admission *a, const struct sockaddr *sa, bool authenticated)
{
    lock(a);
    if (a->total[g_slot] > 0)
        a->total[g_slot]--;
    if (!authenticated && a->startups[g_slot] > 0)
        a->startups[g_slot]--;
    struct src_entry *e = src_find(a, sa, false);
    if (e && e->conns[g_slot] > 0)
        e->conns[g_slot]--;
    unlock(a);
}

bool sg_admission_auth_failed(struct sg_admission *a, const struct sg_config *cfg,
                              const struct sockaddr *sa)
{
    if (cfg->limits.per_source_penalty <= 0)
        return false;
    bool penalised = false;
    uint64_t now = sg_now_ms();
    uint64_t window = (uint64_t)cfg->limits.per_source_penalty * 1000 * 4;
    lock(a);
    struct src_entry *e = src_find(a, sa, true);
    if (e) {
        if (!e->failures || now - e->first_failure_ms > window) {
            e->failures = 0;
            e->first_failure_ms = now;
        }
        if (++e->failures >= cfg->limits.per_source_penalty_failures) {
            e->penalty_until_ms = now + (uint64_t)cfg->limits.per_source_penalty * 1000;
            e->failures = 0;
            penalised = true;
        }
    }
    unlock(a);
    return penalised;
}

void sg_admission_stats(struct sg_admission *a, int *total, int *startups)
{
    lock(a);
    *total = sum(a->total);
    *startups = sum(a->startups);
    unlock(a);
}
