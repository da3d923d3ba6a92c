/* test_shell_proc.c — spawning with pipes and with a pty, the child's
 * environment, fd hygiene, signals and pidfd reaping
 * (plugins/shell/shell_proc.c). Runs real /bin/sh children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "shell_proc.h"

struct result {
    char out[8192];
    size_t out_len;
    char err[4096];
    size_t err_len;
    struct sp_status st;
};

static void drain(int fd, char *buf, size_t cap, size_t *len, bool *open_)
{
    ssize_t n = read(fd, buf + *len, cap - 1 - *len);
    if (n > 0) {
        *len += (size_t)n;
        buf[*len] = '\0';
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        *open_ = false; /* EOF, or EIO from a pty master */
    }
}

/* Run until stdout/stderr end and the child is reaped (10 s cap). */
static void run(struct sp_spawn_spec *spec, const char *input, struct result *r)
{
    struct sp_child c;
    char err[256];
    memset(r, 0, sizeof(*r));
    assert_int_equal(sp_spawn(spec, &c, err, sizeof(err)), 0);
    assert_true(c.pid > 0 && c.pidfd > 2 && c.in_fd > 2 && c.out_fd > 2);
    assert_true(fcntl(c.out_fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(c.out_fd, F_GETFD) & FD_CLOEXEC);
    if (input) {
        assert_int_equal(write(c.in_fd, input, strlen(input)), (ssize_t)strlen(input));
    }
    if (!spec->use_pty) {
        close(c.in_fd);
        c.in_fd = -1;
    }
    bool out_open = true, err_open = c.err_fd >= 0, reaped = false;
    for (int i = 0; i < 1000 && (out_open || err_open || !reaped); i++) {
        struct pollfd p[3] = {{c.out_fd, POLLIN, 0}, {c.err_fd, POLLIN, 0}, {c.pidfd, POLLIN, 0}};
        p[0].fd = out_open ? c.out_fd : -1;
        p[1].fd = err_open ? c.err_fd : -1;
        p[2].fd = reaped ? -1 : c.pidfd;
        poll(p, 3, 10);
        if (out_open && p[0].revents)
            drain(c.out_fd, r->out, sizeof(r->out), &r->out_len, &out_open);
        if (err_open && p[1].revents)
            drain(c.err_fd, r->err, sizeof(r->err), &r->err_len, &err_open);
        if (!reaped && p[2].revents) {
            int rr = sp_reap(c.pidfd, &r->st);
            assert_true(rr >= 0);
            reaped = rr == 1;
            if (reaped && spec->use_pty) {
                /* pty: read what is left, then stop */
                drain(c.out_fd, r->out, sizeof(r->out), &r->out_len, &out_open);
                out_open = false;
            }
        }
    }
    assert_true(reaped);
    sp_child_close_fds(&c);
    close(c.pidfd);
}

static char *sh_argv[4] = {"sh", "-c", NULL, NULL};
static char *base_env[] = {"PATH=/usr/bin:/bin", "HOME=/", NULL};

static void spec_sh(struct sp_spawn_spec *s, const char *script)
{
    memset(s, 0, sizeof(*s));
    sh_argv[2] = (char *)script;
    s->file = "/bin/sh";
    s->argv = sh_argv;
    s->envp = base_env;
}

static void test_pipes_exit_status(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "echo x; echo y >&2; exit 3");
    run(&s, NULL, &r);
    assert_string_equal(r.out, "x\n");
    assert_string_equal(r.err, "y\n");
    assert_true(r.st.exited);
    assert_int_equal(r.st.code, 3);
}

static void test_pipes_stdin(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "tr a-z A-Z");
    run(&s, "hello\n", &r);
    assert_string_equal(r.out, "HELLO\n");
    assert_int_equal(r.st.code, 0);
}

static void test_killed_by_signal(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "kill -TERM $$; sleep 5");
    run(&s, NULL, &r);
    assert_false(r.st.exited);
    assert_int_equal(r.st.signo, SIGTERM);
    assert_string_equal(sp_signal_name(r.st.signo), "TERM");
}

