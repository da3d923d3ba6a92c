/* log.c — one line per record on stderr, text or JSON. */
#include "log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = SG_LOG_INFO;
static bool g_json;
static bool g_mask = true;
static char g_role[16] = "main";
static sg_log_observer_fn g_observer;
static __thread int g_in_observer;

static const char *const level_names[] = {"ERROR", "INFO", "VERBOSE", "DEBUG"};

void sg_log_setup(int level, bool json, bool mask_secrets, const char *role)
{
    g_level = level < 0 ? 0 : level > 3 ? 3 : level;
    g_json = json;
    g_mask = mask_secrets;
    if (role)
        snprintf(g_role, sizeof(g_role), "%s", role);
}

int sg_log_level(void) { return g_level; }
void sg_log_set_observer(sg_log_observer_fn fn) { g_observer = fn; }

static const char *const secret_keys[] = {"password", "passwd", "secret", "passphrase",
                                          "bind_password", "token", NULL};

void sg_log_mask(char *msg)
{
    for (const char *const *k = secret_keys; *k; k++) {
        size_t kl = strlen(*k);
        char *p = msg;
        while ((p = strcasestr(p, *k)) != NULL) {
            char *v = p + kl;
            if (*v == '"')
                v++;
            while (*v == ' ')
                v++;
            if (*v != '=' && *v != ':') {
                p = v;
                continue;
            }
            v++;
            while (*v == ' ')
                v++;
            bool quoted = *v == '"';
            if (quoted)
                v++;
            char *end = v;
            while (*end && (quoted ? *end != '"' : !isspace((unsigned char)*end) && *end != ',' &&
                                                       *end != '}'))
                end++;
            if (end > v) {
                size_t rest = strlen(end);
                memmove(v + 3, end, rest + 1);
                memcpy(v, "***", 3);
                end = v + 3;
            }
            p = end;
        }
    }
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void timestamp(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + l, n - l, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(uint64_t conn_id, int level, const char *type, const char *msg)
{
    char ts[40];
    timestamp(ts, sizeof(ts));
    /* one fprintf per record into a private buffer, then one write: lines of
     * different workers never interleave */
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f)
        return;
    if (g_json) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"role\":\"%s\",\"type\":\"%s\"", ts,
                level_names[level], (int)getpid(), g_role, type);
        if (conn_id)
            fprintf(f, ",\"conn\":%llu", (unsigned long long)conn_id);
        fputs(",\"msg\":\"", f);
        json_escape(f, msg);
        fputs("\"}\n", f);
    } else {
        fprintf(f, "%s %s[%d] %s", ts, g_role, (int)getpid(), level_names[level]);
        if (conn_id)
            fprintf(f, " conn=%llu", (unsigned long long)conn_id);
        fprintf(f, " %s\n", msg);
    }
    fclose(f);
    ssize_t off = 0;
    while (off < (ssize_t)len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - (size_t)off);
        if (w <= 0)
            break;
        off += w;
    }
    free(line);
    if (g_observer && !g_in_observer) {
        g_in_observer = 1;
        g_observer(conn_id, level, type, msg);
        g_in_observer = 0;
    }
}

void sg_logv(uint64_t conn_id, int level, const char *type, const char *fmt, va_list ap)
{
    if (level > g_level)
        return;
    char buf[4096];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            *p = '?'; /* no log forging with newlines from peer data */
    if (g_mask)
        sg_log_mask(buf);
    emit(conn_id, level, type, buf);
}

void sg_logf(uint64_t conn_id, int level, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_logv(conn_id, level, type, fmt, ap);
    va_end(ap);
}

void sg_log_event(uint64_t conn_id, int level, const char *source, const char *event,
                  const struct sg_kv *fields, size_t n)
{
    if (level > g_level)
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    if (g_json) {
        fprintf(f, "event=%s", event); /* the msg field carries the record as JSON text */
        fputs(" {", f);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s\"", i ? "," : "");
            json_escape(f, fields[i].key);
            fputs("\":\"", f);
            json_escape(f, fields[i].value ? fields[i].value : "");
            fputc('"', f);
        }
        fputc('}', f);
    } else {
        fprintf(f, "%s: %s", source, event);
        for (size_t i = 0; i < n; i++) {
            const char *v = fields[i].value ? fields[i].value : "";
            bool q = strpbrk(v, " \"=") != NULL || !*v;
            fprintf(f, " %s=%s", fields[i].key, q ? "\"" : "");
            for (const char *p = v; *p; p++)
                fputs(*p == '"' ? "\\\"" : (char[]){*p, 0}, f);
            if (q)
                fputc('"', f);
        }
    }
    fclose(f);
    sg_logf(conn_id, level, "audit", "%s", buf);
    free(buf);
}
