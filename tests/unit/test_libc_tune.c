/* Unit tests of core/libc_tune.c: the GLIBC_TUNABLES value sshgated
 * re-executes with, and the re-exec itself (this test binary runs
 * sg_libc_tune in a child, as sshgated's main does). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "libc_tune.h"

static void test_value_when_unset(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(sg_libc_tunables_for(NULL, out, sizeof(out)), 1);
    assert_string_equal(out, SG_TUNABLE_MOVSB);
    assert_int_equal(sg_libc_tunables_for("", out, sizeof(out)), 1);
    assert_string_equal(out, SG_TUNABLE_MOVSB);
}

static void test_value_keeps_other_tunables(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(sg_libc_tunables_for("glibc.malloc.arena_max=2", out, sizeof(out)), 1);
    assert_string_equal(out, "glibc.malloc.arena_max=2:" SG_TUNABLE_MOVSB);
}

static void test_operator_choice_stands(void **state)
{
    (void)state;
    char out[256] = "untouched";
    assert_int_equal(
        sg_libc_tunables_for("glibc.cpu.x86_rep_movsb_threshold=0x840", out, sizeof(out)), 0);
    assert_string_equal(out, "untouched");
}

static void test_value_too_long(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(sg_libc_tunables_for("glibc.malloc.arena_max=2", out, sizeof(out)), -1);
}

/* ---- the re-exec, in a child ---------------------------------------------- */

static char self_path[4096];

/* In the child: what sshgated's main does first, then a report line:
 * "<pid at start> <pid now> <re-executed by sg_libc_tune> <GLIBC_TUNABLES or -> <markers left>" */
static int child_main(char **argv)
{
    const char *pid_env = getenv("TUNE_TEST_PID");
    char pidbuf[32];
    if (!pid_env) { /* first image: remember the pid across the exec */
        snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
        setenv("TUNE_TEST_PID", pidbuf, 1);
        pid_env = pidbuf;
    }
    sg_libc_tune(argv);
    char env[65536];
    int fd = open("/proc/self/environ", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, env, sizeof(env) - 1) : -1;
    if (fd >= 0)
        close(fd);
    int seen = 0;
    for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(env + i) + 1) {
        env[n] = '\0';
        /* the exec-time environment carried the marker: this image was
         * started by sg_libc_tune with the tunable (glibc 2.36 cuts its copy
         * of GLIBC_TUNABLES at the first ':' while parsing, so the value
         * itself cannot be read back here; sg_libc_tunables_for is tested
         * above) */
        if (strcmp(env + i, SG_TUNE_DONE_ENV "=1") == 0)
            seen = 1;
    }
    const char *t = getenv("GLIBC_TUNABLES");
    printf("%s %ld %d %s %d\n", pid_env, (long)getpid(), seen, t ? t : "-",
           getenv(SG_TUNE_DONE_ENV) != NULL || getenv(SG_TUNE_SAVED_ENV) != NULL);
    return 0;
}

static void run_child(const char *tunables, char *line, size_t n)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (tunables)
            setenv("GLIBC_TUNABLES", tunables, 1);
        else
            unsetenv("GLIBC_TUNABLES");
        unsetenv("TUNE_TEST_PID");
        char *args[] = {self_path, (char *)"--tune-child", NULL};
        execv(self_path, args);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t r;
    while (got < n - 1 && (r = read(p[0], line + got, n - 1 - got)) > 0)
        got += (size_t)r;
    line[got] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#if defined(__x86_64__) && defined(__GLIBC__)
#define TUNED_HERE 1
#else
#define TUNED_HERE 0
#endif

/* Runs the child with GLIBC_TUNABLES = tunables (NULL: unset) and checks
 * its report: same pid across the exec, re-executed or not as expected,
 * GLIBC_TUNABLES as the child was given it ("-": unset), no markers left. */
static void expect_child(const char *tunables, int reexec)
{
    char line[512], tun[256];
    long pid0, pid1;
    int seen, markers;
    run_child(tunables, line, sizeof(line));
    assert_int_equal(sscanf(line, "%ld %ld %d %255s %d", &pid0, &pid1, &seen, tun, &markers), 5);
    assert_int_equal(pid0, pid1); /* exec: same process */
    assert_int_equal(seen, reexec);
    assert_string_equal(tun, tunables ? tunables : "-");
    assert_int_equal(markers, 0);
}

static void test_reexec_sets_then_restores_unset(void **state)
{
    (void)state;
    expect_child(NULL, TUNED_HERE);
}

static void test_reexec_restores_operator_value(void **state)
{
    (void)state;
    expect_child("glibc.malloc.arena_max=2", TUNED_HERE);
}

static void test_no_reexec_when_operator_set_threshold(void **state)
{
    (void)state;
    expect_child("glibc.cpu.x86_rep_movsb_threshold=0x840", 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--tune-child") == 0)
        return child_main(argv);
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (len <= 0)
        return 1;
    self_path[len] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_when_unset),
        cmocka_unit_test(test_value_keeps_other_tunables),
        cmocka_unit_test(test_operator_choice_stands),
        cmocka_unit_test(test_value_too_long),
        cmocka_unit_test(test_reexec_sets_then_restores_unset),
        cmocka_unit_test(test_reexec_restores_operator_value),
        cmocka_unit_test(test_no_reexec_when_operator_set_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
