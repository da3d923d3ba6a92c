/* readahead.h — large socket reads under libssh 0.10.6.
 *
 * libssh 0.10.6 reads a session's socket 4 KiB at a time and calls poll()
 * before every read (its socket layer has a fixed 4096-byte read buffer and no
 * call to change it). A 1 GiB upload then costs ~260,000 recv() and as many
 * poll() calls, and on a 2-core machine those system calls were the largest
 * share of a worker's CPU time (perf, issue 5).
 *
 * sshgated therefore defines recv(), poll() and close() itself. The dynamic
 * linker binds the executable's definitions ahead of libc's for every library,
 * libssh included. For a socket attached here:
 *  - recv(fd, buf, len, 0) serves bytes from a per-socket buffer; when the
 *    buffer is empty it is refilled by ONE readv() that fills the caller's
 *    buffer first and up to SG_READAHEAD_SIZE more bytes into ours;
 *  - poll() reports POLLIN for it without a system call while its buffer
 *    holds bytes;
 *  - close() drops the buffer before the fd number can be reused.
 * Every other fd, every recv() with flags, and every thread's calls on its own
 * fds go straight to the system call, unchanged. Before the key exchange the
 * same hook lets the core watch the client's plaintext packets (kexwatch.c).
 *
 * Bytes held here do not make epoll report the socket readable. Any libssh
 * call may refill the buffer (libssh reads the socket when it flushes a write
 * and when a channel is polled), so after every round of work on a
 * connection the caller checks sg_readahead_pending() and comes back for
 * what is left (session.c, update_interest) — not only after its own
 * readiness callback.
 *
 * Attach only after the key exchange has begun to be processed by libssh and
 * nobody else peeks at the socket (the NUL-in-version check uses MSG_PEEK on a
 * duplicate before that). Attach/detach and the buffers belong to the worker
 * thread; poll() and recv() from other threads only read their own fds'
 * (empty) slots.
 */
#ifndef SG_READAHEAD_H
#define SG_READAHEAD_H

#include <stdbool.h>
#include <stddef.h>

#define SG_READAHEAD_SIZE (128 * 1024)

/* Start buffering reads of socket fd. False (and no buffering, which is
 * harmless) when fd is out of the table's range or memory is short. */
bool sg_readahead_attach(int fd);

/* Stop buffering fd; bytes still buffered are dropped (only at teardown). */
void sg_readahead_detach(int fd);

/* Bytes read from the kernel for fd that libssh has not taken yet. */
size_t sg_readahead_pending(int fd);

/* Before attaching: hand every byte libssh reads from fd to fn, in order,
 * without reading ahead (a MSG_PEEK on a duplicate still sees the kernel
 * queue). fn returns 0 for more, 1 when done watching, -1 to fail the read
 * (recv returns -1 with ECONNRESET: libssh drops the connection). */
typedef int (*sg_readahead_observer)(void *arg, const unsigned char *data, size_t len);
bool sg_readahead_observe(int fd, sg_readahead_observer fn, void *arg);
/* Stop fn/arg watching fd (no-op if fd is watched for another arg). */
void sg_readahead_unobserve(int fd, void *arg);

#endif
