/* test_usercert.c — unit tests of OpenSSH user certificates in
 * plugins/auth-file: the parser and checks (usercert.c) and the OpenSSL
 * verifier (usercert_verify.c) on real certificates made by ssh-keygen and
 * on certificates built and signed here (OpenSSL keys made at setup), every
 * truncation and a bit flip of a real one; cert-authority / principals= in
 * authorized_keys lines; the source-address matcher; and the plugin's
 * decisions for certificates (users_file, authorized_keys_dir,
 * trusted_user_ca_keys) against a fake host table.
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
#include "usercert.h"

#include <plugin.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- real certificates (ssh-keygen, OpenSSH 9.2) ---------------------------------
 * CA keys, and certificates of one user key (U_ED) made with
 *   ssh-keygen -s ca_ed  -I real-ed  -n alice,ops -V always:forever
 *   ssh-keygen -s ca_ec  -I real-ec  -n alice -V always:forever -O no-pty
 *              -O force-command=/bin/true                       (nistp384 CA)
 *   ssh-keygen -s ca_rsa -I real-rsa -n alice -V 20200101:20300101
 *              -O source-address=127.0.0.1/32,10.0.0.0/8         (rsa-sha2-512) */
#define CA_ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINofWhkYxKWNzgzyR5n1EzWeIp9oH41fvvviJ96d46uN"
#define CA_EC                                                                                      \
    "ecdsa-sha2-nistp384 "                                                                         \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBBmULnyyRodJZ/V5dXINGORZEEz4qjbHsyZpOF9L" \
    "ZFsiOK+6IYx3T/cx2b9izCa1vgJGDNDL3a4u79Ya31zdcYAl/yMmnZ35MhlTH7+gmIKrb1tJQqkICd39zH1iwO+0Eg=="
#define CA_RSA                                                                                     \
    "ssh-rsa "                                                                                     \
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDPk6bN1nJfVtIt7GOW60WPh0KrdXJy2aYOi4K8SEVMbzvxdUOkPyKXHthmItWs" \
    "tYI0ihyELClg/qYpaCSjZlGBzTYeHFUyY/mpKGT84TpC3NqRYB5vQ2GYIL6CssVKFd/QCIuSv9snFn+/X5+awjyQwVuh" \
    "HhXCHjL1WiXm88z091Tj7ZHLpM/cvEHfp/lQ/Mx64kdY31Zda+JaLnmHHJqxDIP4pe2EFn4zbKCF47B4y9UbJRVdk0Ee" \
    "OiZR+3V6TMqa4P9nTYdhuJojDpCVfp3h0M0R6ROfJmFwCjk/jgC1oN2j7Qc6yEXkMtxWHTnq7ANhc5pjsMt6ym72aJ7h" \
    "ynch"
#define U_ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1CvIyeWIK9aluGWlEDUQdl2tbuZayhjsj/HMgkqv/u"
#define CERT_ED                                                                                    \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIFvthh9EANHQw72krnjjeBuN6WKzVpfIqMB8wlgP" \
    "wYPDAAAAIJ1CvIyeWIK9aluGWlEDUQdl2tbuZayhjsj/HMgkqv/uAAAAAAAAAAAAAAABAAAAB3JlYWwtZWQAAAAQAAAA" \
    "BWFsaWNlAAAAA29wcwAAAAAAAAAA//////////8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAA" \
    "F3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQt" \
    "cHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDaH1oZGMSljc4M8keZ" \
    "9RM1niKfaB+NX7774ifeneOrjQAAAFMAAAALc3NoLWVkMjU1MTkAAABAmwZ6xH5u7hTQS5DpJOr8Q6B1g+OzfCY/DOH4" \
    "J6V26mLkAHpy3Z4EqntI4hmV4MMegZ/TEJtdN6sy+eH0u9FRDQ=="
#define CERT_EC                                                                                    \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIAl3BbZTUyHnb8xEM5bo8wzJOsfGXvmD5A2QKiaz" \
    "lo8HAAAAIJ1CvIyeWIK9aluGWlEDUQdl2tbuZayhjsj/HMgkqv/uAAAAAAAAAAAAAAABAAAAB3JlYWwtZWMAAAAJAAAA" \
    "BWFsaWNlAAAAAAAAAAD//////////wAAACIAAAANZm9yY2UtY29tbWFuZAAAAA0AAAAJL2Jpbi90cnVlAAAAcAAAABVw" \
    "ZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9y" \
    "dC1mb3J3YXJkaW5nAAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAiAAAABNlY2RzYS1zaGEyLW5pc3RwMzg0" \
    "AAAACG5pc3RwMzg0AAAAYQQZlC58skaHSWf1eXVyDRjkWRBM+Ko2x7MmaThfS2RbIjivuiGMd0/3Mdm/Yswmtb4CRgzQ" \
    "y92uLu/WGt9c3XGAJf8jJp2d+TIZUx+/oJiCq29bSUKpCAnd/cx9YsDvtBIAAACEAAAAE2VjZHNhLXNoYTItbmlzdHAz" \
    "ODQAAABpAAAAMQDanaL9RnhsqTKH+0edvo+8X60jKdaV33+QiLttqZ+OHndXgm7h0gC1SvktT4CvKnUAAAAwV665mj40" \
    "uM/KGBYp5W36G4gp81j2pQc5pLVzIj6Pxjv3+YxJ3udA7n7o4VCYTaoE"
