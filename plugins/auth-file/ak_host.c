/* ak_host.c — authorized_keys restrictions to host->conn_restrict (see .h). */
#include "ak_host.h"

enum ak_host_result ak_host_restrict(const struct sg_host *host, sg_conn *conn,
                                     const struct ak_restrict *r, bool is_probe)
{
    if (!ak_restrict_any(r))
        return AK_HOST_OK;
    if (!SG_HAS_FIELD(host, conn_restrict))
        return AK_HOST_UNSUPPORTED;
    if (is_probe)
        return AK_HOST_OK;
    struct sg_restrictions sr = {.size = sizeof sr,
                                 .permit_open = (const char *const *)r->open,
                                 .permit_listen = (const char *const *)r->listen,
                                 .force_command = r->command};
    if (r->flags & AK_RESTRICT_PTY)
        sr.flags |= SG_RESTRICT_PTY;
    if (r->flags & AK_RESTRICT_PORT_FORWARDING)
        sr.flags |= SG_RESTRICT_PORT_FORWARDING;
    return host->conn_restrict(conn, &sr) == SG_OK ? AK_HOST_OK : AK_HOST_REFUSED;
}

const char *ak_host_result_text(enum ak_host_result r)
{
    switch (r) {
    case AK_HOST_OK:
        return "ok";
    case AK_HOST_UNSUPPORTED:
        return "key has restrictions this sshgated cannot enforce: refused";
    case AK_HOST_REFUSED:
        return "key restrictions not accepted by the host: refused";
    }
    return "refused";
}
