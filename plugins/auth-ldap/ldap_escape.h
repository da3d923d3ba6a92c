/* ldap_escape.h — pure string helpers of the auth-ldap plugin.
 *
 * Nothing here calls libldap or the host: every function works on byte
 * strings only, so it can be unit-tested and fuzzed on its own.
 *
 *  - RFC 4515 escaping of an assertion value inside a search filter
 *    ("*", "(", ")", "\", NUL and every other control byte become \XX);
 *  - RFC 4514 escaping of an attribute value inside a DN
 *    (",+\"\\<>;=" get a backslash, a leading '#' or space and a trailing
 *    space too, NUL and control bytes become \XX);
 *  - template expansion ("%u" = the escaped user name, "%d" = the escaped
 *    entry DN, "%%" = "%"); any other "%" sequence is an error;
 *  - the value of the first RDN of a DN ("cn=admins,ou=groups,..." →
 *    "admins"), with RFC 4514 unescaping;
 *  - a rough syntax check of a filter template (balanced parentheses).
 *
 * Results are malloc()ed, NUL-terminated; the caller frees them.
 */
#ifndef SG_LDAP_ESCAPE_H
#define SG_LDAP_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/* Which escaping a template placeholder gets. */
enum sg_ldap_esc {
    SG_LDAP_ESC_FILTER = 0, /* RFC 4515 assertion value */
    SG_LDAP_ESC_DN = 1,     /* RFC 4514 attribute value */
    SG_LDAP_ESC_NONE = 2,   /* copied as is (e.g. "user@domain" for AD) */
};

/* Escape `len` bytes of `in` (may contain NUL). Returns NULL on OOM. */
char *sg_ldap_filter_escape(const char *in, size_t len);
char *sg_ldap_dn_escape(const char *in, size_t len);

/* Expand `tmpl`: "%u" → user (ulen bytes) escaped with `esc`; "%d" → dn
 * (NUL-terminated, may be NULL when the template does not use it) escaped
 * with `esc`; "%%" → "%". Returns NULL on OOM or bad template; *err (if not
 * NULL) then points at a static reason. */
char *sg_ldap_expand(const char *tmpl, const char *user, size_t ulen, const char *dn,
                     enum sg_ldap_esc esc, const char **err);

/* Check a template at config time: every '%' is followed by one of
 * `allowed` (e.g. "u" or "ud") or '%'; `need` (e.g. 'u', 0 = none) must occur.
 * For filters (is_filter) the text must start with '(' and its unescaped
 * parentheses must balance. Returns NULL if good, else a static reason. */
const char *sg_ldap_template_check(const char *tmpl, const char *allowed, char need,
                                   bool is_filter);

/* The unescaped value of the first RDN of `dn` (len bytes), e.g. "admins"
 * for "cn=admins,ou=groups,dc=example,dc=org". Multi-valued RDNs
 * ("cn=a+uid=b") give the first value. NULL if the DN is malformed or the
 * value is empty or holds NUL/control bytes (not usable as a group name). */
char *sg_ldap_dn_first_value(const char *dn, size_t len);

/* Longest user name looked up in the directory. */
#define SG_LDAP_MAX_USER 256

/* True if a user name may be looked up: 1..SG_LDAP_MAX_USER bytes, no NUL
 * and no other control byte. Anything else is denied before any LDAP work. */
bool sg_ldap_user_name_ok(const char *user, size_t len);

#endif
