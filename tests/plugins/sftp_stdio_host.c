/*
 * sftp_stdio_host — a minimal stand-in host that runs the sftp plugin over
 * stdin/stdout, so real clients can drive it without sshgated:
 *
 *   sftp -D "build/tests/sftp_stdio_host build/plugins/sftp.so '{\"root\":\"/tmp/r/%u\"}'"
 *
 * argv: PLUGIN_SO [PLUGIN_CONFIG_JSON [ROUTE_CONFIG_JSON]]
 * env:  SFTP_USER (default "tester"), SFTP_HOST_SEND_MAX (bytes chan_send
 *       takes per call; small values exercise the plugin's output queue and
 *       on_channel_ready_to_send), SFTP_HOST_AUDIT=1 prints audit events.
 * Exit status 0 after the plugin closed the channel or stdin ended.
 * A test tool only: it implements just what the sftp plugin calls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

static void *chan_ctx;
static bool paused, closed, ready_pending;
static size_t send_max = (size_t)-1;
/* one-shot timers; delays are ignored: due at the next loop turn */
static struct {
    sg_timer_cb cb;
    void *arg;
} timers[8];
static bool print_audit;
static const char *user;

static void h_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    va_list ap;

    (void)self;
    (void)conn;
    if (level > SG_LOG_INFO)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "host: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void h_log_event(const sg_plugin_ref *self, sg_conn *conn, int level, const char *event,
                        const struct sg_kv *f, size_t n)
{
    (void)self;
    (void)conn;
    (void)level;
    if (!print_audit)
        return;
    fprintf(stderr, "event %s", event);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s=%s", f[i].key, f[i].value);
    fprintf(stderr, "\n");
}

static int h_conn_info(sg_conn *conn, struct sg_conn_info *out)
{
    size_t sz = out->size;

    (void)conn;
    memset(out, 0, sz);
    out->size = sz;
    out->user = user;
    out->authenticated = true;
    out->peer_address = "127.0.0.1";
    return SG_OK;
}

static sg_conn *h_chan_conn(sg_chan *ch)
{
    return (sg_conn *)ch;
}

static void *h_chan_get_ctx(sg_chan *ch)
{
    (void)ch;
    return chan_ctx;
}

static void h_chan_set_ctx(sg_chan *ch, void *ctx)
{
    (void)ch;
    chan_ctx = ctx;
}

static long h_chan_send(sg_chan *ch, enum sg_stream stream, const void *data, size_t len)
{
    size_t n = len < send_max ? len : send_max, done = 0;
    ssize_t w;

    (void)ch;
    (void)stream;
    if (closed)
        return SG_E_STATE;
    while (done < n) {
        w = write(1, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SG_E_IO;
        done += (size_t)w;
    }
    if (n < len)
        ready_pending = true;
    return (long)n;
}

static int h_chan_close(sg_chan *ch)
{
    (void)ch;
    closed = true;
    return SG_OK;
}

static int h_chan_set_record_length(sg_chan *ch, size_t n)
{
    (void)ch;
    return n == 0 ? SG_OK : SG_E_UNSUPPORTED;
}

static int h_chan_exit_status(sg_chan *ch, int status)
{
    (void)ch;
    if (status != 0)
        fprintf(stderr, "host: exit-status %d\n", status);
    return SG_OK;
}

static void h_chan_pause_input(sg_chan *ch, bool p)
{
    (void)ch;
    paused = p;
}

static sg_timer *h_timer_add(uint64_t ms, sg_timer_cb cb, void *arg)
{
    (void)ms;
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        if (!timers[i].cb) {
            timers[i].cb = cb;
            timers[i].arg = arg;
            return (sg_timer *)&timers[i];
        }
    }
    return NULL;
}

static void h_timer_cancel(sg_timer *t)
{
    ((__typeof__(&timers[0]))t)->cb = NULL;
}

/* Run one due timer; false if none. */
static bool run_timer(void)
{
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        if (timers[i].cb) {
            sg_timer_cb cb = timers[i].cb;
            timers[i].cb = NULL;
            cb(timers[i].arg);
            return true;
        }
    }
    return false;
}

