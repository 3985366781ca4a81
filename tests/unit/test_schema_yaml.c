/* Unit tests for schema/yaml (YAML -> JSON with positions) and schema/kinds. */
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
#include "schema/kinds.h"
#include "schema/yaml.h"

static int parse(const char *text, struct schema_docs *docs, struct bosun_err *err)
{
    return schema_yaml_parse(text, strlen(text), "t.yaml", docs, err);
}

static void expect_error(const char *text, const char *msg_part)
{
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    int r = parse(text, &docs, &err);
    if (r == 0 || !strstr(err.msg, msg_part))
        fail_msg("expected error containing '%s', got r=%d msg='%s'", msg_part, r, err.msg);
    assert_int_equal(docs.n, 0);
    assert_null(docs.v);
}

static void test_yaml_scalars_follow_yaml_1_2_core_schema(void **state)
{
    (void)state;
    const char *y = "t: true\nF: False\nn: null\ntilde: ~\nempty:\n"
                    "yes_: yes\nno_: no\non_: on\noff_: off\n"
                    "i: 42\nneg: -7\nhex: 0x1F\noct: 0o17\nlead: 0644\n"
                    "f: 1.5\nexp: 1e3\nq: \"42\"\nsq: 'true'\nstr: !!str 12\nver: 1.2.3\n";
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse(y, &docs, &err), 0);
    assert_int_equal(docs.n, 1);
    json_t *o = docs.v[0].obj;
    assert_true(json_is_true(json_object_get(o, "t")));
    assert_true(json_is_false(json_object_get(o, "F")));
    assert_true(json_is_null(json_object_get(o, "n")));
    assert_true(json_is_null(json_object_get(o, "tilde")));
    assert_true(json_is_null(json_object_get(o, "empty")));
    assert_string_equal(jsonx_get_str(o, "yes_"), "yes");
    assert_string_equal(jsonx_get_str(o, "no_"), "no");
    assert_string_equal(jsonx_get_str(o, "on_"), "on");
    assert_string_equal(jsonx_get_str(o, "off_"), "off");
    assert_int_equal(jsonx_get_int(o, "i", 0), 42);
    assert_int_equal(jsonx_get_int(o, "neg", 0), -7);
    assert_int_equal(jsonx_get_int(o, "hex", 0), 31);
    assert_int_equal(jsonx_get_int(o, "oct", 0), 15);
    assert_int_equal(jsonx_get_int(o, "lead", 0), 644);
    assert_true(json_is_real(json_object_get(o, "f")));
    assert_true(json_real_value(json_object_get(o, "exp")) == 1000.0);
    assert_string_equal(jsonx_get_str(o, "q"), "42");
    assert_string_equal(jsonx_get_str(o, "sq"), "true");
    assert_string_equal(jsonx_get_str(o, "str"), "12");
    assert_string_equal(jsonx_get_str(o, "ver"), "1.2.3");
    schema_docs_free(&docs);
}

static void test_yaml_numeric_keys_become_strings(void **state)
{
    (void)state;
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse("80: http\ntrue: x\n1.5: y\n", &docs, &err), 0);
    json_t *o = docs.v[0].obj;
    assert_string_equal(jsonx_get_str(o, "80"), "http");
    assert_string_equal(jsonx_get_str(o, "true"), "x");
    assert_string_equal(json_string_value(json_object_get(o, "1.5")), "y");
    schema_docs_free(&docs);
}

static void test_yaml_records_positions_by_dotted_path(void **state)
{
    (void)state;
    const char *y = "apiVersion: apps/v1\n"
                    "kind: Deployment\n"
                    "spec:\n"
                    "  replicas: 3\n"
                    "  template:\n"
                    "    spec:\n"
                    "      containers:\n"
                    "      - name: web\n"
                    "        image: nginx\n";
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse(y, &docs, &err), 0);
    int line = 0, col = 0;
    assert_int_equal(schema_doc_position(&docs.v[0], "spec.replicas", &line, &col), 0);
    assert_int_equal(line, 4);
    assert_int_equal(col, 3);
    assert_int_equal(
        schema_doc_position(&docs.v[0], "spec.template.spec.containers.0.image", &line, &col), 0);
    assert_int_equal(line, 9);
    assert_int_equal(col, 9);
    assert_int_equal(schema_doc_position(&docs.v[0], "spec.template.spec.containers.0", &line,
                                         &col),
                     0);
    assert_int_equal(line, 8);
    assert_int_equal(col, 9);
    schema_docs_free(&docs);
}

static void test_yaml_position_falls_back_to_nearest_parent(void **state)
{
    (void)state;
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse("a:\n  b: 1\n", &docs, &err), 0);
    int line = 0, col = 0;
    assert_int_equal(schema_doc_position(&docs.v[0], "a.b.c.d", &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
    assert_int_equal(schema_doc_position(&docs.v[0], "zzz", &line, &col), 0);
    assert_int_equal(line, 1); /* the root */
    assert_int_equal(schema_doc_position(NULL, "a", &line, &col), -ENOENT);
    schema_docs_free(&docs);
}

static void test_yaml_multi_document_skips_empty_documents(void **state)
{
    (void)state;
    const char *y = "# leading comment\n---\n---\nkind: A\n---\n# only a comment\n---\nkind: B\n...\n";
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse(y, &docs, &err), 0);
    assert_int_equal(docs.n, 2);
    assert_string_equal(jsonx_get_str(docs.v[0].obj, "kind"), "A");
    assert_int_equal(docs.v[0].line, 3);
    assert_string_equal(jsonx_get_str(docs.v[1].obj, "kind"), "B");
    int line = 0, col = 0;
    assert_int_equal(schema_doc_position(&docs.v[1], "kind", &line, &col), 0);
    assert_int_equal(line, 8);
    schema_docs_free(&docs);

    assert_int_equal(parse("", &docs, &err), 0);
    assert_int_equal(docs.n, 0);
    schema_docs_free(&docs);
}

