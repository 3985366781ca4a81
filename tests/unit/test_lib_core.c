/* Unit tests for lib/err, lib/flags, lib/hex, lib/jsonx, lib/timeutil. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/hex.h"
#include "lib/jsonx.h"
#include "lib/strbuf.h"
#include "lib/timeutil.h"

static void test_err_wrap_prepends_context(void **state)
{
    (void)state;
    struct bosun_err err = {0};
    int r = err_errno(&err, -ENOSPC, "fdatasync");
    assert_int_equal(r, -ENOSPC);
    r = err_wrap(&err, "store: put %s", "/pods/default/web");
    assert_int_equal(r, -ENOSPC);
    assert_string_equal(err.msg, "store: put /pods/default/web: fdatasync: no space left on device");
}

static void test_err_null_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(err_set(NULL, -EINVAL, "x"), -EINVAL);
    assert_int_equal(err_wrap(NULL, "y"), -EIO);
}

static void test_flags_parse_all_forms(void **state)
{
    (void)state;
    const char *listen = "127.0.0.1:6443";
    long long n = 1;
    int prune = 0;
    int64_t interval = 30000;
    struct flag_def defs[] = {{"listen", FLAG_STR, &listen, ""},
                              {"n", FLAG_INT, &n, ""},
                              {"prune", FLAG_BOOL, &prune, ""},
                              {"interval", FLAG_DURATION, &interval, ""},
                              {0}};
    char *argv[] = {"prog", "pos1", "--listen", "0.0.0.0:1", "--n=42", "--prune",
                    "--interval", "1m30s", "pos2", NULL};
    int nargs = 0;
    struct bosun_err err = {0};
    assert_int_equal(flags_parse(defs, 9, argv, &nargs, &err), 0);
    assert_string_equal(listen, "0.0.0.0:1");
    assert_int_equal(n, 42);
    assert_int_equal(prune, 1);
    assert_int_equal(interval, 90000);
    assert_int_equal(nargs, 2);
    assert_string_equal(argv[0], "pos1");
    assert_string_equal(argv[1], "pos2");
}

static void test_flags_reject_unknown_and_bad_values(void **state)
{
    (void)state;
    long long n = 0;
    struct flag_def defs[] = {{"n", FLAG_INT, &n, ""}, {0}};
    char *argv1[] = {"prog", "--nope", NULL};
    char *argv2[] = {"prog", "--n=abc", NULL};
    char *argv3[] = {"prog", "--n", NULL};
    int nargs;
    struct bosun_err err = {0};
    assert_int_equal(flags_parse(defs, 2, argv1, &nargs, &err), -EINVAL);
    assert_string_equal(err.msg, "unknown flag: --nope");
    assert_int_equal(flags_parse(defs, 2, argv2, &nargs, &err), -EINVAL);
    assert_int_equal(flags_parse(defs, 2, argv3, &nargs, &err), -EINVAL);
}

static void test_flags_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(flags_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(flags_parse_duration("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(flags_parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(flags_parse_duration("5x", &ms), -EINVAL);
    assert_int_equal(flags_parse_duration("-1s", &ms), -EINVAL);
}

static void test_jsonx_paths(void **state)
{
    (void)state;
    json_t *o = json_object();
    assert_int_equal(jsonx_set_new(o, "metadata.labels.app", json_string("web")), 0);
    assert_int_equal(jsonx_set_new(o, "spec.replicas", json_integer(3)), 0);
    assert_string_equal(jsonx_get_str(o, "metadata.labels.app"), "web");
    assert_int_equal(jsonx_get_int(o, "spec.replicas", -1), 3);
    assert_int_equal(jsonx_get_int(o, "spec.nope", -1), -1);
    assert_null(jsonx_get(o, "metadata.labels.app.deeper"));
    char *s = jsonx_dumps(o);
    assert_string_equal(s, "{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":3}}");
    free(s);
    json_decref(o);
}

/* A random value for the serialiser test: every type, nesting, strings with escapes,
 * NULs and multi-byte characters, integers and reals of every size. */
