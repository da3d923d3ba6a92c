/* echo — the test plugin. Built out of tree against the installed plugin.h.
 *
 * Routed shell/exec/subsystem channels echo every byte back on stdout and
 * answer EOF with exit-status 0, EOF and close. Exec commands with meaning:
 *   "exit N"   exit-status N at once
 *   "early-exit N" the same, but the request is answered with complete()
 *              from inside the handler, which then returns SG_AGAIN
 *   "stderr X" writes X to stderr, exit 0
 *   "info"     prints user, auth method, groups and client version, exit 0
 *   "crash"    aborts the worker (tests worker replacement)
 *   "sleep MS" answers after MS milliseconds (timer), exit 0
 *   "busy MS"  100 ms later (timer) sends "busy\n" and pauses its input;
 *              100 ms after that blocks the worker for MS milliseconds (a
 *              plugin doing slow synchronous work), then resumes its input
 *              without sending anything; input is echoed before and after
 *   "lines"    EOL framing: each line is sent back prefixed with "[n]"
 *   "records N" record framing: each N-byte record sent back prefixed with "<len>"
 * A route config {"deny": true} makes the plugin refuse the request.
 * In the auth chain, the user "hang" gets SG_AGAIN and never an answer (to
 * test limits.timeout); "late" gets SG_AGAIN and an SG_OK 3 s later (after
 * a 2 s timeout: must be ignored); "twice" gets SG_AGAIN and then two
 * SG_DECLINED completions in a row; "early" gets SG_DECLINED completed from
 * inside the handler, which then returns SG_AGAIN (plugins that break the
 * complete() contract: the host must stay intact and the chain go on to the
 * next plugin); "kbd2" gets two per-connection keyboard-interactive
 * prompts (answers "one" and "two"); "sigstatus" events are logged; every
 * other request is declined.
 */
#include <plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct sg_host *host;
static const sg_plugin_ref *me;

struct echo_chan {
    sg_chan *ch;
    char *pending;      /* bytes waiting for window */
    size_t pending_len;
    bool eof_seen;
    bool lines;
    bool records;
    unsigned line_no;
    sg_timer *timer;
    unsigned busy_ms;
};

static int echo_init(const struct sg_host *h, const sg_plugin_ref *self, const char *cfg,
                     void **state)
{
    host = h;
    me = self;
    *state = NULL;
    if (strstr(cfg, "\"fail_init\":true"))
        return SG_E_INVAL;
    return SG_OK;
}

static void echo_fini(void *state) {}

static void complete_ok(void *req)
{
    host->complete(req, SG_OK, NULL);
}

static void complete_declined_twice(void *req)
{
    host->complete(req, SG_DECLINED, NULL);
    host->complete(req, SG_DECLINED, NULL);
}

static int echo_auth(void *state, sg_conn *conn, struct sg_ev_auth *ev)
{
    if (strcmp(ev->method, "sigstatus") == 0) {
        host->log(me, conn, SG_LOG_INFO, "sigstatus %s for %s", ev->param, ev->user);
        return SG_DECLINED;
    }
    if (strcmp(ev->user, "kbd2") == 0) { /* two per-connection prompts */
        static const struct sg_kbdint_prompt prompts[] = {{"First: ", false}, {"Second: ", true}};
        if (strcmp(ev->method, "keyboard-interactive") == 0 && ev->kbdint_start)
            return host->conn_set_kbdint_prompts(conn, "two questions", prompts, 2);
        if (strcmp(ev->method, "keyboard-interactive-1") == 0)
            return strcmp(ev->param, "one") == 0 ? SG_OK : SG_DENY;
        if (strcmp(ev->method, "keyboard-interactive-2") == 0)
            return strcmp(ev->param, "two") == 0 ? SG_OK : SG_DENY;
        if (strcmp(ev->method, "keyboard-interactive") == 0) {
            host->conn_add_group(conn, "admins");
            return SG_OK;
        }
        return SG_DENY;
    }
    if (strcmp(ev->user, "late") == 0 && host->timer_add(3000, complete_ok, ev->req))
        return SG_AGAIN;
    if (strcmp(ev->user, "twice") == 0 && host->timer_add(10, complete_declined_twice, ev->req))
        return SG_AGAIN;
    if (strcmp(ev->user, "early") == 0) {
        host->complete(ev->req, SG_DECLINED, NULL);
        return SG_AGAIN;
    }
    return strcmp(ev->user, "hang") == 0 ? SG_AGAIN : SG_DECLINED;
}

