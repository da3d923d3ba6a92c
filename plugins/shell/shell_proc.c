/* shell_proc.c — spawn, environment, terminal modes, signals, reaping.
 * See shell_proc.h. Everything the child does between fork and exec is
 * async-signal-safe: all memory is prepared by the parent. */
#include "shell_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* ================================================================ env */

bool sp_env_name_valid(const char *name)
{
    size_t i = 0;
    if (!name || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
                   name[0] == '_'))
        return false;
    for (i = 1; name[i]; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
        if (i >= 255)
            return false;
    }
    return true;
}

bool sp_env_allowed(const char *const *allow, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (allow[i] && fnmatch(allow[i], name, 0) == 0)
            return true;
    return false;
}

static ssize_t sp_env_find(const struct sp_env *e, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=')
            return (ssize_t)i;
    return -1;
}

int sp_env_set(struct sp_env *e, const char *name, const char *value)
{
    if (!sp_env_name_valid(name) || !value)
        return -1;
    size_t nl = strlen(name), vl = strlen(value);
    char *s = malloc(nl + vl + 2);
    if (!s)
        return -1;
    memcpy(s, name, nl);
    s[nl] = '=';
    memcpy(s + nl + 1, value, vl + 1);
    ssize_t at = sp_env_find(e, name);
    if (at >= 0) {
        free(e->v[at]);
        e->v[at] = s;
        return 0;
    }
    if (e->n + 2 > e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 16;
        char **nv = realloc(e->v, ncap * sizeof(*nv));
        if (!nv) {
            free(s);
            return -1;
        }
        e->v = nv;
        e->cap = ncap;
    }
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

const char *sp_env_get(const struct sp_env *e, const char *name)
{
    ssize_t at = sp_env_find(e, name);
    return at >= 0 ? e->v[at] + strlen(name) + 1 : NULL;
}

void sp_env_free(struct sp_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    memset(e, 0, sizeof(*e));
}

/* ================================================================ signals */

static const struct {
    const char *name;
    int signo;
    bool rfc; /* an RFC 4254 exit-signal name */
} sp_signals[] = {
    {"ABRT", SIGABRT, true},  {"ALRM", SIGALRM, true},    {"FPE", SIGFPE, true},
    {"HUP", SIGHUP, true},    {"ILL", SIGILL, true},      {"INT", SIGINT, true},
    {"KILL", SIGKILL, true},  {"PIPE", SIGPIPE, true},    {"QUIT", SIGQUIT, true},
    {"SEGV", SIGSEGV, true},  {"TERM", SIGTERM, true},    {"USR1", SIGUSR1, true},
    {"USR2", SIGUSR2, true},  {"CONT", SIGCONT, false},   {"STOP", SIGSTOP, false},
    {"TSTP", SIGTSTP, false}, {"WINCH", SIGWINCH, false}, {"BUS", SIGBUS, false},
    {"TRAP", SIGTRAP, false}, {"SYS", SIGSYS, false},
};

int sp_signal_number(const char *name)
{
    if (!name)
        return 0;
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof(sp_signals) / sizeof(sp_signals[0]); i++)
        if (strcmp(sp_signals[i].name, name) == 0)
            return sp_signals[i].signo;
    return 0;
}

const char *sp_signal_name(int signo)
{
    for (size_t i = 0; i < sizeof(sp_signals) / sizeof(sp_signals[0]); i++)
        if (sp_signals[i].signo == signo && sp_signals[i].rfc)
            return sp_signals[i].name;
    return "SIG@openssh.com";
}

/* ================================================================ pty modes */

enum sp_mode_kind { SPM_CC, SPM_I, SPM_L, SPM_O, SPM_C, SPM_CSIZE, SPM_ISPEED, SPM_OSPEED };

