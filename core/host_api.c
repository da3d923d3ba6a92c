/* host_api.c — the sg_host table handed to plugins: thin, checked wrappers
 * over session/channel/loop internals. */
#include "host_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "channel.h"
#include "log.h"
#include "sshparam.h"

#define CONN(x) ((struct sg_conn *)(x))
#define CHAN(x) ((struct sg_chan *)(x))

static void h_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    if (level > sg_log_level())
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sg_logf(conn ? CONN(conn)->id : 0, level, level == SG_LOG_DEBUG ? "debug" : "info", "%s: %s",
            self ? self->name : "plugin", buf);
}

static void h_log_event(const sg_plugin_ref *self, sg_conn *conn, int level, const char *event,
                        const struct sg_kv *fields, size_t n)
{
    sg_log_event(conn ? CONN(conn)->id : 0, level, self ? self->name : "plugin", event, fields, n);
}

static int h_conn_info(sg_conn *conn, struct sg_conn_info *out)
{
    struct sg_conn *c = CONN(conn);
    if (!c || !out || out->size < offsetof(struct sg_conn_info, groups))
        return SG_E_INVAL;
    size_t size = out->size;
    memset(out, 0, size);
    out->size = size;
    out->id = c->id;
    out->peer_address = c->peer_ip;
    out->peer_port = c->peer_port;
    out->local_address = c->local_ip;
    out->local_port = c->local_port;
    out->user = c->user ? c->user : "";
    out->authenticated = c->authenticated;
    const char *cv = c->ssh ? ssh_get_clientbanner(c->ssh) : NULL;
    out->client_version = cv ? cv : "";
    if (c->ssh && c->kex_done) {
        out->kex = ssh_get_kex_algo(c->ssh);
        out->cipher_in = ssh_get_cipher_in(c->ssh);
        out->cipher_out = ssh_get_cipher_out(c->ssh);
        out->mac_in = ssh_get_hmac_in(c->ssh);
        out->mac_out = ssh_get_hmac_out(c->ssh);
    }
    out->kex = out->kex ? out->kex : "";
    out->cipher_in = out->cipher_in ? out->cipher_in : "";
    out->cipher_out = out->cipher_out ? out->cipher_out : "";
    out->mac_in = out->mac_in ? out->mac_in : "";
    out->mac_out = out->mac_out ? out->mac_out : "";
    out->host_key = "";
    out->strict_kex = c->kex_done; /* libssh 0.10.6 always negotiates strict kex when offered */
    out->auth_method = c->auth_method ? c->auth_method : "";
    if (SG_HAS_FIELD(out, groups)) {
        static const char *const none[] = {NULL};
        out->groups = c->groups ? (const char *const *)c->groups : none;
    }
    return SG_OK;
}

static void *h_conn_get_ctx(sg_conn *conn, const sg_plugin_ref *self)
{
    return conn && self ? CONN(conn)->plugin_ctx[self->index] : NULL;
}

static void h_conn_set_ctx(sg_conn *conn, const sg_plugin_ref *self, void *ctx)
{
    if (conn && self)
        CONN(conn)->plugin_ctx[self->index] = ctx;
}

static int push_str(char ***v, size_t *n, size_t per, const char *a, const char *b)
{
    char **nv = realloc(*v, (*n * per + per + 1) * sizeof(char *));
    if (!nv)
        return SG_E_NOMEM;
    *v = nv;
    nv[*n * per] = strdup(a);
    if (per == 2)
        nv[*n * per + 1] = strdup(b);
    (*n)++;
    nv[*n * per] = NULL;
    return SG_OK;
}

static int h_conn_add_group(sg_conn *conn, const char *group)
{
    struct sg_conn *c = CONN(conn);
    if (!c || !group || !*group)
        return SG_E_INVAL;
    if (sg_conn_has_group(c, group))
        return SG_OK;
    if (c->n_groups >= 1024)
        return SG_E_LIMIT;
    return push_str(&c->groups, &c->n_groups, 1, group, NULL);
}

static bool h_conn_has_group(sg_conn *conn, const char *group)
{
    return conn && group && sg_conn_has_group(CONN(conn), group);
}

static int h_conn_set_attr(sg_conn *conn, const char *name, const char *value)
{
    struct sg_conn *c = CONN(conn);
    if (!c || !name || !value)
        return SG_E_INVAL;
    for (size_t i = 0; i < c->n_attrs; i++)
        if (strcmp(c->attrs[2 * i], name) == 0) {
            char *v = strdup(value);
            if (!v)
                return SG_E_NOMEM;
            free(c->attrs[2 * i + 1]);
            c->attrs[2 * i + 1] = v;
            return SG_OK;
        }
    if (c->n_attrs >= 1024)
        return SG_E_LIMIT;
    return push_str(&c->attrs, &c->n_attrs, 2, name, value);
}

