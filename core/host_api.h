/* host_api.h — the table of host calls given to every plugin's init. */
#ifndef SSHGATE_HOST_API_H
#define SSHGATE_HOST_API_H

#include <sys/epoll.h>

#include "plugin.h"
#include "session.h"

const struct sg_host *sg_host_api(void);
/* Worker exit, after the plugins were unloaded: cancel and free the plugin
 * timers still pending (their callbacks never run). */
void sg_host_timers_drop(void);

#endif
