/* Unit tests for gitsync/apply's pure parts (order, paths, applied configuration,
 * inventory) and gitsync/status's merge. The three-way merge itself: test_jsonmerge.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gitsync/apply.h"
#include "gitsync/status.h"
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

static struct gitsync_obj mkobj(const char *api, const char *kind, const char *name,
                                size_t seq)
{
    struct gitsync_obj o = {0};
    o.kind = schema_kind_by_gvk(api, kind);
    assert_non_null(o.kind);
    o.obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", api, "kind", kind, "metadata", "name",
                      name);
    if (o.kind->namespaced)
        json_object_set_new(json_object_get(o.obj, "metadata"), "namespace",
                            json_string("default"));
    o.file = strdup("f.yaml");
    o.seq = seq;
    return o;
}

static void test_order_namespaces_config_services_rest(void **state)
{
    (void)state;
    struct gitsync_obj v[] = {
        mkobj("apps/v1", "Deployment", "d", 0), mkobj("v1", "Service", "s", 1),
        mkobj("v1", "Secret", "x", 2),          mkobj("v1", "Pod", "p", 3),
        mkobj("v1", "Namespace", "n", 4),       mkobj("v1", "ConfigMap", "c", 5),
    };
    size_t n = sizeof(v) / sizeof(v[0]);
    gitsync_order_objects(v, n);
    const char *want[] = {"Namespace", "Secret", "ConfigMap", "Service", "Deployment", "Pod"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v[i].kind->kind, want[i]);

    json_t *inv = gitsync_inventory(v, n);
    assert_json_eq(json_array_get(inv, 0),
                   "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"name\":\"n\"}");
    assert_json_eq(json_array_get(inv, 4), "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
                                           "\"namespace\":\"default\",\"name\":\"d\"}");
    json_decref(inv);
    for (size_t i = 0; i < n; i++) {
        json_decref(v[i].obj);
        free(v[i].file);
    }
}

static void test_resource_paths(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(gitsync_resource_path(schema_kind_by_gvk("apps/v1", "Deployment"), "web",
                                           "d", buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "/apis/apps/v1/namespaces/web/deployments/d");
    gitsync_resource_path(schema_kind_by_gvk("v1", "Namespace"), NULL, "web", buf, sizeof(buf));
    assert_string_equal(buf, "/api/v1/namespaces/web");
    gitsync_resource_path(schema_kind_by_gvk("v1", "Service"), "default", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "/api/v1/namespaces/default/services");
    gitsync_status_path("default", buf, sizeof(buf));
    assert_string_equal(buf, "/apis/bosun.io/v1/namespaces/bosun-system/gitrepositories/default");
}

static void test_applied_config_labels_and_source(void **state)
{
    (void)state;
    struct gitsync_obj o = mkobj("v1", "ConfigMap", "c", 0);
    json_object_set_new(json_object_get(o.obj, "metadata"), "annotations",
                        json_pack("{s:s}", JSONMERGE_LAST_APPLIED_ANNOTATION, "{}"));
    json_t *a = gitsync_applied_config(&o, "/srv/repo.git@0123");
    json_t *labels = jsonx_get(a, "metadata.labels");
    json_t *ann = jsonx_get(a, "metadata.annotations");
    assert_string_equal(json_string_value(json_object_get(labels, GITSYNC_MANAGED_BY_LABEL)),
                        "bosun-gitsync");
    assert_string_equal(json_string_value(json_object_get(ann, GITSYNC_SOURCE_ANNOTATION)),
                        "/srv/repo.git@0123:f.yaml");
    assert_null(json_object_get(ann, JSONMERGE_LAST_APPLIED_ANNOTATION));
    /* The manifest itself is not modified. */
    assert_null(jsonx_get(o.obj, "metadata.labels"));
    json_decref(a);
    json_decref(o.obj);
    free(o.file);
}

static void test_status_merge_keeps_transition_time(void **state)
{
    (void)state;
    json_t *old = J("{\"lastAppliedRevision\":\"main@sha1:aa\",\"errors\":[{\"message\":\"x\"}],"
                    "\"conditions\":[{\"type\":\"Other\",\"status\":\"True\"},"
                    "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Synced\","
                    "\"message\":\"old\",\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}");
    json_t *f = json_pack("{s:[o], s:[], s:n}", "conditions",
                          gitsync_ready_condition("True", "Synced", "new"), "errors",
                          "lastAppliedRevision");
    json_t *st = gitsync_status_merge(old, f);
    assert_json_eq(st, "{\"errors\":[],\"conditions\":[{\"type\":\"Other\",\"status\":\"True\"},"
                       "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Synced\","
                       "\"message\":\"new\",\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}");
    json_decref(st);
    json_decref(f);
    /* A new reason moves the transition time. */
    f = json_pack("{s:[o]}", "conditions",
                  gitsync_ready_condition("False", "ValidationFailed", "bad"));
    st = gitsync_status_merge(old, f);
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(st, "conditions"), 1), "lastTransitionTime"));
    assert_string_not_equal(t, "2020-01-01T00:00:00Z");
    json_decref(st);
    json_decref(f);
    json_decref(old);
}

static void test_format_duration(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(gitsync_format_duration(30000, b, sizeof(b)), "30s");
    assert_string_equal(gitsync_format_duration(90000, b, sizeof(b)), "1m30s");
    assert_string_equal(gitsync_format_duration(3600000, b, sizeof(b)), "1h");
    assert_string_equal(gitsync_format_duration(250, b, sizeof(b)), "250ms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_namespaces_config_services_rest),
        cmocka_unit_test(test_resource_paths),
        cmocka_unit_test(test_applied_config_labels_and_source),
        cmocka_unit_test(test_status_merge_keeps_transition_time),
        cmocka_unit_test(test_format_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
