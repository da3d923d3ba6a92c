/* ldap_keys.c — offered key vs. LDAP key values (see ldap_keys.h). */
#include "ldap_keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum sg_key_match sg_ldap_key_match(const struct ak_key *offered, const char *value, size_t vlen,
                                    struct ak_key *entry, char *why, size_t whylen)
{
    char err[128] = "";
    memset(entry, 0, sizeof(*entry));
    if (why && whylen)
        why[0] = '\0';
    if (!offered || !value)
        return SG_KEY_BAD;
    while (vlen > 0 && is_blank(value[0])) {
        value++;
        vlen--;
    }
    while (vlen > 0 && is_blank(value[vlen - 1]))
        vlen--;
    int rc = ak_parse_line(value, vlen, entry, err, sizeof(err));
    if (rc == AK_OK) {
        if (ak_key_same(offered, entry))
            return SG_KEY_MATCH;
        ak_key_clear(entry);
        return SG_KEY_NOMATCH;
    }
    if (why && whylen)
        snprintf(why, whylen, "%s", rc == AK_SKIP ? "empty or a comment" : err);
    return rc == AK_ERR_OPTION ? SG_KEY_UNSUPPORTED : SG_KEY_BAD;
}
