/* test_tunnel_relay.c — the socket <-> channel pump of the tunnel plugin
 * (plugins/tunnel/tunnel_relay.c) against a fake host: backpressure both
 * ways, half-close ordering, close when both directions ended, idle
 * timeout, and tr_free from inside the host's chan_close. The socket is
 * one end of a socketpair; the test drives the fd watch callback itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunnel_relay.h"

/* ---------------------------------------------------------------- fake host */
static struct {
    size_t room;   /* what chan_send takes per call */
    int send_calls;
    size_t call_len[16]; /* the first calls' lengths */
    uint8_t *sent; /* data the "client" received */
    size_t sent_len, sent_cap;
    int eof_sent, closes;
    bool paused;
    int pause_calls;
    /* the one watch */
    bool watching;
    int wfd;
    unsigned wevents;
    sg_watch_cb wcb;
    void *warg;
    /* the 0 ms timer (end of the loop round: gathered data goes out) */
    bool round_armed;
    sg_timer_cb rcb;
    void *rarg;
    /* the one other timer */
    bool timer_armed;
    uint64_t timer_ms;
    sg_timer_cb tcb;
    void *targ;
    uint64_t now;
    struct tr_relay *free_on_close; /* simulate on_channel_closed inside chan_close */
} fk;

static long f_chan_send(sg_chan *ch, enum sg_stream s, const void *d, size_t n)
{
    (void)ch;
    (void)s;
    size_t take = n < fk.room ? n : fk.room;
    if (fk.send_calls < 16)
        fk.call_len[fk.send_calls] = n;
    fk.send_calls++;
    if (fk.sent_len + take > fk.sent_cap) {
        fk.sent_cap = (fk.sent_len + take) * 2;
        fk.sent = realloc(fk.sent, fk.sent_cap);
    }
    memcpy(fk.sent + fk.sent_len, d, take);
    fk.sent_len += take;
    return (long)take;
}
static int f_chan_send_eof(sg_chan *ch)
{
    (void)ch;
    fk.eof_sent++;
    return SG_OK;
}
static int f_chan_close(sg_chan *ch)
{
    (void)ch;
    fk.closes++;
    if (fk.free_on_close) {
        struct tr_relay *r = fk.free_on_close;
        fk.free_on_close = NULL;
        tr_free(r);
    }
    return SG_OK;
}
static void f_pause(sg_chan *ch, bool p)
{
    (void)ch;
    fk.paused = p;
    fk.pause_calls++;
}
static sg_watch *f_watch(int fd, unsigned ev, sg_watch_cb cb, void *arg)
{
    assert_false(fk.watching);
    fk.watching = true;
    fk.wfd = fd;
    fk.wevents = ev;
    fk.wcb = cb;
    fk.warg = arg;
    return (sg_watch *)&fk;
}
static int f_watch_mod(sg_watch *w, unsigned ev)
{
    assert_ptr_equal(w, &fk);
    assert_true(fk.watching);
    fk.wevents = ev;
    return SG_OK;
}
static void f_watch_rm(sg_watch *w)
{
    assert_ptr_equal(w, &fk);
    assert_true(fk.watching);
    fk.watching = false;
    fk.wevents = 0;
}
static sg_timer *f_timer_add(uint64_t ms, sg_timer_cb cb, void *arg)
{
    if (ms == 0) {
        assert_false(fk.round_armed);
        fk.round_armed = true;
        fk.rcb = cb;
        fk.rarg = arg;
        return (sg_timer *)&fk.rcb;
    }
    assert_false(fk.timer_armed);
    fk.timer_armed = true;
    fk.timer_ms = ms;
    fk.tcb = cb;
    fk.targ = arg;
    return (sg_timer *)&fk.timer_ms;
}
static void f_timer_cancel(sg_timer *t)
{
    if (t == (sg_timer *)&fk.rcb) {
        assert_true(fk.round_armed);
        fk.round_armed = false;
        return;
    }
    assert_ptr_equal(t, &fk.timer_ms);
    assert_true(fk.timer_armed);
    fk.timer_armed = false;
}
static uint64_t f_now(void)
{
    return fk.now;
}

static const struct sg_host host = {
    .size = sizeof(struct sg_host),
    .chan_send = f_chan_send,
    .chan_send_eof = f_chan_send_eof,
    .chan_close = f_chan_close,
    .chan_pause_input = f_pause,
    .fd_watch = f_watch,
    .fd_watch_modify = f_watch_mod,
    .fd_watch_remove = f_watch_rm,
    .timer_add = f_timer_add,
    .timer_cancel = f_timer_cancel,
    .now_ms = f_now,
};

