#include "lib/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/timeutil.h"

#define LOOP_MAX_EVENTS 256

struct loop_watch {
    int fd;
    uint32_t events;
    bool dead;
    loop_fd_fn fn;
    void *userdata;
    struct loop_watch *next; /* all live watches, or the graveyard */
    struct loop_watch *prev;
};

struct post {
    loop_fn fn;
    void *userdata;
    struct post *next;
};

struct timer {
    int64_t id;
    int64_t deadline;
    loop_fn fn;
    void *userdata;
    struct timer *next; /* sorted by deadline */
};

struct loop {
    int epfd;
    int evfd;
    volatile int stop; /* written under mu, read by the loop thread */
    pthread_mutex_t mu;
    struct post *posts_head, *posts_tail;
    struct loop_watch *watches; /* live */
    struct loop_watch *graveyard;
    struct timer *timers;
    int64_t next_timer_id;
    loop_fn before_sleep;
    void *before_sleep_ud;
};

int loop_new(struct loop **out, struct bosun_err *err)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, -ENOMEM, "loop: out of memory");
    l->epfd = -1;
    l->evfd = -1;
    int r;
    pthread_mutex_init(&l->mu, NULL);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        r = err_errno(err, -errno, "loop: epoll_create1");
        goto fail;
    }
    l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->evfd < 0) {
        r = err_errno(err, -errno, "loop: eventfd");
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) < 0) {
        r = err_errno(err, -errno, "loop: epoll_ctl eventfd");
        goto fail;
    }
    *out = l;
    return 0;
fail:
    loop_free(l);
    return r;
}

static void free_watch_list(struct loop_watch *w)
{
    while (w) {
        struct loop_watch *n = w->next;
        free(w);
        w = n;
    }
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    free_watch_list(l->watches);
    free_watch_list(l->graveyard);
    for (struct post *p = l->posts_head; p;) {
        struct post *n = p->next;
        free(p);
        p = n;
    }
    for (struct timer *t = l->timers; t;) {
        struct timer *n = t->next;
        free(t);
        t = n;
    }
    if (l->evfd >= 0)
        close(l->evfd);
    if (l->epfd >= 0)
        close(l->epfd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void wake(struct loop *l)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop wakes anyway. */
    ssize_t n = write(l->evfd, &one, sizeof(one));
    (void)n;
}

void loop_stop(struct loop *l)
{
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    wake(l);
}

int loop_post(struct loop *l, loop_fn fn, void *userdata)
{
    struct post *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->fn = fn;
    p->userdata = userdata;
    pthread_mutex_lock(&l->mu);
    if (l->posts_tail)
        l->posts_tail->next = p;
    else
        l->posts_head = p;
    l->posts_tail = p;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    return 0;
}

struct loop_watch *loop_watch(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
                              void *userdata, struct bosun_err *err)
{
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        err_set(err, -ENOMEM, "loop: out of memory");
        return NULL;
    }
    w->fd = fd;
    w->events = events;
    w->fn = fn;
    w->userdata = userdata;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        err_errno(err, -errno, "loop: epoll_ctl add fd %d", fd);
        free(w);
        return NULL;
    }
    w->next = l->watches;
    if (l->watches)
        l->watches->prev = w;
    l->watches = w;
    return w;
}

int loop_watch_set(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->dead)
        return -EBADF;
    if (w->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_unwatch(struct loop *l, struct loop_watch *w)
{
    if (!w || w->dead)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = NULL;
    w->next = l->graveyard;
    l->graveyard = w;
}

int64_t loop_timer(struct loop *l, int64_t ms, loop_fn fn, void *userdata)
{
    struct timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->id = ++l->next_timer_id;
    t->deadline = time_mono_ms() + (ms < 0 ? 0 : ms);
    t->fn = fn;
    t->userdata = userdata;
    struct timer **pp = &l->timers;
    while (*pp && (*pp)->deadline <= t->deadline)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    return t->id;
}

void loop_timer_cancel(struct loop *l, int64_t id)
{
    for (struct timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct timer *t = *pp;
            *pp = t->next;
            free(t);
            return;
        }
    }
}

void loop_set_before_sleep(struct loop *l, loop_fn fn, void *userdata)
{
    l->before_sleep = fn;
    l->before_sleep_ud = userdata;
}

static void run_posts(struct loop *l)
{
    uint64_t v;
    ssize_t n = read(l->evfd, &v, sizeof(v));
    (void)n;
    pthread_mutex_lock(&l->mu);
    struct post *p = l->posts_head;
    l->posts_head = l->posts_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (p) {
        struct post *next = p->next;
        p->fn(l, p->userdata);
        free(p);
        p = next;
    }
}

static void run_timers(struct loop *l)
{
    int64_t now = time_mono_ms();
    /* Timers added by a callback with 0 ms run on the next iteration, not in this one,
     * so a timer that re-arms itself cannot starve the loop. */
    int64_t last_id = l->next_timer_id;
    while (l->timers && l->timers->deadline <= now && l->timers->id <= last_id) {
        struct timer *t = l->timers;
        l->timers = t->next;
        loop_fn fn = t->fn;
        void *ud = t->userdata;
        free(t);
        fn(l, ud);
    }
}

static int next_timeout(struct loop *l)
{
    if (!l->timers)
        return -1;
    int64_t d = l->timers->deadline - time_mono_ms();
    if (d < 0)
        return 0;
    return d > 60000 ? 60000 : (int)d;
}

int loop_run(struct loop *l, struct bosun_err *err)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_timeout(l));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_errno(err, -errno, "loop: epoll_wait");
        }
        bool posted = false;
        for (int i = 0; i < n; i++) {
            struct loop_watch *w = evs[i].data.ptr;
            if (!w) {
                posted = true;
                continue;
            }
            if (w->dead)
                continue; /* unwatched earlier in this batch */
            w->fn(l, w->fd, evs[i].events, w->userdata);
        }
        run_timers(l);
        if (posted)
            run_posts(l);
        if (l->before_sleep)
            l->before_sleep(l, l->before_sleep_ud);
        free_watch_list(l->graveyard);
        l->graveyard = NULL;
    }
    pthread_mutex_lock(&l->mu);
    l->stop = 0;
    pthread_mutex_unlock(&l->mu);
    return 0;
}