static void test_yaml_expands_anchors_aliases_and_merge_keys(void **state)
{
    (void)state;
    const char *y = "labels: &l {app: web}\n"
                    "sel: *l\n"
                    "base: &b {a: 1, b: 2}\n"
                    "m:\n"
                    "  <<: *b\n"
                    "  b: 3\n";
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse(y, &docs, &err), 0);
    json_t *o = docs.v[0].obj;
    assert_string_equal(jsonx_get_str(o, "sel.app"), "web");
    /* the alias is a copy: changing it does not change the anchor */
    json_object_set_new(jsonx_get(o, "sel"), "app", json_string("x"));
    assert_string_equal(jsonx_get_str(o, "labels.app"), "web");
    assert_int_equal(jsonx_get_int(o, "m.a", 0), 1);
    assert_int_equal(jsonx_get_int(o, "m.b", 0), 3);
    schema_docs_free(&docs);
}

static void test_yaml_rejects_billion_laughs(void **state)
{
    (void)state;
    expect_error("a: &a [x,x,x,x,x,x,x,x,x,x]\n"
                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                 "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                 "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                 "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                 "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                 "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
                 "billion laughs");
}

static void test_yaml_errors_carry_file_line_col(void **state)
{
    (void)state;
    expect_error("a: 1\nb:\n  c: 2\n  c: 3\n", "t.yaml:4:3: duplicate key \"c\"");
    expect_error("a: [1, 2\n", "t.yaml:");
    expect_error("a: *nope\n", "t.yaml:1:4: unknown anchor \"nope\"");
    expect_error("n: 99999999999999999999\n", "t.yaml:1:4: integer 99999999999999999999");
    expect_error("n: .inf\n", "cannot be represented in JSON");
    expect_error("? [a, b]\n: c\n", "mapping keys must be");
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse("a: b: c\n", &docs, &err), -EINVAL);
    assert_true(strncmp(err.msg, "t.yaml:1:", 9) == 0);
}

static void test_yaml_int64_limits_parse_exactly(void **state)
{
    (void)state;
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    assert_int_equal(parse("max: 9223372036854775807\nmin: -9223372036854775808\n", &docs, &err),
                     0);
    assert_true(jsonx_get_int(docs.v[0].obj, "max", 0) == INT64_MAX);
    assert_true(jsonx_get_int(docs.v[0].obj, "min", 0) == INT64_MIN);
    schema_docs_free(&docs);
}

static void test_kinds_lookup_by_gvk_and_resource(void **state)
{
    (void)state;
    const struct schema_kind *k = schema_kind_by_gvk("apps/v1", "Deployment");
    assert_non_null(k);
    assert_string_equal(k->resource, "deployments");
    assert_string_equal(k->short_names[0], "deploy");
    assert_true(k->namespaced && k->in_all_category);
    assert_null(schema_kind_by_gvk("v1", "Deployment"));
    assert_null(schema_kind_by_gvk("apps/v1", "Deplyment"));
    assert_null(schema_kind_by_gvk("/v1", "Pod"));
    assert_ptr_equal(schema_kind_by_resource("", "v1", "pods"), schema_kind_by_gvk("v1", "Pod"));
    assert_ptr_equal(schema_kind_by_resource("bosun.io", "v1", "gitrepositories"),
                     schema_kind_by_gvk("bosun.io/v1", "GitRepository"));
    assert_null(schema_kind_by_resource("apps", "v1", "pods"));
    char buf[64];
    assert_string_equal(schema_kind_api_version(k, buf, sizeof(buf)), "apps/v1");
    k = schema_kind_by_gvk("v1", "Node");
    assert_false(k->namespaced);
    assert_string_equal(schema_kind_api_version(k, buf, sizeof(buf)), "v1");
    k = schema_kind_by_gvk("coordination.k8s.io/v1", "Lease");
    assert_non_null(k);
    size_t n = 0;
    const struct schema_kind *all = schema_kinds(&n);
    assert_int_equal(n, 12);
    int pods_has_binding = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].kind, "Pod") == 0)
            for (int j = 0; all[i].subresources[j]; j++)
                pods_has_binding |= strcmp(all[i].subresources[j], "binding") == 0;
    assert_true(pods_has_binding);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_scalars_follow_yaml_1_2_core_schema),
        cmocka_unit_test(test_yaml_numeric_keys_become_strings),
        cmocka_unit_test(test_yaml_records_positions_by_dotted_path),
        cmocka_unit_test(test_yaml_position_falls_back_to_nearest_parent),
        cmocka_unit_test(test_yaml_multi_document_skips_empty_documents),
        cmocka_unit_test(test_yaml_expands_anchors_aliases_and_merge_keys),
        cmocka_unit_test(test_yaml_rejects_billion_laughs),
        cmocka_unit_test(test_yaml_errors_carry_file_line_col),
        cmocka_unit_test(test_yaml_int64_limits_parse_exactly),
        cmocka_unit_test(test_kinds_lookup_by_gvk_and_resource),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
