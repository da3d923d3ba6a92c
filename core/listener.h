/* listener.h — listening sockets (opened once by the master, inherited by the
 * workers) and admission: allowed/blocked clients, max_connections,
 * max_startups, per-source caps and penalties, in a table shared by all
 * workers (anonymous shared memory created before fork). */
#ifndef SSHGATE_LISTENER_H
#define SSHGATE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

#define SG_MAX_WORKERS 64

struct sg_listener {
    int fd;
    char address[64];
    int port;
};

int sg_listeners_open(const struct sg_config *cfg, struct sg_listener **out, size_t *n, char *err,
                      size_t errlen);
void sg_listeners_close(struct sg_listener *l, size_t n);
/* Does listener set `l` serve exactly the listen[] of cfg? */
bool sg_listeners_same(const struct sg_listener *l, size_t n, const struct sg_config *cfg);

enum sg_admit {
    SG_ADMIT_OK = 0,
    SG_ADMIT_NOT_ALLOWED,  /* allowed_clients / blocked_clients */
    SG_ADMIT_FULL,         /* max_connections */
    SG_ADMIT_STARTUPS,     /* max_startups */
    SG_ADMIT_PER_SOURCE,   /* per_source_max */
    SG_ADMIT_PENALTY,      /* per_source_penalty after repeated auth failures */
};
const char *sg_admit_str(enum sg_admit a);

struct sg_admission;
struct sg_admission *sg_admission_create(void);
void sg_admission_destroy(struct sg_admission *a);
/* This process is worker `slot` (0..SG_MAX_WORKERS-1); counts go there. */
void sg_admission_set_slot(int slot);
/* A crashed worker's counts are dropped by the master. */
void sg_admission_forget_slot(struct sg_admission *a, int slot);

/* Peer allowed by allowed_clients/blocked_clients (CIDR or glob; an
 * IPv4-mapped IPv6 peer is matched as its IPv4 address)? */
bool sg_client_allowed(const struct sg_config *cfg, const struct sockaddr *sa);
/* Admit a new connection; on SG_ADMIT_OK the counters include it. */
enum sg_admit sg_admit(struct sg_admission *a, const struct sg_config *cfg,
                       const struct sockaddr *sa, const char *ip);
void sg_admission_authenticated(struct sg_admission *a, const struct sockaddr *sa);
void sg_admission_release(struct sg_admission *a, const struct sockaddr *sa, bool authenticated);
/* Count an auth failure of this source; returns true when it is now penalised. */
bool sg_admission_auth_failed(struct sg_admission *a, const struct sg_config *cfg,
                              const struct sockaddr *sa);
void sg_admission_stats(struct sg_admission *a, int *total, int *startups);

#endif
