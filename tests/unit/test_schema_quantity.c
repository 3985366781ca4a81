/* Unit tests for schema/quantity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "schema/quantity.h"

static void expect_q(const char *s, int64_t milli, int64_t value)
{
    int64_t m = -1, v = -1;
    if (schema_quantity_parse(s, &m, &v) != 0)
        fail_msg("%s: did not parse", s);
    if (m != milli || v != value)
        fail_msg("%s: milli %lld value %lld, want %lld %lld", s, (long long)m, (long long)v,
                 (long long)milli, (long long)value);
}

static void test_quantity_parses_cpu_forms_to_millicores(void **state)
{
    (void)state;
    expect_q("100m", 100, 1);
    expect_q("0.5", 500, 1);
    expect_q("1", 1000, 1);
    expect_q("2.25", 2250, 3);
    expect_q("1500u", 2, 1); /* rounded up, as Kubernetes does */
    expect_q("0.1m", 1, 1);
    expect_q("0", 0, 0);
    expect_q("+3", 3000, 3);
}

static void test_quantity_parses_memory_forms_to_bytes(void **state)
{
    (void)state;
    expect_q("64Mi", 64LL * 1024 * 1024 * 1000, 64LL * 1024 * 1024);
    expect_q("1G", 1000000000000LL, 1000000000LL);
    expect_q("1.5Gi", 1610612736000LL, 1610612736LL);
    expect_q("128974848", 128974848000LL, 128974848LL);
    expect_q("129e6", 129000000000LL, 129000000LL);
    expect_q("1E3", 1000000, 1000);
    expect_q("2Ki", 2048000, 2048);
    expect_q("1k", 1000000, 1000);
}

static void test_quantity_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", "m", "1x", "1 Mi", "Mi1", "1.2.3", "1Mb", "1e", "--1", "1ki", "0x10",
                         NULL};
    for (int i = 0; bad[i]; i++)
        if (schema_quantity_parse(bad[i], NULL, NULL) != -EINVAL)
            fail_msg("'%s' should not parse", bad[i]);
    assert_int_equal(schema_quantity_parse(NULL, NULL, NULL), -EINVAL);
}

static void test_quantity_reports_overflow_per_output(void **state)
{
    (void)state;
    int64_t m = 7, v = 7;
    /* 1Ei fits in int64 bytes but not in milli-bytes */
    assert_int_equal(schema_quantity_parse("1Ei", &m, NULL), -ERANGE);
    assert_int_equal(m, 7);
    assert_int_equal(schema_quantity_parse("1Ei", NULL, &v), 0);
    assert_true(v == (int64_t)1 << 60);
    assert_int_equal(schema_quantity_parse("100E", NULL, &v), -ERANGE);
    assert_int_equal(schema_quantity_parse("1e99", NULL, &v), -ERANGE);
    assert_int_equal(schema_quantity_parse("1234567890123456789012345678901234", NULL, &v),
                     -ERANGE);
}

static void test_quantity_accepts_json_numbers(void **state)
{
    (void)state;
    int64_t m = 0, v = 0;
    json_t *one = json_integer(1), *half = json_real(0.5), *tenth = json_real(0.1);
    json_t *str = json_string("250m"), *b = json_true();
    assert_int_equal(schema_quantity_parse_json(one, &m, &v), 0);
    assert_int_equal(m, 1000);
    assert_int_equal(schema_quantity_parse_json(half, &m, NULL), 0);
    assert_int_equal(m, 500);
    assert_int_equal(schema_quantity_parse_json(tenth, &m, NULL), 0);
    assert_int_equal(m, 100);
    assert_int_equal(schema_quantity_parse_json(str, &m, NULL), 0);
    assert_int_equal(m, 250);
    assert_int_equal(schema_quantity_parse_json(b, &m, NULL), -EINVAL);
    json_decref(one);
    json_decref(half);
    json_decref(tenth);
    json_decref(str);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_parses_cpu_forms_to_millicores),
        cmocka_unit_test(test_quantity_parses_memory_forms_to_bytes),
        cmocka_unit_test(test_quantity_rejects_malformed),
        cmocka_unit_test(test_quantity_reports_overflow_per_output),
        cmocka_unit_test(test_quantity_accepts_json_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
