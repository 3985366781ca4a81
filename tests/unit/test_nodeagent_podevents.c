/* Unit tests for nodeagent/podevents: the queue between the pod loop and the API. Events
 * are posted by the queue's thread to a fake API server on loopback; recording never
 * waits for the server; events about a static pod wait for its mirror pod; a full queue
 * drops its oldest events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/events.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"
#include "nodeagent/podevents.h"

struct fake {
    pthread_mutex_t mu;
    int delay_ms;  /* each request takes this long */
    json_t *posts; /* the Event objects POSTed, in order */
};

static void handler(struct httpd_req *req, void *ud)
{
    struct fake *f = ud;
    size_t len;
    const char *body = httpd_body(req, &len);
    json_t *j = jsonx_loadb(body, len, NULL);
    pthread_mutex_lock(&f->mu);
    int delay = f->delay_ms;
    if (j && strcmp(httpd_method(req), "POST") == 0)
        json_array_append(f->posts, j);
    pthread_mutex_unlock(&f->mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    httpd_respond_json(req, 201, j ? j : json_object());
    json_decref(j);
}

/* The resolver: API pods go as they are, a static pod once its mirror exists (`mirror`
 * set; the apisync one looks in its informer), named by a copy to tell them apart. */
struct world {
    atomic_int mirror;
};

static json_t *resolve(const json_t *pod, const char *source, void *ud)
{
    struct world *w = ud;
    if (strcmp(source, "api") == 0)
        return json_incref((json_t *)pod);
    if (!atomic_load(&w->mirror))
        return NULL;
    return json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", jsonx_get_str(pod, "metadata.name"),
                     "namespace", jsonx_get_str(pod, "metadata.namespace"), "uid", "resolved-uid");
}

struct rig {
    struct fake f;
    struct world w;
    struct httpd *srv;
    struct httpc *client;
    struct events *recorder;
    struct podevents *pe;
};

static void rig_start(struct rig *r, size_t capacity, int64_t hold_ms)
{
    struct bosun_err err = {0};
    struct httpd_opts o = {.listen = "127.0.0.1:0", .threads = 2};
    char url[64];
    pthread_mutex_init(&r->f.mu, NULL);
    r->f.posts = json_array();
    assert_int_equal(httpd_start(&o, handler, &r->f, &r->srv, &err), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", httpd_port(r->srv));
    assert_int_equal(httpc_new_token(url, NULL, &r->client, &err), 0);
    assert_int_equal(events_new(r->client, "kubelet", &r->recorder, &err), 0);
    assert_int_equal(events_set_host(r->recorder, "node-1", &err), 0);
    events_set_timeout(r->recorder, 2000);
    struct podevents_config pc = {.recorder = r->recorder,
                                  .resolve = resolve,
                                  .userdata = &r->w,
                                  .capacity = capacity,
                                  .hold_ms = hold_ms};
    assert_int_equal(podevents_start(&pc, &r->pe, &err), 0);
}

static void rig_stop(struct rig *r, int64_t flush_ms)
{
    podevents_stop(r->pe, flush_ms);
    events_free(r->recorder);
    httpc_free(r->client);
    httpd_stop(r->srv);
    json_decref(r->f.posts);
    pthread_mutex_destroy(&r->f.mu);
}

static size_t nposts(struct rig *r)
{
    pthread_mutex_lock(&r->f.mu);
    size_t n = json_array_size(r->f.posts);
    pthread_mutex_unlock(&r->f.mu);
    return n;
}

/* The message of POST i (copied into buf). */
static const char *post_field(struct rig *r, size_t i, const char *path, char *buf, size_t len)
{
    pthread_mutex_lock(&r->f.mu);
    snprintf(buf, len, "%s", jsonx_get_str(json_array_get(r->f.posts, i), path) ?: "");
    pthread_mutex_unlock(&r->f.mu);
    return buf;
}

static int wait_posts(struct rig *r, size_t n, int64_t ms)
{
    int64_t until = time_mono_ms() + ms;
    while (nposts(r) < n && time_mono_ms() < until)
        usleep(10000);
    return nposts(r) >= n;
}

static json_t *a_pod(const char *name, const char *uid)
{
    return json_pack("{s:{s:s,s:s,s:s,s:s},s:{s:[{s:s}]}}", "metadata", "name", name, "namespace",
                     "default", "uid", uid, "resourceVersion", "7", "spec", "containers", "name",
                     "c");
}

static void test_podevents_posts_as_the_kubelet_of_the_node(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_start(&r, 0, 0);
    json_t *pod = a_pod("web", "u-1");
    podevents_record(r.pe, pod, "api", "spec.containers{c}", "Normal", "Started",
                     "Started container c");
    podevents_record(r.pe, pod, "api", NULL, "Warning", "FailedCreatePodSandBox",
                     "Failed to create pod sandbox: cni: boom");
    assert_true(wait_posts(&r, 2, 5000));
    char b[256];
    assert_string_equal(post_field(&r, 0, "reason", b, sizeof b), "Started");
    assert_string_equal(post_field(&r, 0, "message", b, sizeof b), "Started container c");
    assert_string_equal(post_field(&r, 0, "type", b, sizeof b), "Normal");
    assert_string_equal(post_field(&r, 0, "source.component", b, sizeof b), "kubelet");
    assert_string_equal(post_field(&r, 0, "source.host", b, sizeof b), "node-1");
    assert_string_equal(post_field(&r, 0, "involvedObject.kind", b, sizeof b), "Pod");
    assert_string_equal(post_field(&r, 0, "involvedObject.uid", b, sizeof b), "u-1");
    assert_string_equal(post_field(&r, 0, "involvedObject.resourceVersion", b, sizeof b), "7");
    assert_string_equal(post_field(&r, 0, "involvedObject.fieldPath", b, sizeof b),
                        "spec.containers{c}");
    assert_string_equal(post_field(&r, 1, "involvedObject.fieldPath", b, sizeof b), "");
    assert_string_equal(post_field(&r, 1, "reason", b, sizeof b), "FailedCreatePodSandBox");
    uint64_t posted = 0, dropped = 0;
    podevents_counts(r.pe, &posted, &dropped);
    assert_int_equal(posted, 2);
    assert_int_equal(dropped, 0);
    json_decref(pod);
    rig_stop(&r, 1000);
}

static void test_podevents_record_never_waits_for_a_slow_api(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_start(&r, 0, 0);
    r.f.delay_ms = 400;
    json_t *pod = a_pod("web", "u-1");
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < 100; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %d", i);
        podevents_record(r.pe, pod, "api", NULL, "Normal", "Pulled", msg);
    }
    int64_t took = time_mono_ms() - t0;
    assert_true(took < 200); /* 100 posts at 400 ms each would be 40 s */
    assert_true(wait_posts(&r, 1, 5000));
    /* Stopping gives the queue its flush time, not the time the whole queue needs. */
    t0 = time_mono_ms();
    rig_stop(&r, 500);
    assert_true(time_mono_ms() - t0 < 2500);
    json_decref(pod);
}

