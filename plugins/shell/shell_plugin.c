/* shell_plugin.c — the shell plugin: descriptor, configuration, and the
 * session channel requests (shell, exec, pty-req, env, window-change,
 * signal). Processes are in shell_proc.c, byte pumping in shell_io.c, exec
 * command words and argv templates in shell_words.c. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shell_int.h"
#include "shell_words.h"

#define SH_DEFAULT_SHELL "/bin/sh"
#define SH_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* ================================================================ config */

static void sh_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void sh_conf_free(struct sh_conf *c)
{
    free(c->shell);
    free(c->workdir);
    sh_strv_free(c->env_allow, c->n_env_allow);
    free(c->path);
    free(c->run_as);
    sh_strv_free(c->argv, c->argc);
    sh_strv_free(c->force_argv, c->force_argc);
    free(c->force_cmd);
    memset(c, 0, sizeof(*c));
}

static int sh_conf_init(struct sh_conf *c)
{
    static const char *const allow[] = {"LANG", "LC_*", "TZ", "TERM"};
    memset(c, 0, sizeof(*c));
    c->shell = strdup(SH_DEFAULT_SHELL);
    c->workdir = strdup(".");
    c->path = strdup(SH_DEFAULT_PATH);
    c->env_allow = calloc(5, sizeof(char *));
    c->login_shell = true;
    c->args = -1;
    c->max_command = 8192;
    c->kill_grace_ms = 2000;
    c->allow_pty = true;
    if (!c->shell || !c->workdir || !c->path || !c->env_allow)
        goto fail;
    for (size_t i = 0; i < 4; i++) {
        if (!(c->env_allow[i] = strdup(allow[i])))
            goto fail;
        c->n_env_allow++;
    }
    return 0;
fail:
    sh_conf_free(c);
    return -1;
}

typedef int (*sh_key_fn)(struct sh_conf *c, json_t *v, char *err, size_t errlen);

static int sh_set_str(char **dst, json_t *v, const char *key, bool empty_ok, char *err,
                      size_t errlen)
{
    if (!json_is_string(v) || (!empty_ok && json_string_length(v) == 0) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "\"%s\" must be a %sstring", key, empty_ok ? "" : "non-empty ");
        return -1;
    }
    char *s = strdup(json_string_value(v));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static int sh_set_bool(bool *dst, json_t *v, const char *key, char *err, size_t errlen)
{
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "\"%s\" must be true or false", key);
        return -1;
    }
    *dst = json_is_true(v);
    return 0;
}

