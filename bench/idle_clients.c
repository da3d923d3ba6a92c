/* idle_clients.c — open N authenticated SSH connections and keep them idle.
 *
 * Used by bench/ to measure memory per idle authenticated connection and the
 * time to open N connections. OpenSSH's ssh client is too heavy for 10,000
 * separate connections, so this uses the libssh client API: a pool of threads
 * each does blocking connect + key exchange + public-key auth for its share of
 * the sessions; the sessions then stay open with nothing requested (no
 * channel). Idle sessions need no event loop.
 *
 * Usage: idle_clients -p PORT -u USER -k KEYFILE -n COUNT [-h HOST] [-t THREADS]
 *                     [-c CIPHER] [-w HOLD_SECONDS]
 * Output (stdout, one line each):
 *   READY <ok> <failed> <seconds-to-open>
 *   HELD <still-open> <dropped>            after HOLD_SECONDS (or stdin EOF)
 * Exit status 0 when every connection authenticated and none was dropped.
 * The process holds the connections until stdin reaches EOF (or -w elapses).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

struct opts {
    const char *host, *user, *keyfile, *cipher;
    int port, count, threads, hold;
};

static struct opts g_opt = { "127.0.0.1", NULL, NULL, "aes128-gcm@openssh.com", 0, 0, 32, 0 };
static ssh_session *g_sessions;
static ssh_key g_key;
static atomic_int g_next, g_ok, g_failed;
static atomic_int g_errors_printed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_error(int idx, const char *what, ssh_session s)
{
    if (atomic_fetch_add(&g_errors_printed, 1) < 5)
        fprintf(stderr, "idle_clients: connection %d: %s: %s\n", idx, what,
                s ? ssh_get_error(s) : "out of memory");
}

static int open_one(int idx)
{
    int rc = -1, no = 0;
    long timeout = 60;
    ssh_session s = ssh_new();
    if (!s) {
        report_error(idx, "ssh_new", NULL);
        goto out;
    }
    ssh_options_set(s, SSH_OPTIONS_HOST, g_opt.host);
    ssh_options_set(s, SSH_OPTIONS_PORT, &g_opt.port);
    ssh_options_set(s, SSH_OPTIONS_USER, g_opt.user);
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, "curve25519-sha256");
    ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519");
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, g_opt.cipher);
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, g_opt.cipher);
    ssh_options_set(s, SSH_OPTIONS_COMPRESSION, "none");
    if (ssh_connect(s) != SSH_OK) {
        report_error(idx, "connect", s);
        goto out;
    }
    if (ssh_userauth_publickey(s, NULL, g_key) != SSH_AUTH_SUCCESS) {
        report_error(idx, "publickey auth", s);
        goto out;
    }
    g_sessions[idx] = s;
    s = NULL;
    rc = 0;
out:
    if (s) {
        ssh_disconnect(s);
        ssh_free(s);
    }
    return rc;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        int idx = atomic_fetch_add(&g_next, 1);
        if (idx >= g_opt.count)
            break;
        if (open_one(idx) == 0)
            atomic_fetch_add(&g_ok, 1);
        else
            atomic_fetch_add(&g_failed, 1);
    }
    return NULL;
}

/* A session counts as dropped when its socket reports hang-up or EOF. Data
 * the server sent after auth (global requests, ext-info) is not a drop. */
static int session_dropped(ssh_session s)
{
    socket_t fd = ssh_get_fd(s);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char buf[1];
    if (fd < 0)
        return 1;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR))
        return 1;
    return recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void wait_hold(void)
{
    if (g_opt.hold > 0) {
        sleep((unsigned)g_opt.hold);
        return;
    }
    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0)
        ;
}

static int parse_args(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "h:p:u:k:n:t:c:w:")) != -1) {
        switch (c) {
        case 'h': g_opt.host = optarg; break;
        case 'p': g_opt.port = atoi(optarg); break;
        case 'u': g_opt.user = optarg; break;
        case 'k': g_opt.keyfile = optarg; break;
        case 'n': g_opt.count = atoi(optarg); break;
        case 't': g_opt.threads = atoi(optarg); break;
        case 'c': g_opt.cipher = optarg; break;
        case 'w': g_opt.hold = atoi(optarg); break;
        default: return -1;
        }
    }
    if (!g_opt.user || !g_opt.keyfile || g_opt.port <= 0 || g_opt.count <= 0 ||
        g_opt.threads <= 0)
        return -1;
    if (g_opt.threads > g_opt.count)
        g_opt.threads = g_opt.count;
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2, still = 0, dropped = 0;
    pthread_t *tids = NULL;
    double t0, t1;
    struct rlimit rl;

    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: idle_clients -p PORT -u USER -k KEY -n COUNT [-h HOST] "
                        "[-t THREADS] [-c CIPHER] [-w HOLD_SECONDS]\n");
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g_opt.count + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)g_opt.count + 64) {
            fprintf(stderr, "idle_clients: RLIMIT_NOFILE %lu too low for %d connections\n",
                    (unsigned long)rl.rlim_cur, g_opt.count);
            return 2;
        }
    }
    ssh_init();
    if (ssh_pki_import_privkey_file(g_opt.keyfile, NULL, NULL, NULL, &g_key) != SSH_OK) {
        fprintf(stderr, "idle_clients: cannot read key %s\n", g_opt.keyfile);
        goto out;
    }
    g_sessions = calloc((size_t)g_opt.count, sizeof *g_sessions);
    tids = calloc((size_t)g_opt.threads, sizeof *tids);
    if (!g_sessions || !tids) {
        fprintf(stderr, "idle_clients: out of memory\n");
        goto out;
    }
    t0 = now_s();
    for (int i = 0; i < g_opt.threads; i++) {
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "idle_clients: pthread_create: %s\n", strerror(errno));
            g_opt.threads = i;
            break;
        }
    }
    for (int i = 0; i < g_opt.threads; i++)
        pthread_join(tids[i], NULL);
    t1 = now_s();
    printf("READY %d %d %.3f\n", atomic_load(&g_ok), atomic_load(&g_failed), t1 - t0);
    fflush(stdout);

    wait_hold();
    for (int i = 0; i < g_opt.count; i++) {
        if (!g_sessions[i])
            continue;
        if (session_dropped(g_sessions[i]))
            dropped++;
        else
            still++;
    }
    printf("HELD %d %d\n", still, dropped);
    fflush(stdout);
    rc = (atomic_load(&g_failed) == 0 && dropped == 0) ? 0 : 1;
    for (int i = 0; i < g_opt.count; i++) {
        if (g_sessions[i]) {
            ssh_disconnect(g_sessions[i]);
            ssh_free(g_sessions[i]);
        }
    }
out:
    free(tids);
    free(g_sessions);
    if (g_key)
        ssh_key_free(g_key);
    ssh_finalize();
    return rc;
}