static const char *h_conn_get_attr(sg_conn *conn, const char *name)
{
    struct sg_conn *c = CONN(conn);
    for (size_t i = 0; c && name && i < c->n_attrs; i++)
        if (strcmp(c->attrs[2 * i], name) == 0)
            return c->attrs[2 * i + 1];
    return NULL;
}

static int h_conn_set_kbdint_prompts(sg_conn *conn, const char *instruction,
                                     const struct sg_kbdint_prompt *prompts, size_t n)
{
    struct sg_conn *c = CONN(conn);
    if (!c || (n && !prompts) || n > 32)
        return SG_E_INVAL;
    struct sg_kbd_prompt *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return SG_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].prompt = strdup(prompts[i].prompt ? prompts[i].prompt : "");
        v[i].echo = prompts[i].echo;
    }
    for (size_t i = 0; i < c->n_kbd_prompts; i++)
        free(c->kbd_prompts[i].prompt);
    free(c->kbd_prompts);
    free(c->kbd_instruction);
    c->kbd_prompts = v;
    c->n_kbd_prompts = n;
    c->kbd_instruction = strdup(instruction ? instruction : "");
    return SG_OK;
}

static int h_conn_set_banner(sg_conn *conn, const char *banner)
{
    struct sg_conn *c = CONN(conn);
    if (!c || !banner)
        return SG_E_INVAL;
    if (c->banner_sent)
        return SG_E_STATE;
    free(c->banner);
    c->banner = strdup(banner);
    return c->banner ? SG_OK : SG_E_NOMEM;
}

static void h_disconnect(sg_conn *conn, const char *reason)
{
    if (conn)
        sg_conn_close(CONN(conn), SSH2_DISCONNECT_BY_APPLICATION, reason ? reason : "disconnected");
}

static int h_exchange_keys(sg_conn *conn) { return SG_E_UNSUPPORTED; }

static int h_conn_restrict(sg_conn *conn, const struct sg_restrictions *r)
{
    struct sg_conn *c = CONN(conn);
    char why[160] = "";
    if (!c)
        return SG_E_INVAL;
    int rc = sg_auth_restrict(c, r, why, sizeof(why));
    if (rc == SG_E_INVAL)
        SG_INFO(c->id, "conn_restrict refused: %s", why);
    return rc;
}

static sg_conn *h_chan_conn(sg_chan *ch) { return ch ? (sg_conn *)CHAN(ch)->conn : NULL; }

static int h_chan_info(sg_chan *ch, struct sg_chan_info *out)
{
    struct sg_chan *h = CHAN(ch);
    if (!h || !out || out->size < sizeof(size_t))
        return SG_E_INVAL;
    size_t size = out->size < sizeof(*out) ? out->size : sizeof(*out);
    struct sg_chan_info i = {.size = size, .id = h->id, .type = h->type, .request = h->request,
                             .command = h->command ? h->command : "", .has_pty = h->has_pty,
                             .term = h->term ? h->term : "", .cols = h->cols, .rows = h->rows,
                             .bytes_in = h->bytes_in, .bytes_out = h->bytes_out};
    memcpy(out, &i, size);
    return SG_OK;
}

static void *h_chan_get_ctx(sg_chan *ch) { return ch ? CHAN(ch)->ctx : NULL; }
static void h_chan_set_ctx(sg_chan *ch, void *ctx)
{
    if (ch)
        CHAN(ch)->ctx = ctx;
}

static long h_chan_send(sg_chan *ch, enum sg_stream stream, const void *data, size_t len)
{
    if (!ch || (!data && len))
        return SG_E_INVAL;
    return sg_chan_send(CHAN(ch), stream, data, len);
}

