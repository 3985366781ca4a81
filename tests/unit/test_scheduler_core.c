/* Unit tests for the scheduler's pure logic: requests, filters and kube-scheduler's
 * FitError message, least-allocated scoring, tie-breaking, the pending test and the
 * queue's back-off. Fixtures: tests/fixtures/scheduler/{nodes,pods}.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "scheduler/filter.h"
#include "scheduler/nodeinfo.h"
#include "scheduler/queue.h"
#include "scheduler/resources.h"
#include "scheduler/scheduler.h"
#include "scheduler/score.h"

#define MI (1024LL * 1024)

static json_t *g_nodes, *g_pods;

static json_t *load_fixture(const char *name)
{
    const char *top = getenv("BOSUN_TOP");
    char path[1024];
    struct bosun_err err = {0};
    snprintf(path, sizeof path, "%s/tests/fixtures/scheduler/%s", top ? top : ".", name);
    json_t *j = jsonx_load_file(path, &err);
    if (!j)
        fail_msg("fixture %s: %s", path, err.msg);
    return j;
}

static int setup(void **state)
{
    (void)state;
    g_nodes = load_fixture("nodes.json");
    g_pods = load_fixture("pods.json");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(g_nodes);
    json_decref(g_pods);
    return 0;
}

static const json_t *pod(const char *name)
{
    json_t *p = json_object_get(g_pods, name);
    assert_non_null(p);
    return p;
}

/* nodes by name into out[] (initialised node infos) */
static size_t nodes(struct scheduler_node *out, const char *const *names)
{
    size_t n = 0;
    for (; names[n]; n++) {
        json_t *node = json_object_get(g_nodes, names[n]);
        assert_non_null(node);
        assert_int_equal(scheduler_node_init(&out[n], node, NULL), 0);
    }
    return n;
}

static void clear_nodes(struct scheduler_node *ns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        scheduler_node_clear(&ns[i]);
}

static void test_scheduler_requests_sum_containers_with_quantities(void **state)
{
    (void)state;
    struct scheduler_res r;
    assert_int_equal(scheduler_res_pod_requests(pod("small"), &r, NULL), 0);
    assert_int_equal(r.milli_cpu, 100);
    assert_int_equal(r.memory, 64 * MI);
}

static void test_scheduler_requests_take_init_max_and_overhead(void **state)
{
    (void)state;
    struct scheduler_res r;
    assert_int_equal(scheduler_res_pod_requests(pod("init"), &r, NULL), 0);
    assert_int_equal(r.milli_cpu, 510);
    assert_int_equal(r.memory, 65 * MI);
}

static void test_scheduler_nonzero_requests_default_unset(void **state)
{
    (void)state;
    struct scheduler_res r;
    assert_int_equal(scheduler_res_pod_requests(pod("empty"), &r, NULL), 0);
    assert_int_equal(r.milli_cpu, 0);
    assert_int_equal(r.memory, 0);
    assert_int_equal(scheduler_res_pod_nonzero_requests(pod("empty"), &r, NULL), 0);
    assert_int_equal(r.milli_cpu, 200);
    assert_int_equal(r.memory, 400 * MI);
}

static void test_scheduler_requests_reject_bad_quantity(void **state)
{
    (void)state;
    struct scheduler_res r;
    struct bosun_err err = {0};
    assert_int_equal(scheduler_res_pod_requests(pod("bad"), &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "spec.containers[0].resources.requests: cpu"));
}

static void test_scheduler_allocatable_falls_back_to_capacity(void **state)
{
    (void)state;
    struct scheduler_res r;
    json_t *n = json_pack("{s:{s:s}, s:{s:{s:s, s:s}}}", "metadata", "name", "x", "status",
                          "capacity", "cpu", "1500m", "memory", "2G");
    assert_int_equal(scheduler_res_node_allocatable(n, &r, NULL), 0);
    assert_int_equal(r.milli_cpu, 1500);
    assert_int_equal(r.memory, 2000000000LL);
    json_decref(n);
}

static void test_scheduler_message_exact_insufficient_memory(void **state)
{
    (void)state;
    struct scheduler_node ns[2];
    size_t n = nodes(ns, (const char *[]){"node-a", "node-b", NULL});
    unsigned rr = 0;
    int chosen = 0;
    char *msg = NULL;
    assert_int_equal(scheduler_decide(ns, n, pod("huge-mem"), &rr, &chosen, &msg, NULL), 0);
    assert_int_equal(chosen, -1);
    assert_string_equal(msg, "0/2 nodes are available: 2 Insufficient memory.");
    free(msg);
    clear_nodes(ns, n);
}

