/* keyfile.h — look an offered key up in a user's authorized_keys file.
 *
 * Runs on a pool thread (host->queue_work): touches no host call and no
 * shared state; findings worth logging are collected in a kf_log and logged
 * by the caller on the loop.
 *
 * A file that is not a regular file, is larger than KF_MAX_FILE, or is
 * writable by group or others is refused (like OpenSSH's StrictModes).
 */
#ifndef SG_AUTH_FILE_KEYFILE_H
#define SG_AUTH_FILE_KEYFILE_H

#include "authorized_keys.h"
#include "usercert.h"

#include <stddef.h>
#include <time.h>

#define KF_MAX_FILE (1u << 20)
#define KF_LOG_LINES 8
#define KF_LOG_LEN 256

struct kf_log {
    char line[KF_LOG_LINES][KF_LOG_LEN];
    int n;       /* lines kept */
    int dropped; /* lines that did not fit */
};

enum kf_result {
    KF_MISSING = 0, /* no such file */
    KF_NOMATCH = 1, /* the file exists; no usable line holds the key */
    KF_MATCH = 2,   /* a line holds the key and its options allow this peer now */
    KF_ERROR = -1,  /* the file exists but could not be used (logged) */
};

/* Expand a path pattern: %u → user, %% → '%'. Any other %x is an error.
 * Returns a malloc'd path or NULL. */
char *kf_expand(const char *pattern, const char *user);

/* Is the pattern well-formed (only %u and %%)? */
bool kf_pattern_valid(const char *pattern);

/* Scan `path` for `offered`. peer: the numeric peer address (from=). On
 * KF_MATCH the matching line's restrictions are moved into *restr (if not
 * NULL; the caller clears it). */
int kf_scan(const char *path, const struct ak_key *offered, const char *peer, time_t now,
            struct kf_log *log, struct ak_restrict *restr);

/* Where a CA key for user certificates is looked up. */
enum kf_ca_source {
    KF_CA_AUTHORIZED_KEYS, /* a user's authorized_keys file: cert-authority lines */
    KF_CA_TRUSTED_FILE,    /* trusted_user_ca_keys: plain "type base64 [comment]" lines */
};

/* Scan `path` for a CA key that vouches for `cert` (already uc_check'ed)
 * for `user` (uc_vouches; the caller then verifies the CA signature). On KF_MATCH the line's restrictions are moved
 * into *restr (if not NULL; the caller clears it). Lines that name the CA
 * but refuse (principals, from=, expiry-time) are logged. */
int kf_scan_ca(const char *path, enum kf_ca_source src, const struct uc_cert *cert,
               const char *user, const char *peer, time_t now, struct kf_log *log,
               struct ak_restrict *restr);

void kf_log_add(struct kf_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