#define CERT_RSA                                                                                   \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIJy1u9ab7aVN3RqgwTC7dYE2ebaTQxMVyZv9zJlq" \
    "muNzAAAAIJ1CvIyeWIK9aluGWlEDUQdl2tbuZayhjsj/HMgkqv/uAAAAAAAAAAAAAAABAAAACHJlYWwtcnNhAAAACQAA" \
    "AAVhbGljZQAAAABeC+EAAAAAAHDb2IAAAAAxAAAADnNvdXJjZS1hZGRyZXNzAAAAGwAAABcxMjcuMC4wLjEvMzIsMTAu" \
    "MC4wLjAvOAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAA" \
    "AAAAAAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMA" \
    "AAAAAAAAAAAAARcAAAAHc3NoLXJzYQAAAAMBAAEAAAEBAM+Tps3Wcl9W0i3sY5brRY+HQqt1cnLZpg6LgrxIRUxvO/F1" \
    "Q6Q/Ipce2GYi1ay1gjSKHIQsKWD+piloJKNmUYHNNh4cVTJj+akoZPzhOkLc2pFgHm9DYZggvoKyxUoV39AIi5K/2ycW" \
    "f79fn5rCPJDBW6EeFcIeMvVaJebzzPT3VOPtkcukz9y8Qd+n+VD8zHriR1jfVl1r4loueYccmrEMg/il7YQWfjNsoIXj" \
    "sHjL1RslFV2TQR46JlH7dXpMyprg/2dNh2G4miMOkJV+neHQzRHpE58mYXAKOT+OALWg3aPtBzrIReQy3FYdOersA2Fz" \
    "mmOwy3rKbvZonuHKdyEAAAEUAAAADHJzYS1zaGEyLTUxMgAAAQCaPwUqqrPW9do7v1t+AtHbWqEr8snRxBV5a/bPPTTH" \
    "S3DHy3zENzzbySY1FXdrd/V3WkFT5dMwWPUgs1hEAKmwZ5pKtt6RiA1l+5RN1pxGE56D31z1t5QdJ1ZZaWnn1Ed4YBFM" \
    "ailTqUxwD6ZHQ3w3RAT2NYk0WndFt7Gs1ru8aL//JfiyF28XB8LvSrfTWnbz05AyMKk6UVJtGhopt7aC1VdIVqtrIWsc" \
    "nQzmXj4cfyqGN6c5rRlQmNO5+nI0UOezgCZ+3ZHeprajYcuRxjodpkSOYtvKnn6SGh7P5cTq8df7UZlSB1a3Tbbl5op9" \
    "ZlRLG5Gux8rOpOMtoedKf2rF"

#define NOW 1700000000 /* 2023-11-14: inside CERT_RSA's window */
#define PEER "127.0.0.1"

static int parse_text(const char *text, struct uc_cert *c, char *why, size_t whylen)
{
    return uc_parse_text(text, strlen(text), c, why, whylen);
}

static struct ak_key anchor(const char *line)
{
    struct ak_key k;
    char err[200];
    assert_int_equal(ak_parse_line_ex(line, strlen(line), AK_ALLOW_CA, &k, err, sizeof err), AK_OK);
    return k;
}

/* ---- real certificates ---------------------------------------------------- */

static void test_real_ed25519(void **s)
{
    struct uc_cert c;
    char why[300];
    assert_int_equal(parse_text(CERT_ED " u_ed.pub", &c, why, sizeof why), 0);
    assert_string_equal(c.type, "ssh-ed25519-cert-v01@openssh.com");
    assert_int_equal(c.cert_type, UC_TYPE_USER);
    assert_string_equal(c.key_id, "real-ed");
    assert_int_equal(c.n_principals, 2);
    assert_string_equal(c.principals[1], "ops");
    assert_true(c.valid_after == 0 && c.valid_before == UINT64_MAX);
    assert_true(c.permit_pty && c.permit_port_forwarding);
    assert_null(c.force_command);
    assert_null(c.source_address);
    assert_string_equal(c.ca.type, "ssh-ed25519");
    assert_int_equal(uc_check(&c, PEER, NOW, why, sizeof why), 1);
    assert_int_equal(uc_verify_signature(&c, why, sizeof why), 1);
    assert_true(uc_has_principal(&c, "alice") && uc_has_principal(&c, "ops"));
    assert_false(uc_has_principal(&c, "al"));

    /* trust: the CA line vouches; the user key itself or another key does not */
    struct ak_key ca = anchor("cert-authority " CA_ED), plain = anchor(CA_ED),
                  other = anchor("cert-authority " CA_EC), user = anchor(U_ED);
    assert_true(uc_signed_by(&c, &ca));
    assert_int_equal(uc_vouches(&ca, true, &c, "alice", PEER, NOW, why, sizeof why), 1);
    assert_int_equal(uc_vouches(&ca, true, &c, "bob", PEER, NOW, why, sizeof why), 0);
    assert_non_null(strstr(why, "\"bob\" is not a principal"));
    assert_int_equal(uc_vouches(&plain, true, &c, "alice", PEER, NOW, why, sizeof why), 0);
    assert_string_equal(why, ""); /* not a CA line: simply not an anchor */
    assert_int_equal(uc_vouches(&plain, false, &c, "alice", PEER, NOW, why, sizeof why), 1);
    assert_int_equal(uc_vouches(&other, true, &c, "alice", PEER, NOW, why, sizeof why), 0);
    assert_string_equal(why, "");
    assert_int_equal(uc_vouches(&user, false, &c, "alice", PEER, NOW, why, sizeof why), 0);
    ak_key_clear(&ca);
    ak_key_clear(&plain);
    ak_key_clear(&other);
    ak_key_clear(&user);

    /* principals= replaces the user name; the line's from= applies */
    ca = anchor("cert-authority,principals=\"admins,ops\" " CA_ED);
    assert_int_equal(uc_vouches(&ca, true, &c, "carol", PEER, NOW, why, sizeof why), 1);
    ak_key_clear(&ca);
    ca = anchor("cert-authority,principals=\"alice2,admins\" " CA_ED);
    assert_int_equal(uc_vouches(&ca, true, &c, "alice", PEER, NOW, why, sizeof why), 0);
    assert_non_null(strstr(why, "principals=\"alice2,admins\""));
    ak_key_clear(&ca);
    ca = anchor("from=\"10.0.0.0/8\",cert-authority,expiry-time=\"20300101\" " CA_ED);
    assert_int_equal(uc_vouches(&ca, true, &c, "alice", PEER, NOW, why, sizeof why), 0);
    assert_non_null(strstr(why, "from="));
    assert_int_equal(uc_vouches(&ca, true, &c, "alice", "10.1.1.1", NOW, why, sizeof why), 1);
    assert_int_equal(uc_vouches(&ca, true, &c, "alice", "10.1.1.1", 1900000000, why, sizeof why),
                     0); /* the line's expiry-time */
    ak_key_clear(&ca);

    char fp[64];
    uc_ca_fingerprint(&c, fp, sizeof fp);
    assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
    assert_int_equal(strlen(fp), 7 + 43);
    uc_cert_clear(&c);
}

