/* Unit tests for lib/err, lib/flags, lib/hex, lib/jsonx, lib/timeutil. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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
        cmocka_unit_test(test_jsonx_load_reports_position),
        cmocka_unit_test(test_jsonx_string_lossy_replaces_invalid_utf8),
        cmocka_unit_test(test_strbuf_grows_and_stays_terminated),
        cmocka_unit_test(test_time_rfc3339_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
