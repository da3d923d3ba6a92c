/* Unit tests: sftp path normalisation and confined resolution
 * (plugins/sftp/sftp_path.c), against a scratch tree in /tmp:
 *
 *   T/u1/                 the user root
 *   T/u1/file             "inside"
 *   T/u1/dir/sub/deep     "deep"
 *   T/u1/evil -> T/outside           admin-placed absolute link out
 *   T/u1/evil_rel -> ../outside      relative link out
 *   T/u1/passwd -> /etc/passwd
 *   T/u1/sib -> ../u10               sibling with a common prefix
 *   T/u1/a -> b, b -> c, c -> file   chain inside
 *   T/u1/x -> y, y -> evil           chain ending outside
 *   T/u1/loop1 <-> loop2
 *   T/u1/d2 -> dir                   link to a dir inside
 *   T/u10/secret, T/outside/secret   must never be reachable
 */
/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp_path.h"

static char T[256];

static void put(const char *rel, const char *content)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", T, rel);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void mk(const char *rel)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", T, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void ln(const char *target, const char *rel)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", T, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
    char outside[300];

    (void)state;
    snprintf(T, sizeof(T), "/tmp/sftp-path-test-XXXXXX");
    if (!mkdtemp(T))
        return -1;
    mk("u1");
    mk("u10");
    mk("outside");
    mk("u1/dir");
    mk("u1/dir/sub");
    put("u1/file", "inside");
    put("u1/dir/sub/deep", "deep");
    put("u10/secret", "u10 secret");
    put("outside/secret", "outside secret");
    snprintf(outside, sizeof(outside), "%s/outside", T);
    ln(outside, "u1/evil");
    ln("../outside", "u1/evil_rel");
    ln("/etc/passwd", "u1/passwd");
    ln("../u10", "u1/sib");
    ln("b", "u1/a");
    ln("c", "u1/b");
    ln("file", "u1/c");
    ln("y", "u1/x");
    ln("evil", "u1/y");
    ln("loop2", "u1/loop1");
    ln("loop1", "u1/loop2");
    ln("dir", "u1/d2");
    ln("sub/../../file", "u1/dir/up");
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T);
    return system(cmd) == 0 ? 0 : -1;
}

static void norm_is(const char *in, const char *want)
{
    char out[4097];
    int rc = sftp_path_normalize("", in, false, out, sizeof(out));

    assert_true(rc >= 0);
    assert_string_equal(out, want);
    assert_int_equal(rc, (int)strlen(want));
}

static void test_normalize(void **state)
{
    char out[64];

    (void)state;
    norm_is("", "");
    norm_is(".", "");
    norm_is("/", "");
    norm_is("..", "");
    norm_is("/..//", "");
    norm_is("/../../etc/passwd", "etc/passwd");
    norm_is("a/b/../c", "a/c");
    norm_is("a/./b//c/", "a/b/c");
    norm_is("../u10/secret", "u10/secret");
    norm_is("a/../../..", "");
    norm_is("...", "...");
    norm_is("a/..b", "a/..b");
    norm_is("/tmp/x/u10", "tmp/x/u10");
    /* relative to a base */
    assert_int_equal(sftp_path_normalize("x/y", "../z", false, out, sizeof(out)), 3);
    assert_string_equal(out, "x/z");
    assert_int_equal(sftp_path_normalize("x/y", "/abs", false, out, sizeof(out)), 3);
    assert_string_equal(out, "abs");
    /* strict mode refuses climbing above the root */
    assert_int_equal(sftp_path_normalize("x", "../../z", true, out, sizeof(out)), -EACCES);
    assert_int_equal(sftp_path_normalize("x", "../z", true, out, sizeof(out)), 1);
    /* too long for the output */
    assert_int_equal(sftp_path_normalize("", "abcdefgh", false, out, 8), -ENAMETOOLONG);
    assert_int_equal(sftp_path_display("a/b", out, sizeof(out)), 4);
    assert_string_equal(out, "/a/b");
    assert_int_equal(sftp_path_display("", out, sizeof(out)), 1);
    assert_string_equal(out, "/");
}

static struct sftp_root open_root(bool walk)
{
    struct sftp_root r;
    char p[300];

    snprintf(p, sizeof(p), "%s/u1", T);
    assert_int_equal(sftp_root_open(&r, p, walk), 0);
    return r;
}

