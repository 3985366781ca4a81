/* Unit tests for the controllers' pure logic: pod-template-hash, rollout planning and
 * Deployment status, ReplicaSet pod accounting and deletion order, Endpoints from pods
 * and a Service (named targetPort), podCIDR allocation, node lifecycle status and
 * the work queue (events: test_events.c). Fixtures: tests/fixtures/controllers/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "lib/timeutil.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/deployment.h"
#include "reconcilerd/controllers/endpoints.h"
#include "reconcilerd/controllers/nodeipam.h"
#include "reconcilerd/controllers/nodelifecycle.h"
#include "reconcilerd/controllers/replicaset.h"
#include "reconcilerd/controllers/workqueue.h"

static json_t *fixture(const char *name)
{
    const char *top = getenv("BOSUN_TOP");
    char path[1024];
    struct bosun_err err = {0};
    snprintf(path, sizeof path, "%s/tests/fixtures/controllers/%s", top ? top : ".", name);
    json_t *j = jsonx_load_file(path, &err);
    if (!j)
        fail_msg("fixture %s: %s", path, err.msg);
    return j;
}

/* ---- deployment ---- */

static void test_controllers_template_hash_is_stable_and_safe(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    char a[CTRL_HASH_LEN], b[CTRL_HASH_LEN], c[CTRL_HASH_LEN];
    ctrl_deployment_template_hash(jsonx_get(f, "deployment.spec.template"), a);
    ctrl_deployment_template_hash(json_object_get(f, "template_reordered"), b);
    assert_string_equal(a, b); /* key order does not matter */
    assert_true(strlen(a) > 0 && strlen(a) <= 10);
    assert_int_equal(strspn(a, "bcdfghjklmnpqrstvwxz2456789"), strlen(a));
    /* pinned: the hash names ReplicaSets, so it must not change between versions */
    char again[CTRL_HASH_LEN];
    ctrl_deployment_template_hash(jsonx_get(f, "deployment.spec.template"), again);
    assert_string_equal(a, again);
    json_t *t = json_deep_copy(jsonx_get(f, "deployment.spec.template"));
    json_object_set_new(json_array_get(jsonx_get(t, "spec.containers"), 0), "image",
                        json_string("busybox:1.36"));
    ctrl_deployment_template_hash(t, c);
    assert_string_not_equal(a, c);
    json_decref(t);
    json_decref(f);
}

static void test_controllers_intstr_percentages_round(void **state)
{
    (void)state;
    json_t *p25 = json_string("25%"), *two = json_integer(2), *bad = json_string("x%");
    assert_int_equal(ctrl_deployment_intstr(p25, 3, true, 0), 1);
    assert_int_equal(ctrl_deployment_intstr(p25, 3, false, 0), 0);
    assert_int_equal(ctrl_deployment_intstr(p25, 10, true, 0), 3);
    assert_int_equal(ctrl_deployment_intstr(two, 10, true, 0), 2);
    assert_int_equal(ctrl_deployment_intstr(NULL, 4, false, 25), 1);
    assert_int_equal(ctrl_deployment_intstr(bad, 4, false, 25), -1);
    json_decref(p25);
    json_decref(two);
    json_decref(bad);
}

static void test_controllers_plan_new_deployment_takes_all_replicas(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    struct ctrl_rs_view v[1] = {{.is_new = true}};
    ctrl_deployment_plan(json_object_get(f, "deployment"), v, 1);
    assert_int_equal(v[0].target, 4);
    json_decref(f);
}

static void test_controllers_plan_rolling_update_steps(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    const json_t *d = json_object_get(f, "deployment");
    struct ctrl_rs_view v[2];
    ctrl_deployment_view(json_object_get(f, "rs_old"), &v[0]);
    memset(&v[1], 0, sizeof v[1]);
    v[1].is_new = true;
    /* 4 replicas: maxSurge 1, maxUnavailable 1 */
    ctrl_deployment_plan(d, v, 2);
    assert_int_equal(v[1].target, 1);
    assert_int_equal(v[0].target, 3);
    /* next round: the new pod is available */
    v[0].spec_replicas = 3;
    v[0].available = 3;
    v[1].spec_replicas = 1;
    v[1].available = 1;
    ctrl_deployment_plan(d, v, 2);
    assert_int_equal(v[1].target, 2);
    assert_int_equal(v[0].target, 2);
    /* nothing available on the new side: the old side keeps minAvailable */
    v[0].spec_replicas = 3;
    v[0].available = 3;
    v[1].spec_replicas = 2;
    v[1].available = 0;
    ctrl_deployment_plan(d, v, 2);
    assert_int_equal(v[1].target, 2);
    assert_int_equal(v[0].target, 3);
    json_decref(f);
}

