/* authorized_keys.c — one authorized_keys line → options + key (see the header). */
#include "authorized_keys.h"

#include "addr_match.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const ak_known_types[] = {
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool ak_type_known(const char *type, size_t len)
{
    for (size_t i = 0; i < sizeof ak_known_types / sizeof ak_known_types[0]; i++)
        if (strlen(ak_known_types[i]) == len && memcmp(ak_known_types[i], type, len) == 0)
            return true;
    return false;
}

void ak_key_clear(struct ak_key *k)
{
    if (!k)
        return;
    free(k->blob);
    free(k->comment);
    free(k->from);
    free(k->principals);
    ak_restrict_clear(&k->restr);
    memset(k, 0, sizeof *k);
}

bool ak_restrict_any(const struct ak_restrict *r)
{
    return r->flags || r->open || r->listen || r->command;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void ak_restrict_clear(struct ak_restrict *r)
{
    strv_free(r->open, r->n_open);
    strv_free(r->listen, r->n_listen);
    free(r->command);
    memset(r, 0, sizeof *r);
}

void ak_restrict_move(struct ak_restrict *dst, struct ak_restrict *src)
{
    ak_restrict_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

static char **strv_dup(char *const *v, size_t n)
{
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; c && i < n; i++) {
        if (!(c[i] = strdup(v[i]))) {
            strv_free(c, i);
            return NULL;
        }
    }
    return c;
}

int ak_restrict_copy(struct ak_restrict *dst, const struct ak_restrict *src)
{
    ak_restrict_clear(dst);
    dst->flags = src->flags;
    dst->n_open = src->open ? src->n_open : 0;
    dst->n_listen = src->listen ? src->n_listen : 0;
    if ((src->open && !(dst->open = strv_dup(src->open, src->n_open))) ||
        (src->listen && !(dst->listen = strv_dup(src->listen, src->n_listen))) ||
        (src->command && !(dst->command = strdup(src->command)))) {
        ak_restrict_clear(dst);
        return AK_ERR_NOMEM;
    }
    return AK_OK;
}

bool ak_key_same(const struct ak_key *a, const struct ak_key *b)
{
    return strcmp(a->type, b->type) == 0 && a->blob_len == b->blob_len &&
           memcmp(a->blob, b->blob, a->blob_len) == 0;
}

bool ak_key_authorizes(const struct ak_key *line, const struct ak_key *offered)
{
    return !line->cert_authority && ak_key_same(line, offered);
}

bool ak_list_has(const char *list, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *s = list; s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == nlen && memcmp(s, name, nlen) == 0)
            return true;
        s = comma ? comma + 1 : NULL;
    }
    return false;
}

/* ---- base64 ------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long ak_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap)
{
    size_t o = 0;
    if (inlen == 0 || inlen % 4 != 0)
        return -1;
    for (size_t i = 0; i < inlen; i += 4) {
        int v[4];
        int pad = 0;
        bool last = i + 4 == inlen;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && last && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad) /* data after '=' */
                return -1;
            v[j] = b64_value(c);
            if (v[j] < 0)
                return -1;
        }
        uint32_t n =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t produce = 3 - (size_t)pad;
        if (o + produce > outcap)
            return -1;
        out[o++] = (uint8_t)(n >> 16);
        if (produce > 1)
            out[o++] = (uint8_t)(n >> 8);
        if (produce > 2)
            out[o++] = (uint8_t)n;
        /* canonical form: the bits dropped by padding must be zero */
        if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff)))
            return -1;
    }
    return (long)o;
}

/* ---- expiry-time ------------------------------------------------------- */

int ak_parse_expiry(const char *s, time_t *out)
{
    size_t len = strlen(s);
    bool utc = false;
    if (len > 0 && (s[len - 1] == 'Z' || s[len - 1] == 'z')) {
        utc = true;
        len--;
    }
    if (len != 8 && len != 12 && len != 14)
        return -1;
    int f[6] = {0, 0, 0, 0, 0, 0};
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    size_t pos = 0;
    for (int i = 0; i < 6 && pos < len; i++) {
        for (int j = 0; j < width[i]; j++, pos++) {
            if (s[pos] < '0' || s[pos] > '9')
                return -1;
            f[i] = f[i] * 10 + (s[pos] - '0');
        }
    }
    if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 ||
        f[5] > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    tm.tm_isdst = -1;
    time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t;
    return 0;
}

