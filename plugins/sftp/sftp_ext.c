/* OpenSSH SFTP extensions: posix-rename, statvfs, fstatvfs, hardlink, fsync,
 * limits, lsetstat, expand-path, copy-data (sftp_copy.c), home-directory,
 * users-groups-by-id (PROTOCOL file of OpenSSH, section 4). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sftp_session.h"

int sftp_do_rename(struct sftp_session *s, const char *from, const char *to, bool overwrite);

typedef void (*sftp_ext_fn)(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb);

static void bad_message(struct sftp_session *s, uint32_t id)
{
    sftp_reply_status(s, id, SSH_FX_BAD_MESSAGE, "Bad message");
}

static void reply_rc(struct sftp_session *s, uint32_t id, int rc)
{
    if (rc < 0)
        sftp_reply_errno(s, id, rc);
    else
        sftp_reply_ok(s, id);
}

static void ext_posix_rename(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char from[SFTP_MAX_PATH + 1], to[SFTP_MAX_PATH + 1];
    int rc;

    if (sftp_get_path(s, rb, from, sizeof(from)) < 0 || sftp_get_path(s, rb, to, sizeof(to)) < 0) {
        bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_RENAME, from))
        return;
    rc = sftp_do_rename(s, from, to, true);
    sftp_audit(s, "posix-rename", from, to, 0, rc);
    reply_rc(s, id, rc);
}

static void reply_statvfs(struct sftp_session *s, uint32_t id, int fd)
{
    struct statvfs v;
    uint64_t flag = 0;
    size_t st;

    if (fstatvfs(fd, &v) < 0) {
        sftp_reply_errno(s, id, errno);
        return;
    }
    if (v.f_flag & ST_RDONLY)
        flag |= 1; /* SSH2_FXE_STATVFS_ST_RDONLY */
    if (v.f_flag & ST_NOSUID)
        flag |= 2; /* SSH2_FXE_STATVFS_ST_NOSUID */
    st = sftp_packet_begin(&s->out, SSH_FXP_EXTENDED_REPLY, id);
    sftp_put_u64(&s->out, v.f_bsize);
    sftp_put_u64(&s->out, v.f_frsize);
    sftp_put_u64(&s->out, v.f_blocks);
    sftp_put_u64(&s->out, v.f_bfree);
    sftp_put_u64(&s->out, v.f_bavail);
    sftp_put_u64(&s->out, v.f_files);
    sftp_put_u64(&s->out, v.f_ffree);
    sftp_put_u64(&s->out, v.f_favail);
    sftp_put_u64(&s->out, v.f_fsid);
    sftp_put_u64(&s->out, flag);
    sftp_put_u64(&s->out, v.f_namemax);
    sftp_packet_end(&s->out, st);
}

static void ext_statvfs(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1];
    int fd;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0) {
        bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_STATVFS, rel))
        return;
    fd = sftp_resolve_open(&s->root, rel, O_PATH, 0);
    if (fd < 0) {
        sftp_reply_errno(s, id, fd);
        return;
    }
    reply_statvfs(s, id, fd);
    close(fd);
}

static int handle_fd(const struct sftp_handle *h)
{
    return h->kind == SFTP_H_DIR ? dirfd(h->dir) : h->fd;
}

static void ext_fstatvfs(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, 0);

    if (!h) {
        sftp_reply_status(s, id, rb->err ? SSH_FX_BAD_MESSAGE : SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_STATVFS, h->path))
        return;
    reply_statvfs(s, id, handle_fd(h));
}

static void ext_hardlink(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char from[SFTP_MAX_PATH + 1], to[SFTP_MAX_PATH + 1];
    const char *n1, *n2;
    int d1 = -1, d2 = -1, rc;

    if (sftp_get_path(s, rb, from, sizeof(from)) < 0 || sftp_get_path(s, rb, to, sizeof(to)) < 0) {
        bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_HARDLINK, to))
        return;
    rc = sftp_resolve_parent(&s->root, from, &d1, &n1);
    if (rc == 0)
        rc = sftp_resolve_parent(&s->root, to, &d2, &n2);
    /* flags 0: a symlink is linked itself, never followed */
    if (rc == 0)
        rc = linkat(d1, n1, d2, n2, 0) == 0 ? 0 : -errno;
    if (d1 >= 0)
        close(d1);
    if (d2 >= 0)
        close(d2);
    sftp_audit(s, "hardlink", from, to, 0, rc);
    reply_rc(s, id, rc);
}

static void ext_fsync(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_handle *h = sftp_get_handle(s, rb, 0);

    if (!h) {
        sftp_reply_status(s, id, rb->err ? SSH_FX_BAD_MESSAGE : SSH_FX_FAILURE, "Invalid handle");
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_FSYNC, h->path))
        return;
    reply_rc(s, id, fsync(handle_fd(h)) == 0 ? 0 : -errno);
}

static void ext_limits(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    size_t st;

    (void)rb;
    st = sftp_packet_begin(&s->out, SSH_FXP_EXTENDED_REPLY, id);
    sftp_put_u64(&s->out, SFTP_MAX_PACKET);
    sftp_put_u64(&s->out, s->cfg.max_read);
    sftp_put_u64(&s->out, SFTP_MAX_PACKET - 1024);
    sftp_put_u64(&s->out, s->cfg.max_handles);
    sftp_packet_end(&s->out, st);
}

static void ext_lsetstat(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char rel[SFTP_MAX_PATH + 1];
    struct sftp_attrs a;
    int rc;

    if (sftp_get_path(s, rb, rel, sizeof(rel)) < 0 || sftp_get_attrs(rb, &a) < 0) {
        bad_message(s, id);
        return;
    }
    if (!sftp_permit(s, id, SFTP_OP_SETSTAT, rel))
        return;
    rc = sftp_apply_attrs(s, -1, rel, false, &a);
    sftp_audit(s, "lsetstat", rel, NULL, 0, rc);
    reply_rc(s, id, rc);
}

