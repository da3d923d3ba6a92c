/* master.c — the master process: config, host keys, listeners, workers.
 *
 * Forks N workers that share the listeners (EPOLLEXCLUSIVE). A worker that
 * dies is logged and replaced. SIGHUP re-reads the config: if it is valid,
 * a new generation of workers starts and the old one drains (stops
 * accepting, exits when its last session ends); if not, the error is logged
 * and nothing changes. SIGTERM/SIGINT: graceful shutdown. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostkeys.h"
#include "log.h"
#include "loop.h"
#include "plugin_loader.h"
#include "server.h"

struct worker {
    pid_t pid;
    int slot;
    int generation;
    int ctl_fd;   /* master's end of the status socketpair */
    bool used;
};

static struct {
    const char *config_path; /* NULL: embedded default */
    struct sg_config *cfg;
    int generation;
    struct sg_listener *ls;
    size_t n_ls;
    struct sg_admission *adm;
    struct worker w[SG_MAX_WORKERS];
    bool shutting_down;
    int ctl_listen_fd;
    uint64_t crash_times[8];
    int n_crash;
    int exit_code;
} M = {.ctl_listen_fd = -1};

static int nworkers(const struct sg_config *cfg)
{
    int n = cfg->workers;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > SG_MAX_WORKERS / 2)
        n = SG_MAX_WORKERS / 2;
    return n;
}

struct sg_config *sg_master_load(const char *path, char *err, size_t errlen)
{
    return path ? sg_config_load_file(path, err, errlen)
                : sg_config_load_string(sg_config_default_text(), "<embedded conf/sshgate.json>", err,
                                        errlen);
}

/* dlopen + ABI check of every plugin, without init (that happens per worker). */
int sg_master_check_plugins(const struct sg_config *cfg, char *err, size_t errlen)
{
    struct sg_plugin_set set;
    if (sg_plugins_load(cfg, NULL, &set, err, errlen) < 0)
        return -1;
    sg_plugins_unload(&set);
    return 0;
}

static int free_slot(void)
{
    for (int i = 0; i < SG_MAX_WORKERS; i++)
        if (!M.w[i].used)
            return i;
    return -1;
}

static int spawn(int slot)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        sv[0] = sv[1] = -1;
    pid_t pid = fork();
    if (pid < 0) {
        SG_ERR(0, "fork: %s", strerror(errno));
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        return -1;
    }
    if (pid == 0) {
        if (sv[0] >= 0)
            close(sv[0]);
        if (M.ctl_listen_fd >= 0)
            close(M.ctl_listen_fd);
        for (int i = 0; i < SG_MAX_WORKERS; i++)
            if (M.w[i].used && M.w[i].ctl_fd >= 0)
                close(M.w[i].ctl_fd);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        int rc = sg_worker_run(M.cfg, M.ls, M.n_ls, M.adm, slot, sv[1]);
        _exit(rc);
    }
    if (sv[1] >= 0)
        close(sv[1]);
    M.w[slot] = (struct worker){.pid = pid, .slot = slot, .generation = M.generation,
                                .ctl_fd = sv[0], .used = true};
    SG_VERB(0, "started worker %d (pid %d, generation %d)", slot, (int)pid, M.generation);
    return 0;
}

static int spawn_generation(void)
{
    int n = nworkers(M.cfg);
    for (int i = 0; i < n; i++) {
        int slot = free_slot();
        if (slot < 0 || spawn(slot) < 0)
            return -1;
    }
    return 0;
}

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct worker *w = NULL;
        for (int i = 0; i < SG_MAX_WORKERS; i++)
            if (M.w[i].used && M.w[i].pid == pid)
                w = &M.w[i];
        if (!w)
            continue;
        bool crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        int slot = w->slot, gen = w->generation;
        if (w->ctl_fd >= 0)
            close(w->ctl_fd);
        w->used = false;
        sg_admission_forget_slot(M.adm, slot);
        if (gen != M.generation) {
            SG_INFO(0, "old worker %d (pid %d) finished draining", slot, (int)pid);
            continue;
        }
        if (M.shutting_down)
            continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == SG_WORKER_EXIT_CONFIG) {
            if (gen == 0) {
                SG_ERR(0, "worker %d could not start its plugins: stopping", slot);
                M.shutting_down = true;
                M.exit_code = 1;
                continue;
            }
            SG_ERR(0, "worker %d of the reloaded config could not start its plugins; retrying", slot);
            sleep(1);
        }
        if (crashed) {
            if (WIFSIGNALED(status))
                SG_ERR(0, "worker %d (pid %d) died from signal %d (%s); its connections are lost; starting a replacement",
                       slot, (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
            else
                SG_ERR(0, "worker %d (pid %d) exited with status %d; starting a replacement", slot,
                       (int)pid, WEXITSTATUS(status));
        } else {
            SG_INFO(0, "worker %d (pid %d) exited; starting a replacement", slot, (int)pid);
        }
        /* crash loop guard: more than 8 replacements within 10 s → slow down */
        uint64_t now = sg_now_ms();
        M.crash_times[M.n_crash++ % 8] = now;
        if (M.n_crash >= 8 && now - M.crash_times[M.n_crash % 8] < 10000) {
            SG_ERR(0, "workers keep dying: waiting 1 s before the next replacement");
            sleep(1);
        }
        spawn(slot);
    }
}

