/* log.h — the daemon's log: stderr, text or JSON, levels 0-3, secrets masked. */
#ifndef SSHGATE_LOG_H
#define SSHGATE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

/* Configure (called again after a reload or in a new worker). */
void sg_log_setup(int level, bool json, bool mask_secrets, const char *role);
int sg_log_level(void);
/* Observer for plugins' on_log (set by the worker); called after writing. */
typedef void (*sg_log_observer_fn)(uint64_t conn_id, int level, const char *type, const char *msg);
void sg_log_set_observer(sg_log_observer_fn fn);

/* conn_id 0 = not about a connection. `type`: "info", "auth", "audit", "debug", "error". */
void sg_logf(uint64_t conn_id, int level, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sg_logv(uint64_t conn_id, int level, const char *type, const char *fmt, va_list ap);
/* A structured event: key/value fields rendered as JSON members or key=value. */
void sg_log_event(uint64_t conn_id, int level, const char *source, const char *event,
                  const struct sg_kv *fields, size_t n);

/* Replace the value after secret-looking keys ("password=", "\"secret\":") with "***",
 * in place. Exposed for tests. */
void sg_log_mask(char *msg);

#define SG_ERR(id, ...) sg_logf((id), SG_LOG_ERROR, "error", __VA_ARGS__)
#define SG_INFO(id, ...) sg_logf((id), SG_LOG_INFO, "info", __VA_ARGS__)
#define SG_VERB(id, ...) sg_logf((id), SG_LOG_VERBOSE, "info", __VA_ARGS__)
#define SG_DBG(id, ...) sg_logf((id), SG_LOG_DEBUG, "debug", __VA_ARGS__)

#endif
