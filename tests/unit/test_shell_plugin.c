/* test_shell_plugin.c — the shell plugin's request handling and I/O
 * (plugins/shell/shell_plugin.c + shell_io.c) driven through its descriptor
 * by a small in-test host: a poll() loop for fd watches and timers, and a
 * channel that records what the plugin sends, with a send window the test
 * controls. Real /bin/sh children run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

/* ================================================================ fake host */

struct sg_chan {
    void *ctx;
    size_t window;
    bool want_ready;
    bool paused;
    int pause_calls;
    char out[1 << 16];
    size_t out_len, out_total;
    char err[1 << 12];
    size_t err_len;
    char events[512]; /* "out err exit:3 eof close" */
    bool closed;
};
struct sg_conn {
    int dummy;
};
struct sg_watch {
    int fd;
    unsigned events;
    sg_watch_cb cb;
    void *arg;
    bool active;
};
struct sg_timer {
    uint64_t at;
    sg_timer_cb cb;
    void *arg;
    bool active;
};

static struct sg_watch watches[64];
static struct sg_timer timers[16];
static char logbuf[1 << 15];
static struct sg_conn the_conn;

static void ev_add(sg_chan *ch, const char *e)
{
    size_t l = strlen(ch->events);
    snprintf(ch->events + l, sizeof(ch->events) - l, "%s%s", l ? " " : "", e);
}

static uint64_t f_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void f_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    (void)self;
    (void)conn;
    (void)level;
    va_list ap;
    size_t l = strlen(logbuf);
    va_start(ap, fmt);
    vsnprintf(logbuf + l, sizeof(logbuf) - l, fmt, ap);
    va_end(ap);
    l = strlen(logbuf);
    if (l + 1 < sizeof(logbuf)) {
        logbuf[l] = '\n';
        logbuf[l + 1] = '\0';
    }
}

static int f_conn_info(sg_conn *conn, struct sg_conn_info *out)
{
    (void)conn;
    out->user = "alice";
    out->peer_address = "127.0.0.1";
    out->peer_port = 40000;
    out->local_address = "127.0.0.1";
    out->local_port = 2222;
    return 0;
}
static sg_conn *f_chan_conn(sg_chan *ch)
{
    (void)ch;
    return &the_conn;
}
static void *f_get_ctx(sg_chan *ch)
{
    return ch->ctx;
}
static void f_set_ctx(sg_chan *ch, void *ctx)
{
    ch->ctx = ctx;
}

static long f_send(sg_chan *ch, enum sg_stream st, const void *data, size_t len)
{
    if (ch->closed || strstr(ch->events, "eof"))
        return SG_E_STATE;
    size_t n = len < ch->window ? len : ch->window;
    ch->window -= n;
    if (st == SG_STDOUT) {
        size_t room = sizeof(ch->out) - 1 - ch->out_len;
        size_t c = n < room ? n : room;
        memcpy(ch->out + ch->out_len, data, c);
        ch->out_len += c;
        ch->out[ch->out_len] = '\0';
        ch->out_total += n;
        if (!strstr(ch->events, "out"))
            ev_add(ch, "out");
    } else {
        size_t room = sizeof(ch->err) - 1 - ch->err_len;
        size_t c = n < room ? n : room;
        memcpy(ch->err + ch->err_len, data, c);
        ch->err_len += c;
        ch->err[ch->err_len] = '\0';
        if (!strstr(ch->events, "err"))
            ev_add(ch, "err");
    }
    if (n < len)
        ch->want_ready = true;
    return (long)n;
}
static int f_send_eof(sg_chan *ch)
{
    ev_add(ch, "eof");
    return 0;
}
static int f_exit_status(sg_chan *ch, int status)
{
    char b[32];
    snprintf(b, sizeof(b), "exit:%d", status);
    ev_add(ch, b);
    return 0;
}
static int f_exit_signal(sg_chan *ch, const char *name, bool core, const char *msg)
{
    (void)msg;
    char b[64];
    snprintf(b, sizeof(b), "signal:%s%s", name, core ? ":core" : "");
    ev_add(ch, b);
    return 0;
}
static int f_close(sg_chan *ch)
{
    ev_add(ch, "close");
    ch->closed = true;
    return 0;
}
static void f_pause(sg_chan *ch, bool p)
{
    ch->paused = p;
    if (p)
        ch->pause_calls++;
}

