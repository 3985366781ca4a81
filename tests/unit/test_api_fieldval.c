/* Unit tests for reconcilerd/api/fieldval: the Warning kube-apiserver gives for an unknown
 * field under fieldValidation=Warn, and the field left out of what is stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "reconcilerd/api/fieldval.h"

static void test_fieldval_unknown_text_names_the_path_as_kubernetes_does(void **state)
{
    (void)state;
    char buf[300];
    api_fieldval_unknown_text("datta",
                              "unknown field \"datta\" (not declared in Kubernetes 1.30 ConfigMap; "
                              "did you mean \"data\"?)",
                              buf, sizeof(buf));
    assert_string_equal(buf, "unknown field \"datta\" (not declared in Kubernetes 1.30 ConfigMap; "
                             "did you mean \"data\"?)");
    /* list items as [i], as kube-apiserver prints them */
    api_fieldval_unknown_text("spec.template.spec.containers.0.imagePolicy",
                              "unknown field \"imagePolicy\" (not declared in Kubernetes 1.30 "
                              "Container)",
                              buf, sizeof(buf));
    assert_string_equal(buf, "unknown field \"spec.template.spec.containers[0].imagePolicy\" "
                             "(not declared in Kubernetes 1.30 Container)");
    api_fieldval_unknown_text("a.12.b.3", "field not declared", buf, sizeof(buf));
    assert_string_equal(buf, "unknown field \"a[12].b[3]\"");
    /* a key that merely starts with digits is not an index */
    api_fieldval_unknown_text("metadata.1x", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "unknown field \"metadata.1x\"");
    /* truncation keeps the string terminated */
    char small[16];
    api_fieldval_unknown_text("spec.replicaz", "unknown field \"replicaz\"", small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_fieldval_warning_escapes_quotes_and_never_splits_an_escape(void **state)
{
    (void)state;
    char buf[200];
    api_fieldval_warning("unknown field \"a\\b\"\nx", buf, sizeof(buf));
    assert_string_equal(buf, "299 - \"unknown field \\\"a\\\\b\\\" x\"");
    /* truncated: still quoted, and no lone backslash before the closing quote */
    char small[12];
    api_fieldval_warning("ab\"cdefgh", small, sizeof(small));
    assert_string_equal(small, "299 - \"ab\"");
    api_fieldval_warning("abc", small, 3);
    assert_string_equal(small, "");
}

static void test_fieldval_drop_removes_the_member_at_a_path(void **state)
{
    (void)state;
    json_t *o = json_loads("{\"datta\":1,\"spec\":{\"replicaz\":2,\"replicas\":3,\"template\":"
                           "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\",\"x\":1}]"
                           "}}}}",
                           0, NULL);
    assert_non_null(o);
    assert_true(api_fieldval_drop(o, "datta"));
    assert_true(api_fieldval_drop(o, "spec.replicaz"));
    assert_true(api_fieldval_drop(o, "spec.template.spec.containers.1.x"));
    assert_false(api_fieldval_drop(o, "spec.replicaz"));    /* gone already */
    assert_false(api_fieldval_drop(o, "spec.nope.deeper")); /* no such parent */
    assert_false(api_fieldval_drop(o, "spec.template.spec.containers.5.x"));
    assert_false(api_fieldval_drop(o, "spec.template.spec.containers[0]")); /* a list item */
    json_t *want = json_loads("{\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":"
                              "[{\"name\":\"a\"},{\"name\":\"b\"}]}}}}",
                              0, NULL);
    assert_true(json_equal(o, want));
    /* the [i] form of the same path */
    json_t *c0 = json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(o, "spec"), "template"), "spec"),
            "containers"),
        0);
    json_object_set_new(c0, "y", json_true());
    assert_true(api_fieldval_drop(o, "spec.template.spec.containers[0].y"));
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fieldval_unknown_text_names_the_path_as_kubernetes_does),
        cmocka_unit_test(test_fieldval_warning_escapes_quotes_and_never_splits_an_escape),
        cmocka_unit_test(test_fieldval_drop_removes_the_member_at_a_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
