/* Unit tests for reconcilerd/api/patch: merge patch, strategic merge patch (including the
 * exact patch kubectl sent in k8s-api-subset.md §7.1), JSON patch and server-side apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "reconcilerd/api/patch.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    if (!v)
        fail_msg("bad test JSON at %d: %s: %s", e.position, e.text, s);
    return v;
}

static void assert_json_eq(const json_t *got, const char *want_s)
{
    json_t *want = J(want_s);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
        print_error("got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

static void test_merge_patch_null_deletes_and_arrays_replace(void **state)
{
    (void)state;
    json_t *t = J("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"l\":[1,2]}");
    json_t *p = J("{\"a\":null,\"b\":{\"c\":null,\"e\":4},\"l\":[3]}");
    json_t *r = api_merge_patch(t, p);
    assert_json_eq(r, "{\"b\":{\"d\":3,\"e\":4},\"l\":[3]}");
    json_decref(r);
    /* A non-object patch replaces the target. */
    json_t *s = J("[1]");
    r = api_merge_patch(t, s);
    assert_json_eq(r, "[1]");
    json_decref(r);
    json_decref(s);
    json_decref(t);
    json_decref(p);
}

/* The exact patch kubectl computed going from d1.yaml to d2.yaml (§7.1). */
static void test_smp_kubectl_example_from_api_subset(void **state)
{
    (void)state;
    json_t *live = J(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
        "\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},"
        " \"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"old\"}},"
        "\"spec\":{\"replicas\":1,"
        " \"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":1}},"
        " \"template\":{\"spec\":{"
        "  \"containers\":["
        "   {\"name\":\"a\",\"image\":\"img:1\",\"args\":[\"x\",\"y\"],"
        "    \"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
        "    \"ports\":[{\"containerPort\":80},{\"containerPort\":443}],"
        "    \"volumeMounts\":[{\"mountPath\":\"/v1\",\"name\":\"v1\"}]},"
        "   {\"name\":\"b\",\"image\":\"img:b\"}],"
        "  \"volumes\":[{\"name\":\"v1\",\"emptyDir\":{}}]}}},"
        "\"status\":{\"replicas\":1}}");
    json_t *patch = J(
        "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"new\"},\"labels\":{\"tier\":null}},"
        " \"spec\":{\"replicas\":3,"
        "  \"strategy\":{\"$retainKeys\":[\"type\"],\"rollingUpdate\":null,\"type\":\"Recreate\"},"
        "  \"template\":{\"spec\":{"
        "   \"$setElementOrder/containers\":[{\"name\":\"c\"},{\"name\":\"a\"}],"
        "   \"$setElementOrder/volumes\":[{\"name\":\"v2\"}],"
        "   \"containers\":[{\"image\":\"img:3\",\"name\":\"c\"},"
        "     {\"$setElementOrder/ports\":[{\"containerPort\":443}],\"$setElementOrder/volumeMounts\":[{\"mountPath\":\"/v2\"}],"
        "      \"args\":[\"z\"],\"env\":null,\"image\":\"img:2\",\"name\":\"a\","
        "      \"ports\":[{\"$patch\":\"delete\",\"containerPort\":80}],"
        "      \"volumeMounts\":[{\"mountPath\":\"/v2\",\"name\":\"v2\"},{\"$patch\":\"delete\",\"mountPath\":\"/v1\"}]},"
        "     {\"$patch\":\"delete\",\"name\":\"b\"}],"
        "   \"volumes\":[{\"emptyDir\":{},\"name\":\"v2\"},{\"$patch\":\"delete\",\"name\":\"v1\"}]}}}}");
    json_t *out = NULL;
    struct bosun_err err = {0};
    assert_int_equal(api_smp_apply(live, patch, &out, &err), 0);
    assert_json_eq(out,
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
        "\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"},"
        " \"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"new\"}},"
        "\"spec\":{\"replicas\":3,\"strategy\":{\"type\":\"Recreate\"},"
        " \"template\":{\"spec\":{"
        "  \"containers\":["
        "   {\"name\":\"c\",\"image\":\"img:3\"},"
        "   {\"name\":\"a\",\"image\":\"img:2\",\"args\":[\"z\"],"
        "    \"ports\":[{\"containerPort\":443}],"
        "    \"volumeMounts\":[{\"mountPath\":\"/v2\",\"name\":\"v2\"}]}],"
        "  \"volumes\":[{\"name\":\"v2\",\"emptyDir\":{}}]}}},"
        "\"status\":{\"replicas\":1}}");
    /* Order matters for containers: c first, as $setElementOrder says. */
    json_t *containers = json_object_get(
        json_object_get(json_object_get(json_object_get(out, "spec"), "template"), "spec"),
        "containers");
    assert_string_equal(json_string_value(json_object_get(json_array_get(containers, 0), "name")),
                        "c");
    /* No directive survives. */
    char *s = json_dumps(out, JSON_COMPACT);
    assert_null(strstr(s, "$"));
    free(s);
    json_decref(out);
    json_decref(live);
    json_decref(patch);
}

