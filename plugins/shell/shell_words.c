/* shell_words.c — exec command word splitting and argv templates.
 * See shell_words.h for the rules. Pure functions: no host, no I/O. */
#include "shell_words.h"

#include <stdlib.h>
#include <string.h>

#define SW_MAX_INDEX 999

/* ---------------------------------------------------------------- vectors */

int sw_push(struct sw_words *w, const char *s, size_t len)
{
    if (w->n + 2 > w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        char **nv = realloc(w->v, ncap * sizeof(*nv));
        if (!nv)
            return SW_E_NOMEM;
        w->v = nv;
        w->cap = ncap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return SW_E_NOMEM;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    w->v[w->n++] = copy;
    w->v[w->n] = NULL;
    return SW_OK;
}

void sw_words_free(struct sw_words *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

const char *sw_strerror(int err)
{
    static const struct {
        int code;
        const char *text;
    } texts[] = {
        {SW_OK, "ok"},
        {SW_E_NUL, "command contains a NUL byte"},
        {SW_E_TOOLONG, "command too long"},
        {SW_E_QUOTE, "unterminated quote in command"},
        {SW_E_ESCAPE, "trailing backslash in command"},
        {SW_E_NOMEM, "out of memory"},
        {SW_E_ARGS, "wrong number of arguments for this command"},
        {SW_E_TEMPLATE, "malformed argv template"},
        {SW_E_EMPTY, "empty command"},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == err)
            return texts[i].text;
    return "unknown error";
}

/* ---------------------------------------------------------------- split */

/* Word under construction: bytes go to buf (capacity >= len of the command,
 * so it never overflows). */
struct sw_cur {
    char *buf;
    size_t len;
    bool active; /* a word started (also for '' / "") */
};

static int sw_flush(struct sw_cur *c, struct sw_words *out)
{
    int rc = SW_OK;
    if (c->active)
        rc = sw_push(out, c->buf, c->len);
    c->len = 0;
    c->active = false;
    return rc;
}

int sw_split(const char *cmd, size_t len, size_t max_len, struct sw_words *out)
{
    int rc = SW_OK;
    struct sw_cur cur = {0};
    memset(out, 0, sizeof(*out));

    if (len > max_len) {
        rc = SW_E_TOOLONG;
        goto out;
    }
    if (memchr(cmd, '\0', len)) {
        rc = SW_E_NUL;
        goto out;
    }
    cur.buf = malloc(len + 1);
    if (!cur.buf) {
        rc = SW_E_NOMEM;
        goto out;
    }
    size_t i = 0;
    while (i < len) {
        char ch = cmd[i];
        if (ch == ' ' || ch == '\t' || ch == '\n') {
            if ((rc = sw_flush(&cur, out)) != SW_OK)
                goto out;
            i++;
        } else if (ch == '\'') {
            const char *end = memchr(cmd + i + 1, '\'', len - i - 1);
            if (!end) {
                rc = SW_E_QUOTE;
                goto out;
            }
            size_t n = (size_t)(end - (cmd + i + 1));
            memcpy(cur.buf + cur.len, cmd + i + 1, n);
            cur.len += n;
            cur.active = true;
            i += n + 2;
        } else if (ch == '"') {
            cur.active = true;
            i++;
            for (;;) {
                if (i >= len) {
                    rc = SW_E_QUOTE;
                    goto out;
                }
                char d = cmd[i];
                if (d == '"') {
                    i++;
                    break;
                }
                if (d == '\\' && i + 1 < len) {
                    char e = cmd[i + 1];
                    if (e == '\n') {
                        i += 2;
                        continue;
                    }
                    if (e == '"' || e == '\\' || e == '$' || e == '`') {
                        cur.buf[cur.len++] = e;
                        i += 2;
                        continue;
                    }
                }
                cur.buf[cur.len++] = d;
                i++;
            }
        } else if (ch == '\\') {
            if (i + 1 >= len) {
                rc = SW_E_ESCAPE;
                goto out;
            }
            if (cmd[i + 1] != '\n') {
                cur.buf[cur.len++] = cmd[i + 1];
                cur.active = true;
            }
            i += 2;
        } else {
            cur.buf[cur.len++] = ch;
            cur.active = true;
            i++;
        }
    }
    rc = sw_flush(&cur, out);
    if (rc == SW_OK && out->n == 0)
        rc = SW_E_EMPTY;
out:
    free(cur.buf);
    if (rc != SW_OK)
        sw_words_free(out);
    return rc;
}

/* ---------------------------------------------------------------- templates */

/* Parse "{N}" at s (s[0] == '{'). Returns the index or -1; *end after '}'. */
static long sw_placeholder(const char *s, const char **end)
{
    const char *p = s + 1;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (++digits > 3)
            return -1;
        p++;
    }
    if (digits == 0 || *p != '}')
        return -1;
    *end = p + 1;
    return v;
}

/* Walk one template element; with words == NULL only validate and report
 * the highest index used (*maxidx). With words, write into buf. */
static int sw_element(const char *t, const struct sw_words *words, char *buf, size_t *outlen,
                      long *maxidx)
{
    size_t n = 0;
    const char *p = t;
    while (*p) {
        if (p[0] == '{' && p[1] == '{') {
            if (buf)
                buf[n] = '{';
            n++;
            p += 2;
        } else if (p[0] == '}' && p[1] == '}') {
            if (buf)
                buf[n] = '}';
            n++;
            p += 2;
        } else if (p[0] == '{') {
            const char *end;
            long idx = sw_placeholder(p, &end);
            if (idx < 0)
                return SW_E_TEMPLATE;
            if (idx > *maxidx)
                *maxidx = idx;
            if (words) {
                if ((size_t)idx >= words->n)
                    return SW_E_ARGS;
                size_t wl = strlen(words->v[idx]);
                if (buf)
                    memcpy(buf + n, words->v[idx], wl);
                n += wl;
            }
            p = end;
        } else if (p[0] == '}') {
            return SW_E_TEMPLATE;
        } else {
            if (buf)
                buf[n] = *p;
            n++;
            p++;
        }
    }
    *outlen = n;
    return SW_OK;
}

int sw_template_check(const char *const *tmpl, size_t n)
{
    if (n == 0 || !tmpl[0] || !tmpl[0][0] || strcmp(tmpl[0], "{*}") == 0)
        return SW_E_TEMPLATE;
    for (size_t i = 0; i < n; i++) {
        if (!tmpl[i])
            return SW_E_TEMPLATE;
        if (strcmp(tmpl[i], "{*}") == 0)
            continue;
        long maxidx = -1;
        size_t len;
        if (sw_element(tmpl[i], NULL, NULL, &len, &maxidx) != SW_OK)
            return SW_E_TEMPLATE;
    }
    return SW_OK;
}

int sw_expand(const char *const *tmpl, size_t n, const struct sw_words *words, long nargs,
              struct sw_words *out)
{
    int rc = SW_OK;
    bool star = false;
    long maxidx = -1;
    char *buf = NULL;
    memset(out, 0, sizeof(*out));

    if ((rc = sw_template_check(tmpl, n)) != SW_OK)
        goto out;
    if (!words || words->n == 0) {
        rc = SW_E_EMPTY;
        goto out;
    }
    if (nargs >= 0 && words->n - 1 != (size_t)nargs) {
        rc = SW_E_ARGS;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tmpl[i], "{*}") == 0) {
            star = true;
            for (size_t w = 1; w < words->n; w++)
                if ((rc = sw_push(out, words->v[w], strlen(words->v[w]))) != SW_OK)
                    goto out;
            continue;
        }
        size_t len;
        if ((rc = sw_element(tmpl[i], words, NULL, &len, &maxidx)) != SW_OK)
            goto out;
        free(buf);
        buf = malloc(len + 1);
        if (!buf) {
            rc = SW_E_NOMEM;
            goto out;
        }
        if ((rc = sw_element(tmpl[i], words, buf, &len, &maxidx)) != SW_OK)
            goto out;
        if ((rc = sw_push(out, buf, len)) != SW_OK)
            goto out;
    }
    /* Without an explicit count, words nobody consumed would be dropped
     * silently: refuse. Word 0 (the command name) may go unused. */
    if (nargs < 0 && !star && words->n > 1 && (maxidx < 0 || (size_t)maxidx < words->n - 1))
        rc = SW_E_ARGS;
out:
    free(buf);
    if (rc != SW_OK)
        sw_words_free(out);
    return rc;
}
