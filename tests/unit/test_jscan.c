/* Unit tests for lib/jscan: syntax checks against jansson's verdicts, walks, lookups with
 * jsonx_get's semantics, string decoding and integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jscan.h"
#include "lib/jsonx.h"

static int doc(const char *s, struct jscan_val *v)
{
    return jscan_doc(s, strlen(s), v);
}

static void test_jscan_accepts_and_refuses_like_jansson(void **state)
{
    (void)state;
    const char *good[] = {
        "{}", "[]", " { } ", "{\"a\":1}", "[1,-2,3.5,-0.0e+10,1E-3,0]", "\"x\"", "true",
        "false", "null", "0", "-0", "{\"a\":{\"b\":[{},[],\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]}}",
        "\"\\u00e9\\uD83D\\uDE00\"", "[\n\t1 ,\r 2 ]", "{\"k\" : \"v\" , \"k\":2}",
        "\"caf\xc3\xa9\"",
    };
    const char *bad[] = {
        "", " ", "{", "}", "[1,]", "{,}", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}",
        "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]", "tru", "nul", "[true false]",
        "\"abc", "\"a\\x\"", "\"\\u12G4\"", "\"\\uDC00\"", "\"\\uD800\"", "\"\\uD800\\u0041\"",
        "\"\\u0000\"", "\"a\tb\"", "[1] x", "{} {}", "[1}", "{\"a\":[1}", "[,1]", "[1,,2]",
    };
    struct jscan_val v;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *j = json_loads(good[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        json_decref(j);
        if (doc(good[i], &v) != 0)
            fail_msg("refused %s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_null(j);
        if (doc(bad[i], &v) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(doc(" [1, {\"a\":2}] ", &v), 0);
    assert_int_equal(v.type, JSCAN_ARRAY);
    assert_int_equal(v.len, 12);
    assert_int_equal(doc("-12", &v), 0);
    assert_int_equal(v.type, JSCAN_NUMBER);
}

/* Strings are scanned 8 bytes at a time: a quote, escape or control character at any
 * offset of a long string must still be seen. */
static void test_jscan_long_strings_at_every_offset(void **state)
{
    (void)state;
    for (size_t pos = 0; pos < 24; pos++) {
        char s[64], t[64], u[64];
        struct jscan_val v;
        /* "aaa...\"aaa" (an escaped quote), "aaa<TAB>aaa" (raw control), "aaa"aaa" */
        snprintf(s, sizeof(s), "\"%.*s\\\"%.*s\"", (int)pos, "aaaaaaaaaaaaaaaaaaaaaaaa",
                 (int)(24 - pos), "bbbbbbbbbbbbbbbbbbbbbbbb");
        assert_int_equal(doc(s, &v), 0);
        assert_false(jscan_str_plain(&v));
        char buf[64];
        assert_int_equal(jscan_str_decode(&v, buf, sizeof(buf)), 25);
        assert_int_equal(buf[pos], '"');
        memcpy(t, s, sizeof(t));
        t[1 + pos] = '\t';
        t[2 + pos] = 'x';
        assert_int_equal(doc(t, &v), -EINVAL);
        snprintf(u, sizeof(u), "\"%.*s\"%.*s\"", (int)pos, "aaaaaaaaaaaaaaaaaaaaaaaa",
                 (int)(24 - pos), "bbbbbbbbbbbbbbbbbbbbbbbb");
        assert_int_equal(doc(u, &v), -EINVAL);
        u[pos + 2] = '\0'; /* the string ends there: a whole document */
        assert_int_equal(doc(u, &v), 0);
        assert_int_equal(v.len, pos + 2);
    }
}

static void test_jscan_nesting_is_limited_not_recursive(void **state)
{
    (void)state;
    size_t n = JSCAN_MAX_DEPTH;
    char *s = malloc(2 * n + 3);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    struct jscan_val v;
    assert_int_equal(jscan_doc(s, 2 * n, &v), 0);
    free(s);
    n = JSCAN_MAX_DEPTH + 1;
    s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    assert_int_equal(jscan_doc(s, 2 * n, &v), -EINVAL);
    free(s);
}