static void test_smp_service_ports_merge_by_port(void **state)
{
    (void)state;
    json_t *live = J("{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30001},"
                     "{\"port\":443,\"targetPort\":8443}]}}");
    json_t *patch = J("{\"spec\":{\"$setElementOrder/ports\":[{\"port\":80}],"
                      "\"ports\":[{\"port\":80,\"targetPort\":9090},{\"$patch\":\"delete\",\"port\":443}]}}");
    json_t *out = NULL;
    assert_int_equal(api_smp_apply(live, patch, &out, NULL), 0);
    /* nodePort survives: the element is merged, not replaced. */
    assert_json_eq(out, "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090,\"nodePort\":30001}]}}");
    json_decref(out);
    json_decref(live);
    json_decref(patch);
}

static void test_smp_atomic_lists_replace_and_primitive_sets(void **state)
{
    (void)state;
    json_t *live = J("{\"metadata\":{\"finalizers\":[\"a\",\"b\"]},"
                     "\"spec\":{\"tolerations\":[{\"key\":\"x\"}],\"args\":[\"1\",\"2\"]}}");
    json_t *patch = J("{\"metadata\":{\"finalizers\":[\"c\"],\"$deleteFromPrimitiveList/finalizers\":[\"a\"]},"
                      "\"spec\":{\"tolerations\":[{\"key\":\"y\"}],\"args\":[\"3\"]}}");
    json_t *out = NULL;
    assert_int_equal(api_smp_apply(live, patch, &out, NULL), 0);
    assert_json_eq(out, "{\"metadata\":{\"finalizers\":[\"b\",\"c\"]},"
                        "\"spec\":{\"tolerations\":[{\"key\":\"y\"}],\"args\":[\"3\"]}}");
    json_decref(out);
    json_decref(live);
    json_decref(patch);
}

static void test_smp_patch_replace_and_delete_maps(void **state)
{
    (void)state;
    json_t *live = J("{\"spec\":{\"selector\":{\"a\":\"1\",\"b\":\"2\"},\"x\":{\"y\":1}}}");
    json_t *patch = J("{\"spec\":{\"selector\":{\"$patch\":\"replace\",\"c\":\"3\"},"
                      "\"x\":{\"$patch\":\"delete\"}}}");
    json_t *out = NULL;
    assert_int_equal(api_smp_apply(live, patch, &out, NULL), 0);
    assert_json_eq(out, "{\"spec\":{\"selector\":{\"c\":\"3\"}}}");
    json_decref(out);
    json_decref(patch);
    struct bosun_err err = {0};
    patch = J("{\"spec\":{\"x\":{\"$patch\":\"bogus\"}}}");
    assert_int_equal(api_smp_apply(live, patch, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "bogus"));
    json_decref(patch);
    json_decref(live);
}

static void test_json_patch_ops(void **state)
{
    (void)state;
    json_t *doc = J("{\"metadata\":{\"labels\":{\"a/b\":\"1\"}},\"l\":[1,2,3]}");
    json_t *ops = J("[{\"op\":\"test\",\"path\":\"/metadata/labels/a~1b\",\"value\":\"1\"},"
                    "{\"op\":\"replace\",\"path\":\"/metadata/labels/a~1b\",\"value\":\"2\"},"
                    "{\"op\":\"add\",\"path\":\"/l/-\",\"value\":4},"
                    "{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0},"
                    "{\"op\":\"remove\",\"path\":\"/l/1\"},"
                    "{\"op\":\"copy\",\"from\":\"/l\",\"path\":\"/m\"},"
                    "{\"op\":\"move\",\"from\":\"/m\",\"path\":\"/n\"}]");
    json_t *out = NULL;
    struct bosun_err err = {0};
    assert_int_equal(api_json_patch_apply(doc, ops, &out, &err), 0);
    assert_json_eq(out, "{\"metadata\":{\"labels\":{\"a/b\":\"2\"}},\"l\":[0,2,3,4],\"n\":[0,2,3,4]}");
    json_decref(out);
    json_decref(ops);
    /* A failing test, and a path that does not exist, are errors naming the operation. */
    ops = J("[{\"op\":\"test\",\"path\":\"/l/0\",\"value\":9}]");
    assert_int_equal(api_json_patch_apply(doc, ops, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "operation 0 (test)"));
    json_decref(ops);
    ops = J("[{\"op\":\"remove\",\"path\":\"/nope/x\"}]");
    assert_int_equal(api_json_patch_apply(doc, ops, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "/nope/x"));
    json_decref(ops);
    ops = J("{\"op\":\"add\"}");
    assert_int_equal(api_json_patch_apply(doc, ops, &out, &err), -EINVAL);
    json_decref(ops);
    json_decref(doc);
}

