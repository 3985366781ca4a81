/* Unit tests for reconcilerd/store: semantics, durability, recovery, watch, group commit,
 * crash safety (fork + SIGKILL) and a full disk (a tmpfs mounted by the test, root only). */
/* cmocka needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "reconcilerd/store/index.h"
#include "reconcilerd/store/record.h"
#include "reconcilerd/store/store.h"

struct fx {
    char dir[256]; /* temp dir; the store lives in dir/store */
    char sdir[300];
    char mnt[300]; /* tmpfs mount point when mounted */
    int mounted;
    struct store *st;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/bosun-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->sdir, sizeof(f->sdir), "%s/store", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    if (f->mounted)
        umount2(f->mnt, MNT_DETACH);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static struct store *open_store(const char *dir, size_t history)
{
    struct store_opts o = {.dir = dir, .history = history};
    struct store *st = NULL;
    struct bosun_err err = {0};
    int r = store_open(&o, &st, &err);
    if (r)
        print_error("store_open: %s\n", err.msg);
    assert_int_equal(r, 0);
    return st;
}

static json_t *obj(const char *name, long long v)
{
    return json_pack("{s:s, s:{s:s, s:{s:s}}, s:{s:I}}", "kind", "ConfigMap", "metadata", "name",
                     name, "labels", "app", "web", "spec", "v", (json_int_t)v);
}

static const char *rv_of(const json_t *o)
{
    return jsonx_get_str(o, "metadata.resourceVersion");
}

static void assert_rv(const json_t *o, uint64_t rev)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, rev);
    assert_non_null(rv_of(o));
    assert_string_equal(rv_of(o), buf);
}

static uint64_t put(struct store *st, const char *key, long long v)
{
    json_t *o = obj(key, v);
    json_t *out = NULL;
    struct bosun_err err = {0};
    int r = store_create(st, key, o, &out, &err);
    if (r)
        print_error("store_create %s: %s\n", key, err.msg);
    assert_int_equal(r, 0);
    uint64_t rev = strtoull(rv_of(out), NULL, 10);
    json_decref(o);
    json_decref(out);
    return rev;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- semantics ----------------------------------------------------------------------- */

static void test_store_crc32c_matches_known_vector(void **state)
{
    (void)state;
    assert_int_equal(store_crc32c(0, "123456789", 9), 0xE3069283u);
    /* chained = whole */
    uint32_t c = store_crc32c(0, "1234", 4);
    assert_int_equal(store_crc32c(c, "56789", 5), 0xE3069283u);
}

static void test_store_create_get_update_delete(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 0);

    json_t *in = obj("web", 1);
    json_t *out = NULL;
    assert_int_equal(store_create(f->st, "/configmaps/default/web", in, &out, &err), 0);
    assert_rv(out, 1);
    /* the caller's value is borrowed, never modified */
    assert_null(jsonx_get(in, "metadata.resourceVersion"));
    json_decref(out);

    json_t *got = NULL;
    uint64_t rev = 0;
    assert_int_equal(store_get(f->st, "/configmaps/default/web", &got, &rev, &err), 0);
    assert_int_equal(rev, 1);
    assert_rv(got, 1);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 1);
    /* the copy we got is ours: changing it does not change the store */
    jsonx_set_new(got, "spec.v", json_integer(99));
    json_decref(got);
    assert_int_equal(store_get(f->st, "/configmaps/default/web", &got, NULL, &err), 0);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 1);

    jsonx_set_new(got, "spec.v", json_integer(2));
    assert_int_equal(store_update(f->st, "/configmaps/default/web", got, 1, &out, &err), 0);
    assert_rv(out, 2);
    assert_int_equal(jsonx_get_int(out, "spec.v", 0), 2);
    json_decref(out);
    json_decref(got);

    json_t *last = NULL;
    assert_int_equal(store_delete(f->st, "/configmaps/default/web", 2, &last, &err), 0);
    assert_rv(last, 3);
    assert_int_equal(jsonx_get_int(last, "spec.v", 0), 2);
    json_decref(last);
    assert_int_equal(store_get(f->st, "/configmaps/default/web", &got, NULL, &err), -ENOENT);
    assert_int_equal(store_revision(f->st), 3);
    json_decref(in);
}

static void test_store_create_existing_is_eexist_and_absent_is_enoent(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    json_t *o = obj("a", 1);
    put(f->st, "/k/a", 1);
    assert_int_equal(store_create(f->st, "/k/a", o, NULL, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "/k/a"));
    assert_int_equal(store_update(f->st, "/k/missing", o, 0, NULL, &err), -ENOENT);
    assert_int_equal(store_delete(f->st, "/k/missing", 0, NULL, &err), -ENOENT);
    assert_int_equal(store_get(f->st, "/k/missing", NULL, NULL, &err), -ENOENT);
    /* failed writes take no revision */
    assert_int_equal(store_revision(f->st), 1);
    assert_int_equal(put(f->st, "/k/b", 1), 2);
    json_decref(o);
}

static void test_store_update_conflicts_on_stale_version(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    put(f->st, "/k/a", 1);
    put(f->st, "/k/other", 1);
    json_t *o = obj("a", 2);
    assert_int_equal(store_update(f->st, "/k/a", o, 1, NULL, &err), 0); /* rev 3 */
    assert_int_equal(store_update(f->st, "/k/a", o, 1, NULL, &err), -ESTALE);
    assert_non_null(strstr(err.msg, "/k/a"));
    assert_int_equal(store_delete(f->st, "/k/a", 2, NULL, &err), -ESTALE);
    assert_int_equal(store_get(f->st, "/k/a", NULL, NULL, &err), 0);
    assert_int_equal(store_delete(f->st, "/k/a", 3, NULL, &err), 0);
    json_decref(o);
}

static void test_store_update_with_zero_is_unconditional(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    put(f->st, "/k/a", 1);
    put(f->st, "/k/a2", 1);
    json_t *o = obj("a", 7);
    /* a stale resourceVersion inside the value does not matter: expected_rev decides */
    jsonx_set_new(o, "metadata.resourceVersion", json_string("1"));
    json_t *out = NULL;
    assert_int_equal(store_update(f->st, "/k/a", o, 0, &out, &err), 0);
    assert_rv(out, 3);
    json_decref(out);
    assert_int_equal(store_delete(f->st, "/k/a", 0, NULL, &err), 0);
    json_decref(o);
}

static void test_store_revisions_increase_globally_as_resource_version(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%c/%d", 'a' + i % 3, i);
        assert_int_equal(put(f->st, key, i), (uint64_t)i + 1);
        json_t *got = NULL;
        uint64_t rev = 0;
        assert_int_equal(store_get(f->st, key, &got, &rev, &err), 0);
        assert_int_equal(rev, (uint64_t)i + 1);
        assert_rv(got, rev);
        json_decref(got);
    }
    assert_int_equal(store_revision(f->st), 20);
}

struct list_acc {
    char keys[64][64];
    uint64_t revs[64];
    int n;
    int stop_after;
};

static int list_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    struct list_acc *a = ud;
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, mod_rev);
    assert_string_equal(jsonx_get_str(value, "metadata.resourceVersion"), buf);
    snprintf(a->keys[a->n], sizeof(a->keys[0]), "%s", key);
    a->revs[a->n] = mod_rev;
    a->n++;
    return a->stop_after && a->n >= a->stop_after;
}

static void test_store_list_by_prefix_in_key_order_with_revision(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    const char *keys[] = {"/pods/ns2/b", "/pods/ns1/z",  "/pods/ns1/a", "/services/ns1/a",
                          "/pods/ns1/m", "/pods/ns10/a", "/pod"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put(f->st, keys[i], (long long)i);
    assert_int_equal(store_delete(f->st, "/pods/ns1/m", 0, NULL, &err), 0);

    struct list_acc a = {0};
    uint64_t rev = 0;
    assert_int_equal(store_list(f->st, "/pods/ns1/", list_cb, &a, &rev, &err), 0);
    assert_int_equal(rev, 8);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.keys[0], "/pods/ns1/a");
    assert_string_equal(a.keys[1], "/pods/ns1/z");
    assert_int_equal(a.revs[0], 3);

    memset(&a, 0, sizeof(a));
    assert_int_equal(store_list(f->st, "/pods/", list_cb, &a, NULL, &err), 0);
    assert_int_equal(a.n, 4);
    assert_string_equal(a.keys[0], "/pods/ns1/a");
    assert_string_equal(a.keys[1], "/pods/ns1/z");
    assert_string_equal(a.keys[2], "/pods/ns10/a");
    assert_string_equal(a.keys[3], "/pods/ns2/b");

    memset(&a, 0, sizeof(a));
    assert_int_equal(store_list(f->st, "", list_cb, &a, NULL, &err), 0);
    assert_int_equal(a.n, 6);
    assert_string_equal(a.keys[0], "/pod");

    memset(&a, 0, sizeof(a));
    a.stop_after = 2;
    assert_int_equal(store_list(f->st, "", list_cb, &a, NULL, &err), 0);
    assert_int_equal(a.n, 2);

    memset(&a, 0, sizeof(a));
    assert_int_equal(store_list(f->st, "/nothing/", list_cb, &a, &rev, &err), 0);
    assert_int_equal(a.n, 0);
    assert_int_equal(rev, 8);
}

static int count_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)value;
    (void)mod_rev;
    (*(size_t *)ud)++;
    return 0;
}

struct writer_arg {
    struct store *st;
    int t;
    int n;
    const char *prefix;
    uint64_t *revs; /* n entries, filled with each write's revision */
    int failures;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        char key[96];
        snprintf(key, sizeof(key), "%s/t%02d/%06d", a->prefix, a->t, i);
        json_t *o = obj(key, i);
        json_t *out = NULL;
        struct bosun_err err = {0};
        if (store_create(a->st, key, o, &out, &err) == 0) {
            if (a->revs)
                a->revs[i] = strtoull(rv_of(out), NULL, 10);
            json_decref(out);
        } else {
            a->failures++;
        }
        json_decref(o);
    }
    return NULL;
}

