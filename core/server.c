/* server.c — a worker: libssh bind, plugins, listeners, signals, status. */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "host_api.h"
#include "hostkeys.h"
#include "log.h"
#include "session.h"

#define SHUTDOWN_DEADLINE_MS 5000

static sg_io *g_sig_io, *g_ctl_io;
static int g_sigfd = -1, g_ctl_fd = -1;
static sg_ltimer *g_deadline;

static int join(const struct sg_strlist *l, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n; i++) {
        int w = snprintf(buf + off, n - off, "%s%s", i ? "," : "", l->v[i]);
        if (w < 0 || (size_t)w >= n - off)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static ssh_bind make_bind(const struct sg_config *cfg, char *err, size_t errlen)
{
    ssh_bind b = ssh_bind_new();
    if (!b) {
        snprintf(err, errlen, "ssh_bind_new failed");
        return NULL;
    }
    bool no = false;
    ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
    for (size_t i = 0; i < cfg->host_keys.n; i++)
        if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY, cfg->host_keys.v[i]) < 0) {
            snprintf(err, errlen, "host key %s: %s", cfg->host_keys.v[i], ssh_get_error(b));
            goto fail;
        }
    struct {
        enum ssh_bind_options_e opt;
        const struct sg_strlist *list;
        const char *what;
    } lists[] = {
        {SSH_BIND_OPTIONS_KEY_EXCHANGE, &cfg->algorithms.kex, "kex"},
        {SSH_BIND_OPTIONS_CIPHERS_C_S, &cfg->algorithms.ciphers, "ciphers"},
        {SSH_BIND_OPTIONS_CIPHERS_S_C, &cfg->algorithms.ciphers, "ciphers"},
        {SSH_BIND_OPTIONS_HMAC_C_S, &cfg->algorithms.macs, "macs"},
        {SSH_BIND_OPTIONS_HMAC_S_C, &cfg->algorithms.macs, "macs"},
        {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, &cfg->algorithms.host_key, "host_key"},
        {SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, &cfg->algorithms.pubkey_auth, "pubkey_auth"},
    };
    char buf[2048];
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (lists[i].list->n == 0)
            continue;
        if (join(lists[i].list, buf, sizeof(buf)) < 0 ||
            ssh_bind_options_set(b, lists[i].opt, buf) < 0) {
            snprintf(err, errlen, "algorithms.%s: libssh refused '%s': %s", lists[i].what, buf,
                     ssh_get_error(b));
            goto fail;
        }
    }
    if (cfg->version_string && *cfg->version_string)
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_BANNER, cfg->version_string);
    int verb = sg_log_level() >= SG_LOG_DEBUG && getenv("SSHGATE_LIBSSH_DEBUG") ? SSH_LOG_PROTOCOL
                                                                                : SSH_LOG_NOLOG;
    ssh_bind_options_set(b, SSH_BIND_OPTIONS_LOG_VERBOSITY, &verb);
    return b;
fail:
    ssh_bind_free(b);
    return NULL;
}

/* ---- accepting ------------------------------------------------------------------ */
#define ACCEPT_BACKOFF_MS 250

static sg_ltimer *g_accept_timer;
static uint64_t g_last_emfile_log;

static void accept_cb(int fd, uint32_t ev, void *arg);

static void listen_all(void)
{
    for (size_t i = 0; i < sg_w->n_listen; i++)
        if (!sg_w->listen_io[i])
            sg_w->listen_io[i] = sg_io_add(sg_w->loop, sg_w->listeners[i].fd, EPOLLIN, accept_cb,
                                           NULL, true);
}

static void accept_resume_cb(void *arg)
{
    g_accept_timer = NULL;
    if (!sg_w->draining)
        listen_all();
}

/* Out of fds: the pending connection stays in the backlog. Stop watching the
 * listeners for a moment instead of spinning on a readable socket (an
 * EPOLLEXCLUSIVE registration cannot be modified, only removed). */
static void accept_backoff(int err)
{
    uint64_t now = sg_now_ms();
    if (now - g_last_emfile_log >= 5000) {
        g_last_emfile_log = now;
        SG_ERR(0, "accept: %s: new connections wait (%zu open; raise the fd limit)", strerror(err),
               sg_w->n_conns);
    }
    for (size_t i = 0; i < sg_w->n_listen; i++)
        if (sg_w->listen_io[i]) {
            sg_io_del(sg_w->listen_io[i]);
            sg_w->listen_io[i] = NULL;
        }
    if (!g_accept_timer)
        g_accept_timer = sg_timer_add(sg_w->loop, ACCEPT_BACKOFF_MS, accept_resume_cb, NULL);
}