static const struct {
    uint8_t op;
    uint8_t kind;
    tcflag_t flag; /* flag bit, cc index, or CSIZE value */
} sp_modes[] = {
    {1, SPM_CC, VINTR},   {2, SPM_CC, VQUIT},     {3, SPM_CC, VERASE},    {4, SPM_CC, VKILL},
    {5, SPM_CC, VEOF},    {6, SPM_CC, VEOL},      {7, SPM_CC, VEOL2},     {8, SPM_CC, VSTART},
    {9, SPM_CC, VSTOP},   {10, SPM_CC, VSUSP},    {12, SPM_CC, VREPRINT}, {13, SPM_CC, VWERASE},
    {14, SPM_CC, VLNEXT}, {18, SPM_CC, VDISCARD}, {30, SPM_I, IGNPAR},    {31, SPM_I, PARMRK},
    {32, SPM_I, INPCK},   {33, SPM_I, ISTRIP},    {34, SPM_I, INLCR},     {35, SPM_I, IGNCR},
    {36, SPM_I, ICRNL},   {37, SPM_I, IUCLC},     {38, SPM_I, IXON},      {39, SPM_I, IXANY},
    {40, SPM_I, IXOFF},   {41, SPM_I, IMAXBEL},   {42, SPM_I, IUTF8},     {50, SPM_L, ISIG},
    {51, SPM_L, ICANON},  {52, SPM_L, XCASE},     {53, SPM_L, ECHO},      {54, SPM_L, ECHOE},
    {55, SPM_L, ECHOK},   {56, SPM_L, ECHONL},    {57, SPM_L, NOFLSH},    {58, SPM_L, TOSTOP},
    {59, SPM_L, IEXTEN},  {60, SPM_L, ECHOCTL},   {61, SPM_L, ECHOKE},    {62, SPM_L, PENDIN},
    {70, SPM_O, OPOST},   {71, SPM_O, OLCUC},     {72, SPM_O, ONLCR},     {73, SPM_O, OCRNL},
    {74, SPM_O, ONOCR},   {75, SPM_O, ONLRET},    {90, SPM_CSIZE, CS7},   {91, SPM_CSIZE, CS8},
    {92, SPM_C, PARENB},  {93, SPM_C, PARODD},    {128, SPM_ISPEED, 0},   {129, SPM_OSPEED, 0},
};

static speed_t sp_baud(uint32_t v)
{
    static const struct {
        uint32_t rate;
        speed_t code;
    } rates[] = {{9600, B9600},     {19200, B19200},   {38400, B38400},   {57600, B57600},
                 {115200, B115200}, {230400, B230400}, {460800, B460800}, {921600, B921600}};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
        if (rates[i].rate == v)
            return rates[i].code;
    return B38400;
}

static void sp_mode_set(struct termios *t, uint8_t kind, tcflag_t flag, uint32_t v)
{
    tcflag_t *f = NULL;
    switch (kind) {
    case SPM_CC:
        t->c_cc[flag] = (cc_t)(v == 255 ? _POSIX_VDISABLE : v);
        return;
    case SPM_I:
        f = &t->c_iflag;
        break;
    case SPM_L:
        f = &t->c_lflag;
        break;
    case SPM_O:
        f = &t->c_oflag;
        break;
    case SPM_C:
        f = &t->c_cflag;
        break;
    case SPM_CSIZE:
        if (v)
            t->c_cflag = (t->c_cflag & ~(tcflag_t)CSIZE) | flag;
        return;
    case SPM_ISPEED:
        cfsetispeed(t, sp_baud(v));
        return;
    case SPM_OSPEED:
        cfsetospeed(t, sp_baud(v));
        return;
    default:
        return;
    }
    if (v)
        *f |= flag;
    else
        *f &= ~flag;
}

int sp_pty_modes_apply(int fd, const uint8_t *modes, size_t len)
{
    struct termios t;
    int applied = 0;
    if (!modes || len == 0)
        return 0;
    if (tcgetattr(fd, &t) < 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        uint8_t op = modes[i++];
        if (op == 0 || op >= 160)
            break;
        if (len - i < 4)
            break;
        uint32_t v = ((uint32_t)modes[i] << 24) | ((uint32_t)modes[i + 1] << 16) |
                     ((uint32_t)modes[i + 2] << 8) | modes[i + 3];
        i += 4;
        for (size_t k = 0; k < sizeof(sp_modes) / sizeof(sp_modes[0]); k++) {
            if (sp_modes[k].op == op) {
                sp_mode_set(&t, sp_modes[k].kind, sp_modes[k].flag, v);
                applied++;
                break;
            }
        }
    }
    if (applied && tcsetattr(fd, TCSANOW, &t) < 0)
        return -1;
    return applied;
}

/* ================================================================ spawn */

/* --- child side ---
 * The child is started with clone(CLONE_VM | CLONE_VFORK): it runs on its
 * own small stack in the parent's memory while the parent is suspended until
 * it execs or exits. So the worker never runs while a copy of its fds
 * exists in a child (a fork()ed child would hold every socket and epoll-
 * registered fd of the worker until it reached close_range), and nothing is
 * copied. Rules for this code: only syscalls and pure functions, no malloc,
 * no stdio, no glibc wrappers with process-wide side effects (the set*id
 * wrappers would broadcast to the parent's threads: raw syscalls are used),
 * no writes to the parent's memory. Not instrumented by ASan (its stack is
 * not a stack ASan knows). */
#define SP_CHILD __attribute__((no_sanitize_address, noinline))
#define SP_CHILD_STACK (256 * 1024)

SP_CHILD static void sp_put(char *buf, size_t cap, size_t *n, const char *s)
{
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
    buf[*n] = '\0';
}