/* ---- options ----------------------------------------------------------- */

/* Flags that restrict (set) or re-allow (clear) what the host enforces;
 * applied left to right like OpenSSH does. */
static const struct {
    const char *name;
    unsigned set, clear;
} ak_restrict_flags[] = {
    {"restrict", AK_RESTRICT_PTY | AK_RESTRICT_PORT_FORWARDING, 0},
    {"no-pty", AK_RESTRICT_PTY, 0},
    {"no-port-forwarding", AK_RESTRICT_PORT_FORWARDING, 0},
    {"pty", 0, AK_RESTRICT_PTY},
    {"port-forwarding", 0, AK_RESTRICT_PORT_FORWARDING},
};

/* Flags accepted and ignored: sshgate never offers agent or X11 forwarding
 * nor runs user rc files (other no-* flags are ignored likewise). */
static const char *const ak_ignored_flags[] = {
    "agent-forwarding",
    "user-rc",
    "X11-forwarding",
};

enum opt_kind { OPT_FLAG, OPT_VALUE };

struct opt_ctx {
    struct ak_key *key;
    char *err;
    size_t errlen;
    unsigned flags; /* AK_ALLOW_* */
};

typedef int (*opt_handler)(struct opt_ctx *c, const char *value);

static int opt_from(struct opt_ctx *c, const char *value)
{
    if (c->key->from) {
        set_err(c->err, c->errlen, "from= given twice");
        return AK_ERR_OPTION;
    }
    if (value[0] == '\0') {
        set_err(c->err, c->errlen, "from= is empty");
        return AK_ERR_OPTION;
    }
    c->key->from = strdup(value);
    return c->key->from ? AK_OK : AK_ERR_NOMEM;
}

static int opt_expiry(struct opt_ctx *c, const char *value)
{
    if (c->key->has_expiry) {
        set_err(c->err, c->errlen, "expiry-time= given twice");
        return AK_ERR_OPTION;
    }
    if (ak_parse_expiry(value, &c->key->expiry) != 0) {
        set_err(c->err, c->errlen, "bad expiry-time \"%.40s\"", value);
        return AK_ERR_OPTION;
    }
    c->key->has_expiry = true;
    return AK_OK;
}

static int opt_environment(struct opt_ctx *c, const char *value)
{
    (void)c;
    (void)value; /* ignored, as OpenSSH does without PermitUserEnvironment */
    return AK_OK;
}

static bool valid_port(const char *p)
{
    size_t n = strlen(p);
    if (strcmp(p, "*") == 0)
        return true;
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return false;
    long v = atol(p);
    return v >= 1 && v <= 65535;
}

/* "host:port" or "[v6addr]:port"; for permitlisten also a bare "port". */
static bool valid_permit(const char *v, bool listen)
{
    const char *port;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close == v + 1 || close[1] != ':')
            return false;
        port = close + 2;
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon)
            return listen && valid_port(v);
        if (colon == v || memchr(v, ':', (size_t)(colon - v)))
            return false; /* empty host, or an IPv6 address without brackets */
        port = colon + 1;
    }
    return !strchr(v, ',') && valid_port(port);
}

static int add_permit(struct opt_ctx *c, const char *value, bool listen)
{
    char ***v = listen ? &c->key->restr.listen : &c->key->restr.open;
    size_t *n = listen ? &c->key->restr.n_listen : &c->key->restr.n_open;
    const char *name = listen ? "permitlisten" : "permitopen";
    if (!valid_permit(value, listen)) {
        set_err(c->err, c->errlen, "bad %s \"%.60s\"", name, value);
        return AK_ERR_OPTION;
    }
    if (*n >= AK_MAX_PERMITS) {
        set_err(c->err, c->errlen, "too many %s options", name);
        return AK_ERR_OPTION;
    }
    char **nv = realloc(*v, (*n + 2) * sizeof *nv);
    if (!nv)
        return AK_ERR_NOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(value)))
        return AK_ERR_NOMEM;
    nv[++*n] = NULL;
    return AK_OK;
}