static void test_real_ecdsa_restrictions(void **s)
{
    struct uc_cert c;
    char why[300];
    assert_int_equal(parse_text(CERT_EC, &c, why, sizeof why), 0);
    assert_string_equal(c.ca.type, "ecdsa-sha2-nistp384");
    assert_string_equal(c.force_command, "/bin/true");
    assert_false(c.permit_pty);
    assert_true(c.permit_port_forwarding);
    assert_int_equal(uc_check(&c, PEER, NOW, why, sizeof why), 1);
    assert_int_equal(uc_verify_signature(&c, why, sizeof why), 1);

    /* restrictions add up with the line's */
    struct ak_restrict r = {0};
    assert_int_equal(uc_restrict_add(&r, &c, why, sizeof why), AK_OK);
    assert_int_equal(r.flags, AK_RESTRICT_PTY);
    assert_string_equal(r.command, "/bin/true");
    assert_int_equal(uc_restrict_add(&r, &c, why, sizeof why), AK_OK); /* same command: fine */
    free(r.command);
    r.command = strdup("/bin/other");
    assert_int_equal(uc_restrict_add(&r, &c, why, sizeof why), AK_ERR_OPTION);
    assert_non_null(strstr(why, "differs"));
    ak_restrict_clear(&r);
    uc_cert_clear(&c);
}

static void test_real_rsa_window_and_source(void **s)
{
    struct uc_cert c;
    char why[300];
    assert_int_equal(parse_text(CERT_RSA, &c, why, sizeof why), 0);
    assert_string_equal(c.ca.type, "ssh-rsa");
    assert_string_equal(c.source_address, "127.0.0.1/32,10.0.0.0/8");
    assert_int_equal(c.valid_after, 1577836800);  /* 2020-01-01 */
    assert_int_equal(c.valid_before, 1893456000); /* 2030-01-01 */
    assert_int_equal(uc_check(&c, PEER, NOW, why, sizeof why), 1);
    assert_int_equal(uc_verify_signature(&c, why, sizeof why), 1);
    assert_int_equal(uc_check(&c, "10.9.8.7", NOW, why, sizeof why), 1);
    assert_int_equal(uc_check(&c, "::ffff:10.9.8.7", NOW, why, sizeof why), 1);
    assert_int_equal(uc_check(&c, "127.0.0.2", NOW, why, sizeof why), 0);
    assert_non_null(strstr(why, "127.0.0.2 is not in source-address"));
    assert_int_equal(uc_check(&c, PEER, 1577836800, why, sizeof why), 1); /* first second */
    assert_int_equal(uc_check(&c, PEER, 1577836799, why, sizeof why), 0);
    assert_non_null(strstr(why, "not valid yet (valid after 2020-01-01 00:00:00Z)"));
    assert_int_equal(uc_check(&c, PEER, 1893456000, why, sizeof why), 0); /* valid_before */
    assert_non_null(strstr(why, "expired"));

    /* the fingerprint ssh-keygen -l shows for ca_rsa */
    char fp[64];
    uc_ca_fingerprint(&c, fp, sizeof fp);
    assert_string_equal(fp, "SHA256:9nGlvrZk+VfKtW3pDaBOmuPixVEgrXI7Zl0BfKqcFhE");
    uc_cert_clear(&c);
}

/* Decode a real certificate's blob for byte-level abuse. */
static size_t real_blob(const char *text, uint8_t *out, size_t cap)
{
    const char *b64 = strchr(text, ' ') + 1;
    long n = ak_base64_decode(b64, strlen(b64), out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_real_truncated_and_flipped(void **s)
{
    static const char *const certs[] = {CERT_ED, CERT_EC, CERT_RSA};
    uint8_t blob[4096], copy[4097];
    char why[300];
    struct uc_cert c;
    for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
        size_t n = real_blob(certs[i], blob, sizeof blob);
        /* every shorter prefix is refused, and so is one byte more */
        for (size_t len = 0; len < n; len++)
            assert_int_equal(uc_parse(blob, len, &c, why, sizeof why), -1);
        memcpy(copy, blob, n);
        copy[n] = 0;
        assert_int_equal(uc_parse(copy, n + 1, &c, why, sizeof why), -1);
        assert_non_null(strstr(why, "after the signature"));
        /* a flipped bit anywhere: refused by the parser or by the checks */
        for (size_t pos = 0; pos < n; pos++) {
            memcpy(copy, blob, n);
            copy[pos] ^= 0x01;
            if (uc_parse(copy, n, &c, why, sizeof why) == 0) {
                int ok = uc_check(&c, PEER, NOW, why, sizeof why) &&
                         uc_verify_signature(&c, why, sizeof why);
                /* the nonce's bits are signed too; only the reserved field
                 * is empty here, so every accepted flip is a bug */
                if (ok)
                    fail_msg("flip at %zu of cert %zu accepted", pos, i);
                uc_cert_clear(&c);
            }
        }
    }
}

/* ---- certificates built here ------------------------------------------------ */

struct buf {
    uint8_t d[20000];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}
static void put_u64(struct buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}
static void put_str(struct buf *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    put(b, p, n);
}
static void put_cstr(struct buf *b, const char *s)
{
    put_str(b, s, strlen(s));
}
static void put_buf(struct buf *b, const struct buf *inner)
{
    put_str(b, inner->d, inner->n);
}
static void put_bn(struct buf *b, const BIGNUM *bn)
{
    uint8_t x[1100];
    int n = BN_bn2bin(bn, x + 1);
    x[0] = 0;
    if (n > 0 && (x[1] & 0x80))
        put_str(b, x, (size_t)n + 1);
    else
        put_str(b, x + 1, (size_t)n);
}

struct ca {
    EVP_PKEY *pkey;
    const char *type;
    const char *sig_format; /* the natural one */
    const char *digest;
    struct buf blob;
};
static struct ca ca_ed, ca_p256, ca_p521, ca_rsa, ca_rsa_short;

static void ca_blob(struct ca *ca)
{
    struct buf *b = &ca->blob;
    b->n = 0;
    put_cstr(b, ca->type);
    if (strcmp(ca->type, "ssh-ed25519") == 0) {
        uint8_t pk[32];
        size_t len = sizeof pk;
        assert_int_equal(EVP_PKEY_get_raw_public_key(ca->pkey, pk, &len), 1);
        put_str(b, pk, len);
    } else if (strncmp(ca->type, "ecdsa", 5) == 0) {
        uint8_t pt[200];
        size_t len = 0;
        put_cstr(b, ca->type + strlen("ecdsa-sha2-"));
        assert_int_equal(EVP_PKEY_get_octet_string_param(ca->pkey, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                                         sizeof pt, &len),
                         1);
        put_str(b, pt, len);
    } else {
        BIGNUM *n = NULL, *e = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(ca->pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(ca->pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
        put_bn(b, e);
        put_bn(b, n);
        BN_free(n);
        BN_free(e);
    }
}

static void ca_make(struct ca *ca, const char *type, EVP_PKEY *pkey, const char *fmt,
                    const char *digest)
{
    assert_non_null(pkey);
    ca->pkey = pkey;
    ca->type = type;
    ca->sig_format = fmt;
    ca->digest = digest;
    ca_blob(ca);
}

static int setup_cas(void **s)
{
    ca_make(&ca_ed, "ssh-ed25519", EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "ssh-ed25519", NULL);
    ca_make(&ca_p256, "ecdsa-sha2-nistp256", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
            "ecdsa-sha2-nistp256", "SHA256");
    ca_make(&ca_p521, "ecdsa-sha2-nistp521", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
            "ecdsa-sha2-nistp521", "SHA512");
    ca_make(&ca_rsa, "ssh-rsa", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "rsa-sha2-256",
            "SHA256");
    ca_make(&ca_rsa_short, "ssh-rsa", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768),
            "rsa-sha2-512", "SHA512");
    return 0;
}

static int teardown_cas(void **s)
{
    EVP_PKEY_free(ca_ed.pkey);
    EVP_PKEY_free(ca_p256.pkey);
    EVP_PKEY_free(ca_p521.pkey);
    EVP_PKEY_free(ca_rsa.pkey);
    EVP_PKEY_free(ca_rsa_short.pkey);
    return 0;
}

/* The SSH signature blob of `msg` by ca, in `format` with `digest`. */
static void sign(const struct ca *ca, const char *format, const char *digest, const uint8_t *msg,
                 size_t len, struct buf *out)
{
    uint8_t sig[1200];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, digest, NULL, NULL, ca->pkey, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, len), 1);
    EVP_MD_CTX_free(ctx);
    out->n = 0;
    put_cstr(out, format);
    if (strncmp(ca->type, "ecdsa", 5) != 0) {
        put_str(out, sig, siglen);
        return;
    }
    const uint8_t *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    assert_non_null(es);
    struct buf rs = {.n = 0};
    put_bn(&rs, ECDSA_SIG_get0_r(es));
    put_bn(&rs, ECDSA_SIG_get0_s(es));
    ECDSA_SIG_free(es);
    put_buf(out, &rs);
}

