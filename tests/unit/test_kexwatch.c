/* Unit tests of core/kexwatch.c: the strict-kex "KEXINIT first" rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "kexwatch.h"

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* An unencrypted binary packet (4-byte length, padding length, payload,
 * padding) around payload[0..n). */
static size_t packet(uint8_t *out, const uint8_t *payload, size_t n)
{
    size_t pad = 8 - (5 + n) % 8;
    if (pad < 4)
        pad += 8;
    size_t len = 1 + n + pad;
    size_t o = put32(out, (uint32_t)len);
    out[o++] = (uint8_t)pad;
    memcpy(out + o, payload, n);
    o += n;
    memset(out + o, 0, pad);
    return o + pad;
}

static size_t kexinit(uint8_t *out, const char *kex)
{
    uint8_t pl[1024];
    size_t o = 0;
    pl[o++] = 20;
    memset(pl + o, 0xab, 16);
    o += 16;
    const char *lists[10] = {kex,
                             "ssh-ed25519",
                             "aes128-ctr",
                             "aes128-ctr",
                             "hmac-sha2-256",
                             "hmac-sha2-256",
                             "none",
                             "none",
                             "",
                             ""};
    for (int i = 0; i < 10; i++) {
        size_t l = strlen(lists[i]);
        o += put32(pl + o, (uint32_t)l);
        memcpy(pl + o, lists[i], l);
        o += l;
    }
    pl[o++] = 0;
    o += put32(pl + o, 0);
    return packet(out, pl, o);
}

static size_t ignore(uint8_t *out, size_t datalen)
{
    static uint8_t pl[8192];
    pl[0] = 2; /* SSH_MSG_IGNORE */
    put32(pl + 1, (uint32_t)datalen);
    memset(pl + 5, 'x', datalen);
    return packet(out, pl, 5 + datalen);
}

#define STRICT "curve25519-sha256,kex-strict-c-v00@openssh.com"
#define LAX "curve25519-sha256,ext-info-c"

static uint8_t stream[32768];

static size_t build(const char *pre, size_t n_ignore, size_t ignore_len, const char *kex)
{
    size_t o = strlen(pre);
    memcpy(stream, pre, o);
    for (size_t i = 0; i < n_ignore; i++)
        o += ignore(stream + o, ignore_len);
    o += kexinit(stream + o, kex);
    memcpy(stream + o, "\x00\x00\x00\x0c trailing", 13); /* next packet's bytes */
    return o + 13;
}

/* The verdict for the stream fed whole, and fed in pieces of every size
 * from 1 to 64 bytes: always the same. */
static enum sg_kexwatch_result verdict(size_t n)
{
    struct sg_kexwatch w;
    sg_kexwatch_init(&w);
    enum sg_kexwatch_result whole = sg_kexwatch_feed(&w, stream, n);
    for (size_t step = 1; step <= 64; step++) {
        sg_kexwatch_init(&w);
        enum sg_kexwatch_result r = SG_KEXWATCH_MORE;
        for (size_t i = 0; i < n && r == SG_KEXWATCH_MORE; i += step)
            r = sg_kexwatch_feed(&w, stream + i, n - i < step ? n - i : step);
        if (r != whole)
            print_error("step %zu: %d, whole: %d\n", step, r, whole);
        assert_int_equal(r, whole);
    }
    return whole;
}

static void test_kexinit_first_is_fine(void **state)
{
    assert_int_equal(verdict(build("SSH-2.0-client\r\n", 0, 0, STRICT)), SG_KEXWATCH_DONE);
    assert_int_equal(verdict(build("SSH-2.0-client\r\n", 0, 0, LAX)), SG_KEXWATCH_DONE);
}

static void test_strict_client_with_packet_before_kexinit(void **state)
{
    assert_int_equal(verdict(build("SSH-2.0-client\r\n", 1, 8, STRICT)), SG_KEXWATCH_VIOLATION);
    assert_int_equal(verdict(build("SSH-2.0-client\n", 3, 5000, STRICT)), SG_KEXWATCH_VIOLATION);
    /* the strict marker anywhere in the list */
    assert_int_equal(
        verdict(build("SSH-2.0-c\r\n", 1, 0, "kex-strict-c-v00@openssh.com,curve25519-sha256")),
        SG_KEXWATCH_VIOLATION);
}

static void test_lax_client_may_send_packets_first(void **state)
{
    assert_int_equal(verdict(build("SSH-2.0-client\r\n", 2, 100, LAX)), SG_KEXWATCH_DONE);
    /* a name that merely contains the marker is not the marker */
    assert_int_equal(
        verdict(build("SSH-2.0-c\r\n", 1, 0, "curve25519-sha256,kex-strict-c-v00@openssh.com-not")),
        SG_KEXWATCH_DONE);
}

static void test_lines_before_version(void **state)
{
    assert_int_equal(verdict(build("hello\r\nworld\nSSH-2.0-c\r\n", 1, 10, STRICT)),
                     SG_KEXWATCH_VIOLATION);
}

static void test_not_a_packet_is_left_to_libssh(void **state)
{
    struct sg_kexwatch w;
    sg_kexwatch_init(&w);
    const uint8_t bad[] = "SSH-2.0-c\r\n\xff\xff\xff\xff\x05\x14";
    assert_int_equal(sg_kexwatch_feed(&w, bad, sizeof(bad) - 1), SG_KEXWATCH_DONE);
    sg_kexwatch_init(&w);
    const uint8_t tiny[] = "SSH-2.0-c\r\n\x00\x00\x00\x01\x05";
    assert_int_equal(sg_kexwatch_feed(&w, tiny, sizeof(tiny) - 1), SG_KEXWATCH_DONE);
    /* an endless version line */
    sg_kexwatch_init(&w);
    uint8_t junk[10000];
    memset(junk, 'a', sizeof(junk));
    assert_int_equal(sg_kexwatch_feed(&w, junk, sizeof(junk)), SG_KEXWATCH_DONE);
    /* nothing yet */
    sg_kexwatch_init(&w);
    assert_int_equal(sg_kexwatch_feed(&w, (const uint8_t *)"SSH-2.0-", 8), SG_KEXWATCH_MORE);
}

static void test_short_kexinit_cannot_be_judged(void **state)
{
    /* a KEXINIT too short to hold a kex list, after an IGNORE: no verdict */
    size_t o = strlen("SSH-2.0-c\r\n");
    memcpy(stream, "SSH-2.0-c\r\n", o);
    o += ignore(stream + o, 4);
    const uint8_t pl[] = {20, 1, 2, 3};
    o += packet(stream + o, pl, sizeof(pl));
    assert_int_equal(verdict(o), SG_KEXWATCH_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kexinit_first_is_fine),
        cmocka_unit_test(test_strict_client_with_packet_before_kexinit),
        cmocka_unit_test(test_lax_client_may_send_packets_first),
        cmocka_unit_test(test_lines_before_version),
        cmocka_unit_test(test_not_a_packet_is_left_to_libssh),
        cmocka_unit_test(test_short_kexinit_cannot_be_judged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
