/* router.c — match request kind, command/subsystem, user, group, source. */
#include "router.h"

#include <fnmatch.h>
#include <netinet/in.h>
#include <string.h>

static bool glob_any(const struct sg_strlist *l, const char *s)
{
    if (l->n == 0)
        return true;
    for (size_t i = 0; i < l->n; i++)
        if (fnmatch(l->v[i], s ? s : "", 0) == 0)
            return true;
    return false;
}

static bool source_ok(const struct sg_route *r, const struct sockaddr *sa)
{
    if (r->n_sources == 0)
        return true;
    if (!sa)
        return false;
    int fam = sa->sa_family;
    const void *addr = fam == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                      : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    for (size_t i = 0; i < r->n_sources; i++)
        if (sg_cidr_match(&r->sources[i], fam, addr))
            return true;
    return false;
}

static bool kind_ok(const struct sg_route *r, const struct sg_route_query *q)
{
    if (r->kind != SG_ROUTE_ANY && r->kind != q->kind)
        return false;
    if (q->kind == SG_ROUTE_EXEC && r->command && *r->command &&
        fnmatch(r->command, q->command ? q->command : "", 0) != 0)
        return false;
    if (q->kind == SG_ROUTE_SUBSYSTEM && r->subsystem && *r->subsystem &&
        strcmp(r->subsystem, q->subsystem ? q->subsystem : "") != 0)
        return false;
    return true;
}

long sg_route_match(const struct sg_config *cfg, const struct sg_route_query *q)
{
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct sg_route *r = &cfg->routes[i];
        if (!kind_ok(r, q) || !glob_any(&r->users, q->user) || !source_ok(r, q->source))
            continue;
        if (r->groups.n) {
            bool any = false;
            for (size_t g = 0; g < r->groups.n && !any; g++)
                any = q->has_group && q->has_group(q->ctx, r->groups.v[g]);
            if (!any)
                continue;
        }
        return (long)i;
    }
    return -1;
}
