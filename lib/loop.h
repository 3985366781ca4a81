/* loop — a small single-threaded epoll event loop (in the spirit of redis' ae).
 *
 * Everything registered with a loop runs on the thread that calls loop_run():
 * fd callbacks, timers and posted functions. The only functions that may be called from
 * other threads are loop_post() and loop_stop().
 *
 * Watches are "mark then reap": loop_unwatch() deregisters the fd at once, but the
 * watch itself is freed only after the current batch of events has been dispatched, so a
 * callback may unwatch any watch (its own included) without another event of the same
 * batch touching freed memory. Owners of per-connection state use the same pattern: mark
 * inside callbacks, free from a before-sleep hook (loop_set_before_sleep). */
#ifndef BOSUN_LOOP_H
#define BOSUN_LOOP_H

#include <stdint.h>

#include "lib/err.h"

struct loop;
struct loop_watch;

/* events: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP as delivered by epoll. */
typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *userdata);
typedef void (*loop_fn)(struct loop *l, void *userdata);

/* Creates a loop (an epoll fd and an eventfd for posts). *out owned by the caller. */
int loop_new(struct loop **out, struct bosun_err *err);

/* Frees the loop. Must not be running. Posted functions not yet run are dropped (their
 * userdata is not freed: posters that pass owned data must drain with run first). Watches
 * still registered are freed; their fds are not closed. NULL allowed. */
void loop_free(struct loop *l);

/* Runs until loop_stop(). Returns 0, or a negative code if epoll_wait fails. */
int loop_run(struct loop *l, struct bosun_err *err);

/* Makes loop_run return after the current iteration. Thread-safe. */
void loop_stop(struct loop *l);

/* Queues fn(l, userdata) to run on the loop thread, in order. Thread-safe. Returns 0 or
 * -ENOMEM. */
int loop_post(struct loop *l, loop_fn fn, void *userdata);

/* Registers fd (level-triggered) for events (EPOLLIN|EPOLLOUT, may be 0). The returned
 * watch is owned by the loop; release it with loop_unwatch. The fd stays the
 * caller's. NULL with err on failure. */
struct loop_watch *loop_watch(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
                              void *userdata, struct bosun_err *err);

/* Changes the events a watch waits for (no system call when unchanged). 0 or -errno. */
int loop_watch_set(struct loop *l, struct loop_watch *w, uint32_t events);

/* Deregisters the watch; no callback for it runs after this returns. It is freed after
 * the current batch. The caller may close the fd right after. NULL allowed. */
void loop_unwatch(struct loop *l, struct loop_watch *w);

/* One-shot timer: fn runs on the loop thread after ms milliseconds. Returns an id > 0, or
 * a negative code. */
int64_t loop_timer(struct loop *l, int64_t ms, loop_fn fn, void *userdata);
/* Cancels a timer that has not fired; unknown ids are ignored. */
void loop_timer_cancel(struct loop *l, int64_t id);

/* fn runs once per iteration after the batch of events, timers and posts, before the loop
 * sleeps again: the place to free what callbacks marked dead. One hook per loop. */
void loop_set_before_sleep(struct loop *l, loop_fn fn, void *userdata);

#endif
