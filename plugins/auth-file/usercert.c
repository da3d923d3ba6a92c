/* usercert.c — OpenSSH user certificates: parse the blob, check what it
 * says, match it with a trust anchor (see usercert.h). The CA signature is
 * verified in usercert_verify.c. */
#include "usercert.h"

#include "addr_match.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_SUFFIX "-cert-v01@openssh.com"
#define MAX_MPINT (16384 / 8 + 1) /* an RSA modulus of 16384 bits, plus a sign byte */

void uc_set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* ---- key kinds ------------------------------------------------------------- */

struct uc_kind {
    const char *cert_type;
    const char *plain_type;
    enum uc_alg alg;
    int curve_bits;
    const char *curve; /* ecdsa: the curve name written inside the key */
};

static const struct uc_kind uc_kinds[] = {
    {"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519", UC_ALG_ED25519, 0, NULL},
    {"ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp256", UC_ALG_ECDSA, 256,
     "nistp256"},
    {"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp384", UC_ALG_ECDSA, 384,
     "nistp384"},
    {"ecdsa-sha2-nistp521-cert-v01@openssh.com", "ecdsa-sha2-nistp521", UC_ALG_ECDSA, 521,
     "nistp521"},
    {"ssh-rsa-cert-v01@openssh.com", "ssh-rsa", UC_ALG_RSA, 0, NULL},
};

static bool span_is(struct uc_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(s.p, text, s.len) == 0;
}