SP_CHILD static void sp_child_fail(const char *what, const char *arg, int err, int code)
{
    char msg[768];
    size_t n = 0;
    const char *desc = strerrordesc_np(err);
    sp_put(msg, sizeof(msg), &n, "sshgate: ");
    sp_put(msg, sizeof(msg), &n, what);
    if (arg) {
        sp_put(msg, sizeof(msg), &n, " ");
        sp_put(msg, sizeof(msg), &n, arg);
    }
    sp_put(msg, sizeof(msg), &n, ": ");
    sp_put(msg, sizeof(msg), &n, desc ? desc : "error");
    sp_put(msg, sizeof(msg), &n, "\r\n");
    ssize_t w = write(STDERR_FILENO, msg, n);
    (void)w;
    _exit(code);
}

SP_CHILD static void sp_child_exec(const struct sp_spawn_spec *s)
{
    if (strchr(s->file, '/')) {
        execve(s->file, s->argv, s->envp);
        sp_child_fail("cannot execute", s->file, errno, errno == ENOENT ? 127 : 126);
    }
    const char *p = s->search_path ? s->search_path : "/usr/bin:/bin";
    int saved = ENOENT;
    char path[4096];
    size_t fl = strlen(s->file);
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl == 0) { /* empty entry: current directory, as execvp does */
            path[0] = '.';
            dl = 1;
        } else if (dl < sizeof(path)) {
            memcpy(path, p, dl);
        }
        if (dl + 1 + fl + 1 <= sizeof(path)) {
            path[dl] = '/';
            memcpy(path + dl + 1, s->file, fl + 1);
            execve(path, s->argv, s->envp);
            if (errno != ENOENT && errno != ENOTDIR)
                saved = errno;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    sp_child_fail("cannot execute", s->file, saved, saved == ENOENT ? 127 : 126);
}

SP_CHILD static void sp_child_setup_fd(int from, int to)
{
    if (from == to) {
        int fl = fcntl(to, F_GETFD);
        if (fl >= 0)
            fcntl(to, F_SETFD, fl & ~FD_CLOEXEC);
    } else if (dup2(from, to) < 0) {
        _exit(126);
    }
}

SP_CHILD static void sp_child(const struct sp_spawn_spec *s, int in_r, int out_w, int err_w,
                              int slave)
{
    /* Dispositions: SIG_IGN survives exec, so reset everything; unblock all. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (setsid() < 0)
        _exit(126);
    if (slave >= 0) {
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            _exit(126);
        sp_child_setup_fd(slave, 0);
        sp_child_setup_fd(slave, 1);
        sp_child_setup_fd(slave, 2);
    } else {
        sp_child_setup_fd(in_r, 0);
        sp_child_setup_fd(out_w, 1);
        sp_child_setup_fd(err_w, 2);
    }
    if (s->set_ids) {
        if (syscall(SYS_setgroups, s->ngroups, s->groups) < 0)
            sp_child_fail("setgroups", NULL, errno, 126);
        if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
            sp_child_fail("setgid", NULL, errno, 126);
        if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
            sp_child_fail("setuid", NULL, errno, 126);
        if (s->uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0)
            sp_child_fail("setuid", "(could regain root)", EPERM, 126);
    }
    if (s->workdir && chdir(s->workdir) < 0)
        sp_child_fail("cannot enter working directory", s->workdir, errno, 126);
    close_range(3, ~0U, 0);
    sp_child_exec(s);
}

struct sp_child_args {
    const struct sp_spawn_spec *spec;
    int in_r, out_w, err_w, slave;
};

SP_CHILD static int sp_child_main(void *arg)
{
    struct sp_child_args *a = arg;
    sp_child(a->spec, a->in_r, a->out_w, a->err_w, a->slave); /* never returns */
    return 127;
}

/* --- parent side --- */