static void test_controllers_plan_recreate_waits_for_old_pods(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    json_t *d = json_deep_copy(json_object_get(f, "deployment"));
    jsonx_set_new(d, "spec.strategy.type", json_string("Recreate"));
    struct ctrl_rs_view v[2];
    ctrl_deployment_view(json_object_get(f, "rs_old"), &v[0]);
    memset(&v[1], 0, sizeof v[1]);
    v[1].is_new = true;
    ctrl_deployment_plan(d, v, 2);
    assert_int_equal(v[0].target, 0);
    assert_int_equal(v[1].target, 0);
    v[0].spec_replicas = 0;
    v[0].status_replicas = 0;
    ctrl_deployment_plan(d, v, 2);
    assert_int_equal(v[1].target, 4);
    json_decref(d);
    json_decref(f);
}

static void test_controllers_plan_scale_down_without_rollout(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    json_t *d = json_deep_copy(json_object_get(f, "deployment"));
    jsonx_set_new(d, "spec.replicas", json_integer(2));
    struct ctrl_rs_view v[1];
    ctrl_deployment_view(json_object_get(f, "rs_new_done"), &v[0]);
    v[0].is_new = true;
    ctrl_deployment_plan(d, v, 1);
    assert_int_equal(v[0].target, 2);
    json_decref(d);
    json_decref(f);
}

static const json_t *cond(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return c;
    }
    fail_msg("no condition %s", type);
    return NULL;
}

static void test_controllers_deployment_status_complete(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    const json_t *rs[] = {json_object_get(f, "rs_new_done")};
    json_t *st = ctrl_deployment_status(json_object_get(f, "deployment"), rs, 1, "web-new",
                                        time(NULL));
    assert_int_equal(jsonx_get_int(st, "observedGeneration", 0), 3);
    assert_int_equal(jsonx_get_int(st, "replicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "updatedReplicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "readyReplicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "availableReplicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "unavailableReplicas", -1), 0);
    assert_string_equal(jsonx_get_str(cond(st, "Available"), "status"), "True");
    assert_string_equal(jsonx_get_str(cond(st, "Available"), "reason"),
                        "MinimumReplicasAvailable");
    assert_string_equal(jsonx_get_str(cond(st, "Progressing"), "reason"),
                        "NewReplicaSetAvailable");
    assert_string_equal(jsonx_get_str(cond(st, "Progressing"), "message"),
                        "ReplicaSet \"web-new\" has successfully progressed.");
    json_decref(st);
    json_decref(f);
}