static sg_timer *f_timer_add(uint64_t ms, sg_timer_cb cb, void *arg)
{
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (!timers[i].active) {
            timers[i] = (struct sg_timer){f_now() + ms, cb, arg, true};
            return &timers[i];
        }
    return NULL;
}
static void f_timer_cancel(sg_timer *t)
{
    t->active = false;
}
static sg_watch *f_watch(int fd, unsigned ev, sg_watch_cb cb, void *arg)
{
    for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++)
        if (!watches[i].active) {
            watches[i] = (struct sg_watch){fd, ev, cb, arg, true};
            return &watches[i];
        }
    return NULL;
}
static int f_watch_modify(sg_watch *w, unsigned ev)
{
    w->events = ev;
    return 0;
}
static void f_watch_remove(sg_watch *w)
{
    w->active = false;
}

static const struct sg_host host = {
    .size = sizeof(struct sg_host),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .log = f_log,
    .conn_info = f_conn_info,
    .chan_conn = f_chan_conn,
    .chan_get_ctx = f_get_ctx,
    .chan_set_ctx = f_set_ctx,
    .chan_send = f_send,
    .chan_send_eof = f_send_eof,
    .chan_exit_status = f_exit_status,
    .chan_exit_signal = f_exit_signal,
    .chan_close = f_close,
    .chan_pause_input = f_pause,
    .timer_add = f_timer_add,
    .timer_cancel = f_timer_cancel,
    .fd_watch = f_watch,
    .fd_watch_modify = f_watch_modify,
    .fd_watch_remove = f_watch_remove,
    .now_ms = f_now,
};

static const struct sg_plugin *P;
static void *state;

/* One loop iteration (<= ms): poll the watches, fire due timers, and
 * ready_to_send when the test opened the window. */
static void loop_once(sg_chan *ch, int ms)
{
    struct pollfd pf[64];
    struct sg_watch *w[64];
    nfds_t n = 0;
    for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++) {
        if (!watches[i].active)
            continue;
        pf[n].fd = watches[i].fd;
        pf[n].events = (short)(((watches[i].events & SG_WATCH_READ) ? POLLIN : 0) |
                               ((watches[i].events & SG_WATCH_WRITE) ? POLLOUT : 0));
        pf[n].revents = 0;
        w[n++] = &watches[i];
    }
    poll(pf, n, ms);
    for (nfds_t i = 0; i < n; i++) {
        if (!w[i]->active || !pf[i].revents || w[i]->fd != pf[i].fd)
            continue;
        unsigned ev = ((pf[i].revents & POLLIN) ? SG_WATCH_READ : 0) |
                      ((pf[i].revents & POLLOUT) ? SG_WATCH_WRITE : 0) |
                      ((pf[i].revents & (POLLERR | POLLHUP)) ? SG_WATCH_ERROR : 0);
        w[i]->cb(w[i]->fd, ev, w[i]->arg);
    }
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (timers[i].active && timers[i].at <= f_now()) {
            timers[i].active = false;
            timers[i].cb(timers[i].arg);
        }
    if (ch && !ch->closed && ch->want_ready && ch->window > 0) {
        ch->want_ready = false;
        struct sg_ev_ready_to_send r = {sizeof(r), 0, ch->window};
        P->on_channel_ready_to_send(state, ch, &r);
    }
}

static void run_until_closed(sg_chan *ch, int ms)
{
    uint64_t end = f_now() + (uint64_t)ms;
    while (!ch->closed && f_now() < end)
        loop_once(ch, 10);
}

static void run_for(sg_chan *ch, int ms)
{
    uint64_t end = f_now() + (uint64_t)ms;
    while (f_now() < end)
        loop_once(ch, 10);
}

static int active_watches(void)
{
    int n = 0;
    for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++)
        n += watches[i].active;
    return n;
}

/* ================================================================ helpers */

