/* tunnel_config.h — plugin and route config (JSON text) → struct tp_policy. */
#ifndef SSHGATE_TUNNEL_CONFIG_H
#define SSHGATE_TUNNEL_CONFIG_H

#include <stddef.h>

#include "tunnel_policy.h"

#define TC_DEFAULT_MAX_FORWARDS 32
#define TC_DEFAULT_MAX_LISTENERS 8
#define TC_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define TC_DEFAULT_MAX_BUFFER (256 * 1024)

/* Parse `json` (an object; NULL or "" means {}) on top of `base` (NULL =
 * built-in defaults): keys present replace the base values. Returns a new
 * policy (free with tc_policy_free) or NULL with a message in err. */
struct tp_policy *tc_policy_parse(const char *json, const struct tp_policy *base, char *err,
                                  size_t errlen);
void tc_policy_free(struct tp_policy *p);

#endif