static sg_chan *const CH = (sg_chan *)0x1;

/* Fire the watch with what it asked for (plus extra bits). */
static void fire(unsigned extra)
{
    assert_true(fk.watching);
    fk.wcb(fk.wfd, fk.wevents | extra, fk.warg);
}

/* The loop round ends: the 0 ms timer fires if armed. */
static void end_round(void)
{
    if (fk.round_armed) {
        fk.round_armed = false;
        fk.rcb(fk.rarg);
    }
}

static int sv[2]; /* sv[0]: relay side, sv[1]: the "server" peer */

static int setup(void **state)
{
    (void)state;
    free(fk.sent);
    memset(&fk, 0, sizeof(fk));
    fk.room = SIZE_MAX;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(sv[1]);
    free(fk.sent);
    fk.sent = NULL;
    return 0;
}

static void write_all(int fd, const uint8_t *d, size_t n)
{
    while (n) {
        ssize_t w = write(fd, d, n);
        assert_true(w > 0);
        d += w;
        n -= (size_t)w;
    }
}

/* ---------------------------------------------------------------- tests */

static void test_nothing_read_before_start(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    write_all(sv[1], (const uint8_t *)"early", 5);
    assert_false(fk.watching);
    assert_int_equal(tr_start(r), SG_OK);
    assert_true(fk.watching);
    assert_true(fk.wevents & SG_WATCH_READ);
    fire(0);
    assert_int_equal(fk.sent_len, 5);
    assert_memory_equal(fk.sent, "early", 5);
    tr_free(r);
    assert_false(fk.watching);
}

static void test_socket_to_channel_backpressure(void **state)
{
    (void)state;
    enum { N = 100000 };
    uint8_t *data = malloc(N);
    for (size_t i = 0; i < N; i++)
        data[i] = (uint8_t)(i * 7);
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    fk.room = 1000;
    size_t off = 0;
    while (off < N) {
        ssize_t w = write(sv[1], data + off, N - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    fire(0);
    /* the window took 1000 of a larger read: the socket is not read again
     * until ready-to-send */
    assert_int_equal(fk.sent_len, 1000);
    assert_false(fk.watching && (fk.wevents & SG_WATCH_READ));
    int rounds = 0;
    while (fk.sent_len < N && rounds++ < 100000) {
        if (off < N) {
            ssize_t w = write(sv[1], data + off, N - off);
            if (w > 0)
                off += (size_t)w;
        }
        if (fk.watching && (fk.wevents & SG_WATCH_READ))
            fire(0);
        else
            tr_on_ready(r);
    }
    assert_int_equal(fk.sent_len, N);
    assert_memory_equal(fk.sent, data, N);
    free(data);
    tr_free(r);
}

/* The "server" peer writes n patterned bytes at once (socket buffers made
 * large enough to hold them) and a relay starts on the other end; returns
 * the bytes written. */
static uint8_t *queue_then_start(size_t n, struct tr_relay **r)
{
    int big = 4 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0);
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 13 + i / 4096);
    write_all(sv[1], data, n);
    *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(*r);
    return data;
}

/* What one read of the socket finds (here 96 KiB) goes to the channel with
 * one chan_send: libssh then writes its packets with one system call. */
static void test_socket_read_sent_in_one_call(void **state)
{
    (void)state;
    enum { N = 96 * 1024 };
    struct tr_relay *r;
    uint8_t *data = queue_then_start(N, &r);
    fire(0);
    assert_int_equal(fk.sent_len, N);
    assert_int_equal(fk.send_calls, 1);
    assert_memory_equal(fk.sent, data, N);
    free(data);
    tr_free(r);
}

/* A long stream goes out in whole SSH packets: each read is the data of
 * four full packets for a client's 32 KiB maximum packet (libssh puts
 * 32758 data bytes in one), so no short packet follows every read. */
static void test_socket_reads_are_whole_packets(void **state)
{
    (void)state;
    enum { PKT = 32768 - 10, N = 10 * PKT + 1000 };
    struct tr_relay *r;
    uint8_t *data = queue_then_start(N, &r);
    for (int i = 0; i < 10 && fk.sent_len < N; i++)
        fire(0);
    assert_int_equal(fk.sent_len, N);
    assert_memory_equal(fk.sent, data, N);
    assert_int_equal(fk.send_calls, 3);
    assert_int_equal(fk.call_len[0], 4 * PKT);
    assert_int_equal(fk.call_len[1], 4 * PKT);
    assert_int_equal(fk.call_len[2], 2 * PKT + 1000);
    free(data);
    tr_free(r);
}

