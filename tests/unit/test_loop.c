/* Unit tests for lib/loop: timers in deadline order and cancellation, posts from other
 * threads run in order on the loop thread, fd readiness, and "mark then reap" (a
 * callback may unwatch its own watch and another one of the same batch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/loop.h"

static void count_timer(struct loop *l, void *userdata)
{
    int *n = userdata;
    if (++*n == 3)
        loop_stop(l);
}

static void test_loop_timers_fire_in_order_and_cancel(void **state)
{
    (void)state;
    struct loop *l;
    struct bosun_err err = {0};
    assert_int_equal(loop_new(&l, &err), 0);
    int n = 0, never = 0;
    loop_timer(l, 30, count_timer, &n);
    loop_timer(l, 10, count_timer, &n);
    int64_t id = loop_timer(l, 20, count_timer, &never);
    loop_timer(l, 40, count_timer, &n);
    loop_timer_cancel(l, id);
    loop_timer_cancel(l, 12345); /* unknown ids are ignored */
    assert_int_equal(loop_run(l, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(never, 0);
    loop_free(l);
}

struct posts {
    struct loop *l;
    pthread_t loop_thread;
    int seen[8];
    int n;
    int wrong_thread;
};

struct post_arg {
    struct posts *p;
    int value;
};

static struct post_arg args[8];

static void on_post(struct loop *l, void *userdata)
{
    struct post_arg *a = userdata;
    if (!pthread_equal(pthread_self(), a->p->loop_thread))
        a->p->wrong_thread++;
    a->p->seen[a->p->n++] = a->value;
    if (a->p->n == 8)
        loop_stop(l);
}

static void *poster(void *arg)
{
    struct posts *p = arg;
    for (int i = 0; i < 8; i++) {
        args[i].p = p;
        args[i].value = i;
        assert_int_equal(loop_post(p->l, on_post, &args[i]), 0);
    }
    return NULL;
}

static void test_loop_posts_from_another_thread_run_in_order_on_the_loop(void **state)
{
    (void)state;
    struct posts p = {0};
    struct bosun_err err = {0};
    assert_int_equal(loop_new(&p.l, &err), 0);
    p.loop_thread = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, poster, &p);
    assert_int_equal(loop_run(p.l, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(p.n, 8);
    assert_int_equal(p.wrong_thread, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(p.seen[i], i);
    loop_free(p.l);
}

/* Two pipes ready in the same batch: whichever callback runs first unwatches both
 * watches; the other must not run (and nothing is used after free: ASan checks). */
struct pair {
    struct loop *l;
    struct loop_watch *w[2];
    int fds[2][2];
    int calls;
};

static void on_ready(struct loop *l, int fd, uint32_t events, void *userdata)
{
    struct pair *p = userdata;
    (void)fd;
    assert_true(events & EPOLLIN);
    p->calls++;
    loop_unwatch(l, p->w[0]);
    loop_unwatch(l, p->w[1]);
    loop_unwatch(l, p->w[0]); /* twice is harmless */
    loop_stop(l);
}

static void test_loop_unwatch_inside_a_batch_stops_the_other_callbacks(void **state)
{
    (void)state;
    struct pair p = {0};
    struct bosun_err err = {0};
    assert_int_equal(loop_new(&p.l, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(p.fds[i]), 0);
        p.w[i] = loop_watch(p.l, p.fds[i][0], EPOLLIN, on_ready, &p, &err);
        assert_non_null(p.w[i]);
        assert_int_equal(write(p.fds[i][1], "x", 1), 1);
    }
    assert_int_equal(loop_run(p.l, &err), 0);
    assert_int_equal(p.calls, 1);
    loop_free(p.l);
    for (int i = 0; i < 2; i++) {
        close(p.fds[i][0]);
        close(p.fds[i][1]);
    }
}

static int sleeps;

static void before_sleep(struct loop *l, void *userdata)
{
    (void)userdata;
    if (++sleeps == 2)
        loop_stop(l);
}

static void noop(struct loop *l, void *userdata)
{
    (void)l;
    (void)userdata;
}

static void stop_timer(struct loop *l, void *userdata)
{
    (void)userdata;
    loop_stop(l);
}

static void test_loop_before_sleep_runs_once_per_iteration(void **state)
{
    (void)state;
    struct loop *l;
    struct bosun_err err = {0};
    assert_int_equal(loop_new(&l, &err), 0);
    loop_set_before_sleep(l, before_sleep, NULL);
    loop_timer(l, 0, noop, NULL);
    loop_timer(l, 30, noop, NULL);
    loop_timer(l, 2000, stop_timer, NULL); /* a safety net, should not be needed */
    assert_int_equal(loop_run(l, &err), 0);
    assert_int_equal(sleeps, 2);
    loop_free(l);
    loop_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_timers_fire_in_order_and_cancel),
        cmocka_unit_test(test_loop_posts_from_another_thread_run_in_order_on_the_loop),
        cmocka_unit_test(test_loop_unwatch_inside_a_batch_stops_the_other_callbacks),
        cmocka_unit_test(test_loop_before_sleep_runs_once_per_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