static int sh_set_uint(uint64_t *dst, json_t *v, const char *key, uint64_t min, uint64_t max,
                       char *err, size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        snprintf(err, errlen, "\"%s\" must be an integer from %llu to %llu", key,
                 (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *dst = (uint64_t)json_integer_value(v);
    return 0;
}

/* A JSON array of strings (non-empty when need_one) -> owned vector. */
static int sh_set_strv(char ***dst, size_t *n, json_t *v, const char *key, bool need_one, char *err,
                       size_t errlen)
{
    size_t i, cnt;
    json_t *e;
    if (!json_is_array(v) || (need_one && json_array_size(v) == 0)) {
        snprintf(err, errlen, "\"%s\" must be an array of strings", key);
        return -1;
    }
    cnt = json_array_size(v);
    char **nv = calloc(cnt + 1, sizeof(char *));
    if (!nv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
            snprintf(err, errlen, "\"%s\"[%zu] must be a string", key, i);
            sh_strv_free(nv, i);
            return -1;
        }
        if (!(nv[i] = strdup(json_string_value(e)))) {
            snprintf(err, errlen, "out of memory");
            sh_strv_free(nv, i);
            return -1;
        }
    }
    sh_strv_free(*dst, *n);
    *dst = nv;
    *n = cnt;
    return 0;
}

static int sh_key_shell(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    c->shell_set = true;
    return sh_set_str(&c->shell, v, "shell", false, err, errlen);
}
static int sh_key_login_shell(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_bool(&c->login_shell, v, "login_shell", err, errlen);
}
static int sh_key_workdir(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    c->workdir_set = true;
    return sh_set_str(&c->workdir, v, "workdir", false, err, errlen);
}
static int sh_key_create_workdir(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_bool(&c->create_workdir, v, "create_workdir", err, errlen);
}
static int sh_key_env_allow(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_strv(&c->env_allow, &c->n_env_allow, v, "env_allow", false, err, errlen);
}
static int sh_key_path(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_str(&c->path, v, "path", false, err, errlen);
}
static int sh_key_run_as(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    if (json_is_null(v)) {
        free(c->run_as);
        c->run_as = NULL;
        return 0;
    }
    if (sh_set_str(&c->run_as, v, "run_as", true, err, errlen) < 0)
        return -1;
    if (!c->run_as[0]) {
        free(c->run_as);
        c->run_as = NULL;
    }
    return 0;
}
static int sh_key_argv(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    if (json_is_null(v)) {
        sh_strv_free(c->argv, c->argc);
        c->argv = NULL;
        c->argc = 0;
        return 0;
    }
    if (sh_set_strv(&c->argv, &c->argc, v, "argv", true, err, errlen) < 0)
        return -1;
    if (sw_template_check((const char *const *)c->argv, c->argc) != SW_OK) {
        snprintf(err, errlen,
                 "\"argv\": malformed template (use {N} for word N, {*} as a whole element for "
                 "all arguments, {{ and }} for braces; argv[0] must be a program)");
        return -1;
    }
    return 0;
}
static int sh_key_args(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    if (json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == -1)) {
        c->args = -1;
        return 0;
    }
    uint64_t n;
    if (sh_set_uint(&n, v, "args", 0, 1000, err, errlen) < 0)
        return -1;
    c->args = (long)n;
    return 0;
}
static int sh_key_force_command(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    sh_strv_free(c->force_argv, c->force_argc);
    c->force_argv = NULL;
    c->force_argc = 0;
    free(c->force_cmd);
    c->force_cmd = NULL;
    if (json_is_null(v))
        return 0;
    if (json_is_string(v))
        return sh_set_str(&c->force_cmd, v, "force_command", false, err, errlen);
    return sh_set_strv(&c->force_argv, &c->force_argc, v, "force_command", true, err, errlen);
}
static int sh_key_max_command(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    uint64_t n;
    if (sh_set_uint(&n, v, "max_command", 1, 1 << 20, err, errlen) < 0)
        return -1;
    c->max_command = (size_t)n;
    return 0;
}
static int sh_key_kill_grace_ms(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_uint(&c->kill_grace_ms, v, "kill_grace_ms", 0, 600000, err, errlen);
}
static int sh_key_allow_pty(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_bool(&c->allow_pty, v, "allow_pty", err, errlen);
}
static int sh_key_allow_root(struct sh_conf *c, json_t *v, char *err, size_t errlen)
{
    return sh_set_bool(&c->allow_root, v, "allow_root", err, errlen);
}

static const struct sh_key {
    const char *name;
    sh_key_fn fn;
} sh_keys[] = {
    {"shell", sh_key_shell},
    {"login_shell", sh_key_login_shell},
    {"workdir", sh_key_workdir},
    {"create_workdir", sh_key_create_workdir},
    {"env_allow", sh_key_env_allow},
    {"path", sh_key_path},
    {"run_as", sh_key_run_as},
    {"argv", sh_key_argv},
    {"args", sh_key_args},
    {"force_command", sh_key_force_command},
    {"max_command", sh_key_max_command},
    {"kill_grace_ms", sh_key_kill_grace_ms},
    {"allow_pty", sh_key_allow_pty},
    {"allow_root", sh_key_allow_root},
};

