/* kexwatch.h — the strict key exchange rule libssh 0.10.6 does not enforce.
 *
 * With strict kex (kex-strict-c-v00@openssh.com from the client, -s- from
 * us; OpenSSH's PROTOCOL, the Terrapin fix) the client's KEXINIT must be the
 * first packet after the version line. libssh 0.10.6 offers strict kex and
 * resets sequence numbers at NEWKEYS, but accepts other packets before the
 * client's KEXINIT. The watcher reads the client's bytes in the order libssh
 * takes them (readahead.c hands them over) up to the client's KEXINIT, and
 * says "violation" when a strict client sent anything before it. A client
 * that does not ask for strict kex may send packets first, as before.
 */
#ifndef SSHGATE_KEXWATCH_H
#define SSHGATE_KEXWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sg_kexwatch_result {
    SG_KEXWATCH_MORE,      /* keep feeding */
    SG_KEXWATCH_DONE,      /* the client's KEXINIT seen and fine (or nothing to judge) */
    SG_KEXWATCH_VIOLATION, /* a strict client's KEXINIT was not its first packet */
};

struct sg_kexwatch {
    int phase;       /* 0: version line, 1: packets, 2: done */
    size_t line_len; /* bytes of the current line seen */
    bool line_is_version;
    uint8_t pkt[2048]; /* the current packet's first bytes */
    size_t have;       /* bytes of the current packet seen (counted beyond pkt) */
    size_t total;      /* 4 + packet_length, once known */
    unsigned before;   /* packets before the KEXINIT */
};

void sg_kexwatch_init(struct sg_kexwatch *w);

/* The next bytes the client sent, in order. Once DONE or VIOLATION was
 * returned no more bytes are needed (later calls return DONE). */
enum sg_kexwatch_result sg_kexwatch_feed(struct sg_kexwatch *w, const uint8_t *data, size_t len);

#endif
