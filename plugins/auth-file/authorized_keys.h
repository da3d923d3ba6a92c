/* authorized_keys.h — parse one line of an OpenSSH authorized_keys file.
 *
 * A line is   [options] keytype base64-blob [comment]
 * Blank lines and lines starting with '#' (after leading blanks) are skipped.
 * The parser works on (pointer, length): it never reads past `len`, never
 * needs a NUL terminator, and rejects embedded NUL bytes. It does not use
 * libssh: the blob is base64-decoded here and its first SSH string (the key
 * type inside the blob) must equal the key type written in the line.
 *
 * Options (comma-separated, names case-insensitive, values in double quotes
 * with \" for a quote):
 *   from="pattern-list"        honoured (see addr_match.h)
 *   expiry-time="YYYYMMDD[HHMM[SS]][Z]"  honoured (local time, or UTC with Z)
 *   restrict, no-pty, no-port-forwarding, pty, port-forwarding,
 *   permitopen="host:port", permitlisten="[host:]port", command="..."
 *                              parsed into `restr`, which the plugin hands
 *                              to the host (host->conn_restrict) to enforce;
 *                              left to right, so "restrict,pty" allows a pty
 *   other no-*, agent-forwarding, user-rc, X11-forwarding,
 *   environment="..."          accepted and ignored (sshgate never offers
 *                              agent or X11 forwarding, nor user rc files)
 *   cert-authority             only with AK_ALLOW_CA (ak_parse_line_ex):
 *                              the key is a CA key for user certificates
 *                              (see usercert.h), never a key to log in with
 *   principals="a,b"           only with AK_ALLOW_CA and cert-authority: the
 *                              cert must carry one of these names (instead
 *                              of the user name)
 *   anything else (tunnel=, verify-required, unknown names; cert-authority
 *   and principals= for a caller that does not check certificates) makes
 *   the line AK_ERR_OPTION: the key is skipped, because the caller cannot
 *   honour what it expresses (fail closed).
 */
#ifndef SG_AUTH_FILE_AUTHORIZED_KEYS_H
#define SG_AUTH_FILE_AUTHORIZED_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AK_MAX_LINE 16384 /* longest accepted line (bytes) */
#define AK_MAX_TYPE 64    /* longest key type name */
#define AK_MAX_OPTIONS 64 /* options per line */
#define AK_MAX_OPTION_VALUE 4096

enum ak_status {
    AK_OK = 0,          /* a key was parsed into *out */
    AK_SKIP = 1,        /* blank or comment line: nothing parsed */
    AK_ERR_SYNTAX = -1, /* malformed line (quotes, missing fields, NUL, too long) */
    AK_ERR_TYPE = -2,   /* unknown or unsupported key type */
    AK_ERR_BLOB = -3,   /* bad base64, or the blob does not match the type */
    AK_ERR_OPTION = -4, /* an option sshgate does not support (key skipped) */
    AK_ERR_NOMEM = -5,
};

#define AK_RESTRICT_PTY 0x1             /* no pty-req */
#define AK_RESTRICT_PORT_FORWARDING 0x2 /* no -L/-D/-R */
#define AK_MAX_PERMITS 64               /* permitopen= / permitlisten= per line */

/* The restrictions an authorized_keys line carries. */
struct ak_restrict {
    unsigned flags;    /* AK_RESTRICT_* */
    char **open;       /* permitopen values ("host:port"), NULL-terminated, or NULL */
    size_t n_open;
    char **listen;     /* permitlisten values ("[host:]port"), NULL-terminated, or NULL */
    size_t n_listen;
    char *command;     /* command="..." (the forced command) or NULL */
};

struct ak_key {
    char type[AK_MAX_TYPE + 1]; /* "ssh-ed25519" */
    uint8_t *blob;              /* decoded key blob (malloc'd) */
    size_t blob_len;
    char *comment; /* malloc'd, "" when absent */
    char *from;    /* from="..." value (malloc'd) or NULL */
    bool has_expiry;
    time_t expiry;   /* the key is refused at or after this time */
    bool restricted; /* "restrict" seen (informational) */
    bool cert_authority; /* "cert-authority": a CA key, not a login key */
    char *principals;    /* principals="..." value (malloc'd) or NULL */
    struct ak_restrict restr;
};

/* Does r restrict anything? */
bool ak_restrict_any(const struct ak_restrict *r);
/* Move *src into *dst (dst is cleared first; src is left empty). */
void ak_restrict_move(struct ak_restrict *dst, struct ak_restrict *src);
void ak_restrict_clear(struct ak_restrict *r);
/* Deep copy of *src into *dst (cleared first). AK_OK or AK_ERR_NOMEM (dst
 * then cleared). */
int ak_restrict_copy(struct ak_restrict *dst, const struct ak_restrict *src);

/* Parse one line (without its line terminator; a trailing '\r' is ignored).
 * On AK_OK *out owns memory: release with ak_key_clear. On every other result
 * *out is cleared. err (may be NULL) receives a short reason on errors. */
int ak_parse_line(const char *line, size_t len, struct ak_key *out, char *err, size_t errlen);

/* ak_parse_line with flags: AK_ALLOW_CA accepts cert-authority and
 * principals= (for a caller that checks certificates with usercert.h and
 * never lets a cert_authority entry in as a plain key: ak_key_authorizes). */
#define AK_ALLOW_CA 0x1
int ak_parse_line_ex(const char *line, size_t len, unsigned flags, struct ak_key *out, char *err,
                     size_t errlen);

/* Parse "type base64" (the host's text form of an offered key: no options,
 * comment allowed). Same results as ak_parse_line; options are AK_ERR_SYNTAX. */
int ak_parse_public_key(const char *text, size_t len, struct ak_key *out, char *err, size_t errlen);

void ak_key_clear(struct ak_key *k);

/* True if both keys have the same type and the same blob bytes. */
bool ak_key_same(const struct ak_key *a, const struct ak_key *b);

/* True if the authorized entry `line` lets `offered` log in as a plain key:
 * the same key, and the line is not a cert-authority line. */
bool ak_key_authorizes(const struct ak_key *line, const struct ak_key *offered);

/* Is `name` one of the comma-separated names of `list` (exact match)? */
bool ak_list_has(const char *list, const char *name);

/* Check the options of an authorized entry for a connection from `peer`
 * (numeric address) at time `now`: 1 usable, 0 refused (why says which
 * option refused it). */
int ak_key_options_allow(const struct ak_key *k, const char *peer, time_t now, char *why,
                         size_t whylen);

/* Is `type` a key type the parser accepts? */
bool ak_type_known(const char *type, size_t len);

/* Strict base64 (RFC 4648, padding required, no whitespace). Returns the
 * decoded length, or -1 if `in` is not valid base64 or out is too small. */
long ak_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap);

/* Parse an expiry-time value; 0 ok (*out set), -1 bad. */
int ak_parse_expiry(const char *s, time_t *out);

#endif