/* Apply a JSON object (text) on top of c. */
static int sh_conf_apply(struct sh_conf *c, const char *text, char *err, size_t errlen)
{
    int rc = -1;
    json_error_t jerr;
    const char *key;
    json_t *v;
    json_t *root = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        const struct sh_key *k = NULL;
        for (size_t i = 0; i < sizeof(sh_keys) / sizeof(sh_keys[0]); i++)
            if (strcmp(sh_keys[i].name, key) == 0)
                k = &sh_keys[i];
        if (!k) {
            snprintf(err, errlen, "unknown key \"%s\"", key);
            goto out;
        }
        if (k->fn(c, v, err, errlen) < 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ================================================================ sessions */

#define LOG(s, lvl, ...) (s)->pl->host->log((s)->pl->self, (s)->conn, (lvl), __VA_ARGS__)

static struct sh_sess *sh_sess_get(struct sh_plugin *pl, sg_chan *ch)
{
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pl = pl;
    s->ch = ch;
    s->conn = pl->host->chan_conn(ch);
    s->in.fd = s->out.fd = s->err.fd = -1;
    s->child.pid = -1;
    s->child.pidfd = s->child.in_fd = s->child.out_fd = s->child.err_fd = -1;
    s->next = pl->sessions;
    if (pl->sessions)
        pl->sessions->prev = s;
    pl->sessions = s;
    pl->host->chan_set_ctx(ch, s);
    return s;
}

static void sh_sess_free(struct sh_sess *s)
{
    struct sh_plugin *pl = s->pl;
    if (s->prev)
        s->prev->next = s->next;
    else
        pl->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->child.pidfd >= 0)
        close(s->child.pidfd);
    sp_child_close_fds(&s->child);
    sh_conf_free(&s->conf);
    free(s->modes);
    sp_env_free(&s->client_env);
    free(s->req_type);
    free(s->command);
    free(s->original_command);
    free(s->file);
    if (s->argv) {
        for (size_t i = 0; s->argv[i]; i++)
            free(s->argv[i]);
        free(s->argv);
    }
    free(s->user);
    free(s->home);
    free(s->login_shell_path);
    free(s->login_name);
    free(s->workdir);
    free(s->groups);
    free(s->in.buf);
    free(s->out.buf);
    free(s->err.buf);
    free(s);
}

void sh_sess_maybe_free(struct sh_sess *s)
{
    if (!s->ch && (!s->started || s->reaped) && !s->kill_timer)
        sh_sess_free(s);
}

/* ================================================================ decisions */

static const char *sh_basename(const char *p)
{
    const char *b = strrchr(p, '/');
    return b && b[1] ? b + 1 : p;
}

/* Take ownership of a NULL-terminated argv built from a sw_words. */
static void sh_take_words(struct sh_sess *s, struct sw_words *w)
{
    s->argv = w->v;
    w->v = NULL;
    w->n = w->cap = 0;
}

static int sh_argv3(struct sh_sess *s, const char *a0, const char *a1, const char *a2)
{
    struct sw_words w = {0};
    const char *a[3] = {a0, a1, a2};
    for (int i = 0; i < 3 && a[i]; i++)
        if (sw_push(&w, a[i], strlen(a[i])) != SW_OK) {
            sw_words_free(&w);
            return -1;
        }
    sh_take_words(s, &w);
    return 0;
}

/* Who runs the child: the service account, or (root only) run_as. */
static int sh_decide_identity(struct sh_sess *s)
{
    const char *want = s->conf.run_as;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (!want)
        return 0;
    const char *account = strcmp(want, "mapped") == 0 ? s->user : want;
    if (getpwnam_r(account, &pw, buf, sizeof(buf), &res) != 0 || !res) {
        LOG(s, SG_LOG_ERROR, "run_as: no local account \"%s\"", account);
        return -1;
    }
    if (geteuid() != 0) {
        if (pw.pw_uid == geteuid())
            goto identity; /* already that account: nothing to switch */
        LOG(s, SG_LOG_ERROR, "run_as \"%s\" needs sshgated to run as root (it runs as uid %u)",
            account, (unsigned)geteuid());
        return -1;
    }
    if (pw.pw_uid == 0 && !s->conf.allow_root) {
        LOG(s, SG_LOG_ERROR, "run_as maps to uid 0 (\"%s\"): refused (allow_root false)", account);
        return -1;
    }
    int ng = 64;
    s->groups = malloc(sizeof(gid_t) * (size_t)ng);
    if (s->groups && getgrouplist(pw.pw_name, pw.pw_gid, s->groups, &ng) < 0) {
        gid_t *g2 = realloc(s->groups, sizeof(gid_t) * (size_t)ng);
        if (g2) {
            s->groups = g2;
            if (getgrouplist(pw.pw_name, pw.pw_gid, s->groups, &ng) < 0)
                ng = -1;
        } else {
            ng = -1;
        }
    }
    if (!s->groups || ng < 0) {
        LOG(s, SG_LOG_ERROR, "run_as: cannot list the groups of \"%s\"", account);
        return -1;
    }
    s->ngroups = (size_t)ng;
    s->set_ids = true;
    s->uid = pw.pw_uid;
    s->gid = pw.pw_gid;
identity:
    free(s->home);
    free(s->login_name);
    s->home = strdup(pw.pw_dir);
    s->login_name = strdup(pw.pw_name);
    if (!s->conf.shell_set && pw.pw_shell && pw.pw_shell[0]) {
        free(s->conf.shell);
        s->conf.shell = strdup(pw.pw_shell);
    }
    if (!s->conf.workdir_set) {
        free(s->conf.workdir);
        s->conf.workdir = strdup(pw.pw_dir);
    }
    if (!s->home || !s->login_name || !s->conf.shell || !s->conf.workdir)
        return -1;
    return 0;
}

/* mkdir -p with mode 0700 for the components that are missing. */
static int sh_mkdir_p(const char *path, bool chown_last, uid_t uid, gid_t gid)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) == 0) {
            if (saved == '\0' && chown_last && chown(tmp, uid, gid) < 0)
                return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        tmp[i] = saved;
    }
    return 0;
}

