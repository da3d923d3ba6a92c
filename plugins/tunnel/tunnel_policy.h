/* tunnel_policy.h — forwarding policy: pattern parsing and address checks.
 *
 * Pure functions (no host, no I/O besides inet_pton/inet_ntop), so they can
 * be unit-tested and fuzzed. Addresses are kept numerically; an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is always normalised to IPv4 first.
 *
 * Vocabulary
 *   open pattern    "host:port" for direct-tcpip (ssh -L / -D), host is
 *                   "*", a name glob ("*.example.com", "localhost"), an
 *                   address or a CIDR ("10.0.0.0/8", "[::1]", "[fd00::/8]");
 *                   port is "*", "N" or "N-M".
 *   listen pattern  "addr:port" for tcpip-forward (ssh -R), addr is an
 *                   address, "localhost" (127.0.0.1 and ::1) or a wildcard
 *                   ("*" / "" = any wildcard bind, "0.0.0.0", "[::]"); port
 *                   "*" (1024-65535), "N" or "N-M".
 */
#ifndef SSHGATE_TUNNEL_POLICY_H
#define SSHGATE_TUNNEL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TP_HOST_MAX 253 /* longest host name accepted */

struct tp_addr {
    int family;     /* AF_INET or AF_INET6 */
    uint8_t a[16];  /* network order; IPv4 in a[0..3] */
};

struct tp_cidr {
    struct tp_addr net;
    int prefix;     /* 0..32 / 0..128 */
};

enum tp_pat_kind {
    TP_PAT_ANY = 0,   /* "*": any host (open) */
    TP_PAT_NAME,      /* name glob (open) */
    TP_PAT_CIDR,      /* address or network */
    TP_PAT_LOCALHOST, /* "localhost" (listen: 127.0.0.1 and ::1) */
    TP_PAT_WILDCARD,  /* "*" or "" (listen: any wildcard bind) */
};

struct tp_pattern {
    enum tp_pat_kind kind;
    char name[TP_HOST_MAX + 1]; /* TP_PAT_NAME: lower-cased glob */
    struct tp_cidr cidr;        /* TP_PAT_CIDR */
    uint16_t port_lo, port_hi;  /* inclusive */
    bool loopback_explicit;     /* names loopback explicitly (open) */
};

/* A (address, port) the gateway itself listens on. */
struct tp_endpoint {
    struct tp_addr addr;
    int port;
};

struct tp_policy {
    struct tp_pattern *open;   size_t n_open;
    struct tp_pattern *listen; size_t n_listen;
    struct tp_cidr *allow;     size_t n_allow;  /* empty: no allow-list */
    struct tp_cidr *deny;      size_t n_deny;
    bool allow_self;
    unsigned max_forwards;       /* open direct-tcpip (and forwarded) channels per connection */
    unsigned max_listeners;      /* tcpip-forward listeners per connection */
    unsigned connect_timeout_ms;
    unsigned idle_timeout_s;     /* 0 = off */
    size_t max_buffer;           /* bytes buffered towards a socket before pausing */
};

/* Verdicts of the checks (0 = permitted). */
enum tp_verdict {
    TP_PERMIT = 0,
    TP_DENY_BAD_HOST,     /* not a canonical address nor a valid host name */
    TP_DENY_BAD_PORT,
    TP_DENY_NO_MATCH,     /* no permit pattern matches */
    TP_DENY_CIDR,         /* deny_cidrs / built-in special ranges */
    TP_DENY_NOT_ALLOWED,  /* outside allow_cidrs */
    TP_DENY_LOOPBACK,     /* loopback not named explicitly */
    TP_DENY_SELF,         /* the gateway's own listening port */
    TP_DENY_WILDCARD,     /* wildcard bind not listed */
    TP_DENY_PRIVILEGED,   /* privileged port not listed */
};
const char *tp_verdict_str(int verdict);

/* Request host classes (tp_classify_host). */
enum tp_host_class {
    TP_HOST_BAD = -1,
    TP_HOST_NUMERIC = 0,
    TP_HOST_NAME = 1,
};

/* ---- addresses ------------------------------------------------------- */
/* Canonical numeric address (inet_pton forms only; "[v6]" accepted).
 * Mapped v6 is normalised to v4. Returns 0, or -1 if not numeric. */
int tp_addr_parse(const char *s, struct tp_addr *out);
/* Numeric text of an address into buf (INET6_ADDRSTRLEN is enough). */
void tp_addr_format(const struct tp_addr *a, char *buf, size_t len);
bool tp_addr_equal(const struct tp_addr *x, const struct tp_addr *y);
bool tp_addr_is_loopback(const struct tp_addr *a);
bool tp_addr_is_unspecified(const struct tp_addr *a);
/* From/to sockaddr (normalising mapped v6). Return 0 or -1. */
int tp_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct tp_addr *out,
                          int *port);
int tp_addr_to_sockaddr(const struct tp_addr *a, int port, struct sockaddr_storage *ss,
                        socklen_t *len);

/* "addr/prefix" or "addr" (full prefix); "[v6]/n" and "[v6/n]" accepted.
 * Host bits must be zero. Returns 0 or -1 (err filled). */
int tp_cidr_parse(const char *s, struct tp_cidr *out, char *err, size_t errlen);
bool tp_cidr_contains(const struct tp_cidr *c, const struct tp_addr *a);
/* The built-in deny list (link-local, unspecified, multicast, broadcast). */
size_t tp_default_deny(struct tp_cidr *out, size_t max);

/* Printable copy of untrusted text for log lines: bytes outside 0x21..0x7e
 * become '?', cut to out_size-1 bytes. Returns out. */
char *tp_printable(const char *in, char *out, size_t out_size);

/* ---- patterns -------------------------------------------------------- */
int tp_open_pattern_parse(const char *s, struct tp_pattern *out, char *err, size_t errlen);
int tp_listen_pattern_parse(const char *s, struct tp_pattern *out, char *err, size_t errlen);

/* ---- requests -------------------------------------------------------- */
/* Classify a requested host: canonical numeric (addr set), a syntactically
 * valid DNS name, or bad (non-canonical numerics such as "0177.0.0.1",
 * "127.1", "2130706433", "0x7f.1", zone ids, junk). */
int tp_classify_host(const char *host, struct tp_addr *addr);

/* Before resolving a name: could any open pattern permit host:port?
 * Returns TP_PERMIT or a deny verdict. */
int tp_open_precheck(const struct tp_policy *p, const char *host, int port);

/* Full check of one resolved (or numeric) address. `name` is the host as
 * requested when it was a name, NULL when it was numeric. `self` lists the
 * gateway's own listening endpoints. Returns TP_PERMIT or a deny verdict. */
int tp_open_check(const struct tp_policy *p, const char *name, const struct tp_addr *addr,
                  int port, const struct tp_endpoint *self, size_t n_self);

/* A tcpip-forward request turned into the addresses to bind. */
struct tp_listen_plan {
    size_t n;
    struct tp_addr addrs[2];
};
/* Check address:port of a tcpip-forward request (port 0 = any port; check
 * the bound port afterwards with tp_listen_port_ok). Fills `plan` with the
 * permitted addresses to bind. Returns TP_PERMIT or a deny verdict. */
int tp_listen_check(const struct tp_policy *p, const char *address, int port,
                    struct tp_listen_plan *plan);
/* Is `port` permitted for binding `addr` by some listen pattern? */
bool tp_listen_port_ok(const struct tp_policy *p, const struct tp_addr *addr, int port);

#endif
