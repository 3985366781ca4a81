/* Unit tests for lib/jsonmerge: the three-way merge that gitsync and `bosun apply` use
 * (server-side-apply semantics on the client), and the last-applied annotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/jsonmerge.h"
#include "lib/jsonx.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    if (!v)
        fail_msg("bad JSON in test: %s: %s", s, e.text);
    return v;
}

static void assert_json_eq(const json_t *got, const char *want_s)
{
    json_t *want = J(want_s);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_SORT_KEYS);
        fail_msg("JSON differs\n got: %s\nwant: %s", g, w);
    }
    json_decref(want);
}

static json_t *merge3(const char *live, const char *old, const char *new)
{
    json_t *l = live ? J(live) : NULL, *o = old ? J(old) : NULL, *n = J(new);
    json_t *d = jsonmerge_desired(l, o, n);
    json_decref(l);
    json_decref(o);
    json_decref(n);
    assert_non_null(d);
    return d;
}

static void test_jsonmerge_removed_field_is_dropped(void **state)
{
    (void)state;
    json_t *d = merge3("{\"data\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"api\"}}",
                       "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}", "{\"data\":{\"a\":\"1\"}}");
    /* b was Git's and is gone; c was never Git's and stays. */
    assert_json_eq(d, "{\"data\":{\"a\":\"1\",\"c\":\"api\"}}");
    json_decref(d);
}

static void test_jsonmerge_server_allocated_fields_survive(void **state)
{
    (void)state;
    const char *applied = "{\"spec\":{\"type\":\"NodePort\",\"selector\":{\"app\":\"web\"},"
                          "\"ports\":[{\"port\":80,\"targetPort\":8080}]}}";
    json_t *d = merge3("{\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.7\","
                       "\"selector\":{\"app\":\"web\"},"
                       "\"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30080,"
                       "\"protocol\":\"TCP\"}]},\"status\":{\"loadBalancer\":{}}}",
                       applied, applied);
    assert_json_eq(d, "{\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.7\","
                      "\"selector\":{\"app\":\"web\"},"
                      "\"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30080,"
                      "\"protocol\":\"TCP\"}]},\"status\":{\"loadBalancer\":{}}}");
    json_decref(d);
}

static void test_jsonmerge_drifted_field_is_restored(void **state)
{
    (void)state;
    const char *applied = "{\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
                          "[{\"name\":\"c\",\"image\":\"busybox:1.35\",\"args\":[\"a\"]}]}}}}";
    json_t *d = merge3("{\"spec\":{\"replicas\":5,\"template\":{\"spec\":{\"containers\":"
                       "[{\"name\":\"c\",\"image\":\"evil:1\",\"args\":[\"x\",\"y\"],"
                       "\"imagePullPolicy\":\"IfNotPresent\"}]}}}}",
                       applied, applied);
    assert_json_eq(d, "{\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
                      "[{\"name\":\"c\",\"image\":\"busybox:1.35\",\"args\":[\"a\"],"
                      "\"imagePullPolicy\":\"IfNotPresent\"}]}}}}");
    json_decref(d);
}

static void test_jsonmerge_lists_by_key(void **state)
{
    (void)state;
    /* env B removed by Git, C added by someone else (kept), D new in Git; container port
     * 443 removed; ports keyed by containerPort keep server-side fields. */
    json_t *d =
        merge3("{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
               "{\"name\":\"B\",\"value\":\"2\"},{\"name\":\"C\",\"value\":\"3\"}],"
               "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"},{\"containerPort\":443}]},"
               "{\"name\":\"sidecar\",\"image\":\"s\"}]}",
               "{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
               "{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80},"
               "{\"containerPort\":443}]}]}",
               "{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"A\",\"value\":\"9\"},"
               "{\"name\":\"D\",\"value\":\"4\"}],\"ports\":[{\"containerPort\":80}]}]}");
    assert_json_eq(d, "{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"A\",\"value\":"
                      "\"9\"},{\"name\":\"D\",\"value\":\"4\"},{\"name\":\"C\",\"value\":"
                      "\"3\"}],\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}]},"
                      "{\"name\":\"sidecar\",\"image\":\"s\"}]}");
    json_decref(d);
}

static void test_jsonmerge_removed_container_is_dropped(void **state)
{
    (void)state;
    json_t *d = merge3("{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}",
                       "{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}",
                       "{\"containers\":[{\"name\":\"a\"}]}");
    assert_json_eq(d, "{\"containers\":[{\"name\":\"a\"}]}");
    json_decref(d);
}

static void test_jsonmerge_atomic_lists_replace(void **state)
{
    (void)state;
    json_t *d = merge3("{\"args\":[\"x\"],\"tolerations\":[{\"key\":\"k\"}]}",
                       "{\"args\":[\"a\",\"b\"]}", "{\"args\":[\"c\"]}");
    assert_json_eq(d, "{\"args\":[\"c\"],\"tolerations\":[{\"key\":\"k\"}]}");
    json_decref(d);
}

