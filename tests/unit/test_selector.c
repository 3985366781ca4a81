/* Unit tests for lib/selector: label selectors (string and JSON forms), field selectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/selector.h"

static json_t *labels(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    return j;
}

/* Does selector s (string form) select the labels in json? */
static bool sel_matches(const char *s, const char *json)
{
    struct label_selector *sel = NULL;
    struct bosun_err err = {0};
    int r = label_selector_parse(s, &sel, &err);
    if (r != 0)
        fail_msg("parse %s: %s", s, err.msg);
    json_t *l = labels(json);
    bool m = label_selector_matches(sel, l);
    json_decref(l);
    label_selector_free(sel);
    return m;
}

static void test_label_selector_equality_operators(void **state)
{
    (void)state;
    assert_true(sel_matches("app=web", "{\"app\":\"web\"}"));
    assert_true(sel_matches("app==web", "{\"app\":\"web\"}"));
    assert_false(sel_matches("app=web", "{\"app\":\"db\"}"));
    assert_false(sel_matches("app=web", "{}"));
    assert_true(sel_matches("app!=web", "{\"app\":\"db\"}"));
    assert_true(sel_matches("app!=web", "{}")); /* a missing label is "not web" */
    assert_false(sel_matches("app!=web", "{\"app\":\"web\"}"));
    assert_true(sel_matches("app=", "{\"app\":\"\"}"));
    assert_true(sel_matches(" app = web , tier != db ", "{\"app\":\"web\",\"tier\":\"fe\"}"));
    assert_false(sel_matches("app=web,tier!=db", "{\"app\":\"web\",\"tier\":\"db\"}"));
}

static void test_label_selector_set_operators(void **state)
{
    (void)state;
    assert_true(sel_matches("env in (a,b)", "{\"env\":\"b\"}"));
    assert_true(sel_matches("env in(a, b )", "{\"env\":\"a\"}"));
    assert_false(sel_matches("env in (a,b)", "{\"env\":\"c\"}"));
    assert_false(sel_matches("env in (a,b)", "{}"));
    assert_true(sel_matches("env notin (a,b)", "{\"env\":\"c\"}"));
    assert_true(sel_matches("env notin (a,b)", "{}"));
    assert_false(sel_matches("env notin (a,b)", "{\"env\":\"a\"}"));
    assert_true(sel_matches("app in (web,nginx),tier!=x", "{\"app\":\"nginx\"}"));
}

static void test_label_selector_exists_and_not_exists(void **state)
{
    (void)state;
    assert_true(sel_matches("release", "{\"release\":\"\"}"));
    assert_false(sel_matches("release", "{}"));
    assert_true(sel_matches("!canary", "{}"));
    assert_false(sel_matches("!canary", "{\"canary\":\"x\"}"));
    assert_true(sel_matches("example.com/app,!example.com/x", "{\"example.com/app\":\"1\"}"));
}

static void test_label_selector_empty_matches_everything(void **state)
{
    (void)state;
    struct label_selector *sel = NULL;
    assert_int_equal(label_selector_parse("", &sel, NULL), 0);
    assert_true(label_selector_empty(sel));
    assert_true(label_selector_matches(sel, NULL));
    label_selector_free(sel);
    assert_int_equal(label_selector_parse("  ", &sel, NULL), 0);
    assert_true(label_selector_empty(sel));
    label_selector_free(sel);
    assert_true(sel_matches("a", "{\"a\":\"1\"}"));
}

static void expect_parse_error(const char *s, const char *msg)
{
    struct label_selector *sel = NULL;
    struct bosun_err err = {0};
    assert_int_equal(label_selector_parse(s, &sel, &err), -EINVAL);
    assert_null(sel);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", s, err.msg, msg);
}

