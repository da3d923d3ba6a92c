/* test_auth_file.c — unit tests of plugins/auth-file: the authorized_keys
 * line parser (options, quotes, garbage), from= matching, the users file and
 * passwd file loader, crypt verification ($y$, $6$ made here with
 * crypt_gensalt/crypt_r), path patterns, and the plugin's auth decisions
 * against a fake host table (queue_work is run by hand to test SG_AGAIN).
 */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "addr_match.h"
#include "authorized_keys.h"
#include "keyfile.h"
#include "pwverify.h"
#include "userdb.h"

#include <plugin.h>

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real public keys (made with ssh-keygen for these tests). */
#define ED1_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIIYL70Uxcjepd5T5UK8kfE2qNPBxJ5wL3VkT6eXV3hAc"
#define ED2_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIA8cvm7DaAKLaInKR1DfoPGGMqzA1w76hSjsqTkbT3o7"
#define ECDSA_B64                                                                                  \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGP6Oz3jZCtK0fQkEidT5yp55A0RsEvnXtuXwH"   \
    "Em+c1CD3QMxEvoDO+rMyOlOj4GJhxZthgA4b6MM8GDeGHmRcI="
#define RSA_B64                                                                                    \
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHGite/BeXUbEWdg8hIiPjIEX2OfISwgplHA8CU2EkINZjo2StGsYRnQX8PK07" \
    "ERFiNwWidJldbgKoqdLh9T+70nVNyH7nA+XEjeFYBvN8Vxls9Hi0RiC/uKPwe6WW2cIjL0STJ8JRlmi+u4zhH/kat/Zx" \
    "K3BWKwk9MM6dBNR+zQ=="
#define ED1 "ssh-ed25519 " ED1_B64
#define ED2 "ssh-ed25519 " ED2_B64

static int parse(const char *line, struct ak_key *k)
{
    char err[200];
    return ak_parse_line(line, strlen(line), k, err, sizeof err);
}

/* ---- authorized_keys parser ------------------------------------------------ */

static void test_ak_plain(void **s)
{
    struct ak_key k;
    assert_int_equal(parse(ED1 " alice@host", &k), AK_OK);
    assert_string_equal(k.type, "ssh-ed25519");
    assert_int_equal(k.blob_len, 51);
    assert_string_equal(k.comment, "alice@host");
    assert_null(k.from);
    assert_false(k.has_expiry);
    ak_key_clear(&k);

    assert_int_equal(parse(ED1, &k), AK_OK); /* no comment */
    assert_string_equal(k.comment, "");
    ak_key_clear(&k);

    assert_int_equal(parse("  \t" ED1 "   a comment with  spaces  \r", &k), AK_OK);
    assert_string_equal(k.comment, "a comment with  spaces");
    ak_key_clear(&k);

    assert_int_equal(parse("ecdsa-sha2-nistp256 " ECDSA_B64 " e", &k), AK_OK);
    assert_string_equal(k.type, "ecdsa-sha2-nistp256");
    ak_key_clear(&k);
    assert_int_equal(parse("ssh-rsa " RSA_B64, &k), AK_OK);
    ak_key_clear(&k);
}

