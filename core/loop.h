/* loop.h — the worker's event loop: epoll, timers, fd watches, a work pool
 * and a cross-thread post queue. One loop per worker process, one thread. */
#ifndef SSHGATE_LOOP_H
#define SSHGATE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_loop sg_loop;
typedef struct sg_io sg_io;
typedef struct sg_ltimer sg_ltimer;

typedef void (*sg_io_cb)(int fd, uint32_t epoll_events, void *arg);
typedef void (*sg_fn)(void *arg);

sg_loop *sg_loop_new(int pool_threads);
void sg_loop_free(sg_loop *l);
/* Run until sg_loop_stop; returns 0. */
int sg_loop_run(sg_loop *l);
void sg_loop_stop(sg_loop *l);
/* Called after every batch of events, timers and posts (the post-dispatch hook). */
void sg_loop_set_after(sg_loop *l, sg_fn fn, void *arg);

/* fd interest (EPOLLIN/EPOLLOUT...). `exclusive` adds EPOLLEXCLUSIVE (listeners). */
sg_io *sg_io_add(sg_loop *l, int fd, uint32_t events, sg_io_cb cb, void *arg, bool exclusive);
int sg_io_mod(sg_io *io, uint32_t events);
uint32_t sg_io_events(const sg_io *io);
/* Remove from epoll; the object is freed after the current batch. */
void sg_io_del(sg_io *io);

sg_ltimer *sg_timer_add(sg_loop *l, uint64_t ms, sg_fn cb, void *arg);
void sg_timer_cancel(sg_loop *l, sg_ltimer *t);

/* work(arg) on a pool thread, then done(arg) on the loop thread. */
int sg_loop_queue_work(sg_loop *l, sg_fn work, sg_fn done, void *arg);
/* Thread-safe: fn(arg) on the loop thread. */
int sg_loop_post(sg_loop *l, sg_fn fn, void *arg);

uint64_t sg_now_ms(void);
size_t sg_loop_timer_count(const sg_loop *l);

#endif
