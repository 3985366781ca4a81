/* Unit tests for the Service allocator (reconcilerd/api/alloc.c): the private in-memory
 * mode, and the shared mode where two allocators on one store stand for two reconcilerd
 * replicas on one etcd (the file store keeps the same create-only semantics, so the
 * replicas' races are real races on one store here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcilerd/api/alloc.h"
#include "reconcilerd/store/store.h"

static const struct api_alloc_owner A = {"uid-a", "default/a"};
static const struct api_alloc_owner B = {"uid-b", "default/b"};

struct fx {
    char dir[64];
    struct store *st;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/bosun-test-alloc-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    struct store_opts o = {.dir = f->dir, .history = 1000};
    struct bosun_err err = {0};
    if (store_open(&o, &f->st, &err)) {
        print_error("store_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct api_alloc *new_alloc(const char *cidr, const char *ports, struct store *shared)
{
    struct api_alloc *a = NULL;
    struct bosun_err err = {0};
    int rc = api_alloc_new(cidr, ports, shared, &a, &err);
    if (rc)
        print_error("api_alloc_new: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return a;
}

static int count_fn(const char *key, const char *json, size_t len, uint64_t rev, void *ud)
{
    (void)key;
    (void)json;
    (void)len;
    (void)rev;
    (*(int *)ud)++;
    return 0;
}

/* How many claims the store holds under prefix. */
static int claims(struct store *st, const char *prefix)
{
    struct bosun_err err = {0};
    int n = 0;
    assert_int_equal(store_list_raw(st, prefix, count_fn, &n, NULL, &err), 0);
    return n;
}

/* ---- private mode ---- */

static void test_alloc_private_skips_network_and_broadcast(void **state)
{
    (void)state;
    struct api_alloc *a = new_alloc("10.96.0.0/30", "30000-30001", NULL);
    char ip[16];
    assert_int_equal(api_alloc_ip_next(a, &A, ip, sizeof(ip), NULL), 0);
    assert_string_equal(ip, "10.96.0.1");
    assert_int_equal(api_alloc_ip_next(a, &A, ip, sizeof(ip), NULL), 0);
    assert_string_equal(ip, "10.96.0.2");
    assert_int_equal(api_alloc_ip_next(a, &A, ip, sizeof(ip), NULL), -ENOSPC);
    assert_int_equal(api_alloc_ip_claim(a, "10.96.0.0", &A, NULL), -ERANGE);
    assert_int_equal(api_alloc_ip_claim(a, "10.96.0.3", &A, NULL), -ERANGE);
    assert_int_equal(api_alloc_ip_claim(a, "10.97.0.1", &A, NULL), -ERANGE);
    assert_int_equal(api_alloc_ip_claim(a, "nope", &A, NULL), -EINVAL);
    assert_int_equal(api_alloc_ip_claim(a, "10.96.0.1", &B, NULL), -EEXIST);
    api_alloc_ip_release(a, "10.96.0.1", &A);
    assert_int_equal(api_alloc_ip_claim(a, "10.96.0.1", &B, NULL), 0);

    int p;
    assert_int_equal(api_alloc_port_next(a, &A, &p, NULL), 0);
    assert_int_equal(p, 30000);
    assert_int_equal(api_alloc_port_claim(a, 30001, &A, NULL), 0);
    assert_int_equal(api_alloc_port_next(a, &A, &p, NULL), -ENOSPC);
    assert_int_equal(api_alloc_port_claim(a, 29999, &A, NULL), -ERANGE);
    api_alloc_free(a);
}

static void test_alloc_private_sync_marks_used_values(void **state)
{
    (void)state;
    struct api_alloc *a = new_alloc("10.96.0.0/29", "30000-30002", NULL);
    json_t *ips = json_pack("{s:{s:s,s:s}}", "10.96.0.1", "uid", "u1", "service", "default/x");
    json_t *ports = json_pack("{s:{s:s,s:s}}", "30000", "uid", "u1", "service", "default/x");
    assert_int_equal(api_alloc_sync(a, ips, ports, 60, NULL), 0);
    assert_int_equal(api_alloc_ip_claim(a, "10.96.0.1", &A, NULL), -EEXIST);
    char ip[16];
    int p;
    assert_int_equal(api_alloc_ip_next(a, &A, ip, sizeof(ip), NULL), 0);
    assert_string_equal(ip, "10.96.0.2");
    assert_int_equal(api_alloc_port_next(a, &A, &p, NULL), 0);
    assert_int_equal(p, 30001);
    json_decref(ips);
    json_decref(ports);
    api_alloc_free(a);
}