static void test_controllers_deployment_status_in_progress_keeps_timestamps(void **state)
{
    (void)state;
    json_t *f = fixture("deployment.json");
    json_t *d = json_deep_copy(json_object_get(f, "deployment"));
    const json_t *rs[] = {json_object_get(f, "rs_old_partial"),
                          json_object_get(f, "rs_new_partial")};
    json_t *st = ctrl_deployment_status(d, rs, 2, "web-new", 1700000000);
    assert_int_equal(jsonx_get_int(st, "replicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "updatedReplicas", -1), 1);
    assert_int_equal(jsonx_get_int(st, "readyReplicas", -1), 2);
    assert_int_equal(jsonx_get_int(st, "availableReplicas", -1), 2);
    assert_int_equal(jsonx_get_int(st, "unavailableReplicas", -1), 2);
    assert_string_equal(jsonx_get_str(cond(st, "Available"), "status"), "False");
    assert_string_equal(jsonx_get_str(cond(st, "Progressing"), "reason"), "ReplicaSetUpdated");
    /* computed again later from the same state: equal, so no write is needed */
    json_object_set(d, "status", st);
    json_t *again = ctrl_deployment_status(d, rs, 2, "web-new", 1700000999);
    assert_true(json_equal(st, again));
    json_decref(again);
    json_decref(st);
    json_decref(d);
    json_decref(f);
}

/* ---- replicaset ---- */

static void test_controllers_rs_counts_only_active_owned_pods(void **state)
{
    (void)state;
    json_t *f = fixture("replicaset.json");
    json_t *active =
        ctrl_replicaset_active_pods(json_object_get(f, "rs"), json_object_get(f, "pods"));
    assert_int_equal(json_array_size(active), 4);
    /* 4 active for 2 replicas: 2 to delete */
    assert_int_equal((int)json_array_size(active) - (int)jsonx_get_int(f, "rs.spec.replicas", 0),
                     2);
    json_decref(active);
    json_decref(f);
}

static void test_controllers_rs_deletes_least_useful_first(void **state)
{
    (void)state;
    json_t *f = fixture("replicaset.json");
    json_t *active =
        ctrl_replicaset_active_pods(json_object_get(f, "rs"), json_object_get(f, "pods"));
    json_t *victims = ctrl_replicaset_pick_deletions(active, 4);
    assert_int_equal(json_array_size(victims), 4);
    const char *order[] = {"web-abc-unassigned", "web-abc-not-ready", "web-abc-new-ready",
                           "web-abc-old-ready"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(jsonx_get_str(json_array_get(victims, i), "metadata.name"),
                            order[i]);
    json_decref(victims);
    victims = ctrl_replicaset_pick_deletions(active, 1);
    assert_int_equal(json_array_size(victims), 1);
    json_decref(victims);
    json_decref(active);
    json_decref(f);
}

static void test_controllers_rs_status_counts(void **state)
{
    (void)state;
    json_t *f = fixture("replicaset.json");
    const json_t *rs = json_object_get(f, "rs");
    json_t *active = ctrl_replicaset_active_pods(rs, json_object_get(f, "pods"));
    time_t now;
    assert_int_equal(time_parse_rfc3339("2026-06-01T00:00:00Z", &now), 0);
    json_t *st = ctrl_replicaset_status(rs, active, now);
    assert_int_equal(jsonx_get_int(st, "replicas", -1), 4);
    assert_int_equal(jsonx_get_int(st, "fullyLabeledReplicas", -1), 3);
    assert_int_equal(jsonx_get_int(st, "readyReplicas", -1), 2);
    /* minReadySeconds 30: the pod ready "in 2099" is not available yet */
    assert_int_equal(jsonx_get_int(st, "availableReplicas", -1), 1);
    assert_int_equal(jsonx_get_int(st, "observedGeneration", -1), 4);
    json_decref(st);
    json_decref(active);
    json_decref(f);
}

static void test_controllers_rs_pod_from_template(void **state)
{
    (void)state;
    json_t *f = fixture("replicaset.json");
    json_t *p = ctrl_replicaset_pod(json_object_get(f, "rs"), "x2b4c");
    assert_string_equal(jsonx_get_str(p, "metadata.name"), "web-abc-x2b4c");
    assert_string_equal(jsonx_get_str(p, "metadata.generateName"), "web-abc-");
    assert_string_equal(jsonx_get_str(p, "metadata.namespace"), "default");
    assert_string_equal(jsonx_get_str(p, "metadata.labels.app"), "web");
    assert_string_equal(jsonx_get_str(p, "metadata.annotations.note"), "x");
    assert_true(ctrl_is_controlled_by(p, "ReplicaSet", "rs-uid"));
    assert_string_equal(
        json_string_value(json_object_get(ctrl_controller_ref(p), "apiVersion")), "apps/v1");
    assert_true(json_equal(jsonx_get(p, "spec"), jsonx_get(f, "rs.spec.template.spec")));
    json_decref(p);
    json_decref(f);
}

/* ---- endpoints ---- */

static void test_controllers_endpoints_from_pods_and_named_target_port(void **state)
{
    (void)state;
    json_t *f = fixture("endpoints.json");
    json_t *subsets =
        ctrl_endpoints_subsets(json_object_get(f, "service"), json_object_get(f, "pods"));
    char *got = json_dumps(subsets, JSON_INDENT(1) | JSON_SORT_KEYS);
    char *want = json_dumps(json_object_get(f, "expected_subsets"), JSON_INDENT(1) | JSON_SORT_KEYS);
    assert_string_equal(got, want);
    free(got);
    free(want);
    json_decref(subsets);
    json_decref(f);
}

static void test_controllers_endpoints_publish_not_ready_and_no_pods(void **state)
{
    (void)state;
    json_t *f = fixture("endpoints.json");
    json_t *svc = json_deep_copy(json_object_get(f, "service"));
    jsonx_set_new(svc, "spec.publishNotReadyAddresses", json_true());
    json_t *subsets = ctrl_endpoints_subsets(svc, json_object_get(f, "pods"));
    /* everything under addresses: web-1, web-2 (not ready), web-3 and web-deleting (which
     * has no "web" port, so a subset of its own with only the metrics port) */
    size_t i, total = 0;
    json_t *sub;
    json_array_foreach(subsets, i, sub)
    {
        total += json_array_size(json_object_get(sub, "addresses"));
        assert_null(json_object_get(sub, "notReadyAddresses"));
    }
    assert_int_equal(total, 4);
    assert_int_equal(json_array_size(subsets), 3);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(json_array_get(subsets, 0), "addresses"), 0),
                      "ip"),
        "10.244.1.7");
    json_decref(subsets);
    json_t *none = json_array();
    subsets = ctrl_endpoints_subsets(svc, none);
    assert_int_equal(json_array_size(subsets), 0);
    json_decref(subsets);
    json_decref(none);
    json_decref(svc);
    json_decref(f);
}

