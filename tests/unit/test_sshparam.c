/* Unit tests of the SSH param codec (core/sshparam.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin.h"
#include "sshparam.h"

#define CAP 4096

struct pb {
    uint8_t buf[CAP];
    size_t len;
};

static void add(struct pb *b, const char *type, const char *value)
{
    long rc = sg_param_set(b->buf, &b->len, sizeof(b->buf), type, value);
    assert_true(rc > 0);
    assert_int_equal((size_t)rc, b->len);
}

static void expect_text(const struct pb *b, const char *rt, const char *field, const char *want)
{
    char out[CAP];
    long rc = sg_param_get(b->buf, b->len, rt, field, out, sizeof(out));
    assert_int_equal(rc, (long)strlen(want));
    assert_string_equal(out, want);
}

static void expect_rc(const struct pb *b, const char *rt, const char *field, long want)
{
    char out[CAP];
    assert_int_equal(sg_param_get(b->buf, b->len, rt, field, out, sizeof(out)), want);
}

/* ---------------------------------------------------------------- types */

static void test_type_s(void **st)
{
    struct pb b = {0};
    const uint8_t wire[] = {0, 0, 0, 5, 'x', 't', 'e', 'r', 'm'};
    uint8_t raw[16];
    add(&b, "s", "xterm");
    assert_int_equal(b.len, sizeof(wire));
    assert_memory_equal(b.buf, wire, sizeof(wire));
    expect_text(&b, NULL, "%s", "xterm");
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s", raw, sizeof(raw)), 5);
    assert_memory_equal(raw, "xterm", 5);
    /* empty string */
    b.len = 0;
    add(&b, "s", "");
    assert_int_equal(b.len, 4);
    expect_text(&b, NULL, "%s", "");
}

static void test_type_s_embedded_nul(void **st)
{
    const uint8_t wire[] = {0, 0, 0, 3, 'a', 0, 'b'};
    char out[8];
    long rc = sg_param_get(wire, sizeof(wire), NULL, "%s", out, sizeof(out));
    assert_int_equal(rc, 3); /* full length, NUL kept */
    assert_memory_equal(out, "a\0b", 4);
}

static void test_type_sb(void **st)
{
    struct pb b = {0};
    const uint8_t wire[] = {0, 0, 0, 3, 0xa1, 0xb2, 0x3c};
    uint8_t raw[8];
    add(&b, "sb", "A1b23C");
    assert_int_equal(b.len, sizeof(wire));
    assert_memory_equal(b.buf, wire, sizeof(wire));
    expect_text(&b, NULL, "%sb", "A1B23C");
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%sb", raw, sizeof(raw)), 3);
    assert_memory_equal(raw, wire + 4, 3);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "sb", "abc"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "sb", "zz"), SG_E_INVAL);
    assert_int_equal(b.len, sizeof(wire));
    b.len = 0;
    add(&b, "sb", "");
    expect_text(&b, NULL, "%sb", "");
}

static void test_type_i(void **st)
{
    struct pb b = {0};
    const uint8_t wire[] = {0, 0, 0x04, 0xd2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x1f};
    uint8_t raw[4];
    add(&b, "i", "1234");
    add(&b, "i", "4294967295");
    add(&b, "i", "0x1F");
    assert_memory_equal(b.buf, wire, sizeof(wire));
    expect_text(&b, NULL, "%i", "1234");
    expect_text(&b, NULL, "%i,i", "4294967295");
    expect_text(&b, NULL, "%i,i,i", "31");
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%i", raw, 4), 4);
    assert_memory_equal(raw, wire, 4);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", "4294967296"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", "-1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", ""), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", "12a"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", "0x"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", " 1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "i", "0x100000000"), SG_E_INVAL);
    assert_int_equal(b.len, sizeof(wire));
}

static void test_type_l(void **st)
{
    struct pb b = {0};
    uint8_t raw[8];
    const uint8_t want[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    add(&b, "l", "18446744073709551615");
    add(&b, "l", "0x0123456789abcdef");
    expect_text(&b, NULL, "%l", "18446744073709551615");
    expect_text(&b, NULL, "%l,l", "81985529216486895");
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%l,l", raw, 8), 8);
    assert_memory_equal(raw, want, 8);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "l", "18446744073709551616"), SG_E_INVAL);
}

