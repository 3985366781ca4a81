/* Unit tests for reconcilerd/api/table: a pod's Table row read from its stored bytes
 * (api_table_row_raw, lib/jscan) is byte for byte the row built from the parsed object
 * (api_table_add_row), on hand-made pod shapes and on many generated ones. */
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
#include "lib/strbuf.h"
#include "reconcilerd/api/table.h"
#include "schema/kinds.h"

#define NOW ((time_t)1795000000) /* 2026-11-19 */

/* The row as the parsed path gives it, compact. */
static char *parsed_row(const struct schema_kind *k, const char *text, enum api_table_include inc)
{
    json_t *obj = json_loads(text, 0, NULL);
    if (!obj)
        return NULL;
    json_t *t = api_table_new(k, NULL, false);
    api_table_add_row(t, k, obj, inc, NOW);
    char *s = json_dumps(json_array_get(json_object_get(t, "rows"), 0), JSON_COMPACT);
    json_decref(t);
    json_decref(obj);
    return s;
}

/* Compares both paths on obj's stored form (jansson's compact text, as the store keeps). */
static void check_same(const struct schema_kind *k, const json_t *obj)
{
    char *text = jsonx_dumps(obj);
    assert_non_null(text);
    enum api_table_include incs[] = {API_TABLE_METADATA, API_TABLE_OBJECT, API_TABLE_NONE};
    for (size_t i = 0; i < 3; i++) {
        char *want = parsed_row(k, text, incs[i]);
        assert_non_null(want);
        struct strbuf got = {0};
        int r = api_table_row_raw(&got, k, text, strlen(text), incs[i], NOW);
        if (r != 0 || got.oom || strcmp(got.p ? got.p : "", want) != 0)
            fail_msg("%s (include %zu):\n  raw    %s\n  parsed %s", text, i,
                     got.p ? got.p : "(none)", want);
        free(got.p);
        free(want);
    }
    free(text);
}

static const struct schema_kind *pods(void)
{
    const struct schema_kind *k = schema_kind_by_gvk("v1", "Pod");
    assert_non_null(k);
    return k;
}

static void check_text(const char *text)
{
    json_t *obj = json_loads(text, 0, NULL);
    if (!obj)
        fail_msg("test JSON does not parse: %s", text);
    check_same(pods(), obj);
    json_decref(obj);
}

