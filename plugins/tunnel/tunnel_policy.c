/* tunnel_policy.c — forwarding policy: pattern parsing and address checks.
 * See tunnel_policy.h. No host calls, no allocation. */
#include "tunnel_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const verdict_names[] = {
    [TP_PERMIT] = "permitted",
    [TP_DENY_BAD_HOST] = "not a canonical address nor a valid host name",
    [TP_DENY_BAD_PORT] = "bad port",
    [TP_DENY_NO_MATCH] = "no permit pattern matches",
    [TP_DENY_CIDR] = "address in a denied range",
    [TP_DENY_NOT_ALLOWED] = "address outside allow_cidrs",
    [TP_DENY_LOOPBACK] = "loopback not permitted explicitly",
    [TP_DENY_SELF] = "the gateway's own port",
    [TP_DENY_WILDCARD] = "wildcard bind not permitted",
    [TP_DENY_PRIVILEGED] = "privileged port not permitted",
};

const char *tp_verdict_str(int verdict)
{
    if (verdict < 0 || (size_t)verdict >= sizeof(verdict_names) / sizeof(verdict_names[0]))
        return "denied";
    return verdict_names[verdict];
}

static void set_err(char *err, size_t errlen, const char *msg, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: '%.80s'", msg, what ? what : "");
}

char *tp_printable(const char *in, char *out, size_t out_size)
{
    size_t i = 0;
    if (!out_size)
        return out;
    for (; in && in[i] && i + 1 < out_size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

/* ---------------------------------------------------------------- addresses */

static void addr_normalise(struct tp_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a->family == AF_INET6 && memcmp(a->a, mapped, sizeof(mapped)) == 0) {
        uint8_t v4[4];
        memcpy(v4, a->a + 12, 4);
        memset(a->a, 0, sizeof(a->a));
        memcpy(a->a, v4, 4);
        a->family = AF_INET;
    }
}

/* Copy s (without surrounding brackets when bracketed) into buf. */
static int strip_brackets(const char *s, char *buf, size_t len, bool *bracketed)
{
    size_t n = strlen(s);
    *bracketed = false;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
        *bracketed = true;
    }
    if (n >= len)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

int tp_addr_parse(const char *s, struct tp_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 2];
    bool bracketed;
    struct tp_addr a;

    if (!s || strip_brackets(s, buf, sizeof(buf), &bracketed) != 0)
        return -1;
    memset(&a, 0, sizeof(a));
    if (!bracketed && inet_pton(AF_INET, buf, a.a) == 1) {
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, a.a) == 1) {
        a.family = AF_INET6;
        addr_normalise(&a);
    } else {
        return -1;
    }
    *out = a;
    return 0;
}

void tp_addr_format(const struct tp_addr *a, char *buf, size_t len)
{
    if (!len)
        return;
    if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static size_t addr_len(const struct tp_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

bool tp_addr_equal(const struct tp_addr *x, const struct tp_addr *y)
{
    return x->family == y->family && memcmp(x->a, y->a, addr_len(x)) == 0;
}

bool tp_addr_is_loopback(const struct tp_addr *a)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == AF_INET)
        return a->a[0] == 127;
    return memcmp(a->a, v6lo, 16) == 0;
}

bool tp_addr_is_unspecified(const struct tp_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->a, zero, addr_len(a)) == 0;
}

/* IPv4-compatible IPv6 (::a.b.c.d, deprecated by RFC 4291), not :: or ::1. */
static bool addr_is_v4_compatible(const struct tp_addr *a)
{
    static const uint8_t zero[12];
    if (a->family != AF_INET6 || memcmp(a->a, zero, 12) != 0)
        return false;
    return !(a->a[12] == 0 && a->a[13] == 0 && a->a[14] == 0 && a->a[15] <= 1);
}

int tp_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct tp_addr *out,
                          int *port)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->a, &s4->sin_addr, 4);
        if (port)
            *port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        memcpy(out->a, &s6->sin6_addr, 16);
        addr_normalise(out);
        if (port)
            *port = ntohs(s6->sin6_port);
        return 0;
    }
    return -1;
}

