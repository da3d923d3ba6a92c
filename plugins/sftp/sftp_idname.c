/* sftp_idname.c — getpwuid_r/getgrgid_r with a buffer that grows (see .h). */
#include "sftp_idname.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One lookup into buf; returns the name (pointing into buf) or NULL, and
 * the getpw*_r result code in *rc. */
static const char *lookup(bool user, unsigned id, char *buf, size_t len, int *rc)
{
    if (user) {
        struct passwd pw, *res = NULL;
        *rc = getpwuid_r((uid_t)id, &pw, buf, len, &res);
        return *rc == 0 && res ? res->pw_name : NULL;
    }
    struct group gr, *res = NULL;
    *rc = getgrgid_r((gid_t)id, &gr, buf, len, &res);
    return *rc == 0 && res ? res->gr_name : NULL;
}

int sftp_id_name_from(bool user, unsigned id, char *out, size_t cap, size_t first_buf)
{
    size_t len = first_buf ? first_buf : SFTP_IDNAME_BUF_START;
    const char *name = NULL;
    char *buf = NULL;
    int rc = ERANGE;

    while (rc == ERANGE && len <= SFTP_IDNAME_BUF_MAX) {
        char *nb = realloc(buf, len);
        if (!nb)
            break;
        buf = nb;
        name = lookup(user, id, buf, len, &rc);
        len *= 4;
    }
    int ret = -1;
    if (name && strlen(name) < cap) {
        memcpy(out, name, strlen(name) + 1);
        ret = 0;
    } else {
        snprintf(out, cap, "%u", id);
    }
    free(buf);
    return ret;
}

int sftp_id_name(bool user, unsigned id, char *out, size_t cap)
{
    return sftp_id_name_from(user, id, out, cap, 0);
}
