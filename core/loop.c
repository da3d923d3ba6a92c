/* loop.c — epoll + min-heap timers + thread pool + eventfd post queue. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct sg_io {
    sg_loop *loop;
    int fd;
    uint32_t events;
    sg_io_cb cb;
    void *arg;
    bool dead;
    sg_io *next_dead;
};

struct sg_ltimer {
    uint64_t due;
    uint64_t seq;
    sg_fn cb;
    void *arg;
    size_t idx; /* position in the heap */
};

struct job {
    sg_fn fn, done;
    void *arg;
    struct job *next;
};

struct jobq {
    struct job *head, *tail;
};

struct sg_loop {
    int epfd;
    int wakefd; /* eventfd: posts and finished work */
    bool stop;
    sg_fn after;
    void *after_arg;
    sg_io *dead;
    sg_io wake_io;
    /* timers: binary min-heap */
    sg_ltimer **heap;
    size_t nheap, capheap;
    uint64_t seq;
    /* pool */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct jobq work;   /* pending work */
    struct jobq inbox;  /* posts + finished work, for the loop */
    bool pool_stop;
};

uint64_t sg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void q_push(struct jobq *q, struct job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static struct job *q_take_all(struct jobq *q)
{
    struct job *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static void wake(sg_loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r;
}

static void *pool_main(void *arg)
{
    sg_loop *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->work.head && !l->pool_stop)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->pool_stop)
            break;
        struct job *j = l->work.head;
        l->work.head = j->next;
        if (!l->work.head)
            l->work.tail = NULL;
        pthread_mutex_unlock(&l->mu);
        j->fn(j->arg);
        j->fn = NULL; /* marks "done part pending" */
        pthread_mutex_lock(&l->mu);
        q_push(&l->inbox, j);
        wake(l);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void run_inbox(int fd, uint32_t ev, void *arg)
{
    sg_loop *l = arg;
    uint64_t v;
    ssize_t r = read(l->wakefd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&l->mu);
    struct job *j = q_take_all(&l->inbox);
    pthread_mutex_unlock(&l->mu);
    while (j) {
        struct job *next = j->next;
        if (j->done)
            j->done(j->arg);
        free(j);
        j = next;
    }
}

sg_loop *sg_loop_new(int pool_threads)
{
    sg_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (l->epfd < 0 || l->wakefd < 0)
        goto fail;
    l->wake_io = (sg_io){.loop = l, .fd = l->wakefd, .events = EPOLLIN, .cb = run_inbox, .arg = l};
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &l->wake_io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e) < 0)
        goto fail;
    l->nthreads = pool_threads > 0 ? pool_threads : 2;
    l->threads = calloc((size_t)l->nthreads, sizeof(pthread_t));
    if (!l->threads)
        goto fail;
    for (int i = 0; i < l->nthreads; i++)
        if (pthread_create(&l->threads[i], NULL, pool_main, l) != 0) {
            l->nthreads = i;
            goto fail;
        }
    return l;
fail:
    sg_loop_free(l);
    return NULL;
}

static void reap_dead(sg_loop *l)
{
    while (l->dead) {
        sg_io *n = l->dead->next_dead;
        free(l->dead);
        l->dead = n;
    }
}

void sg_loop_free(sg_loop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->pool_stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    free(l->threads);
    for (struct job *j = q_take_all(&l->work); j;) {
        struct job *n = j->next;
        free(j);
        j = n;
    }
    for (struct job *j = q_take_all(&l->inbox); j;) {
        struct job *n = j->next;
        free(j);
        j = n;
    }
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    reap_dead(l);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

void sg_loop_stop(sg_loop *l) { l->stop = true; }

void sg_loop_set_after(sg_loop *l, sg_fn fn, void *arg)
{
    l->after = fn;
    l->after_arg = arg;
}

sg_io *sg_io_add(sg_loop *l, int fd, uint32_t events, sg_io_cb cb, void *arg, bool exclusive)
{
    sg_io *io = calloc(1, sizeof(*io));
    if (!io)
        return NULL;
    *io = (sg_io){.loop = l, .fd = fd, .events = events, .cb = cb, .arg = arg};
    struct epoll_event e = {.events = events | (exclusive ? EPOLLEXCLUSIVE : 0), .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        free(io);
        return NULL;
    }
    return io;
}

int sg_io_mod(sg_io *io, uint32_t events)
{
    if (io->dead)
        return -1;
    if (io->events == events)
        return 0;
    struct epoll_event e = {.events = events, .data.ptr = io};
    if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &e) < 0)
        return -1;
    io->events = events;
    return 0;
}