/* Runs threads × per creates under prefix; returns the elapsed seconds. */
static double run_writers(struct store *st, int threads, int per, const char *prefix,
                          uint64_t **revs_out)
{
    pthread_t th[256];
    struct writer_arg args[256];
    uint64_t *revs = revs_out ? calloc((size_t)threads * (size_t)per, sizeof(uint64_t)) : NULL;
    assert_true(threads <= 256);
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        args[t] = (struct writer_arg){.st = st,
                                      .t = t,
                                      .n = per,
                                      .prefix = prefix,
                                      .revs = revs ? revs + (size_t)t * (size_t)per : NULL};
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, &args[t]), 0);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    double dt = now_s() - t0;
    if (revs_out)
        *revs_out = revs;
    return dt;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_store_list_of_10k_objects_is_fast(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    run_writers(f->st, 100, 10000 / 100, "/pods/default", NULL);
    put(f->st, "/services/default/x", 1);
    size_t n = 0;
    double best = 1e9;
    for (int i = 0; i < 5; i++) {
        n = 0;
        double t0 = now_s();
        assert_int_equal(store_list(f->st, "/pods/", count_cb, &n, NULL, &err), 0);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    assert_int_equal(n, 10000);
    print_message("list of 10k objects: %.2f ms\n", best * 1e3);
#if defined(__SANITIZE_ADDRESS__)
    assert_true(best < 0.050);
#else
    assert_true(best < 0.010);
#endif
}

/* ---- durability and recovery ----------------------------------------------------------- */

static void test_store_persists_across_close_and_reopen(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%02d", i);
        put(f->st, key, i);
    }
    json_t *o = obj("x", 1000);
    assert_int_equal(store_update(f->st, "/k/07", o, 0, NULL, &err), 0); /* 51 */
    assert_int_equal(store_delete(f->st, "/k/08", 0, NULL, &err), 0);    /* 52 */
    json_decref(o);
    store_close(f->st);

    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 52);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 49);
    json_t *got = NULL;
    uint64_t rev = 0;
    assert_int_equal(store_get(f->st, "/k/07", &got, &rev, &err), 0);
    assert_int_equal(rev, 51);
    assert_rv(got, 51);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 1000);
    json_decref(got);
    assert_int_equal(store_get(f->st, "/k/08", NULL, NULL, &err), -ENOENT);
    /* revisions continue after the recovered ones */
    assert_int_equal(put(f->st, "/k/new", 1), 53);

    /* the offline checker agrees, and refuses while the store is open */
    struct store_check_report rep = {0};
    assert_int_equal(store_check(f->sdir, &rep, &err), -EBUSY);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_check(f->sdir, &rep, &err), 0);
    assert_int_equal(rep.revision, 53);
    assert_int_equal(rep.objects, 50);
    assert_int_equal(rep.torn_bytes, 0);
}

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_store_reopens_after_snapshot_and_more_log(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    run_writers(f->st, 4, 50, "/a", NULL); /* revs 1..200 */
    assert_int_equal(store_snapshot(f->st, &err), 0);
    /* the log the snapshot covers is gone: one snapshot, one (new) segment */
    assert_int_equal(count_files(f->sdir, "snap-"), 1);
    assert_int_equal(count_files(f->sdir, "wal-"), 1);
    json_t *o = obj("u", 77);
    assert_int_equal(store_update(f->st, "/a/t00/000003", o, 0, NULL, &err), 0); /* 201 */
    assert_int_equal(store_delete(f->st, "/a/t01/000004", 0, NULL, &err), 0);    /* 202 */
    put(f->st, "/b/new", 1);                                                     /* 203 */
    /* a second snapshot replaces the first */
    assert_int_equal(store_snapshot(f->st, &err), 0);
    assert_int_equal(count_files(f->sdir, "snap-"), 1);
    assert_int_equal(store_update(f->st, "/b/new", o, 203, NULL, &err), 0); /* 204 */
    store_close(f->st);

    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 204);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 200);
    json_t *got = NULL;
    uint64_t rev = 0;
    assert_int_equal(store_get(f->st, "/a/t00/000003", &got, &rev, &err), 0);
    assert_int_equal(rev, 201);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 77);
    json_decref(got);
    assert_int_equal(store_get(f->st, "/b/new", &got, &rev, &err), 0);
    assert_int_equal(rev, 204);
    assert_rv(got, 204);
    json_decref(got);
    assert_int_equal(store_get(f->st, "/a/t01/000004", NULL, NULL, &err), -ENOENT);
    assert_int_equal(put(f->st, "/c", 1), 205);
    json_decref(o);
}

/* Writers for the snapshot-under-writes test: each creates its own keys, then updates,
 * deletes and re-creates them until told to stop, logging every write's revision. */
struct churn_arg {
    struct store *st;
    int t, nkeys;
    atomic_bool *stop;
    struct churn_op {
        uint64_t rev;
        int key;
        long long v; /* -1: deleted */
    } * ops;
    size_t nops, cap;
    int failures;
};

static void churn_log(struct churn_arg *a, const json_t *out, int key, long long v)
{
    if (a->nops == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4096;
        a->ops = realloc(a->ops, a->cap * sizeof(*a->ops));
        assert_non_null(a->ops);
    }
    a->ops[a->nops++] = (struct churn_op){strtoull(rv_of(out), NULL, 10), key, v};
}

static void *churn_main(void *p)
{
    struct churn_arg *a = p;
    bool *present = calloc((size_t)a->nkeys, sizeof(bool));
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(a->t + 1);
    long long v = 0;
    for (int i = 0; i < a->nkeys || !atomic_load(a->stop); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = i < a->nkeys ? i : (int)(x % (uint64_t)a->nkeys);
        char key[64];
        snprintf(key, sizeof(key), "/s/t%02d/%06d", a->t, k);
        json_t *out = NULL;
        struct bosun_err err = {0};
        int r;
        if (present[k] && (x >> 32) % 3 == 0) {
            r = store_delete(a->st, key, 0, &out, &err);
            if (r == 0)
                churn_log(a, out, k, -1);
            present[k] = false;
        } else {
            json_t *o = obj(key, ++v);
            r = present[k] ? store_update(a->st, key, o, 0, &out, &err)
                           : store_create(a->st, key, o, &out, &err);
            json_decref(o);
            if (r == 0)
                churn_log(a, out, k, v);
            present[k] = true;
        }
        a->failures += r != 0;
        json_decref(out);
    }
    free(present);
    return NULL;
}

static uint64_t newest_snapshot_rev(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long v;
        if (sscanf(de->d_name, "snap-%20llu.snap", &v) == 1 && v > best)
            best = v;
    }
    closedir(d);
    return best;
}

struct snap_check {
    const long long *want; /* by t * nkeys + key; -1 absent */
    const uint64_t *want_rev;
    int nkeys;
    size_t seen;
    int bad;
};

static int snap_check_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    struct snap_check *c = ud;
    int t, k;
    if (sscanf(key, "/s/t%02d/%06d", &t, &k) != 2) {
        c->bad++;
        return 0;
    }
    size_t i = (size_t)t * (size_t)c->nkeys + (size_t)k;
    if (c->want[i] != jsonx_get_int(value, "spec.v", -2) || c->want_rev[i] != mod_rev)
        c->bad++;
    c->seen++;
    return 0;
}

/* A snapshot is exactly the state at its revision while writes go on: the snapshot thread
 * walks the index a step at a time as updates, deletes and creates are applied, and what
 * they replace or delete of that state is kept for it. Checked by opening the snapshot
 * alone (its later log removed) against a model built from every write's revision. */
static void test_store_snapshot_is_its_revisions_state_while_writes_go_on(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    enum { T = 8, K = 4000 };
    f->st = open_store(f->sdir, 0);
    atomic_bool stop = false;
    pthread_t th[T];
    struct churn_arg args[T];
    for (int t = 0; t < T; t++) {
        args[t] = (struct churn_arg){.st = f->st, .t = t, .nkeys = K, .stop = &stop};
        assert_int_equal(pthread_create(&th[t], NULL, churn_main, &args[t]), 0);
    }
    /* past the creates, into the churn */
    while (store_revision(f->st) < T * K + 2000)
        usleep(1000);
    assert_int_equal(store_snapshot(f->st, &err), 0);
    uint64_t after = store_revision(f->st);
    usleep(20000);
    atomic_store(&stop, true);
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    uint64_t snap = newest_snapshot_rev(f->sdir);
    assert_true(snap > T * K);
    assert_true(after > snap); /* writes were applied while the snapshot ran */

    long long *want = malloc(sizeof(long long) * T * K);
    uint64_t *want_rev = calloc(T * K, sizeof(uint64_t));
    assert_non_null(want);
    assert_non_null(want_rev);
    size_t present = 0;
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < K; k++)
            want[t * K + k] = -1;
        for (size_t i = 0; i < args[t].nops && args[t].ops[i].rev <= snap; i++) {
            want[t * K + args[t].ops[i].key] = args[t].ops[i].v;
            want_rev[t * K + args[t].ops[i].key] = args[t].ops[i].rev;
        }
        for (int k = 0; k < K; k++)
            present += want[t * K + k] >= 0;
        free(args[t].ops);
    }
    store_close(f->st);
    f->st = NULL;

    /* the snapshot alone: drop the log written after it */
    DIR *d = opendir(f->sdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "wal-", 4) == 0) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", f->sdir, de->d_name);
            assert_int_equal(unlink(path), 0);
        }
    }
    closedir(d);
    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), snap);
    struct snap_check c = {.want = want, .want_rev = want_rev, .nkeys = K};
    assert_int_equal(store_list(f->st, "/s/", snap_check_cb, &c, NULL, &err), 0);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.seen, present);
    free(want);
    free(want_rev);
}

static void wal_path(struct fx *f, char *buf, size_t len, uint64_t start)
{
    snprintf(buf, len, "%s/wal-%020" PRIu64 ".log", f->sdir, start);
}

/* Whether the log segment that starts at revision start exists. */
static bool have_segment(struct fx *f, uint64_t start)
{
    char path[PATH_MAX];
    wal_path(f, path, sizeof(path), start);
    return access(path, F_OK) == 0;
}

/* Writes key with an 8 KiB value; returns its revision. */
static uint64_t put_8k(struct store *st, const char *key)
{
    static char big[8192];
    memset(big, 'x', sizeof(big) - 1);
    json_t *o = json_pack("{s:{s:s}, s:s}", "metadata", "name", key, "data", big);
    json_t *out = NULL;
    struct bosun_err err = {0};
    int r = store_update(st, key, o, 0, &out, &err);
    if (r == -ENOENT)
        r = store_create(st, key, o, &out, &err);
    assert_int_equal(r, 0);
    uint64_t rev = strtoull(rv_of(out), NULL, 10);
    json_decref(o);
    json_decref(out);
    return rev;
}

static void test_store_snapshots_after_half_the_last_snapshot_at_least_the_minimum(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    struct store_opts o = {.dir = f->sdir, .snapshot_bytes = 64 << 10};
    assert_int_equal(store_open(&o, &f->st, &err), 0);
    /* A small store: the minimum decides. 8 records of 8 KiB pass 64 KiB, so the segment
     * after the snapshot at revision 8 starts at 9, before the next write is logged. */
    uint64_t rev = 0;
    for (int i = 0; i < 9; i++)
        rev = put_8k(f->st, "/s/small");
    assert_true(have_segment(f, 9));

    /* A 1 MiB store, snapshotted: the next snapshot waits for 512 KiB of log (64 writes),
     * where a fixed threshold would have taken one every 8 writes. */
    char key[32];
    for (int i = 0; i < 128; i++) {
        snprintf(key, sizeof(key), "/s/%03d", i);
        rev = put_8k(f->st, key);
    }
    assert_int_equal(store_snapshot(f->st, &err), 0);
    uint64_t seg = rev + 1;
    assert_true(have_segment(f, seg));
    for (int i = 0; i < 56; i++) {
        snprintf(key, sizeof(key), "/s/%03d", i);
        put_8k(f->st, key);
        assert_int_equal(count_files(f->sdir, "wal-"), 1);
        assert_true(have_segment(f, seg));
    }
    for (int i = 56; i < 72; i++) {
        snprintf(key, sizeof(key), "/s/%03d", i);
        rev = put_8k(f->st, key);
    }
    /* past 512 KiB: a new segment, and the snapshot that ends the old one comes */
    assert_false(count_files(f->sdir, "wal-") == 1 && have_segment(f, seg));
    assert_int_equal(store_snapshot(f->st, &err), 0);
    assert_int_equal(count_files(f->sdir, "wal-"), 1);
    assert_false(have_segment(f, seg));
    assert_int_equal(put_8k(f->st, "/s/last"), rev + 1);
}