static void test_type_b(void **st)
{
    struct pb b = {0};
    uint8_t raw[1];
    add(&b, "b", "0");
    add(&b, "b", "255");
    add(&b, "b", "0x7f");
    assert_int_equal(b.len, 3);
    expect_text(&b, NULL, "%b", "0");
    expect_text(&b, NULL, "%b,b", "255");
    expect_text(&b, NULL, "%b,b,b", "127");
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%b,b", raw, 1), 1);
    assert_int_equal(raw[0], 255);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "b", "256"), SG_E_INVAL);
}

static void test_type_f(void **st)
{
    struct pb b = {0};
    const uint8_t odd[] = {7};
    char out[8];
    add(&b, "f", "True");
    add(&b, "f", "False");
    add(&b, "f", "true");
    add(&b, "f", "0");
    add(&b, "f", "1");
    assert_memory_equal(b.buf, "\1\0\1\0\1", 5);
    expect_text(&b, NULL, "%f", "True");
    expect_text(&b, NULL, "%f,f", "False");
    expect_text(&b, NULL, "%f,f,f,f,f", "True");
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "f", "yes"), SG_E_INVAL);
    /* any non-zero byte is true */
    assert_int_equal(sg_param_get(odd, 1, NULL, "%f", out, sizeof(out)), 4);
    assert_string_equal(out, "True");
}

/* RFC 4251 section 5 examples. */
static void test_type_m_rfc_vectors(void **st)
{
    static const struct {
        const char *set;
        const char *get;
        uint8_t wire[16];
        size_t wlen;
    } v[] = {
        {"0", "0", {0, 0, 0, 0}, 4},
        {"0x9a378f9b2e332a7", "694531781388612263",
         {0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7}, 12},
        {"0x80", "128", {0, 0, 0, 2, 0x00, 0x80}, 6},
        {"-0x1234", "-4660", {0, 0, 0, 2, 0xed, 0xcc}, 6},
        {"-0xdeadbeef", "-3735928559", {0, 0, 0, 5, 0xff, 0x21, 0x52, 0x41, 0x11}, 9},
        {"-128", "-128", {0, 0, 0, 1, 0x80}, 5},
        {"-129", "-129", {0, 0, 0, 2, 0xff, 0x7f}, 6},
        {"-256", "-256", {0, 0, 0, 2, 0xff, 0x00}, 6},
        {"-1", "-1", {0, 0, 0, 1, 0xff}, 5},
        {"127", "127", {0, 0, 0, 1, 0x7f}, 5},
        {"-0", "0", {0, 0, 0, 0}, 4},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct pb b = {0};
        add(&b, "m", v[i].set);
        assert_int_equal(b.len, v[i].wlen);
        assert_memory_equal(b.buf, v[i].wire, v[i].wlen);
        expect_text(&b, NULL, "%m", v[i].get);
    }
}

static void test_type_m_big_round_trip(void **st)
{
    char big[700];
    struct pb b = {0};
    uint8_t raw[400];
    /* a 600-digit number, positive and negative */
    for (size_t i = 0; i < 600; i++)
        big[i] = (char)('1' + i % 9);
    big[600] = '\0';
    add(&b, "m", big);
    expect_text(&b, NULL, "%m", big);
    assert_true(sg_param_get_bytes(b.buf, b.len, NULL, "%m", raw, sizeof(raw)) > 0);
    memmove(big + 1, big, 601);
    big[0] = '-';
    b.len = 0;
    add(&b, "m", big);
    expect_text(&b, NULL, "%m", big);
    /* bad values */
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "m", ""), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "m", "-"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "m", "12x"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "m", "0xg"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "m", "--1"), SG_E_INVAL);
}

static void test_type_m_too_long(void **st)
{
    static uint8_t p[4 + SG_PARAM_MPINT_MAX + 1];
    char out[16];
    uint32_t n = SG_PARAM_MPINT_MAX + 1;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    p[4] = 1;
    assert_int_equal(sg_param_get(p, sizeof(p), NULL, "%m", out, sizeof(out)), SG_E_LIMIT);
    assert_int_equal(sg_param_get_bytes(p, sizeof(p), NULL, "%m", (uint8_t *)out, sizeof(out)),
                     SG_E_LIMIT);
}

static void test_unknown_type(void **st)
{
    struct pb b = {0};
    char out[8];
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "x", "1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "", "1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "ss", "1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, NULL, "1"), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, &b.len, CAP, "s", NULL), SG_E_INVAL);
    assert_int_equal(sg_param_set(b.buf, NULL, CAP, "s", "x"), SG_E_INVAL);
    add(&b, "i", "1");
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%x", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%i,", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%i i", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "% i ", out, sizeof(out)), 1);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, NULL, out, sizeof(out)), SG_E_INVAL);
}

/* ---------------------------------------------------------- well-known */