static void test_label_selector_reports_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("a in (b", "labelSelector: \"a in (b\": missing ')'");
    expect_parse_error("a in b", "labelSelector: \"a in b\": expected '(' after 'in'");
    expect_parse_error("a,", "labelSelector: \"a,\": trailing ','");
    expect_parse_error(",a", "labelSelector: \",a\": expected a key, found ','");
    expect_parse_error("a=b=c", "labelSelector: \"a=b=c\": unexpected '=' (requirements are "
                                "separated by ',')");
    expect_parse_error("a foo (b)", "labelSelector: \"a foo (b)\": unknown operator \"foo\" "
                                    "(want =, ==, !=, in, notin)");
    expect_parse_error("a!b", "labelSelector: \"a!b\": expected '!=' after key \"a\"");
    expect_parse_error("!", "labelSelector: \"!\": expected a key after '!'");
    expect_parse_error("-a=b", "labelSelector: \"-a=b\": invalid label key \"-a\": must begin "
                               "and end with an alphanumeric character");
    expect_parse_error("Foo.com/a=b", "labelSelector: \"Foo.com/a=b\": invalid label key "
                                      "\"Foo.com/a\": prefix must be a lowercase DNS subdomain");
    expect_parse_error("a=b$", "labelSelector: \"a=b$\": invalid label value \"b$\": may "
                               "contain only alphanumerics, '-', '_' and '.'");
    char longv[80];
    memset(longv, 'v', 70);
    strcpy(longv + 70, "");
    char s[100];
    snprintf(s, sizeof(s), "a=%s", longv);
    struct label_selector *sel = NULL;
    struct bosun_err err = {0};
    assert_int_equal(label_selector_parse(s, &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "no more than 63 characters"));
}

static int from_json(const char *js, struct label_selector **out, struct bosun_err *err)
{
    json_t *j = json_loads(js, 0, NULL);
    assert_non_null(j);
    int r = label_selector_from_json(j, out, err);
    json_decref(j);
    return r;
}

static void test_label_selector_json_form(void **state)
{
    (void)state;
    struct label_selector *sel = NULL;
    struct bosun_err err = {0};
    assert_int_equal(
        from_json("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                  "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
                  "{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"db\"]},"
                  "{\"key\":\"release\",\"operator\":\"Exists\"},"
                  "{\"key\":\"canary\",\"operator\":\"DoesNotExist\",\"values\":[]}]}",
                  &sel, &err),
        0);
    json_t *l = labels("{\"app\":\"web\",\"env\":\"a\",\"release\":\"1\"}");
    assert_true(label_selector_matches(sel, l));
    json_object_set_new(l, "canary", json_string("y"));
    assert_false(label_selector_matches(sel, l));
    json_object_del(l, "canary");
    json_object_set_new(l, "tier", json_string("db"));
    assert_false(label_selector_matches(sel, l));
    json_decref(l);
    label_selector_free(sel);

    assert_int_equal(label_selector_from_json(NULL, &sel, &err), 0);
    assert_true(label_selector_empty(sel));
    label_selector_free(sel);
    assert_int_equal(from_json("{}", &sel, &err), 0);
    assert_true(label_selector_matches(sel, NULL));
    label_selector_free(sel);
}

static void expect_json_error(const char *js, const char *msg)
{
    struct label_selector *sel = NULL;
    struct bosun_err err = {0};
    assert_int_equal(from_json(js, &sel, &err), -EINVAL);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", js, err.msg, msg);
}

static void test_label_selector_json_form_reports_errors(void **state)
{
    (void)state;
    expect_json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Equals\","
                      "\"values\":[\"x\"]}]}",
                      "selector.matchExpressions[0].operator: \"Equals\" is not a valid operator "
                      "(want In, NotIn, Exists, DoesNotExist)");
    expect_json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]}",
                      "selector.matchExpressions[0].values: must be non-empty when operator is "
                      "In");
    expect_json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\","
                      "\"values\":[\"x\"]}]}",
                      "selector.matchExpressions[0].values: must be empty when operator is "
                      "Exists");
    expect_json_error("{\"matchExpressions\":[{\"operator\":\"Exists\"}]}",
                      "selector.matchExpressions[0].key: required");
    expect_json_error("{\"matchLabels\":{\"app\":1}}",
                      "selector.matchLabels.app: must be a string");
    expect_json_error("{\"matchLabels\":{\"app\":\"a b\"}}",
                      "selector.matchLabels.app: invalid value \"a b\": may contain only "
                      "alphanumerics, '-', '_' and '.'");
    expect_json_error("{\"matchLabel\":{}}",
                      "selector.matchLabel: unknown field (want matchLabels, matchExpressions)");
}