static int request(sg_chan *ch, const char *type, const char *command, const char *route_config)
{
    uint8_t payload[16384];
    size_t plen = 0;
    struct sg_ev_channel_request ev = {.size = sizeof(ev), .type = type, .want_reply = true};
    if (command) {
        size_t l = strlen(command);
        payload[0] = (uint8_t)(l >> 24);
        payload[1] = (uint8_t)(l >> 16);
        payload[2] = (uint8_t)(l >> 8);
        payload[3] = (uint8_t)l;
        memcpy(payload + 4, command, l);
        plen = 4 + l;
        ev.payload = payload;
        ev.payload_len = plen;
        ev.command = command;
    }
    ev.route_config = route_config ? route_config : "{}";
    ev.route_name = "test";
    return P->on_channel_request(state, ch, &ev);
}

static void requested(sg_chan *ch, const char *type)
{
    struct sg_ev_channel_requested ev = {sizeof(ev), 0, type};
    P->on_channel_requested(state, ch, &ev);
}

static void start_exec(sg_chan *ch, const char *cmd, const char *route_config)
{
    int rc = request(ch, "exec", cmd, route_config);
    if (rc != SG_OK)
        fprintf(stderr, "log:\n%s", logbuf);
    assert_int_equal(rc, SG_OK);
    requested(ch, "exec");
}

static void data(sg_chan *ch, const void *d, size_t len)
{
    struct sg_ev_data ev = {.size = sizeof(ev), .data = d, .len = len};
    P->on_channel_data(state, ch, &ev);
}

static void eof(sg_chan *ch)
{
    struct sg_ev_channel_eof ev = {sizeof(ev), 0};
    P->on_channel_eof(state, ch, &ev);
}

static void closed(sg_chan *ch)
{
    struct sg_ev_channel_closed ev = {sizeof(ev), 0};
    P->on_channel_closed(state, ch, &ev);
}

static pid_t logged_pid(void)
{
    const char *p = strstr(logbuf, ": pid ");
    return p ? (pid_t)atoi(p + 6) : -1;
}

static int setup(void **st)
{
    (void)st;
    memset(watches, 0, sizeof(watches));
    memset(timers, 0, sizeof(timers));
    logbuf[0] = '\0';
    P = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
    assert_non_null(P);
    assert_int_equal(P->init(&host, NULL, "{\"workdir\": \"/tmp\"}", &state), SG_OK);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    P->fini(state);
    state = NULL;
    return 0;
}

static sg_chan *new_chan(size_t window)
{
    sg_chan *ch = calloc(1, sizeof(*ch));
    ch->window = window;
    return ch;
}

static void finish_chan(sg_chan *ch)
{
    if (ch->ctx)
        closed(ch);
    run_for(NULL, 50);
    assert_int_equal(active_watches(), 0);
    free(ch);
}

/* ================================================================ tests */

static void test_exec_order(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "echo x; sleep 0.1; echo y >&2; exit 3", NULL);
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "x\n");
    assert_string_equal(ch->err, "y\n");
    assert_string_equal(ch->events, "out err exit:3 eof close");
    finish_chan(ch);
}

static void test_env_and_pty_replay(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    struct sg_ev_channel_request pty = {.size = sizeof(pty),
                                        .type = "pty-req",
                                        .replayed = true,
                                        .term = "xterm-test",
                                        .cols = 101,
                                        .rows = 31};
    assert_int_equal(P->on_channel_request(state, ch, &pty), SG_OK);
    struct sg_ev_channel_request env = {.size = sizeof(env),
                                        .type = "env",
                                        .replayed = true,
                                        .env_name = "LANG",
                                        .env_value = "C.UTF-8"};
    assert_int_equal(P->on_channel_request(state, ch, &env), SG_OK);
    env.env_name = "LC_TIME";
    env.env_value = "C";
    assert_int_equal(P->on_channel_request(state, ch, &env), SG_OK);
    env.env_name = "EVIL";
    env.env_value = "1";
    assert_int_equal(P->on_channel_request(state, ch, &env), SG_OK); /* filtered at start */
    env.env_name = "PATH";
    env.env_value = "/evil";
    assert_int_equal(P->on_channel_request(state, ch, &env), SG_OK);
    env.env_name = "BAD-NAME";
    assert_int_equal(P->on_channel_request(state, ch, &env), SG_DENY);
    start_exec(ch,
               "echo \"$TERM|$LANG|$LC_TIME|${EVIL-unset}|$PATH|$SSH_CONNECTION|$HOME\"; "
               "stty size; [ -t 0 ] && echo TTY",
               "{\"env_allow\": [\"LANG\", \"LC_*\", \"PATH\"]}");
    run_until_closed(ch, 5000);
    assert_non_null(strstr(ch->out, "xterm-test|C.UTF-8|C|unset|/usr/local/bin:/usr/bin:/bin|"
                                    "127.0.0.1 40000 127.0.0.1 2222|/tmp\r\n"));
    assert_non_null(strstr(ch->out, "31 101\r\n"));
    assert_non_null(strstr(ch->out, "TTY"));
    assert_non_null(strstr(logbuf, "env \"EVIL\" refused"));
    assert_string_equal(ch->events, "out exit:0 eof close");
    finish_chan(ch);
}