static void test_pty_req(void **st)
{
    struct pb b = {0};
    const uint8_t modes[] = {0x35, 0, 0, 0, 1, 0x00};
    uint8_t raw[16];
    add(&b, "s", "xterm-256color");
    add(&b, "i", "80");
    add(&b, "i", "24");
    add(&b, "i", "640");
    add(&b, "i", "480");
    add(&b, "sb", "350000000100");
    expect_text(&b, "pty-req", "TerminalType", "xterm-256color");
    expect_text(&b, "pty-req", "TerminalWidthCharacters", "80");
    expect_text(&b, "pty-req", "TerminalHeightRows", "24");
    expect_text(&b, "pty-req", "TerminalWidthPixels", "640");
    expect_text(&b, "pty-req", "TerminalHeightPixels", "480");
    expect_text(&b, "pty-req", "terminalheightpixels", "480"); /* case-insensitive */
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, "pty-req", "TerminalModes", raw, sizeof(raw)),
                     sizeof(modes));
    assert_memory_equal(raw, modes, sizeof(modes));
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, "pty-req", "TerminalWidthCharacters", raw,
                                        sizeof(raw)), 4);
    assert_memory_equal(raw, "\0\0\0\x50", 4);
    expect_rc(&b, "pty-req", "Command", SG_E_NOTFOUND);
    expect_rc(&b, "pty-req", "ChannelId", SG_E_NOTFOUND);
    expect_rc(&b, "pty-req", "RequestType", SG_E_NOTFOUND);
    expect_rc(&b, "pty-req", "WantsReply", SG_E_NOTFOUND);
    expect_rc(&b, "no-such-req", "TerminalType", SG_E_NOTFOUND);
    expect_rc(&b, NULL, "TerminalType", SG_E_NOTFOUND);
    expect_rc(&b, "PTY-REQ", "TerminalType", SG_E_NOTFOUND); /* request types are exact */
}

static void test_x11_req(void **st)
{
    struct pb b = {0};
    add(&b, "f", "False");
    add(&b, "s", "MIT-MAGIC-COOKIE-1");
    add(&b, "s", "0123456789abcdef0123456789abcdef");
    add(&b, "i", "0");
    expect_text(&b, "x11-req", "SingleConnection", "False");
    expect_text(&b, "x11-req", "X11AuthProtocol", "MIT-MAGIC-COOKIE-1");
    expect_text(&b, "x11-req", "X11AuthCookie", "0123456789abcdef0123456789abcdef");
    expect_text(&b, "x11-req", "X11ScreenNumber", "0");
    expect_text(&b, NULL, "%f,s", "MIT-MAGIC-COOKIE-1"); /* the reference's example */
}

static void test_simple_requests(void **st)
{
    struct pb b = {0};
    add(&b, "s", "LANG");
    add(&b, "s", "C.UTF-8");
    expect_text(&b, "env", "VariableName", "LANG");
    expect_text(&b, "env", "VariableValue", "C.UTF-8");

    b.len = 0;
    add(&b, "s", "ls -la /tmp");
    expect_text(&b, "exec", "Command", "ls -la /tmp");

    b.len = 0;
    add(&b, "s", "sftp");
    expect_text(&b, "subsystem", "Subsystem", "sftp");

    b.len = 0;
    add(&b, "f", "True");
    expect_text(&b, "xon-xoff", "ClientCanDo", "True");

    b.len = 0;
    add(&b, "s", "TERM");
    expect_text(&b, "signal", "SignalName", "TERM");

    b.len = 0;
    add(&b, "i", "500");
    expect_text(&b, "break", "BreakLength", "500");

    b.len = 0;
    add(&b, "i", "132");
    add(&b, "i", "50");
    add(&b, "i", "0");
    add(&b, "i", "0");
    expect_text(&b, "window-change", "TerminalWidthCharacters", "132");
    expect_text(&b, "window-change", "TerminalHeightRows", "50");
    expect_text(&b, "window-change", "TerminalWidthPixels", "0");
    expect_text(&b, "window-change", "TerminalHeightPixels", "0");

    b.len = 0;
    add(&b, "i", "3");
    expect_text(&b, "exit-status", "ExitStatus", "3");

    b.len = 0;
    add(&b, "s", "KILL");
    add(&b, "f", "True");
    add(&b, "s", "killed");
    add(&b, "s", "en");
    expect_text(&b, "exit-signal", "SignalName", "KILL");
    expect_text(&b, "exit-signal", "CoreDumped", "True");
    expect_text(&b, "exit-signal", "ErrorMessage", "killed");
    expect_text(&b, "exit-signal", "LanguageTag", "en");
}

