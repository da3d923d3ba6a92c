/* usercert_verify.c — the CA signature of a user certificate, verified with
 * OpenSSL 3 (EVP): Ed25519, ECDSA over nistp256/384/521, RSA PKCS#1 v1.5
 * with SHA-256 or SHA-512. See usercert.h. */
#include "usercert.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RSA_MIN_BITS 1024 /* as OpenSSH */

/* Signature formats a CA may use, with the key kind each needs. */
static const struct sig_format {
    const char *name;
    enum uc_alg alg;
    int curve_bits;
    const char *digest; /* NULL: Ed25519 signs the message itself */
} sig_formats[] = {
    {"ssh-ed25519", UC_ALG_ED25519, 0, NULL},
    {"ecdsa-sha2-nistp256", UC_ALG_ECDSA, 256, "SHA256"},
    {"ecdsa-sha2-nistp384", UC_ALG_ECDSA, 384, "SHA384"},
    {"ecdsa-sha2-nistp521", UC_ALG_ECDSA, 521, "SHA512"},
    {"rsa-sha2-256", UC_ALG_RSA, 0, "SHA256"},
    {"rsa-sha2-512", UC_ALG_RSA, 0, "SHA512"},
};

/* ---- the CA key as an EVP_PKEY --------------------------------------------- */

static EVP_PKEY *pkey_from_params(const char *keytype, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *pkey_ed25519(const struct uc_pubkey *k)
{
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->a.p, k->a.len);
}

static EVP_PKEY *pkey_ecdsa(const struct uc_pubkey *k)
{
    const char *group = k->curve_bits == 256   ? "P-256"
                        : k->curve_bits == 384 ? "P-384"
                                               : "P-521";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)k->a.p, k->a.len),
        OSSL_PARAM_construct_end(),
    };
    return pkey_from_params("EC", params);
}

static EVP_PKEY *pkey_rsa(const struct uc_pubkey *k)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *e = BN_bin2bn(k->a.p, (int)k->a.len, NULL);
    BIGNUM *n = BN_bin2bn(k->b.p, (int)k->b.len, NULL);
    if (bld && e && n && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
        (params = OSSL_PARAM_BLD_to_param(bld)))
        pkey = pkey_from_params("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(e);
    BN_free(n);
    return pkey;
}

static EVP_PKEY *pkey_of(const struct uc_pubkey *k)
{
    switch (k->alg) {
    case UC_ALG_ED25519:
        return pkey_ed25519(k);
    case UC_ALG_ECDSA:
        return pkey_ecdsa(k);
    case UC_ALG_RSA:
        return pkey_rsa(k);
    }
    return NULL;
}

/* ---- the signature blob ---------------------------------------------------- */

static bool get_string(const uint8_t **p, size_t *left, const uint8_t **s, size_t *len)
{
    if (*left < 4)
        return false;
    uint32_t n = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 |
                 (*p)[3];
    if (n > *left - 4)
        return false;
    *s = *p + 4;
    *len = n;
    *p += 4 + n;
    *left -= 4 + (size_t)n;
    return true;
}

/* The SSH ECDSA signature (mpint r, mpint s) as DER, for OpenSSL.
 * Returns the DER length (malloc'd into *der) or -1. */
static int ecdsa_sig_der(const uint8_t *data, size_t len, int curve_bits, uint8_t **der)
{
    const uint8_t *r, *s;
    size_t rlen, slen, max = ((size_t)curve_bits + 7) / 8 + 1;
    int n = -1;
    if (!get_string(&data, &len, &r, &rlen) || !get_string(&data, &len, &s, &slen) || len ||
        rlen == 0 || slen == 0 || rlen > max || slen > max || (r[0] & 0x80) || (s[0] & 0x80))
        return -1;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
    if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs) == 1) {
        br = bs = NULL; /* owned by sig now */
        *der = NULL;
        n = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    return n > 0 ? n : -1;
}

/* The RSA signature left-padded with zeros to the modulus size (OpenSSH
 * accepts a shorter one that way). Returns the size (malloc'd *out) or -1. */