static void test_backpressure_output(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(0);
    start_exec(ch, "head -c 2000000 /dev/zero; echo done >&2", NULL);
    run_for(ch, 300);
    /* nothing taken: the child is blocked on a full pipe, not buffered here */
    assert_int_equal(ch->out_total, 0);
    assert_false(ch->closed);
    pid_t pid = logged_pid();
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);
    for (int i = 0; i < 2000 && !ch->closed; i++) {
        ch->window += 65536;
        loop_once(ch, 5);
    }
    run_until_closed(ch, 5000);
    assert_int_equal(ch->out_total, 2000000);
    assert_string_equal(ch->err, "done\n");
    assert_non_null(strstr(ch->events, "exit:0 eof close"));
    finish_chan(ch);
}

static void test_input_pause_and_eof(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "sleep 1; wc -c", NULL);
    ch->pause_calls = 0; /* the start toggles the input once */
    static uint8_t block[16384];
    size_t sent = 0, total = 8 << 20; /* more than SH_IN_HIGH */
    uint64_t end = f_now() + 10000;
    while (sent < total && f_now() < end) {
        if (!ch->paused) {
            data(ch, block, sizeof(block));
            sent += sizeof(block);
        } else {
            loop_once(ch, 10);
        }
    }
    assert_int_equal(sent, total);
    assert_true(ch->pause_calls >= 1); /* the child did not read at first */
    eof(ch);
    run_until_closed(ch, 5000);
    assert_int_equal(atoi(ch->out), (int)total);
    assert_non_null(strstr(ch->events, "exit:0 eof close"));
    finish_chan(ch);
}

static void test_stdin_eof_cat(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "cat", NULL), SG_OK);
    data(ch, "early ", 6); /* before the child exists */
    requested(ch, "exec");
    data(ch, "abc\n", 4);
    eof(ch);
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "early abc\n");
    assert_string_equal(ch->events, "out exit:0 eof close");
    finish_chan(ch);
}

static void test_close_kills_child(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "sleep 300", NULL);
    run_for(ch, 100);
    pid_t pid = logged_pid();
    assert_true(pid > 0);
    closed(ch); /* the client went away */
    ch->ctx = NULL;
    run_for(NULL, 300);
    /* reaped: not even a zombie is left */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_non_null(strstr(logbuf, "hanging up child"));
    finish_chan(ch);
}

static void test_close_kill_grace(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "trap '' HUP; echo ready; while :; do sleep 0.05; done",
               "{\"kill_grace_ms\": 200}");
    for (int i = 0; i < 200 && !strstr(ch->out, "ready"); i++)
        loop_once(ch, 10);
    pid_t pid = logged_pid();
    closed(ch);
    ch->ctx = NULL;
    run_for(NULL, 100);
    assert_int_equal(kill(pid, 0), 0); /* SIGHUP ignored: still there */
    run_for(NULL, 400);
    assert_int_equal(kill(pid, 0), -1); /* SIGKILL after the grace time, reaped */
    assert_non_null(strstr(logbuf, "SIGKILL"));
    finish_chan(ch);
}

static void test_signal_request(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "echo ready; exec sleep 30", NULL);
    for (int i = 0; i < 200 && !strstr(ch->out, "ready"); i++)
        loop_once(ch, 10);
    run_for(ch, 50);
    struct sg_ev_channel_request sig = {
        .size = sizeof(sig), .type = "signal", .signal_name = "INT"};
    assert_int_equal(P->on_channel_request(state, ch, &sig), SG_OK);
    run_until_closed(ch, 5000);
    assert_string_equal(ch->events, "out signal:INT eof close");
    sig.signal_name = "NOPE";
    finish_chan(ch);
}