/* workdir: %u -> user name, %% -> %; relative paths made absolute (the
 * daemon's cwd is the config file's directory). */
static int sh_decide_workdir(struct sh_sess *s)
{
    const char *w = s->conf.workdir;
    char out[PATH_MAX];
    size_t n = 0;
    if (w[0] != '/') {
        if (!getcwd(out, sizeof(out)))
            return -1;
        n = strlen(out);
        if (!(w[0] == '.' && w[1] == '\0')) {
            if (n + 1 >= sizeof(out))
                return -1;
            if (n > 1)
                out[n++] = '/';
        } else {
            w = "";
        }
    }
    for (const char *p = w; *p; p++) {
        const char *ins = NULL;
        char one[2] = {*p, 0};
        if (p[0] == '%' && p[1] == 'u') {
            const char *u = s->user;
            if (!u[0] || strchr(u, '/') || strcmp(u, ".") == 0 || strcmp(u, "..") == 0) {
                LOG(s, SG_LOG_ERROR, "user name \"%s\" cannot be used in workdir", u);
                return -1;
            }
            ins = u;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            ins = "%";
            p++;
        } else {
            ins = one;
        }
        size_t il = strlen(ins);
        if (n + il >= sizeof(out))
            return -1;
        memcpy(out + n, ins, il);
        n += il;
    }
    out[n] = '\0';
    free(s->workdir);
    if (!(s->workdir = strdup(out)))
        return -1;
    if (s->conf.create_workdir) {
        int r = sh_mkdir_p(s->workdir, s->set_ids, s->uid, s->gid);
        if (r < 0) {
            LOG(s, SG_LOG_ERROR, "cannot create workdir %s: %s", s->workdir, strerror(-r));
            return -1;
        }
    }
    if (!s->home && !(s->home = strdup(s->workdir)))
        return -1;
    return 0;
}

/* The exec command as sent: its length from the payload (a NUL inside would
 * otherwise cut it short silently). Returns the length or -1 for NUL. */
static long sh_exec_length(const struct sg_ev_channel_request *ev)
{
    size_t clen = ev->command ? strlen(ev->command) : 0;
    if (ev->payload && ev->payload_len >= 4) {
        uint32_t L = ((uint32_t)ev->payload[0] << 24) | ((uint32_t)ev->payload[1] << 16) |
                     ((uint32_t)ev->payload[2] << 8) | ev->payload[3];
        if ((size_t)L <= ev->payload_len - 4) {
            if (memchr(ev->payload + 4, '\0', L))
                return -1;
            return (long)L;
        }
    }
    return (long)clen;
}

