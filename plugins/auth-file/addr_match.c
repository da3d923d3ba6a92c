/* addr_match.c — from="pattern-list" matching (see addr_match.h). */
#include "addr_match.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_TEXT_MAX 64 /* longest address text we compare (INET6_ADDRSTRLEN + room) */

struct addr {
    int family; /* AF_INET / AF_INET6 */
    uint8_t b[16];
};

/* Parse a numeric address of exactly `len` bytes. 0 ok, -1 bad. */
static int addr_parse(const char *s, size_t len, struct addr *out)
{
    char buf[ADDR_TEXT_MAX];
    memset(out, 0, sizeof *out); /* an IPv4 address fills 4 of the 16 bytes */
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    return -1;
}

/* ::ffff:a.b.c.d → a.b.c.d. Returns true if converted. */
static bool addr_unmap_v4(const struct addr *in, struct addr *out)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (in->family != AF_INET6 || memcmp(in->b, prefix, sizeof prefix) != 0)
        return false;
    out->family = AF_INET;
    memcpy(out->b, in->b + 12, 4);
    return true;
}

static bool addr_in_net(const struct addr *a, const struct addr *net, int prefix)
{
    if (a->family != net->family)
        return false;
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a->b, net->b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a->b[full] & mask) == (net->b[full] & mask);
}

/* Case-insensitive glob with '*' and '?' over explicit lengths. Iterative
 * with one backtrack point: linear-ish, no recursion on hostile input. */
static bool glob_match(const char *s, size_t slen, const char *p, size_t plen)
{
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star_p = pi++;
            star_s = si;
        } else if (pi < plen && (p[pi] == '?' ||
                                 tolower((unsigned char)p[pi]) == tolower((unsigned char)s[si]))) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/* A CIDR entry "addr/prefix" (host bits must be zero, as OpenSSH wants) or
 * an exact address. 1 match, 0 no match, -1 malformed. */
static int cidr_match(const struct addr *peer, const struct addr *peer4, const char *e,
                      size_t elen)
{
    const char *slash = memchr(e, '/', elen);
    size_t alen = slash ? (size_t)(slash - e) : elen, plen = slash ? elen - alen - 1 : 0;
    struct addr net;
    if (addr_parse(e, alen, &net) != 0 || (slash && (plen == 0 || plen > 3)))
        return -1;
    int max = net.family == AF_INET ? 32 : 128, prefix = slash ? 0 : max;
    for (size_t i = 0; i < plen; i++) {
        char c = slash[1 + i];
        if (c < '0' || c > '9')
            return -1;
        prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max)
        return -1;
    struct addr masked = net;
    for (int bit = prefix; bit < max; bit++)
        masked.b[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    if (memcmp(masked.b, net.b, sizeof net.b) != 0)
        return -1;
    if (addr_in_net(peer, &net, prefix))
        return 1;
    return peer4 && addr_in_net(peer4, &net, prefix) ? 1 : 0;
}

/* One entry (without '!'). 1 match, 0 no match, -1 malformed. */
static int entry_match(const struct addr *peer, const struct addr *peer4, const char *peer_text,
                       const char *e, size_t elen)
{
    if (memchr(e, '/', elen))
        return cidr_match(peer, peer4, e, elen);
    struct addr exact;
    if (!memchr(e, '*', elen) && !memchr(e, '?', elen) && addr_parse(e, elen, &exact) == 0)
        return cidr_match(peer, peer4, e, elen);
    if (glob_match(peer_text, strlen(peer_text), e, elen))
        return 1;
    if (peer4) {
        char v4[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, peer4->b, v4, sizeof v4) && glob_match(v4, strlen(v4), e, elen))
            return 1;
    }
    return 0;
}

/* The peer's address, and its IPv4 form if it is v4-mapped (*p4, else
 * NULL). 0 ok, -1 not a numeric address. */
static int peer_parse(const char *peer_text, struct addr *peer, struct addr *peer4,
                      const struct addr **p4)
{
    if (!peer_text || addr_parse(peer_text, strlen(peer_text), peer) != 0)
        return -1;
    *p4 = addr_unmap_v4(peer, peer4) ? peer4 : NULL;
    return 0;
}

int addr_match_list(const char *peer_text, const char *list)
{
    struct addr peer, peer4;
    const struct addr *p4;
    int result = ADDR_MATCH_NO;

    if (!list || peer_parse(peer_text, &peer, &peer4, &p4) != 0)
        return ADDR_MATCH_ERROR;

    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *e = s;
        bool neg = false;
        /* tolerate blanks around entries */
        while (len > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            len--;
        }
        while (len > 0 && (e[len - 1] == ' ' || e[len - 1] == '\t'))
            len--;
        if (len > 0 && *e == '!') {
            neg = true;
            e++;
            len--;
        }
        if (len == 0)
            return ADDR_MATCH_ERROR;
        int m = entry_match(&peer, p4, peer_text, e, len);
        if (m < 0)
            return ADDR_MATCH_ERROR;
        if (m == 1) {
            if (neg)
                return ADDR_MATCH_NEGATED;
            result = ADDR_MATCH_YES;
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    return result;
}

int addr_match_cidr_list(const char *peer_text, const char *list)
{
    struct addr peer, peer4;
    const struct addr *p4;
    int result = ADDR_MATCH_NO;

    if (!list || peer_parse(peer_text, &peer, &peer4, &p4) != 0)
        return ADDR_MATCH_ERROR;
    for (const char *s = list; s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        int m = len ? cidr_match(&peer, p4, s, len) : -1;
        if (m < 0)
            return ADDR_MATCH_ERROR; /* one bad entry spoils the list */
        if (m == 1)
            result = ADDR_MATCH_YES;
        s = comma ? comma + 1 : NULL;
    }
    return result;
}