static json_t *random_json(unsigned *seed, int depth)
{
    static const char *const pieces[] = {"a", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
                                         "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         " ", "key", "\b\f\r", "\xef\xbf\xbf"};
    static const double reals[] = {0.0, -0.0, 1.5, -2.25, 1e20, 1e-5, 123456789.123456789,
                                   1e300, 5e-324, 3.0, 0.1, -1e100};
    int kind = depth > 4 ? rand_r(seed) % 6 : rand_r(seed) % 8;
    switch (kind) {
    case 0: return json_true();
    case 1: return json_false();
    case 2: return json_null();
    case 3: {
        json_int_t v = (json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? 1 : -1);
        if (rand_r(seed) % 5 == 0)
            v = rand_r(seed) % 2 ? INT64_MAX : INT64_MIN;
        return json_integer(v);
    }
    case 4: return json_real(reals[rand_r(seed) % (sizeof(reals) / sizeof(reals[0]))]);
    case 5: {
        char buf[256];
        size_t n = 0;
        for (int i = rand_r(seed) % 12; i > 0; i--) {
            const char *p = pieces[rand_r(seed) % (sizeof(pieces) / sizeof(pieces[0]))];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        if (rand_r(seed) % 4 == 0)
            buf[n++] = '\0'; /* a NUL inside a string */
        return json_stringn(buf, n);
    }
    case 6: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 5; i > 0; i--)
            json_array_append_new(a, random_json(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 6; i > 0; i--) {
            char key[16];
            snprintf(key, sizeof(key), "%s%d", i % 2 ? "k\"" : "\xc3\xa9", rand_r(seed) % 50);
            json_object_set_new(o, key, random_json(seed, depth + 1));
        }
        return o;
    }
    }
}

static void test_jsonx_dumps_matches_jansson(void **state)
{
    (void)state;
    unsigned seed = 42;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_json(&seed, 0);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *got = jsonx_dumps(v);
        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(v);
    }
    /* a string that is not UTF-8 cannot be written, as with jansson */
    json_t *bad = json_pack("{s:o}", "k", json_stringn_nocheck("\xff", 1));
    assert_null(json_dumps(bad, JSON_COMPACT));
    assert_null(jsonx_dumps(bad));
    json_decref(bad);
    json_t *cut = json_stringn_nocheck("\xe2\x82", 2); /* a sequence cut short */
    assert_null(jsonx_dumps(cut));
    json_decref(cut);
}

/* jsonx_loadb must read exactly what json_loadb reads: the same values in the same order,
 * and refuse what it refuses. */
static void check_load_same(const char *buf, size_t len)
{
    json_t *want = json_loadb(buf, len, 0, NULL);
    struct bosun_err err = {0};
    json_t *got = jsonx_loadb(buf, len, &err);
    if (!want) {
        if (got)
            fail_msg("jansson refuses but jsonx_loadb reads: %.*s", (int)len, buf);
        assert_true(err.msg[0] != '\0');
        return;
    }
    if (!got)
        fail_msg("jansson reads but jsonx_loadb refuses: %.*s", (int)len, buf);
    char *a = jsonx_dumps(want), *b = jsonx_dumps(got);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(b, a);
    free(a);
    free(b);
    json_decref(want);
    json_decref(got);
}

static void test_jsonx_loadb_matches_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}", "[]", " { } ", "[1,2,3]", "{\"a\":1,\"a\":2,\"b\":3}", "[\"\\ud83d\\ude00\"]",
        "[\"\\ud83d\"]", "[\"\\ude00\"]", "[\"\\u0000\"]", "[\"a\\u00e9\\u20ac\\/\\b\\f\\n\\r\\t\"]",
        "[9223372036854775807]", "[-9223372036854775808]", "[9223372036854775808]",
        "[123456789012345678]", "[1234567890123456789]", "[-0]", "[0.0]", "[-0.0]", "[1e400]",
        "[1e-400]", "[1.5e+3]", "[1E2]", "[01]", "[1.]", "[.5]", "[-]", "[+1]", "[1,]", "[,1]",
        "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{1:2}", "[tru]", "[true,false,null]", "[nul]",
        "\"str\"", "1", "null", "[1] x", "[\"\x01\"]", "[\"\xff\"]", "[\"\xed\xa0\x80\"]",
        "[\"\xc3\xa9\"]", "{\"\\u00e9\":{\"k\\\"q\":[]}}", "[\"\\x\"]", "[\"\\u12\"]", "",
        "   ", "[\"unterminated]", "{\"a\":[{\"b\":{\"c\":[1,2,{\"d\":null}]}}]}", "[1]\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_load_same(cases[i], strlen(cases[i]));
    /* the common shapes take the fast path (not only jansson's, behind it) */
    static const char *const fast[] = {
        "{}", " [ ] ", "{\"a\":1,\"a\":2,\"b\":[true,false,null,-0,1.5e+3,\"x\"]}",
        "[\"\\ud83d\\ude00 \\u00e9\\/\\n\xc3\xa9\"]", "{\"k\\\"q\":{\"n\":{}}}\n",
    };
    for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++) {
        json_t *v = jsonx_loadb_fast(fast[i], strlen(fast[i]));
        if (!v)
            fail_msg("not parsed fast: %s", fast[i]);
        json_decref(v);
    }
    check_load_same("[1,\0 2]", 6);

    /* nesting around jansson's limit of 2048 */
    for (int depth = 2046; depth <= 2050; depth++) {
        char *deep = malloc((size_t)depth * 2 + 1);
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        check_load_same(deep, (size_t)depth * 2);
        free(deep);
    }

    /* random documents, then the same with bytes changed, dropped and added */
    static const char tricky[] = "{}[]\",:\\ue0-+.1\x80\xc3\x00 \n";
    unsigned seed = 7;
    for (int i = 0; i < 3000; i++) {
        json_t *doc = json_array();
        json_array_append_new(doc, random_json(&seed, 0));
        char *s = json_dumps(doc, i % 3 == 0 ? JSON_INDENT(2) : JSON_COMPACT);
        json_decref(doc);
        size_t len = strlen(s);
        check_load_same(s, len);
        for (int m = 0; m < 4 && len > 0; m++) {
            size_t at = (size_t)rand_r(&seed) % len;
            char c = tricky[rand_r(&seed) % (sizeof(tricky) - 1)];
            switch (rand_r(&seed) % 3) {
            case 0: s[at] = c; break;
            case 1: memmove(s + at, s + at + 1, len - at); len--; break;
            default: {
                char *n = realloc(s, len + 2);
                assert_non_null(n);
                s = n;
                memmove(s + at + 1, s + at, len - at + 1);
                s[at] = c;
                len++;
            }
            }
            check_load_same(s, len);
        }
        free(s);
    }
}

