/* shell_proc.h — child processes for the shell plugin: spawn with a PTY or
 * with pipes, the child's environment, terminal modes, signal names, and
 * non-blocking reaping through a pidfd. Needs no host: unit-testable. */
#ifndef SG_SHELL_PROC_H
#define SG_SHELL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- env */

/* The child's environment: "NAME=value" strings, NULL-terminated. */
struct sp_env {
    char **v;
    size_t n, cap;
};

/* Set (or replace) NAME. Returns 0 or -1 (ENOMEM / invalid name). */
int sp_env_set(struct sp_env *e, const char *name, const char *value);
const char *sp_env_get(const struct sp_env *e, const char *name);
void sp_env_free(struct sp_env *e);

/* A portable variable name: [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes. */
bool sp_env_name_valid(const char *name);
/* True when name matches one of the fnmatch(3) globs in allow[0..n). */
bool sp_env_allowed(const char *const *allow, size_t n, const char *name);

/* ---------------------------------------------------------------- signals */

/* SSH signal name (no "SIG" prefix) -> number; 0 when unknown. */
int sp_signal_number(const char *name);
/* Number -> SSH name for exit-signal (RFC 4254 names; others
 * "SIG@openssh.com" like OpenSSH does). */
const char *sp_signal_name(int signo);

/* ---------------------------------------------------------------- pty modes */

/* Apply RFC 4254 section 8 encoded terminal modes to the terminal `fd`.
 * Unknown opcodes are skipped; a malformed string stops parsing. Returns the
 * number of modes applied, or -1 when tcgetattr/tcsetattr failed. */
int sp_pty_modes_apply(int fd, const uint8_t *modes, size_t len);

/* ---------------------------------------------------------------- spawn */

struct sp_spawn_spec {
    const char *file;        /* program; without '/' it is searched in search_path */
    char *const *argv;       /* NULL-terminated */
    char *const *envp;       /* NULL-terminated */
    const char *search_path; /* "dir:dir" for file without '/' (NULL: /usr/bin:/bin) */
    const char *workdir;     /* chdir there (after the identity switch); NULL: stay */
    bool use_pty;
    uint16_t cols, rows, width_px, height_px;
    const uint8_t *pty_modes; /* encoded modes (may be NULL) */
    size_t pty_modes_len;
    /* identity switch (only when set_ids) */
    bool set_ids;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
};

struct sp_child {
    pid_t pid;
    int pidfd;  /* readable when the child exited */
    int in_fd;  /* child's stdin (pipe write end, or a dup of the pty master) */
    int out_fd; /* child's stdout (pipe read end, or the pty master) */
    int err_fd; /* child's stderr pipe read end; -1 with a pty */
};

/* Start the child. Every parent-side fd is O_NONBLOCK and O_CLOEXEC; the
 * child gets only 0, 1, 2 (close_range), a fresh session (setsid; with a
 * pty, the pty as controlling terminal), default signal dispositions and an
 * empty signal mask. Errors after fork (chdir, exec) are written to the
 * child's stderr and it exits 127 (not found) or 126. Returns 0, or -errno
 * for errors before fork (err gets a message). */
int sp_spawn(const struct sp_spawn_spec *spec, struct sp_child *child, char *err, size_t errlen);

/* Close the parent-side fds of a child (not the pidfd). */
void sp_child_close_fds(struct sp_child *child);

struct sp_status {
    bool exited; /* exit code valid */
    int code;
    int signo; /* killed by this signal (exited false) */
    bool core_dumped;
};

/* Non-blocking reap: 1 = reaped (*st set), 0 = still running, -errno on
 * error (-ECHILD: someone else reaped it). */
int sp_reap(int pidfd, struct sp_status *st);

/* Send sig to the child's process group (falls back to the pid). */
int sp_kill_group(pid_t pid, int sig);

#endif