static void test_tcpip(void **st)
{
    struct pb b = {0};
    add(&b, "s", "example.org");
    add(&b, "i", "443");
    add(&b, "s", "127.0.0.1");
    add(&b, "i", "50000");
    expect_text(&b, "direct-tcpip", "Host", "example.org");
    expect_text(&b, "direct-tcpip", "Port", "443");
    expect_text(&b, "direct-tcpip", "OriginatorAddress", "127.0.0.1");
    expect_text(&b, "direct-tcpip", "OriginatorPort", "50000");
    expect_text(&b, "forwarded-tcpip", "ConnectedAddress", "example.org");
    expect_text(&b, "forwarded-tcpip", "Host", "example.org");
    expect_text(&b, "forwarded-tcpip", "ConnectedPort", "443");
    expect_text(&b, "forwarded-tcpip", "Port", "443");
    expect_text(&b, "forwarded-tcpip", "OriginatorPort", "50000");

    b.len = 0;
    add(&b, "s", "");
    add(&b, "i", "0");
    expect_text(&b, "tcpip-forward", "AddressToBind", "");
    expect_text(&b, "tcpip-forward", "PortToBind", "0");
    expect_text(&b, "cancel-tcpip-forward", "AddressToBind", "");
    expect_text(&b, "cancel-tcpip-forward", "PortToBind", "0");
}

/* Every well-known field of every request type: build with set, read back. */
static void test_all_known_fields(void **st)
{
    const char *rt;
    for (size_t r = 0; (rt = sg_param_request_type(r)) != NULL; r++) {
        struct pb b = {0};
        char want[16][32];
        const char *name, *type;
        size_t n = 0;
        for (; (name = sg_param_field_name(rt, n, &type)) != NULL; n++) {
            assert_true(n < 16);
            if (strcmp(type, "s") == 0)
                snprintf(want[n], sizeof(want[n]), "v%zu-%s", n, rt);
            else if (strcmp(type, "f") == 0)
                snprintf(want[n], sizeof(want[n]), "%s", n % 2 ? "True" : "False");
            else
                snprintf(want[n], sizeof(want[n]), "%zu", 1000 + n);
            add(&b, type, want[n]);
        }
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            name = sg_param_field_name(rt, i, NULL);
            expect_text(&b, rt, name, want[i]);
            /* every proper prefix that ends inside or before field i fails */
            for (size_t cut = 0; cut < b.len; cut += 3) {
                char out[64];
                long rc = sg_param_get(b.buf, cut, rt, name, out, sizeof(out));
                assert_true(rc == SG_E_INVAL || rc == (long)strlen(want[i]));
            }
        }
    }
    assert_null(sg_param_request_type(1000));
    assert_null(sg_param_field_name("nope", 0, NULL));
    assert_null(sg_param_field_name(NULL, 0, NULL));
}

/* ------------------------------------------------------------- hostile */