static void test_ak_skip_and_garbage(void **s)
{
    struct ak_key k;
    char err[200];
    assert_int_equal(parse("", &k), AK_SKIP);
    assert_int_equal(parse("   \t ", &k), AK_SKIP);
    assert_int_equal(parse("# ssh-ed25519 " ED1_B64, &k), AK_SKIP);
    assert_int_equal(parse("   # comment", &k), AK_SKIP);
    assert_int_equal(parse("ssh-ed25519", &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("ssh-ed25519   ", &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("hello world", &k), AK_ERR_TYPE);
    assert_int_equal(parse("ssh-foo " ED1_B64, &k), AK_ERR_TYPE);
    assert_int_equal(parse("ssh-ed25519 AAAA!!!!", &k), AK_ERR_BLOB);
    assert_int_equal(parse("ssh-ed25519 AAAAC3Nza", &k), AK_ERR_BLOB); /* length % 4 */
    /* the blob says ecdsa, the line says ed25519 */
    assert_int_equal(parse("ssh-ed25519 " ECDSA_B64, &k), AK_ERR_BLOB);
    /* blob shorter than its type string */
    assert_int_equal(parse("ssh-ed25519 AAAA", &k), AK_ERR_BLOB);
    assert_int_equal(parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", &k), AK_ERR_BLOB);
    /* NUL inside the line */
    const char nul[] = "ssh-ed25519 " ED1_B64 " a\0b";
    assert_int_equal(ak_parse_line(nul, sizeof nul - 1, &k, err, sizeof err), AK_ERR_SYNTAX);
    /* only `len` bytes are read: a truncated view of a good line */
    const char *good = ED1 " c";
    assert_int_equal(ak_parse_line(good, 20, &k, err, sizeof err), AK_ERR_BLOB);
    assert_int_equal(ak_parse_line(good, 0, &k, err, sizeof err), AK_SKIP);
    assert_int_equal(ak_parse_line(NULL, 5, &k, err, sizeof err), AK_ERR_SYNTAX);
    /* too long */
    size_t big = AK_MAX_LINE + 10;
    char *line = malloc(big + 1);
    memset(line, 'A', big);
    memcpy(line, "ssh-ed25519 ", 12);
    line[big] = '\0';
    assert_int_equal(ak_parse_line(line, big, &k, err, sizeof err), AK_ERR_SYNTAX);
    free(line);
}

static void test_ak_options(void **s)
{
    struct ak_key k;
    char err[200];
    assert_int_equal(parse("restrict,no-pty,no-agent-forwarding " ED1 " c", &k), AK_OK);
    assert_true(k.restricted);
    assert_string_equal(k.comment, "c");
    ak_key_clear(&k);

    assert_int_equal(parse("restrict " ED1, &k), AK_OK);
    assert_int_equal(k.restr.flags, AK_RESTRICT_PTY | AK_RESTRICT_PORT_FORWARDING);
    assert_false(ak_restrict_any(&(struct ak_restrict){0}));
    assert_true(ak_restrict_any(&k.restr));
    ak_key_clear(&k);

    /* restrictions apply left to right; agent/X11/user-rc flags change nothing */
    assert_int_equal(parse("restrict,pty,X11-forwarding " ED1, &k), AK_OK);
    assert_int_equal(k.restr.flags, AK_RESTRICT_PORT_FORWARDING);
    ak_key_clear(&k);
    assert_int_equal(parse("pty,restrict " ED1, &k), AK_OK);
    assert_int_equal(k.restr.flags, AK_RESTRICT_PTY | AK_RESTRICT_PORT_FORWARDING);
    ak_key_clear(&k);
    assert_int_equal(parse("NO-PTY,no-agent-forwarding,no-user-rc " ED1, &k), AK_OK);
    assert_int_equal(k.restr.flags, AK_RESTRICT_PTY);
    assert_false(k.restricted);
    ak_key_clear(&k);
    assert_int_equal(parse("no-port-forwarding,port-forwarding,agent-forwarding " ED1, &k), AK_OK);
    assert_false(ak_restrict_any(&k.restr));
    ak_key_clear(&k);

    /* permitopen / permitlisten: collected in order, NULL-terminated */
    assert_int_equal(parse("permitopen=\"h:1\",permitopen=\"[::1]:*\",permitlisten=\"8080\","
                           "permitlisten=\"localhost:*\",permitopen=\"*:22\" " ED1,
                           &k),
                     AK_OK);
    assert_int_equal(k.restr.n_open, 3);
    assert_string_equal(k.restr.open[0], "h:1");
    assert_string_equal(k.restr.open[1], "[::1]:*");
    assert_string_equal(k.restr.open[2], "*:22");
    assert_null(k.restr.open[3]);
    assert_int_equal(k.restr.n_listen, 2);
    assert_string_equal(k.restr.listen[0], "8080");
    assert_string_equal(k.restr.listen[1], "localhost:*");
    assert_null(k.restr.listen[2]);
    struct ak_restrict moved = {0};
    ak_restrict_move(&moved, &k.restr);
    assert_false(ak_restrict_any(&k.restr));
    assert_int_equal(moved.n_open, 3);
    ak_restrict_clear(&moved);
    ak_key_clear(&k);
    /* malformed permits skip the key */
    static const char *const bad_permits[] = {
        "permitopen=\"h\"",        "permitopen=\"h:0\"",     "permitopen=\"h:65536\"",
        "permitopen=\":22\"",      "permitopen=\"::1:22\"",  "permitopen=\"[::1]22\"",
        "permitopen=\"h:1,g:2\"",  "permitopen=\"8080\"",    "permitlisten=\"x\"",
        "permitlisten=\"h:-1\"",   "permitopen=\"[]:1\"",    "permitopen=\"h:22a\"",
    };
    for (size_t i = 0; i < sizeof bad_permits / sizeof bad_permits[0]; i++) {
        char line[200];
        snprintf(line, sizeof line, "%s %s", bad_permits[i], ED1);
        assert_int_equal(ak_parse_line(line, strlen(line), &k, err, sizeof err), AK_ERR_OPTION);
        assert_non_null(strstr(err, "permit"));
    }

    assert_int_equal(parse("from=\"10.0.0.0/8,!10.9.0.0/16\" " ED1, &k), AK_OK);
    assert_string_equal(k.from, "10.0.0.0/8,!10.9.0.0/16");
    ak_key_clear(&k);

    /* quotes: spaces, commas and escaped quotes inside a value */
    assert_int_equal(parse("environment=\"A=b c,\\\"d\\\"\",FROM=\"127.0.0.1, ::1\" " ED1 " x", &k),
                     AK_OK);
    assert_string_equal(k.from, "127.0.0.1, ::1");
    assert_string_equal(k.comment, "x");
    ak_key_clear(&k);

    assert_int_equal(parse("expiry-time=\"20300101\" " ED1, &k), AK_OK);
    assert_true(k.has_expiry);
    ak_key_clear(&k);

    /* unsupported / unknown options: the key is skipped */
    assert_int_equal(parse("command=\"echo \\\"hi\\\" $SSH_ORIGINAL_COMMAND\",restrict " ED1, &k),
                     AK_OK);
    assert_string_equal(k.restr.command, "echo \"hi\" $SSH_ORIGINAL_COMMAND");
    assert_true(ak_restrict_any(&k.restr));
    ak_key_clear(&k);
    assert_int_equal(parse("command=\"a\",command=\"b\" " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("command=\"\" " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(ak_parse_line("tunnel=\"0\" " ED1, strlen("tunnel=\"0\" " ED1), &k, err,
                                   sizeof err),
                     AK_ERR_OPTION);
    assert_non_null(strstr(err, "tunnel"));
    assert_int_equal(parse("cert-authority " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("frobnicate,no-pty " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("no-pty=\"x\" " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("from=\"a\",from=\"b\" " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("from=\"\" " ED1, &k), AK_ERR_OPTION);
    assert_int_equal(parse("expiry-time=\"2030\" " ED1, &k), AK_ERR_OPTION);
    /* syntax errors */
    assert_int_equal(parse("from=\"unterminated " ED1, &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("from=unquoted " ED1, &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("no-pty,," ED1, &k), AK_ERR_SYNTAX);
    assert_int_equal(parse(",no-pty " ED1, &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("from=\"x\"junk " ED1, &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("no-pty", &k), AK_ERR_TYPE);
    assert_int_equal(parse("no-pty " ED1_B64, &k), AK_ERR_TYPE);
    assert_int_equal(parse("from=\"x\" ", &k), AK_ERR_SYNTAX);
    assert_int_equal(parse("from=\"x\" garbage " ED1_B64, &k), AK_ERR_TYPE);
    /* too many options */
    char line[2048] = "";
    for (int i = 0; i < AK_MAX_OPTIONS + 1; i++)
        strcat(line, "no-pty,");
    line[strlen(line) - 1] = ' ';
    strcat(line, ED1);
    assert_int_equal(parse(line, &k), AK_ERR_SYNTAX);
    /* public key form: no options allowed */
    assert_int_equal(ak_parse_public_key(ED1, strlen(ED1), &k, err, sizeof err), AK_OK);
    ak_key_clear(&k);
    assert_int_equal(ak_parse_public_key("no-pty " ED1, strlen("no-pty " ED1), &k, err, sizeof err),
                     AK_ERR_TYPE);
}

static void test_ak_same_and_allow(void **s)
{
    struct ak_key a, b, c, d;
    char why[200];
    assert_int_equal(parse(ED1 " one", &a), AK_OK);
    assert_int_equal(parse("no-pty " ED1 " two", &b), AK_OK);
    assert_int_equal(parse(ED2, &c), AK_OK);
    assert_true(ak_key_same(&a, &b)); /* comment and options do not matter */
    assert_false(ak_key_same(&a, &c));
    assert_int_equal(ak_key_options_allow(&a, "1.2.3.4", time(NULL), why, sizeof why), 1);

    assert_int_equal(parse("from=\"10.0.0.0/8\",expiry-time=\"20300101Z\" " ED1, &d), AK_OK);
    assert_int_equal(ak_key_options_allow(&d, "10.1.1.1", 1700000000, why, sizeof why), 1);
    assert_int_equal(ak_key_options_allow(&d, "127.0.0.1", 1700000000, why, sizeof why), 0);
    assert_non_null(strstr(why, "from="));
    assert_int_equal(ak_key_options_allow(&d, "10.1.1.1", 1900000000, why, sizeof why), 0);
    assert_non_null(strstr(why, "expired"));
    ak_key_clear(&a);
    ak_key_clear(&b);
    ak_key_clear(&c);
    ak_key_clear(&d);
}

static void test_base64_and_expiry(void **s)
{
    uint8_t out[16];
    assert_int_equal(ak_base64_decode("aGk=", 4, out, sizeof out), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(ak_base64_decode("aGVsbG8=", 8, out, sizeof out), 5);
    assert_int_equal(ak_base64_decode("aA==", 4, out, sizeof out), 1);
    assert_int_equal(ak_base64_decode("aB==", 4, out, sizeof out), -1); /* non-canonical */
    assert_int_equal(ak_base64_decode("a===", 4, out, sizeof out), -1);
    assert_int_equal(ak_base64_decode("aGk=aGk=", 8, out, sizeof out), -1); /* pad mid-way */
    assert_int_equal(ak_base64_decode("aG k", 4, out, sizeof out), -1);
    assert_int_equal(ak_base64_decode("", 0, out, sizeof out), -1);
    assert_int_equal(ak_base64_decode("aGVsbG8=", 8, out, 4), -1); /* no room */

    time_t t;
    assert_int_equal(ak_parse_expiry("20300101Z", &t), 0);
    assert_int_equal((long long)t, 1893456000LL);
    assert_int_equal(ak_parse_expiry("203001011230Z", &t), 0);
    assert_int_equal((long long)t, 1893456000LL + 12 * 3600 + 30 * 60);
    assert_int_equal(ak_parse_expiry("20300101123015Z", &t), 0);
    assert_int_equal(ak_parse_expiry("20300101", &t), 0); /* local time */
    assert_int_equal(ak_parse_expiry("2030010", &t), -1);
    assert_int_equal(ak_parse_expiry("20301301", &t), -1);
    assert_int_equal(ak_parse_expiry("2030010a", &t), -1);
    assert_int_equal(ak_parse_expiry("", &t), -1);
}

/* ---- from= matching -------------------------------------------------------- */

static void test_addr_match(void **s)
{
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.0/8"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("127.0.0.1", "10.0.0.0/8"), ADDR_MATCH_NO);
    assert_int_equal(addr_match_list("127.0.0.1", "10.0.0.0/8,127.0.0.1"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("127.0.0.1", "127.0.0.*"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("127.0.0.1", "127.?.0.1"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("127.0.0.12", "127.0.0.1"), ADDR_MATCH_NO);
    assert_int_equal(addr_match_list("127.0.0.1", "*"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("127.0.0.1", "*,!127.0.0.1"), ADDR_MATCH_NEGATED);
    assert_int_equal(addr_match_list("127.0.0.1", "!127.0.0.0/8,*"), ADDR_MATCH_NEGATED);
    assert_int_equal(addr_match_list("10.9.1.1", "10.0.0.0/8,!10.9.0.0/16"), ADDR_MATCH_NEGATED);
    assert_int_equal(addr_match_list("10.8.1.1", "10.0.0.0/8,!10.9.0.0/16"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("10.8.1.1", "!10.9.0.0/16"), ADDR_MATCH_NO);
    assert_int_equal(addr_match_list("1.2.3.4", "0.0.0.0/0"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("1.2.3.4", " 1.2.3.4 , 5.6.7.8"), ADDR_MATCH_YES);
    /* IPv6 */
    assert_int_equal(addr_match_list("::1", "::1"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("::1", "0:0::1"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("2001:db8::5", "2001:db8::/32"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("2001:db9::5", "2001:db8::/32"), ADDR_MATCH_NO);
    assert_int_equal(addr_match_list("2001:db8::5", "2001:DB8:*"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("::1", "127.0.0.0/8"), ADDR_MATCH_NO);
    /* IPv4-mapped IPv6 */
    assert_int_equal(addr_match_list("::ffff:10.1.2.3", "10.0.0.0/8"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("::ffff:10.1.2.3", "10.1.2.*"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("::ffff:10.1.2.3", "!10.1.2.3,*"), ADDR_MATCH_NEGATED);
    /* malformed: fail closed */
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.0/33"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.1/8"), ADDR_MATCH_ERROR); /* host bits */
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.0/"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.0/x"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("10.1.2.3", "foo/8"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("10.1.2.3", "10.1.2.3,,"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("10.1.2.3", "!"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("not-an-ip", "*"), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_list("", "*"), ADDR_MATCH_ERROR);
    /* host names never resolve; as globs they simply do not match */
    assert_int_equal(addr_match_list("10.1.2.3", "*.example.com"), ADDR_MATCH_NO);
    /* pathological glob stays fast */
    assert_int_equal(addr_match_list("2001:db8:1:2:3:4:5:6", "*a*a*a*a*a*a*a*a*a*a*a*a*b"),
                     ADDR_MATCH_NO);
}

/* ---- crypt ------------------------------------------------------------------ */

static char *make_hash(const char *prefix, const char *pw)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof salt));
    const char *h = crypt_r(pw, salt, &cd);
    assert_non_null(h);
    assert_true(h[0] == '$');
    return strdup(h);
}

static void test_pw_verify(void **s)
{
    const char *prefixes[] = {"$y$", "$6$", "$5$", "$2b$"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char *h = make_hash(prefixes[i], "s3cret pw");
        assert_int_equal(pw_hash_classify(h), PW_HASH_USABLE);
        assert_true(pw_verify("s3cret pw", 9, h));
        assert_false(pw_verify("s3cret pX", 9, h));
        assert_false(pw_verify("s3cret p", 8, h));
        assert_false(pw_verify("s3cret pw\0x", 11, h)); /* embedded NUL never matches */
        assert_false(pw_verify("", 0, h));
        /* locked form of the same hash */
        char locked[600];
        snprintf(locked, sizeof locked, "!%s", h);
        assert_int_equal(pw_hash_classify(locked), PW_HASH_LOCKED);
        assert_false(pw_verify("s3cret pw", 9, locked));
        free(h);
    }
    /* an empty password never matches even a hash of "" */
    char *empty = make_hash("$6$", "");
    assert_false(pw_verify("", 0, empty));
    free(empty);
    assert_int_equal(pw_hash_classify("!"), PW_HASH_LOCKED);
    assert_int_equal(pw_hash_classify("*"), PW_HASH_LOCKED);
    assert_int_equal(pw_hash_classify(""), PW_HASH_LOCKED);
    assert_int_equal(pw_hash_classify(NULL), PW_HASH_LOCKED);
    assert_int_equal(pw_hash_classify("plaintext"), PW_HASH_INVALID);
    assert_int_equal(pw_hash_classify("$1$abc$def"), PW_HASH_INVALID); /* md5crypt: refused */
    assert_int_equal(pw_hash_classify("$6$"), PW_HASH_INVALID);
    assert_int_equal(pw_hash_classify("$6$a b"), PW_HASH_INVALID);
    assert_false(pw_verify("x", 1, "*"));
    assert_false(pw_verify("x", 1, ""));
    assert_false(pw_verify("x", 1, "$6$broken"));
    char *longpw = malloc(PW_MAX_PASSWORD + 2);
    memset(longpw, 'a', PW_MAX_PASSWORD + 1);
    char *h = make_hash("$6$", "a");
    assert_false(pw_verify(longpw, PW_MAX_PASSWORD + 1, h));
    free(h);
    free(longpw);
}

/* ---- files ------------------------------------------------------------------ */

static char tmpdir[256];

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static const char *tpath(const char *name)
{
    static char bufs[4][512];
    static int n;
    char *b = bufs[n++ % 4];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static int setup_tmp(void **s)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_auth_file.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **s)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int nwarn;
static void warn_cb(void *arg, const char *msg)
{
    nwarn++;
}

static void test_userdb(void **s)
{
    struct udb *db = NULL;
    char err[512];
    write_file(
        "users.json",
        "{\"users\": {\n"
        "  \"alice\": {\"password\": \"$6$abc$def\", \"keys\": [\"" ED1 " a\", \"no-pty " ED2
        "\"],\n"
        "             \"groups\": [\"admins\", \"ops\"], \"attributes\": {\"home\": \"/h\"}},\n"
        "  \"bob\": {\"disabled\": true},\n"
        "  \"carol\": {}\n"
        "}}\n",
        0644);
    write_file("passwd",
               "# comment\n\n  # indented comment\n"
               "dave:$y$j9T$abc$def:dev,ops\n"
               "erin:!\n"
               "alice:$6$zzz$yyy:other\n",
               0644);
    nwarn = 0;
    assert_int_equal(
        udb_load(tpath("users.json"), tpath("passwd"), warn_cb, NULL, &db, err, sizeof err), 0);
    assert_int_equal(nwarn, 1); /* alice in both: the JSON entry wins */
    assert_int_equal(db->n, 5);
    const struct udb_user *a = udb_find(db, "alice");
    assert_non_null(a);
    assert_string_equal(a->password, "$6$abc$def");
    assert_int_equal(a->n_keys, 2);
    assert_int_equal(a->n_groups, 2);
    assert_string_equal(a->groups[1], "ops");
    assert_int_equal(a->n_attrs, 1);
    assert_string_equal(a->attrs[0].value, "/h");
    assert_true(udb_find(db, "bob")->disabled);
    assert_null(udb_find(db, "carol")->password);
    const struct udb_user *d = udb_find(db, "dave");
    assert_non_null(d);
    assert_int_equal(d->n_groups, 2);
    assert_string_equal(udb_find(db, "erin")->password, "!");
    assert_null(udb_find(db, "zed"));
    udb_free(db);

    /* missing files: no users, no error */
    assert_int_equal(udb_load(tpath("nope.json"), tpath("nope"), NULL, NULL, &db, err, sizeof err),
                     0);
    assert_int_equal(db->n, 0);
    udb_free(db);
    assert_int_equal(udb_load(NULL, NULL, NULL, NULL, &db, err, sizeof err), 0);
    udb_free(db);
}

struct bad_case {
    const char *file;
    const char *text;
    const char *expect; /* substring of the error */
};

static void test_userdb_errors(void **s)
{
    static const struct bad_case cases[] = {
        {"users.json", "{\"users\": {\n\"a\": {\"password\": \"x\",}\n}}", "users.json:2:"},
        {"users.json", "{\"users\": {\"a\": {\"pasword\": \"$6$a$b\"}}}", "unknown field"},
        {"users.json", "{\"users\": {\"a\": {\"password\": \"plain\"}}}", "$.users.a.password"},
        {"users.json", "{\"users\": {\"a\": {\"keys\": [\"ssh-ed25519 AAAA\"]}}}",
         "$.users.a.keys[0]"},
        {"users.json", "{\"users\": {\"a\": {\"keys\": [\"principals=\\\"a\\\" " ED1 "\"]}}}",
         "principals= without cert-authority"},
        {"users.json", "{\"users\": {\"a\": {\"groups\": [1]}}}", ".groups[0]"},
        {"users.json", "{\"users\": {\"a\": {\"attributes\": {\"k\": 1}}}}", ".attributes.k"},
        {"users.json", "{\"users\": {\"a\": {\"disabled\": \"no\"}}}", ".disabled"},
        {"users.json", "{\"users\": {\"../x\": {}}}", "bad user name"},
        {"users.json", "{\"users\": []}", "$.users"},
        {"users.json", "{\"people\": {}}", "unknown key"},
        {"users.json", "[]", "must be an object"},
        {"users.json", "{\"users\": {\"a\": {}, \"a\": {}}}", "users.json:1:"},
        {"passwd", "ok:$6$a$b\nbroken line\n", "passwd:2:"},
        {"passwd", "a:$6$a$b:g:extra\n", "passwd:1: too many fields"},
        {"passwd", "a:plaintext\n", "passwd:1:"},
        {"passwd", "a:$6$a$b\n#\na:$6$c$d\n", "passwd:3: user a listed twice"},
        {"passwd", "../etc:$6$a$b\n", "passwd:1: bad user name"},
        {"passwd", ":$6$a$b\n", "passwd:1: bad user name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct udb *db = NULL;
        char err[512] = "";
        unlink(tpath("users.json"));
        unlink(tpath("passwd"));
        write_file(cases[i].file, cases[i].text, 0644);
        int rc = udb_load(tpath("users.json"), tpath("passwd"), NULL, NULL, &db, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].expect))
            fail_msg("case %zu: rc %d err \"%s\" (expected \"%s\")", i, rc, err, cases[i].expect);
        assert_null(db);
    }
    unlink(tpath("users.json"));
    unlink(tpath("passwd"));
}

static void test_keyfile(void **s)
{
    char *p = kf_expand("/home/%u/.ssh/authorized_keys", "alice");
    assert_string_equal(p, "/home/alice/.ssh/authorized_keys");
    free(p);
    p = kf_expand("/k/%u%%%u", "b");
    assert_string_equal(p, "/k/b%b");
    free(p);
    assert_null(kf_expand("/k/%h", "b"));
    assert_false(kf_pattern_valid("/k/%"));
    assert_false(kf_pattern_valid(""));
    assert_true(udb_name_valid("alice.smith"));
    assert_false(udb_name_valid("../x"));
    assert_false(udb_name_valid(".x"));
    assert_false(udb_name_valid("a/b"));
    assert_false(udb_name_valid("a\nb"));
    assert_false(udb_name_valid(""));

    struct ak_key offered, other;
    struct kf_log log = {0};
    assert_int_equal(parse(ED1, &offered), AK_OK);
    assert_int_equal(parse(ED2, &other), AK_OK);
    write_file("ak",
               "# keys\n"
               "garbage line here\n"
               "tunnel=\"0\" " ED1 " tun\n"
               "from=\"10.0.0.0/8\" " ED1 " lan-only\n"
               "\n"
               "restrict,from=\"127.0.0.0/8\" " ED1 " local\r\n",
               0600);
    assert_int_equal(kf_scan(tpath("ak"), &offered, "127.0.0.1", time(NULL), &log, NULL), KF_MATCH);
    assert_int_equal(log.n, 3); /* garbage, unsupported option, from= refused */
    assert_non_null(strstr(log.line[0], ":2:"));
    memset(&log, 0, sizeof log);
    assert_int_equal(kf_scan(tpath("ak"), &offered, "192.168.1.1", time(NULL), &log, NULL), KF_NOMATCH);
    memset(&log, 0, sizeof log);
    assert_int_equal(kf_scan(tpath("ak"), &other, "127.0.0.1", time(NULL), &log, NULL), KF_NOMATCH);
    assert_int_equal(kf_scan(tpath("missing"), &offered, "127.0.0.1", time(NULL), &log, NULL),
                     KF_MISSING);
    /* group-writable: refused */
    write_file("ak2", ED1 "\n", 0620);
    chmod(tpath("ak2"), 0620);
    memset(&log, 0, sizeof log);
    assert_int_equal(kf_scan(tpath("ak2"), &offered, "127.0.0.1", time(NULL), &log, NULL), KF_ERROR);
    assert_int_equal(kf_scan(tmpdir, &offered, "127.0.0.1", time(NULL), &log, NULL), KF_ERROR);
    /* no trailing newline */
    write_file("ak3", "ssh-rsa " RSA_B64 "\n" ED1, 0600);
    assert_int_equal(kf_scan(tpath("ak3"), &offered, "127.0.0.1", time(NULL), &log, NULL), KF_MATCH);
    ak_key_clear(&offered);
    ak_key_clear(&other);
}

/* ---- the plugin against a fake host ----------------------------------------- */

const struct sg_plugin *sg_plugin_entry(unsigned abi_major, unsigned abi_minor);

struct fake_work {
    sg_work_fn work;
    sg_done_fn done;
    void *arg;
};

static struct {
    void *ctx;
    char groups[8][64];
    int n_groups;
    char attrs[8][128];
    int n_attrs;
    struct fake_work pending[8];
    int n_pending;
    int completed;
    int last_result;
    uint64_t now;
    const char *peer;
    int log_errors;
} fh;

static void fh_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (getenv("TEST_VERBOSE")) {
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
    if (level == SG_LOG_ERROR)
        fh.log_errors++;
}
static int fh_conn_info(sg_conn *conn, struct sg_conn_info *out)
{
    out->peer_address = fh.peer;
    out->peer_port = 40000;
    return 0;
}
static void *fh_get_ctx(sg_conn *conn, const sg_plugin_ref *self)
{
    return fh.ctx;
}
static void fh_set_ctx(sg_conn *conn, const sg_plugin_ref *self, void *ctx)
{
    fh.ctx = ctx;
}
static int fh_add_group(sg_conn *conn, const char *g)
{
    snprintf(fh.groups[fh.n_groups++ % 8], 64, "%s", g);
    return 0;
}
static int fh_set_attr(sg_conn *conn, const char *n, const char *v)
{
    snprintf(fh.attrs[fh.n_attrs++ % 8], 128, "%s=%s", n, v);
    return 0;
}
static int fh_queue_work(sg_work_fn w, sg_done_fn d, void *arg)
{
    if (fh.n_pending == 8)
        return SG_E_LIMIT;
    fh.pending[fh.n_pending++] = (struct fake_work){w, d, arg};
    return 0;
}
static void fh_complete(sg_request *req, int result, const struct sg_completion *extra)
{
    fh.completed++;
    fh.last_result = result;
}
static uint64_t fh_now(void)
{
    return fh.now;
}

static void run_pending(void)
{
    while (fh.n_pending > 0) {
        struct fake_work w = fh.pending[0];
        memmove(fh.pending, fh.pending + 1, (size_t)(--fh.n_pending) * sizeof w);
        w.work(w.arg);
        w.done(w.arg);
    }
}

static const struct sg_host fake_host = {
    .size = sizeof(struct sg_host),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .log = fh_log,
    .conn_info = fh_conn_info,
    .conn_get_ctx = fh_get_ctx,
    .conn_set_ctx = fh_set_ctx,
    .conn_add_group = fh_add_group,
    .conn_set_attr = fh_set_attr,
    .queue_work = fh_queue_work,
    .complete = fh_complete,
    .now_ms = fh_now,
};

#define CONN ((sg_conn *)0x1)
#define REQ ((sg_request *)0x2)

static const struct sg_plugin *P;
static void *state;
static char *alice_hash;

/* One auth event; SG_AGAIN is resolved by running the work queue. */
static int auth(const char *user, const char *method, const char *param, bool probe, bool start)
{
    struct sg_ev_auth ev = {
        .size = sizeof ev,
        .req = REQ,
        .user = user,
        .service = "ssh-connection",
        .method = method,
        .param = param,
        .param_len = strlen(param),
        .key_algorithm = "",
        .key_fingerprint = "",
        .is_probe = probe,
        .kbdint_start = start,
    };
    int before = fh.completed;
    int rc = P->on_auth_request(state, CONN, &ev);
    if (rc == SG_AGAIN) {
        assert_int_equal(fh.completed, before);
        run_pending();
        assert_int_equal(fh.completed, before + 1);
        return fh.last_result;
    }
    return rc;
}

static int setup_plugin(void **s)
{
    if (setup_tmp(s) != 0)
        return -1;
    memset(&fh, 0, sizeof fh);
    fh.peer = "127.0.0.1";
    fh.now = 1000;
    alice_hash = make_hash("$y$", "pw-alice");
    char *dave_hash = make_hash("$6$", "pw-dave");
    char text[2048];
    snprintf(text, sizeof text,
             "{\"users\": {\"alice\": {\"password\": \"%s\", \"keys\": [\"" ED1 "\"],"
             " \"groups\": [\"admins\"], \"attributes\": {\"tier\": \"gold\"}},"
             " \"bob\": {\"password\": \"%s\", \"disabled\": true},"
             " \"locked\": {\"password\": \"!%s\"},"
             " \"keyonly\": {\"keys\": [\"from=\\\"10.0.0.0/8\\\" " ED2 "\"]}}}",
             alice_hash, alice_hash, alice_hash);
    write_file("users.json", text, 0644);
    snprintf(text, sizeof text, "dave:%s:dev\n", dave_hash);
    write_file("passwd", text, 0644);
    free(dave_hash);
    char d[512];
    snprintf(d, sizeof d, "%s/keys", tmpdir);
    mkdir(d, 0755);
    write_file("keys/frank", ED2 " frank\n", 0644);
    write_file("keys/faraway", "from=\"10.0.0.0/8\" " ED2 "\n", 0644);
    write_file("keys/alice", ED2 " alice-second\n", 0644);

    snprintf(text, sizeof text,
             "{\"users_file\": \"%s/users.json\", \"passwd_file\": \"%s/passwd\","
             " \"authorized_keys_dir\": \"%s/keys\", \"reload\": true}",
             tmpdir, tmpdir, tmpdir);
    P = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
    if (!P || P->init(&fake_host, (const sg_plugin_ref *)0x3, text, &state) != SG_OK)
        return -1;
    return 0;
}

static int teardown_plugin(void **s)
{
    if (fh.ctx) {
        struct sg_ev_disconnected ev = {sizeof ev, 0, "bye"};
        P->on_disconnected(state, CONN, &ev);
    }
    P->fini(state);
    free(alice_hash);
    return teardown_tmp(s);
}

static void test_plugin_password(void **s)
{
    assert_int_equal(auth("alice", "password", "pw-alice", false, false), SG_OK);
    assert_int_equal(fh.n_groups, 1);
    assert_string_equal(fh.groups[0], "admins");
    assert_string_equal(fh.attrs[0], "tier=gold");
    assert_int_equal(auth("alice", "password", "pw-alice", false, false), SG_OK);
    assert_int_equal(fh.n_groups, 1); /* applied once */
    assert_int_equal(auth("alice", "password", "wrong", false, false), SG_DENY);
    assert_int_equal(auth("alice", "password", "", false, false), SG_DENY);
    assert_int_equal(auth("dave", "password", "pw-dave", false, false), SG_OK);
    assert_int_equal(auth("dave", "password", "pw-alice", false, false), SG_DENY);
    assert_int_equal(auth("bob", "password", "pw-alice", false, false), SG_DENY);    /* disabled */
    assert_int_equal(auth("locked", "password", "pw-alice", false, false), SG_DENY); /* "!" */
    assert_int_equal(auth("nobody", "password", "pw-alice", false, false), SG_DECLINED);
    assert_int_equal(auth("keyonly", "password", "x", false, false), SG_DECLINED); /* no hash */
    assert_int_equal(auth("alice", "none", "", false, false), SG_DECLINED);
    assert_int_equal(auth("alice", "sigstatus", "1", false, false), SG_DECLINED);
    assert_int_equal(auth("alice", "hostbased", "", false, false), SG_DECLINED);
    assert_int_equal(auth("", "password", "pw-alice", false, false), SG_DECLINED);

    /* unknown users get the same (deferred) check before the decline */
    struct sg_ev_auth ev = {
        .size = sizeof ev,
        .req = REQ,
        .user = "nobody",
        .service = "ssh-connection",
        .method = "password",
        .param = "guess",
        .param_len = 5,
    };
    assert_int_equal(P->on_auth_request(state, CONN, &ev), SG_AGAIN);
    run_pending();
    assert_int_equal(fh.last_result, SG_DECLINED);
    ev.user = "bob"; /* disabled: also deferred, then denied */
    assert_int_equal(P->on_auth_request(state, CONN, &ev), SG_AGAIN);
    run_pending();
    assert_int_equal(fh.last_result, SG_DENY);
}

static void test_plugin_publickey(void **s)
{
    /* users_file key: answered at once */
    assert_int_equal(auth("alice", "publickey", ED1, true, false), SG_OK);
    assert_int_equal(fh.n_groups, 0); /* not at the probe */
    assert_int_equal(auth("alice", "publickey", ED1 " comment", false, false), SG_OK);
    assert_int_equal(fh.n_groups, 1);
    /* authorized_keys_dir/alice holds ED2 */
    assert_int_equal(auth("alice", "publickey", ED2, true, false), SG_OK);
    assert_int_equal(auth("alice", "publickey", "ssh-rsa " RSA_B64, true, false), SG_DENY);
    /* user known only by an authorized_keys file */
    assert_int_equal(auth("frank", "publickey", ED2, false, false), SG_OK);
    assert_int_equal(auth("frank", "publickey", ED1, true, false), SG_DENY);
    /* from="10.0.0.0/8" refuses 127.0.0.1, allows 10.x */
    assert_int_equal(auth("faraway", "publickey", ED2, true, false), SG_DENY);
    assert_int_equal(auth("keyonly", "publickey", ED2, true, false), SG_DENY);
    fh.peer = "10.2.3.4";
    assert_int_equal(auth("faraway", "publickey", ED2, true, false), SG_OK);
    assert_int_equal(auth("keyonly", "publickey", ED2, true, false), SG_OK);
    fh.peer = "127.0.0.1";
    /* unknown user: declined; malformed offered key */
    assert_int_equal(auth("nobody", "publickey", ED1, true, false), SG_DECLINED);
    assert_int_equal(auth("../etc", "publickey", ED1, true, false), SG_DECLINED);
    assert_int_equal(auth("alice", "publickey", "ssh-ed25519 !!", true, false), SG_DENY);
    assert_int_equal(auth("nobody", "publickey", "garbage", true, false), SG_DECLINED);
    assert_int_equal(auth("bob", "publickey", ED1, true, false), SG_DENY); /* disabled */
}

static void test_plugin_kbdint(void **s)
{
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, true), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive-1", "pw-alice", false, false), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive-2", "123456", false, false), SG_DECLINED);
    assert_int_equal(fh.n_groups, 0);
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, false), SG_OK);
    assert_int_equal(fh.n_groups, 1);
    /* the success was consumed: a final without a new response 1 fails */
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, false), SG_DENY);
    /* wrong answer */
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, true), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive-1", "nope", false, false), SG_DENY);
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, false), SG_DENY);
    /* accepted for dave, final asked for alice: no */
    assert_int_equal(auth("dave", "keyboard-interactive-1", "pw-dave", false, false), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive", "", false, false), SG_DENY);
    /* a new start forgets the earlier answer */
    assert_int_equal(auth("dave", "keyboard-interactive", "", false, true), SG_OK);
    assert_int_equal(auth("dave", "keyboard-interactive", "", false, false), SG_DENY);
    /* unknown / key-only users: not ours */
    assert_int_equal(auth("nobody", "keyboard-interactive", "", false, true), SG_DECLINED);
    assert_int_equal(auth("nobody", "keyboard-interactive-1", "x", false, false), SG_DECLINED);
    assert_int_equal(auth("nobody", "keyboard-interactive", "", false, false), SG_DECLINED);
    assert_int_equal(auth("keyonly", "keyboard-interactive", "", false, true), SG_DECLINED);
    assert_int_equal(auth("bob", "keyboard-interactive", "", false, true), SG_DENY);
    assert_int_equal(auth("locked", "keyboard-interactive", "", false, true), SG_DENY);
}

static void test_plugin_disconnect_pending(void **s)
{
    struct sg_ev_auth ev = {
        .size = sizeof ev,
        .req = REQ,
        .user = "alice",
        .service = "ssh-connection",
        .method = "password",
        .param = "pw-alice",
        .param_len = 8,
    };
    assert_int_equal(P->on_auth_request(state, CONN, &ev), SG_AGAIN);
    struct sg_ev_disconnected dev = {sizeof dev, 0, "bye"};
    P->on_disconnected(state, CONN, &dev);
    assert_null(fh.ctx);
    int before = fh.completed;
    run_pending(); /* done runs after the connection ended: completes, no ctx use */
    assert_int_equal(fh.completed, before + 1);
    assert_null(fh.ctx);
    assert_int_equal(fh.n_groups, 0);
}

static void test_plugin_reload(void **s)
{
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_DECLINED);
    char *newbie_hash = make_hash("$6$", "pw-new");
    char text[512];
    snprintf(text, sizeof text, "{\"users\": {\"newbie\": {\"password\": \"%s\"}}}", newbie_hash);
    write_file("users.json.tmp", text, 0644);
    assert_int_equal(rename(tpath("users.json.tmp"), tpath("users.json")), 0);
    fh.now += 500; /* rate-limited: not yet checked */
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_DECLINED);
    fh.now += 1000;
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_OK);
    assert_int_equal(auth("alice", "password", "pw-alice", false, false), SG_DECLINED);
    /* a password check in flight while the user is disabled by a reload */
    struct sg_ev_auth ev = {
        .size = sizeof ev,
        .req = REQ,
        .user = "newbie",
        .service = "ssh-connection",
        .method = "password",
        .param = "pw-new",
        .param_len = 6,
    };
    assert_int_equal(P->on_auth_request(state, CONN, &ev), SG_AGAIN);
    {
        char *h2 = make_hash("$6$", "pw-new");
        char t2[512];
        snprintf(t2, sizeof t2,
                 "{\"users\": {\"newbie\": {\"password\": \"%s\", \"disabled\": true}}}", h2);
        free(h2);
        write_file("users.json.tmp", t2, 0644);
        assert_int_equal(rename(tpath("users.json.tmp"), tpath("users.json")), 0);
    }
    fh.now += 1000;
    assert_int_equal(auth("other", "none", "", false, false), SG_DECLINED); /* triggers reload */
    run_pending();
    assert_int_equal(fh.last_result, SG_DENY);
    snprintf(text, sizeof text, "{\"users\": {\"newbie\": {\"password\": \"%s\"}}}", newbie_hash);
    write_file("users.json.tmp", text, 0644);
    assert_int_equal(rename(tpath("users.json.tmp"), tpath("users.json")), 0);
    fh.now += 1000;
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_OK);

    /* a broken file keeps the previous users */
    write_file("users.json.tmp", "{\"users\": {", 0644);
    assert_int_equal(rename(tpath("users.json.tmp"), tpath("users.json")), 0);
    fh.now += 1000;
    int errs = fh.log_errors;
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_OK);
    assert_int_equal(fh.log_errors, errs + 1);
    fh.now += 1000; /* not logged again for the same file version */
    assert_int_equal(auth("newbie", "password", "pw-new", false, false), SG_OK);
    assert_int_equal(fh.log_errors, errs + 1);
    free(newbie_hash);
}

static void test_plugin_config_errors(void **s)
{
    static const char *const bad[] = {
        "{\"users_fle\": \"x\"}",
        "{\"users_file\": 3}",
        "{\"users_file\": \"\"}",
        "{\"reload\": \"yes\"}",
        "{\"authorized_keys_file\": \"/home/%h/keys\"}",
        "[1]",
        "{",
    };
    const struct sg_plugin *p = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, 0);
    assert_non_null(p);
    assert_null(sg_plugin_entry(SG_PLUGIN_ABI_MAJOR + 1, 0));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *st = NULL;
        int errs = fh.log_errors;
        assert_int_equal(p->init(&fake_host, NULL, bad[i], &st), SG_E_INVAL);
        assert_int_equal(fh.log_errors, errs + 1);
    }
    /* a malformed users_file is an init error naming file:line */
    write_file("broken.json", "{\n\"users\": {\n\"a\": }\n}\n", 0644);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"users_file\": \"%s\"}", tpath("broken.json"));
    void *st = NULL;
    assert_int_equal(p->init(&fake_host, NULL, cfg, &st), SG_E_INVAL);
    /* defaults: everything optional */
    assert_int_equal(p->init(&fake_host, NULL, "{}", &st), SG_OK);
    p->fini(st);
    assert_int_equal(p->init(&fake_host, NULL, NULL, &st), SG_OK);
    p->fini(st);
}

int main(void)
{
    const struct CMUnitTest parser_tests[] = {
        cmocka_unit_test(test_ak_plain),          cmocka_unit_test(test_ak_skip_and_garbage),
        cmocka_unit_test(test_ak_options),        cmocka_unit_test(test_ak_same_and_allow),
        cmocka_unit_test(test_base64_and_expiry), cmocka_unit_test(test_addr_match),
        cmocka_unit_test(test_pw_verify),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_userdb),
        cmocka_unit_test(test_userdb_errors),
        cmocka_unit_test(test_keyfile),
    };
    const struct CMUnitTest plugin_tests[] = {
        cmocka_unit_test_setup_teardown(test_plugin_password, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_publickey, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_kbdint, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_disconnect_pending, setup_plugin,
                                        teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_reload, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_config_errors, setup_plugin, teardown_plugin),
    };
    int rc = cmocka_run_group_tests_name("authorized_keys", parser_tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("files", file_tests, setup_tmp, teardown_tmp);
    rc += cmocka_run_group_tests_name("plugin", plugin_tests, NULL, NULL);
    return rc;
}