static void test_jscan_walks_members_and_elements(void **state)
{
    (void)state;
    struct jscan_val root, k, v;
    struct jscan_iter it;
    const char *ok = " {\"a\":1, \"b\":[2,3] ,\"c\":{\"d\":null}} ";
    assert_int_equal(doc(ok, &root), 0);
    jscan_iter_init(&it, &root);
    int n = 0, r;
    while ((r = jscan_next_member(&it, &k, &v)) == 1)
        n++;
    assert_int_equal(r, 0);
    assert_int_equal(n, 3);
    assert_int_equal(jscan_next_elem(&it, &v), 0);
    /* arrays walk with next_elem; members of an array are none */
    assert_int_equal(doc("[1,\"x\",{}]", &root), 0);
    jscan_iter_init(&it, &root);
    assert_int_equal(jscan_next_member(&it, &k, &v), 0);
    n = 0;
    while ((r = jscan_next_elem(&it, &v)) == 1)
        n++;
    assert_int_equal(r, 0);
    assert_int_equal(n, 3);
    assert_int_equal(jscan_array_size(&root), 3);
    assert_int_equal(doc("[]", &root), 0);
    assert_int_equal(jscan_array_size(&root), 0);
    assert_int_equal(doc("\"s\"", &root), 0);
    assert_int_equal(jscan_array_size(&root), 0);
    jscan_iter_init(&it, &root);
    assert_int_equal(jscan_next_elem(&it, &v), 0);
}

