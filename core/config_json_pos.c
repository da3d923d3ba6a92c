/* config_json_pos.c — JSON path strings and a position-finding JSON scanner
 * (used only to put FILE:LINE:COL into config error messages). */
#include "config_json_pos.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JPOS_MAX_DEPTH 2048 /* jansson's own nesting limit */

/* ---- paths ------------------------------------------------------------ */

static bool jpath_reserve(struct sg_jpath *p, size_t extra)
{
    if (p->oom)
        return false;
    if (p->len + extra + 1 <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 64;
    while (cap < p->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            p->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *s = realloc(p->s, cap);
    if (!s) {
        p->oom = true;
        return false;
    }
    p->s = s;
    p->cap = cap;
    return true;
}

void sg_jpath_init(struct sg_jpath *p)
{
    memset(p, 0, sizeof(*p));
    if (jpath_reserve(p, 1)) {
        p->s[0] = '$';
        p->s[1] = '\0';
        p->len = 1;
    }
}

void sg_jpath_free(struct sg_jpath *p)
{
    free(p->s);
    memset(p, 0, sizeof(*p));
}

static bool key_is_plain(const char *key)
{
    if (!*key)
        return false;
    for (const char *k = key; *k; k++) {
        char ch = *k;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static void jpath_putc(struct sg_jpath *p, char ch)
{
    if (!jpath_reserve(p, 1))
        return;
    p->s[p->len++] = ch;
    p->s[p->len] = '\0';
}

static void jpath_puts(struct sg_jpath *p, const char *s)
{
    size_t n = strlen(s);
    if (!jpath_reserve(p, n))
        return;
    memcpy(p->s + p->len, s, n + 1);
    p->len += n;
}

size_t sg_jpath_push_key(struct sg_jpath *p, const char *key)
{
    size_t old = p->len;
    if (key_is_plain(key)) {
        jpath_putc(p, '.');
        jpath_puts(p, key);
        return old;
    }
    jpath_puts(p, "[\"");
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        char esc[8];
        if (*k == '"' || *k == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*k;
            esc[2] = '\0';
        } else if (*k < 0x20 || *k == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *k);
        } else {
            esc[0] = (char)*k;
            esc[1] = '\0';
        }
        jpath_puts(p, esc);
    }
    jpath_puts(p, "\"]");
    return old;
}

size_t sg_jpath_push_index(struct sg_jpath *p, size_t index)
{
    size_t old = p->len;
    char buf[32];
    snprintf(buf, sizeof(buf), "[%zu]", index);
    jpath_puts(p, buf);
    return old;
}

void sg_jpath_pop(struct sg_jpath *p, size_t old_len)
{
    if (p->s && old_len <= p->len) {
        p->len = old_len;
        p->s[old_len] = '\0';
    }
}

/* ---- scanner ---------------------------------------------------------- */

struct scan {
    const char *p, *end;
    int line, col;
    const char *target;
    size_t target_len;
    bool want_key;
    bool found;
    int found_line, found_col;
    struct sg_jpath path;
    char *key; /* decoded member name */
    size_t key_cap;
};

static void advance(struct scan *s)
{
    unsigned char ch = (unsigned char)*s->p++;
    if (ch == '\n') {
        s->line++;
        s->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
        s->col++;
    }
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        advance(s);
}

static bool path_is_target(const struct scan *s)
{
    return !s->path.oom && s->path.len == s->target_len &&
           memcmp(s->path.s, s->target, s->target_len) == 0;
}

static void mark(struct scan *s, int line, int col)
{
    s->found = true;
    s->found_line = line;
    s->found_col = col;
}

static int key_put(struct scan *s, size_t *n, const char *bytes, size_t k)
{
    if (*n + k + 1 > s->key_cap) {
        size_t cap = s->key_cap ? s->key_cap * 2 : 64;
        while (cap < *n + k + 1)
            cap *= 2;
        char *nk = realloc(s->key, cap);
        if (!nk)
            return -1;
        s->key = nk;
        s->key_cap = cap;
    }
    memcpy(s->key + *n, bytes, k);
    *n += k;
    s->key[*n] = '\0';
    return 0;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Scan a string at s->p (the opening quote). With decode, the content is
 * decoded into s->key. */
static int scan_string(struct scan *s, bool decode)
{
    size_t n = 0;
    if (decode && key_put(s, &n, "", 0) < 0)
        return -1;
    advance(s); /* '"' */
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20)
            return -1;
        if (*s->p != '\\') {
            if (decode && key_put(s, &n, s->p, 1) < 0)
                return -1;
            advance(s);
            continue;
        }
        advance(s);
        if (s->p >= s->end)
            return -1;
        char esc = *s->p;
        char out[4];
        size_t k = 1;
        switch (esc) {
        case '"':
            out[0] = '"';
            break;
        case '\\':
            out[0] = '\\';
            break;
        case '/':
            out[0] = '/';
            break;
        case 'b':
            out[0] = '\b';
            break;
        case 'f':
            out[0] = '\f';
            break;
        case 'n':
            out[0] = '\n';
            break;
        case 'r':
            out[0] = '\r';
            break;
        case 't':
            out[0] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(s->p + 1, s->end, &cp) < 0)
                return -1;
            for (int i = 0; i < 5; i++)
                advance(s);
            if (cp >= 0xD800 && cp <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
                s->p[1] == 'u' && hex4(s->p + 2, s->end, &lo) == 0 && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                for (int i = 0; i < 6; i++)
                    advance(s);
            }
            k = utf8_encode(cp, out);
            if (decode && key_put(s, &n, out, k) < 0)
                return -1;
            continue;
        }
        default:
            return -1;
        }
        if (decode && key_put(s, &n, out, k) < 0)
            return -1;
        advance(s);
    }
    if (s->p >= s->end)
        return -1;
    advance(s); /* closing '"' */
    return 0;
}

