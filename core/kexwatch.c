/* kexwatch.c — the strict key exchange rule (see kexwatch.h). */
#include "kexwatch.h"

#include <string.h>

#define MSG_KEXINIT 20
#define MAX_LINE 8192           /* a longer "version line" is libssh's to refuse */
#define MAX_PACKET (256 * 1024) /* larger: not a packet libssh takes either */
#define MAX_BEFORE 1024         /* packets before KEXINIT before we stop looking */
#define STRICT_C "kex-strict-c-v00@openssh.com"

void sg_kexwatch_init(struct sg_kexwatch *w)
{
    memset(w, 0, sizeof(*w));
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool list_has(const uint8_t *list, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && list[j] != ',')
            j++;
        if (j - i == nl && memcmp(list + i, name, nl) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

/* The KEXINIT in pkt (at least 26 bytes, all of the kex list when it fits):
 * payload = type, cookie[16], string kex_algorithms, ... */
static enum sg_kexwatch_result judge_kexinit(struct sg_kexwatch *w)
{
    w->phase = 2;
    if (w->before == 0)
        return SG_KEXWATCH_DONE;
    size_t nl = be32(w->pkt + 22);
    if (26 + nl > sizeof(w->pkt) || 26 + nl > w->total)
        return SG_KEXWATCH_DONE; /* cannot see the list: libssh decides */
    return list_has(w->pkt + 26, nl, STRICT_C) ? SG_KEXWATCH_VIOLATION : SG_KEXWATCH_DONE;
}

enum sg_kexwatch_result sg_kexwatch_feed(struct sg_kexwatch *w, const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (w->phase == 2)
        return SG_KEXWATCH_DONE;
    while (i < n && w->phase == 0) { /* lines up to and including "SSH-..." */
        uint8_t c = p[i++];
        if (w->line_len < 4)
            w->line_is_version = w->line_len == 3 ? (w->pkt[0] == 'S' && w->pkt[1] == 'S' &&
                                                     w->pkt[2] == 'H' && c == '-')
                                                  : false;
        if (w->line_len < 3)
            w->pkt[w->line_len] = c;
        w->line_len++;
        if (c == '\n') {
            if (w->line_is_version)
                w->phase = 1;
            w->line_len = 0;
            w->line_is_version = false;
        } else if (w->line_len > MAX_LINE) {
            w->phase = 2;
            return SG_KEXWATCH_DONE;
        }
    }
    while (i < n && w->phase == 1) {
        if (w->have < sizeof(w->pkt)) {
            size_t k = n - i;
            if (k > sizeof(w->pkt) - w->have)
                k = sizeof(w->pkt) - w->have;
            if (w->total && k > w->total - w->have)
                k = w->total - w->have;
            memcpy(w->pkt + w->have, p + i, k);
            w->have += k;
            i += k;
        } else { /* beyond what we keep: just count */
            size_t k = n - i;
            if (k > w->total - w->have)
                k = w->total - w->have;
            w->have += k;
            i += k;
        }
        if (!w->total && w->have >= 4) {
            uint32_t len = be32(w->pkt);
            if (len < 2 || len > MAX_PACKET) {
                w->phase = 2; /* not a packet: libssh will refuse it */
                return SG_KEXWATCH_DONE;
            }
            w->total = 4 + (size_t)len;
            if (w->have > w->total) { /* took bytes of the next packet: give them back */
                i -= w->have - w->total;
                w->have = w->total;
            }
        }
        if (w->total && w->have >= 6 && w->pkt[5] == MSG_KEXINIT) {
            size_t want = w->total < sizeof(w->pkt) ? w->total : sizeof(w->pkt);
            if (w->have >= want || w->have >= sizeof(w->pkt)) /* all we can keep */
                return judge_kexinit(w);
        } else if (w->total && w->have == w->total) { /* another packet: next */
            if (++w->before > MAX_BEFORE) {
                w->phase = 2;
                return SG_KEXWATCH_DONE;
            }
            w->have = w->total = 0;
        }
    }
    return w->phase == 2 ? SG_KEXWATCH_DONE : SG_KEXWATCH_MORE;
}
