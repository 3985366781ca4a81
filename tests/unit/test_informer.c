/* Unit tests for lib/informer (against an in-test list+watch server) and lib/backoff.
 *
 * The server below is a protocol fixture: a map of pods, a resourceVersion counter,
 * lists, and one watch stream at a time that the test feeds events to (or expires). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/backoff.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/informer.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"

struct fixture {
    struct httpd *srv;
    struct httpc *cli;
    pthread_mutex_t mu;
    json_t *pods; /* name -> pod */
    long long rv;
    int lists;
    int watches;
    int list_status; /* what lists answer: 200, or an error to force back-off */
    char last_watch_rv[32];
    char last_label_selector[128];
    struct httpd_stream *watch; /* the open watch, or NULL */
    /* what the informer's handlers saw */
    char log[4096];
    int updates_same; /* on_update calls with old == new (resyncs) */
};

static void log_event(struct fixture *f, const char *what, const json_t *obj)
{
    pthread_mutex_lock(&f->mu);
    size_t n = strlen(f->log);
    snprintf(f->log + n, sizeof(f->log) - n, "%s:%s ", what,
             jsonx_get_str(obj, "metadata.name"));
    pthread_mutex_unlock(&f->mu);
}

static void on_add(const json_t *obj, void *ud)
{
    log_event(ud, "add", obj);
}

static void on_update(const json_t *o, const json_t *n, void *ud)
{
    struct fixture *f = ud;
    if (o == n) {
        pthread_mutex_lock(&f->mu);
        f->updates_same++;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    log_event(ud, "update", n);
}

static void on_delete(const json_t *obj, void *ud)
{
    log_event(ud, "delete", obj);
}

static json_t *make_pod(struct fixture *f, const char *name, const char *phase)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", ++f->rv);
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "Pod",
                     "metadata", "name", name, "namespace", "default", "resourceVersion", rv,
                     "status", "phase", phase);
}

static void stream_closed(struct httpd_stream *s, void *ud)
{
    struct fixture *f = ud;
    pthread_mutex_lock(&f->mu);
    if (f->watch == s)
        f->watch = NULL;
    pthread_mutex_unlock(&f->mu);
}

/* Sends one watch event on the open stream (caller holds f->mu). */
static void send_event_locked(struct fixture *f, const char *type, json_t *obj)
{
    if (!f->watch)
        return;
    json_t *ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
    char *s = jsonx_dumps(ev);
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    memcpy(line, s, n);
    line[n] = '\n';
    httpd_stream_write(f->watch, line, n + 1);
    free(line);
    free(s);
    json_decref(ev);
}