struct opt {
    const char *name;
    const char *value; /* NULL: empty data (a flag) */
};

struct spec {
    const char *type;
    uint32_t cert_type;
    const char *principals[300]; /* NULL-terminated */
    uint64_t after, before;
    struct opt critical[4], ext[4]; /* name NULL ends */
    const struct ca *ca;
    const char *sig_format; /* NULL: the CA's natural one */
    const char *digest;
    const struct buf *ca_blob; /* NULL: the CA's */
    const char *reserved;
};

static struct spec spec_default(void)
{
    struct spec s = {.type = "ssh-ed25519-cert-v01@openssh.com",
                     .cert_type = UC_TYPE_USER,
                     .principals = {"alice"},
                     .after = 0,
                     .before = UINT64_MAX,
                     .ext = {{"permit-pty", NULL}, {"permit-port-forwarding", NULL}},
                     .ca = &ca_ed,
                     .reserved = ""};
    return s;
}

static void put_options(struct buf *b, const struct opt *o, bool critical)
{
    struct buf list = {.n = 0};
    for (; o->name; o++) {
        put_cstr(&list, o->name);
        struct buf data = {.n = 0};
        if (o->value && critical)
            put_cstr(&data, o->value);
        else if (o->value)
            put(&data, o->value, strlen(o->value));
        put_buf(&list, &data);
    }
    put_buf(b, &list);
}

static void build(const struct spec *s, struct buf *out)
{
    static const uint8_t inner_pk[32] = {1, 2, 3};
    out->n = 0;
    put_cstr(out, s->type);
    put_cstr(out, "0123456789abcdef0123456789abcdef"); /* nonce */
    put_str(out, inner_pk, sizeof inner_pk);
    put_u64(out, 42);
    put_u32(out, s->cert_type);
    put_cstr(out, "built");
    struct buf pr = {.n = 0};
    for (size_t i = 0; s->principals[i]; i++)
        put_cstr(&pr, s->principals[i]);
    put_buf(out, &pr);
    put_u64(out, s->after);
    put_u64(out, s->before);
    put_options(out, s->critical, true);
    put_options(out, s->ext, false);
    put_cstr(out, s->reserved);
    put_buf(out, s->ca_blob ? s->ca_blob : &s->ca->blob);
    struct buf sig;
    sign(s->ca, s->sig_format ? s->sig_format : s->ca->sig_format,
         s->sig_format ? s->digest : s->ca->digest, out->d, out->n, &sig);
    put_buf(out, &sig);
}

/* Build, parse, check and verify: 1 accepted, 0 refused by uc_check or
 * uc_verify_signature, -1 by uc_parse. */
static int judge(const struct spec *s, char *why, size_t whylen)
{
    struct buf b;
    struct uc_cert c;
    build(s, &b);
    if (uc_parse(b.d, b.n, &c, why, whylen) != 0)
        return -1;
    int ok = uc_check(&c, PEER, NOW, why, whylen) && uc_verify_signature(&c, why, whylen);
    uc_cert_clear(&c);
    return ok;
}

#define ASSERT_JUDGED(spec, expect, text)                                                          \
    do {                                                                                           \
        char why_[300] = "";                                                                       \
        int got_ = judge(&(spec), why_, sizeof why_);                                              \
        if (got_ != (expect) || !strstr(why_, (text)))                                             \
            fail_msg("line %d: judged %d (%s), expected %d (%s)", __LINE__, got_, why_, (expect),  \
                     (text));                                                                      \
    } while (0)