static void test_api_table_pod_rows_from_bytes_match_parsed_rows(void **state)
{
    (void)state;
    const char *cases[] = {
        /* what the API benchmark creates, as stored */
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"4182\","
        "\"generateName\":\"bench-\",\"labels\":{\"app\":\"bench\"},\"namespace\":\"default\","
        "\"name\":\"bench-226nm\",\"uid\":\"2f14f6ee\",\"creationTimestamp\":\"2026-11-18T13:22:02Z\","
        "\"generation\":1,\"managedFields\":[{\"manager\":\"hey\",\"fieldsV1\":{\"f:spec\":{"
        "\"k:{\\\"name\\\":\\\"c\\\"}\":{}}}}]},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{"
        "\"name\":\"c\",\"image\":\"busybox:1.35\"}]},\"status\":{\"phase\":\"Running\","
        "\"podIP\":\"10.244.0.9\"}}",
        "{}",
        "{\"metadata\":{}}",
        "{\"metadata\":\"not an object\",\"spec\":[],\"status\":7}",
        "{\"metadata\":null,\"spec\":{\"containers\":{}},\"status\":{\"containerStatuses\":{}}}",
        /* waiting beats terminated; the first container with a reason wins */
        "{\"metadata\":{\"name\":\"w\"},\"spec\":{\"containers\":[{},{}]},\"status\":{\"phase\":"
        "\"Running\",\"containerStatuses\":[{\"ready\":true,\"restartCount\":3},{\"ready\":false,"
        "\"restartCount\":7,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}",
        "{\"status\":{\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"\"},"
        "\"terminated\":{\"reason\":\"Error\"}}},{\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]}}",
        /* terminated: hidden while Running, shown otherwise (Completed) */
        "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"state\":{\"terminated\":"
        "{\"reason\":\"Completed\"}}}]}}",
        "{\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"ready\":false,\"state\":"
        "{\"terminated\":{\"reason\":\"Completed\",\"exitCode\":0}}}]}}",
        "{\"status\":{\"containerStatuses\":[{\"state\":{\"terminated\":{\"reason\":\"OOMKilled\"}}}]}}",
        "{\"status\":{\"phase\":7,\"containerStatuses\":[{\"state\":{\"terminated\":{\"reason\":\"Error\"}}}]}}",
        "{\"status\":{\"phase\":\"Runn\\u0069ng\",\"containerStatuses\":[{\"state\":{\"terminated\":{\"reason\":\"X\"}}}]}}",
        /* init containers are not counted (as today) */
        "{\"spec\":{\"initContainers\":[{}],\"containers\":[{}]},\"status\":{\"phase\":\"Pending\","
        "\"initContainerStatuses\":[{\"ready\":false,\"restartCount\":2,\"state\":{\"waiting\":"
        "{\"reason\":\"PodInitializing\"}}}],\"containerStatuses\":[{\"ready\":false,\"state\":"
        "{\"waiting\":{\"reason\":\"PodInitializing\"}}}]}}",
        /* deleting: any deletionTimestamp, even null, says Terminating */
        "{\"metadata\":{\"name\":\"d\",\"deletionTimestamp\":\"2026-11-19T00:00:00Z\",\"finalizers\":[\"x\"]},"
        "\"status\":{\"reason\":\"Evicted\",\"phase\":\"Failed\"}}",
        "{\"metadata\":{\"deletionTimestamp\":null}}",
        "{\"status\":{\"reason\":\"Evicted\",\"phase\":\"Failed\",\"message\":\"disk\"}}",
        "{\"status\":{\"reason\":\"\",\"phase\":\"\"}}",
        "{\"status\":{\"reason\":null,\"phase\":null}}",
        /* ready only when exactly true; restarts only from integers */
        "{\"spec\":{\"containers\":[{},{},{}]},\"status\":{\"containerStatuses\":[{\"ready\":1,"
        "\"restartCount\":1.5},{\"ready\":\"true\",\"restartCount\":\"4\"},{\"ready\":true,"
        "\"restartCount\":-2},7,null,[]]}}",
        "{\"status\":{\"containerStatuses\":[{\"restartCount\":9223372036854775807},"
        "{\"restartCount\":9223372036854775807}]}}",
        /* ages */
        "{\"metadata\":{\"creationTimestamp\":\"2026-11-18T23:13:20.123+01:00\"}}",
        "{\"metadata\":{\"creationTimestamp\":\"2030-01-01T00:00:00Z\"}}",
        "{\"metadata\":{\"creationTimestamp\":\"2026-11-18T23:13:20+1:2\"}}",
        "{\"metadata\":{\"creationTimestamp\":\"yesterday\"}}",
        "{\"metadata\":{\"creationTimestamp\":12}}",
        "{\"metadata\":{\"creationTimestamp\":\"2020-01-01T00:00:00.000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000Z\"}}",
        /* wide columns, escapes and non-ASCII text */
        "{\"metadata\":{\"name\":\"caf\xc3\xa9-\\u20ac\"},\"spec\":{\"nodeName\":\"n\\\"1\\\\\\n\\t\\u0001\"},"
        "\"status\":{\"podIP\":\"\",\"podIPs\":[{\"ip\":\"fd00::1\"}],\"nominatedNodeName\":\"n2\"}}",
        "{\"metadata\":{\"name\":\"x\",\"labels\":{\"q\\\"uote\":\"a\\\\b\",\"u\":\"\\u00e9\"},"
        "\"annotations\":{\"long\":\"" "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789\"}},"
        "\"status\":{\"reason\":\"" "\\\"0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789\"}}",
        /* managedFields first, last, alone, nested (kept: only metadata's own is dropped) */
        "{\"metadata\":{\"managedFields\":[],\"name\":\"a\"}}",
        "{\"metadata\":{\"name\":\"a\",\"managedFields\":[{}]}}",
        "{\"metadata\":{\"managedFields\":null}}",
        "{\"metadata\":{\"labels\":{\"managedFields\":\"x\"}},\"spec\":{\"managedFields\":1}}",
        /* numbers as jansson writes them */
        "{\"metadata\":{\"generation\":1.5,\"x\":1e300,\"y\":-0.0,\"z\":123456789012}}",
        /* a top-level array is a valid document with no fields */
        "[1,2,{\"metadata\":{\"name\":\"x\"}}]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_text(cases[i]);
}

/* Generated pods: every field the columns read, present or not, in many combinations. */
static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static json_t *pick_str(const char *const *pool, size_t n)
{
    unsigned i = rnd((unsigned)n + 2);
    if (i == n)
        return json_null();
    if (i == n + 1)
        return json_integer(rnd(5));
    return json_string(pool[i]);
}

#define POOL(p) p, sizeof(p) / sizeof(p[0])

static json_t *gen_pod(void)
{
    static const char *const names[] = {"web-0", "", "caf\xc3\xa9", "a\"b", "x\ny"};
    static const char *const times[] = {"2026-11-18T13:22:02Z", "2026-11-19T00:00:00Z",
                                        "2026-01-01T00:00:00.5+02:00", "junk", ""};
    static const char *const phases[] = {"Running", "Pending", "Succeeded", "Failed", "Unknown",
                                         ""};
    static const char *const reasons[] = {"Evicted", "NodeLost", "", "UnexpectedAdmissionError"};
    static const char *const wreasons[] = {"ContainerCreating", "CrashLoopBackOff", "",
                                           "ImagePullBackOff", "PodInitializing"};
    static const char *const treasons[] = {"Completed", "Error", "OOMKilled", ""};
    static const char *const ips[] = {"10.244.0.9", "", "fd00::1"};
    json_t *pod = json_object();
    if (rnd(8)) {
        json_t *md = json_object();
        json_object_set_new(md, "resourceVersion", json_string("17"));
        if (rnd(2))
            json_object_set_new(md, "managedFields",
                                json_pack("[{s:s,s:{s:{}}}]", "manager", "m", "fieldsV1", "f:x"));
        if (rnd(6))
            json_object_set_new(md, "name", pick_str(POOL(names)));
        json_object_set_new(md, "namespace", json_string("default"));
        if (rnd(4))
            json_object_set_new(md, "creationTimestamp", pick_str(POOL(times)));
        if (!rnd(5))
            json_object_set_new(md, "deletionTimestamp", pick_str(POOL(times)));
        if (rnd(2))
            json_object_set_new(md, "labels", json_pack("{s:s}", "app", "web"));
        if (!rnd(4))
            json_object_set_new(md, "managedFields", json_array());
        json_object_set_new(pod, "metadata", md);
    }
    if (rnd(6)) {
        json_t *spec = json_object();
        if (rnd(5)) {
            json_t *cs = json_array();
            for (unsigned i = rnd(4); i > 0; i--)
                json_array_append_new(cs, json_pack("{s:s}", "name", "c"));
            json_object_set_new(spec, "containers", cs);
        }
        if (rnd(3))
            json_object_set_new(spec, "nodeName", pick_str(POOL(ips)));
        json_object_set_new(pod, "spec", spec);
    }
    if (rnd(6)) {
        json_t *st = json_object();
        if (rnd(4))
            json_object_set_new(st, "phase", pick_str(POOL(phases)));
        if (!rnd(4))
            json_object_set_new(st, "reason", pick_str(POOL(reasons)));
        if (rnd(2))
            json_object_set_new(st, "podIP", pick_str(POOL(ips)));
        if (!rnd(4))
            json_object_set_new(st, "nominatedNodeName", pick_str(POOL(ips)));
        const char *lists[] = {"initContainerStatuses", "containerStatuses"};
        for (size_t l = 0; l < 2; l++) {
            if (!rnd(3))
                continue;
            json_t *arr = json_array();
            for (unsigned i = rnd(4); i > 0; i--) {
                json_t *c = json_object();
                if (rnd(3))
                    json_object_set_new(c, "ready", rnd(3) ? json_boolean(rnd(2)) : json_null());
                if (rnd(3))
                    json_object_set_new(c, "restartCount",
                                        rnd(5) ? json_integer(rnd(100)) : json_real(1.5));
                json_t *state = json_object();
                if (!rnd(3))
                    json_object_set_new(state, "waiting",
                                        json_pack("{s:o}", "reason", pick_str(POOL(wreasons))));
                if (!rnd(3))
                    json_object_set_new(state, "terminated",
                                        json_pack("{s:o,s:i}", "reason", pick_str(POOL(treasons)),
                                                  "exitCode", (int)rnd(3)));
                if (!rnd(4))
                    json_object_set_new(state, "running", json_object());
                json_object_set_new(c, "state", state);
                json_array_append_new(arr, c);
            }
            json_object_set_new(st, lists[l], arr);
        }
        json_object_set_new(pod, "status", st);
    }
    return pod;
}

static void test_api_table_generated_pod_shapes_match(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++) {
        json_t *pod = gen_pod();
        check_same(pods(), pod);
        json_decref(pod);
    }
}