static int opt_command(struct opt_ctx *c, const char *value)
{
    if (c->key->restr.command) {
        set_err(c->err, c->errlen, "command= given twice");
        return AK_ERR_OPTION;
    }
    if (value[0] == '\0') {
        set_err(c->err, c->errlen, "command= is empty");
        return AK_ERR_OPTION;
    }
    c->key->restr.command = strdup(value);
    return c->key->restr.command ? AK_OK : AK_ERR_NOMEM;
}

/* principals="a,b": names, none empty (checked against cert-authority
 * once the whole option list is read). */
static int opt_principals(struct opt_ctx *c, const char *value)
{
    if (!(c->flags & AK_ALLOW_CA)) {
        set_err(c->err, c->errlen, "unsupported option \"principals\"");
        return AK_ERR_OPTION;
    }
    if (c->key->principals) {
        set_err(c->err, c->errlen, "principals= given twice");
        return AK_ERR_OPTION;
    }
    size_t n = strlen(value);
    if (n == 0 || value[0] == ',' || value[n - 1] == ',' || strstr(value, ",,")) {
        set_err(c->err, c->errlen, "principals= has an empty name");
        return AK_ERR_OPTION;
    }
    c->key->principals = strdup(value);
    return c->key->principals ? AK_OK : AK_ERR_NOMEM;
}

static int opt_permitopen(struct opt_ctx *c, const char *value)
{
    return add_permit(c, value, false);
}

static int opt_permitlisten(struct opt_ctx *c, const char *value)
{
    return add_permit(c, value, true);
}

static const struct {
    const char *name;
    enum opt_kind kind;
    opt_handler handler;
} ak_value_options[] = {
    {"from", OPT_VALUE, opt_from},
    {"expiry-time", OPT_VALUE, opt_expiry},
    {"environment", OPT_VALUE, opt_environment},
    {"permitopen", OPT_VALUE, opt_permitopen},
    {"permitlisten", OPT_VALUE, opt_permitlisten},
    {"command", OPT_VALUE, opt_command},
    {"principals", OPT_VALUE, opt_principals},
};

