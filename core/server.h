/* server.h — one worker: a loop serving the shared listeners. Also the
 * in-process library API (libsshgate) that tests and embedders use. */
#ifndef SSHGATE_SERVER_H
#define SSHGATE_SERVER_H

#include <stddef.h>

#include "config.h"
#include "listener.h"

/* Exit code of a worker whose plugins could not start (EX_CONFIG). */
#define SG_WORKER_EXIT_CONFIG 78

/* Run a worker until told to stop (SIGTERM: graceful shutdown; SIGUSR1:
 * drain — stop accepting, exit when the last connection ends). `ctl_fd` is
 * the worker's end of the master's status socketpair (-1: none).
 * Returns the process exit code. */
int sg_worker_run(const struct sg_config *cfg, const struct sg_listener *ls, size_t n_listen,
                  struct sg_admission *adm, int slot, int ctl_fd);

/* In-process server (one loop in the calling thread). */
struct sg_server;
struct sg_server *sg_server_new(const struct sg_config *cfg, char *err, size_t errlen);
/* Host keys, listeners, admission table. */
int sg_server_start(struct sg_server *s, char *err, size_t errlen);
/* Serve until sg_server_stop (or SIGTERM/SIGINT). */
int sg_server_run(struct sg_server *s);
/* Ask the running server to stop (async-signal and thread safe). */
void sg_server_stop(struct sg_server *s);
void sg_server_free(struct sg_server *s);

#endif