/* jscan_find gives, in one pass, what jscan_path gives one by one, and checks the text. */
static void test_jscan_find_matches_path_lookups(void **state)
{
    (void)state;
    const char *s = "{\"metadata\":{\"name\":\"web\",\"labels\":{\"a\":\"x\"},\"managedFields\":[{}]},"
                    "\"spec\":\"str\",\"status\":{\"phase\":\"Running\",\"cs\":[{\"ready\":true}]},"
                    "\"dup\":{\"x\":1},\"dup\":{\"y\":2},\"d2\":{\"x\":1},\"d2\":3,\"\":{\"\":4}}";
    const char *paths[] = {"metadata", "metadata.name", "metadata.labels", "metadata.labels.a",
                           "metadata.managedFields", "spec", "spec.x", "status.phase",
                           "status.cs", "dup.x", "dup.y", "dup", "d2.x", "nope", "nope.x",
                           "metadata.", "", ".", "..", "metadata.name.x", "status.phase"};
    size_t n = sizeof(paths) / sizeof(paths[0]);
    struct jscan_want w[32];
    struct jscan_val root, v;
    for (size_t i = 0; i < n; i++)
        w[i].path = paths[i];
    assert_int_equal(jscan_find(s, strlen(s), &root, w, n), 0);
    assert_int_equal(root.type, JSCAN_OBJECT);
    assert_int_equal(root.len, strlen(s));
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    for (size_t i = 0; i < n; i++) {
        int found = jscan_path(&root, paths[i], &v);
        json_t *want = jsonx_get(j, paths[i]);
        if (w[i].found != (found == 1) || w[i].found != (want != NULL))
            fail_msg("%s: find %d, path %d, jsonx_get %d", paths[i], w[i].found, found,
                     want != NULL);
        if (found)
            assert_true(w[i].val.p == v.p && w[i].val.len == v.len && w[i].val.type == v.type);
        else
            assert_int_equal(w[i].val.type, JSCAN_NONE);
    }
    /* the key of a found member, for cutting it out of its object */
    assert_int_equal(w[4].key.len, strlen("\"managedFields\""));
    assert_memory_equal(w[4].key.p, "\"managedFields\"", w[4].key.len);
    json_decref(j);

    /* malformed text anywhere fails the whole find, found or not */
    const char *bad[] = {"{\"metadata\":{\"name\":\"x\"}", "{\"metadata\":{\"name\":01}}",
                         "{\"a\":1,}", "{\"a\":[1,}", "{\"metadata\":{\"name\":\"x\"}} x",
                         "{\"metadata\" {}}", "", "   "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        w[0].path = "metadata.name";
        if (jscan_find(bad[i], strlen(bad[i]), NULL, w, 1) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
    /* arrays and scalars are documents with no members */
    w[0].path = "a";
    assert_int_equal(jscan_find("[{\"a\":1}]", 9, &root, w, 1), 0);
    assert_false(w[0].found);
    assert_int_equal(root.type, JSCAN_ARRAY);
    assert_int_equal(jscan_find("7", 1, &root, w, 1), 0);
    assert_int_equal(root.type, JSCAN_NUMBER);
    assert_int_equal(jscan_find("{}", 2, NULL, w, JSCAN_FIND_MAX + 1), -EINVAL);
}

static void test_jscan_get_and_path_follow_jsonx_get(void **state)
{
    (void)state;
    const char *s = "{\"metadata\":{\"name\":\"web\",\"labels\":{\"a.b\":\"x\"}},\"spec\":\"str\","
                    "\"dup\":1,\"dup\":2,\"k\\u0065y\":true,\"status\":{\"phase\":null}}";
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    struct jscan_val root, v;
    assert_int_equal(jscan_doc(s, strlen(s), &root), 0);
    const char *paths[] = {"metadata.name", "metadata", "spec", "spec.x", "dup", "key",
                           "status.phase", "status.phase.x", "nope", "metadata.labels.a",
                           "metadata.name.x"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *want = jsonx_get(j, paths[i]);
        int found = jscan_path(&root, paths[i], &v);
        if (found != (want != NULL))
            fail_msg("%s: found %d", paths[i], found);
        if (!want)
            continue;
        char *wd = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        if (strlen(wd) != v.len || memcmp(wd, v.p, v.len) != 0)
            fail_msg("%s: %.*s, want %s", paths[i], (int)v.len, v.p, wd);
        free(wd);
    }
    assert_int_equal(jscan_path(&root, "", &v), 1);
    assert_true(v.p == root.p && v.len == root.len);
    assert_int_equal(jscan_get(&root, "dup", &v), 1);
    assert_int_equal(v.len, 1);
    assert_int_equal(v.p[0], '2'); /* the last of duplicates, as jansson keeps */
    assert_int_equal(jscan_path(&root, "status.phase", &v), 1);
    assert_int_equal(v.type, JSCAN_NULL);
    json_decref(j);
}

static void test_jscan_decodes_strings(void **state)
{
    (void)state;
    const char *cases[] = {"\"plain\"", "\"\"", "\"a\\\"b\\\\c\\/d\"", "\"\\b\\f\\n\\r\\t\"",
                           "\"\\u00e9\\u20ac\\uD83D\\uDE00x\"", "\"caf\xc3\xa9\"",
                           "\"\\u0001\\u001f\""};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jscan_val v;
        assert_int_equal(doc(cases[i], &v), 0);
        json_t *j = json_loads(cases[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        char buf[64];
        size_t n = jscan_str_decode(&v, buf, sizeof(buf));
        assert_int_equal(n, json_string_length(j));
        assert_memory_equal(buf, json_string_value(j), n);
        assert_int_equal(buf[n], '\0');
        assert_true(n <= v.len - 2);
        assert_true(jscan_str_eq(&v, json_string_value(j), n));
        assert_false(jscan_str_eq(&v, "plainx", 6));
        assert_int_equal(jscan_str_plain(&v), strchr(cases[i], '\\') == NULL);
        /* a short buffer gets a prefix and the full length */
        char small[3];
        assert_int_equal(jscan_str_decode(&v, small, sizeof(small)), n);
        if (n >= 3)
            assert_memory_equal(small, json_string_value(j), 3);
        json_decref(j);
    }
    struct jscan_val v;
    assert_int_equal(doc("\"Runn\\u0069ng\"", &v), 0);
    assert_true(jscan_str_eq(&v, "Running", 7));
    assert_false(jscan_str_eq(&v, "Runnin", 6));
    assert_false(jscan_str_eq(&v, "Runningg", 8));
    assert_int_equal(doc("\"a\\\\b\"", &v), 0);
    assert_false(jscan_str_eq(&v, "a\\\\b", 4)); /* the text is not the value */
    assert_true(jscan_str_eq(&v, "a\\b", 3));
    assert_int_equal(doc("7", &v), 0);
    assert_false(jscan_str_eq(&v, "7", 1));
}

static void test_jscan_reads_integers_like_jansson(void **state)
{
    (void)state;
    struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {{"0", 1, 0},
                 {"-0", 1, 0},
                 {"42", 1, 42},
                 {"-7", 1, -7},
                 {"9223372036854775807", 1, LLONG_MAX},
                 {"-9223372036854775808", 1, LLONG_MIN},
                 {"9223372036854775808", 0, 0},
                 {"1.0", 0, 0},
                 {"1e3", 0, 0},
                 {"\"1\"", 0, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jscan_val v;
        long long n = 99;
        assert_int_equal(doc(cases[i].s, &v), 0);
        assert_int_equal(jscan_int(&v, &n), cases[i].ok);
        if (cases[i].ok)
            assert_true(n == cases[i].v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jscan_accepts_and_refuses_like_jansson),
        cmocka_unit_test(test_jscan_long_strings_at_every_offset),
        cmocka_unit_test(test_jscan_nesting_is_limited_not_recursive),
        cmocka_unit_test(test_jscan_walks_members_and_elements),
        cmocka_unit_test(test_jscan_find_matches_path_lookups),
        cmocka_unit_test(test_jscan_get_and_path_follow_jsonx_get),
        cmocka_unit_test(test_jscan_decodes_strings),
        cmocka_unit_test(test_jscan_reads_integers_like_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