static void test_app_route(void **st)
{
    (void)st;
    const char *rc = "{\"argv\": [\"/usr/bin/printf\", \"<%s>\", \"{1}\", \"{2}\"], \"args\": 2}";
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "tool 'a b' $(id);x", rc);
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "<a b><$(id);x>");
    assert_string_equal(ch->events, "out exit:0 eof close");
    finish_chan(ch);

    /* SSH_ORIGINAL_COMMAND on application routes */
    ch = new_chan(1 << 20);
    start_exec(ch, "show me",
               "{\"argv\": [\"/bin/sh\", \"-c\", \"echo \\\"$SSH_ORIGINAL_COMMAND\\\"\"],"
               " \"args\": 1}");
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "show me\n");
    finish_chan(ch);

    /* refusals */
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "tool a", rc), SG_DENY); /* 1 arg, 2 needed */
    finish_chan(ch);
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "shell", NULL, rc), SG_DENY); /* exec only */
    finish_chan(ch);
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "tool 'a b", rc), SG_DENY); /* quote */
    finish_chan(ch);
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "x", "{\"max_command\": 4, \"argv\": [\"/bin/echo\"]}"),
                     SG_OK);
    finish_chan(ch);
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "x y z", "{\"max_command\": 4}"), SG_DENY);
    finish_chan(ch);
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "exec", "x", "{\"bogus\": 1}"), SG_DENY);
    assert_non_null(strstr(logbuf, "unknown key \"bogus\""));
    finish_chan(ch);
    /* a NUL inside the command (payload longer than the C string) */
    ch = new_chan(1 << 20);
    uint8_t payload[] = {0, 0, 0, 5, 'e', 'c', 0, 'h', 'o'};
    struct sg_ev_channel_request ev = {.size = sizeof(ev),
                                       .type = "exec",
                                       .command = "ec",
                                       .payload = payload,
                                       .payload_len = sizeof(payload),
                                       .route_config = "{}"};
    assert_int_equal(P->on_channel_request(state, ch, &ev), SG_DENY);
    finish_chan(ch);
}

static void test_force_command_and_shell(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "anything; rm -rf /",
               "{\"force_command\": \"echo forced:$SSH_ORIGINAL_COMMAND\"}");
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "forced:anything; rm -rf /\n");
    finish_chan(ch);

    /* a shell without pty reads its commands from stdin */
    ch = new_chan(1 << 20);
    assert_int_equal(request(ch, "shell", NULL, "{\"login_shell\": false}"), SG_OK);
    requested(ch, "shell");
    const char script[] = "echo from-shell; exit 4\n";
    data(ch, script, sizeof(script) - 1);
    run_until_closed(ch, 5000);
    assert_string_equal(ch->out, "from-shell\n");
    assert_string_equal(ch->events, "out exit:4 eof close");
    finish_chan(ch);
}

static void test_exec_failure(void **st)
{
    (void)st;
    sg_chan *ch = new_chan(1 << 20);
    start_exec(ch, "x", "{\"argv\": [\"/nonexistent/prog\"], \"workdir\": \"/\"}");
    run_until_closed(ch, 5000);
    assert_non_null(strstr(ch->err, "cannot execute /nonexistent/prog"));
    assert_string_equal(ch->events, "err exit:127 eof close");
    finish_chan(ch);
    /* a config the plugin refuses at init */
    void *st2 = NULL;
    assert_int_equal(P->init(&host, NULL, "{\"shel\": \"/bin/sh\"}", &st2), SG_E_INVAL);
    assert_int_equal(P->init(&host, NULL, "{\"argv\": [\"/bin/x\", \"{\"]}", &st2), SG_E_INVAL);
    assert_int_equal(P->init(&host, NULL, "[]", &st2), SG_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_and_pty_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_pause_and_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_eof_cat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_kills_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_kill_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_force_command_and_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
    };
    return cmocka_run_group_tests_name("shell_plugin", tests, NULL, NULL);
}