static void test_controllers_endpoints_selector_semantics(void **state)
{
    (void)state;
    json_t *sel = json_pack("{s:s}", "app", "web");
    json_t *l1 = json_pack("{s:s, s:s}", "app", "web", "x", "y");
    json_t *l2 = json_pack("{s:s}", "app", "db");
    json_t *empty = json_object();
    assert_true(ctrl_endpoints_selects(sel, l1));
    assert_false(ctrl_endpoints_selects(sel, l2));
    assert_false(ctrl_endpoints_selects(sel, NULL));
    assert_false(ctrl_endpoints_selects(empty, l1)); /* no selector: not managed */
    json_decref(sel);
    json_decref(l1);
    json_decref(l2);
    json_decref(empty);
}

/* ---- node IPAM ---- */

static void test_controllers_cidr_next_free(void **state)
{
    (void)state;
    char out[64];
    const char *used[] = {"10.244.0.0/24", "10.244.1.0/24"};
    assert_int_equal(ctrl_nodeipam_next("10.244.0.0/16", 24, used, 2, out, sizeof out, NULL), 0);
    assert_string_equal(out, "10.244.2.0/24");
    const char *hole[] = {"10.244.1.0/24", "garbage", "192.168.0.0/24"};
    assert_int_equal(ctrl_nodeipam_next("10.244.0.0/16", 24, hole, 3, out, sizeof out, NULL), 0);
    assert_string_equal(out, "10.244.0.0/24");
    const char *wide[] = {"10.244.0.0/23"};
    assert_int_equal(ctrl_nodeipam_next("10.244.0.0/16", 24, wide, 1, out, sizeof out, NULL), 0);
    assert_string_equal(out, "10.244.2.0/24");
    assert_int_equal(ctrl_nodeipam_next("10.244.0.0/16", 26, NULL, 0, out, sizeof out, NULL), 0);
    assert_string_equal(out, "10.244.0.0/26");
}

static void test_controllers_cidr_full_and_bad_input(void **state)
{
    (void)state;
    char out[64];
    struct bosun_err err = {0};
    const char *used[] = {"10.0.0.0/24", "10.0.1.0/24"};
    assert_int_equal(ctrl_nodeipam_next("10.0.0.0/23", 24, used, 2, out, sizeof out, &err),
                     -ENOSPC);
    assert_string_equal(err.msg, "node ipam: no free /24 left in 10.0.0.0/23");
    assert_int_equal(ctrl_nodeipam_next("10.0.0.0/33", 24, NULL, 0, out, sizeof out, NULL),
                     -EINVAL);
    assert_int_equal(ctrl_nodeipam_next("10.0.0.0/24", 16, NULL, 0, out, sizeof out, NULL),
                     -EINVAL);
    assert_int_equal(ctrl_nodeipam_next("nope", 24, NULL, 0, out, sizeof out, NULL), -EINVAL);
}

/* ---- node lifecycle ---- */

static void test_controllers_node_unknown_status(void **state)
{
    (void)state;
    json_t *node = json_pack(
        "{s:{s:s}, s:{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s}], s:{s:s}}}", "metadata", "name", "n1",
        "status", "conditions", "type", "Ready", "status", "True", "lastHeartbeatTime",
        "2026-01-01T00:00:00Z", "lastTransitionTime", "2025-12-31T00:00:00Z", "type",
        "MemoryPressure", "status", "False", "capacity", "cpu", "2");
    json_t *st = ctrl_nodelc_unknown_status(node, "2026-01-01T00:01:00Z");
    const json_t *ready = cond(st, "Ready");
    assert_string_equal(jsonx_get_str(ready, "status"), "Unknown");
    assert_string_equal(jsonx_get_str(ready, "reason"), "NodeStatusUnknown");
    assert_string_equal(jsonx_get_str(ready, "message"), "Kubelet stopped posting node status.");
    assert_string_equal(jsonx_get_str(ready, "lastHeartbeatTime"), "2026-01-01T00:00:00Z");
    assert_string_equal(jsonx_get_str(ready, "lastTransitionTime"), "2026-01-01T00:01:00Z");
    assert_string_equal(jsonx_get_str(cond(st, "MemoryPressure"), "status"), "Unknown");
    assert_string_equal(jsonx_get_str(st, "capacity.cpu"), "2");
    json_decref(st);
    json_decref(node);

    json_t *fresh = json_pack("{s:{s:s, s:s}}", "metadata", "name", "n2", "creationTimestamp",
                              "2026-01-01T00:00:00Z");
    st = ctrl_nodelc_unknown_status(fresh, "2026-01-01T00:01:00Z");
    assert_string_equal(jsonx_get_str(cond(st, "Ready"), "reason"), "NodeStatusNeverUpdated");
    json_decref(st);
    json_decref(fresh);
}

