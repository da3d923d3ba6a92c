/*
 * sshparam.c — the SSH param codec (see sshparam.h for the contract).
 *
 * Decoding walks the payload field by field with a bounds-checked reader;
 * every field type has one entry in a dispatch table that reads it from the
 * wire, renders it as text or as bytes, and writes it from text.
 */
#include "sshparam.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>

#include "plugin.h"

/* ------------------------------------------------------------------ */
/* Well-known fields                                                   */
/* ------------------------------------------------------------------ */

struct known_field {
    const char *name;
    const char *alias; /* second accepted spelling, or NULL */
    const char *type;
};

struct known_request {
    const char *type;
    const struct known_field *fields;
    size_t n;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct known_field f_pty_req[] = {
    {"TerminalType", NULL, "s"},
    {"TerminalWidthCharacters", NULL, "i"},
    {"TerminalHeightRows", NULL, "i"},
    {"TerminalWidthPixels", NULL, "i"},
    {"TerminalHeightPixels", NULL, "i"},
    {"TerminalModes", NULL, "s"},
};
static const struct known_field f_x11_req[] = {
    {"SingleConnection", NULL, "f"},
    {"X11AuthProtocol", NULL, "s"},
    {"X11AuthCookie", NULL, "s"},
    {"X11ScreenNumber", NULL, "i"},
};
static const struct known_field f_env[] = {
    {"VariableName", NULL, "s"},
    {"VariableValue", NULL, "s"},
};
static const struct known_field f_exec[] = {{"Command", NULL, "s"}};
static const struct known_field f_subsystem[] = {{"Subsystem", NULL, "s"}};
static const struct known_field f_xon_xoff[] = {{"ClientCanDo", NULL, "f"}};
static const struct known_field f_signal[] = {{"SignalName", NULL, "s"}};
static const struct known_field f_break[] = {{"BreakLength", NULL, "i"}};
static const struct known_field f_window_change[] = {
    {"TerminalWidthCharacters", NULL, "i"},
    {"TerminalHeightRows", NULL, "i"},
    {"TerminalWidthPixels", NULL, "i"},
    {"TerminalHeightPixels", NULL, "i"},
};
static const struct known_field f_exit_status[] = {{"ExitStatus", NULL, "i"}};
static const struct known_field f_exit_signal[] = {
    {"SignalName", NULL, "s"},
    {"CoreDumped", NULL, "f"},
    {"ErrorMessage", NULL, "s"},
    {"LanguageTag", NULL, "s"},
};
static const struct known_field f_direct_tcpip[] = {
    {"Host", NULL, "s"},
    {"Port", NULL, "i"},
    {"OriginatorAddress", NULL, "s"},
    {"OriginatorPort", NULL, "i"},
};
static const struct known_field f_forwarded_tcpip[] = {
    {"ConnectedAddress", "Host", "s"},
    {"ConnectedPort", "Port", "i"},
    {"OriginatorAddress", NULL, "s"},
    {"OriginatorPort", NULL, "i"},
};
static const struct known_field f_x11_open[] = {
    {"OriginatorAddress", NULL, "s"},
    {"OriginatorPort", NULL, "i"},
};
static const struct known_field f_tcpip_forward[] = {
    {"AddressToBind", NULL, "s"},
    {"PortToBind", NULL, "i"},
};

static const struct known_request known_requests[] = {
    {"pty-req", f_pty_req, N(f_pty_req)},
    {"x11-req", f_x11_req, N(f_x11_req)},
    {"env", f_env, N(f_env)},
    {"exec", f_exec, N(f_exec)},
    {"subsystem", f_subsystem, N(f_subsystem)},
    {"xon-xoff", f_xon_xoff, N(f_xon_xoff)},
    {"signal", f_signal, N(f_signal)},
    {"break", f_break, N(f_break)},
    {"window-change", f_window_change, N(f_window_change)},
    {"exit-status", f_exit_status, N(f_exit_status)},
    {"exit-signal", f_exit_signal, N(f_exit_signal)},
    {"direct-tcpip", f_direct_tcpip, N(f_direct_tcpip)},
    {"forwarded-tcpip", f_forwarded_tcpip, N(f_forwarded_tcpip)},
    {"x11", f_x11_open, N(f_x11_open)},
    {"tcpip-forward", f_tcpip_forward, N(f_tcpip_forward)},
    {"cancel-tcpip-forward", f_tcpip_forward, N(f_tcpip_forward)},
};

static const struct known_request *find_request(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < N(known_requests); i++)
        if (strcmp(known_requests[i].type, type) == 0)
            return &known_requests[i];
    return NULL;
}