int tp_addr_to_sockaddr(const struct tp_addr *a, int port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (port < 0 || port > 65535)
        return -1;
    if (a->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        memcpy(&s4->sin_addr, a->a, 4);
        *len = sizeof(*s4);
        return 0;
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        memcpy(&s6->sin6_addr, a->a, 16);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- CIDRs */

static bool parse_uint(const char *s, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool prefix_match(const uint8_t *x, const uint8_t *y, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(x, y, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[full] & mask) == (y[full] & mask);
}

int tp_cidr_parse(const char *s, struct tp_cidr *out, char *err, size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    size_t n;
    unsigned prefix;
    struct tp_cidr c;
    bool bracketed;
    int rc = -1;

    if (!s || strip_brackets(s, buf, sizeof(buf), &bracketed) != 0) {
        set_err(err, errlen, "bad CIDR", s);
        goto out;
    }
    /* "[v6]/n" form */
    if (!bracketed && buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != '/') {
            set_err(err, errlen, "bad CIDR", s);
            goto out;
        }
        memmove(close, close + 1, strlen(close + 1) + 1);
        memmove(buf, buf + 1, strlen(buf + 1) + 1);
        bracketed = true;
    }
    memset(&c, 0, sizeof(c));
    slash = strchr(buf, '/');
    n = slash ? (size_t)(slash - buf) : strlen(buf);
    {
        char addr[INET6_ADDRSTRLEN + 1];
        if (n >= sizeof(addr)) {
            set_err(err, errlen, "bad CIDR address", s);
            goto out;
        }
        memcpy(addr, buf, n);
        addr[n] = '\0';
        memset(&c.net, 0, sizeof(c.net));
        if (!bracketed && inet_pton(AF_INET, addr, c.net.a) == 1) {
            c.net.family = AF_INET;
        } else if (inet_pton(AF_INET6, addr, c.net.a) == 1) {
            c.net.family = AF_INET6;
        } else {
            set_err(err, errlen, "not a canonical IPv4/IPv6 address", s);
            goto out;
        }
    }
    unsigned maxp = c.net.family == AF_INET ? 32 : 128;
    if (slash) {
        if (!parse_uint(slash + 1, strlen(slash + 1), maxp, &prefix)) {
            set_err(err, errlen, "bad CIDR prefix length", s);
            goto out;
        }
    } else {
        prefix = maxp;
    }
    c.prefix = (int)prefix;
    /* mapped v6 networks become v4 networks */
    if (c.net.family == AF_INET6 && c.prefix >= 96) {
        struct tp_addr t = c.net;
        addr_normalise(&t);
        if (t.family == AF_INET) {
            c.net = t;
            c.prefix -= 96;
        }
    }
    {
        struct tp_addr masked = c.net;
        size_t len = addr_len(&c.net);
        for (size_t i = 0; i < len; i++) {
            int bits = c.prefix - (int)i * 8;
            uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
            masked.a[i] &= mask;
        }
        if (memcmp(masked.a, c.net.a, len) != 0) {
            set_err(err, errlen, "CIDR has host bits set", s);
            goto out;
        }
    }
    *out = c;
    rc = 0;
out:
    return rc;
}

bool tp_cidr_contains(const struct tp_cidr *c, const struct tp_addr *a)
{
    if (c->net.family != a->family)
        return false;
    return prefix_match(c->net.a, a->a, c->prefix);
}

static const char *const default_deny[] = {
    "0.0.0.0/8",          /* "this network": 0.x reaches the local host on Linux */
    "::/128",             /* unspecified */
    "169.254.0.0/16",     /* IPv4 link-local (cloud metadata) */
    "fe80::/10",          /* IPv6 link-local */
    "224.0.0.0/4",        /* multicast */
    "255.255.255.255/32", /* broadcast */
    "ff00::/8",           /* IPv6 multicast */
};

size_t tp_default_deny(struct tp_cidr *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(default_deny) / sizeof(default_deny[0]) && n < max; i++)
        if (tp_cidr_parse(default_deny[i], &out[n], NULL, 0) == 0)
            n++;
    return n;
}

/* ---------------------------------------------------------------- host names */

static bool label_is_numeric(const char *s, size_t n)
{
    if (n == 0)
        return false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n; i++)
            if (!isxdigit((unsigned char)s[i]))
                return false;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Names an inet_aton-style parser would read as an address ("0177.0.0.1",
 * "127.1", "2130706433", "0x7f.1"), or whose last label is all digits. */
static bool name_is_numeric_like(const char *s)
{
    bool all = true;
    const char *label = s, *last = s;
    size_t last_len = 0;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (!label_is_numeric(label, n))
                all = false;
            if (n) {
                last = label;
                last_len = n;
            }
            if (*p == '\0')
                break;
            label = p + 1;
        }
    }
    if (all)
        return true;
    for (size_t i = 0; i < last_len; i++)
        if (!isdigit((unsigned char)last[i]))
            return false;
    return last_len > 0;
}