static size_t h_chan_send_room(sg_chan *ch) { return ch ? sg_chan_send_room(CHAN(ch)) : 0; }
static int h_chan_send_eof(sg_chan *ch) { return ch ? sg_chan_send_eof(CHAN(ch)) : SG_E_INVAL; }
static int h_chan_exit_status(sg_chan *ch, int st)
{
    return ch ? sg_chan_exit_status(CHAN(ch), st) : SG_E_INVAL;
}
static int h_chan_exit_signal(sg_chan *ch, const char *sig, bool core, const char *msg)
{
    return ch && sig ? sg_chan_exit_signal(CHAN(ch), sig, core, msg) : SG_E_INVAL;
}
static int h_chan_close(sg_chan *ch) { return ch ? sg_chan_close(CHAN(ch)) : SG_E_INVAL; }
static void h_chan_pause_input(sg_chan *ch, bool paused)
{
    if (ch)
        sg_chan_pause(CHAN(ch), paused);
}
static int h_chan_set_record_length(sg_chan *ch, size_t n)
{
    return ch ? sg_chan_set_record_length(CHAN(ch), n) : SG_E_INVAL;
}
static int h_chan_set_eol(sg_chan *ch, const char *eol, size_t eol_len, size_t max_len)
{
    return ch ? sg_chan_set_eol(CHAN(ch), eol, eol_len, max_len) : SG_E_INVAL;
}

static int h_chan_open_forwarded(sg_conn *conn, const sg_plugin_ref *self, const char *addr,
                                 int port, const char *orig, int oport, sg_chan **out)
{
    if (!conn || !self || !out)
        return SG_E_INVAL;
    struct sg_chan *h = NULL;
    int rc = sg_chan_open_forwarded(CONN(conn), (struct sg_plugin_ref *)self, addr, port, orig,
                                    oport, &h);
    *out = (sg_chan *)h;
    return rc;
}

static int h_chan_send_request(sg_chan *ch, const char *type, const uint8_t *payload, size_t len)
{
    struct sg_chan *h = CHAN(ch);
    if (!h || !type)
        return SG_E_INVAL;
    char buf[512];
    if (strcmp(type, "eof") == 0)
        return sg_chan_send_eof(h);
    if (strcmp(type, "close") == 0)
        return sg_chan_close(h);
    if (strcmp(type, "exit-status") == 0) {
        if (sg_param_get(payload, len, "exit-status", "ExitStatus", buf, sizeof(buf)) < 0)
            return SG_E_INVAL;
        return sg_chan_exit_status(h, (int)(uint32_t)strtoul(buf, NULL, 10));
    }
    if (strcmp(type, "exit-signal") == 0) {
        char sig[64], core[8], msg[256];
        if (sg_param_get(payload, len, "exit-signal", "SignalName", sig, sizeof(sig)) < 0 ||
            sg_param_get(payload, len, "exit-signal", "CoreDumped", core, sizeof(core)) < 0)
            return SG_E_INVAL;
        if (sg_param_get(payload, len, "exit-signal", "ErrorMessage", msg, sizeof(msg)) < 0)
            msg[0] = 0;
        return sg_chan_exit_signal(h, sig, strcmp(core, "True") == 0, msg);
    }
    return SG_E_UNSUPPORTED;
}

static void h_tunnel_closed(sg_conn *conn, int direction, const char *address, int port)
{
    if (conn)
        sg_tunnel_closed(CONN(conn), direction, address ? address : "", port);
}

static void h_complete(sg_request *req, int result, const struct sg_completion *extra)
{
    sg_request_complete(req, result, extra);
}

/* ---- loop ------------------------------------------------------------------------------ */
struct sg_watch {
    sg_io *io;
    sg_watch_cb cb;
    void *arg;
    unsigned events;
};

static uint32_t to_epoll(unsigned ev)
{
    return (ev & SG_WATCH_READ ? EPOLLIN : 0) | (ev & SG_WATCH_WRITE ? EPOLLOUT : 0);
}

static void watch_cb(int fd, uint32_t ev, void *arg)
{
    struct sg_watch *w = arg;
    unsigned e = (ev & EPOLLIN ? SG_WATCH_READ : 0) | (ev & EPOLLOUT ? SG_WATCH_WRITE : 0) |
                 (ev & (EPOLLERR | EPOLLHUP) ? SG_WATCH_ERROR : 0);
    w->cb(fd, e, w->arg);
}

static sg_watch *h_fd_watch(int fd, unsigned events, sg_watch_cb cb, void *arg)
{
    if (fd < 0 || !cb)
        return NULL;
    struct sg_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cb = cb;
    w->arg = arg;
    w->events = events;
    w->io = sg_io_add(sg_w->loop, fd, to_epoll(events), watch_cb, w, false);
    if (!w->io) {
        free(w);
        return NULL;
    }
    return w;
}

static int h_fd_watch_modify(sg_watch *w, unsigned events)
{
    if (!w)
        return SG_E_INVAL;
    w->events = events;
    return sg_io_mod(w->io, to_epoll(events)) == 0 ? SG_OK : SG_E_IO;
}