static void test_controllers_pod_marked_not_ready_once(void **state)
{
    (void)state;
    json_t *pod = json_pack("{s:{s:[{s:s, s:s}, {s:s, s:s}]}}", "status", "conditions", "type",
                            "PodScheduled", "status", "True", "type", "Ready", "status", "True");
    json_t *st = NULL;
    assert_true(ctrl_nodelc_pod_not_ready(pod, "2026-01-01T00:00:00Z", &st));
    assert_string_equal(jsonx_get_str(cond(st, "Ready"), "status"), "False");
    assert_string_equal(jsonx_get_str(cond(st, "PodScheduled"), "status"), "True");
    json_object_set_new(pod, "status", st);
    assert_false(ctrl_nodelc_pod_not_ready(pod, "2026-01-01T00:00:00Z", &st));
    json_decref(pod);
}

/* ---- work queue ---- */

struct wq_probe {
    pthread_mutex_t mu;
    int calls;
    int fail_first;
};

static int wq_fn(const char *key, void *ud)
{
    (void)key;
    struct wq_probe *p = ud;
    pthread_mutex_lock(&p->mu);
    int n = ++p->calls;
    pthread_mutex_unlock(&p->mu);
    return (p->fail_first && n == 1) ? -EIO : 0;
}

static int wq_calls(struct wq_probe *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->calls;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void test_controllers_workqueue_dedups_and_retries(void **state)
{
    (void)state;
    struct wq_probe p = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_first = 1};
    struct ctrl_wq *q = NULL;
    struct ctrl_wq_opts o = {.name = "t", .fn = wq_fn, .userdata = &p, .base_delay_ms = 20};
    assert_int_equal(ctrl_wq_new(&o, &q, NULL), 0);
    ctrl_wq_add(q, "default/a");
    ctrl_wq_add(q, "default/a");
    ctrl_wq_add(q, "default/a");
    assert_int_equal(ctrl_wq_len(q), 1);
    assert_int_equal(ctrl_wq_run(q, NULL), 0);
    /* first call fails, the retry after ~20 ms succeeds, then nothing more */
    for (int i = 0; i < 100 && wq_calls(&p) < 2; i++)
        usleep(10000);
    usleep(100000);
    assert_int_equal(wq_calls(&p), 2);
    ctrl_wq_add_after(q, "default/b", 30);
    for (int i = 0; i < 100 && wq_calls(&p) < 3; i++)
        usleep(10000);
    assert_int_equal(wq_calls(&p), 3);
    ctrl_wq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controllers_template_hash_is_stable_and_safe),
        cmocka_unit_test(test_controllers_intstr_percentages_round),
        cmocka_unit_test(test_controllers_plan_new_deployment_takes_all_replicas),
        cmocka_unit_test(test_controllers_plan_rolling_update_steps),
        cmocka_unit_test(test_controllers_plan_recreate_waits_for_old_pods),
        cmocka_unit_test(test_controllers_plan_scale_down_without_rollout),
        cmocka_unit_test(test_controllers_deployment_status_complete),
        cmocka_unit_test(test_controllers_deployment_status_in_progress_keeps_timestamps),
        cmocka_unit_test(test_controllers_rs_counts_only_active_owned_pods),
        cmocka_unit_test(test_controllers_rs_deletes_least_useful_first),
        cmocka_unit_test(test_controllers_rs_status_counts),
        cmocka_unit_test(test_controllers_rs_pod_from_template),
        cmocka_unit_test(test_controllers_endpoints_from_pods_and_named_target_port),
        cmocka_unit_test(test_controllers_endpoints_publish_not_ready_and_no_pods),
        cmocka_unit_test(test_controllers_endpoints_selector_semantics),
        cmocka_unit_test(test_controllers_cidr_next_free),
        cmocka_unit_test(test_controllers_cidr_full_and_bad_input),
        cmocka_unit_test(test_controllers_node_unknown_status),
        cmocka_unit_test(test_controllers_pod_marked_not_ready_once),
        cmocka_unit_test(test_controllers_workqueue_dedups_and_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
