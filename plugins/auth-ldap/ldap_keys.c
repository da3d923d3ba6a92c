/* ldap_keys.c — offered key vs. LDAP key values (see ldap_keys.h). */
#include "ldap_keys.h"

#include <stdbool.h>
#include <string.h>

struct tok {
    const char *p;
    size_t len;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Next whitespace-separated token of s[*i..n). False at the end. */
static bool next_tok(const char *s, size_t n, size_t *i, struct tok *t)
{
    while (*i < n && is_space(s[*i]))
        (*i)++;
    if (*i >= n)
        return false;
    t->p = s + *i;
    while (*i < n && !is_space(s[*i]))
        (*i)++;
    t->len = (size_t)(s + *i - t->p);
    return true;
}

static bool tok_eq(const struct tok *a, const struct tok *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static bool looks_like_type(const struct tok *t)
{
    static const char *const prefixes[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t l = strlen(prefixes[i]);
        if (t->len > l && memcmp(t->p, prefixes[i], l) == 0 && !memchr(t->p, '=', t->len) &&
            !memchr(t->p, '"', t->len))
            return true;
    }
    return false;
}

static bool is_base64(const struct tok *t)
{
    if (t->len == 0)
        return false;
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->p[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok)
            return false;
    }
    return true;
}

enum sg_key_match sg_ldap_key_match(const char *offered, size_t olen, const char *value,
                                    size_t vlen)
{
    struct tok otype, oblob, vtype, vblob;
    size_t i = 0, j = 0;
    if (!offered || !value)
        return SG_KEY_BAD;
    if (!next_tok(offered, olen, &i, &otype) || !next_tok(offered, olen, &i, &oblob) ||
        !looks_like_type(&otype) || !is_base64(&oblob))
        return SG_KEY_BAD;
    if (memchr(value, '\0', vlen))
        return SG_KEY_BAD;
    if (!next_tok(value, vlen, &j, &vtype))
        return SG_KEY_BAD;
    if (!looks_like_type(&vtype))
        return SG_KEY_OPTIONS;
    if (!next_tok(value, vlen, &j, &vblob) || !is_base64(&vblob))
        return SG_KEY_BAD;
    return tok_eq(&otype, &vtype) && tok_eq(&oblob, &vblob) ? SG_KEY_MATCH : SG_KEY_NOMATCH;
}