const char *sg_param_request_type(size_t idx)
{
    return idx < N(known_requests) ? known_requests[idx].type : NULL;
}

const char *sg_param_field_name(const char *request_type, size_t idx, const char **type)
{
    const struct known_request *r = find_request(request_type);
    if (r == NULL || idx >= r->n)
        return NULL;
    if (type != NULL)
        *type = r->fields[idx].type;
    return r->fields[idx].name;
}

/* ------------------------------------------------------------------ */
/* Wire reader                                                         */
/* ------------------------------------------------------------------ */

struct reader {
    const uint8_t *p;
    size_t len;
    size_t off;
};

/* One decoded field: raw bytes (s, sb, m, and the wire bytes of the fixed
 * width types) plus the numeric value of i, l, b, f. */
struct value {
    const uint8_t *data;
    size_t len;
    uint64_t num;
};

static int rd_fixed(struct reader *r, size_t width, struct value *v)
{
    if (r->len - r->off < width)
        return SG_E_INVAL;
    v->data = r->p + r->off;
    v->len = width;
    v->num = 0;
    for (size_t i = 0; i < width; i++)
        v->num = (v->num << 8) | r->p[r->off + i];
    r->off += width;
    return SG_OK;
}

static int rd_string(struct reader *r, struct value *v)
{
    struct value l;
    if (rd_fixed(r, 4, &l) != SG_OK)
        return SG_E_INVAL;
    if (l.num > r->len - r->off)
        return SG_E_INVAL;
    v->data = r->p + r->off;
    v->len = (size_t)l.num;
    v->num = 0;
    r->off += v->len;
    return SG_OK;
}

static int rd_s(struct reader *r, struct value *v) { return rd_string(r, v); }
static int rd_i(struct reader *r, struct value *v) { return rd_fixed(r, 4, v); }
static int rd_l(struct reader *r, struct value *v) { return rd_fixed(r, 8, v); }
static int rd_b(struct reader *r, struct value *v) { return rd_fixed(r, 1, v); }

/* ------------------------------------------------------------------ */
/* Output helpers                                                      */
/* ------------------------------------------------------------------ */

/* Copy n bytes plus a NUL terminator. */
static long put_text(char *out, size_t out_size, const void *src, size_t n)
{
    if (n >= out_size || n > LONG_MAX)
        return SG_E_LIMIT;
    if (n > 0)
        memcpy(out, src, n);
    out[n] = '\0';
    return (long)n;
}

static long put_bytes(uint8_t *out, size_t out_size, const void *src, size_t n)
{
    if (n > out_size || n > LONG_MAX)
        return SG_E_LIMIT;
    if (n > 0)
        memcpy(out, src, n);
    return (long)n;
}

/* ------------------------------------------------------------------ */
/* Text renderers                                                      */
/* ------------------------------------------------------------------ */

static long txt_s(const struct value *v, char *out, size_t out_size)
{
    return put_text(out, out_size, v->data, v->len);
}

static long txt_sb(const struct value *v, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    if (v->len > (SIZE_MAX - 1) / 2 || v->len * 2 >= out_size || v->len * 2 > LONG_MAX)
        return SG_E_LIMIT;
    for (size_t i = 0; i < v->len; i++) {
        out[2 * i] = hex[v->data[i] >> 4];
        out[2 * i + 1] = hex[v->data[i] & 0xf];
    }
    out[2 * v->len] = '\0';
    return (long)(v->len * 2);
}