static void test_signal_dispositions_reset(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    /* the parent ignores and blocks signals; the child must not inherit it */
    signal(SIGINT, SIG_IGN);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    spec_sh(&s, "grep -E '^(SigIgn|SigBlk)' /proc/self/status");
    run(&s, NULL, &r);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGINT, SIG_DFL);
    assert_non_null(strstr(r.out, "SigBlk:\t0000000000000000"));
    assert_non_null(strstr(r.out, "SigIgn:\t0000000000000000"));
}

static void test_fds_closed(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    /* leak-candidates: fds without CLOEXEC in the parent */
    int leak1 = open("/dev/null", O_RDONLY);
    int leak2 = dup(leak1);
    assert_true(leak1 > 2 && leak2 > 2);
    memset(&s, 0, sizeof(s));
    char *argv[] = {"ls", "/proc/self/fd", NULL};
    s.file = "ls"; /* searched in search_path */
    s.search_path = "/nonexistent:/usr/bin:/bin";
    s.argv = argv;
    s.envp = base_env;
    run(&s, NULL, &r);
    close(leak1);
    close(leak2);
    /* 0 1 2 and ls's own directory fd (3) */
    assert_string_equal(r.out, "0\n1\n2\n3\n");
    assert_int_equal(r.st.code, 0);
}

static void test_pty(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo TTY; stty size; "
                "ps -o sid=,pgid=,tty= -p $$ >/dev/null; exit 4");
    s.use_pty = true;
    s.cols = 123;
    s.rows = 45;
    run(&s, NULL, &r);
    assert_non_null(strstr(r.out, "TTY"));
    assert_non_null(strstr(r.out, "45 123"));
    assert_int_equal(r.st.code, 4);
}

static void test_pty_modes_and_eof(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    /* modes: VEOF = 0x01 (^A), ECHO off */
    const uint8_t modes[] = {5, 0, 0, 0, 1, 53, 0, 0, 0, 0, 0};
    spec_sh(&s, "stty -a | tr ' ;' '\\n\\n' | grep -x -F -e -echo -e '^A'; cat; echo done");
    s.use_pty = true;
    s.pty_modes = modes;
    s.pty_modes_len = sizeof(modes);
    run(&s, "abc\n\001", &r);
    assert_non_null(strstr(r.out, "^A"));
    assert_non_null(strstr(r.out, "-echo"));
    assert_non_null(strstr(r.out, "abc"));
    assert_non_null(strstr(r.out, "done"));
}

static void test_pty_modes_apply(void **st)
{
    (void)st;
    int m, sl;
    struct termios t;
    assert_int_equal(openpty(&m, &sl, NULL, NULL, NULL), 0);
    const uint8_t modes[] = {3,   0, 0, 0, 8, /* VERASE ^H */
                             36,  0, 0, 0, 0, /* ICRNL off */
                             91,  0, 0, 0, 1, /* CS8 */
                             200, 0, 0, 0, 0, /* undefined opcode: stop */
                             53,  0, 0, 0, 0};
    assert_int_equal(sp_pty_modes_apply(sl, modes, sizeof(modes)), 3);
    assert_int_equal(tcgetattr(sl, &t), 0);
    assert_int_equal(t.c_cc[VERASE], 8);
    assert_int_equal(t.c_iflag & ICRNL, 0);
    assert_true(t.c_lflag & ECHO);
    /* truncated argument: stops without reading past the end */
    const uint8_t shortm[] = {53, 0, 0};
    assert_int_equal(sp_pty_modes_apply(sl, shortm, sizeof(shortm)), 0);
    close(m);
    close(sl);
}

static void test_env(void **st)
{
    (void)st;
    struct sp_env e = {0};
    assert_int_equal(sp_env_set(&e, "PATH", "/bin"), 0);
    assert_int_equal(sp_env_set(&e, "LANG", "C"), 0);
    assert_int_equal(sp_env_set(&e, "PATH", "/usr/bin"), 0);
    assert_int_equal(e.n, 2);
    assert_string_equal(sp_env_get(&e, "PATH"), "/usr/bin");
    assert_null(sp_env_get(&e, "PAT"));
    assert_int_equal(sp_env_set(&e, "BAD=NAME", "x"), -1);
    assert_int_equal(sp_env_set(&e, "1X", "x"), -1);
    assert_int_equal(sp_env_set(&e, "", "x"), -1);
    assert_null(e.v[e.n]);

    const char *const allow[] = {"LANG", "LC_*", "TZ", "TERM"};
    assert_true(sp_env_allowed(allow, 4, "LANG"));
    assert_true(sp_env_allowed(allow, 4, "LC_ALL"));
    assert_true(sp_env_allowed(allow, 4, "LC_"));
    assert_false(sp_env_allowed(allow, 4, "LANGUAGE"));
    assert_false(sp_env_allowed(allow, 4, "LD_PRELOAD"));
    assert_false(sp_env_allowed(allow, 4, "EVIL"));
    assert_false(sp_env_allowed(allow, 0, "LANG"));
    assert_true(sp_env_name_valid("_A1"));
    assert_false(sp_env_name_valid("A-B"));

    /* the child sees exactly this environment */
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "env | sort");
    s.envp = e.v;
    run(&s, NULL, &r);
    assert_non_null(strstr(r.out, "LANG=C\n"));
    assert_non_null(strstr(r.out, "PATH=/usr/bin\n"));
    assert_null(strstr(r.out, "HOME="));
    sp_env_free(&e);
}