static void test_apply_removes_fields_the_manager_stopped_applying(void **state)
{
    (void)state;
    json_t *a1 = J("{\"metadata\":{\"name\":\"d\",\"labels\":{\"x\":\"1\"}},"
                   "\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                   "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}]}]}}}}");
    json_t *live = NULL;
    assert_int_equal(api_apply_merge(NULL, a1, NULL, &live, NULL), 0);
    json_t *f1 = api_fieldset_of(a1);
    json_t *cset = json_object_get(json_object_get(json_object_get(json_object_get(
        json_object_get(f1, "f:spec"), "f:template"), "f:spec"), "f:containers"),
        "k:{\"name\":\"c\"}");
    assert_non_null(cset);
    assert_non_null(json_object_get(json_object_get(cset, "f:env"), "k:{\"name\":\"B\"}"));
    /* Someone else sets a label and status; the manager drops env B and label x. */
    json_object_set_new(json_object_get(json_object_get(live, "metadata"), "labels"), "other",
                        json_string("o"));
    json_object_set_new(live, "status", json_pack("{s:i}", "replicas", 2));
    json_t *a2 = J("{\"metadata\":{\"name\":\"d\"},"
                   "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                   "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}}}");
    json_t *out = NULL;
    assert_int_equal(api_apply_merge(live, a2, f1, &out, NULL), 0);
    assert_json_eq(out, "{\"metadata\":{\"name\":\"d\",\"labels\":{\"other\":\"o\"}},"
                        "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                        "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}},\"status\":{\"replicas\":2}}");
    json_decref(out);
    /* Re-applying the same configuration is idempotent. */
    json_t *f2 = api_fieldset_of(a2);
    json_t *again = NULL;
    assert_int_equal(api_apply_merge(live, a2, f2, &again, NULL), 0);
    json_t *again2 = NULL;
    assert_int_equal(api_apply_merge(again, a2, f2, &again2, NULL), 0);
    assert_true(json_equal(again, again2));
    json_decref(again);
    json_decref(again2);
    json_decref(f1);
    json_decref(f2);
    json_decref(a1);
    json_decref(a2);
    json_decref(live);
}

static void test_merge_keys(void **state)
{
    (void)state;
    assert_string_equal(api_patch_merge_key("spec.ports"), "port");
    assert_string_equal(api_patch_merge_key("spec.template.spec.containers[].ports"),
                        "containerPort");
    assert_string_equal(api_patch_merge_key("spec.containers[].env"), "name");
    assert_string_equal(api_patch_merge_key("spec.containers[].volumeMounts"), "mountPath");
    assert_string_equal(api_patch_merge_key("metadata.finalizers"), "");
    assert_null(api_patch_merge_key("spec.containers[].args"));
    assert_null(api_patch_merge_key("spec.tolerations"));
    assert_null(api_patch_merge_key("subsets[].addresses"));
    assert_string_equal(api_patch_merge_key("status.addresses"), "type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch_null_deletes_and_arrays_replace),
        cmocka_unit_test(test_smp_kubectl_example_from_api_subset),
        cmocka_unit_test(test_smp_service_ports_merge_by_port),
        cmocka_unit_test(test_smp_atomic_lists_replace_and_primitive_sets),
        cmocka_unit_test(test_smp_patch_replace_and_delete_maps),
        cmocka_unit_test(test_json_patch_ops),
        cmocka_unit_test(test_apply_removes_fields_the_manager_stopped_applying),
        cmocka_unit_test(test_merge_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