static int handle_option(struct opt_ctx *c, const char *name, size_t nlen, const char *value,
                         bool has_value)
{
    if (!has_value) {
        for (size_t i = 0; i < sizeof ak_restrict_flags / sizeof ak_restrict_flags[0]; i++) {
            if (strlen(ak_restrict_flags[i].name) == nlen &&
                strncasecmp(ak_restrict_flags[i].name, name, nlen) == 0) {
                c->key->restr.flags |= ak_restrict_flags[i].set;
                c->key->restr.flags &= ~ak_restrict_flags[i].clear;
                if (i == 0)
                    c->key->restricted = true;
                return AK_OK;
            }
        }
        if ((c->flags & AK_ALLOW_CA) && nlen == strlen("cert-authority") &&
            strncasecmp(name, "cert-authority", nlen) == 0) {
            c->key->cert_authority = true;
            return AK_OK;
        }
        if (nlen > 3 && strncasecmp(name, "no-", 3) == 0)
            return AK_OK;
        for (size_t i = 0; i < sizeof ak_ignored_flags / sizeof ak_ignored_flags[0]; i++)
            if (strlen(ak_ignored_flags[i]) == nlen &&
                strncasecmp(ak_ignored_flags[i], name, nlen) == 0)
                return AK_OK;
    } else {
        for (size_t i = 0; i < sizeof ak_value_options / sizeof ak_value_options[0]; i++)
            if (strlen(ak_value_options[i].name) == nlen &&
                strncasecmp(ak_value_options[i].name, name, nlen) == 0)
                return ak_value_options[i].handler(c, value);
    }
    set_err(c->err, c->errlen, "unsupported option \"%.*s\"", (int)(nlen > 40 ? 40 : nlen), name);
    return AK_ERR_OPTION;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_option_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Parse options from s[*pos..len) up to the first unquoted blank. */
static int parse_options(const char *s, size_t len, size_t *pos, struct opt_ctx *c)
{
    size_t i = *pos;
    int count = 0;
    char *value = malloc(AK_MAX_OPTION_VALUE + 1);
    int rc = AK_ERR_SYNTAX;
    if (!value)
        return AK_ERR_NOMEM;

    for (;;) {
        size_t name_start = i;
        while (i < len && is_option_name_char(s[i]))
            i++;
        size_t nlen = i - name_start;
        if (nlen == 0) {
            set_err(c->err, c->errlen, "bad option syntax at column %zu", i + 1);
            goto out;
        }
        if (++count > AK_MAX_OPTIONS) {
            set_err(c->err, c->errlen, "too many options");
            goto out;
        }
        bool has_value = false;
        size_t vlen = 0;
        if (i < len && s[i] == '=') {
            has_value = true;
            i++;
            if (i >= len || s[i] != '"') {
                set_err(c->err, c->errlen, "option value must be quoted at column %zu", i + 1);
                goto out;
            }
            i++;
            for (;;) {
                if (i >= len) {
                    set_err(c->err, c->errlen, "unterminated quote");
                    goto out;
                }
                char ch = s[i];
                if (ch == '"')
                    break;
                if (ch == '\\' && i + 1 < len && s[i + 1] == '"') {
                    ch = '"';
                    i++;
                }
                if (vlen >= AK_MAX_OPTION_VALUE) {
                    set_err(c->err, c->errlen, "option value too long");
                    goto out;
                }
                value[vlen++] = ch;
                i++;
            }
            i++; /* closing quote */
        }
        value[vlen] = '\0';
        rc = handle_option(c, s + name_start, nlen, value, has_value);
        if (rc != AK_OK)
            goto out;
        rc = AK_ERR_SYNTAX;
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && !is_blank(s[i])) {
            set_err(c->err, c->errlen, "bad option syntax at column %zu", i + 1);
            goto out;
        }
        break;
    }
    *pos = i;
    rc = AK_OK;
out:
    free(value);
    return rc;
}

/* ---- the key itself ---------------------------------------------------- */

static size_t token_end(const char *s, size_t len, size_t i)
{
    while (i < len && !is_blank(s[i]))
        i++;
    return i;
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
    while (i < len && is_blank(s[i]))
        i++;
    return i;
}

/* The blob starts with string(type): uint32 length + bytes. */
static bool blob_type_matches(const uint8_t *b, size_t blen, const char *type)
{
    if (blen < 4)
        return false;
    uint32_t n = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    size_t tlen = strlen(type);
    /* type string plus at least one byte of key material */
    return n == tlen && n < blen - 4 && memcmp(b + 4, type, tlen) == 0;
}

/* Parse "type base64 [comment]" from s[i..len). */
static int parse_key_part(const char *s, size_t len, size_t i, struct ak_key *out, char *err,
                          size_t errlen)
{
    size_t tend = token_end(s, len, i);
    if (tend == i) {
        set_err(err, errlen, "missing key type");
        return AK_ERR_SYNTAX;
    }
    if (!ak_type_known(s + i, tend - i)) {
        set_err(err, errlen, "unknown key type \"%.*s\"", (int)(tend - i > 40 ? 40 : tend - i),
                s + i);
        return AK_ERR_TYPE;
    }
    memcpy(out->type, s + i, tend - i);
    out->type[tend - i] = '\0';

    i = skip_blanks(s, len, tend);
    size_t bend = token_end(s, len, i);
    if (bend == i) {
        set_err(err, errlen, "missing key data");
        return AK_ERR_SYNTAX;
    }
    size_t b64len = bend - i;
    size_t cap = b64len / 4 * 3;
    out->blob = malloc(cap ? cap : 1);
    if (!out->blob)
        return AK_ERR_NOMEM;
    long n = ak_base64_decode(s + i, b64len, out->blob, cap);
    if (n < 0) {
        set_err(err, errlen, "key data is not valid base64");
        return AK_ERR_BLOB;
    }
    out->blob_len = (size_t)n;
    if (!blob_type_matches(out->blob, out->blob_len, out->type)) {
        set_err(err, errlen, "key data does not match its type %s", out->type);
        return AK_ERR_BLOB;
    }

    i = skip_blanks(s, len, bend);
    size_t clen = len - i;
    while (clen > 0 && is_blank(s[i + clen - 1]))
        clen--;
    out->comment = malloc(clen + 1);
    if (!out->comment)
        return AK_ERR_NOMEM;
    memcpy(out->comment, s + i, clen);
    out->comment[clen] = '\0';
    return AK_OK;
}