static long txt_m(const struct value *v, char *out, size_t out_size)
{
    long rc = SG_E_NOMEM;
    uint8_t *tmp = NULL;
    BIGNUM *bn = NULL;
    char *dec = NULL;
    bool neg = v->len > 0 && (v->data[0] & 0x80);

    if (v->len > SG_PARAM_MPINT_MAX)
        return SG_E_LIMIT;
    if (v->len == 0)
        return put_text(out, out_size, "0", 1);
    tmp = malloc(v->len);
    if (tmp == NULL)
        goto out;
    memcpy(tmp, v->data, v->len);
    if (neg) /* magnitude of a two's-complement value: invert, then add 1 */
        for (size_t i = 0; i < v->len; i++)
            tmp[i] = (uint8_t)~tmp[i];
    bn = BN_bin2bn(tmp, (int)v->len, NULL);
    if (bn == NULL)
        goto out;
    if (neg) {
        if (!BN_add_word(bn, 1))
            goto out;
        BN_set_negative(bn, 1);
    }
    dec = BN_bn2dec(bn);
    if (dec == NULL)
        goto out;
    rc = put_text(out, out_size, dec, strlen(dec));
out:
    OPENSSL_free(dec);
    BN_free(bn);
    free(tmp);
    return rc;
}

static long txt_num(const struct value *v, char *out, size_t out_size)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v->num);
    return put_text(out, out_size, tmp, (size_t)n);
}

static long txt_f(const struct value *v, char *out, size_t out_size)
{
    return v->num ? put_text(out, out_size, "True", 4) : put_text(out, out_size, "False", 5);
}

/* Bytes form: the raw field content (string bodies, mpint content, integer
 * wire bytes) for every type. */
static long bin_raw(const struct value *v, uint8_t *out, size_t out_size)
{
    return put_bytes(out, out_size, v->data, v->len);
}

static long bin_m(const struct value *v, uint8_t *out, size_t out_size)
{
    if (v->len > SG_PARAM_MPINT_MAX)
        return SG_E_LIMIT;
    return put_bytes(out, out_size, v->data, v->len);
}

/* ------------------------------------------------------------------ */
/* Writers (SetSSHParam)                                               */
/* ------------------------------------------------------------------ */

struct sink {
    uint8_t *buf;
    size_t len; /* bytes used (the caller's *len plus what we appended) */
    size_t cap;
};

static int put(struct sink *s, const void *src, size_t n)
{
    if (n > s->cap - s->len)
        return SG_E_LIMIT;
    if (n > 0)
        memcpy(s->buf + s->len, src, n);
    s->len += n;
    return SG_OK;
}

static int put_be(struct sink *s, uint64_t v, size_t width)
{
    uint8_t b[8];
    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return put(s, b, width);
}

static int put_string(struct sink *s, const void *src, size_t n)
{
    if (n > UINT32_MAX)
        return SG_E_LIMIT;
    if (n > s->cap - s->len || 4 > s->cap - s->len - n)
        return SG_E_LIMIT;
    put_be(s, n, 4);
    return put(s, src, n);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict unsigned parse: decimal, or hex after "0x"/"0X". No sign, no
 * spaces, no trailing junk, no overflow of `max`. */
static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    uint64_t acc = 0;
    unsigned base = 10;
    const char *p = v;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (*p == '\0')
        return SG_E_INVAL;
    for (; *p != '\0'; p++) {
        int d = base == 16 ? hexval((unsigned char)*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
        if (d < 0)
            return SG_E_INVAL;
        if (acc > (max - (uint64_t)d) / base)
            return SG_E_INVAL;
        acc = acc * base + (uint64_t)d;
    }
    *out = acc;
    return SG_OK;
}

static int wr_s(struct sink *s, const char *v)
{
    return put_string(s, v, strlen(v));
}

static int wr_sb(struct sink *s, const char *v)
{
    size_t n = strlen(v);
    size_t start = s->len;
    int rc;

    if (n % 2 != 0)
        return SG_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)v[i]) < 0)
            return SG_E_INVAL;
    if (n / 2 > UINT32_MAX)
        return SG_E_LIMIT;
    rc = put_be(s, n / 2, 4);
    for (size_t i = 0; rc == SG_OK && i < n; i += 2) {
        uint8_t b = (uint8_t)(hexval((unsigned char)v[i]) << 4 | hexval((unsigned char)v[i + 1]));
        rc = put(s, &b, 1);
    }
    if (rc != SG_OK)
        s->len = start;
    return rc;
}

