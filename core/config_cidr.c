/* config_cidr.c — CIDR parsing/matching and allowed/blocked client patterns
 * (declared in config.h; shared by the config loader, the router and
 * admission). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 CIDRs
 * and globs. */
#include "config.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int sg_cidr_parse(const char *text, struct sg_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    struct sg_cidr c;
    const char *slash;
    size_t alen;
    int maxp;

    if (!text || !out)
        return -1;
    memset(&c, 0, sizeof(c));
    slash = strchr(text, '/');
    alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        maxp = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        maxp = 128;
    } else {
        return -1;
    }
    c.prefix = maxp;
    if (slash) {
        const char *p = slash + 1;
        int v = 0;
        if (!*p || strlen(p) > 3)
            return -1;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (v > maxp)
            return -1;
        c.prefix = v;
    }
    /* clear host bits */
    for (int bit = c.prefix; bit < maxp; bit++)
        c.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    *out = c;
    return 0;
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool sg_cidr_match(const struct sg_cidr *c, int family, const void *addr)
{
    const uint8_t *a = addr;
    uint8_t mapped[16];

    if (!c || !addr)
        return false;
    if (c->family == AF_INET && family == AF_INET6) {
        if (memcmp(a, v4mapped_prefix, 12) != 0)
            return false;
        a += 12;
    } else if (c->family == AF_INET6 && family == AF_INET) {
        memcpy(mapped, v4mapped_prefix, 12);
        memcpy(mapped + 12, a, 4);
        a = mapped;
    } else if (c->family != family) {
        return false;
    }
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff00u >> rest);
        if ((a[full] & mask) != (c->addr[full] & mask))
            return false;
    }
    return true;
}

int sg_cidr_format(const struct sg_cidr *c, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(c->family, c->addr, a, sizeof(a)))
        return -1;
    int n = snprintf(buf, len, "%s/%d", a, c->prefix);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

bool sg_client_pattern_valid(const char *pattern)
{
    struct sg_cidr c;
    if (!pattern || !*pattern)
        return false;
    if (sg_cidr_parse(pattern, &c) == 0)
        return true;
    /* a glob on the textual address: needs a wildcard and only address characters */
    if (!strpbrk(pattern, "*?["))
        return false;
    return strspn(pattern, "0123456789abcdefABCDEF.:*?[]!^-") == strlen(pattern);
}

bool sg_client_pattern_match(const char *pattern, int family, const void *addr)
{
    struct sg_cidr c;
    char text[INET6_ADDRSTRLEN];
    const uint8_t *a = addr;

    if (!pattern || !addr)
        return false;
    if (sg_cidr_parse(pattern, &c) == 0)
        return sg_cidr_match(&c, family, addr);
    if (family == AF_INET6 && memcmp(a, v4mapped_prefix, 12) == 0) {
        family = AF_INET;
        a += 12;
    }
    if (family != AF_INET && family != AF_INET6)
        return false;
    if (!inet_ntop(family, a, text, sizeof(text)))
        return false;
    return fnmatch(pattern, text, FNM_CASEFOLD) == 0;
}

bool sg_client_list_match(const struct sg_strlist *list, int family, const void *addr)
{
    for (size_t i = 0; list && i < list->n; i++)
        if (sg_client_pattern_match(list->v[i], family, addr))
            return true;
    return false;
}
