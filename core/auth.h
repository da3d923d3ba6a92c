/* auth.h — the user-auth state machine over the chain of auth plugins. */
#ifndef SSHGATE_AUTH_H
#define SSHGATE_AUTH_H

#include "session.h"

/* libssh method bits (SSH_AUTH_METHOD_*) of the configured auth.methods. */
int sg_auth_methods_mask(const struct sg_config *cfg);
/* Method name → SSH_AUTH_METHOD_* bit (0 if unknown). */
int sg_auth_method_bit(const char *name);
/* Is the set of done methods (bits) enough for cfg->auth.required? */
bool sg_auth_required_met(const struct sg_config *cfg, int done);
/* Methods worth offering after `done` (bits). */
int sg_auth_next_methods(const struct sg_config *cfg, int done);

/* One SSH_REQUEST_AUTH message (ownership passes). */
void sg_auth_message(struct sg_conn *c, ssh_message m);
/* host->complete for an auth request. */
void sg_auth_complete(struct sg_request *r, int result, bool partial, const char *avail);
/* Connection teardown. */
/* host->conn_restrict: held with the auth attempt in flight (applied if it
 * succeeds), else applied to the connection at once. SG_OK or SG_E_*. */
int sg_auth_restrict(struct sg_conn *c, const struct sg_restrictions *r, char *why, size_t whylen);

void sg_auth_teardown(struct sg_conn *c);

#endif
