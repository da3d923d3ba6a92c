/* addr_match.h — match a peer address against an OpenSSH pattern list, as
 * used by the authorized_keys option from="...".
 *
 * The list is comma-separated. Each entry is
 *   - a CIDR block: "10.0.0.0/8", "2001:db8::/32" (an exact address without
 *     "/n" is also compared numerically, so "::1" matches "0:0::1");
 *   - otherwise a glob on the numeric address text: '*' and '?', case
 *     insensitive ("192.168.1.*", "fe80:*").
 * An entry prefixed with '!' is a negation: if it matches, the whole list
 * fails at once. The list matches when some positive entry matches and no
 * negated one does. Host names are never resolved (the peer has no name
 * here), so name patterns only ever match as globs on the address text.
 * An IPv4-mapped IPv6 peer ("::ffff:10.1.2.3") is also tried as IPv4.
 * A malformed CIDR entry makes the whole list fail (fail closed).
 */
#ifndef SG_AUTH_FILE_ADDR_MATCH_H
#define SG_AUTH_FILE_ADDR_MATCH_H

#include <stddef.h>

enum {
    ADDR_MATCH_NO = 0,       /* no positive entry matched */
    ADDR_MATCH_YES = 1,      /* a positive entry matched, no negation did */
    ADDR_MATCH_NEGATED = -1, /* a negated entry matched */
    ADDR_MATCH_ERROR = -2,   /* malformed list or peer address */
};

int addr_match_list(const char *peer, const char *list);

/* A certificate's source-address list: comma-separated CIDR blocks or exact
 * addresses only (no globs, no '!', no blanks). Every entry must be well
 * formed, host bits zero, or the result is ADDR_MATCH_ERROR (the whole list
 * is checked, also after a match). ADDR_MATCH_YES or ADDR_MATCH_NO otherwise. */
int addr_match_cidr_list(const char *peer, const char *list);

#endif
