/* ldap_keys.h — compare an offered SSH public key with values of an LDAP key
 * attribute (openssh-lpk "sshPublicKey": authorized_keys lines, options
 * allowed). Pure: the values are parsed with auth-file's authorized_keys
 * parser, so both plugins read the same format the same way. */
#ifndef SG_LDAP_KEYS_H
#define SG_LDAP_KEYS_H

#include <stddef.h>

#include "authorized_keys.h"

enum sg_key_match {
    SG_KEY_NOMATCH = 0, /* a valid value holding another key */
    SG_KEY_MATCH = 1,   /* the offered key: *entry holds the value's options */
    SG_KEY_UNSUPPORTED = 2, /* the value has an option sshgate cannot honour
                               (tunnel=, cert-authority, ...): never matches */
    SG_KEY_BAD = 3,     /* the value is not an authorized_keys line */
};

/* `offered` is the client's key (ak_parse_public_key of ev->param); `value`
 * one attribute value (vlen bytes, not NUL-terminated, may hold anything;
 * blanks around it are ignored). On SG_KEY_MATCH *entry owns the parsed
 * value (release with ak_key_clear); on every other result it is cleared.
 * why (may be NULL) gets a short reason for SG_KEY_UNSUPPORTED / SG_KEY_BAD. */
enum sg_key_match sg_ldap_key_match(const struct ak_key *offered, const char *value, size_t vlen,
                                    struct ak_key *entry, char *why, size_t whylen);

#endif