static void test_jsonmerge_without_live_or_old(void **state)
{
    (void)state;
    json_t *d = merge3(NULL, NULL, "{\"a\":{\"b\":1}}");
    assert_json_eq(d, "{\"a\":{\"b\":1}}");
    json_decref(d);
    /* No old applied (an object created by someone else): nothing is removed. */
    d = merge3("{\"a\":{\"b\":1,\"c\":2}}", NULL, "{\"a\":{\"b\":3}}");
    assert_json_eq(d, "{\"a\":{\"b\":3,\"c\":2}}");
    json_decref(d);
}

static void test_jsonmerge_key_selection(void **state)
{
    (void)state;
    json_t *svc = J("[{\"port\":80,\"name\":\"http\"}]");
    json_t *ctr = J("[{\"containerPort\":80}]");
    json_t *nokey = J("[{\"protocol\":\"TCP\"}]");
    assert_string_equal(jsonmerge_key("ports", svc, NULL), "port");
    assert_string_equal(jsonmerge_key("ports", ctr, NULL), "containerPort");
    assert_null(jsonmerge_key("ports", nokey, NULL));
    assert_string_equal(jsonmerge_key("env", NULL, NULL), "name");
    assert_string_equal(jsonmerge_key("volumeMounts", NULL, NULL), "mountPath");
    assert_null(jsonmerge_key("args", NULL, NULL));
    json_decref(svc);
    json_decref(ctr);
    json_decref(nokey);
}

static void test_jsonmerge_apply_records_and_uses_last_applied(void **state)
{
    (void)state;
    /* create: the body is the manifest plus the annotation */
    json_t *v1 = J("{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    json_t *created = jsonmerge_apply(NULL, v1);
    assert_non_null(created);
    json_t *rec = jsonmerge_last_applied(created);
    assert_true(json_equal(rec, v1));
    json_decref(rec);
    /* the server adds fields; the manifest drops b: b goes, the server's fields stay */
    json_object_set_new(json_object_get(created, "metadata"), "resourceVersion", json_string("5"));
    json_object_set_new(json_object_get(created, "data"), "other", json_string("x"));
    json_t *v2 = J("{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}");
    json_t *body = jsonmerge_apply(created, v2);
    assert_json_eq(jsonx_get(body, "data"), "{\"a\":\"1\",\"other\":\"x\"}");
    assert_string_equal(jsonx_get_str(body, "metadata.resourceVersion"), "5");
    rec = jsonmerge_last_applied(body);
    assert_true(json_equal(rec, v2));
    json_decref(rec);
    /* applying the same again changes nothing */
    json_t *again = jsonmerge_apply(body, v2);
    assert_true(json_equal(again, body));
    json_decref(again);
    json_decref(body);
    json_decref(v2);
    json_decref(created);
    json_decref(v1);
}

static void test_jsonmerge_apply_ignores_an_annotation_in_the_manifest(void **state)
{
    (void)state;
    json_t *live = J("{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    /* a smuggled last-applied claiming b was ours must not remove b */
    json_t *m = J("{\"metadata\":{\"name\":\"c\",\"annotations\":{\"bosun.io/last-applied\":"
                  "\"{\\\"data\\\":{\\\"b\\\":\\\"2\\\"}}\"}},\"data\":{\"a\":\"1\"}}");
    json_t *body = jsonmerge_apply(live, m);
    assert_string_equal(jsonx_get_str(body, "data.b"), "2");
    json_t *rec = jsonmerge_last_applied(body);
    assert_null(
        json_object_get(jsonx_get(rec, "metadata.annotations"), JSONMERGE_LAST_APPLIED_ANNOTATION));
    assert_json_eq(jsonx_get(rec, "data"), "{\"a\":\"1\"}");
    json_decref(rec);
    json_decref(body);
    json_decref(m);
    json_decref(live);
}

static void test_jsonmerge_last_applied_ignores_garbage(void **state)
{
    (void)state;
    json_t *o = J("{\"metadata\":{\"annotations\":{\"bosun.io/last-applied\":\"[1,2\"}}}");
    assert_null(jsonmerge_last_applied(o));
    json_decref(o);
    o = J("{\"metadata\":{\"annotations\":{\"bosun.io/last-applied\":\"[1,2]\"}}}");
    assert_null(jsonmerge_last_applied(o));
    json_decref(o);
    assert_null(jsonmerge_last_applied(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonmerge_removed_field_is_dropped),
        cmocka_unit_test(test_jsonmerge_server_allocated_fields_survive),
        cmocka_unit_test(test_jsonmerge_drifted_field_is_restored),
        cmocka_unit_test(test_jsonmerge_lists_by_key),
        cmocka_unit_test(test_jsonmerge_removed_container_is_dropped),
        cmocka_unit_test(test_jsonmerge_atomic_lists_replace),
        cmocka_unit_test(test_jsonmerge_without_live_or_old),
        cmocka_unit_test(test_jsonmerge_key_selection),
        cmocka_unit_test(test_jsonmerge_apply_records_and_uses_last_applied),
        cmocka_unit_test(test_jsonmerge_apply_ignores_an_annotation_in_the_manifest),
        cmocka_unit_test(test_jsonmerge_last_applied_ignores_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