/* Offsets of the records in a log segment. */
static int record_offsets(const char *path, size_t *offs, int max, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof(data), fp);
    fclose(fp);
    int k = 0;
    size_t off = STORE_FILE_HDR_LEN;
    while (off < n && k < max) {
        /* the log is zero-filled ahead of its last record */
        size_t z = off;
        while (z < n && data[z] == 0)
            z++;
        if (z == n)
            break;
        struct store_rec rec;
        assert_int_equal(store_rec_decode(data + off, n - off, &rec), STORE_REC_OK);
        offs[k++] = off;
        off += rec.len;
    }
    *size = off; /* the end of the last record */
    return k;
}

/* Writes /k/0../k/9 (revisions 1..10) into a new store and closes it; path = its log
 * segment, offs[] = where each record starts, *end = where the last one ends. */
static void ten_records(struct fx *f, char *path, size_t path_len, size_t *offs, size_t *end)
{
    f->st = open_store(f->sdir, 0);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%d", i);
        put(f->st, key, i);
    }
    store_close(f->st);
    f->st = NULL;
    wal_path(f, path, path_len, 1);
    assert_int_equal(record_offsets(path, offs, 32, end), 10);
}

static void test_store_cuts_off_torn_tail(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char path[512];
    size_t offs[32];
    size_t size;
    ten_records(f, path, sizeof(path), offs, &size);
    /* cut the last record in the middle, as a crash during its write would */
    size_t cut_at = offs[9] + (size - offs[9]) / 2;
    assert_int_equal(truncate(path, (off_t)cut_at), 0);

    struct store_check_report rep = {0};
    assert_int_equal(store_check(f->sdir, &rep, &err), 0);
    assert_int_equal(rep.revision, 9);
    assert_int_equal(rep.torn_bytes, cut_at - offs[9]);

    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 9);
    assert_int_equal(store_get(f->st, "/k/9", NULL, NULL, &err), -ENOENT);
    assert_int_equal(store_get(f->st, "/k/8", NULL, NULL, &err), 0);
    /* the torn bytes are gone from disk, so new records follow valid data */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, offs[9]);
    assert_int_equal(put(f->st, "/k/9", 9), 10);
    store_close(f->st);

    /* a tail of zeros (size updated, data never written) is torn too */
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd >= 0);
    char zeros[700] = {0};
    assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
    close(fd);
    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 10);
    assert_int_equal(store_get(f->st, "/k/9", NULL, NULL, &err), 0);
}

static void test_store_zero_filled_log_tail_is_a_clean_end(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char path[512];
    size_t offs[32];
    size_t end;
    ten_records(f, path, sizeof(path), offs, &end);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true((size_t)sb.st_size > end); /* zero-filled ahead of the last record */
    struct store_check_report rep = {0};
    assert_int_equal(store_check(f->sdir, &rep, &err), 0);
    assert_int_equal(rep.revision, 10);
    assert_int_equal(rep.torn_bytes, 0);
    /* reopened, new records go where the zeros were, and the file does not move */
    f->st = open_store(f->sdir, 0);
    assert_int_equal(put(f->st, "/k/10", 10), 11);
    store_close(f->st);
    f->st = NULL;
    struct stat sb2;
    assert_int_equal(stat(path, &sb2), 0);
    assert_int_equal(sb2.st_size, sb.st_size);
    assert_int_equal(record_offsets(path, offs, 32, &end), 11);
    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 11);
}

static void corrupt_byte(const char *path, size_t off)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static void test_store_refuses_corruption_in_the_middle(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char path[512];
    size_t offs[32];
    size_t size;
    ten_records(f, path, sizeof(path), offs, &size);

    /* a flipped bit inside record 5's value */
    corrupt_byte(path, offs[4] + 40);
    struct store_opts o = {.dir = f->sdir};
    char want[128];
    snprintf(want, sizeof(want), "wal-00000000000000000001.log: corrupt record at offset %zu",
             offs[4]);
    assert_int_equal(store_open(&o, &f->st, &err), -EUCLEAN);
    assert_null(f->st);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(store_check(f->sdir, NULL, &err), -EUCLEAN);
    assert_non_null(strstr(err.msg, want));
    corrupt_byte(path, offs[4] + 40); /* undo */

    /* a garbage length field, which hides where the next record starts */
    corrupt_byte(path, offs[6] + 2);
    snprintf(want, sizeof(want), "corrupt record at offset %zu", offs[6]);
    assert_int_equal(store_open(&o, &f->st, &err), -EUCLEAN);
    assert_non_null(strstr(err.msg, want));
    corrupt_byte(path, offs[6] + 2);

    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 10);
}

static void test_store_lock_held_gives_ebusy(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    struct store_opts o = {.dir = f->sdir};
    struct store *second = NULL;
    assert_int_equal(store_open(&o, &second, &err), -EBUSY);
    assert_null(second);
    assert_non_null(strstr(err.msg, "locked"));
    store_close(f->st);
    f->st = open_store(f->sdir, 0);
}

/* ---- watch ------------------------------------------------------------------------------ */

struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t revs[8192];
    int types[8192];
    char keys[64][64];
    uint64_t value_rv[64];
    int has_prev[64];
    int n;
    int cancel_at;
    struct store_watch *w;
    int in_cb;
    int sleep_ms;
};

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void watch_cb(const struct store_event *ev, void *ud)
{
    struct seen *s = ud;
    pthread_mutex_lock(&s->mu);
    s->in_cb = 1;
    pthread_mutex_unlock(&s->mu);
    if (s->sleep_ms)
        usleep((useconds_t)s->sleep_ms * 1000);
    pthread_mutex_lock(&s->mu);
    if (s->n < 8192) {
        s->revs[s->n] = ev->rev;
        s->types[s->n] = ev->type;
        if (s->n < 64 && ev->type != STORE_EXPIRED) {
            snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", ev->key);
            s->value_rv[s->n] =
                strtoull(jsonx_get_str(ev->value, "metadata.resourceVersion"), NULL, 10);
            s->has_prev[s->n] = ev->prev != NULL;
        }
    }
    s->n++;
    if (s->cancel_at && s->n == s->cancel_at)
        store_watch_cancel_async(s->w);
    s->in_cb = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int wait_for(struct seen *s, int n, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->n < n)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    int got = s->n;
    pthread_mutex_unlock(&s->mu);
    return got;
}

static void test_store_watch_replays_history_then_streams_live_in_order_once(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%d", i);
        put(f->st, key, i);
    }
    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "", 2, watch_cb, &s, &w, &err), 0);
    assert_int_equal(wait_for(&s, 3, 5000), 3);
    json_t *o = obj("x", 9);
    assert_int_equal(store_update(f->st, "/k/0", o, 1, NULL, &err), 0); /* 6 */
    assert_int_equal(store_delete(f->st, "/k/1", 0, NULL, &err), 0);    /* 7 */
    put(f->st, "/k/new", 1);                                            /* 8 */
    assert_int_equal(wait_for(&s, 6, 5000), 6);
    usleep(50000);
    assert_int_equal(s.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(s.revs[i], (uint64_t)i + 3);
    assert_int_equal(s.types[0], STORE_ADDED);
    assert_false(s.has_prev[0]);
    assert_string_equal(s.keys[0], "/k/2");
    assert_int_equal(s.types[3], STORE_MODIFIED);
    assert_true(s.has_prev[3]);
    assert_int_equal(s.value_rv[3], 6);
    assert_int_equal(s.types[4], STORE_DELETED);
    assert_string_equal(s.keys[4], "/k/1");
    /* a DELETED event carries the last state with the delete's revision */
    assert_int_equal(s.value_rv[4], 7);
    assert_true(s.has_prev[4]);
    assert_int_equal(s.types[5], STORE_ADDED);
    store_watch_cancel(w);
    json_decref(o);

    /* the log after the last snapshot feeds the history again after a restart */
    store_close(f->st);
    f->st = open_store(f->sdir, 0);
    seen_init(&s);
    assert_int_equal(store_watch(f->st, "/k/", 5, watch_cb, &s, &w, &err), 0);
    assert_int_equal(wait_for(&s, 3, 5000), 3);
    assert_int_equal(s.revs[0], 6);
    assert_int_equal(s.revs[2], 8);
    store_watch_cancel(w);
}

static void test_store_watch_started_during_writes_has_no_gap_or_duplicate(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    pthread_t th[4];
    struct writer_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (struct writer_arg){.st = f->st, .t = t, .n = 300, .prefix = "/w"};
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, &args[t]), 0);
    }
    usleep(20000);
    struct seen *s = malloc(sizeof(*s));
    seen_init(s);
    struct store_watch *w = NULL;
    /* what an informer does: list, then watch from the list's revision */
    size_t n = 0;
    uint64_t rev = 0;
    assert_int_equal(store_list(f->st, "/w/", count_cb, &n, &rev, &err), 0);
    assert_int_equal(store_watch(f->st, "/w/", rev, watch_cb, s, &w, &err), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    int want = 1200 - (int)n;
    assert_int_equal(wait_for(s, want, 10000), want);
    usleep(50000);
    assert_int_equal(s->n, want);
    for (int i = 0; i < want; i++)
        assert_int_equal(s->revs[i], rev + 1 + (uint64_t)i);
    store_watch_cancel(w);
    free(s);
}

static void test_store_watch_filters_by_prefix(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "/pods/ns1/", 0, watch_cb, &s, &w, &err), 0);
    put(f->st, "/pods/ns1/a", 1);
    put(f->st, "/pods/ns2/a", 1);
    put(f->st, "/services/ns1/a", 1);
    put(f->st, "/pods/ns1/b", 1);
    put(f->st, "/pods/ns10/b", 1);
    assert_int_equal(wait_for(&s, 2, 5000), 2);
    usleep(50000);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "/pods/ns1/a");
    assert_string_equal(s.keys[1], "/pods/ns1/b");
    assert_int_equal(s.revs[1], 4);
    store_watch_cancel(w);
}

/* Writes no watch wants move the watches' cursors without the fan-out thread: what a
 * watch wants still arrives once and in order, history still ends at the window, and a
 * watch from inside the window still replays it. */
