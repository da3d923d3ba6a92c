/* keyfile.c — authorized_keys file lookup on a pool thread (see keyfile.h). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void kf_log_add(struct kf_log *log, const char *fmt, ...)
{
    if (!log)
        return;
    if (log->n >= KF_LOG_LINES) {
        log->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->line[log->n++], KF_LOG_LEN, fmt, ap);
    va_end(ap);
}

bool kf_pattern_valid(const char *pattern)
{
    if (!pattern || !*pattern)
        return false;
    for (const char *p = pattern; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] != 'u' && p[1] != '%')
            return false;
        p++;
    }
    return true;
}

char *kf_expand(const char *pattern, const char *user)
{
    if (!kf_pattern_valid(pattern) || !user)
        return NULL;
    size_t ulen = strlen(user), cap = 1;
    for (const char *p = pattern; *p; p++) {
        if (*p == '%') {
            cap += p[1] == 'u' ? ulen : 1;
            p++;
        } else {
            cap++;
        }
    }
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = pattern; *p; p++) {
        if (*p == '%') {
            if (p[1] == 'u') {
                memcpy(o, user, ulen);
                o += ulen;
            } else {
                *o++ = '%';
            }
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* strerror is not guaranteed thread-safe; this runs on pool threads. */
static const char *errtext(int err, char *buf, size_t len)
{
    return strerror_r(err, buf, len); /* GNU variant: returns the text */
}

#define RF_OK 1 /* read_file: the file was read */

/* Read the whole file (bounded). RF_OK, KF_MISSING or KF_ERROR. */
static int read_file(const char *path, char **buf, size_t *len, struct kf_log *log)
{
    int rc = KF_ERROR;
    char eb[128];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    *buf = NULL;
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return KF_MISSING;
        kf_log_add(log, "%s: %s", path, errtext(errno, eb, sizeof eb));
        return KF_ERROR;
    }
    if (fstat(fd, &st) != 0) {
        kf_log_add(log, "%s: %s", path, errtext(errno, eb, sizeof eb));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        kf_log_add(log, "%s: not a regular file: ignored", path);
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        kf_log_add(log, "%s: writable by group or others: ignored", path);
        goto out;
    }
    if ((unsigned long long)st.st_size > KF_MAX_FILE) {
        kf_log_add(log, "%s: larger than %u bytes: ignored", path, KF_MAX_FILE);
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *b = malloc(cap);
    if (!b) {
        kf_log_add(log, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (used == cap) { /* the file grew while reading: stop at the bound */
            if (cap > KF_MAX_FILE)
                break;
            char *nb = realloc(b, cap * 2 > KF_MAX_FILE + 1 ? KF_MAX_FILE + 1 : cap * 2);
            if (!nb) {
                free(b);
                kf_log_add(log, "%s: out of memory", path);
                goto out;
            }
            cap = cap * 2 > KF_MAX_FILE + 1 ? KF_MAX_FILE + 1 : cap * 2;
            b = nb;
        }
        ssize_t n = read(fd, b + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kf_log_add(log, "%s: %s", path, errtext(errno, eb, sizeof eb));
            free(b);
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    *buf = b;
    *len = used;
    rc = RF_OK;
out:
    close(fd);
    return rc;
}

/* The next line of buf (without its '\n'); false at the end. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *llen)
{
    if (*pos >= len)
        return false;
    *line = buf + *pos;
    const char *nl = memchr(*line, '\n', len - *pos);
    *llen = nl ? (size_t)(nl - *line) : len - *pos;
    *pos += *llen + (nl ? 1 : 0);
    return true;
}

/* Read `path` and hand each key line, parsed (as authorized_keys with
 * cert-authority allowed, or as plain "type base64" lines), to `match`;
 * lines that do not parse are logged and skipped. KF_MATCH as soon as
 * `match` returns true (the key is then the callback's to clear), else
 * KF_NOMATCH, or read_file's KF_MISSING / error. */
typedef bool (*kf_match_fn)(struct ak_key *k, const char *path, unsigned lineno, void *arg);

static int scan_lines(const char *path, bool authorized_keys, struct kf_log *log,
                      kf_match_fn match, void *arg)
{
    char *buf = NULL;
    const char *line;
    size_t len = 0, llen, pos = 0;
    unsigned lineno = 0;
    int rc = read_file(path, &buf, &len, log);
    if (rc != RF_OK)
        return rc;
    rc = KF_NOMATCH;
    while (next_line(buf, len, &pos, &line, &llen)) {
        lineno++;
        struct ak_key k;
        char why[200];
        int prc = authorized_keys ? ak_parse_line_ex(line, llen, AK_ALLOW_CA, &k, why, sizeof why)
                                  : ak_parse_public_key(line, llen, &k, why, sizeof why);
        if (prc == AK_SKIP)
            continue;
        if (prc != AK_OK) {
            kf_log_add(log, "%s:%u: %s: line skipped", path, lineno, why);
            continue;
        }
        if (match(&k, path, lineno, arg)) {
            rc = KF_MATCH;
            break;
        }
        ak_key_clear(&k);
    }
    free(buf);
    return rc;
}

struct key_scan {
    const struct ak_key *offered;
    const char *peer;
    time_t now;
    struct kf_log *log;
    struct ak_restrict *restr;
};

static bool key_matches(struct ak_key *k, const char *path, unsigned lineno, void *arg)
{
    struct key_scan *ks = arg;
    char why[200];
    if (ak_key_authorizes(k, ks->offered)) {
        if (ak_key_options_allow(k, ks->peer, ks->now, why, sizeof why)) {
            if (ks->restr)
                ak_restrict_move(ks->restr, &k->restr);
            ak_key_clear(k);
            return true;
        }
        kf_log_add(ks->log, "%s:%u: key refused: %s", path, lineno, why);
    } else if (ak_key_same(k, ks->offered)) {
        kf_log_add(ks->log, "%s:%u: key refused: a cert-authority key only signs certificates",
                   path, lineno);
    }
    return false;
}

int kf_scan(const char *path, const struct ak_key *offered, const char *peer, time_t now,
            struct kf_log *log, struct ak_restrict *restr)
{
    struct key_scan ks = {offered, peer, now, log, restr};
    return scan_lines(path, true, log, key_matches, &ks);
}

struct ca_scan {
    bool authorized_keys;
    const struct uc_cert *cert;
    const char *user, *peer;
    time_t now;
    struct kf_log *log;
    struct ak_restrict *restr;
};

static bool ca_vouches(struct ak_key *k, const char *path, unsigned lineno, void *arg)
{
    struct ca_scan *cs = arg;
    char why[300];
    if (uc_vouches(k, cs->authorized_keys, cs->cert, cs->user, cs->peer, cs->now, why,
                   sizeof why)) {
        if (cs->restr)
            ak_restrict_move(cs->restr, &k->restr);
        ak_key_clear(k);
        return true;
    }
    if (why[0])
        kf_log_add(cs->log, "%s:%u: CA key refused: %s", path, lineno, why);
    return false;
}

int kf_scan_ca(const char *path, enum kf_ca_source src, const struct uc_cert *cert,
               const char *user, const char *peer, time_t now, struct kf_log *log,
               struct ak_restrict *restr)
{
    struct ca_scan cs = {src == KF_CA_AUTHORIZED_KEYS, cert, user, peer, now, log, restr};
    return scan_lines(path, cs.authorized_keys, log, ca_vouches, &cs);
}