/* ---- shared mode: two replicas ---- */

static void test_alloc_shared_replicas_never_hand_out_the_same_value(void **state)
{
    struct fx *f = *state;
    /* both start with the same empty hint, so both try 10.96.0.1 first */
    struct api_alloc *r1 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    struct api_alloc *r2 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    char a[16], b[16];
    struct bosun_err err = {0};
    assert_int_equal(api_alloc_ip_next(r1, &A, a, sizeof(a), &err), 0);
    assert_int_equal(api_alloc_ip_next(r2, &B, b, sizeof(b), &err), 0);
    assert_string_equal(a, "10.96.0.1");
    assert_string_equal(b, "10.96.0.2");
    int p1, p2;
    assert_int_equal(api_alloc_port_next(r1, &A, &p1, &err), 0);
    assert_int_equal(api_alloc_port_next(r2, &B, &p2, &err), 0);
    assert_int_not_equal(p1, p2);
    /* a specific value taken by the other replica */
    assert_int_equal(api_alloc_ip_claim(r2, "10.96.0.1", &B, &err), -EEXIST);
    assert_int_equal(api_alloc_port_claim(r1, p2, &A, &err), -EEXIST);
    /* taken means taken, even for the same Service (its write may still be in flight) */
    assert_int_equal(api_alloc_ip_claim(r1, "10.96.0.1", &A, &err), -EEXIST);
    assert_int_equal(claims(f->st, "/ranges/serviceips/"), 2);
    assert_int_equal(claims(f->st, "/ranges/servicenodeports/"), 2);
    api_alloc_free(r1);
    api_alloc_free(r2);
}

static void test_alloc_shared_release_is_the_owners_only(void **state)
{
    struct fx *f = *state;
    struct api_alloc *r1 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    struct api_alloc *r2 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    assert_int_equal(api_alloc_ip_claim(r1, "10.96.0.10", &A, NULL), 0);
    api_alloc_ip_release(r2, "10.96.0.10", &B); /* B does not hold it: no effect */
    assert_int_equal(api_alloc_ip_claim(r2, "10.96.0.10", &B, NULL), -EEXIST);
    api_alloc_ip_release(r2, "10.96.0.10", &A); /* any replica may release for the owner */
    assert_int_equal(api_alloc_ip_claim(r2, "10.96.0.10", &B, NULL), 0);
    assert_int_equal(claims(f->st, "/ranges/serviceips/"), 1);
    api_alloc_free(r1);
    api_alloc_free(r2);
}

static void test_alloc_shared_full_hint_looks_at_the_store_again(void **state)
{
    struct fx *f = *state;
    /* 6 usable addresses */
    struct api_alloc *r1 = new_alloc("10.96.0.0/29", "30000-30001", f->st);
    struct api_alloc *r2 = new_alloc("10.96.0.0/29", "30000-30001", f->st);
    char ip[16], got[6][16];
    for (int i = 0; i < 6; i++)
        assert_int_equal(api_alloc_ip_next(i % 2 ? r2 : r1, i % 2 ? &B : &A, got[i],
                                           sizeof(got[i]), NULL),
                         0);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            assert_string_not_equal(got[i], got[j]);
    assert_int_equal(api_alloc_ip_next(r1, &A, ip, sizeof(ip), NULL), -ENOSPC);
    /* r2 gives one of its own back; r1's hint still says taken, the store does not */
    api_alloc_ip_release(r2, got[1], &B);
    assert_int_equal(api_alloc_ip_next(r1, &A, ip, sizeof(ip), NULL), 0);
    assert_string_equal(ip, got[1]);
    api_alloc_free(r1);
    api_alloc_free(r2);
}