static void test_built_signatures(void **s)
{
    struct spec sp = spec_default();
    ASSERT_JUDGED(sp, 1, "");
    sp.ca = &ca_p256;
    ASSERT_JUDGED(sp, 1, "");
    sp.ca = &ca_p521;
    ASSERT_JUDGED(sp, 1, "");
    sp.ca = &ca_rsa;
    ASSERT_JUDGED(sp, 1, "");
    sp.sig_format = "rsa-sha2-512";
    sp.digest = "SHA512";
    ASSERT_JUDGED(sp, 1, "");
    sp.sig_format = "ssh-rsa"; /* SHA-1 */
    sp.digest = "SHA1";
    ASSERT_JUDGED(sp, 0, "ssh-rsa (SHA-1)");
    sp.sig_format = "rsa-sha2-512"; /* says 512, signed with 256 */
    sp.digest = "SHA256";
    ASSERT_JUDGED(sp, 0, "does not verify");
    sp.sig_format = "ssh-ed25519"; /* a format that does not fit the key */
    ASSERT_JUDGED(sp, 0, "does not fit the CA key");
    sp.sig_format = "rsa-sha2-1024";
    ASSERT_JUDGED(sp, 0, "unsupported CA signature format");
    sp = spec_default();
    sp.ca = &ca_p256;
    sp.sig_format = "ecdsa-sha2-nistp384"; /* the wrong curve's format */
    sp.digest = "SHA384";
    ASSERT_JUDGED(sp, 0, "does not fit the CA key");
    sp = spec_default();
    sp.ca = &ca_rsa_short;
    ASSERT_JUDGED(sp, 0, "shorter than 1024 bits");
    /* the signature key in the blob is not the one that signed */
    sp = spec_default();
    sp.ca_blob = &ca_p256.blob; /* signed by ca_ed with ssh-ed25519 */
    ASSERT_JUDGED(sp, 0, "does not fit the CA key");
    struct ca other = {.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), .type = "ssh-ed25519"};
    ca_blob(&other);
    sp.ca_blob = &other.blob;
    ASSERT_JUDGED(sp, 0, "CA signature (ssh-ed25519) does not verify");
    EVP_PKEY_free(other.pkey);
}

static void test_built_fields(void **s)
{
    struct spec sp = spec_default();
    sp.cert_type = UC_TYPE_HOST;
    ASSERT_JUDGED(sp, 0, "not a user certificate (type 2: host)");
    sp.cert_type = 7;
    ASSERT_JUDGED(sp, 0, "not a user certificate (type 7)");
    sp = spec_default();
    sp.principals[0] = NULL;
    ASSERT_JUDGED(sp, 0, "names no principals");
    sp.principals[0] = "";
    ASSERT_JUDGED(sp, -1, "principal 1 is empty");
    for (int i = 0; i < UC_MAX_PRINCIPALS; i++)
        sp.principals[i] = "p";
    sp.principals[UC_MAX_PRINCIPALS] = NULL;
    ASSERT_JUDGED(sp, 1, "");
    sp.principals[UC_MAX_PRINCIPALS] = "one too many";
    sp.principals[UC_MAX_PRINCIPALS + 1] = NULL;
    ASSERT_JUDGED(sp, -1, "more than 256 principals");
    sp = spec_default();
    sp.after = NOW;
    sp.before = NOW + 1;
    ASSERT_JUDGED(sp, 1, "");
    sp.after = NOW + 1;
    sp.before = UINT64_MAX;
    ASSERT_JUDGED(sp, 0, "not valid yet");
    sp.after = 0;
    sp.before = NOW;
    ASSERT_JUDGED(sp, 0, "expired");
    sp = spec_default();
    sp.type = "ssh-dss-cert-v01@openssh.com";
    ASSERT_JUDGED(sp, -1, "unsupported certificate type");
    sp.type = "sk-ssh-ed25519-cert-v01@openssh.com";
    ASSERT_JUDGED(sp, -1, "unsupported certificate type");
    sp.type = "ecdsa-sha2-nistp256-cert-v01@openssh.com"; /* but an ed25519 key follows */
    ASSERT_JUDGED(sp, -1, "certified key");
    sp = spec_default();
    sp.reserved = "ignored"; /* OpenSSH ignores the reserved field */
    ASSERT_JUDGED(sp, 1, "");
}

static void test_built_options(void **s)
{
    struct spec sp = spec_default();
    sp.critical[0] = (struct opt){"force-command", "/usr/bin/id"};
    sp.critical[1] = (struct opt){"source-address", "127.0.0.0/8,::1"};
    ASSERT_JUDGED(sp, 1, "");
    sp.critical[1] = (struct opt){"source-address", "10.0.0.0/8"};
    ASSERT_JUDGED(sp, 0, "127.0.0.1 is not in source-address \"10.0.0.0/8\"");
    sp.critical[1] = (struct opt){"source-address", "127.0.0.1/8"}; /* host bits set */
    ASSERT_JUDGED(sp, 0, "malformed source-address");
    sp.critical[1] = (struct opt){"source-address", "127.0.0.*"}; /* no globs here */
    ASSERT_JUDGED(sp, 0, "malformed source-address");
    sp.critical[1] = (struct opt){"source-address", ""};
    ASSERT_JUDGED(sp, -1, "source-address: empty value");
    sp.critical[1] = (struct opt){"verify-required", NULL};
    ASSERT_JUDGED(sp, 0, "unsupported critical option \"verify-required\"");
    sp.critical[1] = (struct opt){"force-command", "/bin/sh"};
    ASSERT_JUDGED(sp, -1, "critical option \"force-command\" given twice");
    sp.critical[1] = (struct opt){NULL, NULL};
    sp.critical[0] = (struct opt){"force-command", NULL}; /* no string inside */
    ASSERT_JUDGED(sp, -1, "force-command: malformed value");

    sp = spec_default();
    sp.ext[0] = (struct opt){"permit-pty", "x"};
    ASSERT_JUDGED(sp, -1, "extension permit-pty carries data");
    sp.ext[0] = (struct opt){"permit-port-forwarding", NULL};
    ASSERT_JUDGED(sp, -1, "extension \"permit-port-forwarding\" given twice");
    sp.ext[0] = (struct opt){"no-touch-required", NULL};
    sp.ext[2] = (struct opt){"vendor@example.com", "anything"}; /* ignored */
    ASSERT_JUDGED(sp, 1, "");

    struct buf b;
    struct uc_cert c;
    char why[200];
    sp = spec_default();
    sp.ext[0] = (struct opt){"permit-X11-forwarding", NULL};
    sp.ext[1] = (struct opt){NULL, NULL};
    build(&sp, &b);
    assert_int_equal(uc_parse(b.d, b.n, &c, why, sizeof why), 0);
    assert_false(c.permit_pty);
    assert_false(c.permit_port_forwarding);
    struct ak_restrict r = {0};
    assert_int_equal(uc_restrict_add(&r, &c, why, sizeof why), AK_OK);
    assert_int_equal(r.flags, AK_RESTRICT_PTY | AK_RESTRICT_PORT_FORWARDING);
    assert_null(r.command);
    uc_cert_clear(&c);
}