static bool field_matches(const char *s, const char *obj_json)
{
    struct field_selector *sel = NULL;
    struct bosun_err err = {0};
    if (field_selector_parse(s, &sel, &err) != 0)
        fail_msg("parse %s: %s", s, err.msg);
    json_t *o = labels(obj_json);
    bool m = field_selector_matches(sel, o);
    json_decref(o);
    field_selector_free(sel);
    return m;
}

static void test_field_selector_operators_and_missing_fields(void **state)
{
    (void)state;
    const char *pod = "{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\"},"
                      "\"spec\":{\"nodeName\":\"n1\",\"replicas\":3},"
                      "\"status\":{\"phase\":\"Running\"}}";
    assert_true(field_matches("metadata.name=web-1", pod));
    assert_true(field_matches("metadata.name==web-1,metadata.namespace=default", pod));
    assert_false(field_matches("metadata.name=web-1,metadata.namespace=kube-system", pod));
    assert_true(field_matches("status.phase!=Pending", pod));
    assert_false(field_matches("spec.nodeName!=n1", pod));
    assert_true(field_matches("spec.replicas=3", pod));
    /* A missing field compares as "": unscheduled pods have spec.nodeName="" */
    assert_true(field_matches("spec.nodeName=", "{\"spec\":{}}"));
    assert_false(field_matches("spec.nodeName!=", "{\"spec\":{}}"));
    assert_true(field_matches("spec.nodeName!=", pod));
    assert_true(field_matches("", pod));
    /* Escaped ',' and '=' belong to the value. */
    assert_true(field_matches("metadata.name=a\\,b\\=c", "{\"metadata\":{\"name\":\"a,b=c\"}}"));
}

static void test_field_selector_accessors(void **state)
{
    (void)state;
    struct field_selector *sel = NULL;
    assert_int_equal(field_selector_parse("spec.nodeName=n1,metadata.name!=x", &sel, NULL), 0);
    assert_int_equal(field_selector_count(sel), 2);
    assert_string_equal(field_selector_field(sel, 0), "spec.nodeName");
    assert_string_equal(field_selector_field(sel, 1), "metadata.name");
    assert_string_equal(field_selector_equals(sel, "spec.nodeName"), "n1");
    assert_null(field_selector_equals(sel, "metadata.name")); /* != is not an equality */
    assert_null(field_selector_equals(sel, "status.phase"));
    field_selector_free(sel);
}

static void test_field_selector_reports_parse_errors(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"metadata.name", "fieldSelector: \"metadata.name\": \"metadata.name\" has no operator "
                          "(want =, ==, !=)"},
        {"=x", "fieldSelector: \"=x\": a term is missing its field name"},
        {"a=b,,c=d", "fieldSelector: \"a=b,,c=d\": empty term"},
        {"a=b=c", "fieldSelector: \"a=b=c\": unescaped operator in value \"b=c\""},
        {"a=b\\", "fieldSelector: \"a=b\\\": trailing '\\'"},
        {"a=\\q", "fieldSelector: \"a=\\q\": invalid escape in value \"\\q\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct field_selector *sel = NULL;
        struct bosun_err err = {0};
        assert_int_equal(field_selector_parse(bad[i][0], &sel, &err), -EINVAL);
        if (strcmp(err.msg, bad[i][1]) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i][0], err.msg, bad[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_selector_equality_operators),
        cmocka_unit_test(test_label_selector_set_operators),
        cmocka_unit_test(test_label_selector_exists_and_not_exists),
        cmocka_unit_test(test_label_selector_empty_matches_everything),
        cmocka_unit_test(test_label_selector_reports_parse_errors),
        cmocka_unit_test(test_label_selector_json_form),
        cmocka_unit_test(test_label_selector_json_form_reports_errors),
        cmocka_unit_test(test_field_selector_operators_and_missing_fields),
        cmocka_unit_test(test_field_selector_accessors),
        cmocka_unit_test(test_field_selector_reports_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