/* Parse "[-](decimal|0xhex)" into a BIGNUM; the whole string must parse. */
static int parse_bn(const char *v, BIGNUM **out)
{
    const char *p = v;
    bool neg = false;
    bool hex = false;
    int n;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        hex = true;
        p += 2;
    }
    if (*p == '\0' || strlen(p) > (size_t)SG_PARAM_MPINT_MAX * 3)
        return *p == '\0' ? SG_E_INVAL : SG_E_LIMIT;
    for (const char *q = p; *q != '\0'; q++)
        if (hex ? hexval((unsigned char)*q) < 0 : !(*q >= '0' && *q <= '9'))
            return SG_E_INVAL;
    *out = NULL;
    n = hex ? BN_hex2bn(out, p) : BN_dec2bn(out, p);
    if (n <= 0 || *out == NULL) {
        BN_free(*out);
        *out = NULL;
        return SG_E_NOMEM;
    }
    if (neg && !BN_is_zero(*out))
        BN_set_negative(*out, 1);
    return SG_OK;
}

static int wr_m(struct sink *s, const char *v)
{
    BIGNUM *bn = NULL;
    uint8_t *mag = NULL;
    int rc = parse_bn(v, &bn);
    int n;
    bool neg;
    uint8_t lead = 0;
    bool need_lead;
    size_t start = s->len;

    if (rc != SG_OK)
        goto out;
    neg = BN_is_negative(bn);
    n = BN_num_bytes(bn);
    if (n > SG_PARAM_MPINT_MAX) {
        rc = SG_E_LIMIT;
        goto out;
    }
    rc = SG_E_NOMEM;
    mag = malloc(n > 0 ? (size_t)n : 1);
    if (mag == NULL)
        goto out;
    BN_bn2bin(bn, mag); /* magnitude, big-endian, minimal */
    if (neg) {
        /* two's complement: invert, add 1 (carry never leaves byte 0) */
        unsigned carry = 1;
        for (int i = n - 1; i >= 0; i--) {
            unsigned x = (uint8_t)~mag[i] + carry;
            mag[i] = (uint8_t)x;
            carry = x >> 8;
        }
        need_lead = !(mag[0] & 0x80);
        lead = 0xff;
    } else {
        need_lead = n > 0 && (mag[0] & 0x80);
        lead = 0x00;
    }
    rc = put_be(s, (uint64_t)n + (need_lead ? 1 : 0), 4);
    if (rc == SG_OK && need_lead)
        rc = put(s, &lead, 1);
    if (rc == SG_OK)
        rc = put(s, mag, (size_t)n);
    if (rc != SG_OK)
        s->len = start;
out:
    free(mag);
    BN_free(bn);
    return rc;
}

static int wr_uint(struct sink *s, const char *v, uint64_t max, size_t width)
{
    uint64_t x;
    int rc = parse_uint(v, max, &x);
    return rc != SG_OK ? rc : put_be(s, x, width);
}

static int wr_i(struct sink *s, const char *v) { return wr_uint(s, v, UINT32_MAX, 4); }
static int wr_l(struct sink *s, const char *v) { return wr_uint(s, v, UINT64_MAX, 8); }
static int wr_b(struct sink *s, const char *v) { return wr_uint(s, v, UINT8_MAX, 1); }

static int wr_f(struct sink *s, const char *v)
{
    uint8_t b;
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
        b = 1;
    else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
        b = 0;
    else
        return SG_E_INVAL;
    return put(s, &b, 1);
}

/* ------------------------------------------------------------------ */
/* Type dispatch table                                                 */
/* ------------------------------------------------------------------ */

struct ftype {
    const char *name;
    int (*read)(struct reader *r, struct value *v);
    long (*text)(const struct value *v, char *out, size_t out_size);
    long (*bytes)(const struct value *v, uint8_t *out, size_t out_size);
    int (*write)(struct sink *s, const char *value);
};

static const struct ftype ftypes[] = {
    {"s", rd_s, txt_s, bin_raw, wr_s},
    {"sb", rd_s, txt_sb, bin_raw, wr_sb},
    {"m", rd_s, txt_m, bin_m, wr_m},
    {"i", rd_i, txt_num, bin_raw, wr_i},
    {"l", rd_l, txt_num, bin_raw, wr_l},
    {"b", rd_b, txt_num, bin_raw, wr_b},
    {"f", rd_b, txt_f, bin_raw, wr_f},
};