static void accept_cb(int fd, uint32_t ev, void *arg)
{
    for (int i = 0; i < 64 && !sg_w->draining; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_backoff(errno);
            return;
        }
        sg_session_accept(c, (struct sockaddr *)&ss, sl);
    }
}

static void stop_listening(void)
{
    if (g_accept_timer) {
        sg_timer_cancel(sg_w->loop, g_accept_timer);
        g_accept_timer = NULL;
    }
    static bool closed;
    for (size_t i = 0; i < sg_w->n_listen; i++) {
        if (sg_w->listen_io[i]) {
            sg_io_del(sg_w->listen_io[i]);
            sg_w->listen_io[i] = NULL;
        }
        if (!closed)
            close(sg_w->listeners[i].fd); /* our inherited copy */
    }
    closed = true;
}

static void deadline_cb(void *arg)
{
    g_deadline = NULL;
    SG_INFO(0, "shutdown deadline reached with %zu connections left: stopping", sg_w->n_conns);
    sg_loop_stop(sg_w->loop);
}

static void begin_drain(bool shutdown)
{
    if (!sg_w->draining)
        SG_VERB(0, "worker %d: %s (%zu connections)", sg_w->slot, shutdown ? "shutting down" : "draining",
                sg_w->n_conns);
    sg_w->draining = true;
    stop_listening();
    if (shutdown && !sg_w->shutting_down) {
        sg_w->shutting_down = true;
        sg_sessions_close_all("server shutting down");
        g_deadline = sg_timer_add(sg_w->loop, SHUTDOWN_DEADLINE_MS, deadline_cb, NULL);
    }
    if (sg_w->n_conns == 0)
        sg_loop_stop(sg_w->loop);
}

static void signal_cb(int fd, uint32_t ev, void *arg)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            begin_drain(true);
        else if (si.ssi_signo == SIGUSR1)
            begin_drain(false);
    }
}

/* ---- status (Connections / Channels collections) ------------------------------------- */
static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void status_dump(int fd)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    uint64_t now = sg_now_ms();
    for (struct sg_conn *c = sg_w->conns; c; c = c->next) {
        fprintf(f, "{\"worker\":%d,\"pid\":%d,\"id\":%llu,\"peer\":\"%s\",\"port\":%d,\"user\":\"",
                sg_w->slot, (int)getpid(), (unsigned long long)c->id, c->peer_ip, c->peer_port);
        for (const char *p = c->user ? c->user : ""; *p; p++)
            fprintf(f, (*p == '"' || *p == '\\') ? "\\%c" : ((unsigned char)*p < 0x20 ? "?" : "%c"), *p);
        fprintf(f, "\",\"authenticated\":%s,\"age_s\":%llu,\"channels\":[",
                c->authenticated ? "true" : "false", (unsigned long long)((now - c->start_ms) / 1000));
        bool first = true;
        for (struct sg_chan *h = c->chans; h; h = h->next) {
            fprintf(f, "%s{\"id\":%u,\"type\":\"%s\",\"request\":\"%s\",\"plugin\":\"%s\",\"in\":%llu,\"out\":%llu}",
                    first ? "" : ",", h->id, h->type, h->request, h->owner ? h->owner->name : "",
                    (unsigned long long)h->bytes_in, (unsigned long long)h->bytes_out);
            first = false;
        }
        fputs("]}\n", f);
    }
    fputs("END\n", f);
    fclose(f);
    write_all(fd, buf, len);
    free(buf);
}

static void ctl_cb(int fd, uint32_t ev, void *arg)
{
    char cmd[64];
    ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
    if (n <= 0) { /* the master is gone: shut down */
        sg_io_del(g_ctl_io);
        g_ctl_io = NULL;
        begin_drain(true);
        return;
    }
    cmd[n] = 0;
    if (strncmp(cmd, "status", 6) == 0)
        status_dump(fd);
}

/* ---- plugin log observer ---------------------------------------------------------------- */
static void log_observer(uint64_t conn_id, int level, const char *type, const char *msg)
{
    if (!sg_w)
        return;
    struct sg_conn *c = NULL;
    for (struct sg_conn *x = sg_w->conns; conn_id && x; x = x->next)
        if (x->id == conn_id) {
            c = x;
            break;
        }
    struct sg_ev_log ev = {.size = sizeof(ev), .level = level, .message = msg, .log_type = type};
    for (size_t i = 0; i < sg_w->plugins.n; i++) {
        struct sg_plugin_ref *p = &sg_w->plugins.v[i];
        if (p->initialized && p->desc->on_log)
            p->desc->on_log(p->state, (sg_conn *)c, &ev);
    }
}