static void reload(void)
{
    char err[1024];
    SG_INFO(0, "SIGHUP: reloading %s", M.config_path ? M.config_path : "the embedded config");
    struct sg_config *ncfg = sg_master_load(M.config_path, err, sizeof(err));
    if (!ncfg) {
        SG_ERR(0, "reload failed, keeping the running config: %s", err);
        return;
    }
    if (sg_hostkeys_ensure(ncfg, err, sizeof(err)) < 0 ||
        sg_master_check_plugins(ncfg, err, sizeof(err)) < 0) {
        SG_ERR(0, "reload failed, keeping the running config: %s", err);
        sg_config_free(ncfg);
        return;
    }
    struct sg_listener *nls = M.ls;
    size_t nn = M.n_ls;
    bool new_listeners = !sg_listeners_same(M.ls, M.n_ls, ncfg);
    if (new_listeners) {
        struct sg_listener *tmp;
        size_t tn;
        /* close first when an address is reused, else bind would fail */
        sg_listeners_close(M.ls, M.n_ls);
        if (sg_listeners_open(ncfg, &tmp, &tn, err, sizeof(err)) < 0) {
            SG_ERR(0, "reload: %s; reopening the old listeners", err);
            if (sg_listeners_open(M.cfg, &M.ls, &M.n_ls, err, sizeof(err)) < 0)
                SG_ERR(0, "cannot reopen the old listeners: %s", err);
            sg_config_free(ncfg);
            return;
        }
        nls = tmp;
        nn = tn;
    }
    /* old generation drains */
    for (int i = 0; i < SG_MAX_WORKERS; i++)
        if (M.w[i].used && M.w[i].generation == M.generation)
            kill(M.w[i].pid, SIGUSR1);
    struct sg_config *old = M.cfg;
    M.cfg = ncfg;
    M.ls = nls;
    M.n_ls = nn;
    M.generation++;
    sg_log_setup(ncfg->log.level, ncfg->log.json, ncfg->log.mask_secrets, "master");
    spawn_generation();
    sg_config_free(old);
    SG_INFO(0, "reloaded: generation %d started", M.generation);
}

static void shutdown_all(void)
{
    M.shutting_down = true;
    SG_INFO(0, "shutting down");
    for (int i = 0; i < SG_MAX_WORKERS; i++)
        if (M.w[i].used)
            kill(M.w[i].pid, SIGTERM);
    uint64_t deadline = sg_now_ms() + 10000;
    for (;;) {
        int left = 0;
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            for (int i = 0; i < SG_MAX_WORKERS; i++)
                if (M.w[i].used && M.w[i].pid == pid)
                    M.w[i].used = false;
        for (int i = 0; i < SG_MAX_WORKERS; i++)
            left += M.w[i].used;
        if (!left)
            break;
        if (sg_now_ms() > deadline) {
            for (int i = 0; i < SG_MAX_WORKERS; i++)
                if (M.w[i].used)
                    kill(M.w[i].pid, SIGKILL);
        }
        usleep(20000);
    }
}

