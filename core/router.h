/* router.h — routes → plugin: first match wins, no match = refused. */
#ifndef SSHGATE_ROUTER_H
#define SSHGATE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct sg_route_query {
    enum sg_route_kind kind;  /* never SG_ROUTE_ANY */
    const char *command;      /* exec command */
    const char *subsystem;    /* subsystem name */
    const char *user;
    bool (*has_group)(void *ctx, const char *group);
    void *ctx;
    const struct sockaddr *source; /* peer address */
};

/* Returns the index of the first matching route, or -1. */
long sg_route_match(const struct sg_config *cfg, const struct sg_route_query *q);

#endif
