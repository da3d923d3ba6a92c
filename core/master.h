/* master.h — the master process (see master.c). */
#ifndef SSHGATE_MASTER_H
#define SSHGATE_MASTER_H

#include <stddef.h>

#include "config.h"

#ifndef SG_VERSION
#define SG_VERSION "0"
#endif
#define SG_VERSION_STRING SG_VERSION

/* Load the config from a file, or the embedded default when path is NULL. */
struct sg_config *sg_master_load(const char *path, char *err, size_t errlen);
int sg_master_check_plugins(const struct sg_config *cfg, char *err, size_t errlen);
/* Run until SIGTERM/SIGINT; takes ownership of cfg. Returns the exit code. */
int sg_master_run(const char *config_path, struct sg_config *cfg);

#endif
