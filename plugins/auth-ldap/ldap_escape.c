/* ldap_escape.c — RFC 4515 / RFC 4514 escaping, templates, RDN values.
 * Pure functions: see ldap_escape.h. */
#include "ldap_escape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A growable output string. On OOM `p` becomes NULL and stays so. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom)
        return;
    if (more > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_putc(struct sbuf *b, char c)
{
    sb_reserve(b, 1);
    if (b->oom)
        return;
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void sb_hex(struct sbuf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    sb_putc(b, '\\');
    sb_putc(b, hex[c >> 4]);
    sb_putc(b, hex[c & 15]);
}

static char *sb_finish(struct sbuf *b)
{
    sb_reserve(b, 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    b->p[b->len] = '\0';
    return b->p;
}

/* ---- RFC 4515 ----------------------------------------------------------- */

/* Bytes that must not appear raw in an assertion value. Non-ASCII bytes are
 * hex-escaped too: that is always valid, even for broken UTF-8. */
static bool filter_special(unsigned char c)
{
    return c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f;
}

static void filter_escape_into(struct sbuf *b, const char *in, size_t len)
{
    sb_reserve(b, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (filter_special(c))
            sb_hex(b, c);
        else
            sb_putc(b, (char)c);
    }
}

char *sg_ldap_filter_escape(const char *in, size_t len)
{
    struct sbuf b = {0};
    filter_escape_into(&b, in, len);
    return sb_finish(&b);
}

/* ---- RFC 4514 ----------------------------------------------------------- */

static bool dn_special(unsigned char c)
{
    return c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
           c == '=';
}

static void dn_escape_into(struct sbuf *b, const char *in, size_t len)
{
    sb_reserve(b, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool edge_space = c == ' ' && (i == 0 || i + 1 == len);
        if (c < 0x20 || c >= 0x7f) {
            sb_hex(b, c);
        } else if (dn_special(c) || edge_space || (i == 0 && c == '#')) {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
        } else {
            sb_putc(b, (char)c);
        }
    }
}

char *sg_ldap_dn_escape(const char *in, size_t len)
{
    struct sbuf b = {0};
    dn_escape_into(&b, in, len);
    return sb_finish(&b);
}

static int hexval(unsigned char c);

/* ---- templates ---------------------------------------------------------- */

static void escape_into(struct sbuf *b, const char *in, size_t len, enum sg_ldap_esc esc)
{
    switch (esc) {
    case SG_LDAP_ESC_FILTER:
        filter_escape_into(b, in, len);
        break;
    case SG_LDAP_ESC_DN:
        dn_escape_into(b, in, len);
        break;
    default:
        sb_reserve(b, len);
        for (size_t i = 0; i < len && !b->oom; i++)
            sb_putc(b, in[i]);
        break;
    }
}

char *sg_ldap_expand(const char *tmpl, const char *user, size_t ulen, const char *dn,
                     enum sg_ldap_esc esc, const char **err)
{
    struct sbuf b = {0};
    const char *why = NULL;
    if (!tmpl || (!user && ulen)) {
        why = "no template";
        goto out;
    }
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            sb_putc(&b, *p);
            continue;
        }
        switch (p[1]) {
        case '%':
            sb_putc(&b, '%');
            break;
        case 'u':
            escape_into(&b, user, ulen, esc);
            break;
        case 'd':
            if (!dn) {
                why = "%d used where no DN is known";
                goto out;
            }
            escape_into(&b, dn, strlen(dn), esc);
            break;
        default:
            why = "unknown % sequence in template (use %u, %d or %%)";
            goto out;
        }
        p++;
    }
out:
    if (why) {
        free(b.p);
        if (err)
            *err = why;
        return NULL;
    }
    char *res = sb_finish(&b);
    if (!res && err)
        *err = "out of memory";
    return res;
}

const char *sg_ldap_template_check(const char *tmpl, const char *allowed, char need, bool is_filter)
{
    bool seen_need = need == 0;
    int depth = 0;
    if (!tmpl || !*tmpl)
        return "empty template";
    if (is_filter && tmpl[0] != '(')
        return "a filter must start with '('";
    for (const char *p = tmpl; *p; p++) {
        if (*p == '%') {
            if (p[1] == '%') {
                p++;
                continue;
            }
            if (p[1] == '\0' || !strchr(allowed, p[1]))
                return "unknown % sequence in template";
            if (p[1] == need)
                seen_need = true;
            p++;
            continue;
        }
        if (!is_filter)
            continue;
        if (*p == '\\') {
            if (hexval((unsigned char)p[1]) < 0 || hexval((unsigned char)p[2]) < 0)
                return "a backslash in a filter must be followed by two hex digits";
            p += 2;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth < 0)
                return "unbalanced ')' in filter";
            if (depth == 0 && p[1] != '\0')
                return "text after the end of the filter";
        }
    }
    if (is_filter && depth != 0)
        return "unbalanced '(' in filter";
    if (!seen_need)
        return need == 'u' ? "template must contain %u" : "template lacks a placeholder";
    return NULL;
}

/* ---- first RDN value ----------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool type_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == ';';
}

char *sg_ldap_dn_first_value(const char *dn, size_t len)
{
    struct sbuf b = {0};
    size_t i = 0, type_len = 0, keep = 0; /* keep: length up to the last escaped/non-space byte */
    if (!dn)
        return NULL;
    while (i < len && dn[i] == ' ')
        i++;
    while (i < len && type_char((unsigned char)dn[i])) {
        i++;
        type_len++;
    }
    while (i < len && dn[i] == ' ')
        i++;
    if (i >= len || type_len == 0 || dn[i] != '=')
        goto bad;
    i++; /* '=' */
    while (i < len && dn[i] == ' ')
        i++;
    if (i < len && (dn[i] == '#' || dn[i] == '"'))
        goto bad; /* BER-encoded or quoted values: not a usable name */
    for (; i < len; i++) {
        unsigned char c = (unsigned char)dn[i];
        if (c == ',' || c == '+' || c == ';')
            break;
        if (c == '\\') {
            if (i + 1 >= len)
                goto bad;
            int h = hexval((unsigned char)dn[i + 1]),
                l = i + 2 < len ? hexval((unsigned char)dn[i + 2]) : -1;
            if (h >= 0 && l >= 0) {
                c = (unsigned char)(h << 4 | l);
                i += 2;
            } else {
                c = (unsigned char)dn[i + 1];
                i += 1;
            }
            if (c < 0x20 || c == 0x7f)
                goto bad;
            sb_putc(&b, (char)c);
            keep = b.len;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '=' || c == '"' || c == '<' || c == '>')
            goto bad;
        sb_putc(&b, (char)c);
        if (c != ' ')
            keep = b.len;
    }
    if (b.oom || keep == 0)
        goto bad;
    b.len = keep;
    return sb_finish(&b);
bad:
    free(b.p);
    return NULL;
}

bool sg_ldap_user_name_ok(const char *user, size_t len)
{
    if (!user || len == 0 || len > SG_LDAP_MAX_USER)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
            return false;
    return true;
}