static int sh_decide_argv(struct sh_sess *s, bool is_exec, const struct sg_ev_channel_request *ev)
{
    const struct sh_conf *c = &s->conf;
    const char *shell0 = sh_basename(c->shell);

    if (is_exec) {
        long len = sh_exec_length(ev);
        if (len < 0) {
            LOG(s, SG_LOG_INFO, "exec refused: command contains a NUL byte");
            return -1;
        }
        if ((size_t)len > c->max_command) {
            LOG(s, SG_LOG_INFO, "exec refused: command of %ld bytes (max_command %zu)", len,
                c->max_command);
            return -1;
        }
        if (!(s->command = strdup(ev->command ? ev->command : "")))
            return -1;
        if (SG_HAS_FIELD(ev, original_command) && ev->original_command &&
            ev->original_command[0] &&
            !(s->original_command = strdup(ev->original_command)))
            return -1;
    }
    if (c->force_argv) {
        struct sw_words w = {0};
        for (size_t i = 0; i < c->force_argc; i++)
            if (sw_push(&w, c->force_argv[i], strlen(c->force_argv[i])) != SW_OK) {
                sw_words_free(&w);
                return -1;
            }
        sh_take_words(s, &w);
        s->file = strdup(c->force_argv[0]);
        s->app = true;
    } else if (c->force_cmd) {
        if (sh_argv3(s, shell0, "-c", c->force_cmd) < 0)
            return -1;
        s->file = strdup(c->shell);
        s->app = true;
    } else if (c->argv) {
        if (!is_exec) {
            LOG(s, SG_LOG_INFO,
                "shell refused: route \"%s\" is an application route "
                "(exec only)",
                ev->route_name ? ev->route_name : "?");
            return -1;
        }
        struct sw_words words = {0}, out = {0};
        int r = sw_split(s->command, strlen(s->command), c->max_command, &words);
        if (r == SW_OK)
            r = sw_expand((const char *const *)c->argv, c->argc, &words, c->args, &out);
        sw_words_free(&words);
        if (r != SW_OK) {
            LOG(s, SG_LOG_INFO, "exec refused on route \"%s\": %s",
                ev->route_name ? ev->route_name : "?", sw_strerror(r));
            return -1;
        }
        sh_take_words(s, &out);
        s->file = strdup(s->argv[0]);
        s->app = true;
    } else if (is_exec) {
        if (sh_argv3(s, shell0, "-c", s->command) < 0)
            return -1;
        s->file = strdup(c->shell);
    } else {
        char a0[256];
        snprintf(a0, sizeof(a0), "%s%s", c->login_shell ? "-" : "", shell0);
        if (sh_argv3(s, a0, NULL, NULL) < 0)
            return -1;
        s->file = strdup(c->shell);
    }
    return s->file ? 0 : -1;
}

/* shell / exec: the route picked us. Decide everything that can fail here,
 * so a refusal is a clean failure reply; the child starts in
 * on_channel_requested. */
static int sh_req_run(struct sh_plugin *pl, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    char err[512];
    bool is_exec = strcmp(ev->type, "exec") == 0;
    struct sh_sess *s = sh_sess_get(pl, ch);
    if (!s)
        return SG_E_NOMEM;
    if (s->req_type) {
        LOG(s, SG_LOG_INFO, "second %s request on one channel refused", ev->type);
        return SG_DENY;
    }
    if (!(s->req_type = strdup(ev->type)))
        return SG_E_NOMEM;
    if (sh_conf_init(&s->conf) < 0)
        return SG_E_NOMEM;
    if (sh_conf_apply(&s->conf, pl->config_json, err, sizeof(err)) < 0 ||
        sh_conf_apply(&s->conf, ev->route_config, err, sizeof(err)) < 0) {
        LOG(s, SG_LOG_ERROR, "route \"%s\" config: %s", ev->route_name ? ev->route_name : "?", err);
        return SG_DENY;
    }
    s->conf_ok = true;

    struct sg_conn_info ci = {.size = sizeof(ci)};
    if (pl->host->conn_info(s->conn, &ci) < 0 || !ci.user)
        return SG_DENY;
    if (!(s->user = strdup(ci.user)) || !(s->login_name = strdup(ci.user)))
        return SG_E_NOMEM;

    if (sh_decide_identity(s) < 0 || sh_decide_argv(s, is_exec, ev) < 0 || sh_decide_workdir(s) < 0)
        return SG_DENY;
    return SG_OK;
}

/* pty-req payload: string term, uint32 cols, rows, wpx, hpx, string modes. */
static void sh_pty_modes_from_payload(struct sh_sess *s, const uint8_t *p, size_t len)
{
    size_t off = 0;
    if (!p || len < 4)
        return;
    uint32_t tl = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (tl > len - 4 || len - 4 - tl < 16 + 4)
        return;
    off = 4 + tl + 16;
    uint32_t ml = ((uint32_t)p[off] << 24) | ((uint32_t)p[off + 1] << 16) |
                  ((uint32_t)p[off + 2] << 8) | p[off + 3];
    off += 4;
    if (ml > len - off || ml == 0 || ml > 4096)
        return;
    free(s->modes);
    if ((s->modes = malloc(ml))) {
        memcpy(s->modes, p + off, ml);
        s->modes_len = ml;
    }
}