static void test_podevents_static_pod_events_wait_for_the_mirror(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_start(&r, 0, 0);
    json_t *pod = a_pod("static-node-1", "static-hash");
    podevents_record(r.pe, pod, "file", "spec.containers{c}", "Normal", "Pulled",
                     "Container image \"busybox:1.35\" already present on machine");
    usleep(800000);
    assert_int_equal(nposts(&r), 0); /* no mirror pod yet: nothing to name */
    atomic_store(&r.w.mirror, 1);
    assert_true(wait_posts(&r, 1, 5000));
    char b[256];
    assert_string_equal(post_field(&r, 0, "involvedObject.uid", b, sizeof b), "resolved-uid");
    assert_string_equal(post_field(&r, 0, "involvedObject.name", b, sizeof b), "static-node-1");
    assert_string_equal(post_field(&r, 0, "message", b, sizeof b),
                        "Container image \"busybox:1.35\" already present on machine");
    json_decref(pod);
    rig_stop(&r, 1000);
}

static void test_podevents_events_without_an_object_are_dropped_after_hold(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_start(&r, 0, 300);
    json_t *pod = a_pod("static-node-1", "static-hash");
    podevents_record(r.pe, pod, "file", NULL, "Normal", "Pulled", "x");
    uint64_t dropped = 0;
    for (int i = 0; i < 300 && dropped == 0; i++) {
        usleep(10000);
        podevents_counts(r.pe, NULL, &dropped);
    }
    assert_int_equal(dropped, 1);
    atomic_store(&r.w.mirror, 1); /* too late */
    usleep(700000);
    assert_int_equal(nposts(&r), 0);
    json_decref(pod);
    rig_stop(&r, 1000);
}

static void test_podevents_full_queue_drops_the_oldest(void **state)
{
    (void)state;
    struct rig r = {0};
    rig_start(&r, 4, 60000);
    json_t *pod = a_pod("static-node-1", "static-hash");
    for (int i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "e%d", i);
        podevents_record(r.pe, pod, "file", NULL, "Normal", "Pulled", msg);
    }
    uint64_t dropped = 0;
    for (int i = 0; i < 300 && dropped < 6; i++) {
        usleep(10000);
        podevents_counts(r.pe, NULL, &dropped);
    }
    assert_int_equal(dropped, 6);
    atomic_store(&r.w.mirror, 1);
    assert_true(wait_posts(&r, 4, 5000));
    char b[64];
    for (int i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof want, "e%d", i + 6);
        assert_string_equal(post_field(&r, (size_t)i, "message", b, sizeof b), want);
    }
    json_decref(pod);
    rig_stop(&r, 1000);
}

static void test_podevents_null_does_nothing(void **state)
{
    (void)state;
    json_t *pod = a_pod("web", "u-1");
    podevents_record(NULL, pod, "api", NULL, "Normal", "Pulled", "x");
    podevents_stop(NULL, 0);
    json_decref(pod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podevents_posts_as_the_kubelet_of_the_node),
        cmocka_unit_test(test_podevents_record_never_waits_for_a_slow_api),
        cmocka_unit_test(test_podevents_static_pod_events_wait_for_the_mirror),
        cmocka_unit_test(test_podevents_events_without_an_object_are_dropped_after_hold),
        cmocka_unit_test(test_podevents_full_queue_drops_the_oldest),
        cmocka_unit_test(test_podevents_null_does_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
