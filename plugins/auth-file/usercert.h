/* usercert.h — OpenSSH user certificates (the "-cert-v01@openssh.com" key
 * types of OpenSSH's PROTOCOL.certkeys).
 *
 * A client offering a certificate sends its blob as the public key. This
 * module reads that blob (by hand: the SSH wire format), checks what the
 * certificate says (type, validity window, principals, critical options),
 * decides whether a trust anchor vouches for it, and then verifies the CA's
 * signature over it with OpenSSL (usercert_verify.c; only for a trusted CA
 * key, so a client cannot make the server spend time on keys of its own):
 *   - an authorized_keys line with the cert-authority option (its principals=
 *     option, if any, replaces the user name in the principals check; its
 *     other options apply as for a plain key), or
 *   - a key of the trusted_user_ca_keys file (the user name must be one of
 *     the certificate's principals).
 * The user's own signature (made with the certified key) is libssh's job.
 *
 * Accepted certificate types: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and
 * ssh-rsa certs. Accepted CA keys: the same plain types; CA signatures
 * ssh-ed25519, ecdsa-sha2-*, rsa-sha2-256 and rsa-sha2-512 (never ssh-rsa,
 * i.e. SHA-1, as OpenSSH >= 8.2 by default). Everything else is refused.
 *
 * Pure functions: no host calls and no shared state, so they run on the loop
 * or on pool threads alike. Every refusal comes with a one-line reason in
 * `why` (may be NULL).
 */
#ifndef SG_AUTH_FILE_USERCERT_H
#define SG_AUTH_FILE_USERCERT_H

#include "authorized_keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UC_MAX_BLOB 16384     /* longest certificate blob accepted (bytes) */
#define UC_MAX_PRINCIPALS 256 /* as OpenSSH */
#define UC_MAX_OPTIONS 64     /* critical options, and extensions, per certificate */
#define UC_MAX_NAME 1024      /* a principal, option name or option value */

#define UC_TYPE_USER 1
#define UC_TYPE_HOST 2

/* A range of bytes inside the certificate's own copy of the blob. */
struct uc_span {
    const uint8_t *p;
    size_t len;
};

enum uc_alg { UC_ALG_ED25519, UC_ALG_ECDSA, UC_ALG_RSA };

/* The public parts of a key, as spans into the blob.
 *   ed25519: a = the 32-byte key
 *   ecdsa:   a = the uncompressed point (0x04 || X || Y)
 *   rsa:     a = e, b = n (SSH mpints: big-endian, maybe one leading 0x00) */
struct uc_pubkey {
    enum uc_alg alg;
    int curve_bits;    /* ecdsa: 256, 384 or 521 */
    const char *type;  /* plain key type: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa" */
    struct uc_span a, b;
};

struct uc_cert {
    uint8_t *blob; /* the certificate (malloc'd copy); the spans point into it */
    size_t blob_len;
    char type[AK_MAX_TYPE + 1]; /* "ssh-ed25519-cert-v01@openssh.com" */
    struct uc_pubkey key;       /* the certified key */
    uint64_t serial;
    uint32_t cert_type; /* UC_TYPE_USER, UC_TYPE_HOST, or whatever was sent */
    char *key_id;       /* printable copy for logs (control bytes as '?') */
    char **principals;  /* n_principals names, each without NUL bytes */
    size_t n_principals;
    uint64_t valid_after, valid_before; /* seconds since the epoch */
    char *force_command;    /* critical option force-command, or NULL */
    char *source_address;   /* critical option source-address, or NULL */
    char *unknown_critical; /* the first other critical option's name, or NULL */
    bool permit_pty;        /* extension permit-pty */
    bool permit_port_forwarding; /* extension permit-port-forwarding */
    struct uc_span ca_blob; /* the signature key (a plain public key blob) */
    struct uc_pubkey ca;
    struct uc_span signed_part; /* what the CA signed: the blob up to the signature */
    struct uc_span signature;   /* the signature blob (format name + data) */
};

/* Does `type` (len bytes) name a certificate key type ("...-cert-v01@openssh.com")?
 * True also for types this module does not accept (uc_parse refuses those). */
bool uc_is_cert_type(const char *type, size_t len);

/* Parse a certificate blob. Checks the structure only: every length within
 * bounds, the certificate type and the CA key of an accepted kind, the
 * option lists well formed (no name twice), nothing after the signature.
 * 0: *out owns memory (uc_cert_clear); -1: *out is cleared, why says why. */
int uc_parse(const uint8_t *blob, size_t len, struct uc_cert *out, char *why, size_t whylen);

/* Parse the host's text form of an offered key: "type base64 [comment]". */
int uc_parse_text(const char *text, size_t len, struct uc_cert *out, char *why, size_t whylen);

void uc_cert_clear(struct uc_cert *c);

/* Everything that depends neither on the trust anchor nor on the signature,
 * for a connection from `peer` (numeric address) at `now`: a user
 * certificate, within its validity window, with principals, no unknown
 * critical option, the peer inside source-address. 1 acceptable, 0 refused.
 * The CA signature is checked once an anchor vouches (uc_verify_signature). */
int uc_check(const struct uc_cert *c, const char *peer, time_t now, char *why, size_t whylen);

/* Is `name` one of the certificate's principals? */
bool uc_has_principal(const struct uc_cert *c, const char *name);

/* Is `anchor` the key that signed the certificate? (Same type and bytes.) */
bool uc_signed_by(const struct uc_cert *c, const struct ak_key *anchor);

/* Does the trust anchor `anchor` vouch for the certificate (already
 * uc_check'ed; its signature still to be verified) for `user`, from `peer`
 * at `now`?
 *   from_authorized_keys: the anchor is an authorized_keys line: it must say
 *     cert-authority; its principals= (if any) or else `user` must be among
 *     the certificate's principals; its from= and expiry-time= must allow.
 *   otherwise (trusted_user_ca_keys): `user` must be a principal.
 * 1 yes; 0 no: why is "" when the anchor is simply another key, else the
 * reason. */
int uc_vouches(const struct ak_key *anchor, bool from_authorized_keys, const struct uc_cert *c,
               const char *user, const char *peer, time_t now, char *why, size_t whylen);

/* Add the certificate's restrictions to `r` (those of the anchor line):
 * no pty without permit-pty, no port forwarding without
 * permit-port-forwarding, force-command as the forced command.
 * AK_OK; AK_ERR_OPTION when the line's command= and the certificate's
 * force-command differ (why says so); AK_ERR_NOMEM. */
int uc_restrict_add(struct ak_restrict *r, const struct uc_cert *c, char *why, size_t whylen);

/* usercert_verify.c: verify the CA signature over c->signed_part with
 * OpenSSL. 1 valid; 0 invalid or not acceptable (why says which). */
int uc_verify_signature(const struct uc_cert *c, char *why, size_t whylen);

/* printf into why (if not NULL): the one-line reasons of this module. */
void uc_set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "SHA256:<base64>" of the CA key, for logs (out gets "?" on failure). */
void uc_ca_fingerprint(const struct uc_cert *c, char *out, size_t outlen);

#endif