static void finish(struct echo_chan *e, int status)
{
    host->chan_exit_status(e->ch, status);
    host->chan_send_eof(e->ch);
    host->chan_close(e->ch);
}

static void flush_pending(struct echo_chan *e)
{
    while (e->pending_len > 0) {
        long n = host->chan_send(e->ch, SG_STDOUT, e->pending, e->pending_len);
        if (n <= 0)
            break;
        memmove(e->pending, e->pending + n, e->pending_len - (size_t)n);
        e->pending_len -= (size_t)n;
    }
    host->chan_pause_input(e->ch, e->pending_len > (1u << 20));
    if (e->pending_len == 0 && e->eof_seen)
        finish(e, 0);
}

static void queue_out(struct echo_chan *e, const void *data, size_t len)
{
    if (len == 0)
        return;
    char *p = realloc(e->pending, e->pending_len + len);
    if (!p) {
        host->disconnect(host->chan_conn(e->ch), "echo: out of memory");
        return;
    }
    e->pending = p;
    memcpy(p + e->pending_len, data, len);
    e->pending_len += len;
    flush_pending(e);
}

static void sleep_done(void *arg)
{
    struct echo_chan *e = arg;
    e->timer = NULL;
    finish(e, 0);
}

static void busy_block(void *arg)
{
    struct echo_chan *e = arg;
    e->timer = NULL;
    struct timespec ts = {.tv_sec = e->busy_ms / 1000, .tv_nsec = (long)(e->busy_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    host->chan_pause_input(e->ch, false); /* the host reads what came meanwhile */
}

static void busy_start(void *arg)
{
    struct echo_chan *e = arg;
    queue_out(e, "busy\n", 5);
    host->chan_pause_input(e->ch, true);
    e->timer = host->timer_add(100, busy_block, e); /* the loop sees the output flushed first */
}

static int echo_request(void *state, sg_chan *ch, const struct sg_ev_channel_request *ev)
{
    if (ev->replayed)
        return SG_OK;
    if (strcmp(ev->type, "shell") && strcmp(ev->type, "exec") && strcmp(ev->type, "subsystem"))
        return strcmp(ev->type, "window-change") == 0 ? SG_OK : SG_DENY;
    if (ev->route_config && strstr(ev->route_config, "\"deny\":true"))
        return SG_DENY;
    struct echo_chan *e = calloc(1, sizeof(*e));
    if (!e)
        return SG_E_NOMEM;
    e->ch = ch;
    host->chan_set_ctx(ch, e);
    if (ev->command && strncmp(ev->command, "early-exit ", 11) == 0) {
        host->complete(ev->req, SG_OK, NULL); /* breaks the contract on purpose */
        return SG_AGAIN;
    }
    return SG_OK;
}

static void echo_requested(void *state, sg_chan *ch, const struct sg_ev_channel_requested *ev)
{
    struct echo_chan *e = host->chan_get_ctx(ch);
    struct sg_chan_info ci = {.size = sizeof(ci)};
    host->chan_info(ch, &ci);
    if (strcmp(ev->type, "exec"))
        return;
    const char *cmd = ci.command;
    char buf[2048];
    if (strncmp(cmd, "exit ", 5) == 0) {
        finish(e, atoi(cmd + 5));
    } else if (strncmp(cmd, "early-exit ", 11) == 0) {
        finish(e, atoi(cmd + 11));
    } else if (strncmp(cmd, "stderr ", 7) == 0) {
        host->chan_send(ch, SG_STDERR, cmd + 7, strlen(cmd + 7)); /* small: fits the window */
        finish(e, 0);
    } else if (strcmp(cmd, "info") == 0) {
        struct sg_conn_info info = {.size = sizeof(info)};
        host->conn_info(host->chan_conn(ch), &info);
        int n = snprintf(buf, sizeof(buf), "user=%s method=%s client=%s groups=", info.user,
                         info.auth_method, info.client_version);
        for (const char *const *g = info.groups; g && *g && n < (int)sizeof(buf) - 64; g++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%s", g == info.groups ? "" : ",", *g);
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " pty=%d\n", ci.has_pty);
        e->eof_seen = true; /* finish once sent */
        queue_out(e, buf, (size_t)n);
    } else if (strcmp(cmd, "crash") == 0) {
        abort();
    } else if (strncmp(cmd, "sleep ", 6) == 0) {
        e->timer = host->timer_add((uint64_t)atoi(cmd + 6), sleep_done, e);
    } else if (strncmp(cmd, "busy ", 5) == 0) {
        e->busy_ms = (unsigned)atoi(cmd + 5);
        e->timer = host->timer_add(100, busy_start, e);
    } else if (strcmp(cmd, "lines") == 0) {
        e->lines = true;
        host->chan_set_eol(ch, "\n", 1, 64);
    } else if (strncmp(cmd, "records ", 8) == 0) {
        e->records = true;
        host->chan_set_record_length(ch, (size_t)atoi(cmd + 8));
    }
}

static void echo_data(void *state, sg_chan *ch, const struct sg_ev_data *ev)
{
    struct echo_chan *e = host->chan_get_ctx(ch);
    if (!e)
        return;
    if (e->lines || e->records) {
        char hdr[32];
        int n = e->lines ? snprintf(hdr, sizeof(hdr), "[%u%s]", ++e->line_no, ev->eol_found ? "" : "!")
                         : snprintf(hdr, sizeof(hdr), "<%zu>", ev->len);
        queue_out(e, hdr, (size_t)n);
    }
    queue_out(e, ev->data, ev->len);
}

static void echo_eof(void *state, sg_chan *ch, const struct sg_ev_channel_eof *ev)
{
    struct echo_chan *e = host->chan_get_ctx(ch);
    if (!e || (e->timer && !e->busy_ms))
        return;
    e->eof_seen = true;
    flush_pending(e);
}

static void echo_ready(void *state, sg_chan *ch, const struct sg_ev_ready_to_send *ev)
{
    struct echo_chan *e = host->chan_get_ctx(ch);
    if (e)
        flush_pending(e);
}

static void echo_closed(void *state, sg_chan *ch, const struct sg_ev_channel_closed *ev)
{
    struct echo_chan *e = host->chan_get_ctx(ch);
    if (!e)
        return;
    if (e->timer)
        host->timer_cancel(e->timer);
    free(e->pending);
    free(e);
    host->chan_set_ctx(ch, NULL);
}

static const struct sg_plugin echo_plugin = {
    .size = sizeof(struct sg_plugin),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "echo",
    .version = "1.0",
    .caps = SG_CAP_SESSION | SG_CAP_SUBSYSTEM,
    .init = echo_init,
    .fini = echo_fini,
    .on_auth_request = echo_auth,
    .on_channel_request = echo_request,
    .on_channel_requested = echo_requested,
    .on_channel_data = echo_data,
    .on_channel_eof = echo_eof,
    .on_channel_closed = echo_closed,
    .on_channel_ready_to_send = echo_ready,
};

__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned major,
                                                                                unsigned minor)
{
    return major == SG_PLUGIN_ABI_MAJOR ? &echo_plugin : NULL;
}