static bool span_same(struct uc_span a, struct uc_span b)
{
    return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* The kind named `name`: a certificate type (cert) or a plain key type. */
static const struct uc_kind *kind_find(struct uc_span name, bool cert)
{
    for (size_t i = 0; i < sizeof uc_kinds / sizeof uc_kinds[0]; i++)
        if (span_is(name, cert ? uc_kinds[i].cert_type : uc_kinds[i].plain_type))
            return &uc_kinds[i];
    return NULL;
}

bool uc_is_cert_type(const char *type, size_t len)
{
    size_t sl = strlen(CERT_SUFFIX);
    return len > sl && memcmp(type + len - sl, CERT_SUFFIX, sl) == 0;
}

/* A printable, NUL-terminated copy of (at most 80 bytes of) s for messages. */
static void span_show(struct uc_span s, char *out, size_t outlen)
{
    size_t n = s.len < 80 ? s.len : 80;
    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = s.p[i] >= 0x20 && s.p[i] < 0x7f ? (char)s.p[i] : '?';
    out[n] = '\0';
}

/* ---- SSH wire reader (every read bounded by what is left) ------------------ */

struct rd {
    const uint8_t *p;
    size_t left;
};

static bool rd_u32(struct rd *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return true;
}

static bool rd_u64(struct rd *r, uint64_t *v)
{
    uint32_t hi, lo;
    if (r->left < 8 || !rd_u32(r, &hi) || !rd_u32(r, &lo))
        return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

static bool rd_string(struct rd *r, struct uc_span *s)
{
    uint32_t n;
    struct rd save = *r;
    if (!rd_u32(r, &n) || n > r->left) {
        *r = save;
        return false;
    }
    s->p = r->p;
    s->len = n;
    r->p += n;
    r->left -= n;
    return true;
}

/* An SSH mpint that is a usable positive number: not empty, no sign bit,
 * bounded. (A leading zero byte is allowed, as OpenSSH does.) */
static bool mpint_ok(struct uc_span s)
{
    return s.len > 0 && s.len <= MAX_MPINT && !(s.p[0] & 0x80);
}

/* Text without NUL bytes, 1..max bytes, copied (NULL on OOM: *nomem set). */
static char *span_text(struct uc_span s, size_t max, bool *bad)
{
    if (s.len == 0 || s.len > max || memchr(s.p, '\0', s.len)) {
        *bad = true;
        return NULL;
    }
    char *t = malloc(s.len + 1);
    if (t) {
        memcpy(t, s.p, s.len);
        t[s.len] = '\0';
    }
    return t;
}

/* ---- the parts of a certificate -------------------------------------------- */

/* The public key fields of kind k (after its type name). */
static int rd_key_fields(struct rd *r, const struct uc_kind *k, struct uc_pubkey *out,
                         const char *what, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->alg = k->alg;
    out->curve_bits = k->curve_bits;
    out->type = k->plain_type;
    switch (k->alg) {
    case UC_ALG_ED25519:
        if (!rd_string(r, &out->a) || out->a.len != 32)
            goto bad;
        return 0;
    case UC_ALG_ECDSA: {
        struct uc_span curve;
        size_t coord = ((size_t)k->curve_bits + 7) / 8;
        if (!rd_string(r, &curve) || !span_is(curve, k->curve)) {
            uc_set_why(why, whylen, "%s: curve name does not match the key type %s", what,
                    k->plain_type);
            return -1;
        }
        if (!rd_string(r, &out->a) || out->a.len != 1 + 2 * coord || out->a.p[0] != 0x04)
            goto bad;
        return 0;
    }
    case UC_ALG_RSA:
        if (!rd_string(r, &out->a) || !rd_string(r, &out->b) || !mpint_ok(out->a) ||
            !mpint_ok(out->b))
            goto bad;
        return 0;
    }
bad:
    uc_set_why(why, whylen, "%s: malformed %s key", what, k->plain_type);
    return -1;
}

/* The signature key: a plain key of an accepted kind, nothing after it. */
static int parse_ca_key(struct uc_cert *c, char *why, size_t whylen)
{
    struct rd r = {c->ca_blob.p, c->ca_blob.len};
    struct uc_span type;
    char show[96];
    if (!rd_string(&r, &type)) {
        uc_set_why(why, whylen, "CA key: truncated");
        return -1;
    }
    if (uc_is_cert_type((const char *)type.p, type.len)) {
        uc_set_why(why, whylen, "the CA key is itself a certificate");
        return -1;
    }
    const struct uc_kind *k = kind_find(type, false);
    if (!k) {
        span_show(type, show, sizeof show);
        uc_set_why(why, whylen, "unsupported CA key type \"%s\"", show);
        return -1;
    }
    if (rd_key_fields(&r, k, &c->ca, "CA key", why, whylen) != 0)
        return -1;
    if (r.left) {
        uc_set_why(why, whylen, "CA key: %zu bytes after the key", r.left);
        return -1;
    }
    return 0;
}

static int parse_principals(struct uc_span list, struct uc_cert *c, char *why, size_t whylen)
{
    struct rd r = {list.p, list.len};
    while (r.left) {
        struct uc_span name;
        bool bad = false;
        if (c->n_principals == UC_MAX_PRINCIPALS) {
            uc_set_why(why, whylen, "more than %d principals", UC_MAX_PRINCIPALS);
            return -1;
        }
        if (!rd_string(&r, &name)) {
            uc_set_why(why, whylen, "principals: truncated");
            return -1;
        }
        char **nv = realloc(c->principals, (c->n_principals + 1) * sizeof *nv);
        if (!nv)
            goto nomem;
        c->principals = nv;
        if (!(nv[c->n_principals] = span_text(name, UC_MAX_NAME, &bad))) {
            if (!bad)
                goto nomem;
            uc_set_why(why, whylen, "principal %zu is empty, too long or holds a NUL byte",
                    c->n_principals + 1);
            return -1;
        }
        c->n_principals++;
    }
    return 0;
nomem:
    uc_set_why(why, whylen, "out of memory");
    return -1;
}

/* The value of a critical option: one non-empty string and nothing else. */
static int option_value(struct uc_span data, const char *name, char **out, char *why,
                        size_t whylen)
{
    struct rd r = {data.p, data.len};
    struct uc_span v;
    bool bad = false;
    if (!rd_string(&r, &v) || r.left) {
        uc_set_why(why, whylen, "critical option %s: malformed value", name);
        return -1;
    }
    if (!(*out = span_text(v, UC_MAX_BLOB, &bad))) {
        if (bad)
            uc_set_why(why, whylen, "critical option %s: empty value or a NUL byte in it", name);
        else
            uc_set_why(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}

static int take_critical(struct uc_cert *c, struct uc_span name, struct uc_span data, char *why,
                         size_t whylen)
{
    if (span_is(name, "force-command"))
        return option_value(data, "force-command", &c->force_command, why, whylen);
    if (span_is(name, "source-address"))
        return option_value(data, "source-address", &c->source_address, why, whylen);
    if (!c->unknown_critical) { /* refused by uc_check: remember its name */
        char show[96];
        span_show(name, show, sizeof show);
        if (!(c->unknown_critical = strdup(show))) {
            uc_set_why(why, whylen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int take_extension(struct uc_cert *c, struct uc_span name, struct uc_span data, char *why,
                          size_t whylen)
{
    static const char *const flags[] = {"permit-pty", "permit-port-forwarding"};
    bool *dst[] = {&c->permit_pty, &c->permit_port_forwarding};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!span_is(name, flags[i]))
            continue;
        if (data.len) {
            uc_set_why(why, whylen, "extension %s carries data", flags[i]);
            return -1;
        }
        *dst[i] = true;
        return 0;
    }
    return 0; /* other extensions grant nothing sshgate offers */
}

/* Critical options or extensions: (string name, string data) pairs, each
 * name once. */
static int parse_options(struct uc_span list, bool critical, struct uc_cert *c, char *why,
                         size_t whylen)
{
    const char *what = critical ? "critical option" : "extension";
    struct uc_span seen[UC_MAX_OPTIONS];
    size_t n = 0;
    struct rd r = {list.p, list.len};
    while (r.left) {
        struct uc_span name, data;
        char show[96];
        if (n == UC_MAX_OPTIONS) {
            uc_set_why(why, whylen, "more than %d %ss", UC_MAX_OPTIONS, what);
            return -1;
        }
        if (!rd_string(&r, &name) || !rd_string(&r, &data)) {
            uc_set_why(why, whylen, "%ss: truncated", what);
            return -1;
        }
        if (name.len == 0 || name.len > UC_MAX_NAME || memchr(name.p, '\0', name.len)) {
            uc_set_why(why, whylen, "%s %zu: bad name", what, n + 1);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (span_same(seen[i], name)) {
                span_show(name, show, sizeof show);
                uc_set_why(why, whylen, "%s \"%s\" given twice", what, show);
                return -1;
            }
        }
        seen[n++] = name;
        int rc = critical ? take_critical(c, name, data, why, whylen)
                          : take_extension(c, name, data, why, whylen);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Copy of the key id for logs: control and non-ASCII bytes become '?'. */
static char *key_id_copy(struct uc_span id)
{
    char *t = malloc(id.len + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < id.len; i++)
        t[i] = id.p[i] >= 0x20 && id.p[i] < 0x7f ? (char)id.p[i] : '?';
    t[id.len] = '\0';
    return t;
}

/* The fields, in the order of PROTOCOL.certkeys. */
static int parse_fields(struct uc_cert *c, char *why, size_t whylen)
{
    struct rd r = {c->blob, c->blob_len};
    struct uc_span type, nonce, key_id, principals, critical, extensions, reserved;
    char show[96];

    if (!rd_string(&r, &type)) {
        uc_set_why(why, whylen, "certificate truncated");
        return -1;
    }
    const struct uc_kind *k = kind_find(type, true);
    if (!k) {
        span_show(type, show, sizeof show);
        uc_set_why(why, whylen, "unsupported certificate type \"%s\"", show);
        return -1;
    }
    snprintf(c->type, sizeof c->type, "%s", k->cert_type);
    if (!rd_string(&r, &nonce)) {
        uc_set_why(why, whylen, "certificate truncated");
        return -1;
    }
    if (rd_key_fields(&r, k, &c->key, "certified key", why, whylen) != 0)
        return -1;
    if (!rd_u64(&r, &c->serial) || !rd_u32(&r, &c->cert_type) || !rd_string(&r, &key_id) ||
        !rd_string(&r, &principals) || !rd_u64(&r, &c->valid_after) ||
        !rd_u64(&r, &c->valid_before) || !rd_string(&r, &critical) ||
        !rd_string(&r, &extensions) || !rd_string(&r, &reserved) || !rd_string(&r, &c->ca_blob)) {
        uc_set_why(why, whylen, "certificate truncated");
        return -1;
    }
    /* the CA signed everything up to and including its own key */
    c->signed_part = (struct uc_span){c->blob, c->blob_len - r.left};
    if (!rd_string(&r, &c->signature)) {
        uc_set_why(why, whylen, "certificate truncated (signature)");
        return -1;
    }
    if (r.left) {
        uc_set_why(why, whylen, "%zu bytes after the signature", r.left);
        return -1;
    }
    if (memchr(key_id.p, '\0', key_id.len)) {
        uc_set_why(why, whylen, "NUL byte in the key id");
        return -1;
    }
    if (!(c->key_id = key_id_copy(key_id))) {
        uc_set_why(why, whylen, "out of memory");
        return -1;
    }
    if (parse_principals(principals, c, why, whylen) != 0 ||
        parse_options(critical, true, c, why, whylen) != 0 ||
        parse_options(extensions, false, c, why, whylen) != 0)
        return -1;
    return parse_ca_key(c, why, whylen);
}

int uc_parse(const uint8_t *blob, size_t len, struct uc_cert *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (why && whylen)
        why[0] = '\0';
    if (!blob || len == 0 || len > UC_MAX_BLOB) {
        uc_set_why(why, whylen, "certificate empty or longer than %d bytes", UC_MAX_BLOB);
        return -1;
    }
    if (!(out->blob = malloc(len))) {
        uc_set_why(why, whylen, "out of memory");
        return -1;
    }
    memcpy(out->blob, blob, len);
    out->blob_len = len;
    if (parse_fields(out, why, whylen) != 0) {
        uc_cert_clear(out);
        return -1;
    }
    return 0;
}

int uc_parse_text(const char *text, size_t len, struct uc_cert *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *sp = text ? memchr(text, ' ', len) : NULL;
    if (!sp || sp == text) {
        uc_set_why(why, whylen, "not \"type base64\"");
        return -1;
    }
    size_t tlen = (size_t)(sp - text);
    const char *b64 = sp + 1;
    const char *end = memchr(b64, ' ', len - tlen - 1);
    size_t b64len = end ? (size_t)(end - b64) : len - tlen - 1;
    if (b64len == 0 || b64len > (UC_MAX_BLOB + 2) / 3 * 4) {
        uc_set_why(why, whylen, "certificate data empty or longer than %d bytes", UC_MAX_BLOB);
        return -1;
    }
    size_t cap = b64len / 4 * 3;
    uint8_t *blob = malloc(cap ? cap : 1);
    if (!blob) {
        uc_set_why(why, whylen, "out of memory");
        return -1;
    }
    long n = ak_base64_decode(b64, b64len, blob, cap);
    int rc = -1;
    struct rd r = {blob, n > 0 ? (size_t)n : 0};
    struct uc_span inner;
    if (n < 0)
        uc_set_why(why, whylen, "certificate data is not valid base64");
    else if (!rd_string(&r, &inner) || inner.len != tlen || memcmp(inner.p, text, tlen) != 0)
        uc_set_why(why, whylen, "certificate data does not match its type");
    else
        rc = uc_parse(blob, (size_t)n, out, why, whylen);
    free(blob);
    return rc;
}

void uc_cert_clear(struct uc_cert *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_principals; i++)
        free(c->principals[i]);
    free(c->principals);
    free(c->key_id);
    free(c->force_command);
    free(c->source_address);
    free(c->unknown_critical);
    free(c->blob);
    memset(c, 0, sizeof *c);
}

/* ---- checks ---------------------------------------------------------------- */

/* "2030-01-02 03:04:05Z", or the number when it is out of range. */
static void show_time(uint64_t t, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t > (uint64_t)253402300799ULL /* 9999-12-31 */ || !gmtime_r(&tt, &tm) ||
        !strftime(out, outlen, "%Y-%m-%d %H:%M:%SZ", &tm))
        snprintf(out, outlen, "%llu", (unsigned long long)t);
}

static int check_validity(const struct uc_cert *c, time_t now, char *why, size_t whylen)
{
    uint64_t t = now < 0 ? 0 : (uint64_t)now;
    char when[48];
    if (t < c->valid_after) {
        show_time(c->valid_after, when, sizeof when);
        uc_set_why(why, whylen, "certificate not valid yet (valid after %s)", when);
        return 0;
    }
    if (t >= c->valid_before) {
        show_time(c->valid_before, when, sizeof when);
        uc_set_why(why, whylen, "certificate expired (valid before %s)", when);
        return 0;
    }
    return 1;
}

static int check_source(const struct uc_cert *c, const char *peer, char *why, size_t whylen)
{
    if (!c->source_address)
        return 1;
    int m = addr_match_cidr_list(peer ? peer : "", c->source_address);
    if (m == ADDR_MATCH_YES)
        return 1;
    if (m == ADDR_MATCH_ERROR)
        uc_set_why(why, whylen, "malformed source-address \"%.200s\" (or peer \"%s\")",
                c->source_address, peer ? peer : "");
    else
        uc_set_why(why, whylen, "%s is not in source-address \"%.200s\"", peer, c->source_address);
    return 0;
}

int uc_check(const struct uc_cert *c, const char *peer, time_t now, char *why, size_t whylen)
{
    if (c->cert_type != UC_TYPE_USER) {
        uc_set_why(why, whylen, "not a user certificate (type %u%s)", (unsigned)c->cert_type,
                c->cert_type == UC_TYPE_HOST ? ": host" : "");
        return 0;
    }
    if (!check_validity(c, now, why, whylen))
        return 0;
    if (c->n_principals == 0) {
        uc_set_why(why, whylen, "the certificate names no principals");
        return 0;
    }
    if (c->unknown_critical) {
        uc_set_why(why, whylen, "unsupported critical option \"%s\"", c->unknown_critical);
        return 0;
    }
    return check_source(c, peer, why, whylen);
}

bool uc_has_principal(const struct uc_cert *c, const char *name)
{
    for (size_t i = 0; i < c->n_principals; i++)
        if (strcmp(c->principals[i], name) == 0)
            return true;
    return false;
}

bool uc_signed_by(const struct uc_cert *c, const struct ak_key *anchor)
{
    return strcmp(anchor->type, c->ca.type) == 0 && anchor->blob_len == c->ca_blob.len &&
           memcmp(anchor->blob, c->ca_blob.p, c->ca_blob.len) == 0;
}

/* Is one of the certificate's principals in the comma-separated list? */
static bool principal_in_list(const struct uc_cert *c, const char *list)
{
    for (size_t i = 0; i < c->n_principals; i++)
        if (ak_list_has(list, c->principals[i]))
            return true;
    return false;
}

int uc_vouches(const struct ak_key *anchor, bool from_authorized_keys, const struct uc_cert *c,
               const char *user, const char *peer, time_t now, char *why, size_t whylen)
{
    uc_set_why(why, whylen, "%s", "");
    if ((from_authorized_keys && !anchor->cert_authority) || !uc_signed_by(c, anchor))
        return 0;
    if (from_authorized_keys && anchor->principals) {
        if (!principal_in_list(c, anchor->principals)) {
            uc_set_why(why, whylen, "no principal of the certificate is in principals=\"%.200s\"",
                    anchor->principals);
            return 0;
        }
    } else if (!uc_has_principal(c, user)) {
        uc_set_why(why, whylen, "\"%s\" is not a principal of the certificate", user);
        return 0;
    }
    if (from_authorized_keys && !ak_key_options_allow(anchor, peer, now, why, whylen))
        return 0;
    return 1;
}

int uc_restrict_add(struct ak_restrict *r, const struct uc_cert *c, char *why, size_t whylen)
{
    if (!c->permit_pty)
        r->flags |= AK_RESTRICT_PTY;
    if (!c->permit_port_forwarding)
        r->flags |= AK_RESTRICT_PORT_FORWARDING;
    if (!c->force_command)
        return AK_OK;
    if (r->command) {
        if (strcmp(r->command, c->force_command) == 0)
            return AK_OK;
        uc_set_why(why, whylen, "the certificate's force-command differs from the line's command=");
        return AK_ERR_OPTION;
    }
    return (r->command = strdup(c->force_command)) ? AK_OK : AK_ERR_NOMEM;
}