static void test_channel_to_socket_pause_resume(void **state)
{
    (void)state;
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    uint8_t chunk[16384];
    memset(chunk, 'u', sizeof(chunk));
    size_t given = 0;
    for (int i = 0; i < 64 && !fk.paused; i++) {
        tr_on_data(r, chunk, sizeof(chunk));
        given += sizeof(chunk);
    }
    assert_true(fk.paused);
    assert_true(fk.wevents & SG_WATCH_WRITE);
    struct tr_stats st;
    tr_get_stats(r, &st);
    assert_true(st.buffered >= 65536);
    assert_true(st.buffered <= 65536 + sizeof(chunk));
    /* the peer reads: the relay drains on writability and resumes input */
    uint8_t buf[65536];
    size_t got = 0;
    for (int i = 0; i < 1000 && got < given; i++) {
        ssize_t n = read(sv[1], buf, sizeof(buf));
        if (n > 0)
            got += (size_t)n;
        end_round();
        if (fk.watching && (fk.wevents & SG_WATCH_WRITE))
            fire(0);
    }
    assert_int_equal(got, given);
    assert_false(fk.paused);
    assert_false(fk.wevents & SG_WATCH_WRITE);
    tr_free(r);
}

static void test_channel_data_gathered_per_round(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    uint8_t chunk[8192];
    for (int i = 0; i < 4; i++) {
        memset(chunk, 'a' + i, sizeof(chunk));
        tr_on_data(r, chunk, sizeof(chunk));
    }
    /* nothing written yet, and no write watch while the round timer waits */
    uint8_t buf[65536];
    assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_false(fk.wevents & SG_WATCH_WRITE);
    assert_true(fk.round_armed);
    end_round();
    size_t got = 0;
    while (got < 4 * sizeof(chunk)) {
        ssize_t n = read(sv[1], buf + got, sizeof(buf) - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(buf[i * sizeof(chunk)], 'a' + i);
    /* reaching max_buffer writes at once, without waiting for the round */
    for (int i = 0; i < 8; i++)
        tr_on_data(r, chunk, sizeof(chunk));
    assert_false(fk.round_armed);
    got = 0;
    while (got < 8 * sizeof(chunk)) {
        ssize_t n = read(sv[1], buf, sizeof(buf));
        assert_true(n > 0);
        got += (size_t)n;
    }
    tr_free(r);
    assert_false(fk.round_armed); /* freed with the relay */
}

static void test_release_writes_what_is_left(void **state)
{
    (void)state;
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct tr_relay *r = tr_new(&host, CH, sv[0], 1 << 20, 0);
    tr_start(r);
    enum { N = 300000 };
    uint8_t *data = malloc(N);
    for (size_t i = 0; i < N; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    tr_on_data(r, data, N); /* the socket takes a part; the rest waits */
    tr_on_eof(r);
    struct tr_stats st;
    tr_get_stats(r, &st);
    assert_true(st.buffered > 0);
    int closes = fk.closes;
    tr_release(r);                       /* the client closed the channel right after its EOF */
    assert_int_equal(fk.closes, closes); /* the channel is not touched again */
    assert_true(fk.timer_armed);         /* the linger deadline */
    uint8_t *got = malloc(N + 1);
    size_t n = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t k = read(sv[1], got + n, N + 1 - n);
        if (k == 0)
            break;
        if (k > 0)
            n += (size_t)k;
        end_round();
        if (fk.watching && (fk.wevents & SG_WATCH_WRITE))
            fire(0);
    }
    assert_int_equal(n, N); /* everything, then EOF */
    assert_memory_equal(got, data, N);
    assert_false(fk.watching);
    assert_false(fk.timer_armed);
    free(got);
    free(data);
}

static void test_release_gives_up_after_linger(void **state)
{
    (void)state;
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct tr_relay *r = tr_new(&host, CH, sv[0], 1 << 20, 0);
    tr_start(r);
    uint8_t chunk[65536];
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 8; i++)
        tr_on_data(r, chunk, sizeof(chunk));
    end_round();
    int closes = fk.closes;
    tr_release(r);
    assert_true(fk.timer_armed);
    assert_int_equal(fk.timer_ms, 30000);
    fk.timer_armed = false; /* the peer never reads: the deadline fires */
    fk.tcb(fk.targ);
    assert_false(fk.watching);
    assert_int_equal(fk.closes, closes);
    /* the socket is closed: the peer sees EOF after what it was sent */
    uint8_t buf[65536];
    ssize_t k;
    while ((k = read(sv[1], buf, sizeof(buf))) > 0)
        ;
    assert_int_equal(k, 0);
}

static void test_half_close_both_ways_then_close(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    /* client data then client EOF: socket gets data then EOF */
    tr_on_data(r, (const uint8_t *)"ping", 4);
    tr_on_eof(r);
    end_round();
    uint8_t buf[16];
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 4);
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 0); /* SHUT_WR reached the peer */
    assert_int_equal(fk.closes, 0);
    /* server answers and closes: data, EOF to the client, then close */
    write_all(sv[1], (const uint8_t *)"pong", 4);
    shutdown(sv[1], SHUT_WR);
    fire(0);
    if (fk.eof_sent == 0)
        fire(0);
    assert_int_equal(fk.sent_len, 4);
    assert_int_equal(fk.eof_sent, 1);
    assert_int_equal(fk.closes, 1);
    assert_false(fk.watching);
    tr_free(r);
}