static const struct ftype *find_type(const char *name, size_t n)
{
    for (size_t i = 0; i < N(ftypes); i++)
        if (strlen(ftypes[i].name) == n && strncmp(ftypes[i].name, name, n) == 0)
            return &ftypes[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Field lookup                                                        */
/* ------------------------------------------------------------------ */

/* Read the fields of a "%t1,t2,..." list; leave the last in *v, *type. */
static int locate_list(struct reader *r, const char *list, struct value *v,
                       const struct ftype **type)
{
    const char *p = list;
    int rc = SG_E_INVAL;

    *type = NULL;
    for (;;) {
        const char *start, *end;
        while (*p == ' ' || *p == '\t')
            p++;
        start = p;
        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        end = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0' && *p != ',')
            return SG_E_INVAL;
        *type = find_type(start, (size_t)(end - start));
        if (*type == NULL)
            return SG_E_INVAL;
        rc = (*type)->read(r, v);
        if (rc != SG_OK)
            return rc;
        if (*p == '\0')
            return SG_OK;
        p++; /* ',' */
    }
}

static bool name_is(const struct known_field *f, const char *field)
{
    return strcasecmp(f->name, field) == 0 || (f->alias != NULL && strcasecmp(f->alias, field) == 0);
}

static int locate(const uint8_t *payload, size_t len, const char *request_type, const char *field,
                  struct value *v, const struct ftype **type)
{
    struct reader r = {payload, len, 0};
    const struct known_request *req;

    if (field == NULL || (payload == NULL && len > 0))
        return SG_E_INVAL;
    if (field[0] == '%')
        return locate_list(&r, field + 1, v, type);
    req = find_request(request_type);
    if (req == NULL)
        return SG_E_NOTFOUND;
    for (size_t i = 0; i < req->n; i++) {
        const struct ftype *t = find_type(req->fields[i].type, strlen(req->fields[i].type));
        int rc = t->read(&r, v);
        if (rc != SG_OK) {
            /* Truncated before the field; an unknown name stays NOTFOUND. */
            for (size_t j = i; j < req->n; j++)
                if (name_is(&req->fields[j], field))
                    return rc;
            return SG_E_NOTFOUND;
        }
        if (name_is(&req->fields[i], field)) {
            *type = t;
            return SG_OK;
        }
    }
    return SG_E_NOTFOUND;
}

long sg_param_get(const uint8_t *payload, size_t len, const char *request_type, const char *field,
                  char *out, size_t out_size)
{
    struct value v;
    const struct ftype *t;
    int rc;

    if (out == NULL || out_size == 0)
        return out == NULL && out_size > 0 ? SG_E_INVAL : SG_E_LIMIT;
    out[0] = '\0';
    rc = locate(payload, len, request_type, field, &v, &t);
    if (rc != SG_OK)
        return rc;
    return t->text(&v, out, out_size);
}

long sg_param_get_bytes(const uint8_t *payload, size_t len, const char *request_type,
                        const char *field, uint8_t *out, size_t out_size)
{
    struct value v;
    const struct ftype *t;
    int rc;

    if (out == NULL && out_size > 0)
        return SG_E_INVAL;
    rc = locate(payload, len, request_type, field, &v, &t);
    if (rc != SG_OK)
        return rc;
    if (out == NULL && v.len > 0)
        return SG_E_LIMIT;
    return t->bytes(&v, out, out_size);
}

long sg_param_set(uint8_t *buf, size_t *len, size_t cap, const char *type, const char *value)
{
    const struct ftype *t;
    struct sink s;
    int rc;

    if (len == NULL || type == NULL || value == NULL || *len > cap || (buf == NULL && cap > 0))
        return SG_E_INVAL;
    t = find_type(type, strlen(type));
    if (t == NULL)
        return SG_E_INVAL;
    s.buf = buf;
    s.len = *len;
    s.cap = cap;
    rc = t->write(&s, value);
    if (rc != SG_OK)
        return rc;
    if (s.len > LONG_MAX)
        return SG_E_LIMIT;
    *len = s.len;
    return (long)s.len;
}