/* ---- status socket --------------------------------------------------------------- */
static void serve_status(int cfd)
{
    for (int i = 0; i < SG_MAX_WORKERS; i++) {
        struct worker *w = &M.w[i];
        if (!w->used || w->ctl_fd < 0)
            continue;
        if (write(w->ctl_fd, "status\n", 7) != 7)
            continue;
        char buf[8192];
        size_t have = 0;
        uint64_t until = sg_now_ms() + 1000;
        for (;;) {
            struct pollfd p = {.fd = w->ctl_fd, .events = POLLIN};
            int left = (int)(until > sg_now_ms() ? until - sg_now_ms() : 0);
            if (poll(&p, 1, left) <= 0)
                break;
            ssize_t n = read(w->ctl_fd, buf + have, sizeof(buf) - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            char *end = NULL;
            if (have >= 4 && (end = memmem(buf, have, "END\n", 4)) != NULL) {
                if (write(cfd, buf, (size_t)(end - buf)) < 0)
                    return;
                break;
            }
            if (have == sizeof(buf)) { /* pass on complete lines, keep the rest */
                char *nl = memrchr(buf, '\n', have);
                size_t keep = nl ? have - (size_t)(nl + 1 - buf) : 0;
                if (write(cfd, buf, have - keep) < 0)
                    return;
                memmove(buf, buf + have - keep, keep);
                have = keep;
            }
        }
    }
}

static int open_control(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    unlink(path);
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (rc < 0 || listen(fd, 8) < 0) {
        SG_ERR(0, "control socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int drop_privileges(const char *user)
{
    if (!user || !*user)
        return 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        SG_ERR(0, "user %s does not exist", user);
        return -1;
    }
    if (geteuid() != 0) {
        if (getuid() == pw->pw_uid)
            return 0;
        SG_ERR(0, "cannot switch to user %s: not running as root", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        SG_ERR(0, "cannot switch to user %s: %s", user, strerror(errno));
        return -1;
    }
    SG_INFO(0, "running as %s", user);
    return 0;
}

int sg_master_run(const char *config_path, struct sg_config *cfg)
{
    char err[1024];
    M.config_path = config_path;
    M.cfg = cfg;
    sg_log_setup(cfg->log.level, cfg->log.json, cfg->log.mask_secrets, "master");
    if (sg_hostkeys_ensure(cfg, err, sizeof(err)) < 0 ||
        sg_master_check_plugins(cfg, err, sizeof(err)) < 0 ||
        sg_listeners_open(cfg, &M.ls, &M.n_ls, err, sizeof(err)) < 0) {
        SG_ERR(0, "%s", err);
        return 1;
    }
    M.adm = sg_admission_create();
    if (!M.adm) {
        SG_ERR(0, "cannot create the shared admission table");
        return 1;
    }
    if (cfg->control_socket && *cfg->control_socket)
        M.ctl_listen_fd = open_control(cfg->control_socket);
    if (drop_privileges(cfg->user) < 0)
        return 1;
    if (geteuid() == 0)
        SG_INFO(0, "running as root (no \"user\" in the config): shell and exec commands "
                   "run as root unless the shell plugin's run_as says otherwise, and SFTP "
                   "files are written as root; set \"user\" to run as a service account");
    if (cfg->pid_file && *cfg->pid_file) {
        FILE *f = fopen(cfg->pid_file, "w");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    for (size_t i = 0; i < M.n_ls; i++)
        SG_INFO(0, "listening on [%s]:%d", M.ls[i].address, M.ls[i].port);
    if (spawn_generation() < 0) {
        shutdown_all();
        return 1;
    }
    SG_INFO(0, "sshgated %s started: %d workers", SG_VERSION_STRING, nworkers(cfg));
    struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = M.ctl_listen_fd, .events = POLLIN}};
    while (!M.shutting_down) {
        if (poll(pf, M.ctl_listen_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            break;
        if (pf[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    reap();
                else if (si.ssi_signo == SIGHUP)
                    reload();
                else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    M.shutting_down = true;
                struct pollfd p = {.fd = sfd, .events = POLLIN};
                if (poll(&p, 1, 0) <= 0)
                    break;
            }
        }
        if (M.ctl_listen_fd >= 0 && (pf[1].revents & POLLIN)) {
            int c = accept4(M.ctl_listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                serve_status(c);
                close(c);
            }
        }
    }
    shutdown_all();
    if (M.ctl_listen_fd >= 0) {
        close(M.ctl_listen_fd);
        unlink(M.cfg->control_socket);
    }
    if (M.cfg->pid_file && *M.cfg->pid_file)
        unlink(M.cfg->pid_file);
    sg_listeners_close(M.ls, M.n_ls);
    sg_admission_destroy(M.adm);
    close(sfd);
    SG_INFO(0, "stopped");
    return M.exit_code;
}