static int sh_req_pty(struct sh_plugin *pl, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sh_sess *s = sh_sess_get(pl, ch);
    if (!s)
        return SG_E_NOMEM;
    if (s->started)
        return SG_DENY;
    s->pty = true;
    snprintf(s->term, sizeof(s->term), "%s", ev->term ? ev->term : "");
    s->cols = ev->cols;
    s->rows = ev->rows;
    s->wpx = ev->width_px;
    s->hpx = ev->height_px;
    if (ev->pty_modes && ev->pty_modes_len && ev->pty_modes_len <= 4096) {
        free(s->modes);
        if ((s->modes = malloc(ev->pty_modes_len))) {
            memcpy(s->modes, ev->pty_modes, ev->pty_modes_len);
            s->modes_len = ev->pty_modes_len;
        }
    } else {
        sh_pty_modes_from_payload(s, ev->payload, ev->payload_len);
    }
    return SG_OK;
}

/* env: kept (bounded) and filtered through the route's env_allow when the
 * child starts: the replayed env may arrive before the route's shell/exec
 * request is decided. */
static int sh_req_env(struct sh_plugin *pl, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sh_sess *s = sh_sess_get(pl, ch);
    const char *name = ev->env_name ? ev->env_name : "";
    const char *value = ev->env_value ? ev->env_value : "";
    const char *why = NULL;

    if (!s)
        return SG_E_NOMEM;
    if (s->started)
        why = "the command already started";
    else if (!sp_env_name_valid(name))
        why = "invalid name";
    else if (s->conf_ok &&
             !sp_env_allowed((const char *const *)s->conf.env_allow, s->conf.n_env_allow, name))
        why = "not in env_allow";
    else if (strlen(value) > SH_MAX_ENVLEN)
        why = "value too long";
    else if (!sp_env_get(&s->client_env, name) && s->n_client_env >= SH_MAX_ENV)
        why = "too many variables";
    if (why) {
        LOG(s, SG_LOG_INFO, "env \"%.64s\" refused: %s", name, why);
        return SG_DENY;
    }
    if (!sp_env_get(&s->client_env, name))
        s->n_client_env++;
    if (sp_env_set(&s->client_env, name, value) < 0)
        return SG_E_NOMEM;
    return SG_OK;
}

static int sh_req_window(struct sh_plugin *pl, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sh_sess *s = sh_sess_get(pl, ch);
    if (!s)
        return SG_E_NOMEM;
    s->cols = ev->cols;
    s->rows = ev->rows;
    s->wpx = ev->width_px;
    s->hpx = ev->height_px;
    sh_io_window(s);
    return SG_OK;
}

static int sh_req_signal(struct sh_plugin *pl, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sh_sess *s = sh_sess_get(pl, ch);
    if (!s)
        return SG_E_NOMEM;
    int sig = sp_signal_number(ev->signal_name);
    if (!sig) {
        LOG(s, SG_LOG_INFO, "unknown signal \"%.32s\" ignored",
            ev->signal_name ? ev->signal_name : "");
        return SG_DENY;
    }
    if (!s->started || s->reaped)
        return SG_DENY;
    LOG(s, SG_LOG_VERBOSE, "signal %s to process group %d", ev->signal_name, (int)s->child.pid);
    sp_kill_group(s->child.pid, sig);
    return SG_OK;
}

static const struct {
    const char *type;
    int (*fn)(struct sh_plugin *, sg_chan *, const struct sg_ev_channel_request *);
} sh_requests[] = {
    {"shell", sh_req_run},
    {"exec", sh_req_run},
    {"pty-req", sh_req_pty},
    {"env", sh_req_env},
    {"window-change", sh_req_window},
    {"signal", sh_req_signal},
};

static int sh_on_channel_request(void *state, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    struct sh_plugin *pl = state;
    for (size_t i = 0; i < sizeof(sh_requests) / sizeof(sh_requests[0]); i++)
        if (ev->type && strcmp(sh_requests[i].type, ev->type) == 0)
            return sh_requests[i].fn(pl, ch, ev);
    return SG_DENY;
}

/* ================================================================ start */

