/* config_algorithms.h — the SSH algorithm names libssh 0.10.6 (OpenSSL
 * build, as shipped by Debian 12) can negotiate, the secure defaults, and
 * the weak names that are accepted only when a config lists them.
 *
 * Verified on the build machine with ssh_bind_options_set() /
 * ssh_options_set() for every name: MAC "none", 3des-ctr, arcfour*,
 * blowfish, cast128, hmac-md5*, umac-*, ripemd160, *-96 MACs, ssh-dss,
 * x509v3-* and gss-* kex are refused by this libssh.
 */
#ifndef SSHGATE_CONFIG_ALGORITHMS_H
#define SSHGATE_CONFIG_ALGORITHMS_H

#include <stddef.h>

enum sg_algo_kind {
    SG_ALGO_KEX = 0,
    SG_ALGO_CIPHER,
    SG_ALGO_MAC,
    SG_ALGO_HOST_KEY,
    SG_ALGO_PUBKEY_AUTH,
    SG_ALGO_COMPRESSION,
    SG_ALGO_KIND_COUNT
};

enum sg_algo_status {
    SG_ALGO_OK = 0,      /* supported */
    SG_ALGO_WEAK,        /* supported but weak: msg says why (warning) */
    SG_ALGO_UNSUPPORTED, /* libssh cannot do it, or wrong list: msg says why */
    SG_ALGO_UNKNOWN,     /* not an SSH algorithm name we know */
};

/* Classify `name` for list `kind`; for WEAK and UNSUPPORTED an explanation
 * (no path, no trailing newline) is written into msg. */
enum sg_algo_status sg_algo_check(enum sg_algo_kind kind, const char *name, char *msg,
                                  size_t msglen);
/* Every supported name of `kind` (NULL-terminated; for did-you-mean). */
const char *const *sg_algo_names(enum sg_algo_kind kind);
/* The default list of `kind` (NULL-terminated). */
const char *const *sg_algo_defaults(enum sg_algo_kind kind);
/* "kex", "ciphers", ... (the config key) and "key exchange algorithm", ... */
const char *sg_algo_key(enum sg_algo_kind kind);
const char *sg_algo_label(enum sg_algo_kind kind);

#endif