static void test_store_watch_unwatched_writes_keep_order_and_window(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 16);
    struct seen a;
    seen_init(&a);
    struct store_watch *wa = NULL;
    assert_int_equal(store_watch(f->st, "/a/", 0, watch_cb, &a, &wa, &err), 0);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "/b/%d", i);
        put(f->st, key, i);
    }
    struct seen all;
    seen_init(&all);
    struct store_watch *wall = NULL;
    assert_int_equal(store_watch(f->st, "", 50, watch_cb, &all, &wall, &err), -ERANGE);
    assert_int_equal(put(f->st, "/a/x", 1), 101);
    assert_int_equal(wait_for(&a, 1, 5000), 1);
    assert_string_equal(a.keys[0], "/a/x");
    assert_int_equal(a.revs[0], 101);
    assert_int_equal(store_watch(f->st, "", 95, watch_cb, &all, &wall, &err), 0);
    for (int i = 100; i < 103; i++) {
        snprintf(key, sizeof(key), "/b/%d", i);
        put(f->st, key, i);
    }
    assert_int_equal(put(f->st, "/a/y", 1), 105);
    assert_int_equal(wait_for(&all, 10, 5000), 10);
    assert_int_equal(wait_for(&a, 2, 5000), 2);
    usleep(50000);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.keys[1], "/a/y");
    assert_int_equal(a.revs[1], 105);
    assert_int_equal(all.n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(all.revs[i], 96 + (uint64_t)i);
    store_watch_cancel(wall);
    store_watch_cancel(wa);
}

static void test_store_watch_too_old_gives_erange(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 10);
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%d", i);
        put(f->st, key, i);
    }
    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "", 5, watch_cb, &s, &w, &err), -ERANGE);
    assert_string_equal(err.msg, "too old resource version: 5 (20)");
    /* the oldest watchable revision itself works */
    assert_int_equal(store_watch(f->st, "", 20, watch_cb, &s, &w, &err), 0);
    assert_int_equal(wait_for(&s, 10, 5000), 10);
    assert_int_equal(s.revs[0], 21);
    store_watch_cancel(w);
}

static void test_store_watch_cancel_from_inside_callback(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    struct seen s;
    seen_init(&s);
    s.cancel_at = 3;
    pthread_mutex_lock(&s.mu);
    assert_int_equal(store_watch(f->st, "", 0, watch_cb, &s, &s.w, &err), 0);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%d", i);
        put(f->st, key, i);
    }
    assert_int_equal(wait_for(&s, 3, 5000), 3);
    /* a second watch still sees everything after the first is gone */
    struct seen s2;
    seen_init(&s2);
    struct store_watch *w2 = NULL;
    assert_int_equal(store_watch(f->st, "", 0, watch_cb, &s2, &w2, &err), 0);
    put(f->st, "/k/after", 1);
    assert_int_equal(wait_for(&s2, 1, 5000), 1);
    usleep(50000);
    assert_int_equal(s.n, 3);
    store_watch_cancel(w2);
}

static void test_store_watch_cancel_waits_for_running_callback(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    struct seen s;
    seen_init(&s);
    s.sleep_ms = 200;
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "", 0, watch_cb, &s, &w, &err), 0);
    put(f->st, "/k/1", 1);
    put(f->st, "/k/2", 1);
    /* wait until the first callback is running (generous: the machine may be loaded) */
    int started = 0;
    for (int i = 0; i < 10000 && !started; i++) {
        pthread_mutex_lock(&s.mu);
        started = s.in_cb;
        pthread_mutex_unlock(&s.mu);
        if (!started)
            usleep(1000);
    }
    assert_true(started);
    store_watch_cancel(w);
    pthread_mutex_lock(&s.mu);
    int n = s.n;
    int in = s.in_cb;
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(in, 0);
    assert_int_equal(n, 1); /* the running one finished, the next was never started */
    put(f->st, "/k/3", 1);
    usleep(300000);
    assert_int_equal(s.n, 1);
}

/* ---- concurrency, crashes, full disk ------------------------------------------------------ */

static void test_store_concurrent_writers_all_acknowledged_and_durable(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    enum { THREADS = 64, PER = 25 };
    uint64_t *revs = NULL;
    double dt = run_writers(f->st, THREADS, PER, "/c", &revs);
    print_message("%d durable creates from %d threads: %.0f/s\n", THREADS * PER, THREADS,
                  THREADS * PER / dt);
    /* every write got its own revision, and together they are exactly 1..N */
    qsort(revs, THREADS * PER, sizeof(uint64_t), cmp_u64);
    for (int i = 0; i < THREADS * PER; i++)
        assert_int_equal(revs[i], (uint64_t)i + 1);
    free(revs);
    store_close(f->st);
    f->st = open_store(f->sdir, 0);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "/c/", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, THREADS * PER);
    assert_int_equal(store_revision(f->st), THREADS * PER);
}

/* The child writes as fast as it can and reports every acknowledged write on a pipe as
 * "key n rev\n"; each key is created and then updated, value spec.v = n. */
struct crash_arg {
    struct store *st;
    int t;
    int round;
    int fd;
};

static void *crash_writer(void *p)
{
    struct crash_arg *a = p;
    for (int i = 0;; i++) {
        char key[64];
        snprintf(key, sizeof(key), "/crash/r%d/t%d/%d", a->round, a->t, i);
        for (int n = 0; n < 3; n++) {
            json_t *o = obj(key, n);
            json_t *out = NULL;
            struct bosun_err err = {0};
            int r = n == 0 ? store_create(a->st, key, o, &out, &err)
                           : store_update(a->st, key, o, 0, &out, &err);
            json_decref(o);
            if (r)
                _exit(3);
            char line[128];
            int len = snprintf(line, sizeof(line), "%s %d %s\n", key, n, rv_of(out));
            json_decref(out);
            if (write(a->fd, line, (size_t)len) != len)
                _exit(4);
        }
    }
    return NULL;
}

static void crash_child(const char *dir, int round, int fd)
{
    struct store_opts o = {.dir = dir};
    struct store *st = NULL;
    struct bosun_err err = {0};
    if (store_open(&o, &st, &err))
        _exit(2);
    pthread_t th[6];
    struct crash_arg args[6];
    for (int t = 0; t < 6; t++) {
        args[t] = (struct crash_arg){.st = st, .t = t, .round = round, .fd = fd};
        pthread_create(&th[t], NULL, crash_writer, &args[t]);
    }
    if (round % 2 == 1) {
        /* some rounds also snapshot while writing, so a kill can land inside one */
        usleep(20000);
        store_snapshot(st, &err);
    }
    pause();
    _exit(0);
}

struct acked {
    char key[64];
    int n;
    uint64_t rev;
};

static void test_store_crash_keeps_every_acknowledged_write(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    size_t cap = 1 << 16;
    struct acked *acks = malloc(cap * sizeof(*acks));
    assert_non_null(acks);
    size_t total_acked = 0;
    for (int round = 0; round < 4; round++) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(f->sdir, round, p[1]);
        }
        close(p[1]);
        /* Read acknowledgements as they come (a full pipe would stall the child), and
         * kill at a random moment after the first one. */
        static char buf[1 << 22];
        size_t len = 0;
        double first = 0;
        double kill_after = (double)(50 + rand() % 400) / 1000.0;
        double t0 = now_s();
        for (;;) {
            double t = now_s();
            if ((first > 0 && t - first >= kill_after) || t - t0 > 10)
                break;
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            if (poll(&pfd, 1, 5) > 0) {
                ssize_t k = read(p[0], buf + len, sizeof(buf) - 1 - len);
                if (k <= 0)
                    break; /* the child died on its own: reported below */
                len += (size_t)k;
                if (first == 0)
                    first = now_s();
            }
        }
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            print_error("crash child exited with status %d\n", WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* everything the child reported before it died is still in the pipe */
        size_t n = 0;
        ssize_t k;
        while ((k = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)k;
        close(p[0]);
        buf[len] = '\0';
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            struct acked a;
            if (sscanf(line, "%63s %d %" SCNu64, a.key, &a.n, &a.rev) != 3)
                continue; /* a line torn by the kill was never fully reported */
            if (n == cap)
                break;
            acks[n++] = a;
        }
        assert_true(n > 0);
        total_acked += n;

        struct store_check_report rep = {0};
        assert_int_equal(store_check(f->sdir, &rep, &err), 0);
        f->st = open_store(f->sdir, 0);
        /* later acks for the same key supersede earlier ones, so check each ack against
         * the stored state: the object holds this write or a later one of the same key */
        uint64_t max_rev = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *got = NULL;
            uint64_t rev = 0;
            int r = store_get(f->st, acks[i].key, &got, &rev, &err);
            if (r)
                print_error("acknowledged %s (rev %" PRIu64 ") lost: %s\n", acks[i].key,
                            acks[i].rev, err.msg);
            assert_int_equal(r, 0);
            long long v = jsonx_get_int(got, "spec.v", -1);
            assert_true(rev >= acks[i].rev);
            assert_true(v >= acks[i].n);
            if (v == acks[i].n)
                assert_int_equal(rev, acks[i].rev);
            /* exact content: what the child wrote for that step, plus the revision */
            json_t *want = obj(acks[i].key, v);
            char rvs[24];
            snprintf(rvs, sizeof(rvs), "%" PRIu64, rev);
            jsonx_set_new(want, "metadata.resourceVersion", json_string(rvs));
            assert_true(json_equal(got, want));
            json_decref(want);
            json_decref(got);
            if (acks[i].rev > max_rev)
                max_rev = acks[i].rev;
        }
        assert_true(store_revision(f->st) >= max_rev);
        print_message("crash round %d: %zu acknowledged writes all present (store at %" PRIu64
                      ", %zu torn bytes cut)\n",
                      round, n, store_revision(f->st), rep.torn_bytes);
        store_close(f->st);
        f->st = NULL;
    }
    free(acks);
    assert_true(total_acked > 100);
}

/* One asynchronous write's outcome. */
struct async_one {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, had_json;
    int rc;
    char msg[ERR_MSG_MAX];
};

static void async_one_cb(int rc, const char *json, size_t len, const struct bosun_err *err,
                         void *ud)
{
    struct async_one *o = ud;
    (void)len;
    pthread_mutex_lock(&o->mu);
    o->rc = rc;
    o->had_json = json != NULL;
    snprintf(o->msg, sizeof(o->msg), "%s", err ? err->msg : "");
    o->done = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static void async_one_wait(struct async_one *o)
{
    pthread_mutex_lock(&o->mu);
    while (!o->done)
        pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
}

/* Mounts a 2 MiB tmpfs for a full-disk test (skips without root); sdir = a store
 * directory on it, filler = the file that fills it. */
static void small_disk(struct fx *f, char sdir[400], char filler[420])
{
    if (geteuid() != 0) {
        print_message("SKIPPED: the full-disk test mounts a tmpfs and needs root\n");
        skip();
    }
    snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
    assert_int_equal(mkdir(f->mnt, 0700), 0);
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=2m,mode=0700") < 0) {
        print_message("SKIPPED: cannot mount a tmpfs: %s\n", strerror(errno));
        skip();
    }
    f->mounted = 1;
    snprintf(sdir, 400, "%s/store", f->mnt);
    snprintf(filler, 420, "%s/filler", f->mnt);
}

/* Writes filler until the disk is full; returns its size. */
static off_t fill_disk(const char *filler)
{
    int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    static char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    off_t size = 0;
    ssize_t n;
    while ((n = write(fd, chunk, sizeof(chunk))) > 0)
        size += n;
    assert_int_equal(errno, ENOSPC);
    close(fd);
    return size;
}

