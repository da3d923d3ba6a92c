/* shell_int.h — state shared by shell_plugin.c (requests, config) and
 * shell_io.c (fd <-> channel pumping). Internal to the shell plugin. */
#ifndef SG_SHELL_INT_H
#define SG_SHELL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"
#include "shell_proc.h"

#define SH_OUT_BUF (32 * 1024) /* per output stream, child -> client */
/* Client input the child has not read yet: pause the channel above
 * SH_IN_HIGH, resume once the buffer is empty. Sized so that one resume
 * takes everything libssh holds (about one window, 1.28 MB): libssh 0.10's
 * ssh_channel_read() reopens the window while bytes are still buffered, so
 * a pause in the middle of the host's resume lets a well-behaved peer
 * overrun the host's "sent past the window" limit. */
#define SH_IN_HIGH (4 * 1024 * 1024)
#define SH_IN_LOW 0
#define SH_MAX_ENV 64      /* client env variables kept */
#define SH_MAX_ENVLEN 4096 /* bytes of one client value */

/* Effective configuration (plugin config, then route config on top). */
struct sh_conf {
    char *shell;      /* "/bin/sh" */
    bool shell_set;   /* given explicitly (wins over the account's shell) */
    bool login_shell; /* shell requests: argv[0] "-sh" */
    char *workdir;    /* "." ; %u = user name */
    bool workdir_set;
    bool create_workdir; /* false */
    char **env_allow;    /* globs */
    size_t n_env_allow;
    char *path;   /* PATH of the child */
    char *run_as; /* NULL: service account; "mapped"; or an account */
    char **argv;  /* application template (NULL: none) */
    size_t argc;
    long args;         /* exact argument count, -1: any */
    char **force_argv; /* force_command as argv */
    size_t force_argc;
    char *force_cmd;        /* force_command as a shell command */
    size_t max_command;     /* 8192 */
    uint64_t kill_grace_ms; /* 2000 */
    bool allow_pty;         /* true */
    bool allow_root;        /* false: never switch to uid 0 */
};

struct sh_plugin {
    const struct sg_host *host;
    const sg_plugin_ref *self;
    char *config_json;        /* the plugin's own config (defaults for routes) */
    struct sh_sess *sessions; /* every live session (for fini) */
};

/* child stdout / stderr -> channel */
struct sh_out {
    int fd;
    sg_watch *w;
    enum sg_stream stream;
    uint8_t *buf;    /* SH_OUT_BUF bytes */
    size_t off, len; /* unsent bytes buf[off..off+len) */
    bool eof;        /* the fd is finished and closed */
    bool discard;    /* channel no longer takes data: read and drop */
    bool draining;   /* ended: close once the rest is sent */
};

/* channel -> child stdin */
struct sh_in {
    int fd;
    sg_watch *w;
    uint8_t *buf;
    size_t len, cap;
    bool eof_pending; /* client EOF once the buffer is written */
    bool closed;      /* stdin is gone: drop input */
    bool paused;      /* we paused the channel input */
    bool is_pty;
};

struct sh_sess {
    struct sh_plugin *pl;
    sg_chan *ch;   /* NULL once on_channel_closed returned */
    sg_conn *conn; /* NULL once the channel is gone (logging only) */
    struct sh_conf conf;
    bool conf_ok;
    /* collected from replayed requests */
    bool pty;
    char term[128];
    uint32_t cols, rows, wpx, hpx;
    uint8_t *modes;
    size_t modes_len;
    struct sp_env client_env;
    size_t n_client_env;
    /* the decided request */
    char *req_type;         /* "shell" / "exec" */
    char *command;          /* exec command (NULL for shell) */
    char *original_command; /* the client's, when a credential forced `command` */
    char *file;             /* program to run */
    char **argv;            /* NULL-terminated, owned */
    bool app;               /* application route or force_command */
    char *user;             /* SSH user name */
    char *home;             /* HOME for the child */
    char *login_shell_path; /* SHELL */
    char *login_name;       /* USER / LOGNAME */
    char *workdir;          /* resolved working directory */
    bool set_ids;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    /* the child */
    bool started;
    struct sp_child child;
    sg_watch *pid_w;
    bool reaped;
    struct sp_status status;
    bool status_known; /* reaped by us (not stolen by someone else) */
    struct sh_out out, err;
    struct sh_in in;
    bool finished; /* exit status, EOF and close sent */
    sg_timer *kill_timer;
    struct sh_sess *next, *prev;
};

/* shell_io.c */
int sh_io_start(struct sh_sess *s); /* after sp_spawn */
void sh_io_input(struct sh_sess *s, const uint8_t *data, size_t len);
void sh_io_input_eof(struct sh_sess *s);
void sh_io_ready_to_send(struct sh_sess *s);
void sh_io_channel_gone(struct sh_sess *s); /* on_channel_closed */
void sh_io_stop(struct sh_sess *s);         /* remove watches, close fds */
void sh_io_window(struct sh_sess *s);       /* apply cols/rows to the pty */

/* shell_plugin.c: free a session once both the channel and the child are gone */
void sh_sess_maybe_free(struct sh_sess *s);

#endif
