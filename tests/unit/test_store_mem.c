/* Unit tests for reconcilerd/store/mem: size classes, reuse of freed blocks, chunk
 * rollover, blocks from malloc, lifetime past the owner's release, and many threads. */
/* cmocka needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reconcilerd/store/mem.h"

static void test_store_mem_rounds_sizes_to_their_class(void **state)
{
    (void)state;
    /* Two blocks carved one after the other from a fresh allocator lie one class size
     * apart. */
    static const struct {
        size_t n, size;
    } cases[] = {
        {1, 16},      {16, 16},       {17, 32},       {255, 256},   {256, 256},
        {257, 320},   {320, 320},     {4095, 4096},   {4096, 4096}, {4097, 4608},
        {9000, 9216}, {16383, 16384}, {16384, 16384},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct store_mem *m = store_mem_new();
        assert_non_null(m);
        uint8_t c1, c2;
        char *a = store_mem_alloc(m, cases[i].n, &c1);
        char *b = store_mem_alloc(m, cases[i].n, &c2);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(c1, c2);
        assert_int_not_equal(c1, 0);
        assert_int_equal((size_t)(b - a), cases[i].size);
        assert_int_equal((uintptr_t)a % 16, 0);
        memset(a, 'a', cases[i].n);
        memset(b, 'b', cases[i].n);
        assert_ptr_equal(store_mem_of(a, c1), m);
        store_mem_free(a, c1);
        store_mem_free(b, c2);
        store_mem_release(m);
    }
}

static void test_store_mem_reuses_a_freed_block_of_its_class(void **state)
{
    (void)state;
    struct store_mem *m = store_mem_new();
    assert_non_null(m);
    uint8_t c1, c2, c3;
    char *a = store_mem_alloc(m, 700, &c1);
    assert_non_null(a);
    memset(a, 1, 700);
    store_mem_free(a, c1);
    struct store_mem_stats st;
    store_mem_stats(m, &st);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.free_blocks, 1);

    /* another size of the same class gets the freed block; another class does not */
    char *b = store_mem_alloc(m, 680, &c2);
    assert_ptr_equal(b, a);
    assert_int_equal(c2, c1);
    char *c = store_mem_alloc(m, 100, &c3);
    assert_ptr_not_equal(c, a);
    store_mem_stats(m, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.free_blocks, 0);
    store_mem_free(b, c2);
    store_mem_free(c, c3);
    store_mem_release(m);
}

static void test_store_mem_large_blocks_and_no_allocator_use_malloc(void **state)
{
    (void)state;
    struct store_mem *m = store_mem_new();
    assert_non_null(m);
    uint8_t cls = 99;
    char *big = store_mem_alloc(m, STORE_MEM_MAX + 1, &cls);
    assert_non_null(big);
    assert_int_equal(cls, 0);
    assert_null(store_mem_of(big, cls));
    memset(big, 'x', STORE_MEM_MAX + 1);
    char *plain = store_mem_alloc(NULL, 100, &cls);
    assert_non_null(plain);
    assert_int_equal(cls, 0);
    struct store_mem_stats st;
    store_mem_stats(m, &st);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.chunks, 0);
    store_mem_free(big, 0);
    store_mem_free(plain, 0);
    store_mem_free(NULL, 5);
    store_mem_release(m);
}

static void test_store_mem_moves_to_a_new_chunk_when_one_is_full(void **state)
{
    (void)state;
    struct store_mem *m = store_mem_new();
    assert_non_null(m);
    enum { N = 1200, SIZE = 4000 }; /* 4.8 MB of 4 KiB blocks: three 2 MiB chunks */
    char **v = calloc(N, sizeof(*v));
    uint8_t *cls = calloc(N, 1);
    assert_non_null(v);
    assert_non_null(cls);
    for (int i = 0; i < N; i++) {
        v[i] = store_mem_alloc(m, SIZE, &cls[i]);
        assert_non_null(v[i]);
        memset(v[i], i & 0xff, SIZE);
    }
    struct store_mem_stats st;
    store_mem_stats(m, &st);
    assert_int_equal(st.chunks, 3);
    assert_int_equal(st.blocks, N);
    /* no block overlaps another: each still holds its own pattern */
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(store_mem_of(v[i], cls[i]), m);
        for (int k = 0; k < SIZE; k += 499)
            assert_int_equal((unsigned char)v[i][k], i & 0xff);
        store_mem_free(v[i], cls[i]);
    }
    store_mem_release(m);
    free(v);
    free(cls);
}

static void test_store_mem_blocks_outlive_the_owners_release(void **state)
{
    (void)state;
    struct store_mem *m = store_mem_new();
    assert_non_null(m);
    uint8_t c1, c2;
    char *a = store_mem_alloc(m, 64, &c1);
    char *b = store_mem_alloc(m, 5000, &c2);
    assert_non_null(a);
    assert_non_null(b);
    store_mem_release(m);
    /* still mapped and still the allocator's: ASan would report a use after unmap */
    memset(a, 'a', 64);
    memset(b, 'b', 5000);
    struct store_mem_stats st;
    store_mem_stats(m, &st);
    assert_int_equal(st.blocks, 2);
    store_mem_free(a, c1);
    assert_int_equal(b[4999], 'b');
    store_mem_free(b, c2); /* the last block: the allocator goes (LSan checks it did) */
}

struct worker {
    struct store_mem *m;
    unsigned seed;
    int failures;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    enum { SLOTS = 64, ROUNDS = 20000 };
    char *slot[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    uint8_t cls[SLOTS] = {0};
    unsigned x = w->seed;
    for (int r = 0; r < ROUNDS; r++) {
        x = x * 1103515245u + 12345u;
        int s = (int)((x >> 8) % SLOTS);
        if (slot[s]) {
            for (size_t k = 0; k < len[s]; k += 37)
                if (slot[s][k] != (char)(w->seed + (unsigned)s))
                    w->failures++;
            store_mem_free(slot[s], cls[s]);
            slot[s] = NULL;
            continue;
        }
        len[s] = 1 + (x >> 12) % 6000;
        slot[s] = store_mem_alloc(w->m, len[s], &cls[s]);
        if (!slot[s]) {
            w->failures++;
            continue;
        }
        memset(slot[s], (char)(w->seed + (unsigned)s), len[s]);
    }
    for (int s = 0; s < SLOTS; s++)
        store_mem_free(slot[s], cls[s]);
    return NULL;
}

static void test_store_mem_threads_allocate_and_free_at_once(void **state)
{
    (void)state;
    struct store_mem *m = store_mem_new();
    assert_non_null(m);
    enum { T = 4 };
    pthread_t th[T];
    struct worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (struct worker){.m = m, .seed = 7u + (unsigned)i * 31u};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    struct store_mem_stats st;
    store_mem_stats(m, &st);
    assert_int_equal(st.blocks, 0);
    assert_true(st.free_blocks > 0);
    store_mem_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_mem_rounds_sizes_to_their_class),
        cmocka_unit_test(test_store_mem_reuses_a_freed_block_of_its_class),
        cmocka_unit_test(test_store_mem_large_blocks_and_no_allocator_use_malloc),
        cmocka_unit_test(test_store_mem_moves_to_a_new_chunk_when_one_is_full),
        cmocka_unit_test(test_store_mem_blocks_outlive_the_owners_release),
        cmocka_unit_test(test_store_mem_threads_allocate_and_free_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