static void test_store_full_disk_fails_writes_keeps_reads_and_recovers(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char sdir[400];
    char filler[420];
    small_disk(f, sdir, filler);
    f->st = open_store(sdir, 0);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%02d", i);
        put(f->st, key, i);
    }

    fill_disk(filler);

    /* a value large enough to need new pages in the log */
    json_t *big = obj("big", 1);
    char *pad = malloc(20000);
    memset(pad, 'p', 19999);
    pad[19999] = '\0';
    jsonx_set_new(big, "spec.pad", json_string(pad));
    free(pad);
    /* The log's zero-filled space ahead (PREALLOC_STEP) still takes writes; once it is used
     * up, writes fail. */
    int r = 0, nbig = 0;
    char bigkey[32];
    for (; nbig < 64; nbig++) {
        snprintf(bigkey, sizeof(bigkey), "/k/big-%02d", nbig);
        r = store_create(f->st, bigkey, big, NULL, &err);
        if (r)
            break;
    }
    assert_int_equal(r, -ENOSPC);
    assert_true(nbig < 64);
    print_message("%s (after %d more writes)\n", err.msg, nbig);
    assert_non_null(strstr(err.msg, "no space left on device"));
    assert_non_null(strstr(err.msg, bigkey));
    r = store_create(f->st, bigkey, big, NULL, &err);
    assert_int_equal(r, -ENOSPC);
    /* an asynchronous write is accepted, then told why it failed */
    struct async_one one = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    assert_int_equal(store_create_async(f->st, bigkey, big, async_one_cb, &one, &err), 0);
    async_one_wait(&one);
    assert_int_equal(one.rc, -ENOSPC);
    assert_false(one.had_json);
    assert_non_null(strstr(one.msg, "no space left on device"));

    /* reads keep working and the failed writes left nothing behind */
    assert_int_equal(store_get(f->st, bigkey, NULL, NULL, &err), -ENOENT);
    json_t *got = NULL;
    assert_int_equal(store_get(f->st, "/k/05", &got, NULL, &err), 0);
    json_decref(got);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "/k/", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 20 + (size_t)nbig);
    uint64_t acked = 20 + (uint64_t)nbig;
    assert_int_equal(store_revision(f->st), acked);

    /* space returns: writes work again, with the next revision */
    assert_int_equal(unlink(filler), 0);
    json_t *out = NULL;
    assert_int_equal(store_create(f->st, bigkey, big, &out, &err), 0);
    assert_rv(out, acked + 1);
    json_decref(out);
    assert_int_equal(put(f->st, "/k/after", 1), acked + 2);
    store_close(f->st);
    f->st = NULL;

    struct store_check_report rep = {0};
    assert_int_equal(store_check(sdir, &rep, &err), 0);
    assert_int_equal(rep.torn_bytes, 0);
    f->st = open_store(sdir, 0);
    assert_int_equal(store_revision(f->st), acked + 2);
    assert_int_equal(store_get(f->st, bigkey, &got, NULL, &err), 0);
    assert_int_equal(strlen(jsonx_get_str(got, "spec.pad")), 19999);
    json_decref(got);
    json_decref(big);
}

/* A snapshot on a full disk fails with the cause named, whether there is no room for the
 * next log segment or only for the snapshot itself; the store keeps serving, nothing
 * half-written stays behind, and once space returns a snapshot and writes work again. */
static void test_store_snapshot_on_full_disk_fails_then_recovers(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char sdir[400];
    char filler[420];
    small_disk(f, sdir, filler);
    f->st = open_store(sdir, 0);
    char key[32];
    for (int i = 0; i < 20; i++) { /* ~8 KiB each: the snapshot needs ~40 pages */
        snprintf(key, sizeof(key), "/k/%02d", i);
        put_8k(f->st, key);
    }
    off_t filled = fill_disk(filler);

    /* no room even for the next segment's header */
    assert_true(store_snapshot(f->st, &err) < 0);
    assert_non_null(strstr(err.msg, "no space left on device"));
    /* room for the segment, not for the snapshot */
    assert_int_equal(truncate(filler, filled - 8192), 0);
    err.msg[0] = '\0';
    assert_true(store_snapshot(f->st, &err) < 0);
    assert_non_null(strstr(err.msg, "no space left on device"));
    assert_non_null(strstr(err.msg, ".snap.tmp"));
    assert_int_equal(count_files(sdir, "snap-"), 0);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "/k/", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 20);

    assert_int_equal(unlink(filler), 0);
    assert_int_equal(store_snapshot(f->st, &err), 0);
    assert_int_equal(count_files(sdir, "snap-"), 1);
    assert_int_equal(put_8k(f->st, "/k/after"), 21);
    store_close(f->st);
    f->st = NULL;

    struct store_check_report rep = {0};
    assert_int_equal(store_check(sdir, &rep, &err), 0);
    assert_int_equal(rep.objects, 21);
    f->st = open_store(sdir, 0);
    assert_int_equal(store_revision(f->st), 21);
}

struct key_rev {
    char key[64];
    uint64_t rev;
};

struct key_revs {
    struct key_rev *v;
    size_t n, cap;
};

static int key_revs_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)value;
    struct key_revs *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    snprintf(l->v[l->n].key, sizeof(l->v[l->n].key), "%s", key);
    l->v[l->n++].rev = mod_rev;
    return 0;
}

/* A snapshot that fails on a full disk while writers update and delete (the commit thread
 * keeping what they replace for it) lets go of what it kept: the next snapshot, with room
 * again, holds exactly the store's state (ASan and LSan watch the kept items). */
static void test_store_snapshot_failing_under_writes_leaves_the_next_one_whole(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char sdir[400];
    char filler[420];
    small_disk(f, sdir, filler);
    f->st = open_store(sdir, 0);
    enum { T = 2, K = 200 };
    atomic_bool stop = false;
    pthread_t th[T];
    struct churn_arg args[T];
    for (int t = 0; t < T; t++) {
        args[t] = (struct churn_arg){.st = f->st, .t = t, .nkeys = K, .stop = &stop};
        assert_int_equal(pthread_create(&th[t], NULL, churn_main, &args[t]), 0);
    }
    while (store_revision(f->st) < T * K + 200)
        usleep(1000);
    off_t filled = fill_disk(filler);
    assert_int_equal(truncate(filler, filled - 8192), 0);
    assert_true(store_snapshot(f->st, &err) < 0);
    assert_non_null(strstr(err.msg, "no space left on device"));
    atomic_store(&stop, true);
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        free(args[t].ops); /* some writes failed for want of space: not checked here */
    }

    assert_int_equal(unlink(filler), 0);
    assert_int_equal(store_snapshot(f->st, &err), 0);
    uint64_t rev = store_revision(f->st);
    struct key_revs before = {0};
    assert_int_equal(store_list(f->st, "", key_revs_cb, &before, NULL, &err), 0);
    store_close(f->st);
    f->st = open_store(sdir, 0);
    assert_int_equal(store_revision(f->st), rev);
    struct key_revs after = {0};
    assert_int_equal(store_list(f->st, "", key_revs_cb, &after, NULL, &err), 0);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < before.n; i++) {
        assert_string_equal(after.v[i].key, before.v[i].key);
        assert_int_equal(after.v[i].rev, before.v[i].rev);
    }
    free(before.v);
    free(after.v);
}

/* ---- raw JSON bytes, lazy parsing, format versions -------------------------------------- */

struct raw_seen {
    char key[8][64];
    char json[8][512];
    char prev[8][512];
    uint64_t rev[8];
    int type[8];
    int parsed; /* events that came with a tree (must stay 0 for a raw watch) */
    int n;
    pthread_mutex_t mu;
};

static void raw_watch_cb(const struct store_event *ev, void *ud)
{
    struct raw_seen *s = ud;
    pthread_mutex_lock(&s->mu);
    if (s->n < 8) {
        snprintf(s->key[s->n], sizeof(s->key[0]), "%s", ev->key);
        snprintf(s->json[s->n], sizeof(s->json[0]), "%.*s", (int)ev->value_len, ev->value_json);
        if (ev->prev_json)
            snprintf(s->prev[s->n], sizeof(s->prev[0]), "%.*s", (int)ev->prev_len, ev->prev_json);
        s->rev[s->n] = ev->rev;
        s->type[s->n] = ev->type;
    }
    if (ev->value || ev->prev)
        s->parsed++;
    s->n++;
    pthread_mutex_unlock(&s->mu);
}

