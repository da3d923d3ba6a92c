/* hostkeys.h — make sure every configured host key exists (generate missing
 * ones: ed25519, ecdsa P-256, RSA 3072 by file name; mode 0600). */
#ifndef SSHGATE_HOSTKEYS_H
#define SSHGATE_HOSTKEYS_H

#include <stddef.h>

#include "config.h"

int sg_hostkeys_ensure(const struct sg_config *cfg, char *err, size_t errlen);

#endif