static int parse_common(const char *line, size_t len, struct ak_key *out, char *err, size_t errlen,
                        bool allow_options, unsigned flags)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (!line) {
        set_err(err, errlen, "no input");
        return AK_ERR_SYNTAX;
    }
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > AK_MAX_LINE) {
        set_err(err, errlen, "line longer than %d bytes", AK_MAX_LINE);
        return AK_ERR_SYNTAX;
    }
    if (memchr(line, '\0', len)) {
        set_err(err, errlen, "NUL byte in line");
        return AK_ERR_SYNTAX;
    }
    size_t i = skip_blanks(line, len, 0);
    if (i == len || line[i] == '#')
        return AK_SKIP;

    size_t first_end = token_end(line, len, i);
    if (!ak_type_known(line + i, first_end - i)) {
        size_t tl = first_end - i;
        /* "foo AAAA..." where foo is neither a type nor an option list nor
         * followed by a key type: call it an unknown type, not an option */
        bool looks_like_options = memchr(line + i, '=', tl) || memchr(line + i, ',', tl);
        if (allow_options && !looks_like_options) {
            size_t n = skip_blanks(line, len, first_end);
            size_t nend = token_end(line, len, n);
            looks_like_options = ak_type_known(line + n, nend - n);
        }
        if (!allow_options || !looks_like_options) {
            set_err(err, errlen, "unknown key type \"%.*s\"", (int)(tl > 40 ? 40 : tl), line + i);
            rc = AK_ERR_TYPE;
            goto out;
        }
        struct opt_ctx c = {out, err, errlen, flags};
        rc = parse_options(line, len, &i, &c);
        if (rc != AK_OK)
            goto out;
        if (out->principals && !out->cert_authority) {
            set_err(err, errlen, "principals= without cert-authority");
            rc = AK_ERR_OPTION;
            goto out;
        }
        i = skip_blanks(line, len, i);
    }
    rc = parse_key_part(line, len, i, out, err, errlen);
out:
    if (rc != AK_OK)
        ak_key_clear(out);
    return rc;
}

int ak_parse_line(const char *line, size_t len, struct ak_key *out, char *err, size_t errlen)
{
    return parse_common(line, len, out, err, errlen, true, 0);
}

int ak_parse_line_ex(const char *line, size_t len, unsigned flags, struct ak_key *out, char *err,
                     size_t errlen)
{
    return parse_common(line, len, out, err, errlen, true, flags);
}

int ak_parse_public_key(const char *text, size_t len, struct ak_key *out, char *err, size_t errlen)
{
    return parse_common(text, len, out, err, errlen, false, 0);
}

int ak_key_options_allow(const struct ak_key *k, const char *peer, time_t now, char *why,
                         size_t whylen)
{
    if (k->has_expiry && now >= k->expiry) {
        set_err(why, whylen, "key expired (expiry-time)");
        return 0;
    }
    if (k->from) {
        int m = addr_match_list(peer ? peer : "", k->from);
        if (m != ADDR_MATCH_YES) {
            set_err(why, whylen, "%s not allowed by from=\"%.200s\"%s", peer ? peer : "?", k->from,
                    m == ADDR_MATCH_ERROR ? " (bad pattern)" : "");
            return 0;
        }
    }
    return 1;
}