static void test_truncated(void **st)
{
    struct pb b = {0};
    char out[64];
    add(&b, "s", "example.org");
    add(&b, "i", "443");
    for (size_t cut = 0; cut < b.len; cut++) {
        long rc = sg_param_get(b.buf, cut, "direct-tcpip", "Port", out, sizeof(out));
        assert_int_equal(rc, SG_E_INVAL);
        rc = sg_param_get(b.buf, cut, "direct-tcpip", "Host", out, sizeof(out));
        assert_int_equal(rc, cut >= 15 ? 11 : SG_E_INVAL);
    }
    /* fields past the end of the payload */
    assert_int_equal(sg_param_get(b.buf, b.len, "direct-tcpip", "OriginatorAddress", out,
                                  sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,b", out, sizeof(out)), SG_E_INVAL);
    /* empty payload */
    assert_int_equal(sg_param_get(NULL, 0, "exec", "Command", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(NULL, 5, "exec", "Command", out, sizeof(out)), SG_E_INVAL);
}

static void test_hostile_lengths(void **st)
{
    char out[64];
    uint8_t raw[64];
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    const uint8_t one_over[] = {0, 0, 0, 3, 'a', 'b'};
    const uint8_t exact[] = {0, 0, 0, 2, 'a', 'b'};
    const uint8_t big_mid[] = {0, 0, 0, 1, 'a', 0x80, 0, 0, 0, 'x'};
    assert_int_equal(sg_param_get(huge, sizeof(huge), "exec", "Command", out, sizeof(out)),
                     SG_E_INVAL);
    assert_int_equal(sg_param_get_bytes(huge, sizeof(huge), "exec", "Command", raw, sizeof(raw)),
                     SG_E_INVAL);
    assert_int_equal(sg_param_get(one_over, sizeof(one_over), "exec", "Command", out, sizeof(out)),
                     SG_E_INVAL);
    assert_int_equal(sg_param_get(exact, sizeof(exact), "exec", "Command", out, sizeof(out)), 2);
    assert_int_equal(sg_param_get(big_mid, sizeof(big_mid), "env", "VariableValue", out,
                                  sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(huge, sizeof(huge), NULL, "%m", out, sizeof(out)), SG_E_INVAL);
    assert_int_equal(sg_param_get(huge, sizeof(huge), NULL, "%sb", out, sizeof(out)), SG_E_INVAL);
    /* trailing garbage after the known fields is ignored */
    assert_int_equal(sg_param_get(big_mid, sizeof(big_mid), "exec", "Command", out, sizeof(out)),
                     1);
}

static void test_out_too_small(void **st)
{
    struct pb b = {0};
    char out[16];
    uint8_t raw[16];
    add(&b, "s", "hello");
    add(&b, "i", "123456");
    add(&b, "sb", "0102030405");
    add(&b, "m", "-123456789");
    add(&b, "f", "True");
    /* text needs len + 1 */
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s", out, 5), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s", out, 6), 5);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i", out, 6), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i", out, 7), 6);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb", out, 10), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb", out, 11), 10);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m", out, 10), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m", out, 11), 10);
    assert_string_equal(out, "-123456789");
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m,f", out, 4), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m,f", out, 0), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m,f", NULL, 0), SG_E_LIMIT);
    assert_int_equal(sg_param_get(b.buf, b.len, NULL, "%s,i,sb,m,f", NULL, 4), SG_E_INVAL);
    /* bytes need exactly len */
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s", raw, 4), SG_E_LIMIT);
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s", raw, 5), 5);
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s,i", raw, 3), SG_E_LIMIT);
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s,i", NULL, 0), SG_E_LIMIT);
    assert_int_equal(sg_param_get_bytes(b.buf, b.len, NULL, "%s,i", NULL, 4), SG_E_INVAL);
}

static void test_set_capacity(void **st)
{
    uint8_t buf[8];
    size_t len = 0;
    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "s", "abcd"), 8);
    assert_int_equal(len, 8);
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "b", "1"), SG_E_LIMIT);
    assert_int_equal(len, 8);
    len = 5;
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "i", "1"), SG_E_LIMIT);
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "s", ""), SG_E_LIMIT);
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "sb", "01"), SG_E_LIMIT);
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "m", "0x80"), SG_E_LIMIT);
    assert_int_equal(len, 5);
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "m", "0"), SG_E_LIMIT);
    len = 4;
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "m", "0"), 8);
    len = 9; /* *len > cap */
    assert_int_equal(sg_param_set(buf, &len, sizeof(buf), "b", "1"), SG_E_INVAL);
    len = 0;
    assert_int_equal(sg_param_set(NULL, &len, 0, "b", "1"), SG_E_LIMIT);
    assert_int_equal(sg_param_set(NULL, &len, 4, "b", "1"), SG_E_INVAL);
    /* an mpint beyond the cap */
    {
        static char big[SG_PARAM_MPINT_MAX * 3 + 8];
        static uint8_t huge[SG_PARAM_MPINT_MAX * 2];
        size_t hl = 0;
        memset(big, '9', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(sg_param_set(huge, &hl, sizeof(huge), "m", big), SG_E_LIMIT);
        big[5000] = '\0'; /* 5000 digits: about 2077 bytes > 2048 */
        assert_int_equal(sg_param_set(huge, &hl, sizeof(huge), "m", big), SG_E_LIMIT);
        assert_int_equal(hl, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_s),
        cmocka_unit_test(test_type_s_embedded_nul),
        cmocka_unit_test(test_type_sb),
        cmocka_unit_test(test_type_i),
        cmocka_unit_test(test_type_l),
        cmocka_unit_test(test_type_b),
        cmocka_unit_test(test_type_f),
        cmocka_unit_test(test_type_m_rfc_vectors),
        cmocka_unit_test(test_type_m_big_round_trip),
        cmocka_unit_test(test_type_m_too_long),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_pty_req),
        cmocka_unit_test(test_x11_req),
        cmocka_unit_test(test_simple_requests),
        cmocka_unit_test(test_tcpip),
        cmocka_unit_test(test_all_known_fields),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_out_too_small),
        cmocka_unit_test(test_set_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