/* Kinds other than pods take the parsed path inside api_table_row_raw: same bytes too. */
static void test_api_table_other_kinds_rows_from_bytes(void **state)
{
    (void)state;
    const char *kinds[][3] = {
        {"v1", "Service", "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"NodePort\","
                          "\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"nodePort\":30080}],"
                          "\"selector\":{\"app\":\"web\"}}}"},
        {"v1", "Node", "{\"metadata\":{\"name\":\"n1\"},\"status\":{\"conditions\":[{\"type\":"
                       "\"Ready\",\"status\":\"True\"}]}}"},
        {"apps/v1", "Deployment", "{\"metadata\":{\"name\":\"d\",\"managedFields\":[]},\"spec\":"
                                  "{\"replicas\":3},\"status\":{\"readyReplicas\":2}}"},
        {"v1", "ConfigMap", "{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"b\"}}"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const struct schema_kind *k = schema_kind_by_gvk(kinds[i][0], kinds[i][1]);
        assert_non_null(k);
        json_t *obj = json_loads(kinds[i][2], 0, NULL);
        assert_non_null(obj);
        check_same(k, obj);
        json_decref(obj);
    }
}

/* Text that does not parse gives -EINVAL and appends nothing, on both paths. */
static void test_api_table_row_raw_refuses_malformed_text(void **state)
{
    (void)state;
    const char *bad[] = {"", "{", "{\"metadata\":{\"name\":\"x\"}", "{\"a\":1}}",
                         "{\"metadata\":{\"name\":\"\\u0000\"}}", "{\"status\":{\"phase\":01}}",
                         "\"just a string\"", "[1,]", "{\"a\":\"\t\"}"};
    const struct schema_kind *svc = schema_kind_by_gvk("v1", "Service");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(json_loads(bad[i], 0, NULL));
        struct strbuf out = {0};
        strbuf_str(&out, "prefix");
        if (api_table_row_raw(&out, pods(), bad[i], strlen(bad[i]), API_TABLE_METADATA, NOW) !=
            -EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(api_table_row_raw(&out, svc, bad[i], strlen(bad[i]), API_TABLE_NONE, NOW),
                         -EINVAL);
        assert_string_equal(out.p, "prefix");
        free(out.p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_table_pod_rows_from_bytes_match_parsed_rows),
        cmocka_unit_test(test_api_table_generated_pod_shapes_match),
        cmocka_unit_test(test_api_table_other_kinds_rows_from_bytes),
        cmocka_unit_test(test_api_table_row_raw_refuses_malformed_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
