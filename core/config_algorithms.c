/* config_algorithms.c — SSH algorithm names libssh 0.10.6 implements,
 * defaults, and weak-name policy (see config_algorithms.h). */
#include "config_algorithms.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct algo_kind_info {
    const char *key;
    const char *label;
    const char *const *names; /* supported */
    const char *const *defaults;
};

static const char *const kex_names[] = {"curve25519-sha256",
                                        "curve25519-sha256@libssh.org",
                                        "ecdh-sha2-nistp256",
                                        "ecdh-sha2-nistp384",
                                        "ecdh-sha2-nistp521",
                                        "diffie-hellman-group18-sha512",
                                        "diffie-hellman-group16-sha512",
                                        "diffie-hellman-group-exchange-sha256",
                                        "diffie-hellman-group14-sha256",
                                        "diffie-hellman-group14-sha1",
                                        "diffie-hellman-group1-sha1",
                                        "diffie-hellman-group-exchange-sha1",
                                        NULL};
static const char *const kex_defaults[] = {"curve25519-sha256",
                                           "curve25519-sha256@libssh.org",
                                           "ecdh-sha2-nistp256",
                                           "ecdh-sha2-nistp384",
                                           "ecdh-sha2-nistp521",
                                           "diffie-hellman-group16-sha512",
                                           "diffie-hellman-group14-sha256",
                                           NULL};

static const char *const cipher_names[] = {"chacha20-poly1305@openssh.com",
                                           "aes256-gcm@openssh.com",
                                           "aes128-gcm@openssh.com",
                                           "aes256-ctr",
                                           "aes192-ctr",
                                           "aes128-ctr",
                                           "aes256-cbc",
                                           "aes192-cbc",
                                           "aes128-cbc",
                                           "3des-cbc",
                                           NULL};
static const char *const cipher_defaults[] = {"chacha20-poly1305@openssh.com",
                                              "aes256-gcm@openssh.com",
                                              "aes128-gcm@openssh.com",
                                              "aes256-ctr",
                                              "aes192-ctr",
                                              "aes128-ctr",
                                              NULL};

static const char *const mac_names[] = {"hmac-sha2-256-etm@openssh.com",
                                        "hmac-sha2-512-etm@openssh.com",
                                        "hmac-sha1-etm@openssh.com",
                                        "hmac-sha2-256",
                                        "hmac-sha2-512",
                                        "hmac-sha1",
                                        NULL};
static const char *const mac_defaults[] = {"hmac-sha2-256-etm@openssh.com",
                                           "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256",
                                           "hmac-sha2-512", NULL};

static const char *const host_key_names[] = {"ssh-ed25519",
                                             "ecdsa-sha2-nistp256",
                                             "ecdsa-sha2-nistp384",
                                             "ecdsa-sha2-nistp521",
                                             "rsa-sha2-512",
                                             "rsa-sha2-256",
                                             "ssh-rsa",
                                             "ssh-ed25519-cert-v01@openssh.com",
                                             "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                                             "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                                             "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                                             "rsa-sha2-512-cert-v01@openssh.com",
                                             "rsa-sha2-256-cert-v01@openssh.com",
                                             "ssh-rsa-cert-v01@openssh.com",
                                             NULL};
