/* pwverify.c — crypt_r verification of password hashes (see pwverify.h). */
#include "pwverify.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const char *const pw_prefixes[] = {
    "$y$", "$gy$", "$7$", "$6$", "$5$", "$2b$", "$2y$", "$2a$",
};

/* crypt's output alphabet plus '$' and the separators used in settings. */
static bool hash_chars_ok(const char *h)
{
    for (const char *p = h; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '/' || c == '$' || c == '=' || c == ',' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

enum pw_hash_kind pw_hash_classify(const char *hash)
{
    if (!hash || hash[0] == '\0' || hash[0] == '!' || hash[0] == '*')
        return PW_HASH_LOCKED;
    if (strlen(hash) > PW_MAX_HASH || !hash_chars_ok(hash))
        return PW_HASH_INVALID;
    for (size_t i = 0; i < sizeof pw_prefixes / sizeof pw_prefixes[0]; i++) {
        size_t n = strlen(pw_prefixes[i]);
        if (strncmp(hash, pw_prefixes[i], n) == 0 && hash[n] != '\0')
            return PW_HASH_USABLE;
    }
    return PW_HASH_INVALID;
}

bool pw_verify(const char *password, size_t password_len, const char *hash)
{
    bool ok = false;
    char *pw = NULL;
    struct crypt_data *cd = NULL;

    if (!password || password_len == 0 || password_len > PW_MAX_PASSWORD)
        goto out;
    if (memchr(password, '\0', password_len))
        goto out;
    if (pw_hash_classify(hash) != PW_HASH_USABLE)
        goto out;
    pw = malloc(password_len + 1);
    cd = calloc(1, sizeof *cd);
    if (!pw || !cd)
        goto out;
    memcpy(pw, password, password_len);
    pw[password_len] = '\0';

    /* crypt_rn is libxcrypt's crypt_r with an explicit buffer size; unlike
     * crypt_r it is not intercepted by AddressSanitizer, whose crypt_r
     * interceptor is unresolved (NULL) when libcrypt arrives by dlopen. */
    const char *res = crypt_rn(pw, hash, cd, (int)sizeof *cd);
    /* NULL on failure; some versions also return a '*' failure token */
    if (!res || res[0] == '*')
        goto out;
    size_t rlen = strlen(res), hlen = strlen(hash);
    if (rlen != hlen)
        goto out;
    ok = CRYPTO_memcmp(res, hash, hlen) == 0;
out:
    if (pw) {
        OPENSSL_cleanse(pw, password_len);
        free(pw);
    }
    if (cd) {
        OPENSSL_cleanse(cd, sizeof *cd);
        free(cd);
    }
    return ok;
}
