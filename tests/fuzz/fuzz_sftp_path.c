/*
 * fuzz_sftp_path.c — libFuzzer target for the sftp plugin's path handling
 * (plugins/sftp/sftp_path.c).
 *
 * Input: "BASE\0PATH" (no NUL: the whole input is PATH, base ""). Checks:
 *  - normalisation: result never starts with '/', has no empty, "." or ".."
 *    component, is idempotent, and the strict mode only differs by refusing;
 *  - symlink target policy: an accepted target, resolved lexically from the
 *    link's directory, stays inside the root;
 *  - readlink display never returns a string naming the host root;
 *  - confined resolution: the normalised path is opened (O_PATH, read-only
 *    probe) beneath a scratch root that contains links pointing outside;
 *    whatever opens must be inside the root (checked via /proc/self/fd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root_dir[128];
static size_t root_len;
static struct sftp_root root = {.fd = -1};

static char top_dir[128];

/* the scratch tree is fixed (the target only reads it): remove it at exit */
static void remove_root(void)
{
    static const char *const entries[] = {"r/d/in", "r/up", "r/out", "r/f", "r/d", "r", ""};
    char p[256];
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", top_dir, entries[i]);
        if (unlink(p) != 0)
            rmdir(p);
    }
}

static void make_root(void)
{
    char p[256];
    FILE *f;

    snprintf(root_dir, sizeof(root_dir), "/tmp/fuzz-sftp-path-XXXXXX");
    if (!mkdtemp(root_dir))
        abort();
    snprintf(top_dir, sizeof(top_dir), "%s", root_dir);
    atexit(remove_root);
    snprintf(p, sizeof(p), "%s/r", root_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/r/d", root_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/r/f", root_dir);
    f = fopen(p, "w");
    if (f)
        fclose(f);
    snprintf(p, sizeof(p), "%s/r/out", root_dir);
    (void)!symlink("/", p);
    snprintf(p, sizeof(p), "%s/r/up", root_dir);
    (void)!symlink("..", p);
    snprintf(p, sizeof(p), "%s/r/d/in", root_dir);
    (void)!symlink("../f", p);
    snprintf(p, sizeof(p), "%s/r", root_dir);
    if (sftp_root_open(&root, p, false) != 0)
        abort();
    /* canonical root path for the containment check */
    char *real = realpath(p, NULL);
    if (!real)
        abort();
    snprintf(root_dir, sizeof(root_dir), "%s", real);
    root_len = strlen(root_dir);
    free(real);
}

static void check_norm(const char *s)
{
    const char *p = s;

    if (s[0] == '/')
        abort();
    while (*p) {
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            abort();
        if (*p)
            p++;
        if (*p == '\0' && p[-1] == '/')
            abort(); /* trailing slash */
    }
}

static void check_inside(int fd)
{
    char proc[64], target[4200];
    ssize_t n;

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, target, sizeof(target) - 1);
    if (n < 0)
        return;
    target[n] = '\0';
    if (strncmp(target, root_dir, root_len) != 0 || (target[root_len] != '/' && target[root_len]))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char base_in[4097], path[4097], norm_base[4097], out[4097], again[4097], tmp[4097];
    const uint8_t *nul;
    size_t bl, pl;
    int rc, rc2, fd;

    if (root.fd < 0)
        make_root();
    if (size > 4096)
        return 0;
    nul = memchr(data, 0, size);
    if (nul) {
        bl = (size_t)(nul - data);
        memcpy(base_in, data, bl);
        base_in[bl] = '\0';
        pl = size - bl - 1;
        memcpy(path, nul + 1, pl);
        path[pl] = '\0';
        path[strnlen(path, pl)] = '\0';
    } else {
        base_in[0] = '\0';
        memcpy(path, data, size);
        path[size] = '\0';
    }
    /* the base must itself be normalised */
    if (sftp_path_normalize("", base_in, false, norm_base, sizeof(norm_base)) < 0)
        return 0;
    check_norm(norm_base);

    rc = sftp_path_normalize(norm_base, path, false, out, sizeof(out));
    if (rc >= 0) {
        if ((size_t)rc != strlen(out))
            abort();
        check_norm(out);
        rc2 = sftp_path_normalize("", out, false, again, sizeof(again));
        if (rc2 != rc || strcmp(out, again) != 0)
            abort();
        rc2 = sftp_path_normalize(norm_base, path, true, tmp, sizeof(tmp));
        if (rc2 >= 0 && strcmp(tmp, out) != 0)
            abort();
        if (sftp_path_display(out, tmp, sizeof(tmp)) >= 0 && tmp[0] != '/')
            abort();
        fd = sftp_resolve_open(&root, out, O_PATH, 0);
        if (fd >= 0) {
            check_inside(fd);
            close(fd);
        }
    }

    /* symlink policy: link at norm_base, target = path */
    if (norm_base[0] && path[0]) {
        rc = sftp_symlink_target(norm_base, path, tmp, sizeof(tmp));
        if (rc >= 0) {
            char dir[4097];
            const char *slash = strrchr(norm_base, '/');
            size_t dl = slash ? (size_t)(slash - norm_base) : 0;
            memcpy(dir, norm_base, dl);
            dir[dl] = '\0';
            if (tmp[0] == '/' || sftp_path_normalize(dir, tmp, true, again, sizeof(again)) < 0)
                abort();
        }
        rc = sftp_readlink_display(norm_base, path, "/srv/sftp/u1", tmp, sizeof(tmp));
        if (rc >= 0 && strstr(tmp, "/srv/sftp/u1") == tmp && path[0] != '/')
            abort();
        if (rc >= 0 && path[0] == '/' && strncmp(path, "/srv/sftp/u1", 12) != 0)
            abort();
    }
    return 0;
}