static void test_jsonx_load_reports_position(void **state)
{
    (void)state;
    struct bosun_err err = {0};
    assert_null(jsonx_loadb("{\"a\":\n  tru}", 12, &err));
    assert_non_null(strstr(err.msg, "line 2"));
}

static void test_jsonx_string_lossy_replaces_invalid_utf8(void **state)
{
    (void)state;
    json_t *v = jsonx_string_lossy("ok \xff\xc3(\xe2\x82\xac");
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "ok \xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac");
    char *s = jsonx_dumps(v);
    assert_non_null(s);
    free(s);
    json_decref(v);
    v = jsonx_string_lossy("\xed\xa0\x80"); /* a surrogate is not UTF-8 */
    assert_string_equal(json_string_value(v), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(v);
}

static void test_strbuf_grows_and_stays_terminated(void **state)
{
    (void)state;
    struct strbuf b = {0};
    for (int i = 0; i < 1000; i++)
        strbuf_str(&b, "abc");
    strbuf_add(&b, "de", 1);
    assert_false(b.oom);
    assert_int_equal(b.len, 3001);
    assert_int_equal(strlen(b.p), 3001);
    assert_memory_equal(b.p + 2997, "abcd", 4);
    free(b.p);
}

/* A deadline taken from the monotonic clock is honoured: with the wall clock's default, a
 * monotonic deadline (seconds since boot) lies decades in the past and the wait ends at
 * once. */
static void test_time_cond_init_mono_waits_on_the_monotonic_clock(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    time_cond_init_mono(&c);
    int64_t t0 = time_mono_ms();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    int r = 0;
    while (r != ETIMEDOUT)
        r = pthread_cond_timedwait(&c, &mu, &ts);
    pthread_mutex_unlock(&mu);
    assert_true(time_mono_ms() - t0 >= 49);
    pthread_cond_destroy(&c);
}

static void test_time_rfc3339_round_trip(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(time_rfc3339(1700000000, buf, sizeof(buf)), "2023-11-14T22:13:20Z");
    time_t t;
    assert_int_equal(time_parse_rfc3339("2023-11-14T22:13:20Z", &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(time_parse_rfc3339("2023-11-14T23:13:20.123+01:00", &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(time_parse_rfc3339("yesterday", &t), -EINVAL);
    /* a short offset must not be read past its end (heap copies: ASan sees an overread) */
    const char *bad[] = {"2023-11-14T22:13:20+1:2", "2023-11-14T22:13:20-01", "2023-11-14T22:13:20+"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *h = strdup(bad[i]);
        assert_int_equal(time_parse_rfc3339(h, &t), -EINVAL);
        free(h);
    }
    assert_string_equal(time_human_age(300, buf, sizeof(buf)), "5m");
}

static void test_hex_round_trips_and_rejects_bad_digits(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x7f, 0xa5, 0xff};
    char hex[9];
    unsigned char out[4];
    assert_string_equal(hex_encode(in, sizeof in, hex), "007fa5ff");
    assert_int_equal(hex_decode("007FA5ff", 8, out, 4), 0);
    assert_memory_equal(out, in, 4);
    assert_int_equal(hex_decode("007fa5f", 7, out, 4), -EINVAL);   /* odd length */
    assert_int_equal(hex_decode("007fa5ff00", 10, out, 4), -EINVAL); /* too long */
    assert_int_equal(hex_decode("007fa5fg", 8, out, 4), -EINVAL);  /* not a digit */
    assert_int_equal(hex_digit('F'), 15);
    assert_int_equal(hex_digit('/'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_wrap_prepends_context),
        cmocka_unit_test(test_err_null_is_allowed),
        cmocka_unit_test(test_hex_round_trips_and_rejects_bad_digits),
        cmocka_unit_test(test_flags_parse_all_forms),
        cmocka_unit_test(test_flags_reject_unknown_and_bad_values),
        cmocka_unit_test(test_flags_durations),
        cmocka_unit_test(test_jsonx_paths),
        cmocka_unit_test(test_jsonx_dumps_matches_jansson),
        cmocka_unit_test(test_jsonx_loadb_matches_jansson),
        cmocka_unit_test(test_jsonx_load_reports_position),
        cmocka_unit_test(test_jsonx_string_lossy_replaces_invalid_utf8),
        cmocka_unit_test(test_strbuf_grows_and_stays_terminated),
        cmocka_unit_test(test_time_cond_init_mono_waits_on_the_monotonic_clock),
        cmocka_unit_test(test_time_rfc3339_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
