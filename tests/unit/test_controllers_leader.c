/* Unit tests for the leader election's pure logic (reconcilerd/controllers/leader.c):
 * MicroTime, reading a Lease, when a candidate may take over, when a leader gives up, and
 * the Lease it writes to acquire, renew and release. The election against real replicas
 * is tests/integration/reconcilerd_ha.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/jsonx.h"
#include "reconcilerd/controllers/leader.h"

/* 2026-11-24T13:00:00Z */
#define T0 1795525200000LL

static void test_leader_microtime_round_trips(void **state)
{
    (void)state;
    char buf[48];
    assert_string_equal(ctrl_leader_microtime(T0 + 123, buf, sizeof(buf)),
                        "2026-11-24T13:00:00.123000Z");
    int64_t ms = 0;
    assert_int_equal(ctrl_leader_parse_time(buf, &ms), 0);
    assert_int_equal(ms, T0 + 123);
    assert_int_equal(ctrl_leader_parse_time("2026-11-24T13:00:01Z", &ms), 0);
    assert_int_equal(ms, T0 + 1000);
    assert_int_equal(ctrl_leader_parse_time("2026-11-24T13:00:01.5Z", &ms), 0);
    assert_int_equal(ms, T0 + 1500);
    assert_int_equal(ctrl_leader_parse_time("2026-11-24T14:00:00.000001+01:00", &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(ctrl_leader_parse_time("yesterday", &ms), -EINVAL);
    assert_int_equal(ctrl_leader_parse_time(NULL, &ms), -EINVAL);
}

static json_t *lease(const char *holder, int dur, const char *renew, int transitions)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:i,s:s,s:s,s:i}}", "apiVersion",
                     "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                     "bosun-controllers", "namespace", "bosun-system", "resourceVersion", "42",
                     "spec", "holderIdentity", holder, "leaseDurationSeconds", dur,
                     "acquireTime", "2026-11-24T12:00:00.000000Z", "renewTime", renew,
                     "leaseTransitions", transitions);
}

static void test_leader_record_parse(void **state)
{
    (void)state;
    json_t *l = lease("a", 15, "2026-11-24T13:00:00.250000Z", 3);
    struct ctrl_leader_record r;
    assert_int_equal(ctrl_leader_record_parse(l, &r), 0);
    assert_string_equal(r.holder, "a");
    assert_int_equal(r.duration_s, 15);
    assert_int_equal(r.renew_ms, T0 + 250);
    assert_int_equal(r.acquire_ms, T0 - 3600 * 1000);
    assert_int_equal(r.transitions, 3);
    assert_string_equal(r.rv, "42");
    json_decref(l);
    /* a released Lease: nobody holds it */
    l = json_pack("{s:s,s:{}}", "kind", "Lease", "spec");
    assert_int_equal(ctrl_leader_record_parse(l, &r), 0);
    assert_string_equal(r.holder, "");
    assert_int_equal(r.renew_ms, 0);
    json_decref(l);
    l = json_pack("{s:s}", "kind", "Pod");
    assert_int_equal(ctrl_leader_record_parse(l, &r), -EINVAL);
    json_decref(l);
}

static void test_leader_expiry_rules(void **state)
{
    (void)state;
    struct ctrl_leader_record r = {.holder = "a", .duration_s = 15, .renew_ms = T0};
    const int64_t deadline = 10000, dflt = 15000;
    /* nobody holds it: take it now */
    struct ctrl_leader_record none = {.holder = ""};
    assert_true(ctrl_leader_expires_in(&none, T0, 5000, 5000, deadline, dflt) <= 0);
    /* renewed 2 s ago, seen 1 s ago: 13 s to go by the wall clock */
    assert_int_equal(ctrl_leader_expires_in(&r, T0 + 2000, 1000, 2000, deadline, dflt), 13000);
    /* a dead leader: expires exactly at renewTime + duration (seen unchanged long enough) */
    assert_int_equal(ctrl_leader_expires_in(&r, T0 + 14000, 1000, 14000, deadline, dflt), 1000);
    assert_true(ctrl_leader_expires_in(&r, T0 + 15000, 1000, 15000, deadline, dflt) <= 0);
    /* long expired by the wall clock, but first seen just now (a fresh candidate, or a
     * clock far ahead): wait until it stayed unchanged for the renew deadline */
    assert_int_equal(ctrl_leader_expires_in(&r, T0 + 60000, 50000, 50000, deadline, dflt),
                     10000);
    assert_int_equal(ctrl_leader_expires_in(&r, T0 + 60000, 50000, 57000, deadline, dflt), 3000);
    assert_true(ctrl_leader_expires_in(&r, T0 + 60000, 50000, 60000, deadline, dflt) <= 0);
    /* a candidate's clock behind: later, never earlier */
    assert_int_equal(ctrl_leader_expires_in(&r, T0 + 10000, 0, 20000, deadline, dflt), 5000);
    /* no renewTime: as if renewed when first seen, for the default duration */
    struct ctrl_leader_record bare = {.holder = "a"};
    assert_int_equal(ctrl_leader_expires_in(&bare, T0, 1000, 6000, deadline, dflt), 10000);
    assert_true(ctrl_leader_expires_in(&bare, T0, 1000, 16000, deadline, dflt) <= 0);
}