/* RFC 1123 host name (underscore tolerated), optional glob characters. */
static bool name_syntax_ok(const char *s, bool glob)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > TP_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || (!glob && s[i - 1] == '-'))
                return false;
            label = 0;
            continue;
        }
        bool ok = isalnum(c) || c == '-' || c == '_' || (glob && (c == '*' || c == '?'));
        if (!ok)
            return false;
        if (!glob && c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    if (label == 0)
        return false; /* empty last label / trailing dot */
    if (!glob && s[n - 1] == '-')
        return false;
    return true;
}

int tp_classify_host(const char *host, struct tp_addr *addr)
{
    struct tp_addr a;
    if (!host || !*host || strlen(host) > TP_HOST_MAX)
        return TP_HOST_BAD;
    if (tp_addr_parse(host, &a) == 0) {
        if (addr)
            *addr = a;
        return TP_HOST_NUMERIC;
    }
    if (!name_syntax_ok(host, false) || name_is_numeric_like(host))
        return TP_HOST_BAD;
    return TP_HOST_NAME;
}

static void lower_copy(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* ---------------------------------------------------------------- patterns */

/* Split "host:port" / "[v6]:port" / "[v6/n]:port". host gets the part
 * without brackets; *bracketed tells whether it had them. */
static int split_hostport(const char *s, char *host, size_t hostcap, const char **port,
                          bool *bracketed)
{
    const char *colon;
    size_t n;
    *bracketed = false;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        n = (size_t)(close - s - 1);
        if (n >= hostcap)
            return -1;
        memcpy(host, s + 1, n);
        host[n] = '\0';
        *port = close + 2;
        *bracketed = true;
        return 0;
    }
    colon = strrchr(s, ':');
    if (!colon)
        return -1;
    n = (size_t)(colon - s);
    if (n >= hostcap || memchr(s, ':', n))
        return -1; /* IPv6 needs brackets */
    memcpy(host, s, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

static int parse_port_spec(const char *s, uint16_t star_lo, uint16_t *lo, uint16_t *hi)
{
    const char *dash;
    unsigned a, b;
    if (strcmp(s, "*") == 0) {
        *lo = star_lo;
        *hi = 65535;
        return 0;
    }
    dash = strchr(s, '-');
    if (!dash) {
        if (!parse_uint(s, strlen(s), 65535, &a) || a == 0)
            return -1;
        b = a;
    } else {
        if (!parse_uint(s, (size_t)(dash - s), 65535, &a) ||
            !parse_uint(dash + 1, strlen(dash + 1), 65535, &b) || a == 0 || b < a)
            return -1;
    }
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

static bool cidr_is_loopback(const struct tp_cidr *c)
{
    if (c->net.family == AF_INET)
        return c->prefix >= 8 && c->net.a[0] == 127;
    return c->prefix == 128 && tp_addr_is_loopback(&c->net);
}

static bool glob_is_numeric_like(const char *s)
{
    bool digit = false;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digit = true;
        else if (*s != '.' && *s != '*' && *s != '?')
            return false;
    }
    return digit;
}

int tp_open_pattern_parse(const char *s, struct tp_pattern *out, char *err, size_t errlen)
{
    char host[TP_HOST_MAX + 2];
    const char *port;
    bool bracketed;
    struct tp_pattern p;
    int rc = -1;

    memset(&p, 0, sizeof(p));
    if (!s || split_hostport(s, host, sizeof(host), &port, &bracketed) != 0) {
        set_err(err, errlen, "expected host:port ([v6]:port for IPv6)", s);
        goto out;
    }
    if (parse_port_spec(port, 1, &p.port_lo, &p.port_hi) != 0) {
        set_err(err, errlen, "bad port (*, N or N-M within 1-65535)", s);
        goto out;
    }
    if (!bracketed && strcmp(host, "*") == 0) {
        p.kind = TP_PAT_ANY;
    } else if (bracketed || strchr(host, '/') || tp_addr_parse(host, &p.cidr.net) == 0) {
        char cerr[128];
        char tmp[TP_HOST_MAX + 4];
        snprintf(tmp, sizeof(tmp), bracketed ? "[%s]" : "%s", host);
        if (tp_cidr_parse(tmp, &p.cidr, cerr, sizeof(cerr)) != 0) {
            set_err(err, errlen, cerr, s);
            goto out;
        }
        p.kind = TP_PAT_CIDR;
        p.loopback_explicit = cidr_is_loopback(&p.cidr);
    } else {
        lower_copy(p.name, host, sizeof(p.name));
        if (!name_syntax_ok(p.name, true)) {
            set_err(err, errlen, "bad host name pattern", s);
            goto out;
        }
        if (glob_is_numeric_like(p.name) || (!strpbrk(p.name, "*?") && name_is_numeric_like(p.name))) {
            set_err(err, errlen, "not a canonical address (use a.b.c.d or a CIDR)", s);
            goto out;
        }
        p.kind = TP_PAT_NAME;
        p.loopback_explicit = strcmp(p.name, "localhost") == 0;
    }
    *out = p;
    rc = 0;
out:
    return rc;
}

int tp_listen_pattern_parse(const char *s, struct tp_pattern *out, char *err, size_t errlen)
{
    char host[TP_HOST_MAX + 2];
    const char *port;
    bool bracketed;
    struct tp_pattern p;
    int rc = -1;

    memset(&p, 0, sizeof(p));
    if (!s || split_hostport(s, host, sizeof(host), &port, &bracketed) != 0) {
        set_err(err, errlen, "expected addr:port ([v6]:port for IPv6)", s);
        goto out;
    }
    if (parse_port_spec(port, 1024, &p.port_lo, &p.port_hi) != 0) {
        set_err(err, errlen, "bad port (*, N or N-M within 1-65535)", s);
        goto out;
    }
    if (!bracketed && (host[0] == '\0' || strcmp(host, "*") == 0)) {
        p.kind = TP_PAT_WILDCARD;
    } else if (!bracketed && strcasecmp(host, "localhost") == 0) {
        p.kind = TP_PAT_LOCALHOST;
        p.loopback_explicit = true;
    } else {
        char cerr[128];
        char tmp[TP_HOST_MAX + 4];
        snprintf(tmp, sizeof(tmp), bracketed ? "[%s]" : "%s", host);
        if (tp_cidr_parse(tmp, &p.cidr, cerr, sizeof(cerr)) != 0) {
            set_err(err, errlen, "listen address must be numeric, localhost or *", s);
            goto out;
        }
        p.kind = TP_PAT_CIDR;
        p.loopback_explicit = cidr_is_loopback(&p.cidr);
    }
    *out = p;
    rc = 0;
out:
    return rc;
}

/* ---------------------------------------------------------------- open checks */

static bool port_in(const struct tp_pattern *p, int port)
{
    return port >= p->port_lo && port <= p->port_hi;
}

static bool is_localhost_addr(const struct tp_addr *a)
{
    static const uint8_t v4lo[4] = {127, 0, 0, 1};
    if (a->family == AF_INET)
        return memcmp(a->a, v4lo, 4) == 0;
    return tp_addr_is_loopback(a);
}

/* Does open pattern p match (name as requested or NULL, address)? */
static bool open_pattern_matches(const struct tp_pattern *p, const char *lname,
                                 const struct tp_addr *addr)
{
    switch (p->kind) {
    case TP_PAT_ANY:
        return true;
    case TP_PAT_NAME:
        if (lname)
            return fnmatch(p->name, lname, 0) == 0;
        /* "localhost" also names the numeric loopback addresses */
        return p->loopback_explicit && addr && is_localhost_addr(addr);
    case TP_PAT_CIDR:
        return addr && tp_cidr_contains(&p->cidr, addr);
    default:
        return false;
    }
}

int tp_open_precheck(const struct tp_policy *p, const char *host, int port)
{
    char lname[TP_HOST_MAX + 1];
    struct tp_addr addr;
    int cls = tp_classify_host(host, &addr);

    if (cls == TP_HOST_BAD)
        return TP_DENY_BAD_HOST;
    if (port < 1 || port > 65535)
        return TP_DENY_BAD_PORT;
    if (cls == TP_HOST_NUMERIC)
        return TP_PERMIT; /* decided by tp_open_check */
    lower_copy(lname, host, sizeof(lname));
    for (size_t i = 0; i < p->n_open; i++) {
        const struct tp_pattern *pat = &p->open[i];
        if (!port_in(pat, port))
            continue;
        if (pat->kind == TP_PAT_ANY || pat->kind == TP_PAT_CIDR ||
            open_pattern_matches(pat, lname, NULL))
            return TP_PERMIT;
    }
    return TP_DENY_NO_MATCH;
}

int tp_open_check(const struct tp_policy *p, const char *name, const struct tp_addr *addr_in,
                  int port, const struct tp_endpoint *self, size_t n_self)
{
    char lname[TP_HOST_MAX + 1];
    struct tp_addr addr = *addr_in;
    int verdict = TP_DENY_NO_MATCH;

    addr_normalise(&addr);
    if (port < 1 || port > 65535)
        return TP_DENY_BAD_PORT;
    if (name) {
        if (tp_classify_host(name, NULL) != TP_HOST_NAME)
            return TP_DENY_BAD_HOST;
        lower_copy(lname, name, sizeof(lname));
    }
    if (addr_is_v4_compatible(&addr))
        return TP_DENY_CIDR;
    for (size_t i = 0; i < p->n_deny; i++)
        if (tp_cidr_contains(&p->deny[i], &addr))
            return TP_DENY_CIDR;
    if (p->n_allow) {
        bool in = false;
        for (size_t i = 0; i < p->n_allow && !in; i++)
            in = tp_cidr_contains(&p->allow[i], &addr);
        if (!in)
            return TP_DENY_NOT_ALLOWED;
    }
    if (!p->allow_self) {
        for (size_t i = 0; i < n_self; i++) {
            if (self[i].port != port)
                continue;
            if (tp_addr_is_loopback(&addr) || tp_addr_equal(&addr, &self[i].addr))
                return TP_DENY_SELF;
        }
    }
    for (size_t i = 0; i < p->n_open; i++) {
        const struct tp_pattern *pat = &p->open[i];
        if (!port_in(pat, port) || !open_pattern_matches(pat, name ? lname : NULL, &addr))
            continue;
        if (tp_addr_is_loopback(&addr) && !pat->loopback_explicit) {
            verdict = TP_DENY_LOOPBACK;
            continue;
        }
        return TP_PERMIT;
    }
    return verdict;
}

/* ---------------------------------------------------------------- listen checks */

static bool listen_addr_matches(const struct tp_pattern *p, const struct tp_addr *a)
{
    switch (p->kind) {
    case TP_PAT_WILDCARD:
        return tp_addr_is_unspecified(a);
    case TP_PAT_LOCALHOST:
        return is_localhost_addr(a);
    case TP_PAT_CIDR:
        if (tp_addr_is_unspecified(a))
            return p->cidr.prefix == (a->family == AF_INET ? 32 : 128) &&
                   tp_cidr_contains(&p->cidr, a);
        return tp_cidr_contains(&p->cidr, a);
    default:
        return false;
    }
}

bool tp_listen_port_ok(const struct tp_policy *p, const struct tp_addr *addr, int port)
{
    for (size_t i = 0; i < p->n_listen; i++)
        if (listen_addr_matches(&p->listen[i], addr) && port_in(&p->listen[i], port))
            return true;
    return false;
}

static int listen_addr_verdict(const struct tp_policy *p, const struct tp_addr *a, int port)
{
    bool addr_ok = false;
    for (size_t i = 0; i < p->n_listen; i++) {
        if (!listen_addr_matches(&p->listen[i], a))
            continue;
        addr_ok = true;
        if (port == 0 || port_in(&p->listen[i], port))
            return TP_PERMIT;
    }
    if (!addr_ok)
        return tp_addr_is_unspecified(a) ? TP_DENY_WILDCARD : TP_DENY_NO_MATCH;
    return port < 1024 ? TP_DENY_PRIVILEGED : TP_DENY_NO_MATCH;
}

int tp_listen_check(const struct tp_policy *p, const char *address, int port,
                    struct tp_listen_plan *plan)
{
    struct tp_addr cands[2];
    size_t n = 0;
    int first = TP_PERMIT;

    memset(plan, 0, sizeof(*plan));
    if (port < 0 || port > 65535)
        return TP_DENY_BAD_PORT;
    if (!address)
        return TP_DENY_BAD_HOST;
    memset(cands, 0, sizeof(cands));
    if (address[0] == '\0' || strcmp(address, "*") == 0) {
        cands[0].family = AF_INET;
        cands[1].family = AF_INET6;
        n = 2;
    } else if (strcasecmp(address, "localhost") == 0) {
        tp_addr_parse("127.0.0.1", &cands[0]);
        tp_addr_parse("::1", &cands[1]);
        n = 2;
    } else if (tp_addr_parse(address, &cands[0]) == 0) {
        n = 1;
    } else {
        return TP_DENY_BAD_HOST;
    }
    for (size_t i = 0; i < n; i++) {
        int v = listen_addr_verdict(p, &cands[i], port);
        if (v == TP_PERMIT)
            plan->addrs[plan->n++] = cands[i];
        else if (first == TP_PERMIT)
            first = v;
    }
    if (plan->n == 0)
        return first == TP_PERMIT ? TP_DENY_NO_MATCH : first;
    return TP_PERMIT;
}