static void test_eof_waits_for_pending_data(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    fk.room = 3;
    write_all(sv[1], (const uint8_t *)"abcdefgh", 8);
    shutdown(sv[1], SHUT_WR);
    fire(0);
    assert_int_equal(fk.sent_len, 3);
    assert_int_equal(fk.eof_sent, 0);
    fk.room = SIZE_MAX;
    tr_on_ready(r);
    assert_int_equal(fk.sent_len, 8);
    /* reading resumes and finds the EOF, which goes out after the data */
    if (fk.eof_sent == 0)
        fire(0);
    assert_int_equal(fk.eof_sent, 1);
    assert_memory_equal(fk.sent, "abcdefgh", 8);
    assert_int_equal(fk.closes, 0); /* the client has not sent EOF yet */
    tr_free(r);
}

static void test_peer_reset_closes_channel(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    close(sv[1]);
    sv[1] = open("/dev/null", O_RDONLY); /* keep teardown's close harmless */
    tr_on_data(r, (const uint8_t *)"x", 1);
    end_round(); /* EPIPE, no SIGPIPE */
    assert_int_equal(fk.closes, 1);
    struct tr_stats st;
    tr_get_stats(r, &st);
    assert_non_null(st.close_reason);
    assert_false(fk.watching);
    tr_on_data(r, (const uint8_t *)"y", 1); /* ignored after close */
    assert_int_equal(fk.closes, 1);
    tr_free(r);
}

static void test_free_inside_chan_close(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 0);
    tr_start(r);
    fk.free_on_close = r; /* the host fires on_channel_closed synchronously */
    tr_on_eof(r);
    shutdown(sv[1], SHUT_WR);
    fire(0); /* socket EOF -> both ends done -> chan_close -> tr_free inside */
    assert_int_equal(fk.closes, 1);
    assert_false(fk.watching);
    /* r is gone now (ASan would flag a use after free above) */
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct tr_relay *r = tr_new(&host, CH, sv[0], 65536, 2);
    fk.now = 1000;
    tr_start(r);
    assert_true(fk.timer_armed);
    assert_int_equal(fk.timer_ms, 2000);
    /* activity at 2500 postpones */
    fk.now = 2500;
    tr_on_data(r, (const uint8_t *)"k", 1);
    end_round();
    fk.now = 3000;
    fk.timer_armed = false;
    fk.tcb(fk.targ);
    assert_int_equal(fk.closes, 0);
    assert_true(fk.timer_armed);
    assert_int_equal(fk.timer_ms, 1500);
    fk.now = 4500;
    fk.timer_armed = false;
    fk.tcb(fk.targ);
    assert_int_equal(fk.closes, 1);
    struct tr_stats st;
    tr_get_stats(r, &st);
    assert_string_equal(st.close_reason, "idle timeout");
    tr_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_read_before_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_to_channel_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_read_sent_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_reads_are_whole_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_to_socket_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_data_gathered_per_round, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_writes_what_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_gives_up_after_linger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close_both_ways_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_waits_for_pending_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_reset_closes_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_chan_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