static void test_leader_gives_up_at_the_renew_deadline(void **state)
{
    (void)state;
    assert_false(ctrl_leader_deadline_passed(1000, 1000, 10000));
    assert_false(ctrl_leader_deadline_passed(1000, 10999, 10000));
    assert_true(ctrl_leader_deadline_passed(1000, 11000, 10000));
}

static void test_leader_lease_take_new_renew_and_takeover(void **state)
{
    (void)state;
    /* a new Lease */
    json_t *l = ctrl_leader_lease_take(NULL, "bosun-system", "bosun-controllers", "me", 15, T0);
    assert_string_equal(jsonx_get_str(l, "kind"), "Lease");
    assert_string_equal(jsonx_get_str(l, "apiVersion"), "coordination.k8s.io/v1");
    assert_string_equal(jsonx_get_str(l, "metadata.namespace"), "bosun-system");
    assert_string_equal(jsonx_get_str(l, "metadata.name"), "bosun-controllers");
    assert_string_equal(jsonx_get_str(l, "spec.holderIdentity"), "me");
    assert_int_equal(jsonx_get_int(l, "spec.leaseDurationSeconds", 0), 15);
    assert_int_equal(jsonx_get_int(l, "spec.leaseTransitions", -1), 0);
    assert_string_equal(jsonx_get_str(l, "spec.acquireTime"), "2026-11-24T13:00:00.000000Z");
    assert_string_equal(jsonx_get_str(l, "spec.renewTime"), "2026-11-24T13:00:00.000000Z");
    json_decref(l);

    /* renewing our own: acquireTime and transitions kept, resourceVersion kept (CAS) */
    json_t *cur = lease("me", 15, "2026-11-24T12:59:58.000000Z", 2);
    l = ctrl_leader_lease_take(cur, "bosun-system", "bosun-controllers", "me", 15, T0 + 7);
    assert_string_equal(jsonx_get_str(l, "spec.acquireTime"), "2026-11-24T12:00:00.000000Z");
    assert_string_equal(jsonx_get_str(l, "spec.renewTime"), "2026-11-24T13:00:00.007000Z");
    assert_int_equal(jsonx_get_int(l, "spec.leaseTransitions", -1), 2);
    assert_string_equal(jsonx_get_str(l, "metadata.resourceVersion"), "42");
    assert_string_equal(jsonx_get_str(cur, "spec.renewTime"), "2026-11-24T12:59:58.000000Z");
    json_decref(l);
    json_decref(cur);

    /* taking over from someone else: a transition, acquired now */
    cur = lease("other", 15, "2026-11-24T12:59:40.000000Z", 2);
    l = ctrl_leader_lease_take(cur, "bosun-system", "bosun-controllers", "me", 15, T0);
    assert_string_equal(jsonx_get_str(l, "spec.holderIdentity"), "me");
    assert_string_equal(jsonx_get_str(l, "spec.acquireTime"), "2026-11-24T13:00:00.000000Z");
    assert_int_equal(jsonx_get_int(l, "spec.leaseTransitions", -1), 3);
    assert_string_equal(jsonx_get_str(l, "metadata.resourceVersion"), "42");
    json_decref(l);
    json_decref(cur);

    /* taking a released Lease is a transition too */
    cur = lease("", 1, "2026-11-24T12:59:59.000000Z", 3);
    l = ctrl_leader_lease_take(cur, "bosun-system", "bosun-controllers", "me", 15, T0);
    assert_int_equal(jsonx_get_int(l, "spec.leaseTransitions", -1), 4);
    assert_int_equal(jsonx_get_int(l, "spec.leaseDurationSeconds", 0), 15);
    json_decref(l);
    json_decref(cur);
}

static void test_leader_lease_release_frees_it_at_once(void **state)
{
    (void)state;
    json_t *cur = lease("me", 15, "2026-11-24T12:59:58.000000Z", 5);
    json_t *l = ctrl_leader_lease_release(cur, T0);
    assert_string_equal(jsonx_get_str(l, "spec.holderIdentity"), "");
    assert_int_equal(jsonx_get_int(l, "spec.leaseDurationSeconds", 0), 1);
    assert_int_equal(jsonx_get_int(l, "spec.leaseTransitions", -1), 5);
    assert_string_equal(jsonx_get_str(l, "spec.renewTime"), "2026-11-24T13:00:00.000000Z");
    assert_string_equal(jsonx_get_str(l, "metadata.resourceVersion"), "42");
    struct ctrl_leader_record r;
    assert_int_equal(ctrl_leader_record_parse(l, &r), 0);
    assert_true(ctrl_leader_expires_in(&r, T0, T0, T0, 10000, 15000) <= 0);
    json_decref(l);
    json_decref(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_microtime_round_trips),
        cmocka_unit_test(test_leader_record_parse),
        cmocka_unit_test(test_leader_expiry_rules),
        cmocka_unit_test(test_leader_gives_up_at_the_renew_deadline),
        cmocka_unit_test(test_leader_lease_take_new_renew_and_takeover),
        cmocka_unit_test(test_leader_lease_release_frees_it_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