static const char *const pubkey_names[] = {"ssh-ed25519",
                                           "ecdsa-sha2-nistp256",
                                           "ecdsa-sha2-nistp384",
                                           "ecdsa-sha2-nistp521",
                                           "rsa-sha2-512",
                                           "rsa-sha2-256",
                                           "ssh-rsa",
                                           "ssh-ed25519-cert-v01@openssh.com",
                                           "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                                           "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                                           "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                                           "rsa-sha2-512-cert-v01@openssh.com",
                                           "rsa-sha2-256-cert-v01@openssh.com",
                                           "ssh-rsa-cert-v01@openssh.com",
                                           "sk-ssh-ed25519@openssh.com",
                                           "sk-ecdsa-sha2-nistp256@openssh.com",
                                           "sk-ssh-ed25519-cert-v01@openssh.com",
                                           "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                                           NULL};
static const char *const key_defaults[] = {"ssh-ed25519",
                                           "ecdsa-sha2-nistp256",
                                           "ecdsa-sha2-nistp384",
                                           "ecdsa-sha2-nistp521",
                                           "rsa-sha2-512",
                                           "rsa-sha2-256",
                                           NULL};

/* As OpenSSH's PubkeyAcceptedAlgorithms: the plain keys plus their
 * certificates (which an auth plugin such as auth-file checks itself). */
static const char *const pubkey_defaults[] = {"ssh-ed25519",
                                              "ecdsa-sha2-nistp256",
                                              "ecdsa-sha2-nistp384",
                                              "ecdsa-sha2-nistp521",
                                              "rsa-sha2-512",
                                              "rsa-sha2-256",
                                              "ssh-ed25519-cert-v01@openssh.com",
                                              "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                                              "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                                              "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                                              "rsa-sha2-512-cert-v01@openssh.com",
                                              "rsa-sha2-256-cert-v01@openssh.com",
                                              NULL};

static const char *const compression_names[] = {"none", "zlib@openssh.com", "zlib", NULL};
static const char *const compression_defaults[] = {"none", "zlib@openssh.com", NULL};

static const struct algo_kind_info kinds[SG_ALGO_KIND_COUNT] = {
    [SG_ALGO_KEX] = {"kex", "key exchange algorithm", kex_names, kex_defaults},
    [SG_ALGO_CIPHER] = {"ciphers", "cipher", cipher_names, cipher_defaults},
    [SG_ALGO_MAC] = {"macs", "MAC", mac_names, mac_defaults},
    [SG_ALGO_HOST_KEY] = {"host_key", "host key algorithm", host_key_names, key_defaults},
    [SG_ALGO_PUBKEY_AUTH] = {"pubkey_auth", "public key signature algorithm", pubkey_names,
                             pubkey_defaults},
    [SG_ALGO_COMPRESSION] = {"compression", "compression method", compression_names,
                             compression_defaults},
};

/* Weak names: accepted when listed explicitly, with a warning. */
struct weak_algo {
    enum sg_algo_kind kind; /* SG_ALGO_KIND_COUNT = host_key and pubkey_auth */
    const char *name;
    const char *why;
};

static const struct weak_algo weak_algos[] = {
    {SG_ALGO_KEX, "diffie-hellman-group14-sha1", "SHA-1 exchange hash"},
    {SG_ALGO_KEX, "diffie-hellman-group1-sha1", "1024-bit group and SHA-1 exchange hash"},
    {SG_ALGO_KEX, "diffie-hellman-group-exchange-sha1", "SHA-1 exchange hash"},
    {SG_ALGO_CIPHER, "aes256-cbc", "CBC mode"},
    {SG_ALGO_CIPHER, "aes192-cbc", "CBC mode"},
    {SG_ALGO_CIPHER, "aes128-cbc", "CBC mode"},
    {SG_ALGO_CIPHER, "3des-cbc", "64-bit block cipher (Sweet32) in CBC mode"},
    {SG_ALGO_MAC, "hmac-sha1", "SHA-1 MAC"},
    {SG_ALGO_MAC, "hmac-sha1-etm@openssh.com", "SHA-1 MAC"},
    {SG_ALGO_KIND_COUNT, "ssh-rsa", "RSA signatures with SHA-1"},
    {SG_ALGO_KIND_COUNT, "ssh-rsa-cert-v01@openssh.com", "RSA signatures with SHA-1"},
};

/* Names other SSH implementations (and the reference component) offer that
 * libssh 0.10.6 cannot negotiate. A trailing '*' matches a prefix. */
static const char *const unimplemented[] = {"arcfour*",
                                            "blowfish-cbc",
                                            "cast128-cbc",
                                            "3des-ctr",
                                            "rijndael-cbc@lysator.liu.se",
                                            "twofish*",
                                            "serpent*",
                                            "idea-cbc",
                                            "des-cbc",
                                            "hmac-md5*",
                                            "hmac-sha1-96*",
                                            "hmac-sha2-256-96*",
                                            "hmac-sha2-512-96*",
                                            "hmac-ripemd160*",
                                            "umac-*",
                                            "ssh-dss*",
                                            "x509v3-*",
                                            "gss-*",
                                            "sntrup761x25519-sha512*",
                                            "mlkem768x25519-sha256",
                                            "diffie-hellman-group15-sha512",
                                            "diffie-hellman-group17-sha512",
                                            "diffie-hellman-group14-sha224@ssh.com",
                                            "diffie-hellman-group16-sha512@ssh.com",
                                            "diffie-hellman-group18-sha512@ssh.com",
                                            "diffie-hellman-group-exchange-sha224@ssh.com",
                                            "diffie-hellman-group-exchange-sha384@ssh.com",
                                            "diffie-hellman-group-exchange-sha512@ssh.com",
                                            "curve448-sha512",
                                            "ssh-ed448",
                                            "rsa-sha2-256@ssh.com",
                                            "ecdh-sha2-1.3.132.0.10",
                                            NULL};

static bool in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static bool is_unimplemented(const char *name)
{
    for (size_t i = 0; unimplemented[i]; i++) {
        const char *u = unimplemented[i];
        size_t n = strlen(u);
        if (n && u[n - 1] == '*') {
            if (strncmp(name, u, n - 1) == 0)
                return true;
        } else if (strcmp(name, u) == 0) {
            return true;
        }
    }
    return false;
}

static const char *weak_reason(enum sg_algo_kind kind, const char *name)
{
    for (size_t i = 0; i < sizeof(weak_algos) / sizeof(weak_algos[0]); i++) {
        const struct weak_algo *w = &weak_algos[i];
        bool kind_ok =
            w->kind == kind || (w->kind == SG_ALGO_KIND_COUNT &&
                                (kind == SG_ALGO_HOST_KEY || kind == SG_ALGO_PUBKEY_AUTH));
        if (kind_ok && strcmp(w->name, name) == 0)
            return w->why;
    }
    return NULL;
}

enum sg_algo_status sg_algo_check(enum sg_algo_kind kind, const char *name, char *msg,
                                  size_t msglen)
{
    if ((unsigned)kind >= SG_ALGO_KIND_COUNT || !name)
        return SG_ALGO_UNKNOWN;
    if (in_list(kinds[kind].names, name)) {
        const char *why = weak_reason(kind, name);
        if (!why)
            return SG_ALGO_OK;
        snprintf(msg, msglen,
                 "weak %s '%s' enabled (%s); accepted only because it is listed "
                 "explicitly",
                 kinds[kind].label, name, why);
        return SG_ALGO_WEAK;
    }
    if (kind == SG_ALGO_COMPRESSION && (strcmp(name, "no") == 0 || strcmp(name, "yes") == 0)) {
        snprintf(msg, msglen,
                 "'%s' is not a compression method: in libssh 0.10.6 it still "
                 "negotiates zlib; write %s",
                 name, name[0] == 'n' ? "\"none\" for no compression" : "\"zlib@openssh.com\"");
        return SG_ALGO_UNSUPPORTED;
    }
    if (kind == SG_ALGO_MAC && strcmp(name, "none") == 0) {
        snprintf(msg, msglen,
                 "libssh 0.10.6 does not implement MAC 'none' (it is built "
                 "without WITH_INSECURE_NONE)");
        return SG_ALGO_UNSUPPORTED;
    }
    if (kind == SG_ALGO_CIPHER && strcmp(name, "none") == 0) {
        snprintf(msg, msglen,
                 "libssh 0.10.6 does not implement cipher 'none' (it is built "
                 "without WITH_INSECURE_NONE)");
        return SG_ALGO_UNSUPPORTED;
    }
    if (kind == SG_ALGO_HOST_KEY && in_list(pubkey_names, name)) {
        snprintf(msg, msglen,
                 "'%s' is a security-key (FIDO) type: it can authenticate users "
                 "(algorithms.pubkey_auth) but cannot be a server host key",
                 name);
        return SG_ALGO_UNSUPPORTED;
    }
    if (is_unimplemented(name)) {
        snprintf(msg, msglen, "libssh 0.10.6 does not implement '%s'", name);
        return SG_ALGO_UNSUPPORTED;
    }
    for (int k = 0; k < SG_ALGO_KIND_COUNT; k++) {
        if (k == (int)kind || !in_list(kinds[k].names, name))
            continue;
        if ((k == SG_ALGO_HOST_KEY || k == SG_ALGO_PUBKEY_AUTH) &&
            (kind == SG_ALGO_HOST_KEY || kind == SG_ALGO_PUBKEY_AUTH))
            continue;
        snprintf(msg, msglen, "'%s' is a %s (algorithms.%s), not a %s", name, kinds[k].label,
                 kinds[k].key, kinds[kind].label);
        return SG_ALGO_UNSUPPORTED;
    }
    return SG_ALGO_UNKNOWN;
}

const char *const *sg_algo_names(enum sg_algo_kind kind)
{
    return (unsigned)kind < SG_ALGO_KIND_COUNT ? kinds[kind].names : NULL;
}

const char *const *sg_algo_defaults(enum sg_algo_kind kind)
{
    return (unsigned)kind < SG_ALGO_KIND_COUNT ? kinds[kind].defaults : NULL;
}

const char *sg_algo_key(enum sg_algo_kind kind)
{
    return (unsigned)kind < SG_ALGO_KIND_COUNT ? kinds[kind].key : "?";
}

const char *sg_algo_label(enum sg_algo_kind kind)
{
    return (unsigned)kind < SG_ALGO_KIND_COUNT ? kinds[kind].label : "?";
}