static int raw_seen_n(struct raw_seen *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

struct raw_item {
    char key[64];
    char json[512];
    uint64_t rev;
};

struct raw_list {
    struct raw_item v[16];
    int n;
};

static int raw_list_cb(const char *key, const char *json, size_t len, uint64_t mod_rev, void *ud)
{
    struct raw_list *l = ud;
    if (l->n < 16) {
        snprintf(l->v[l->n].key, sizeof(l->v[0].key), "%s", key);
        snprintf(l->v[l->n].json, sizeof(l->v[0].json), "%.*s", (int)len, json);
        l->v[l->n].rev = mod_rev;
    }
    l->n++;
    return 0;
}

/* Parses raw bytes and checks that they carry rev as their resourceVersion. */
static json_t *assert_raw_rv(const char *json, uint64_t rev)
{
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    assert_rv(v, rev);
    return v;
}

/* Backend-neutral: only relative revisions. prefix keeps runs apart on a shared etcd. */
static void check_raw_list_get_watch(struct store *st, const char *prefix)
{
    struct bosun_err err = {0};
    char ka[128], kb[128];
    snprintf(ka, sizeof(ka), "%sa", prefix);
    snprintf(kb, sizeof(kb), "%sb", prefix);
    struct raw_seen seen = {.n = 0};
    pthread_mutex_init(&seen.mu, NULL);
    uint64_t start = store_revision(st);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch_raw(st, prefix, start, raw_watch_cb, &seen, &w, &err), 0);

    uint64_t ra = put(st, ka, 1);
    uint64_t rb = put(st, kb, 2);
    /* an update whose input carries a stale resourceVersion: the store sets its own */
    json_t *o = obj("a", 3);
    jsonx_set_new(o, "metadata.resourceVersion", json_string("12345"));
    json_t *out = NULL;
    assert_int_equal(store_update(st, ka, o, ra, &out, &err), 0);
    uint64_t ra2 = strtoull(rv_of(out), NULL, 10);
    assert_true(ra2 > rb);
    json_decref(out);
    json_decref(o);

    /* list_raw: bytes with the right resourceVersion, equal to what the tree API gives */
    struct raw_list l = {.n = 0};
    uint64_t lrev = 0;
    assert_int_equal(store_list_raw(st, prefix, raw_list_cb, &l, &lrev, &err), 0);
    assert_int_equal(l.n, 2);
    assert_true(lrev >= ra2);
    assert_string_equal(l.v[0].key, ka);
    assert_int_equal(l.v[0].rev, ra2);
    assert_int_equal(l.v[1].rev, rb);
    json_t *va = assert_raw_rv(l.v[0].json, ra2);
    json_t *vb = assert_raw_rv(l.v[1].json, rb);
    assert_int_equal(jsonx_get_int(va, "spec.v", 0), 3);
    json_t *ga = NULL;
    assert_int_equal(store_get(st, ka, &ga, NULL, &err), 0);
    assert_true(json_equal(ga, va));
    json_decref(ga);

    /* a held view: the same keys and bytes as the list, unchanged by the delete below */
    struct store_view *view = NULL;
    uint64_t vrev = 0;
    assert_int_equal(store_view_take(st, prefix, NULL, 0, &view, &vrev, &err), 0);
    assert_int_equal(store_view_count(view), 2);
    assert_int_equal(store_view_bytes(view), strlen(l.v[0].json) + strlen(l.v[1].json));
    assert_true(vrev >= ra2);
    for (size_t i = 0; i < 2; i++) {
        const char *vk, *vj;
        size_t vl;
        store_view_get(view, i, &vk, &vj, &vl);
        assert_string_equal(vk, l.v[i].key);
        assert_int_equal(strlen(vj), vl);
        assert_string_equal(vj, l.v[i].json);
    }
    /* pages: keys after a continue key, at most max of them */
    struct {
        const char *after;
        size_t max, n;
        const char *first;
    } pages[] = {{prefix, 0, 2, ka}, {ka, 0, 1, kb}, {kb, 0, 0, NULL},  {NULL, 1, 1, ka},
                 {ka, 1, 1, kb},     {"", 5, 2, ka}, {"~", 0, 0, NULL}, {"/", 0, 2, ka}};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        struct store_view *pv = NULL;
        assert_int_equal(store_view_take(st, prefix, pages[i].after, pages[i].max, &pv, NULL, &err),
                         0);
        assert_int_equal(store_view_count(pv), pages[i].n);
        if (pages[i].first) {
            const char *vk, *vj;
            size_t vl;
            store_view_get(pv, 0, &vk, &vj, &vl);
            assert_string_equal(vk, pages[i].first);
        }
        store_view_free(pv);
    }

    /* get_raw */
    char *js = NULL;
    size_t jl = 0;
    uint64_t grev = 0;
    assert_int_equal(store_get_raw(st, kb, &js, &jl, &grev, &err), 0);
    assert_int_equal(grev, rb);
    assert_int_equal(strlen(js), jl);
    json_t *gb = assert_raw_rv(js, rb);
    assert_true(json_equal(gb, vb));
    free(js);
    json_decref(gb);
    assert_int_equal(store_get_raw(st, "/nope/x", &js, NULL, NULL, &err), -ENOENT);

    /* delete: the last state with the delete's revision */
    json_t *last = NULL;
    assert_int_equal(store_delete(st, kb, rb, &last, &err), 0);
    uint64_t rd = strtoull(rv_of(last), NULL, 10);
    assert_true(rd > ra2);
    assert_int_equal(jsonx_get_int(last, "spec.v", 0), 2);
    json_decref(last);
    {
        const char *vk, *vj;
        size_t vl;
        store_view_get(view, 1, &vk, &vj, &vl);
        assert_string_equal(vk, kb);
        assert_string_equal(vj, l.v[1].json);
    }
    store_view_free(view);
    store_view_free(NULL);
    /* an empty prefix range */
    char none[140];
    snprintf(none, sizeof(none), "%snothing/", prefix);
    assert_int_equal(store_view_take(st, none, NULL, 0, &view, NULL, &err), 0);
    assert_int_equal(store_view_count(view), 0);
    store_view_free(view);

    for (int i = 0; i < 400 && raw_seen_n(&seen) < 4; i++)
        usleep(10000);
    store_watch_cancel(w);
    assert_int_equal(seen.n, 4);
    assert_int_equal(seen.parsed, 0);
    int types[4] = {STORE_ADDED, STORE_ADDED, STORE_MODIFIED, STORE_DELETED};
    uint64_t revs[4] = {ra, rb, ra2, rd};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(seen.type[i], types[i]);
        assert_int_equal(seen.rev[i], revs[i]);
        json_decref(assert_raw_rv(seen.json[i], revs[i]));
    }
    assert_string_equal(seen.prev[0], "");
    json_decref(assert_raw_rv(seen.prev[2], ra));
    json_decref(assert_raw_rv(seen.prev[3], rb));
    json_t *d = assert_raw_rv(seen.json[3], rd);
    assert_int_equal(jsonx_get_int(d, "spec.v", 0), 2);
    json_decref(d);
    json_decref(va);
    json_decref(vb);
    pthread_mutex_destroy(&seen.mu);
}

static void test_store_raw_list_get_and_watch_carry_resource_version(void **state)
{
    struct fx *f = *state;
    f->st = open_store(f->sdir, 0);
    check_raw_list_get_watch(f->st, "/raw/");
}

/* Raw bytes (resourceVersion included) are the same after replaying the log and after
 * loading a snapshot; nothing needs a parse to get them back. */
static void test_store_raw_bytes_survive_replay_and_snapshot(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    f->st = open_store(f->sdir, 0);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/r/%02d", i);
        put(f->st, key, i);
    }
    json_t *o = json_pack("{s:s,s:{s:s,s:{s:{s:s}}},s:{s:s},s:{}}", "kind", "Deployment", "spec",
                          "template", "x", "metadata", "labels", "a", "b", "metadata", "name", "d",
                          "status");
    assert_int_equal(store_create(f->st, "/r/dep", o, NULL, &err), 0); /* 11 */
    json_decref(o);
    struct raw_list before = {.n = 0};
    assert_int_equal(store_list_raw(f->st, "/r/", raw_list_cb, &before, NULL, &err), 0);
    /* metadata after a nested metadata: the top-level one got the revision */
    json_t *dep = assert_raw_rv(before.v[10].json, 11);
    assert_null(jsonx_get(dep, "spec.template.metadata.resourceVersion"));
    json_decref(dep);
    for (int round = 0; round < 2; round++) {
        store_close(f->st);
        f->st = open_store(f->sdir, 0);
        struct raw_list after = {.n = 0};
        assert_int_equal(store_list_raw(f->st, "/r/", raw_list_cb, &after, NULL, &err), 0);
        assert_int_equal(after.n, before.n);
        for (int i = 0; i < before.n; i++) {
            assert_string_equal(after.v[i].key, before.v[i].key);
            assert_string_equal(after.v[i].json, before.v[i].json);
            assert_int_equal(after.v[i].rev, before.v[i].rev);
        }
        assert_int_equal(store_snapshot(f->st, &err), 0); /* round 1 loads it */
    }
}

static void test_store_json_meta_off_finds_top_level_metadata_only(void **state)
{
    (void)state;
    struct {
        const char *js;
        int ok;
        const char *after; /* what follows the offset */
    } cases[] = {
        {"{\"metadata\":{}}", 1, "}}"},
        {"{\"kind\":\"X\",\"metadata\":{\"name\":\"a\"}}", 1, "\"name\""},
        {"{\"spec\":{\"metadata\":{\"x\":1}},\"metadata\":{\"n\":1}}", 1, "\"n\""},
        {"{\"a\":\"\\\"metadata\\\":{\",\"metadata\":{\"n\":2}}", 1, "\"n\":2"},
        {"{\"a\":[1,{\"metadata\":{}},\"}\"],\"b\":-1.5e3,\"c\":true,\"metadata\":{\"n\":3}}", 1,
         "\"n\":3"},
        {" { \"metadata\" : { \"n\" : 4 } } ", 1, " \"n\""},
        {"{\"metadata\":\"str\"}", 0, NULL},
        {"{\"spec\":{\"metadata\":{}}}", 0, NULL},
        {"[1]", 0, NULL},
        {"{\"metadata\":", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t off = 0;
        int r = store_json_meta_off(cases[i].js, strlen(cases[i].js), &off);
        assert_int_equal(r, cases[i].ok ? 0 : -1);
        if (cases[i].ok)
            assert_memory_equal(cases[i].js + off, cases[i].after, strlen(cases[i].after));
    }
    /* splicing into an empty and a non-empty metadata */
    char out[128];
    uint32_t rv_off;
    uint8_t rv_len;
    const char *e = "{\"metadata\":{},\"x\":1}";
    size_t n = store_rv_splice(out, e, strlen(e), 13, 42, &rv_off, &rv_len);
    out[n] = '\0';
    assert_string_equal(out, "{\"metadata\":{\"resourceVersion\":\"42\"},\"x\":1}");
    assert_int_equal(rv_len, 2);
    assert_memory_equal(out + rv_off, "42", 2);
    const char *f1 = "{\"metadata\":{\"name\":\"a\"}}";
    n = store_rv_splice(out, f1, strlen(f1), 13, 7, &rv_off, &rv_len);
    out[n] = '\0';
    assert_string_equal(out, "{\"metadata\":{\"resourceVersion\":\"7\",\"name\":\"a\"}}");
    assert_int_equal(store_rv_locate(out, n, 7, &rv_off, &rv_len), 0);
    assert_int_equal(store_rv_locate(out, n, 8, &rv_off, &rv_len), -1);
}

/* Writes a format version 1 file (values without resourceVersion). */
static void write_v1_file(const char *path, const char *magic, uint64_t hdr_rev, const char *recs,
                          size_t len)
{
    char hdr[STORE_FILE_HDR_LEN];
    store_file_hdr_encode(hdr, magic, hdr_rev);
    hdr[16] = 1; /* version 1, little-endian */
    uint32_t crc = store_crc32c(0, hdr, 20);
    memcpy(hdr + 20, &crc, 4);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(hdr, 1, sizeof(hdr), fp), sizeof(hdr));
    if (len)
        assert_int_equal(fwrite(recs, 1, len, fp), len);
    fclose(fp);
}

static size_t v1_rec(char *buf, enum store_rec_op op, uint64_t rev, uint64_t crev, const char *key,
                     const char *val)
{
    store_rec_encode(buf, op, rev, crev, key, strlen(key), val, strlen(val));
    return store_rec_size(strlen(key), strlen(val));
}

