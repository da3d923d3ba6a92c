/*
 * fuzz_ldap_escape.c — libFuzzer target for auth-ldap's pure string code
 * (plugins/auth-ldap/ldap_escape.c).
 *
 * Input layout: byte 0 selects what the rest is.
 *   0: a user name → RFC 4515 and RFC 4514 escaping, template expansion into
 *      a filter and a DN. Checks: the escaped filter value holds no raw
 *      '*', '(', ')', NUL or control byte and every '\' starts a hex pair;
 *      the expanded filter still balances (no injection); the escaped DN
 *      value read back as a first RDN value gives the input again when the
 *      input is a usable name.
 *   1: a DN → sg_ldap_dn_first_value (no overread, result has no control byte).
 *   2: a template (up to the first NUL) + user (the rest) → template check
 *      and expansion must agree: a template that passes the check expands.
 *   3: a user name → sg_ldap_user_name_ok must agree with its definition.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_escape.h"

static int hexv(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void check_filter_value(const char *v)
{
    for (size_t i = 0; v[i]; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '*' || c == '(' || c == ')' || c < 0x20 || c >= 0x7f)
            abort();
        if (c == '\\') {
            if (!hexv(v[i + 1]) || !hexv(v[i + 2]))
                abort();
            i += 2;
        }
    }
}

/* Starts with '(' and the unescaped parentheses close exactly at the end. */
static int balanced(const char *s)
{
    int depth = 0;
    if (s[0] != '(')
        return 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\') {
            if (!s[i + 1])
                return 0;
            i++;
        } else if (s[i] == '(') {
            depth++;
        } else if (s[i] == ')') {
            if (--depth < 0 || (depth == 0 && s[i + 1]))
                return 0;
        }
    }
    return depth == 0;
}

static void fuzz_user(const char *p, size_t n)
{
    char *f = sg_ldap_filter_escape(p, n);
    char *d = sg_ldap_dn_escape(p, n);
    if (f)
        check_filter_value(f);
    char *tf = sg_ldap_expand("(&(objectClass=posixAccount)(uid=%u))", p, n, NULL,
                              SG_LDAP_ESC_FILTER, NULL);
    if (tf && !balanced(tf))
        abort(); /* injection: the filter structure changed */
    char *td =
        sg_ldap_expand("uid=%u,ou=people,dc=example,dc=org", p, n, NULL, SG_LDAP_ESC_DN, NULL);
    if (td && sg_ldap_user_name_ok(p, n)) {
        /* the escaped value reads back as exactly the input */
        char *back = sg_ldap_dn_first_value(td, strlen(td));
        if (!back || strlen(back) != n || memcmp(back, p, n) != 0)
            abort();
        free(back);
    }
    free(f);
    free(d);
    free(tf);
    free(td);
}

static void fuzz_dn(const char *p, size_t n)
{
    char *v = sg_ldap_dn_first_value(p, n);
    if (v) {
        for (size_t i = 0; v[i]; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                abort();
        if (!v[0])
            abort();
    }
    free(v);
}

static void fuzz_template(const char *p, size_t n)
{
    const char *nul = memchr(p, '\0', n);
    if (!nul)
        return;
    const char *user = nul + 1;
    size_t ulen = n - (size_t)(user - p);
    const char *why = sg_ldap_template_check(p, "ud", 0, 1);
    const char *err = NULL;
    char *e = sg_ldap_expand(p, user, ulen, "cn=x,dc=y", SG_LDAP_ESC_FILTER, &err);
    if (!why && !e)
        abort();
    if (e && !why && !balanced(e))
        abort(); /* a checked template keeps its structure whatever the user */
    free(e);
    e = sg_ldap_expand(p, user, ulen, NULL, SG_LDAP_ESC_DN, &err);
    free(e);
}

static void fuzz_name(const char *p, size_t n)
{
    int want = n > 0 && n <= SG_LDAP_MAX_USER;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            want = 0;
    if (sg_ldap_user_name_ok(p, n) != want)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* exact-size copy so ASan sees overreads; a NUL after it for the
     * functions that take NUL-terminated text */
    char *p = malloc(size);
    if (!p)
        return 0;
    memcpy(p, data + 1, size - 1);
    p[size - 1] = '\0';
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        fuzz_user(p, n);
        break;
    case 1:
        fuzz_dn(p, n);
        break;
    case 2:
        fuzz_template(p, n + 1); /* include the terminating NUL as separator */
        break;
    default:
        fuzz_name(p, n);
        break;
    }
    free(p);
    return 0;
}
