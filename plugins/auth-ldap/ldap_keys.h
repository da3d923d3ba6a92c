/* ldap_keys.h — compare an offered SSH public key with values of an LDAP key
 * attribute (openssh-lpk "sshPublicKey": authorized_keys lines). Pure. */
#ifndef SG_LDAP_KEYS_H
#define SG_LDAP_KEYS_H

#include <stddef.h>

enum sg_key_match {
    SG_KEY_NOMATCH = 0,
    SG_KEY_MATCH = 1,
    SG_KEY_OPTIONS = 2, /* the value starts with authorized_keys options: not
                           supported, never matches (fail closed) */
    SG_KEY_BAD = 3,     /* the offered key or the value is not "type base64" */
};

/* `offered` is "type base64 [comment]" (ev->param); `value` is one attribute
 * value (vlen bytes, not NUL-terminated, may hold anything). Compares the key
 * type and the base64 blob; comments are ignored. */
enum sg_key_match sg_ldap_key_match(const char *offered, size_t olen, const char *value,
                                    size_t vlen);

#endif