static void ext_expand_path(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    char raw[SFTP_MAX_PATH + 1], rel[SFTP_MAX_PATH + 1], disp[SFTP_MAX_PATH + 2];
    const char *p = raw;

    if (sftp_get_name(rb, raw, sizeof(raw)) < 0) {
        bad_message(s, id);
        return;
    }
    /* "~" and "~/..." are the home directory, which is the root; "~user"
     * would name another account: refused */
    if (p[0] == '~') {
        if (p[1] != '\0' && p[1] != '/') {
            sftp_reply_status(s, id, SSH_FX_NO_SUCH_FILE, "No such user");
            return;
        }
        p++;
    }
    if (sftp_path_normalize("", p, false, rel, sizeof(rel)) < 0) {
        bad_message(s, id);
        return;
    }
    sftp_path_display(rel, disp, sizeof(disp));
    sftp_reply_name1(s, id, disp);
}

/* home-directory: the user's home is its root, "/". An empty name means
 * the session's user; any other account is unknown here (its host path
 * must never be revealed). */
static void ext_home_directory(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    const uint8_t *name;
    uint32_t n;

    if (sftp_get_string(rb, &name, &n) < 0) {
        bad_message(s, id);
        return;
    }
    if (n == 0 || (n == strlen(s->user) && memcmp(name, s->user, n) == 0)) {
        sftp_reply_name1(s, id, "/");
        return;
    }
    sftp_reply_status(s, id, SSH_FX_NO_SUCH_FILE, "No such user");
}

/* One string of the users-groups-by-id reply: the names of `count` ids read
 * from `list`, each a string ("" when unknown or never shown). */
static void put_id_names(struct sftp_session *s, struct sftp_rbuf *list, uint32_t count, bool user)
{
    size_t len_off = s->out.len;
    const char *name;
    uint32_t i, v;

    sftp_put_u32(&s->out, 0); /* the string's length, filled in below */
    for (i = 0; i < count; i++) {
        if (sftp_get_u32(list, &v) < 0)
            break; /* cannot happen: count came from the list's length */
        name = sftp_ids_name(s, user, v);
        sftp_put_cstr(&s->out, name ? name : "");
    }
    sftp_packet_end(&s->out, len_off); /* fills in a length prefix: here the string's */
}

/* users-groups-by-id@openssh.com: names of uids and gids. Only ids this
 * session has shown the client (in attributes) are named, each looked up
 * once; at most SFTP_UGID_MAX ids per request. */
static void ext_users_groups_by_id(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    struct sftp_rbuf uids, gids;
    uint32_t nu, ng;
    size_t st;

    if (sftp_get_u32_list(rb, &uids, &nu) < 0 || sftp_get_u32_list(rb, &gids, &ng) < 0) {
        bad_message(s, id);
        return;
    }
    if ((uint64_t)nu + ng > SFTP_UGID_MAX) {
        char msg[64];
        snprintf(msg, sizeof(msg), "Too many ids (at most %u per request)", SFTP_UGID_MAX);
        sftp_reply_status(s, id, SSH_FX_FAILURE, msg);
        return;
    }
    st = sftp_packet_begin(&s->out, SSH_FXP_EXTENDED_REPLY, id);
    put_id_names(s, &uids, nu, true);
    put_id_names(s, &gids, ng, false);
    sftp_packet_end(&s->out, st);
}

static const struct {
    const char *name;
    const char *version;
    sftp_ext_fn fn;
} sftp_ext_handlers[] = {
    {"posix-rename@openssh.com", "1", ext_posix_rename},
    {"statvfs@openssh.com", "2", ext_statvfs},
    {"fstatvfs@openssh.com", "2", ext_fstatvfs},
    {"hardlink@openssh.com", "1", ext_hardlink},
    {"fsync@openssh.com", "1", ext_fsync},
    {"lsetstat@openssh.com", "1", ext_lsetstat},
    {"limits@openssh.com", "1", ext_limits},
    {"expand-path@openssh.com", "1", ext_expand_path},
    {"copy-data", "1", sftp_ext_copy_data},
    {"home-directory", "1", ext_home_directory},
    {"users-groups-by-id@openssh.com", "1", ext_users_groups_by_id},
};

void sftp_ext_put_version(struct sftp_session *s)
{
    size_t i;

    for (i = 0; i < sizeof(sftp_ext_handlers) / sizeof(sftp_ext_handlers[0]); i++) {
        sftp_put_cstr(&s->out, sftp_ext_handlers[i].name);
        sftp_put_cstr(&s->out, sftp_ext_handlers[i].version);
    }
}

int sftp_ext_dispatch(struct sftp_session *s, uint32_t id, struct sftp_rbuf *rb)
{
    const uint8_t *name;
    uint32_t len;
    size_t i;

    if (sftp_get_string(rb, &name, &len) < 0) {
        bad_message(s, id);
        return 0;
    }
    for (i = 0; i < sizeof(sftp_ext_handlers) / sizeof(sftp_ext_handlers[0]); i++) {
        if (strlen(sftp_ext_handlers[i].name) == len &&
            memcmp(sftp_ext_handlers[i].name, name, len) == 0) {
            sftp_ext_handlers[i].fn(s, id, rb);
            return 0;
        }
    }
    sftp_reply_status(s, id, SSH_FX_OP_UNSUPPORTED, "Extension unsupported");
    return 0;
}