uint32_t sg_io_events(const sg_io *io) { return io->events; }

void sg_io_del(sg_io *io)
{
    if (!io || io->dead)
        return;
    epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->dead = true;
    io->next_dead = io->loop->dead;
    io->loop->dead = io;
}

/* ---- timers ---------------------------------------------------------- */
static bool t_less(const sg_ltimer *a, const sg_ltimer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void h_swap(sg_loop *l, size_t i, size_t j)
{
    sg_ltimer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->idx = i;
    l->heap[j]->idx = j;
}

static void h_up(sg_loop *l, size_t i)
{
    while (i > 0 && t_less(l->heap[i], l->heap[(i - 1) / 2])) {
        h_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void h_down(sg_loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && t_less(l->heap[c], l->heap[m]))
            m = c;
        if (c + 1 < l->nheap && t_less(l->heap[c + 1], l->heap[m]))
            m = c + 1;
        if (m == i)
            return;
        h_swap(l, i, m);
        i = m;
    }
}

sg_ltimer *sg_timer_add(sg_loop *l, uint64_t ms, sg_fn cb, void *arg)
{
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        sg_ltimer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            return NULL;
        l->heap = h;
        l->capheap = cap;
    }
    sg_ltimer *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    *t = (sg_ltimer){.due = sg_now_ms() + ms, .seq = ++l->seq, .cb = cb, .arg = arg,
                     .idx = l->nheap};
    l->heap[l->nheap++] = t;
    h_up(l, t->idx);
    return t;
}

void sg_timer_cancel(sg_loop *l, sg_ltimer *t)
{
    if (!t)
        return;
    size_t i = t->idx;
    if (i >= l->nheap || l->heap[i] != t)
        return; /* already fired: a bug in the caller, ignore */
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        h_down(l, i);
        h_up(l, i);
    }
    free(t);
}

size_t sg_loop_timer_count(const sg_loop *l) { return l->nheap; }

static void run_timers(sg_loop *l)
{
    uint64_t now = sg_now_ms();
    int budget = 1024;
    while (l->nheap && l->heap[0]->due <= now && budget-- > 0) {
        sg_ltimer *t = l->heap[0];
        l->nheap--;
        if (l->nheap) {
            l->heap[0] = l->heap[l->nheap];
            l->heap[0]->idx = 0;
            h_down(l, 0);
        }
        sg_fn cb = t->cb;
        void *arg = t->arg;
        free(t);
        cb(arg);
    }
}

/* ---- work and post ------------------------------------------------------ */
int sg_loop_queue_work(sg_loop *l, sg_fn work, sg_fn done, void *arg)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->fn = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&l->mu);
    q_push(&l->work, j);
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int sg_loop_post(sg_loop *l, sg_fn fn, void *arg)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->done = fn;
    j->arg = arg;
    pthread_mutex_lock(&l->mu);
    q_push(&l->inbox, j);
    wake(l);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

/* ---- run ---------------------------------------------------------------- */
int sg_loop_run(sg_loop *l)
{
    struct epoll_event evs[128];
    l->stop = false;
    while (!l->stop) {
        int timeout = -1;
        if (l->nheap) {
            uint64_t now = sg_now_ms(), due = l->heap[0]->due;
            timeout = due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
        }
        int n = epoll_wait(l->epfd, evs, 128, timeout);
        if (n < 0 && errno != EINTR) {
            SG_ERR(0, "epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            sg_io *io = evs[i].data.ptr;
            if (io->dead)
                continue;
            io->cb(io->fd, evs[i].events, io->arg);
        }
        run_timers(l);
        if (l->after)
            l->after(l->after_arg);
        reap_dead(l);
    }
    return 0;
}