static void h_fd_watch_remove(sg_watch *w)
{
    if (!w)
        return;
    sg_io_del(w->io);
    free(w);
}

struct timer_wrap {
    sg_ltimer *t;
    sg_timer_cb cb;
    void *arg;
    struct timer_wrap *next, **prev; /* live plugin timers (freed at worker exit) */
};

static struct timer_wrap *g_timers;

static void wrap_unlink(struct timer_wrap *tw)
{
    *tw->prev = tw->next;
    if (tw->next)
        tw->next->prev = tw->prev;
}

static void timer_fire(void *arg)
{
    struct timer_wrap *tw = arg;
    sg_timer_cb cb = tw->cb;
    void *a = tw->arg;
    wrap_unlink(tw);
    free(tw);
    cb(a);
}

static sg_timer *h_timer_add(uint64_t ms, sg_timer_cb cb, void *arg)
{
    struct timer_wrap *tw = calloc(1, sizeof(*tw));
    if (!tw)
        return NULL;
    tw->cb = cb;
    tw->arg = arg;
    tw->t = sg_timer_add(sg_w->loop, ms, timer_fire, tw);
    if (!tw->t) {
        free(tw);
        return NULL;
    }
    tw->next = g_timers;
    tw->prev = &g_timers;
    if (g_timers)
        g_timers->prev = &tw->next;
    g_timers = tw;
    return (sg_timer *)tw;
}

static void h_timer_cancel(sg_timer *t)
{
    struct timer_wrap *tw = (struct timer_wrap *)t;
    if (!tw)
        return;
    sg_timer_cancel(sg_w->loop, tw->t);
    wrap_unlink(tw);
    free(tw);
}

void sg_host_timers_drop(void)
{
    while (g_timers) {
        struct timer_wrap *tw = g_timers;
        sg_timer_cancel(sg_w->loop, tw->t);
        wrap_unlink(tw);
        free(tw);
    }
}

static int h_queue_work(sg_work_fn work, sg_done_fn done, void *arg)
{
    return sg_loop_queue_work(sg_w->loop, work, done, arg) == 0 ? SG_OK : SG_E_NOMEM;
}

static int h_post(sg_post_fn fn, void *arg)
{
    return sg_loop_post(sg_w->loop, fn, arg) == 0 ? SG_OK : SG_E_NOMEM;
}

static uint64_t h_now_ms(void) { return sg_now_ms(); }

static const struct sg_host host_table = {
    .size = sizeof(struct sg_host),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .log = h_log,
    .log_event = h_log_event,
    .conn_info = h_conn_info,
    .conn_get_ctx = h_conn_get_ctx,
    .conn_set_ctx = h_conn_set_ctx,
    .conn_add_group = h_conn_add_group,
    .conn_has_group = h_conn_has_group,
    .conn_set_attr = h_conn_set_attr,
    .conn_get_attr = h_conn_get_attr,
    .conn_set_kbdint_prompts = h_conn_set_kbdint_prompts,
    .conn_set_banner = h_conn_set_banner,
    .disconnect = h_disconnect,
    .exchange_keys = h_exchange_keys,
    .chan_conn = h_chan_conn,
    .chan_info = h_chan_info,
    .chan_get_ctx = h_chan_get_ctx,
    .chan_set_ctx = h_chan_set_ctx,
    .chan_send = h_chan_send,
    .chan_send_room = h_chan_send_room,
    .chan_send_eof = h_chan_send_eof,
    .chan_exit_status = h_chan_exit_status,
    .chan_exit_signal = h_chan_exit_signal,
    .chan_close = h_chan_close,
    .chan_pause_input = h_chan_pause_input,
    .chan_set_record_length = h_chan_set_record_length,
    .chan_set_eol = h_chan_set_eol,
    .chan_open_forwarded = h_chan_open_forwarded,
    .chan_send_request = h_chan_send_request,
    .tunnel_closed = h_tunnel_closed,
    .complete = h_complete,
    .timer_add = h_timer_add,
    .timer_cancel = h_timer_cancel,
    .fd_watch = h_fd_watch,
    .fd_watch_modify = h_fd_watch_modify,
    .fd_watch_remove = h_fd_watch_remove,
    .queue_work = h_queue_work,
    .post = h_post,
    .now_ms = h_now_ms,
    .param_get = sg_param_get,
    .param_get_bytes = sg_param_get_bytes,
    .param_set = sg_param_set,
    .conn_restrict = h_conn_restrict,
};

const struct sg_host *sg_host_api(void) { return &host_table; }
