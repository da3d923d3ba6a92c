/* restrict.c — credential restrictions: parse, accumulate, check (restrict.h). */
#include "restrict.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define SG_PERMIT_MAX 256 /* entries per list */

static void list_free(struct sg_permit_list *l)
{
    while (l) {
        struct sg_permit_list *next = l->next;
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i].host);
        free(l->v);
        free(l);
        l = next;
    }
}

static int parse_port(const char *s, int *out)
{
    if (strcmp(s, "*") == 0) {
        *out = -1;
        return 0;
    }
    if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
        return -1;
    int p = atoi(s);
    if (p < 1 || p > 65535)
        return -1;
    *out = p;
    return 0;
}

/* "host:port", "[v6]:port", or (listen only) "port". */
static int parse_entry(const char *text, bool listen, struct sg_permit *out)
{
    const char *colon;
    const char *host = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -1;
        host = text + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) {
            if (!listen)
                return -1;
            out->host = strdup("*");
            return out->host && parse_port(text, &out->port) == 0 ? 0 : -1;
        }
        hlen = (size_t)(colon - text);
        if (memchr(text, ':', hlen))
            return -1; /* an IPv6 address must be in brackets */
    }
    if (hlen == 0 || hlen > 255)
        return -1;
    if (parse_port(colon + 1, &out->port) != 0)
        return -1;
    out->host = strndup(host, hlen);
    return out->host ? 0 : -1;
}

static int parse_list(const char *const *in, bool listen, struct sg_permit_list **out,
                      const char *what, char *why, size_t whylen)
{
    size_t n = 0;
    while (in[n])
        n++;
    if (n > SG_PERMIT_MAX) {
        snprintf(why, whylen, "%s: more than %d entries", what, SG_PERMIT_MAX);
        return SG_E_INVAL;
    }
    struct sg_permit_list *l = calloc(1, sizeof(*l));
    if (!l || (n && !(l->v = calloc(n, sizeof(*l->v))))) {
        free(l);
        return SG_E_NOMEM;
    }
    for (; l->n < n; l->n++) {
        if (parse_entry(in[l->n], listen, &l->v[l->n]) != 0) {
            snprintf(why, whylen, "%s: bad entry \"%.80s\"", what, in[l->n]);
            free(l->v[l->n].host);
            list_free(l);
            return SG_E_INVAL;
        }
    }
    *out = l;
    return SG_OK;
}

static void append(struct sg_permit_list **head, struct sg_permit_list *l)
{
    while (*head)
        head = &(*head)->next;
    *head = l;
}

#define SG_FORCE_COMMAND_MAX 8192

static bool command_conflicts(const struct sg_restrict *r, const char *cmd)
{
    return r && r->force_command && strcmp(r->force_command, cmd) != 0;
}

int sg_restrict_add(struct sg_restrict *into, const struct sg_restrict *applied,
                    const struct sg_restrictions *r, char *why, size_t whylen)
{
    struct sg_permit_list *open = NULL, *listen = NULL;
    char *cmd = NULL;
    if (!r ||
        r->size < offsetof(struct sg_restrictions, permit_listen) + sizeof(r->permit_listen)) {
        snprintf(why, whylen, "restrictions struct too small");
        return SG_E_INVAL;
    }
    if (r->flags & ~(unsigned)(SG_RESTRICT_PTY | SG_RESTRICT_PORT_FORWARDING)) {
        snprintf(why, whylen, "unknown restriction flags 0x%x", r->flags);
        return SG_E_INVAL;
    }
    const char *force = SG_HAS_FIELD(r, force_command) ? r->force_command : NULL;
    if (force) {
        if (!*force || strlen(force) > SG_FORCE_COMMAND_MAX) {
            snprintf(why, whylen, "force_command: empty or longer than %d bytes",
                     SG_FORCE_COMMAND_MAX);
            return SG_E_INVAL;
        }
        if (command_conflicts(into, force) || command_conflicts(applied, force)) {
            snprintf(why, whylen, "force_command: differs from the command already forced");
            return SG_E_INVAL;
        }
        if (!(cmd = strdup(force)))
            return SG_E_NOMEM;
    }
    int rc;
    if (r->permit_open &&
        (rc = parse_list(r->permit_open, false, &open, "permit_open", why, whylen)) != SG_OK) {
        free(cmd);
        return rc;
    }
    if (r->permit_listen &&
        (rc = parse_list(r->permit_listen, true, &listen, "permit_listen", why, whylen)) != SG_OK) {
        list_free(open);
        free(cmd);
        return rc;
    }
    if (cmd) {
        free(into->force_command);
        into->force_command = cmd;
    }
    into->flags |= r->flags;
    if (open)
        append(&into->open, open);
    if (listen)
        append(&into->listen, listen);
    return SG_OK;
}

void sg_restrict_merge(struct sg_restrict *into, struct sg_restrict *from)
{
    into->flags |= from->flags;
    if (from->open)
        append(&into->open, from->open);
    if (from->listen)
        append(&into->listen, from->listen);
    if (from->force_command) { /* equal to into's, if into has one (checked when added) */
        free(into->force_command);
        into->force_command = from->force_command;
    }
    *from = (struct sg_restrict){0};
}

void sg_restrict_clear(struct sg_restrict *r)
{
    list_free(r->open);
    list_free(r->listen);
    free(r->force_command);
    *r = (struct sg_restrict){0};
}

static bool permit_matches(const struct sg_permit *p, bool pattern, const char *host, int port)
{
    if (p->port >= 0 && p->port != port)
        return false;
    if (pattern) /* permit_listen: a case-insensitive pattern */
        return fnmatch(p->host, host, FNM_CASEFOLD) == 0;
    return strcmp(p->host, "*") == 0 || strcmp(p->host, host) == 0; /* literal */
}

/* No forwarding flag, and an entry of every list matches host:port. */
static bool lists_allow(const struct sg_restrict *r, const struct sg_permit_list *lists,
                        bool pattern, const char *host, int port)
{
    if (r->flags & SG_RESTRICT_PORT_FORWARDING)
        return false;
    for (const struct sg_permit_list *l = lists; l; l = l->next) {
        bool ok = false;
        for (size_t i = 0; i < l->n && !ok; i++)
            ok = permit_matches(&l->v[i], pattern, host, port);
        if (!ok)
            return false;
    }
    return true;
}

bool sg_restrict_open_allowed(const struct sg_restrict *r, const char *host, int port)
{
    return lists_allow(r, r->open, false, host, port);
}

bool sg_restrict_listen_allowed(const struct sg_restrict *r, const char *address, int port)
{
    return lists_allow(r, r->listen, true, address, port);
}