/* open a client path the way the plugin does: normalise, then resolve */
static int client_open(struct sftp_root *r, const char *client_path, int flags)
{
    char rel[4097];

    assert_true(sftp_path_normalize("", client_path, false, rel, sizeof(rel)) >= 0);
    return sftp_resolve_open(r, rel, flags, 0644);
}

static void expect_content(int fd, const char *want)
{
    char buf[64] = {0};

    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
    assert_string_equal(buf, want);
    close(fd);
}

static void test_escape_matrix(void **state)
{
    struct sftp_root r = open_root(false);
    char abs[400];
    int fd;

    (void)state;
    expect_content(client_open(&r, "/file", O_RDONLY), "inside");
    expect_content(client_open(&r, "file", O_RDONLY), "inside");
    expect_content(client_open(&r, "../file", O_RDONLY), "inside");
    expect_content(client_open(&r, "/..//file", O_RDONLY), "inside");
    expect_content(client_open(&r, "/../../../../file", O_RDONLY), "inside");
    /* sibling with a common prefix: u1 vs u10 */
    assert_int_equal(client_open(&r, "../u10/secret", O_RDONLY), -ENOENT);
    assert_int_equal(client_open(&r, "/../u10/secret", O_RDONLY), -ENOENT);
    /* absolute host paths are taken inside the root */
    snprintf(abs, sizeof(abs), "%s/u10/secret", T);
    assert_int_equal(client_open(&r, abs, O_RDONLY), -ENOENT);
    snprintf(abs, sizeof(abs), "%s/outside/secret", T);
    assert_int_equal(client_open(&r, abs, O_RDONLY), -ENOENT);
    assert_int_equal(client_open(&r, "/etc/passwd", O_RDONLY), -ENOENT);
    /* admin-placed links leading out are never followed */
    assert_int_equal(client_open(&r, "evil/secret", O_RDONLY), -EXDEV);
    assert_int_equal(client_open(&r, "evil_rel/secret", O_RDONLY), -EXDEV);
    assert_int_equal(client_open(&r, "passwd", O_RDONLY), -EXDEV);
    assert_int_equal(client_open(&r, "sib/secret", O_RDONLY), -EXDEV);
    assert_int_equal(client_open(&r, "evil", O_PATH), -EXDEV);
    /* ... not for writing either (and nothing gets created outside) */
    assert_int_equal(client_open(&r, "evil/new", O_WRONLY | O_CREAT), -EXDEV);
    snprintf(abs, sizeof(abs), "%s/outside/new", T);
    assert_int_equal(access(abs, F_OK), -1);
    /* chains */
    expect_content(client_open(&r, "a", O_RDONLY), "inside");
    assert_int_equal(client_open(&r, "x", O_RDONLY), -EXDEV);
    assert_int_equal(client_open(&r, "loop1", O_RDONLY), -ELOOP);
    expect_content(client_open(&r, "d2/sub/deep", O_RDONLY), "deep");
    expect_content(client_open(&r, "dir/up", O_RDONLY), "inside");
    /* the root itself */
    fd = client_open(&r, "/", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    close(fd);
    sftp_root_close(&r);
}

static void test_parent(void **state)
{
    struct sftp_root r = open_root(false);
    const char *name;
    struct stat st;
    int dfd;

    (void)state;
    assert_int_equal(sftp_resolve_parent(&r, "dir/sub/deep", &dfd, &name), 0);
    assert_string_equal(name, "deep");
    assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    close(dfd);
    assert_int_equal(sftp_resolve_parent(&r, "file", &dfd, &name), 0);
    assert_string_equal(name, "file");
    close(dfd);
    /* the link itself can be examined (lstat), its target not reached */
    assert_int_equal(sftp_resolve_parent(&r, "evil", &dfd, &name), 0);
    assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISLNK(st.st_mode));
    close(dfd);
    assert_int_equal(sftp_resolve_parent(&r, "evil/secret", &dfd, &name), -EXDEV);
    assert_int_equal(dfd, -1);
    assert_int_equal(sftp_resolve_parent(&r, "", &dfd, &name), -EACCES);
    sftp_root_close(&r);
}