static void handler(struct httpd_req *req, void *ud)
{
    struct fixture *f = ud;
    if (strcmp(httpd_path(req), "/api/v1/namespaces/default/pods") != 0) {
        httpd_respond(req, 404, "text/plain", "no", 2);
        return;
    }
    const char *watch = httpd_query(req, "watch");
    const char *ls = httpd_query(req, "labelSelector");
    pthread_mutex_lock(&f->mu);
    snprintf(f->last_label_selector, sizeof(f->last_label_selector), "%s", ls ? ls : "");
    if (watch && strcmp(watch, "true") == 0) {
        f->watches++;
        const char *rv = httpd_query(req, "resourceVersion");
        snprintf(f->last_watch_rv, sizeof(f->last_watch_rv), "%s", rv ? rv : "");
        pthread_mutex_unlock(&f->mu);
        struct httpd_stream *s =
            httpd_stream_start(req, 200, "application/json", stream_closed, f);
        pthread_mutex_lock(&f->mu);
        f->watch = s;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    f->lists++;
    if (f->list_status != 200) {
        pthread_mutex_unlock(&f->mu);
        httpd_respond(req, f->list_status, "application/json", "{}", 2);
        return;
    }
    json_t *items = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(f->pods, k, v)
    {
        json_array_append(items, v);
    }
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", f->rv);
    json_t *list = json_pack("{s:s,s:s,s:{s:s},s:o}", "apiVersion", "v1", "kind", "PodList",
                             "metadata", "resourceVersion", rv, "items", items);
    pthread_mutex_unlock(&f->mu);
    httpd_respond_json(req, 200, list);
    json_decref(list);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->pods = json_object();
    f->list_status = 200;
    json_object_set_new(f->pods, "a", make_pod(f, "a", "Pending"));
    json_object_set_new(f->pods, "b", make_pod(f, "b", "Running"));
    struct httpd_opts o = {.listen = "127.0.0.1:0", .threads = 2};
    struct bosun_err err = {0};
    if (httpd_start(&o, handler, f, &f->srv, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", httpd_port(f->srv));
    if (httpc_new(url, NULL, &f->cli, &err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    httpd_stop(f->srv);
    httpc_free(f->cli);
    json_decref(f->pods);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static struct informer *start(struct fixture *f, int64_t resync_ms, const char *ls)
{
    struct informer_opts o = {
        .client = f->cli,
        .path = "/api/v1/namespaces/default/pods",
        .label_selector = ls,
        .resync_ms = resync_ms,
        .handlers = {on_add, on_update, on_delete, f},
    };
    struct informer *inf = NULL;
    struct bosun_err err = {0};
    assert_int_equal(informer_start(&o, &inf, &err), 0);
    return inf;
}

/* Waits until the handler log contains every word of want (in any order). */
static bool log_has(struct fixture *f, const char *want, int64_t timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        bool all = true;
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", want);
        pthread_mutex_lock(&f->mu);
        for (char *save = NULL, *w = strtok_r(copy, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
            char needle[64];
            snprintf(needle, sizeof(needle), "%s ", w);
            if (!strstr(f->log, needle))
                all = false;
        }
        pthread_mutex_unlock(&f->mu);
        if (all)
            return true;
        if (time_mono_ms() > deadline) {
            fprintf(stderr, "log: %s\nwanted: %s\n", f->log, want);
            return false;
        }
        usleep(10 * 1000);
    }
}

static bool wait_watch(struct fixture *f, int nth, int64_t timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        bool ok = f->watches >= nth && f->watch;
        pthread_mutex_unlock(&f->mu);
        if (ok)
            return true;
        if (time_mono_ms() > deadline)
            return false;
        usleep(10 * 1000);
    }
}

static void test_informer_initial_list_calls_on_add(void **state)
{
    struct fixture *f = *state;
    struct informer *inf = start(f, 0, "app in (web,db),tier!=x");
    assert_int_equal(informer_wait_synced(inf, 5000), 0);
    assert_true(informer_synced(inf));
    assert_true(log_has(f, "add:a add:b", 2000));
    json_t *a = informer_get(inf, "default", "a");
    assert_non_null(a);
    assert_string_equal(jsonx_get_str(a, "status.phase"), "Pending");
    json_decref(a);
    assert_null(informer_get(inf, "default", "zzz"));
    json_t *all = informer_list(inf);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    /* The selector reached the server intact (escaped by the informer, decoded by httpd),
     * and the watch starts at the list's resourceVersion. */
    assert_true(wait_watch(f, 1, 5000));
    pthread_mutex_lock(&f->mu);
    assert_string_equal(f->last_label_selector, "app in (web,db),tier!=x");
    assert_string_equal(f->last_watch_rv, "2");
    pthread_mutex_unlock(&f->mu);
    informer_stop(inf);
}

static void test_informer_applies_watch_events(void **state)
{
    struct fixture *f = *state;
    struct informer *inf = start(f, 0, NULL);
    assert_true(wait_watch(f, 1, 5000));
    pthread_mutex_lock(&f->mu);
    json_t *a2 = make_pod(f, "a", "Running");
    json_object_set_new(f->pods, "a", json_incref(a2));
    send_event_locked(f, "MODIFIED", a2);
    json_decref(a2);
    json_t *b = json_incref(json_object_get(f->pods, "b"));
    json_object_del(f->pods, "b");
    send_event_locked(f, "DELETED", b);
    json_decref(b);
    json_t *c = make_pod(f, "c", "Pending");
    json_object_set_new(f->pods, "c", json_incref(c));
    send_event_locked(f, "ADDED", c);
    json_decref(c);
    pthread_mutex_unlock(&f->mu);
    assert_true(log_has(f, "add:a add:b update:a delete:b add:c", 3000));
    json_t *a = informer_get(inf, "default", "a");
    assert_string_equal(jsonx_get_str(a, "status.phase"), "Running");
    json_decref(a);
    assert_null(informer_get(inf, "default", "b"));
    json_t *cc = informer_get(inf, "default", "c");
    assert_non_null(cc);
    json_decref(cc);
    informer_stop(inf);
}

static void test_informer_relists_after_410_and_emits_diff(void **state)
{
    struct fixture *f = *state;
    struct informer *inf = start(f, 0, NULL);
    assert_true(wait_watch(f, 1, 5000));
    assert_true(log_has(f, "add:a add:b", 2000));
    pthread_mutex_lock(&f->mu);
    /* Changes the watch never reports ... */
    json_object_set_new(f->pods, "a", make_pod(f, "a", "Failed"));
    json_object_del(f->pods, "b");
    json_object_set_new(f->pods, "d", make_pod(f, "d", "Pending"));
    /* ... then the history is gone. */
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion",
                           "v1", "metadata", "status", "Failure", "message",
                           "too old resource version: 2 (5)", "reason", "Expired", "code", 410);
    send_event_locked(f, "ERROR", st);
    json_decref(st);
    httpd_stream_close(f->watch);
    pthread_mutex_unlock(&f->mu);
    assert_true(log_has(f, "update:a delete:b add:d", 3000));
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->lists, 2);
    pthread_mutex_unlock(&f->mu);
    assert_true(wait_watch(f, 2, 3000));
    pthread_mutex_lock(&f->mu);
    char want[32];
    snprintf(want, sizeof(want), "%lld", f->rv);
    assert_string_equal(f->last_watch_rv, want);
    pthread_mutex_unlock(&f->mu);
    json_t *a = informer_get(inf, "default", "a");
    assert_string_equal(jsonx_get_str(a, "status.phase"), "Failed");
    json_decref(a);
    informer_stop(inf);
}

static void test_informer_rewatches_from_bookmark_after_stream_end(void **state)
{
    struct fixture *f = *state;
    struct informer *inf = start(f, 0, NULL);
    assert_true(wait_watch(f, 1, 5000));
    pthread_mutex_lock(&f->mu);
    json_t *bm = json_pack("{s:s,s:s,s:{s:s}}", "kind", "Pod", "apiVersion", "v1", "metadata",
                           "resourceVersion", "77");
    send_event_locked(f, "BOOKMARK", bm);
    json_decref(bm);
    httpd_stream_close(f->watch);
    pthread_mutex_unlock(&f->mu);
    assert_true(wait_watch(f, 2, 3000));
    pthread_mutex_lock(&f->mu);
    assert_string_equal(f->last_watch_rv, "77");
    assert_int_equal(f->lists, 1); /* a clean end is resumed, not relisted */
    pthread_mutex_unlock(&f->mu);
    informer_stop(inf);
}

static void test_informer_resync_calls_update_for_every_object(void **state)
{
    struct fixture *f = *state;
    struct informer *inf = start(f, 150, NULL);
    assert_true(wait_watch(f, 1, 5000));
    usleep(500 * 1000); /* idle watch: resyncs still happen */
    pthread_mutex_lock(&f->mu);
    int same = f->updates_same;
    pthread_mutex_unlock(&f->mu);
    assert_true(same >= 4); /* 2 objects x at least 2 resyncs */
    informer_stop(inf);
}

static void test_informer_stop_returns_promptly(void **state)
{
    struct fixture *f = *state;
    /* During an idle watch. */
    struct informer *inf = start(f, 0, NULL);
    assert_true(wait_watch(f, 1, 5000));
    int64_t t0 = time_mono_ms();
    informer_stop(inf);
    assert_true(time_mono_ms() - t0 < 500);
    /* During back-off after failed lists. */
    pthread_mutex_lock(&f->mu);
    f->list_status = 500;
    pthread_mutex_unlock(&f->mu);
    inf = start(f, 0, NULL);
    assert_int_equal(informer_wait_synced(inf, 300), -ETIMEDOUT);
    t0 = time_mono_ms();
    informer_stop(inf);
    assert_true(time_mono_ms() - t0 < 500);
}

static void test_informer_relists_after_server_error_with_backoff(void **state)
{
    struct fixture *f = *state;
    pthread_mutex_lock(&f->mu);
    f->list_status = 503;
    pthread_mutex_unlock(&f->mu);
    struct informer *inf = start(f, 0, NULL);
    usleep(200 * 1000);
    assert_false(informer_synced(inf));
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->lists, 1); /* backing off, not hammering */
    f->list_status = 200;
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(informer_wait_synced(inf, 3000), 0);
    assert_true(log_has(f, "add:a add:b", 1000));
    informer_stop(inf);
}

static void test_backoff_doubles_to_max_and_resets(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 10000, 300000); /* the nodeagent's container restarts */
    int64_t want[] = {10000, 20000, 40000, 80000, 160000, 300000, 300000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(backoff_next(&b), want[i]);
    backoff_reset(&b);
    assert_int_equal(backoff_peek(&b), 10000);
    assert_int_equal(backoff_next(&b), 10000);
    backoff_init(&b, 0, -5);
    assert_int_equal(backoff_next(&b), 1);
    assert_int_equal(backoff_next(&b), 1);
    backoff_init(&b, INT64_MAX / 2 + 1, INT64_MAX);
    backoff_next(&b);
    assert_int_equal(backoff_next(&b), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_informer_initial_list_calls_on_add, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_informer_applies_watch_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_informer_relists_after_410_and_emits_diff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_informer_rewatches_from_bookmark_after_stream_end,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_informer_resync_calls_update_for_every_object,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_informer_stop_returns_promptly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_informer_relists_after_server_error_with_backoff,
                                        setup, teardown),
        cmocka_unit_test(test_backoff_doubles_to_max_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