/* Start the child (see "child side" above). Returns its pid or -errno. */
static pid_t sp_clone(struct sp_child_args *args)
{
    pid_t pid;
    void *stack = mmap(NULL, SP_CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    /* no signal handler of the worker may run in the child before it reset
     * them: block everything around the clone (the child unblocks) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = clone(sp_child_main, (char *)stack + SP_CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD,
                args);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, SP_CHILD_STACK);
    return pid < 0 ? -saved : pid;
}

/* Move fd above 2 (so dup2 in the child never clobbers), keep CLOEXEC. */
static int sp_high_fd(int fd)
{
    if (fd > 2)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static int sp_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void sp_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void sp_child_close_fds(struct sp_child *c)
{
    sp_close(&c->in_fd);
    sp_close(&c->out_fd);
    sp_close(&c->err_fd);
}

int sp_spawn(const struct sp_spawn_spec *s, struct sp_child *c, char *err, size_t errlen)
{
    int rc = 0;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int master = -1, slave = -1;
    char **envp_tty = NULL; /* envp + SSH_TTY, as OpenSSH sets it */
    char tty_var[64];
    struct sp_spawn_spec with_tty;
    c->pid = -1;
    c->pidfd = c->in_fd = c->out_fd = c->err_fd = -1;

    if (s->use_pty) {
        struct winsize ws = {.ws_row = s->rows ? s->rows : 24,
                             .ws_col = s->cols ? s->cols : 80,
                             .ws_xpixel = s->width_px,
                             .ws_ypixel = s->height_px};
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
            rc = -errno;
            snprintf(err, errlen, "openpty: %s", strerror(errno));
            goto out;
        }
        if (fcntl(master, F_SETFD, FD_CLOEXEC) < 0 || fcntl(slave, F_SETFD, FD_CLOEXEC) < 0 ||
            (master = sp_high_fd(master)) < 0 || (slave = sp_high_fd(slave)) < 0) {
            rc = -errno;
            snprintf(err, errlen, "pty fds: %s", strerror(errno));
            goto out;
        }
        if (sp_pty_modes_apply(slave, s->pty_modes, s->pty_modes_len) < 0) {
            /* not fatal: the terminal keeps its defaults */
        }
        char name[40];
        if (ptsname_r(master, name, sizeof(name)) == 0) {
            size_t n = 0;
            while (s->envp && s->envp[n])
                n++;
            if ((envp_tty = malloc((n + 2) * sizeof(*envp_tty)))) {
                snprintf(tty_var, sizeof(tty_var), "SSH_TTY=%s", name);
                for (size_t i = 0; i < n; i++)
                    envp_tty[i] = s->envp[i];
                envp_tty[n] = tty_var;
                envp_tty[n + 1] = NULL;
                with_tty = *s;
                with_tty.envp = envp_tty;
                s = &with_tty; /* read by the child before exec; the parent waits */
            }
        }
    } else {
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
            rc = -errno;
            snprintf(err, errlen, "pipe: %s", strerror(errno));
            goto out;
        }
        for (int i = 0; i < 2; i++) {
            if ((in[i] = sp_high_fd(in[i])) < 0 || (out[i] = sp_high_fd(out[i])) < 0 ||
                (errp[i] = sp_high_fd(errp[i])) < 0) {
                rc = -errno;
                snprintf(err, errlen, "pipe fds: %s", strerror(errno));
                goto out;
            }
        }
    }

    struct sp_child_args args = {s, in[0], out[1], errp[1], slave};
    pid_t pid = sp_clone(&args);
    if (pid < 0) {
        rc = (int)pid;
        snprintf(err, errlen, "clone: %s", strerror((int)-pid));
        goto out;
    }

    c->pid = pid;
    c->pidfd = pidfd_open(pid, 0);
    if (c->pidfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "pidfd_open: %s", strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0); /* just forked and killed: returns at once */
        c->pid = -1;
        goto out;
    }
    fcntl(c->pidfd, F_SETFD, FD_CLOEXEC);
    if (s->use_pty) {
        c->out_fd = master;
        master = -1;
        c->in_fd = fcntl(c->out_fd, F_DUPFD_CLOEXEC, 3);
    } else {
        c->in_fd = in[1];
        c->out_fd = out[0];
        c->err_fd = errp[0];
        in[1] = out[0] = errp[0] = -1;
    }
    if (c->in_fd < 0 || sp_nonblock(c->in_fd) < 0 || sp_nonblock(c->out_fd) < 0 ||
        (c->err_fd >= 0 && sp_nonblock(c->err_fd) < 0)) {
        rc = -errno;
        snprintf(err, errlen, "child fds: %s", strerror(errno));
        kill(pid, SIGKILL); /* just forked: the wait returns at once */
        waitpid(pid, NULL, 0);
        close(c->pidfd);
        sp_child_close_fds(c);
        c->pidfd = -1;
        c->pid = -1;
    }
out:
    for (int i = 0; i < 2; i++) {
        sp_close(&in[i]);
        sp_close(&out[i]);
        sp_close(&errp[i]);
    }
    sp_close(&master);
    sp_close(&slave);
    free(envp_tty);
    return rc;
}

int sp_reap(int pidfd, struct sp_status *st)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
        return -errno;
    if (si.si_pid == 0)
        return 0;
    memset(st, 0, sizeof(*st));
    switch (si.si_code) {
    case CLD_EXITED:
        st->exited = true;
        st->code = si.si_status;
        break;
    case CLD_DUMPED:
        st->core_dumped = true;
        /* fall through */
    default:
        st->signo = si.si_status;
        break;
    }
    return 1;
}

int sp_kill_group(pid_t pid, int sig)
{
    if (pid <= 0)
        return -1;
    if (kill(-pid, sig) == 0)
        return 0;
    return kill(pid, sig);
}