static void test_built_ca_keys(void **s)
{
    struct spec sp = spec_default();
    struct buf blob = {.n = 0};
    /* the CA key claims to be a certificate */
    put_cstr(&blob, "ssh-ed25519-cert-v01@openssh.com");
    put(&blob, ca_ed.blob.d + 15, ca_ed.blob.n - 15); /* the key after "ssh-ed25519" */
    sp.ca_blob = &blob;
    ASSERT_JUDGED(sp, -1, "the CA key is itself a certificate");
    blob.n = 0;
    put_cstr(&blob, "ssh-dss");
    put_cstr(&blob, "p");
    sp.ca_blob = &blob;
    ASSERT_JUDGED(sp, -1, "unsupported CA key type \"ssh-dss\"");
    blob = ca_ed.blob;
    put(&blob, "x", 1);
    ASSERT_JUDGED(sp, -1, "CA key: 1 bytes after the key");
    blob.n = ca_ed.blob.n - 1;
    ASSERT_JUDGED(sp, -1, "CA key: malformed ssh-ed25519 key");
    /* RSA with a negative modulus */
    blob.n = 0;
    put_cstr(&blob, "ssh-rsa");
    put_str(&blob, "\x01\x00\x01", 3);
    put_str(&blob, "\x80\x01", 2);
    ASSERT_JUDGED(sp, -1, "CA key: malformed ssh-rsa key");
    /* ECDSA: a curve name that does not match, a point off the curve */
    blob = ca_p256.blob;
    memcpy(blob.d + 4 + 19 + 4, "nistp384", 8);
    ASSERT_JUDGED(sp, -1, "curve name does not match");
    blob = ca_p256.blob;
    blob.d[blob.n - 1] ^= 1;
    sp.ca = &ca_p256;
    ASSERT_JUDGED(sp, 0, "CA key (ecdsa-sha2-nistp256) not usable");
}

static void test_parse_text(void **s)
{
    struct uc_cert c;
    char why[200];
    assert_int_equal(parse_text("ssh-ed25519-cert-v01@openssh.com", &c, why, sizeof why), -1);
    assert_int_equal(parse_text("ssh-ed25519-cert-v01@openssh.com !!!!", &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "base64"));
    /* the type in the text must be the type inside the blob */
    const char *b64 = strchr(CERT_ED, ' ');
    char text[2048];
    snprintf(text, sizeof text, "ecdsa-sha2-nistp256-cert-v01@openssh.com%s", b64);
    assert_int_equal(parse_text(text, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "does not match its type"));
    assert_true(uc_is_cert_type("ssh-rsa-cert-v01@openssh.com", 28));
    assert_false(uc_is_cert_type("ssh-rsa", 7));
    assert_false(uc_is_cert_type("-cert-v01@openssh.com", 21));
    /* too long */
    size_t big = UC_MAX_BLOB * 2;
    char *huge = malloc(big + 40);
    snprintf(huge, big + 40, "ssh-ed25519-cert-v01@openssh.com ");
    memset(huge + strlen(huge), 'A', big);
    huge[33 + big] = '\0';
    assert_int_equal(parse_text(huge, &c, why, sizeof why), -1);
    assert_non_null(strstr(why, "longer than"));
    free(huge);
    assert_int_equal(uc_parse(NULL, 0, &c, why, sizeof why), -1);
}

/* ---- authorized_keys: cert-authority, principals=; source-address lists ------ */

static void test_ak_cert_authority(void **s)
{
    struct ak_key ca = anchor("cert-authority,principals=\"a,b\" " CA_ED " ca"), plain;
    char err[200];
    assert_true(ca.cert_authority);
    assert_string_equal(ca.principals, "a,b");
    assert_int_equal(ak_parse_public_key(CA_ED, strlen(CA_ED), &plain, err, sizeof err), AK_OK);
    /* the same key, but a CA line never lets the key itself in */
    assert_true(ak_key_same(&ca, &plain));
    assert_false(ak_key_authorizes(&ca, &plain));
    assert_true(ak_key_authorizes(&plain, &plain));
    ak_key_clear(&ca);
    ak_key_clear(&plain);
    static const char *const bad[] = {
        "principals=\"a\" " CA_ED,                        /* without cert-authority */
        "cert-authority,principals=\"\" " CA_ED,          /* empty */
        "cert-authority,principals=\"a,,b\" " CA_ED,      /* empty name */
        "cert-authority,principals=\"a,\" " CA_ED,        /* empty name */
        "cert-authority,principals=\"a\",principals=\"b\" " CA_ED,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ak_parse_line_ex(bad[i], strlen(bad[i]), AK_ALLOW_CA, &ca, err, sizeof err),
                         AK_ERR_OPTION);
    /* a caller that does not check certificates (auth-ldap) still skips CA lines */
    static const char *const ca_lines[] = {"cert-authority " CA_ED,
                                           "cert-authority,principals=\"a\" " CA_ED};
    for (size_t i = 0; i < sizeof ca_lines / sizeof ca_lines[0]; i++) {
        assert_int_equal(ak_parse_line(ca_lines[i], strlen(ca_lines[i]), &ca, err, sizeof err),
                         AK_ERR_OPTION);
        assert_non_null(strstr(err, "unsupported option"));
    }
    assert_true(ak_list_has("a,bb,c", "bb"));
    assert_false(ak_list_has("a,bb,c", "b"));
    assert_false(ak_list_has("a,bb,c", ""));

    struct ak_restrict r = {0}, copy = {0};
    ca = anchor("restrict,pty,permitopen=\"h:1\",permitlisten=\"2\",command=\"c\" " CA_ED);
    assert_int_equal(ak_restrict_copy(&copy, &ca.restr), AK_OK);
    assert_int_equal(copy.flags, AK_RESTRICT_PORT_FORWARDING);
    assert_string_equal(copy.open[0], "h:1");
    assert_null(copy.open[1]);
    assert_string_equal(copy.listen[0], "2");
    assert_string_equal(copy.command, "c");
    ak_restrict_clear(&copy);
    assert_int_equal(ak_restrict_copy(&copy, &r), AK_OK);
    assert_false(ak_restrict_any(&copy));
    ak_key_clear(&ca);
}