static void test_walk_fallback(void **state)
{
    struct sftp_root r = open_root(true);
    const char *name;
    int dfd;

    (void)state;
    assert_true(r.walk);
    expect_content(client_open(&r, "/file", O_RDONLY), "inside");
    expect_content(client_open(&r, "/../dir/sub/deep", O_RDONLY), "deep");
    /* no symlink is followed at all */
    assert_int_equal(client_open(&r, "evil/secret", O_RDONLY), -ENOTDIR);
    assert_int_equal(client_open(&r, "passwd", O_RDONLY), -ELOOP);
    assert_int_equal(client_open(&r, "a", O_RDONLY), -ELOOP);
    assert_int_equal(client_open(&r, "evil", O_PATH), -ELOOP);
    assert_int_equal(client_open(&r, "../u10/secret", O_RDONLY), -ENOENT);
    assert_int_equal(sftp_resolve_parent(&r, "evil/x", &dfd, &name), -ENOTDIR);
    sftp_root_close(&r);
}

static void test_symlink_target(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(sftp_symlink_target("link", "target.bin", out, sizeof(out)), 10);
    assert_string_equal(out, "target.bin");
    assert_int_equal(sftp_symlink_target("d/link", "../file", out, sizeof(out)), 7);
    assert_string_equal(out, "../file");
    assert_int_equal(sftp_symlink_target("d/link", "../../etc/passwd", out, sizeof(out)), -EACCES);
    assert_int_equal(sftp_symlink_target("link", "..", out, sizeof(out)), -EACCES);
    assert_int_equal(sftp_symlink_target("link", "", out, sizeof(out)), -EINVAL);
    /* absolute targets are root-relative and stored relative to the link */
    assert_true(sftp_symlink_target("x/y/link", "/a/b", out, sizeof(out)) > 0);
    assert_string_equal(out, "../../a/b");
    assert_true(sftp_symlink_target("link", "/file", out, sizeof(out)) > 0);
    assert_string_equal(out, "file");
    assert_true(sftp_symlink_target("link", "/", out, sizeof(out)) > 0);
    assert_string_equal(out, ".");
    assert_true(sftp_symlink_target("d/link", "/", out, sizeof(out)) > 0);
    assert_string_equal(out, "..");
    assert_int_equal(sftp_symlink_target("link", "/../etc/passwd", out, sizeof(out)), -EACCES);
    assert_int_equal(
        sftp_symlink_target("link", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w", out, 16),
        -ENAMETOOLONG);
}

static void test_symlink_target_resolves(void **state)
{
    /* a stored absolute target must work under RESOLVE_BENEATH */
    struct sftp_root r = open_root(false);
    char stored[128], p[400];

    (void)state;
    assert_true(sftp_symlink_target("dir/sub/abslink", "/file", stored, sizeof(stored)) > 0);
    snprintf(p, sizeof(p), "%s/u1/dir/sub/abslink", T);
    assert_int_equal(symlink(stored, p), 0);
    expect_content(sftp_resolve_open(&r, "dir/sub/abslink", O_RDONLY, 0), "inside");
    sftp_root_close(&r);
}

static void test_readlink_display(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(sftp_readlink_display("link", "target", "/srv/u1", out, sizeof(out)), 6);
    assert_string_equal(out, "target");
    assert_true(sftp_readlink_display("link", "/srv/u1/a/b", "/srv/u1", out, sizeof(out)) > 0);
    assert_string_equal(out, "/a/b");
    assert_true(sftp_readlink_display("link", "/srv/u1", "/srv/u1/", out, sizeof(out)) > 0);
    assert_string_equal(out, "/");
    /* host paths are never shown */
    assert_int_equal(sftp_readlink_display("link", "/etc/passwd", "/srv/u1", out, sizeof(out)),
                     -EACCES);
    assert_int_equal(sftp_readlink_display("link", "/srv/u10/x", "/srv/u1", out, sizeof(out)),
                     -EACCES);
    assert_int_equal(sftp_readlink_display("link", "../outside", "/srv/u1", out, sizeof(out)),
                     -EACCES);
    assert_int_equal(sftp_readlink_display("d/link", "../x", "/srv/u1", out, sizeof(out)), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),        cmocka_unit_test(test_escape_matrix),
        cmocka_unit_test(test_parent),           cmocka_unit_test(test_walk_fallback),
        cmocka_unit_test(test_symlink_target),   cmocka_unit_test(test_symlink_target_resolves),
        cmocka_unit_test(test_readlink_display),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
