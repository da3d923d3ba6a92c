/* Unit tests of core/readahead.c: the recv()/poll()/close() this executable
 * defines, exactly as libssh sees them in sshgated. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "readahead.h"

#define LIBSSH_READ 4096 /* what libssh 0.10.6 asks for */

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

static size_t send_pattern(int fd, size_t start, size_t n)
{
    uint8_t buf[8192];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(start + done + i);
        ssize_t w = write(fd, buf, k);
        assert_true(w > 0);
        done += (size_t)w;
    }
    return done;
}

/* Reads exactly n bytes 4 KiB at a time the way libssh does (poll, then
 * recv) and checks them against the pattern from offset start. */
static void read_like_libssh(int fd, size_t start, size_t n)
{
    uint8_t buf[LIBSSH_READ];
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 2000), 1);
        assert_true(p.revents & POLLIN);
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        assert_true(r > 0);
        for (ssize_t i = 0; i < r; i++)
            assert_int_equal(buf[i], pattern(start + got + (size_t)i));
        got += (size_t)r;
    }
    assert_int_equal(got, n);
}

/* Nothing left to read: EAGAIN (not 0, not stale bytes); then close both. */
static void expect_empty_then_close(int sv[2])
{
    char c;
    errno = 0;
    assert_int_equal(recv(sv[0], &c, 1, 0), -1);
    assert_int_equal(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
}

static void test_unattached_is_plain(void **state)
{
    int sv[2];
    pair(sv);
    send_pattern(sv[1], 0, 10000);
    read_like_libssh(sv[0], 0, 10000);
    assert_int_equal(sg_readahead_pending(sv[0]), 0);
    expect_empty_then_close(sv);
}

static void test_reads_ahead_and_keeps_order(void **state)
{
    int sv[2];
    pair(sv);
    assert_true(sg_readahead_attach(sv[0]));
    size_t total = send_pattern(sv[1], 0, 100 * 1024);
    uint8_t buf[LIBSSH_READ];
    assert_int_equal(recv(sv[0], buf, sizeof(buf), 0), LIBSSH_READ);
    /* one system call took everything the kernel had */
    assert_int_equal(sg_readahead_pending(sv[0]), total - LIBSSH_READ);
    /* the kernel queue is empty, yet poll reports the buffered bytes */
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_int_equal(p.revents, POLLIN);
    for (size_t i = 0; i < LIBSSH_READ; i++)
        assert_int_equal(buf[i], pattern(i));
    read_like_libssh(sv[0], LIBSSH_READ, total - LIBSSH_READ);
    assert_int_equal(sg_readahead_pending(sv[0]), 0);
    /* drained: poll asks the kernel again, which has nothing */
    assert_int_equal(poll(&p, 1, 0), 0);
    /* more data after a drain, then EOF after the last byte */
    send_pattern(sv[1], total, 50000);
    close(sv[1]);
    read_like_libssh(sv[0], total, 50000);
    assert_int_equal(recv(sv[0], buf, sizeof(buf), 0), 0);
    close(sv[0]);
}

static void test_eagain_when_empty(void **state)
{
    int sv[2];
    pair(sv);
    assert_true(sg_readahead_attach(sv[0]));
    expect_empty_then_close(sv);
}

static void test_flags_go_to_the_kernel(void **state)
{
    int sv[2];
    pair(sv);
    assert_true(sg_readahead_attach(sv[0]));
    send_pattern(sv[1], 0, 20000);
    uint8_t buf[LIBSSH_READ];
    assert_int_equal(recv(sv[0], buf, 100, 0), 100); /* the rest is now buffered */
    /* MSG_PEEK bypasses the buffer: it sees the kernel queue (empty) */
    errno = 0;
    assert_int_equal(recv(sv[0], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    read_like_libssh(sv[0], 100, 20000 - 100);
    close(sv[0]);
    close(sv[1]);
}

static void test_close_drops_buffer_before_reuse(void **state)
{
    int sv[2];
    pair(sv);
    int fd = sv[0];
    assert_true(sg_readahead_attach(fd));
    send_pattern(sv[1], 0, 30000);
    uint8_t buf[LIBSSH_READ];
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), LIBSSH_READ);
    assert_true(sg_readahead_pending(fd) > 0);
    close(fd); /* as libssh does on its own after a write error */
    close(sv[1]);
    int again[2];
    pair(again);
    assert_int_equal(again[0], fd); /* the lowest free number comes back */
    assert_int_equal(sg_readahead_pending(fd), 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* no stale bytes reported */
    send_pattern(again[1], 0, 5000);
    read_like_libssh(fd, 0, 5000); /* and none served */
    close(again[0]);
    close(again[1]);
}

static void test_poll_mixed_sets(void **state)
{
    int a[2], b[2];
    pair(a);
    pair(b);
    assert_true(sg_readahead_attach(a[0]));
    send_pattern(a[1], 0, 20000);
    uint8_t buf[LIBSSH_READ];
    assert_int_equal(recv(a[0], buf, sizeof(buf), 0), LIBSSH_READ);
    send_pattern(b[1], 0, 10);
    /* buffered bytes answer at once; the other fd is seen on a later call */
    struct pollfd p[2] = {{.fd = a[0], .events = POLLIN}, {.fd = b[0], .events = POLLIN}};
    assert_int_equal(poll(p, 2, 0), 1);
    assert_int_equal(p[0].revents, POLLIN);
    assert_int_equal(p[1].revents, 0);
    /* a set without POLLIN on the buffered fd goes to the kernel */
    struct pollfd w = {.fd = a[0], .events = POLLOUT};
    assert_int_equal(poll(&w, 1, 0), 1);
    assert_true(w.revents & POLLOUT);
    read_like_libssh(a[0], LIBSSH_READ, 20000 - LIBSSH_READ);
    assert_int_equal(poll(p, 2, 0), 1);
    assert_int_equal(p[0].revents, 0);
    assert_int_equal(p[1].revents, POLLIN);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

static void test_detach_and_out_of_range(void **state)
{
    assert_false(sg_readahead_attach(-1));
    assert_false(sg_readahead_attach(1 << 21));
    assert_int_equal(sg_readahead_pending(-1), 0);
    sg_readahead_detach(-1);
    int sv[2];
    pair(sv);
    assert_true(sg_readahead_attach(sv[0]));
    assert_true(sg_readahead_attach(sv[0])); /* twice is once */
    sg_readahead_detach(sv[0]);
    send_pattern(sv[1], 0, 9000);
    uint8_t buf[LIBSSH_READ];
    assert_int_equal(recv(sv[0], buf, sizeof(buf), 0), LIBSSH_READ);
    assert_int_equal(sg_readahead_pending(sv[0]), 0); /* detached: plain recv */
    read_like_libssh(sv[0], LIBSSH_READ, 9000 - LIBSSH_READ);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unattached_is_plain),
        cmocka_unit_test(test_reads_ahead_and_keeps_order),
        cmocka_unit_test(test_eagain_when_empty),
        cmocka_unit_test(test_flags_go_to_the_kernel),
        cmocka_unit_test(test_close_drops_buffer_before_reuse),
        cmocka_unit_test(test_poll_mixed_sets),
        cmocka_unit_test(test_detach_and_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