static int rsa_sig_padded(const uint8_t *data, size_t len, EVP_PKEY *pkey, uint8_t **out)
{
    int size = EVP_PKEY_get_size(pkey);
    if (size <= 0 || len == 0 || len > (size_t)size || !(*out = OPENSSL_zalloc((size_t)size)))
        return -1;
    memcpy(*out + ((size_t)size - len), data, len);
    return size;
}

static bool digest_verify(EVP_PKEY *pkey, const char *digest, const uint8_t *sig, size_t siglen,
                          const struct uc_span *msg)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, digest, NULL, NULL, pkey, NULL) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, msg->p, msg->len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static const struct sig_format *format_find(const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < sizeof sig_formats / sizeof sig_formats[0]; i++)
        if (strlen(sig_formats[i].name) == len && memcmp(sig_formats[i].name, name, len) == 0)
            return &sig_formats[i];
    return NULL;
}

/* The signature's format: known, fit for the CA key, not SHA-1. */
static const struct sig_format *check_format(const struct uc_cert *c, const uint8_t *name,
                                             size_t len, char *why, size_t whylen)
{
    if (len == 7 && memcmp(name, "ssh-rsa", 7) == 0) {
        uc_set_why(why, whylen, "CA signature uses ssh-rsa (SHA-1): refused, as OpenSSH does");
        return NULL;
    }
    const struct sig_format *f = format_find(name, len);
    if (!f) {
        uc_set_why(why, whylen, "unsupported CA signature format");
        return NULL;
    }
    if (f->alg != c->ca.alg || f->curve_bits != c->ca.curve_bits) {
        uc_set_why(why, whylen, "CA signature format %s does not fit the CA key (%s)", f->name,
                c->ca.type);
        return NULL;
    }
    return f;
}

/* Verify `data` (the format's signature bytes) with the CA key. */
static int verify_with_key(const struct uc_cert *c, const struct sig_format *f,
                           const uint8_t *data, size_t len, char *why, size_t whylen)
{
    uint8_t *buf = NULL;
    int n = -1, ok = 0;
    EVP_PKEY *pkey = pkey_of(&c->ca);
    if (!pkey) {
        uc_set_why(why, whylen, "CA key (%s) not usable", c->ca.type);
        goto out;
    }
    if (c->ca.alg == UC_ALG_RSA && EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        uc_set_why(why, whylen, "RSA CA key shorter than %d bits", RSA_MIN_BITS);
        goto out;
    }
    if (c->ca.alg == UC_ALG_ED25519)
        n = len == 64 ? 64 : -1;
    else if (c->ca.alg == UC_ALG_ECDSA)
        n = ecdsa_sig_der(data, len, c->ca.curve_bits, &buf);
    else
        n = rsa_sig_padded(data, len, pkey, &buf);
    if (n < 0) {
        uc_set_why(why, whylen, "malformed %s CA signature", f->name);
        goto out;
    }
    ok = digest_verify(pkey, f->digest, buf ? buf : data, (size_t)n, &c->signed_part);
    if (!ok)
        uc_set_why(why, whylen, "CA signature (%s) does not verify", f->name);
out:
    OPENSSL_free(buf);
    EVP_PKEY_free(pkey);
    ERR_clear_error(); /* failures leave entries on this thread's queue */
    return ok;
}

int uc_verify_signature(const struct uc_cert *c, char *why, size_t whylen)
{
    const uint8_t *p = c->signature.p, *name, *data;
    size_t left = c->signature.len, nlen, dlen;
    if (!get_string(&p, &left, &name, &nlen) || !get_string(&p, &left, &data, &dlen) || left) {
        uc_set_why(why, whylen, "malformed CA signature");
        return 0;
    }
    const struct sig_format *f = check_format(c, name, nlen, why, whylen);
    if (!f)
        return 0;
    return verify_with_key(c, f, data, dlen, why, whylen);
}

void uc_ca_fingerprint(const struct uc_cert *c, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    unsigned int mdlen = 0;
    if (!c->ca_blob.p ||
        EVP_Digest(c->ca_blob.p, c->ca_blob.len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        snprintf(out, outlen, "?");
        return;
    }
    int n = EVP_EncodeBlock(b64, md, (int)mdlen);
    while (n > 0 && b64[n - 1] == '=')
        n--;
    snprintf(out, outlen, "SHA256:%.*s", n, (const char *)b64);
}