static void test_cidr_list(void **s)
{
    assert_int_equal(addr_match_cidr_list("10.1.2.3", "10.0.0.0/8"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_cidr_list("10.1.2.3", "192.168.0.0/16,10.1.2.3"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_cidr_list("::ffff:10.1.2.3", "10.0.0.0/8"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_cidr_list("2001:db8::1", "2001:db8::/32"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_cidr_list("2001:db9::1", "2001:db8::/32"), ADDR_MATCH_NO);
    assert_int_equal(addr_match_cidr_list("10.1.2.3", "11.0.0.0/8"), ADDR_MATCH_NO);
    /* malformed anywhere, even after a match: the list is refused */
    static const char *const bad[] = {"10.0.0.0/8,", ",10.0.0.0/8", "10.0.0.0/8,10.*",
                                      "10.0.0.0/8,!11.0.0.0/8", "10.0.0.1/8", "10.0.0.0/33",
                                      "10.0.0.0/", "10.0.0.0/8 ", "host.example", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(addr_match_cidr_list("10.1.2.3", bad[i]), ADDR_MATCH_ERROR);
    assert_int_equal(addr_match_cidr_list("not-an-address", "10.0.0.0/8"), ADDR_MATCH_ERROR);
    /* the from= matcher is unchanged by sharing the CIDR code */
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.0/8"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("10.1.2.3", "10.1.2.3"), ADDR_MATCH_YES);
    assert_int_equal(addr_match_list("10.1.2.3", "10.1.2.*,!10.1.2.3"), ADDR_MATCH_NEGATED);
    assert_int_equal(addr_match_list("10.1.2.3", "10.0.0.1/8"), ADDR_MATCH_ERROR);
}

/* ---- the plugin, against a fake host ------------------------------------------ */

const struct sg_plugin *sg_plugin_entry(unsigned abi_major, unsigned abi_minor);

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char bufs[4][512];
    static int n;
    char *b = bufs[n++ % 4];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    FILE *f = fopen(tpath(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(tpath(name), mode);
}

struct fake_work {
    sg_work_fn work;
    sg_done_fn done;
    void *arg;
};

static struct {
    void *ctx;
    struct fake_work pending[8];
    int n_pending, completed, last_result, n_groups, n_restrict;
    unsigned restrict_flags;
    char force_command[64];
    const char *peer;
    char log[4096];
} fh;

static void fh_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
    size_t used = strlen(fh.log);
    snprintf(fh.log + used, sizeof fh.log - used, "%s\n", line);
}
static int fh_conn_info(sg_conn *conn, struct sg_conn_info *out)
{
    out->peer_address = fh.peer;
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
    fh.n_groups++;
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
    return 1000;
}
static int fh_conn_restrict(sg_conn *conn, const struct sg_restrictions *r)
{
    fh.n_restrict++;
    fh.restrict_flags |= r->flags;
    snprintf(fh.force_command, sizeof fh.force_command, "%s",
             r->force_command ? r->force_command : "");
    return SG_OK;
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
    .queue_work = fh_queue_work,
    .complete = fh_complete,
    .now_ms = fh_now,
    .conn_restrict = fh_conn_restrict,
};

#define CONN ((sg_conn *)0x1)
#define REQ ((sg_request *)0x2)

static const struct sg_plugin *P;
static void *state;

/* One publickey event (signed unless probe); SG_AGAIN resolved by running
 * the work queue. The log of this attempt is left in fh.log. */
static int offer(const char *user, const char *key, bool probe)
{
    struct sg_ev_auth ev = {.size = sizeof ev, .req = REQ, .user = user,
                            .service = "ssh-connection", .method = "publickey", .param = key,
                            .param_len = strlen(key), .key_algorithm = "", .key_fingerprint = "",
                            .is_probe = probe};
    fh.log[0] = '\0';
    fh.n_restrict = 0;
    fh.restrict_flags = 0;
    fh.force_command[0] = '\0';
    int rc = P->on_auth_request(state, CONN, &ev);
    if (rc != SG_AGAIN)
        return rc;
    while (fh.n_pending > 0) {
        struct fake_work w = fh.pending[0];
        memmove(fh.pending, fh.pending + 1, (size_t)(--fh.n_pending) * sizeof w);
        w.work(w.arg);
        w.done(w.arg);
    }
    return fh.last_result;
}

static int setup_plugin(void **s)
{
    memset(&fh, 0, sizeof fh);
    fh.peer = PEER;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_usercert.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    write_file("users.json",
               "{\"users\": {"
               " \"alice\": {\"keys\": [\"cert-authority " CA_ED "\"], \"groups\": [\"g\"]},"
               " \"bob\": {},"
               " \"gone\": {\"keys\": [\"cert-authority " CA_ED "\"], \"disabled\": true}}}",
               0644);
    char d[512];
    snprintf(d, sizeof d, "%s/keys", tmpdir);
    mkdir(d, 0755);
    write_file("keys/carol", "# CA for ops\ncert-authority,principals=\"ops\" " CA_ED "\n", 0600);
    write_file("keys/dan", "cert-authority,restrict " CA_EC "\n", 0600);
    write_file("keys/loose", "cert-authority " CA_ED "\n", 0666); /* writable by others */
    write_file("trusted", "# CAs\n\n" CA_RSA " rsa-ca\n" CA_EC "\n", 0600);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"users_file\": \"%s\", \"authorized_keys_dir\": \"%s/keys\","
             " \"trusted_user_ca_keys\": \"%s\"}",
             tpath("users.json"), tmpdir, tpath("trusted"));
    P = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
    return P && P->init(&fake_host, (const sg_plugin_ref *)0x3, cfg, &state) == SG_OK ? 0 : -1;
}

static int teardown_plugin(void **s)
{
    if (fh.ctx) {
        struct sg_ev_disconnected ev = {sizeof ev, 0, "bye"};
        P->on_disconnected(state, CONN, &ev);
    }
    P->fini(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_plugin_users_file_ca(void **s)
{
    assert_int_equal(offer("alice", CERT_ED, true), SG_OK);
    assert_int_equal(fh.n_restrict, 0); /* nothing to restrict, and a probe applies nothing */
    assert_int_equal(fh.n_groups, 0);
    assert_int_equal(offer("alice", CERT_ED " comment", false), SG_OK);
    assert_int_equal(fh.n_groups, 1);
    /* the CA key itself is not a login key */
    assert_int_equal(offer("alice", CA_ED, true), SG_DENY);
    assert_non_null(strstr(fh.log, "a cert-authority key only signs certificates"));
    /* a cert from a CA alice does not trust; the trusted file has the EC CA
     * (principal alice): that one is accepted, with its restrictions */
    assert_int_equal(offer("alice", CERT_EC, false), SG_OK);
    assert_non_null(strstr(fh.log, "CA key in"));
    assert_int_equal(fh.restrict_flags, SG_RESTRICT_PTY);
    assert_string_equal(fh.force_command, "/bin/true");
    /* disabled */
    assert_int_equal(offer("gone", CERT_ED, true), SG_DENY);
    /* garbage */
    assert_int_equal(offer("alice", "ssh-ed25519-cert-v01@openssh.com AAAA", true), SG_DENY);
    assert_non_null(strstr(fh.log, "certificate for alice refused"));
    assert_int_equal(offer("nobody", "ssh-ed25519-cert-v01@openssh.com AAAA", true), SG_DECLINED);
}

static void test_plugin_authorized_keys_ca(void **s)
{
    /* keys/carol: principals="ops"; CERT_ED names alice and ops */
    assert_int_equal(offer("carol", CERT_ED, false), SG_OK);
    assert_non_null(strstr(fh.log, "certificate for carol: accepted, CA key in"));
    /* keys/dan: restrict on the line; the CA is CERT_EC's (no-pty, forced) but
     * "dan" is not a principal (and no principals= on the line) */
    assert_int_equal(offer("dan", CERT_EC, true), SG_DENY);
    assert_non_null(strstr(fh.log, "\"dan\" is not a principal"));
    assert_non_null(strstr(fh.log, "no trusted CA key vouches for it (CA ecdsa-sha2-nistp384"));
    /* a trusted CA (keys/carol) but an altered signature: verified on the pool */
    uint8_t blob[2048];
    unsigned char b64[4096];
    size_t n = real_blob(CERT_ED, blob, sizeof blob);
    blob[n - 9] ^= 0x20;
    char text[4200] = "ssh-ed25519-cert-v01@openssh.com ";
    EVP_EncodeBlock(b64, blob, (int)n);
    strcat(text, (const char *)b64);
    assert_int_equal(offer("carol", text, true), SG_DENY);
    assert_non_null(strstr(fh.log, "certificate for carol refused: CA signature (ssh-ed25519) does "
                                   "not verify"));
    assert_null(strstr(fh.log, "no trusted CA key"));
    /* and in users_file (on the loop) */
    assert_int_equal(offer("alice", text, true), SG_DENY);
    assert_non_null(strstr(fh.log, "certificate for alice refused: CA signature"));
    /* an unsafe file is not read */
    assert_int_equal(offer("loose", CERT_ED, true), SG_DENY);
    assert_non_null(strstr(fh.log, "writable by group or others"));
}

static void test_plugin_trusted_file(void **s)
{
    /* bob: known (users_file), no keys: only the trusted file vouches. The
     * RSA cert names alice only; its source-address allows 127.0.0.1 */
    assert_int_equal(offer("bob", CERT_RSA, true), SG_DENY);
    assert_non_null(strstr(fh.log, "\"bob\" is not a principal"));
    assert_int_equal(offer("alice", CERT_RSA, false), SG_OK); /* via the trusted file */
    fh.peer = "192.0.2.1";
    assert_int_equal(offer("alice", CERT_RSA, true), SG_DENY);
    assert_non_null(strstr(fh.log, "192.0.2.1 is not in source-address"));
    fh.peer = PEER;
    /* an unknown user is declined without reading the trusted file */
    assert_int_equal(offer("mallory", CERT_RSA, true), SG_DECLINED);
    assert_null(strstr(fh.log, "trusted"));
    /* the file is read at every lookup: remove the RSA CA */
    write_file("trusted", CA_EC "\n", 0600);
    assert_int_equal(offer("alice", CERT_RSA, true), SG_DENY);
    unlink(tpath("trusted"));
    assert_int_equal(offer("alice", CERT_RSA, true), SG_DENY);
    assert_non_null(strstr(fh.log, "no such file (trusted_user_ca_keys)"));
}

static void test_plugin_config(void **s)
{
    void *st = NULL;
    assert_int_equal(P->init(&fake_host, NULL, "{\"trusted_user_ca_keys\": 1}", &st), SG_E_INVAL);
    assert_int_equal(P->init(&fake_host, NULL, "{\"trusted_user_ca_keys\": \"\"}", &st),
                     SG_E_INVAL);
    assert_int_equal(P->init(&fake_host, NULL, "{\"trusted_user_ca_keys\": \"x\"}", &st), SG_OK);
    P->fini(st);
}

int main(void)
{
    const struct CMUnitTest real_tests[] = {
        cmocka_unit_test(test_real_ed25519),
        cmocka_unit_test(test_real_ecdsa_restrictions),
        cmocka_unit_test(test_real_rsa_window_and_source),
        cmocka_unit_test(test_real_truncated_and_flipped),
        cmocka_unit_test(test_parse_text),
        cmocka_unit_test(test_ak_cert_authority),
        cmocka_unit_test(test_cidr_list),
    };
    const struct CMUnitTest built_tests[] = {
        cmocka_unit_test(test_built_signatures),
        cmocka_unit_test(test_built_fields),
        cmocka_unit_test(test_built_options),
        cmocka_unit_test(test_built_ca_keys),
    };
    const struct CMUnitTest plugin_tests[] = {
        cmocka_unit_test_setup_teardown(test_plugin_users_file_ca, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_authorized_keys_ca, setup_plugin,
                                        teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_trusted_file, setup_plugin, teardown_plugin),
        cmocka_unit_test_setup_teardown(test_plugin_config, setup_plugin, teardown_plugin),
    };
    int rc = cmocka_run_group_tests_name("real certificates", real_tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("built certificates", built_tests, setup_cas, teardown_cas);
    rc += cmocka_run_group_tests_name("plugin", plugin_tests, NULL, NULL);
    return rc;
}
