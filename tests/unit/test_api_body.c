/* Unit tests for reconcilerd/api/body: media types and the protobuf envelope that
 * `kubectl create namespace` sends (the exact bytes of k8s-api-subset.md §8 item 11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "reconcilerd/api/body.h"

static void test_media_types_ignore_parameters(void **state)
{
    (void)state;
    assert_int_equal(api_media_of("application/json; charset=utf-8"), API_MEDIA_JSON);
    assert_int_equal(api_media_of("application/strategic-merge-patch+json"), API_MEDIA_SMP);
    assert_int_equal(api_media_of("application/apply-patch+yaml"), API_MEDIA_APPLY);
    assert_int_equal(api_media_of("application/vnd.kubernetes.protobuf"), API_MEDIA_PROTOBUF);
    assert_int_equal(api_media_of("text/plain"), API_MEDIA_OTHER);
    assert_int_equal(api_media_of(NULL), API_MEDIA_NONE);
}

static void test_protobuf_namespace_from_kubectl_create(void **state)
{
    (void)state;
    static const unsigned char body[] = {
        0x6b, 0x38, 0x73, 0x00,                                     /* k8s\0 */
        0x0a, 0x0f, 0x0a, 0x02, 'v', '1', 0x12, 0x09, 'N', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e',
        0x12, 0x19,                                                 /* raw */
        0x0a, 0x11,                                                 /* ObjectMeta */
        0x0a, 0x01, 'x', 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00,
        0x42, 0x00,
        0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00,                         /* spec, status */
        0x1a, 0x00, 0x22, 0x00,
    };
    char msg[256] = "";
    json_t *o = api_protobuf_decode(body, sizeof(body), msg, sizeof(msg));
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "Namespace");
    assert_string_equal(json_string_value(json_object_get(o, "apiVersion")), "v1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), "x");
    json_decref(o);
}

static void test_protobuf_configmap_data_and_errors(void **state)
{
    (void)state;
    /* ConfigMap{metadata{name:"c", labels{a:b}}, data{k:v}} */
    static const unsigned char body[] = {
        0x6b, 0x38, 0x73, 0x00,
        0x0a, 0x0f, 0x0a, 0x02, 'v', '1', 0x12, 0x09, 'C', 'o', 'n', 'f', 'i', 'g', 'M', 'a', 'p',
        0x12, 0x15,
        0x0a, 0x0b, 0x0a, 0x01, 'c', 0x5a, 0x06, 0x0a, 0x01, 'a', 0x12, 0x01, 'b',
        0x12, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, 'v',
    };
    char msg[256] = "";
    json_t *o = api_protobuf_decode(body, sizeof(body), msg, sizeof(msg));
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "k")), "v");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(o, "metadata"), "labels"), "a")),
                        "b");
    json_decref(o);
    /* Truncated input and foreign kinds are refused with a reason. */
    assert_null(api_protobuf_decode(body, sizeof(body) - 3, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "malformed"));
    assert_null(api_protobuf_decode((const unsigned char *)"{}", 2, msg, sizeof(msg)));
    json_t *st = NULL;
    assert_null(api_body_decode("{\"a\":", 5, API_MEDIA_JSON, &st));
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 400);
    json_decref(st);
    assert_null(api_body_decode("x", 1, API_MEDIA_OTHER, &st));
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 415);
    json_decref(st);
}

static void test_protobuf_rules_review_from_kubectl_auth_can_i_list(void **state)
{
    (void)state;
    /* the body `kubectl auth can-i --list -n web` (v1.32) sent, as captured */
    static const char hex[] =
        "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a"
        "65637452756c6573526576696577121f0a100a0012001a0022002a0032003800420012050a037765621a"
        "04180022001a002200";
    unsigned char body[sizeof(hex) / 2];
    for (size_t i = 0; i < sizeof(body); i++) {
        unsigned int b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        body[i] = (unsigned char)b;
    }
    char msg[256] = "";
    json_t *o = api_protobuf_decode(body, sizeof(body), msg, sizeof(msg));
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "SelfSubjectRulesReview");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "spec"),
                                                          "namespace")),
                        "web");
    json_decref(o);
    /* truncated inside spec: malformed, not a crash */
    o = api_protobuf_decode(body, sizeof(body) - 14, msg, sizeof(msg));
    assert_null(o);
}

static void test_delete_options_dry_run_from_the_body(void **state)
{
    (void)state;
    /* what kubectl delete --dry-run=server sends */
    json_t *o = json_loads("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                           "\"propagationPolicy\":\"Background\",\"dryRun\":[\"All\"]}",
                           0, NULL);
    assert_true(api_body_dry_run_all(o));
    json_decref(o);
    o = json_loads("{\"gracePeriodSeconds\":5}", 0, NULL);
    assert_false(api_body_dry_run_all(o));
    json_decref(o);
    o = json_loads("{\"dryRun\":[]}", 0, NULL);
    assert_false(api_body_dry_run_all(o));
    json_decref(o);
    o = json_loads("{\"dryRun\":\"All\"}", 0, NULL); /* not a list: not DeleteOptions */
    assert_false(api_body_dry_run_all(o));
    json_decref(o);
    assert_false(api_body_dry_run_all(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_types_ignore_parameters),
        cmocka_unit_test(test_protobuf_namespace_from_kubectl_create),
        cmocka_unit_test(test_protobuf_configmap_data_and_errors),
        cmocka_unit_test(test_protobuf_rules_review_from_kubectl_auth_can_i_list),
        cmocka_unit_test(test_delete_options_dry_run_from_the_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