static int scan_value(struct scan *s, int depth);

static int scan_object(struct scan *s, int depth)
{
    advance(s); /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        advance(s);
        return 0;
    }
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"')
            return -1;
        int kline = s->line, kcol = s->col;
        if (scan_string(s, true) < 0)
            return -1;
        size_t old = sg_jpath_push_key(&s->path, s->key);
        if (s->want_key && path_is_target(s)) {
            mark(s, kline, kcol);
            return 0;
        }
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        advance(s);
        if (scan_value(s, depth + 1) < 0 || s->found)
            return s->found ? 0 : -1;
        sg_jpath_pop(&s->path, old);
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            advance(s);
            continue;
        }
        if (*s->p == '}') {
            advance(s);
            return 0;
        }
        return -1;
    }
}

static int scan_array(struct scan *s, int depth)
{
    advance(s); /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        advance(s);
        return 0;
    }
    for (size_t i = 0;; i++) {
        size_t old = sg_jpath_push_index(&s->path, i);
        if (scan_value(s, depth + 1) < 0 || s->found)
            return s->found ? 0 : -1;
        sg_jpath_pop(&s->path, old);
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            advance(s);
            continue;
        }
        if (*s->p == ']') {
            advance(s);
            return 0;
        }
        return -1;
    }
}

static int scan_scalar(struct scan *s)
{
    const char *start = s->p;
    while (s->p < s->end) {
        char ch = *s->p;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '+' ||
              ch == '.' || ch == 'E'))
            break;
        advance(s);
    }
    return s->p > start ? 0 : -1;
}

static int scan_value(struct scan *s, int depth)
{
    if (depth > JPOS_MAX_DEPTH)
        return -1;
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    if (!s->want_key && path_is_target(s)) {
        mark(s, s->line, s->col);
        return 0;
    }
    switch (*s->p) {
    case '{':
        return scan_object(s, depth);
    case '[':
        return scan_array(s, depth);
    case '"':
        return scan_string(s, false);
    default:
        return scan_scalar(s);
    }
}

int sg_json_pos_find(const char *text, size_t len, const char *path, bool want_key, int *line,
                     int *col)
{
    struct scan s;
    int rc = -1;

    if (!text || !path)
        return -1;
    memset(&s, 0, sizeof(s));
    s.p = text;
    s.end = text + len;
    s.line = 1;
    s.col = 1;
    s.target = path;
    s.target_len = strlen(path);
    s.want_key = want_key;
    sg_jpath_init(&s.path);
    if (s.path.oom)
        goto out;
    /* A UTF-8 byte order mark is not part of the first line's columns. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        s.p += 3;
    scan_value(&s, 0);
    if (s.found) {
        *line = s.found_line;
        *col = s.found_col;
        rc = 0;
    }
out:
    sg_jpath_free(&s.path);
    free(s.key);
    return rc;
}