int sg_worker_run(const struct sg_config *cfg, const struct sg_listener *ls, size_t n_listen,
                  struct sg_admission *adm, int slot, int ctl_fd)
{
    char err[1024];
    int rc = 1;
    static struct sg_worker w;
    memset(&w, 0, sizeof(w));
    sg_w = &w;
    w.cfg = cfg;
    w.adm = adm;
    w.slot = slot;
    w.listeners = ls;
    w.n_listen = n_listen;
    sg_admission_set_slot(slot);
    sg_log_setup(cfg->log.level, cfg->log.json, cfg->log.mask_secrets, "worker");
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigdelset(&set, SIGHUP); /* blocked and ignored: the master reloads */
    g_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    ssh_init();
    w.loop = sg_loop_new(4); /* blocking plugin work: hashing, DNS, LDAP */
    if (!w.loop || g_sigfd < 0) {
        SG_ERR(0, "worker %d: cannot create the event loop", slot);
        goto out;
    }
    w.bind = make_bind(cfg, err, sizeof(err));
    if (!w.bind) {
        SG_ERR(0, "worker %d: %s", slot, err);
        goto out;
    }
    if (sg_plugins_load(cfg, sg_host_api(), &w.plugins, err, sizeof(err)) < 0) {
        SG_ERR(0, "worker %d: %s", slot, err);
        rc = SG_WORKER_EXIT_CONFIG;
        goto out;
    }
    sg_log_set_observer(log_observer);
    sg_loop_set_after(w.loop, sg_sessions_after_dispatch, NULL);
    g_sig_io = sg_io_add(w.loop, g_sigfd, EPOLLIN, signal_cb, NULL, false);
    g_ctl_fd = ctl_fd;
    if (ctl_fd >= 0)
        g_ctl_io = sg_io_add(w.loop, ctl_fd, EPOLLIN, ctl_cb, NULL, false);
    w.listen_io = calloc(n_listen ? n_listen : 1, sizeof(sg_io *));
    if (w.listen_io)
        listen_all();
    SG_VERB(0, "worker %d ready (%zu plugins, %zu listeners)", slot, w.plugins.n, n_listen);
    sg_loop_run(w.loop);
    /* closing what is left (deadline reached) */
    sg_sessions_close_all("server shutting down");
    sg_sessions_after_dispatch(NULL);
    rc = 0;
out:
    sg_log_set_observer(NULL);
    if (g_deadline && w.loop)
        sg_timer_cancel(w.loop, g_deadline);
    g_deadline = NULL;
    if (g_accept_timer && w.loop)
        sg_timer_cancel(w.loop, g_accept_timer);
    g_accept_timer = NULL;
    sg_plugins_unload(&w.plugins);
    if (w.loop)
        sg_host_timers_drop();
    if (g_sig_io)
        sg_io_del(g_sig_io);
    if (g_ctl_io)
        sg_io_del(g_ctl_io);
    g_sig_io = g_ctl_io = NULL;
    for (size_t i = 0; w.listen_io && i < n_listen; i++)
        if (w.listen_io[i])
            sg_io_del(w.listen_io[i]);
    if (w.bind)
        ssh_bind_free(w.bind);
    if (w.loop)
        sg_loop_free(w.loop);
    free(w.listen_io);
    if (g_sigfd >= 0)
        close(g_sigfd);
    g_sigfd = -1;
    ssh_finalize();
    sg_w = NULL;
    return rc;
}

/* ---- in-process API ------------------------------------------------------------------------ */
struct sg_server {
    const struct sg_config *cfg;
    struct sg_listener *ls;
    size_t n_ls;
    struct sg_admission *adm;
};

struct sg_server *sg_server_new(const struct sg_config *cfg, char *err, size_t errlen)
{
    struct sg_server *s = calloc(1, sizeof(*s));
    if (!s)
        snprintf(err, errlen, "out of memory");
    else
        s->cfg = cfg;
    return s;
}

int sg_server_start(struct sg_server *s, char *err, size_t errlen)
{
    if (sg_hostkeys_ensure(s->cfg, err, errlen) < 0)
        return -1;
    if (sg_listeners_open(s->cfg, &s->ls, &s->n_ls, err, errlen) < 0)
        return -1;
    s->adm = sg_admission_create();
    if (!s->adm) {
        snprintf(err, errlen, "cannot create the admission table");
        return -1;
    }
    return 0;
}

int sg_server_run(struct sg_server *s) { return sg_worker_run(s->cfg, s->ls, s->n_ls, s->adm, 0, -1); }

void sg_server_stop(struct sg_server *s) { kill(getpid(), SIGTERM); }

void sg_server_free(struct sg_server *s)
{
    if (!s)
        return;
    sg_listeners_close(s->ls, s->n_ls);
    sg_admission_destroy(s->adm);
    free(s);
}