static void test_scheduler_message_aggregates_sorted_reasons(void **state)
{
    (void)state;
    struct scheduler_node ns[5];
    size_t n = nodes(ns, (const char *[]){"node-a", "node-notready", "node-tainted",
                                          "node-cordoned", "node-b", NULL});
    unsigned rr = 0;
    int chosen = 0;
    char *msg = NULL;
    assert_int_equal(scheduler_decide(ns, n, pod("huge-both"), &rr, &chosen, &msg, NULL), 0);
    assert_int_equal(chosen, -1);
    assert_string_equal(msg, "0/5 nodes are available: 1 node(s) had untolerated taint "
                             "{dedicated: gpu}, 1 node(s) were not ready, 1 node(s) were "
                             "unschedulable, 2 Insufficient cpu, 2 Insufficient memory.");
    free(msg);
    clear_nodes(ns, n);
}

static void test_scheduler_message_without_nodes(void **state)
{
    (void)state;
    unsigned rr = 0;
    int chosen = 0;
    char *msg = NULL;
    assert_int_equal(scheduler_decide(NULL, 0, pod("small"), &rr, &chosen, &msg, NULL), 0);
    assert_int_equal(chosen, -1);
    assert_string_equal(msg, "no nodes available to schedule pods");
    free(msg);
}

static void test_scheduler_filter_tolerated_taint_and_selector(void **state)
{
    (void)state;
    struct scheduler_node ns[2];
    size_t n = nodes(ns, (const char *[]){"node-tainted", "node-b", NULL});
    struct scheduler_res req = {0};
    struct scheduler_fit fit;
    assert_true(scheduler_filter_node(&ns[0], pod("gpu"), &req, &fit));
    assert_false(scheduler_filter_node(&ns[0], pod("small"), &req, &fit));
    assert_int_equal(fit.nreasons, 1);
    assert_string_equal(fit.reasons[0], "node(s) had untolerated taint {dedicated: gpu}");
    /* nodeSelector disk=ssd: node-b has no such label */
    assert_false(scheduler_filter_node(&ns[1], pod("ssd"), &req, &fit));
    assert_string_equal(fit.reasons[0], "node(s) didn't match Pod's node affinity/selector");
    clear_nodes(ns, n);
}

static void test_scheduler_filter_counts_pods_already_on_node(void **state)
{
    (void)state;
    struct scheduler_node ns[2];
    size_t n = nodes(ns, (const char *[]){"node-a", "node-tiny", NULL});
    struct scheduler_res filler, nz, req;
    struct scheduler_fit fit;
    assert_int_equal(scheduler_res_pod_requests(pod("filler-1900m"), &filler, NULL), 0);
    assert_int_equal(scheduler_res_pod_nonzero_requests(pod("filler-1900m"), &nz, NULL), 0);
    assert_int_equal(scheduler_res_pod_requests(pod("small"), &req, NULL), 0);
    scheduler_node_add_pod(&ns[0], &filler, &nz);
    /* 2000m - 1900m leaves exactly the 100m the pod asks for */
    assert_true(scheduler_filter_node(&ns[0], pod("small"), &req, &fit));
    req.milli_cpu = 101;
    assert_false(scheduler_filter_node(&ns[0], pod("small"), &req, &fit));
    assert_int_equal(fit.nreasons, 1);
    assert_string_equal(fit.reasons[0], "Insufficient cpu");
    /* node-tiny allows one pod */
    req.milli_cpu = 1;
    scheduler_node_add_pod(&ns[1], &(struct scheduler_res){0}, &(struct scheduler_res){0});
    assert_false(scheduler_filter_node(&ns[1], pod("small"), &req, &fit));
    assert_string_equal(fit.reasons[0], "Too many pods");
    clear_nodes(ns, n);
}

static void test_scheduler_score_least_allocated(void **state)
{
    (void)state;
    struct scheduler_node ns[2];
    size_t n = nodes(ns, (const char *[]){"node-a", "node-b", NULL});
    struct scheduler_res nz;
    assert_int_equal(scheduler_res_pod_nonzero_requests(pod("small"), &nz, NULL), 0);
    /* node-a: cpu (2000-100)*100/2000 = 95, memory (4096-64)*100/4096 = 98 → 96 */
    assert_int_equal(scheduler_score_node(&ns[0], &nz), 96);
    /* node-b: cpu 97, memory 99 → 98 */
    assert_int_equal(scheduler_score_node(&ns[1], &nz), 98);
    unsigned rr = 0;
    int chosen = -1;
    char *msg = NULL;
    assert_int_equal(scheduler_decide(ns, n, pod("small"), &rr, &chosen, &msg, NULL), 0);
    assert_null(msg);
    assert_int_equal(chosen, 1);
    clear_nodes(ns, n);
}