/* A failure after the success reply: tell the client on stderr, exit 127. */
static void sh_fail_started(struct sh_sess *s, const char *msg)
{
    const struct sg_host *h = s->pl->host;
    char line[600];
    int n = snprintf(line, sizeof(line), "sshgate: %s\r\n", msg);
    LOG(s, SG_LOG_ERROR, "%s", msg);
    if (n > 0)
        h->chan_send(s->ch, SG_STDERR, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
    h->chan_exit_status(s->ch, 127);
    h->chan_send_eof(s->ch);
    h->chan_close(s->ch);
    s->finished = true;
}

static int sh_build_env(struct sh_sess *s, struct sp_env *env)
{
    struct sg_conn_info ci = {.size = sizeof(ci)};
    char conn[256];
    int rc = 0;
    if (s->pl->host->conn_info(s->conn, &ci) == 0)
        snprintf(conn, sizeof(conn), "%s %d %s %d", ci.peer_address ? ci.peer_address : "",
                 ci.peer_port, ci.local_address ? ci.local_address : "", ci.local_port);
    else
        conn[0] = '\0';
    /* client variables first (TERM may be overridden by pty-req below),
     * the fixed ones last so that no allow-list can replace them */
    for (size_t i = 0; i < s->client_env.n; i++) {
        const char *kv = s->client_env.v[i];
        const char *eq = strchr(kv, '=');
        char name[256];
        size_t nl = (size_t)(eq - kv);
        if (!eq || nl >= sizeof(name))
            continue;
        memcpy(name, kv, nl);
        name[nl] = '\0';
        if (!sp_env_allowed((const char *const *)s->conf.env_allow, s->conf.n_env_allow, name)) {
            LOG(s, SG_LOG_INFO, "env \"%.64s\" refused: not in env_allow", name);
            continue;
        }
        rc |= sp_env_set(env, name, eq + 1);
    }
    if (s->pty && s->term[0] && !sp_env_get(env, "TERM"))
        rc |= sp_env_set(env, "TERM", s->term);
    rc |= sp_env_set(env, "PATH", s->conf.path);
    rc |= sp_env_set(env, "HOME", s->home);
    rc |= sp_env_set(env, "USER", s->login_name);
    rc |= sp_env_set(env, "LOGNAME", s->login_name);
    rc |= sp_env_set(env, "SHELL", s->conf.shell);
    rc |= sp_env_set(env, "SSH_CONNECTION", conn);
    if (conn[0]) { /* "client-ip client-port server-port", as OpenSSH sets it */
        char client[200];
        snprintf(client, sizeof(client), "%s %d %d", ci.peer_address ? ci.peer_address : "",
                 ci.peer_port, ci.local_port);
        rc |= sp_env_set(env, "SSH_CLIENT", client);
    }
    if (s->original_command) /* the credential forced the command (OpenSSH's command=) */
        rc |= sp_env_set(env, "SSH_ORIGINAL_COMMAND", s->original_command);
    else if (s->app && s->command)
        rc |= sp_env_set(env, "SSH_ORIGINAL_COMMAND", s->command);
    return rc;
}

static void sh_on_channel_requested(void *state, sg_chan *ch,
                                    const struct sg_ev_channel_requested *ev)
{
    struct sh_plugin *pl = state;
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    struct sp_env env = {0};
    char err[256];
    (void)ev;
    if (!s || !s->argv || s->started)
        return;
    if (sh_build_env(s, &env) < 0) {
        sh_fail_started(s, "cannot build the environment");
        goto out;
    }
    bool use_pty = s->pty && s->conf.allow_pty;
    struct sp_spawn_spec spec = {
        .file = s->file,
        .argv = s->argv,
        .envp = env.v,
        .search_path = s->conf.path,
        .workdir = s->workdir,
        .use_pty = use_pty,
        .cols = (uint16_t)s->cols,
        .rows = (uint16_t)s->rows,
        .width_px = (uint16_t)s->wpx,
        .height_px = (uint16_t)s->hpx,
        .pty_modes = s->modes,
        .pty_modes_len = s->modes_len,
        .set_ids = s->set_ids,
        .uid = s->uid,
        .gid = s->gid,
        .groups = s->groups,
        .ngroups = s->ngroups,
    };
    if (sp_spawn(&spec, &s->child, err, sizeof(err)) < 0) {
        sh_fail_started(s, err);
        goto out;
    }
    s->started = true;
    /* the command text only at VERBOSE: it may carry secrets (like sshd) */
    LOG(s, SG_LOG_INFO, "%s for %s: pid %d%s%s", s->req_type, s->login_name, (int)s->child.pid,
        use_pty ? ", pty" : "", s->app ? ", application" : "");
    if (s->command)
        LOG(s, SG_LOG_VERBOSE, "pid %d runs: %.1024s", (int)s->child.pid, s->command);
    /* Data the client sent before the owner was known is held by the host
     * and only delivered on the next resume: toggle the input to get it
     * now (otherwise a line typed early waits for the next keystroke). */
    if (!s->in.paused) {
        pl->host->chan_pause_input(ch, true);
        pl->host->chan_pause_input(ch, false);
    }
    if (sh_io_start(s) < 0) {
        sp_kill_group(s->child.pid, SIGKILL);
        sh_io_stop(s);
        if (!s->pid_w) { /* cannot watch it: the child was just killed, wait here */
            struct sp_status st;
            while (sp_reap(s->child.pidfd, &st) == 0)
                usleep(1000);
            s->reaped = true;
        }
        sh_fail_started(s, "out of memory");
    }
out:
    sp_env_free(&env);
}

/* ================================================================ data */

static void sh_on_channel_data(void *state, sg_chan *ch, const struct sg_ev_data *ev)
{
    struct sh_plugin *pl = state;
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    if (!s || ev->is_stderr)
        return; /* extended data from a client has no meaning for a command */
    sh_io_input(s, ev->data, ev->len);
}

static void sh_on_channel_eof(void *state, sg_chan *ch, const struct sg_ev_channel_eof *ev)
{
    struct sh_plugin *pl = state;
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    (void)ev;
    if (s)
        sh_io_input_eof(s);
}

static void sh_on_ready_to_send(void *state, sg_chan *ch, const struct sg_ev_ready_to_send *ev)
{
    struct sh_plugin *pl = state;
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    (void)ev;
    if (s && s->started)
        sh_io_ready_to_send(s);
}

static void sh_on_channel_closed(void *state, sg_chan *ch, const struct sg_ev_channel_closed *ev)
{
    struct sh_plugin *pl = state;
    struct sh_sess *s = pl->host->chan_get_ctx(ch);
    (void)ev;
    if (!s)
        return;
    pl->host->chan_set_ctx(ch, NULL);
    sh_io_channel_gone(s);
    sh_sess_maybe_free(s);
}

/* ================================================================ init */

static int sh_init(const struct sg_host *host, const sg_plugin_ref *self, const char *config_json,
                   void **state)
{
    struct sh_conf c;
    char err[512];
    if (sh_conf_init(&c) < 0)
        return SG_E_NOMEM;
    if (sh_conf_apply(&c, config_json, err, sizeof(err)) < 0) {
        host->log(self, NULL, SG_LOG_ERROR, "config: %s", err);
        sh_conf_free(&c);
        return SG_E_INVAL;
    }
    sh_conf_free(&c);
    struct sh_plugin *pl = calloc(1, sizeof(*pl));
    if (!pl || !(pl->config_json = strdup(config_json ? config_json : "{}"))) {
        free(pl);
        return SG_E_NOMEM;
    }
    pl->host = host;
    pl->self = self;
    /* Writing to a pipe whose reader exited must give EPIPE, not kill the
     * worker: make sure SIGPIPE is ignored (the core normally does this). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
        host->log(self, NULL, SG_LOG_VERBOSE, "SIGPIPE set to ignored in this worker");
    }
    *state = pl;
    return SG_OK;
}

/* Worker exit: every connection ended already; children still running are
 * killed and reaped here (a blocking wait is fine at exit). The host loop
 * is not used any more. */
static void sh_fini(void *state)
{
    struct sh_plugin *pl = state;
    if (!pl)
        return;
    while (pl->sessions) {
        struct sh_sess *s = pl->sessions;
        if (s->started && !s->reaped && s->child.pidfd >= 0) {
            siginfo_t si;
            sp_kill_group(s->child.pid, SIGKILL);
            waitid(P_PIDFD, (id_t)s->child.pidfd, &si, WEXITED);
        }
        s->ch = NULL;
        s->out.w = s->err.w = s->in.w = NULL;
        if (s->in.fd >= 0)
            close(s->in.fd);
        if (s->out.fd >= 0)
            close(s->out.fd);
        if (s->err.fd >= 0)
            close(s->err.fd);
        sh_sess_free(s);
    }
    free(pl->config_json);
    free(pl);
}

static const struct sg_plugin sh_descriptor = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "shell",
    .version = "1.0.0",
    .caps = SG_CAP_SESSION,
    .init = sh_init,
    .fini = sh_fini,
    .on_channel_request = sh_on_channel_request,
    .on_channel_requested = sh_on_channel_requested,
    .on_channel_data = sh_on_channel_data,
    .on_channel_eof = sh_on_channel_eof,
    .on_channel_closed = sh_on_channel_closed,
    .on_channel_ready_to_send = sh_on_ready_to_send,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned abi_major,
                                                                               unsigned abi_minor)
{
    (void)abi_minor;
    return abi_major == SG_PLUGIN_ABI_MAJOR ? &sh_descriptor : NULL;
}
