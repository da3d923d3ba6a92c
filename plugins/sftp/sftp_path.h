/*
 * SFTP path handling: lexical normalisation of client paths relative to the
 * user root, and confined resolution beneath a root directory fd.
 *
 * The user sees its root as "/". Client paths (absolute or relative: the
 * home directory is the root) are normalised to a relative path without
 * ".", ".." or empty components ("" = the root itself); ".." never climbs
 * above the root. The kernel then enforces confinement: every open goes
 * through openat2(root_fd, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 * symlinks (also those placed by an admin) can never lead outside the root;
 * an escaping symlink yields EXDEV, reported as permission denied.
 * Without openat2 (ENOSYS, kernels < 5.6) the fallback walks the path one
 * component at a time with O_NOFOLLOW: symlinks are then never followed.
 *
 * No host calls: unit-testable against a scratch directory.
 */
#ifndef SSHGATE_SFTP_PATH_H
#define SSHGATE_SFTP_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sftp_root {
    int fd;    /* O_PATH | O_DIRECTORY fd of the user root */
    bool walk; /* true: openat2 unavailable, component walk with O_NOFOLLOW */
};

/* Normalise `in` (NUL-terminated) against `base` (an already normalised
 * relative path, "" = root) when `in` is relative. Writes the relative
 * result (no leading '/', "" for the root) to out. strict: a ".." above the
 * root is an error (-EACCES) instead of being clamped at the root.
 * Returns the length, or -ENAMETOOLONG, -EACCES. */
int sftp_path_normalize(const char *base, const char *in, bool strict, char *out, size_t cap);

/* "/" + rel: the path as the client sees it. Returns length or -ENAMETOOLONG. */
int sftp_path_display(const char *rel, char *out, size_t cap);

/* Open the root directory (O_PATH). Probes openat2 unless force_walk.
 * Returns 0 or -errno. */
int sftp_root_open(struct sftp_root *r, const char *host_path, bool force_walk);
void sftp_root_close(struct sftp_root *r);

/* Open `rel` beneath the root with open(2) `flags` (O_CLOEXEC added) and
 * `mode` (used with O_CREAT). Follows symlinks only while they stay beneath
 * the root (openat2), or never (walk fallback; add O_NOFOLLOW semantics).
 * Returns an fd or -errno. */
int sftp_resolve_open(const struct sftp_root *r, const char *rel, int flags, mode_t mode);

/* Open the parent directory of `rel` (O_PATH | O_DIRECTORY, beneath the
 * root) and point *name at the last component inside `rel`, for *at()
 * calls that act on the entry itself. The root has no parent: -EACCES.
 * Returns 0 (caller closes *dirfd) or -errno. */
int sftp_resolve_parent(const struct sftp_root *r, const char *rel, int *dirfd, const char **name);

/* SYMLINK policy "inside": check the target of a new link at `linkrel`.
 * Relative targets are stored literally if, resolved lexically from the
 * link's directory, they stay inside the root. Absolute targets are taken
 * as paths inside the user root and stored as the equivalent relative
 * target (so they keep working under RESOLVE_BENEATH and never name a host
 * path). Returns the stored target's length (written to out), or -EACCES
 * (would leave the root), -EINVAL (empty), -ENAMETOOLONG. */
int sftp_symlink_target(const char *linkrel, const char *target, char *out, size_t cap);

/* READLINK display: `stored` is the link content of the link at `linkrel`.
 * Relative targets that stay inside the root are returned as stored;
 * absolute targets inside `root_abs` (the root's canonical host path) are
 * shown as "/..." relative to the root. Anything else: -EACCES (the target
 * would reveal or lead to a host path). */
int sftp_readlink_display(const char *linkrel, const char *stored, const char *root_abs, char *out,
                          size_t cap);

#endif
