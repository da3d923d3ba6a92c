/* test_shell_words.c — exec command word splitting and argv templates
 * (plugins/shell/shell_words.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shell_words.h"

static int split(const char *cmd, struct sw_words *w)
{
    return sw_split(cmd, strlen(cmd), 8192, w);
}

static void expect_words(const char *cmd, const char *const *want, size_t n)
{
    struct sw_words w;
    assert_int_equal(split(cmd, &w), SW_OK);
    assert_int_equal(w.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(w.v[i], want[i]);
    assert_null(w.v[n]);
    sw_words_free(&w);
}

static void test_plain(void **st)
{
    (void)st;
    const char *const a[] = {"git-upload-pack", "/repo.git"};
    expect_words("git-upload-pack /repo.git", a, 2);
    expect_words("  git-upload-pack \t /repo.git \n", a, 2);
}

static void test_single_quotes(void **st)
{
    (void)st;
    const char *const a[] = {"git-upload-pack", "/my repo.git"};
    expect_words("git-upload-pack '/my repo.git'", a, 2);
    const char *const b[] = {"x", "a\\b\"c$d"};
    expect_words("x 'a\\b\"c$d'", b, 2);
    const char *const c[] = {"x", "ab'c"};
    expect_words("x 'ab'\\''c'", c, 2); /* the usual sh idiom for a quote */
}

static void test_double_quotes(void **st)
{
    (void)st;
    const char *const a[] = {"echo", "a b", "q\"q", "back\\slash", "$HOME", "`id`", "keep\\n"};
    expect_words("echo \"a b\" \"q\\\"q\" \"back\\\\slash\" \"\\$HOME\" \"\\`id\\`\" \"keep\\n\"",
                 a, 7);
    const char *const b[] = {"x", "joined"};
    expect_words("x \"join\\\ned\"", b, 2);
}

static void test_backslash(void **st)
{
    (void)st;
    const char *const a[] = {"x", "a b", "c'd"};
    expect_words("x a\\ b c\\'d", a, 3);
    const char *const b[] = {"x", "ab"};
    expect_words("x a\\\nb", b, 2);
}

static void test_empty_words(void **st)
{
    (void)st;
    const char *const a[] = {"x", "", "", "y"};
    expect_words("x '' \"\" y", a, 4);
    const char *const b[] = {"abc"};
    expect_words("a'b'\"c\"", b, 1);
}

static void test_metacharacters_literal(void **st)
{
    (void)st;
    const char *const a[] = {"deploy", "a;rm",   "-rf", "/", "|",     "$(id)", "`id`",
                             ">",      "/etc/x", "&&",  "*", "~root", "#c"};
    expect_words("deploy a;rm -rf / | $(id) `id` > /etc/x && * ~root #c", a, 13);
}

static void test_errors(void **st)
{
    (void)st;
    struct sw_words w;
    assert_int_equal(split("x 'open", &w), SW_E_QUOTE);
    assert_null(w.v);
    assert_int_equal(split("x \"open", &w), SW_E_QUOTE);
    assert_int_equal(split("x \"open\\\"", &w), SW_E_QUOTE);
    assert_int_equal(split("x trailing\\", &w), SW_E_ESCAPE);
    assert_int_equal(split("", &w), SW_E_EMPTY);
    assert_int_equal(split("   \t\n", &w), SW_E_EMPTY);
    const char nul[] = "git-upload-pack /a\0b";
    assert_int_equal(sw_split(nul, sizeof(nul) - 1, 8192, &w), SW_E_NUL);
    assert_null(w.v);
    char big[9000];
    memset(big, 'a', sizeof(big));
    assert_int_equal(sw_split(big, sizeof(big), 8192, &w), SW_E_TOOLONG);
    assert_int_equal(sw_split(big, 8192, 8192, &w), SW_OK);
    assert_int_equal(w.n, 1);
    sw_words_free(&w);
    assert_string_equal(sw_strerror(SW_E_NUL), "command contains a NUL byte");
}

static int expand(const char *cmd, const char *const *t, size_t n, long nargs, struct sw_words *out)
{
    struct sw_words w;
    int rc = split(cmd, &w);
    if (rc != SW_OK)
        return rc;
    rc = sw_expand(t, n, &w, nargs, out);
    sw_words_free(&w);
    return rc;
}

