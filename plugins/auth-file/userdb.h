/* userdb.h — the users known from the users_file (JSON) and passwd_file.
 *
 * users_file:  {"users": {"alice": {"password": "<crypt hash>",
 *                                    "keys": ["ssh-ed25519 AAAA... c", ...],
 *                                    "groups": ["admins"],
 *                                    "attributes": {"k": "v"},
 *                                    "disabled": false}}}
 *   Every field is optional; unknown fields are errors. "keys" entries are
 *   authorized_keys lines (options allowed, cert-authority lines too: they
 *   only ever vouch for certificates, see usercert.h).
 * passwd_file: lines "user:hash[:group1,group2]"; '#' comments, blank lines.
 *
 * A user in both files takes the users_file entry (the passwd line is
 * ignored with a warning). A missing file is an empty one. Errors name the
 * file and the line (passwd_file, JSON syntax) or the JSON path.
 *
 * The database is immutable once loaded; the plugin swaps in a new one on
 * reload. Everything here runs on the loop thread.
 */
#ifndef SG_AUTH_FILE_USERDB_H
#define SG_AUTH_FILE_USERDB_H

#include "authorized_keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define UDB_MAX_NAME 256

struct udb_attr {
    char *name;
    char *value;
};

struct udb_user {
    char *name;
    char *password; /* crypt hash; NULL = no password field */
    struct ak_key *keys;
    size_t n_keys;
    char **groups;
    size_t n_groups;
    struct udb_attr *attrs;
    size_t n_attrs;
    bool disabled;
    unsigned src_line; /* 0: users_file; else the passwd_file line */
};

struct udb {
    struct udb_user *users; /* sorted by name */
    size_t n;
};

/* Identity of a file version, to notice changes. */
struct udb_stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* Called for non-fatal findings (duplicate user across files). */
typedef void (*udb_warn_fn)(void *arg, const char *msg);

/* Load both files (either path may be NULL = not configured). Returns 0 and
 * *out, or -1 with a one-line message in err. */
int udb_load(const char *users_file, const char *passwd_file, udb_warn_fn warn, void *warn_arg,
             struct udb **out, char *err, size_t errlen);
void udb_free(struct udb *db);
const struct udb_user *udb_find(const struct udb *db, const char *name);

/* Is `name` acceptable as a user name in files and in path patterns?
 * (1..UDB_MAX_NAME bytes, no '/', ':', control bytes, not starting with '.') */
bool udb_name_valid(const char *name);

/* Stat `path` into *out: 0 (out->exists tells), -1 on errors other than
 * ENOENT/ENOTDIR (errno set). NULL path = not configured (exists false). */
int udb_stamp_get(const char *path, struct udb_stamp *out);
bool udb_stamp_equal(const struct udb_stamp *a, const struct udb_stamp *b);

#endif