struct racer {
    struct api_alloc *a;
    const struct api_alloc_owner *o;
    char ips[40][16];
    int ports[40];
    int failures;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 40; i++) {
        struct bosun_err err = {0};
        if (api_alloc_ip_next(r->a, r->o, r->ips[i], sizeof(r->ips[i]), &err) ||
            api_alloc_port_next(r->a, r->o, &r->ports[i], &err))
            r->failures++;
    }
    return NULL;
}

static void test_alloc_shared_concurrent_replicas_get_distinct_values(void **state)
{
    struct fx *f = *state;
    struct racer rs[4] = {{0}};
    struct api_alloc *as[2] = {new_alloc("10.96.0.0/24", "30000-30199", f->st),
                               new_alloc("10.96.0.0/24", "30000-30199", f->st)};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        rs[i].a = as[i % 2]; /* two threads per replica */
        rs[i].o = i % 2 ? &B : &A;
        assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    json_t *seen = json_object();
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rs[i].failures, 0);
        for (int j = 0; j < 40; j++) {
            char port[16];
            snprintf(port, sizeof(port), "%d", rs[i].ports[j]);
            assert_null(json_object_get(seen, rs[i].ips[j]));
            assert_null(json_object_get(seen, port));
            json_object_set_new(seen, rs[i].ips[j], json_true());
            json_object_set_new(seen, port, json_true());
        }
    }
    assert_int_equal(json_object_size(seen), 320);
    assert_int_equal(claims(f->st, "/ranges/serviceips/"), 160);
    assert_int_equal(claims(f->st, "/ranges/servicenodeports/"), 160);
    json_decref(seen);
    api_alloc_free(as[0]);
    api_alloc_free(as[1]);
}

static void test_alloc_shared_sync_claims_used_and_frees_orphans(void **state)
{
    struct fx *f = *state;
    struct api_alloc *r1 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    struct api_alloc *r2 = new_alloc("10.96.0.0/24", "30000-30100", f->st);
    /* an orphan: claimed, but its Service was never written (the replica died) */
    assert_int_equal(api_alloc_ip_claim(r1, "10.96.0.7", &A, NULL), 0);
    assert_int_equal(api_alloc_port_claim(r1, 30007, &A, NULL), 0);
    /* a Service written before claims existed uses 10.96.0.9 / 30009 */
    json_t *ips = json_pack("{s:{s:s,s:s}}", "10.96.0.9", "uid", "uid-old", "service", "d/old");
    json_t *ports = json_pack("{s:{s:s,s:s}}", "30009", "uid", "uid-old", "service", "d/old");
    /* within the grace period the orphan stays (its write may be in flight) */
    assert_int_equal(api_alloc_sync(r2, ips, ports, 3600, NULL), 0);
    assert_int_equal(claims(f->st, "/ranges/serviceips/"), 2);
    assert_int_equal(api_alloc_ip_claim(r1, "10.96.0.9", &A, NULL), -EEXIST);
    assert_int_equal(api_alloc_port_claim(r1, 30009, &A, NULL), -EEXIST);
    /* past it, it is freed; the used ones stay */
    assert_int_equal(api_alloc_sync(r2, ips, ports, 0, NULL), 0);
    assert_int_equal(claims(f->st, "/ranges/serviceips/"), 1);
    assert_int_equal(claims(f->st, "/ranges/servicenodeports/"), 1);
    assert_int_equal(api_alloc_ip_claim(r1, "10.96.0.7", &B, NULL), 0);
    assert_int_equal(api_alloc_port_claim(r1, 30007, &B, NULL), 0);
    assert_int_equal(api_alloc_ip_claim(r2, "10.96.0.9", &B, NULL), -EEXIST);
    json_decref(ips);
    json_decref(ports);
    api_alloc_free(r1);
    api_alloc_free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_private_skips_network_and_broadcast),
        cmocka_unit_test(test_alloc_private_sync_marks_used_values),
        cmocka_unit_test_setup_teardown(test_alloc_shared_replicas_never_hand_out_the_same_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_shared_release_is_the_owners_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alloc_shared_full_hint_looks_at_the_store_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_shared_concurrent_replicas_get_distinct_values,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_shared_sync_claims_used_and_frees_orphans,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
