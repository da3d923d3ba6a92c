/* sftp_idname.h — user and group names for the uids/gids shown to clients. */
#ifndef SFTP_IDNAME_H
#define SFTP_IDNAME_H

#include <stdbool.h>
#include <stddef.h>

/* The lookup buffer starts at this size and grows (x4) while NSS answers
 * ERANGE, up to SFTP_IDNAME_BUF_MAX: a group with a long member list does
 * not fit in a small buffer. */
#define SFTP_IDNAME_BUF_START 1024u
#define SFTP_IDNAME_BUF_MAX (1u << 20)

/* Name of uid `id` (user) or gid `id` (!user): 0 with the name in out, or
 * -1 (unknown, lookup failed, or the name is longer than cap - 1) with the
 * id in decimal in out. Blocks on a slow NSS source. */
int sftp_id_name(bool user, unsigned id, char *out, size_t cap);

/* The same with another first buffer size (tests use a tiny one to take
 * the ERANGE path). */
int sftp_id_name_from(bool user, unsigned id, char *out, size_t cap, size_t first_buf);

#endif