static void test_store_reads_format_version_1_files(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    char path[512];
    char recs[4096];
    size_t n = 0;
    assert_int_equal(mkdir(f->sdir, 0700), 0);
    /* snapshot at 2 with two objects, then a v1 log: update, delete, create */
    n += v1_rec(recs + n, STORE_REC_SNAP_ITEM, 1, 1, "/v/a", "{\"metadata\":{\"name\":\"a\"}}");
    n += v1_rec(recs + n, STORE_REC_SNAP_ITEM, 2, 2, "/v/b", "{\"metadata\":{},\"v\":2}");
    n += v1_rec(recs + n, STORE_REC_SNAP_END, 2, 2, "", "");
    snprintf(path, sizeof(path), "%s/snap-%020d.snap", f->sdir, 2);
    write_v1_file(path, STORE_SNAP_MAGIC, 2, recs, n);
    n = 0;
    n +=
        v1_rec(recs + n, STORE_REC_UPDATE, 3, 1, "/v/a", "{\"metadata\":{\"name\":\"a\"},\"v\":3}");
    n += v1_rec(recs + n, STORE_REC_DELETE, 4, 2, "/v/b", "");
    n += v1_rec(recs + n, STORE_REC_CREATE, 5, 5, "/v/c", "{\"kind\":\"K\",\"metadata\":{}}");
    snprintf(path, sizeof(path), "%s/wal-%020d.log", f->sdir, 3);
    write_v1_file(path, STORE_WAL_MAGIC, 3, recs, n);

    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 5);
    struct raw_list l = {.n = 0};
    assert_int_equal(store_list_raw(f->st, "/v/", raw_list_cb, &l, NULL, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].json,
                        "{\"metadata\":{\"resourceVersion\":\"3\",\"name\":\"a\"},\"v\":3}");
    assert_string_equal(l.v[1].json, "{\"kind\":\"K\",\"metadata\":{\"resourceVersion\":\"5\"}}");
    /* new writes go to a fresh (version 2) segment; everything survives a reopen */
    put(f->st, "/v/d", 1); /* 6 */
    store_close(f->st);
    f->st = NULL;
    struct store_check_report rep = {0};
    assert_int_equal(store_check(f->sdir, &rep, &err), 0);
    assert_int_equal(rep.revision, 6);
    assert_int_equal(rep.objects, 3);
    f->st = open_store(f->sdir, 0);
    assert_int_equal(store_revision(f->st), 6);
    json_t *got = NULL;
    assert_int_equal(store_get(f->st, "/v/a", &got, NULL, &err), 0);
    assert_rv(got, 3);
    json_decref(got);
    assert_int_equal(put(f->st, "/v/e", 1), 7);
}

/* ---- backend-neutral behaviour (test_store_etcd.c runs these against etcd) ------------- */

static uint64_t rv_num(const json_t *o)
{
    return strtoull(rv_of(o), NULL, 10);
}

/* create/get/update/delete, conflicts, unconditional updates: revisions only compared. */
static void check_semantics(struct store *st, const char *prefix)
{
    struct bosun_err err = {0};
    char k[128], k2[128];
    snprintf(k, sizeof(k), "%sweb", prefix);
    snprintf(k2, sizeof(k2), "%sdb", prefix);
    uint64_t base = store_revision(st);
    json_t *in = obj("web", 1);
    json_t *out = NULL;
    assert_int_equal(store_create(st, k, in, &out, &err), 0);
    uint64_t r1 = rv_num(out);
    assert_true(r1 > base);
    assert_null(jsonx_get(in, "metadata.resourceVersion")); /* input borrowed, untouched */
    json_decref(out);
    assert_true(store_revision(st) >= r1);
    assert_int_equal(store_create(st, k, in, NULL, &err), -EEXIST);

    json_t *got = NULL;
    uint64_t rev = 0;
    assert_int_equal(store_get(st, k, &got, &rev, &err), 0);
    assert_int_equal(rev, r1);
    assert_rv(got, r1);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 1);

    /* stale update and delete: 409 material, nothing changes */
    jsonx_set_new(got, "spec.v", json_integer(2));
    assert_int_equal(store_update(st, k, got, r1 + 1000, NULL, &err), -ESTALE);
    assert_non_null(strstr(err.msg, "stale"));
    assert_int_equal(store_delete(st, k, r1 + 1000, NULL, &err), -ESTALE);
    assert_int_equal(store_update(st, k, got, r1, &out, &err), 0);
    uint64_t r2 = rv_num(out);
    assert_true(r2 > r1);
    assert_int_equal(jsonx_get_int(out, "spec.v", 0), 2);
    json_decref(out);
    assert_int_equal(store_update(st, k, got, r1, NULL, &err), -ESTALE);
    /* expected 0: unconditional */
    jsonx_set_new(got, "spec.v", json_integer(3));
    assert_int_equal(store_update(st, k, got, 0, &out, &err), 0);
    uint64_t r3 = rv_num(out);
    assert_true(r3 > r2);
    json_decref(out);
    json_decref(got);

    /* absent keys */
    assert_int_equal(store_get(st, k2, NULL, NULL, &err), -ENOENT);
    assert_int_equal(store_update(st, k2, in, 0, NULL, &err), -ENOENT);
    assert_int_equal(store_update(st, k2, in, 5, NULL, &err), -ENOENT);
    assert_int_equal(store_delete(st, k2, 0, NULL, &err), -ENOENT);

    json_t *last = NULL;
    assert_int_equal(store_delete(st, k, r3, &last, &err), 0);
    uint64_t r4 = rv_num(last);
    assert_true(r4 > r3);
    assert_int_equal(jsonx_get_int(last, "spec.v", 0), 3);
    json_decref(last);
    assert_int_equal(store_get(st, k, NULL, NULL, &err), -ENOENT);
    /* re-created after a delete: a new object */
    assert_int_equal(store_create(st, k, in, &out, &err), 0);
    assert_true(rv_num(out) > r4);
    json_decref(out);
    json_decref(in);
}

struct klist {
    char keys[32][128];
    uint64_t revs[32];
    int n;
};

static int klist_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    struct klist *l = ud;
    assert_rv(value, mod_rev);
    if (l->n < 32) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
        l->revs[l->n] = mod_rev;
    }
    l->n++;
    return 0;
}

static void check_list(struct store *st, const char *prefix)
{
    struct bosun_err err = {0};
    const char *names[] = {"b/2", "a/1", "c/3", "a/0", "b/1"};
    char k[128];
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "%s%s", prefix, names[i]);
        last = put(st, k, i);
    }
    snprintf(k, sizeof(k), "%.100s~", prefix); /* after the prefix's keys, not under it */
    put(st, k, 9);
    struct klist l = {.n = 0};
    uint64_t rev = 0;
    assert_int_equal(store_list(st, prefix, klist_cb, &l, &rev, &err), 0);
    assert_int_equal(l.n, 6); /* "~" sorts after the rest, but is under the prefix too */
    const char *want[] = {"a/0", "a/1", "b/1", "b/2", "c/3", "~"};
    for (int i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "%s%s", prefix, want[i]);
        assert_string_equal(l.keys[i], k);
    }
    assert_true(rev >= last);
    l.n = 0;
    snprintf(k, sizeof(k), "%sb/", prefix);
    assert_int_equal(store_list(st, k, klist_cb, &l, NULL, &err), 0);
    assert_int_equal(l.n, 2);
    snprintf(k, sizeof(k), "%snothing/", prefix);
    l.n = 0;
    assert_int_equal(store_list(st, k, klist_cb, &l, &rev, &err), 0);
    assert_int_equal(l.n, 0);
}

/* History then live, in order, exactly once; prefix filtering; cancel. */
static void check_watch(struct store *st, const char *prefix)
{
    struct bosun_err err = {0};
    char k[128], other[128];
    /* "/w/" → "/w-other/x": next to the prefix, not under it */
    snprintf(other, sizeof(other), "%.*s-other/x", (int)strlen(prefix) - 1, prefix);
    uint64_t revs[8];
    int n = 0;
    snprintf(k, sizeof(k), "%sa", prefix);
    uint64_t from = store_revision(st);
    revs[n++] = put(st, k, 1);
    put(st, other, 1); /* not under prefix: filtered */
    json_t *o = obj("a", 2);
    json_t *out = NULL;
    assert_int_equal(store_update(st, k, o, 0, &out, &err), 0);
    revs[n++] = rv_num(out);
    json_decref(out);

    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(st, prefix, from, watch_cb, &s, &w, &err), 0);
    s.w = w;
    assert_int_equal(wait_for(&s, 2, 5000), 2);
    /* live */
    snprintf(k, sizeof(k), "%sb", prefix);
    revs[n++] = put(st, k, 3);
    snprintf(k, sizeof(k), "%sa", prefix);
    json_t *last = NULL;
    assert_int_equal(store_delete(st, k, 0, &last, &err), 0);
    revs[n++] = rv_num(last);
    json_decref(last);
    assert_int_equal(wait_for(&s, 4, 5000), 4);
    usleep(100000);
    store_watch_cancel(w);
    int types[] = {STORE_ADDED, STORE_MODIFIED, STORE_ADDED, STORE_DELETED};
    assert_int_equal(s.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s.revs[i], revs[i]);
        assert_int_equal(s.types[i], types[i]);
        assert_int_equal(s.value_rv[i], revs[i]); /* DELETED: the delete's revision */
    }
    assert_int_equal(s.has_prev[0], 0);
    assert_int_equal(s.has_prev[1], 1);
    assert_int_equal(s.has_prev[3], 1);
    /* after cancel nothing more arrives */
    snprintf(k, sizeof(k), "%sc", prefix);
    put(st, k, 4);
    usleep(200000);
    assert_int_equal(s.n, 4);
    json_decref(o);
}

static void test_store_shared_semantics_list_watch_raw(void **state)
{
    struct fx *f = *state;
    f->st = open_store(f->sdir, 0);
    check_semantics(f->st, "/sem/");
    check_list(f->st, "/lst/");
    check_watch(f->st, "/w/");
    check_raw_list_get_watch(f->st, "/raw/");
}

/* The index's hash table (linear probing, backward-shift deletion) and skiplist against a
 * plain array, through many random puts, appends and deletes. */
struct idx_walk {
    char *last;
    size_t n;
};

static int idx_walk_cb(struct store_item *it, void *ud)
{
    struct idx_walk *w = ud;
    if (w->last)
        assert_true(strcmp(w->last, it->key) < 0);
    w->last = it->key;
    w->n++;
    return 0;
}

/* The index holds exactly the keys "/k/NNNNN" whose model[k] is nonzero, at that
 * mod_rev, and a scan walks them all in key order. */
static void assert_index_matches(const struct store_index *ix, const uint64_t *model, int nkeys)
{
    size_t live = 0;
    for (int k = 0; k < nkeys; k++) {
        char key[32];
        snprintf(key, sizeof(key), "/k/%05d", k);
        struct store_item *it = store_index_get(ix, key);
        if (model[k]) {
            live++;
            assert_non_null(it);
            assert_int_equal(it->mod_rev, model[k]);
        } else {
            assert_null(it);
        }
    }
    assert_int_equal(store_index_count(ix), live);
    struct idx_walk w = {0};
    store_index_scan(ix, "", idx_walk_cb, &w);
    assert_int_equal(w.n, live);
}

static void test_store_index_matches_a_model(void **state)
{
    (void)state;
    enum { K = 3000 };
    static uint64_t model[K]; /* mod_rev present, 0 = absent */
    memset(model, 0, sizeof(model));
    struct store_index *ix = store_index_new();
    assert_non_null(ix);
    uint64_t x = 88172645463325252ull;
    for (uint64_t step = 1; step <= 60000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % K);
        char key[32];
        snprintf(key, sizeof(key), "/k/%05d", k);
        if ((x >> 20) % 3 == 0) {
            store_index_del(ix, key);
            model[k] = 0;
        } else {
            const char *js = "{\"metadata\":{}}";
            struct store_item *it = store_item_new_splice(store_index_mem(ix), key, strlen(key), js,
                                                          strlen(js), 13, step, step);
            assert_non_null(it);
            int r = (x >> 30) % 2 ? store_index_append(ix, it) : store_index_put(ix, it);
            assert_int_equal(r, 0);
            model[k] = step;
        }
        if (step % 10000 == 0)
            assert_index_matches(ix, model, K);
    }
    store_index_free(ix);
}

