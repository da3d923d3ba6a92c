/* pwverify.h — crypt(3) password hashes: classify and verify (libxcrypt).
 *
 * Accepted hash formats (the /etc/shadow family):
 *   $y$ yescrypt, $gy$ gost-yescrypt, $7$ scrypt, $6$ sha512crypt,
 *   $5$ sha256crypt, $2b$ / $2y$ / $2a$ bcrypt.
 * A hash that is empty, or starts with '!' or '*' is LOCKED: it never
 * matches. Any other text is INVALID (a config error when loading files).
 *
 * pw_verify is slow on purpose (yescrypt ~ tens of ms): call it from a
 * worker thread (host->queue_work), never on the loop. It is thread-safe
 * (crypt_rn — crypt_r with an explicit size — on a private struct crypt_data).
 */
#ifndef SG_AUTH_FILE_PWVERIFY_H
#define SG_AUTH_FILE_PWVERIFY_H

#include <stdbool.h>
#include <stddef.h>

#define PW_MAX_PASSWORD 1024 /* longer passwords are refused outright */
#define PW_MAX_HASH 512

enum pw_hash_kind {
    PW_HASH_INVALID = -1,
    PW_HASH_LOCKED = 0,
    PW_HASH_USABLE = 1,
};

enum pw_hash_kind pw_hash_classify(const char *hash);

/* True only if `hash` is usable and crypt_r(password, hash) reproduces it.
 * An empty password, a password containing a NUL byte, or one longer than
 * PW_MAX_PASSWORD never matches. Compared in constant time. */
bool pw_verify(const char *password, size_t password_len, const char *hash);

#endif