static void test_template_git(void **st)
{
    (void)st;
    const char *const t[] = {"/usr/bin/git-upload-pack", "{1}"};
    struct sw_words out;
    assert_int_equal(expand("git-upload-pack '/srv/git/a b.git'", t, 2, 1, &out), SW_OK);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0], "/usr/bin/git-upload-pack");
    assert_string_equal(out.v[1], "/srv/git/a b.git");
    assert_null(out.v[2]);
    sw_words_free(&out);
    /* too many / too few arguments */
    assert_int_equal(expand("git-upload-pack a b", t, 2, 1, &out), SW_E_ARGS);
    assert_null(out.v);
    assert_int_equal(expand("git-upload-pack", t, 2, 1, &out), SW_E_ARGS);
    assert_int_equal(expand("git-upload-pack", t, 2, -1, &out), SW_E_ARGS);
    /* without an explicit count, extra words are still refused */
    assert_int_equal(expand("git-upload-pack a b", t, 2, -1, &out), SW_E_ARGS);
    /* an explicit count may leave words to SSH_ORIGINAL_COMMAND */
    const char *const fixed[] = {"/usr/local/bin/hook"};
    assert_int_equal(expand("hook a", fixed, 1, -1, &out), SW_E_ARGS);
    assert_int_equal(expand("hook a", fixed, 1, 1, &out), SW_OK);
    assert_int_equal(out.n, 1);
    sw_words_free(&out);
}

static void test_template_star(void **st)
{
    (void)st;
    const char *const t[] = {"/usr/bin/rsync", "{*}"};
    struct sw_words out;
    assert_int_equal(expand("rsync --server -vlogDtpre.iLsfxCIvu . 'dir/x;y'", t, 2, -1, &out),
                     SW_OK);
    assert_int_equal(out.n, 5);
    assert_string_equal(out.v[0], "/usr/bin/rsync");
    assert_string_equal(out.v[1], "--server");
    assert_string_equal(out.v[4], "dir/x;y");
    sw_words_free(&out);
    assert_int_equal(expand("rsync", t, 2, -1, &out), SW_OK);
    assert_int_equal(out.n, 1);
    sw_words_free(&out);
}

static void test_template_inline(void **st)
{
    (void)st;
    const char *const t[] = {"/bin/deploy", "--app={1}", "{{{2}}}", "cmd={0}"};
    struct sw_words out;
    assert_int_equal(expand("deploy web '$(reboot)'", t, 4, 2, &out), SW_OK);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[1], "--app=web");
    assert_string_equal(out.v[2], "{$(reboot)}");
    assert_string_equal(out.v[3], "cmd=deploy");
    sw_words_free(&out);
}

static void test_template_check(void **st)
{
    (void)st;
    const char *const ok[] = {"/bin/x", "{0}", "a{12}b", "{{}}", "{*}"};
    assert_int_equal(sw_template_check(ok, 5), SW_OK);
    const char *const bad1[] = {"/bin/x", "{"};
    assert_int_equal(sw_template_check(bad1, 2), SW_E_TEMPLATE);
    const char *const bad2[] = {"/bin/x", "{a}"};
    assert_int_equal(sw_template_check(bad2, 2), SW_E_TEMPLATE);
    const char *const bad3[] = {"/bin/x", "}"};
    assert_int_equal(sw_template_check(bad3, 2), SW_E_TEMPLATE);
    const char *const bad4[] = {"{*}"};
    assert_int_equal(sw_template_check(bad4, 1), SW_E_TEMPLATE);
    const char *const bad5[] = {"/bin/x", "{1234}"};
    assert_int_equal(sw_template_check(bad5, 2), SW_E_TEMPLATE);
    const char *const bad6[] = {""};
    assert_int_equal(sw_template_check(bad6, 1), SW_E_TEMPLATE);
    assert_int_equal(sw_template_check(ok, 0), SW_E_TEMPLATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),          cmocka_unit_test(test_single_quotes),
        cmocka_unit_test(test_double_quotes),  cmocka_unit_test(test_backslash),
        cmocka_unit_test(test_empty_words),    cmocka_unit_test(test_metacharacters_literal),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_template_git),
        cmocka_unit_test(test_template_star),  cmocka_unit_test(test_template_inline),
        cmocka_unit_test(test_template_check),
    };
    return cmocka_run_group_tests_name("shell_words", tests, NULL, NULL);
}