static void test_workdir_and_errors(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct result r;
    spec_sh(&s, "pwd");
    s.workdir = "/tmp";
    run(&s, NULL, &r);
    assert_string_equal(r.out, "/tmp\n");

    spec_sh(&s, "pwd");
    s.workdir = "/nonexistent-sshgate-dir";
    run(&s, NULL, &r);
    assert_int_equal(r.st.code, 126);
    assert_non_null(strstr(r.err, "cannot enter working directory /nonexistent-sshgate-dir"));

    char *argv[] = {"nope", NULL};
    memset(&s, 0, sizeof(s));
    s.file = "sshgate-no-such-program";
    s.argv = argv;
    s.envp = base_env;
    run(&s, NULL, &r);
    assert_int_equal(r.st.code, 127);
    assert_non_null(strstr(r.err, "cannot execute sshgate-no-such-program"));
}

static void test_process_group(void **st)
{
    (void)st;
    struct sp_spawn_spec s;
    struct sp_child c;
    struct sp_status ss;
    char err[128];
    /* a grandchild in the background: killing the group reaches it */
    spec_sh(&s, "sleep 30 & echo $!; wait");
    assert_int_equal(sp_spawn(&s, &c, err, sizeof(err)), 0);
    char buf[64] = {0};
    struct pollfd p = {c.out_fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_true(read(c.out_fd, buf, sizeof(buf) - 1) > 0);
    pid_t gc = (pid_t)atoi(buf);
    assert_true(gc > 0);
    assert_int_equal(getpgid(c.pid), c.pid); /* own session and group */
    assert_int_equal(sp_reap(c.pidfd, &ss), 0);
    assert_int_equal(sp_kill_group(c.pid, SIGHUP), 0);
    p.fd = c.pidfd;
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(sp_reap(c.pidfd, &ss), 1);
    assert_int_equal(ss.signo, SIGHUP);
    for (int i = 0; i < 100 && kill(gc, 0) == 0; i++)
        usleep(20000); /* the grandchild is reparented and reaped by init */
    assert_int_not_equal(kill(gc, 0), 0);
    sp_child_close_fds(&c);
    close(c.pidfd);
}

static void test_signal_names(void **st)
{
    (void)st;
    assert_int_equal(sp_signal_number("TERM"), SIGTERM);
    assert_int_equal(sp_signal_number("SIGINT"), SIGINT);
    assert_int_equal(sp_signal_number("KILL"), SIGKILL);
    assert_int_equal(sp_signal_number("HUP"), SIGHUP);
    assert_int_equal(sp_signal_number("NOPE"), 0);
    assert_int_equal(sp_signal_number(NULL), 0);
    assert_string_equal(sp_signal_name(SIGSEGV), "SEGV");
    assert_string_equal(sp_signal_name(SIGWINCH), "SIG@openssh.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipes_exit_status),
        cmocka_unit_test(test_pipes_stdin),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_signal_dispositions_reset),
        cmocka_unit_test(test_fds_closed),
        cmocka_unit_test(test_pty),
        cmocka_unit_test(test_pty_modes_and_eof),
        cmocka_unit_test(test_pty_modes_apply),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_workdir_and_errors),
        cmocka_unit_test(test_process_group),
        cmocka_unit_test(test_signal_names),
    };
    return cmocka_run_group_tests_name("shell_proc", tests, NULL, NULL);
}