static void test_scheduler_ties_take_turns_by_name(void **state)
{
    (void)state;
    struct scheduler_node ns[2];
    /* listed in reverse name order on purpose */
    size_t n = nodes(ns, (const char *[]){"node-b2", "node-b", NULL});
    unsigned rr = 0;
    int picks[4];
    for (int i = 0; i < 4; i++) {
        char *msg = NULL;
        assert_int_equal(scheduler_decide(ns, n, pod("small"), &rr, &picks[i], &msg, NULL), 0);
        assert_null(msg);
    }
    assert_string_equal(ns[picks[0]].name, "node-b");
    assert_string_equal(ns[picks[1]].name, "node-b2");
    assert_string_equal(ns[picks[2]].name, "node-b");
    assert_string_equal(ns[picks[3]].name, "node-b2");
    clear_nodes(ns, n);
}

static void test_scheduler_pending_only_own_unbound_live_pods(void **state)
{
    (void)state;
    json_t *p = json_deep_copy(pod("small"));
    assert_true(scheduler_pod_is_pending(p));
    jsonx_set_new(p, "spec.schedulerName", json_string("default-scheduler"));
    assert_true(scheduler_pod_is_pending(p));
    jsonx_set_new(p, "spec.schedulerName", json_string("other"));
    assert_false(scheduler_pod_is_pending(p));
    jsonx_set_new(p, "spec.schedulerName", json_string(""));
    jsonx_set_new(p, "spec.nodeName", json_string("node-a"));
    assert_false(scheduler_pod_is_pending(p));
    jsonx_set_new(p, "spec.nodeName", json_string(""));
    jsonx_set_new(p, "metadata.deletionTimestamp", json_string("2026-01-01T00:00:00Z"));
    assert_false(scheduler_pod_is_pending(p));
    json_decref(p);
}

static void test_scheduler_queue_dedups_and_backs_off(void **state)
{
    (void)state;
    struct scheduler_queue *q = NULL;
    assert_int_equal(scheduler_queue_new(&q, NULL), 0);
    scheduler_queue_add(q, "default/a");
    scheduler_queue_add(q, "default/a");
    scheduler_queue_add(q, "default/b");
    assert_int_equal(scheduler_queue_len(q), 2);
    char *k = NULL;
    assert_int_equal(scheduler_queue_pop(q, 100, &k), 0);
    assert_string_equal(k, "default/a");
    scheduler_queue_done(q, k, false); /* back-off: 1 s */
    free(k);
    assert_int_equal(scheduler_queue_pop(q, 100, &k), 0);
    assert_string_equal(k, "default/b");
    scheduler_queue_done(q, k, true);
    free(k);
    assert_int_equal(scheduler_queue_pop(q, 50, &k), -ETIMEDOUT);
    scheduler_queue_retry_all(q); /* a cluster change: no waiting */
    assert_int_equal(scheduler_queue_pop(q, 50, &k), 0);
    assert_string_equal(k, "default/a");
    scheduler_queue_remove(q, "default/a"); /* while in flight */
    scheduler_queue_done(q, k, false);
    free(k);
    assert_int_equal(scheduler_queue_len(q), 0);
    scheduler_queue_close(q);
    assert_int_equal(scheduler_queue_pop(q, 50, &k), -ECANCELED);
    scheduler_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler_requests_sum_containers_with_quantities),
        cmocka_unit_test(test_scheduler_requests_take_init_max_and_overhead),
        cmocka_unit_test(test_scheduler_nonzero_requests_default_unset),
        cmocka_unit_test(test_scheduler_requests_reject_bad_quantity),
        cmocka_unit_test(test_scheduler_allocatable_falls_back_to_capacity),
        cmocka_unit_test(test_scheduler_message_exact_insufficient_memory),
        cmocka_unit_test(test_scheduler_message_aggregates_sorted_reasons),
        cmocka_unit_test(test_scheduler_message_without_nodes),
        cmocka_unit_test(test_scheduler_filter_tolerated_taint_and_selector),
        cmocka_unit_test(test_scheduler_filter_counts_pods_already_on_node),
        cmocka_unit_test(test_scheduler_score_least_allocated),
        cmocka_unit_test(test_scheduler_ties_take_turns_by_name),
        cmocka_unit_test(test_scheduler_pending_only_own_unbound_live_pods),
        cmocka_unit_test(test_scheduler_queue_dedups_and_backs_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