static void h_disconnect(sg_conn *conn, const char *reason)
{
    (void)conn;
    fprintf(stderr, "host: disconnect: %s\n", reason);
    closed = true;
}

int main(int argc, char **argv)
{
    static uint8_t buf[65536];
    struct sg_host host;
    const struct sg_plugin *(*entry)(unsigned, unsigned);
    const struct sg_plugin *pl;
    void *dl, *state = NULL;
    sg_chan *ch = (sg_chan *)&host; /* any non-NULL token */
    const char *env;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN_SO [CONFIG_JSON [ROUTE_JSON]]\n", argv[0]);
        return 2;
    }
    user = getenv("SFTP_USER") ? getenv("SFTP_USER") : "tester";
    env = getenv("SFTP_HOST_SEND_MAX");
    if (env && atol(env) > 0)
        send_max = (size_t)atol(env);
    print_audit = getenv("SFTP_HOST_AUDIT") != NULL;
    dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    entry = (const struct sg_plugin *(*)(unsigned, unsigned))dlsym(dl, SG_PLUGIN_ENTRY_SYMBOL);
    pl = entry ? entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR) : NULL;
    if (!pl)
        return 2;
    memset(&host, 0, sizeof(host));
    host.size = sizeof(host);
    host.abi_major = SG_PLUGIN_ABI_MAJOR;
    host.abi_minor = SG_PLUGIN_ABI_MINOR;
    host.log = h_log;
    host.log_event = h_log_event;
    host.conn_info = h_conn_info;
    host.chan_conn = h_chan_conn;
    host.chan_get_ctx = h_chan_get_ctx;
    host.chan_set_ctx = h_chan_set_ctx;
    host.chan_send = h_chan_send;
    host.chan_close = h_chan_close;
    host.chan_pause_input = h_chan_pause_input;
    host.chan_set_record_length = h_chan_set_record_length;
    host.chan_exit_status = h_chan_exit_status;
    host.timer_add = h_timer_add;
    host.timer_cancel = h_timer_cancel;
    host.disconnect = h_disconnect;
    if (pl->init(&host, NULL, argc > 2 ? argv[2] : "{}", &state) != SG_OK)
        return 3;
    struct sg_ev_channel_request rq = {.size = sizeof(rq),
                                       .type = "subsystem",
                                       .subsystem = "sftp",
                                       .route_config = argc > 3 ? argv[3] : "{}"};
    if (pl->on_channel_request(state, ch, &rq) != SG_OK) {
        fprintf(stderr, "host: subsystem request denied\n");
        return 4;
    }
    struct sg_ev_channel_requested rd = {.size = sizeof(rd), .type = "subsystem"};
    pl->on_channel_requested(state, ch, &rd);
    while (!closed) {
        if (ready_pending) {
            struct sg_ev_ready_to_send ev = {.size = sizeof(ev), .window = send_max};
            ready_pending = false;
            pl->on_channel_ready_to_send(state, ch, &ev);
            continue;
        }
        if (run_timer())
            continue;
        if (paused) {
            fprintf(stderr, "host: paused with nothing pending (plugin stall)\n");
            return 5;
        }
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            struct sg_ev_channel_eof ev = {.size = sizeof(ev)};
            pl->on_channel_eof(state, ch, &ev);
            /* drain what the plugin still has to say */
            for (;;) {
                if (closed)
                    break;
                if (ready_pending) {
                    struct sg_ev_ready_to_send rv = {.size = sizeof(rv), .window = send_max};
                    ready_pending = false;
                    pl->on_channel_ready_to_send(state, ch, &rv);
                } else if (!run_timer()) {
                    break;
                }
            }
            break;
        }
        struct sg_ev_data ev = {.size = sizeof(ev), .data = buf, .len = (size_t)n};
        pl->on_channel_data(state, ch, &ev);
    }
    struct sg_ev_channel_closed cl = {.size = sizeof(cl)};
    pl->on_channel_closed(state, ch, &cl);
    pl->fini(state);
    dlclose(dl);
    return 0;
}