/* Inserts prepared for a whole batch, then linked in order (as the commit thread applies
 * a batch): keys new and old, the same key twice in one batch, neighbours of each other;
 * deletes only between batches. The index must match a model after every batch. */
static void test_store_index_prepared_batches_match_a_model(void **state)
{
    (void)state;
    enum { K = 2000, BATCH = 64 };
    static uint64_t model[K];
    memset(model, 0, sizeof(model));
    struct store_index *ix = store_index_new();
    assert_non_null(ix);
    static struct store_index_prep prep[BATCH];
    uint64_t x = 0x2545F4914F6CDD1Dull, rev = 0;
    for (int round = 0; round < 1500; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int n = 1 + (int)(x % BATCH);
        int base = (int)((x >> 8) % K);
        for (int i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* half of them next to each other, the rest anywhere */
            int k = i % 2 ? (base + i / 2) % K : (int)(x % K);
            char key[32];
            snprintf(key, sizeof(key), "/k/%05d", k);
            const char *js = "{\"metadata\":{}}";
            rev++;
            struct store_item *it = store_item_new_splice(store_index_mem(ix), key, strlen(key), js,
                                                          strlen(js), 13, rev, rev);
            assert_non_null(it);
            prep[i].item = it;
            /* one at a time in odd rounds, the whole batch at once in even ones */
            if (round % 2)
                assert_int_equal(store_index_prepare(ix, &prep[i], 1), 0);
            model[k] = rev;
        }
        if (round % 2 == 0)
            assert_int_equal(store_index_prepare(ix, prep, (size_t)n), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(store_index_put_prepared(ix, &prep[i]), 0);
        for (int d = (int)((x >> 40) % 8); d > 0; d--) { /* a few deletes in between */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char key[32];
            snprintf(key, sizeof(key), "/k/%05d", (int)(x % K));
            store_index_del(ix, key);
            model[x % K] = 0;
        }
        assert_index_matches(ix, model, K);
    }
    store_index_free(ix);
}

/* The index stays whole while its hash table grows: entries move to the larger table a
 * few slots per insert, a lookup tries both, and a delete of an entry not moved yet leaves
 * a tombstone. Inserts (one at a time and in prepared batches), replacements and deletes
 * across three doublings, checked against a model every few steps. */
static void test_store_index_stays_whole_while_its_table_grows(void **state)
{
    (void)state;
    enum { K = 7000, BATCH = 8 };
    static uint64_t model[K];
    memset(model, 0, sizeof(model));
    struct store_index *ix = store_index_new();
    assert_non_null(ix);
    const char *js = "{\"metadata\":{}}";
    uint64_t rev = 0, x = 0x853C49E6748FEA9Bull;
    struct store_index_prep prep[BATCH];
    int next = 0;
    for (int step = 0; next < K; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int n = step % 2 ? 1 : BATCH; /* one at a time, or a prepared batch */
        if (next + n > K)
            n = K - next;
        for (int i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof(key), "/k/%05d", next + i);
            rev++;
            prep[i].item = store_item_new_splice(store_index_mem(ix), key, strlen(key), js,
                                                 strlen(js), 13, rev, rev);
            assert_non_null(prep[i].item);
            model[next + i] = rev;
        }
        if (n == 1) {
            assert_int_equal(store_index_put(ix, prep[0].item), 0);
        } else {
            assert_int_equal(store_index_prepare(ix, prep, (size_t)n), 0);
            for (int i = 0; i < n; i++)
                assert_int_equal(store_index_put_prepared(ix, &prep[i]), 0);
        }
        next += n;
        /* an earlier key deleted, another replaced */
        char key[32];
        int d = (int)(x % (uint64_t)next);
        snprintf(key, sizeof(key), "/k/%05d", d);
        store_index_del(ix, key);
        model[d] = 0;
        int u = (int)((x >> 20) % (uint64_t)next);
        snprintf(key, sizeof(key), "/k/%05d", u);
        rev++;
        struct store_item *it = store_item_new_splice(store_index_mem(ix), key, strlen(key), js,
                                                      strlen(js), 13, rev, rev);
        assert_non_null(it);
        assert_int_equal(store_index_put(ix, it), 0);
        model[u] = rev;
        if (step % 8 == 0)
            assert_index_matches(ix, model, K);
    }
    assert_index_matches(ix, model, K);
    store_index_free(ix);
}

/* ---- writes that answer later ------------------------------------------------------------ */

struct done_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int rc[64];
    json_t *obj[64];
    int order[64]; /* the tag of each completion, in completion order */
};

struct done_tag {
    struct done_log *log;
    int tag;
};

static void done_cb(int rc, const char *json, size_t len, const struct bosun_err *err, void *ud)
{
    struct done_tag *t = ud;
    struct done_log *l = t->log;
    (void)err;
    json_t *o = json ? jsonx_loadb(json, len, NULL) : NULL;
    pthread_mutex_lock(&l->mu);
    l->rc[t->tag] = rc;
    l->obj[t->tag] = o;
    l->order[l->n++] = t->tag;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void wait_done(struct done_log *l, int n)
{
    pthread_mutex_lock(&l->mu);
    while (l->n < n)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

/* Shared by both backends: accepted writes complete once each, in order, with the stored
 * object; refused ones return their code at once and never reach the callback. */
static void check_async(struct store *st, const char *prefix)
{
    struct done_log l = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    struct done_tag tags[64];
    struct bosun_err err = {0};
    char key[64];
    for (int i = 0; i < 64; i++)
        tags[i] = (struct done_tag){&l, i};
    for (int i = 0; i < 32; i++) {
        snprintf(key, sizeof(key), "%sa%02d", prefix, i);
        json_t *o = obj(key, i);
        assert_int_equal(store_create_async(st, key, o, done_cb, &tags[i], &err), 0);
        json_decref(o);
    }
    wait_done(&l, 32);
    uint64_t last = 0;
    for (int i = 0; i < 32; i++) {
        assert_int_equal(l.order[i], i); /* completions come in the order writes were made */
        assert_int_equal(l.rc[i], 0);
        assert_non_null(l.obj[i]);
        uint64_t rv = strtoull(rv_of(l.obj[i]), NULL, 10);
        assert_true(rv > last);
        last = rv;
        snprintf(key, sizeof(key), "%sa%02d", prefix, i);
        json_t *got = NULL;
        uint64_t rev = 0;
        assert_int_equal(store_get(st, key, &got, &rev, &err), 0);
        assert_int_equal(rev, rv);
        assert_true(json_equal(got, l.obj[i]));
        json_decref(got);
    }
    /* refused at once: an existing name, a stale or missing update */
    snprintf(key, sizeof(key), "%sa00", prefix);
    json_t *o = obj(key, 7);
    assert_int_equal(store_create_async(st, key, o, done_cb, &tags[40], &err), -EEXIST);
    uint64_t rv0 = strtoull(rv_of(l.obj[0]), NULL, 10);
    assert_int_equal(store_update_async(st, key, o, rv0 + 100000, done_cb, &tags[41], &err),
                     -ESTALE);
    snprintf(key, sizeof(key), "%smissing", prefix);
    assert_int_equal(store_update_async(st, key, o, 0, done_cb, &tags[42], &err), -ENOENT);
    /* an accepted conditional update */
    snprintf(key, sizeof(key), "%sa00", prefix);
    assert_int_equal(store_update_async(st, key, o, rv0, done_cb, &tags[43], &err), 0);
    wait_done(&l, 33);
    assert_int_equal(l.order[32], 43);
    assert_int_equal(l.rc[43], 0);
    assert_int_equal(jsonx_get_int(l.obj[43], "spec.v", -1), 7);
    assert_true(strtoull(rv_of(l.obj[43]), NULL, 10) > last);
    json_decref(o);
    assert_int_equal(l.n, 33); /* nothing refused was ever completed */
    for (int i = 0; i < 64; i++)
        json_decref(l.obj[i]);
}

static void test_store_async_writes_complete_in_order_once(void **state)
{
    struct fx *f = *state;
    f->st = open_store(f->sdir, 0);
    check_async(f->st, "/async/");
    /* durable like any write: they are there after a reopen */
    store_close(f->st);
    f->st = open_store(f->sdir, 0);
    size_t n = 0;
    struct bosun_err err = {0};
    assert_int_equal(store_list(f->st, "/async/", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 32);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#ifndef STORE_TEST_NO_MAIN /* test_store_etcd.c includes this file for the shared cases */
int main(void)
{
    /* STORE_TEST_FILTER='*crash*' runs a subset while working on one behaviour. */
    if (getenv("STORE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("STORE_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_crc32c_matches_known_vector),
        T(test_store_create_get_update_delete),
        T(test_store_create_existing_is_eexist_and_absent_is_enoent),
        T(test_store_update_conflicts_on_stale_version),
        T(test_store_update_with_zero_is_unconditional),
        T(test_store_revisions_increase_globally_as_resource_version),
        T(test_store_list_by_prefix_in_key_order_with_revision),
        T(test_store_list_of_10k_objects_is_fast),
        T(test_store_persists_across_close_and_reopen),
        T(test_store_reopens_after_snapshot_and_more_log),
        T(test_store_snapshot_is_its_revisions_state_while_writes_go_on),
        T(test_store_snapshots_after_half_the_last_snapshot_at_least_the_minimum),
        T(test_store_cuts_off_torn_tail),
        T(test_store_zero_filled_log_tail_is_a_clean_end),
        T(test_store_refuses_corruption_in_the_middle),
        T(test_store_lock_held_gives_ebusy),
        T(test_store_watch_replays_history_then_streams_live_in_order_once),
        T(test_store_watch_started_during_writes_has_no_gap_or_duplicate),
        T(test_store_watch_filters_by_prefix),
        T(test_store_watch_unwatched_writes_keep_order_and_window),
        T(test_store_watch_too_old_gives_erange),
        T(test_store_watch_cancel_from_inside_callback),
        T(test_store_watch_cancel_waits_for_running_callback),
        T(test_store_concurrent_writers_all_acknowledged_and_durable),
        T(test_store_crash_keeps_every_acknowledged_write),
        T(test_store_full_disk_fails_writes_keeps_reads_and_recovers),
        T(test_store_snapshot_on_full_disk_fails_then_recovers),
        T(test_store_snapshot_failing_under_writes_leaves_the_next_one_whole),
        T(test_store_raw_list_get_and_watch_carry_resource_version),
        T(test_store_raw_bytes_survive_replay_and_snapshot),
        cmocka_unit_test(test_store_json_meta_off_finds_top_level_metadata_only),
        T(test_store_reads_format_version_1_files),
        T(test_store_shared_semantics_list_watch_raw),
        T(test_store_async_writes_complete_in_order_once),
        cmocka_unit_test(test_store_index_matches_a_model),
        cmocka_unit_test(test_store_index_prepared_batches_match_a_model),
        cmocka_unit_test(test_store_index_stays_whole_while_its_table_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
