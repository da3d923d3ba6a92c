/*
 * sftp plugin configuration: defaults, JSON parsing (plugin config, then a
 * route's config on top), per-operation policy, root template expansion.
 * No host calls (jansson only).
 */
#ifndef SSHGATE_SFTP_CONFIG_H
#define SSHGATE_SFTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Operations that policy (read_only, allow, deny) can control. */
enum sftp_op {
    SFTP_OP_OPEN_READ,
    SFTP_OP_OPEN_WRITE,
    SFTP_OP_LIST,
    SFTP_OP_STAT,
    SFTP_OP_REMOVE,
    SFTP_OP_RENAME,
    SFTP_OP_MKDIR,
    SFTP_OP_RMDIR,
    SFTP_OP_SETSTAT,
    SFTP_OP_SYMLINK,
    SFTP_OP_HARDLINK,
    SFTP_OP_READLINK,
    SFTP_OP_STATVFS,
    SFTP_OP_FSYNC,
    SFTP_OP_COPY, /* copy-data: server-side copy between two open handles */
    SFTP_OP_COUNT
};

enum sftp_symlinks { SFTP_SYMLINKS_OFF = 0, SFTP_SYMLINKS_INSIDE = 1 };

#define SFTP_DEFAULT_MAX_READ 261120u
#define SFTP_DEFAULT_MAX_HANDLES 256u

struct sftp_cfg {
    char *root; /* template: %u user, %% percent */
    bool create_root;
    unsigned root_mode;
    unsigned umask;
    unsigned file_mode; /* new files when the client sends no permissions */
    unsigned dir_mode;  /* new directories when the client sends none */
    bool read_only;
    bool has_allow;
    uint32_t allow_mask; /* bits of enum sftp_op */
    uint32_t deny_mask;
    int symlinks; /* enum sftp_symlinks */
    unsigned max_handles;
    uint32_t max_read;
    bool audit;
    bool force_walk; /* testing: "resolve": "walk" disables openat2 */
};

/* Fill defaults. Returns 0 or -ENOMEM. */
int sftp_cfg_init(struct sftp_cfg *c);
void sftp_cfg_free(struct sftp_cfg *c);
int sftp_cfg_copy(struct sftp_cfg *dst, const struct sftp_cfg *src);
/* Apply a JSON object's keys over c. Returns 0, or -1 with a message in err. */
int sftp_cfg_apply_json(struct sftp_cfg *c, const char *json_text, char *err, size_t errlen);
/* Whether the policy permits op. */
bool sftp_cfg_permits(const struct sftp_cfg *c, enum sftp_op op);
const char *sftp_op_name(enum sftp_op op);
/* Expand the root template for `user`. The user name must be a single path
 * component (no '/', not "." or ".."). Returns 0 or -1 (bad user, too long,
 * bad template). */
int sftp_cfg_expand_root(const char *tmpl, const char *user, char *out, size_t cap);

#endif
