#include "reconcilerd/store/mem.h"

#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_SIZE ((size_t)2 << 20)
#define NCLASS 100

/* At the start of every chunk: how a block finds its allocator (blocks sit inside a
 * CHUNK_SIZE-aligned chunk and never at its start). */
struct chunk {
    struct store_mem *mem;
    struct chunk *next;
};

struct store_mem {
    pthread_mutex_t lock;
    void *free_list[NCLASS + 1]; /* by class; linked through each block's first 8 bytes */
    char *bump, *bump_end;       /* not yet carved in the newest chunk */
    struct chunk *chunks;
    size_t live, nfree, nchunks;
    bool released;
};

/* 1..NCLASS, or 0 when n is for malloc. */
static unsigned class_of(size_t n)
{
    if (n <= 256)
        return n ? (unsigned)((n + 15) / 16) : 1;
    if (n <= 4096)
        return 16 + (unsigned)((n - 256 + 63) / 64);
    if (n <= STORE_MEM_MAX)
        return 76 + (unsigned)((n - 4096 + 511) / 512);
    return 0;
}

static size_t class_size(unsigned c)
{
    if (c <= 16)
        return (size_t)c * 16;
    if (c <= 76)
        return 256 + (size_t)(c - 16) * 64;
    return 4096 + (size_t)(c - 76) * 512;
}

/* Free blocks are poisoned under ASan, so a use after free of an item is caught as with
 * malloc; the link is unpoisoned only while it is read or written. */
static void *link_get(void *p)
{
    ASAN_UNPOISON_MEMORY_REGION(p, sizeof(void *));
    void *next;
    memcpy(&next, p, sizeof(next));
    return next;
}

static void link_set(void *p, void *next, size_t size)
{
    ASAN_UNPOISON_MEMORY_REGION(p, sizeof(void *));
    memcpy(p, &next, sizeof(next));
    ASAN_POISON_MEMORY_REGION(p, size);
}

static struct chunk *chunk_of(const void *p)
{
    return (struct chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1));
}

/* A CHUNK_SIZE-aligned chunk: map twice the size and give back what lies outside. */
static struct chunk *chunk_map(struct store_mem *m)
{
    size_t span = 2 * CHUNK_SIZE;
    char *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    char *c = (char *)(((uintptr_t)base + CHUNK_SIZE - 1) & ~(uintptr_t)(CHUNK_SIZE - 1));
    if (c > base)
        munmap(base, (size_t)(c - base));
    if (c + CHUNK_SIZE < base + span)
        munmap(c + CHUNK_SIZE, (size_t)(base + span - (c + CHUNK_SIZE)));
    /* Best effort: where THP is off or unsupported, the chunk is plain pages. */
    madvise(c, CHUNK_SIZE, MADV_HUGEPAGE);
    struct chunk *ch = (struct chunk *)c;
    ch->mem = m;
    ch->next = m->chunks;
    m->chunks = ch;
    m->nchunks++;
    ASAN_POISON_MEMORY_REGION(c + sizeof(*ch), CHUNK_SIZE - sizeof(*ch));
    return ch;
}

/* A block of size bytes from the newest chunk, or from a new one (the old one's rest, less
 * than one block, is left unused). Called with the lock held. */
static void *carve(struct store_mem *m, size_t size)
{
    if (!m->bump || (size_t)(m->bump_end - m->bump) < size) {
        struct chunk *ch = chunk_map(m);
        if (!ch)
            return NULL;
        /* 16 bytes of header keep blocks 16-byte aligned */
        m->bump = (char *)ch + sizeof(*ch);
        m->bump_end = (char *)ch + CHUNK_SIZE;
    }
    void *p = m->bump;
    m->bump += size;
    return p;
}

struct store_mem *store_mem_new(void)
{
    struct store_mem *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void mem_destroy(struct store_mem *m)
{
    struct chunk *ch = m->chunks;
    while (ch) {
        struct chunk *next = ch->next;
        /* the range may be mapped again by anyone: leave no poison behind */
        ASAN_UNPOISON_MEMORY_REGION(ch, CHUNK_SIZE);
        munmap(ch, CHUNK_SIZE);
        ch = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void store_mem_release(struct store_mem *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->released = true;
    bool gone = m->live == 0;
    pthread_mutex_unlock(&m->lock);
    if (gone)
        mem_destroy(m);
}

void *store_mem_alloc(struct store_mem *m, size_t n, uint8_t *cls)
{
    unsigned c = m ? class_of(n) : 0;
    *cls = (uint8_t)c;
    if (!c)
        return malloc(n);
    pthread_mutex_lock(&m->lock);
    void *p = m->free_list[c];
    if (p) {
        m->free_list[c] = link_get(p);
        m->nfree--;
    } else {
        p = carve(m, class_size(c));
    }
    if (p)
        m->live++;
    pthread_mutex_unlock(&m->lock);
    /* only the n bytes asked for: ASan then also catches an overrun into the class's
     * rounding */
    if (p)
        ASAN_UNPOISON_MEMORY_REGION(p, n);
    return p;
}

void store_mem_free(void *p, uint8_t cls)
{
    if (!cls || !p) {
        free(p);
        return;
    }
    struct store_mem *m = chunk_of(p)->mem;
    pthread_mutex_lock(&m->lock);
    link_set(p, m->free_list[cls], class_size(cls));
    m->free_list[cls] = p;
    m->nfree++;
    bool gone = --m->live == 0 && m->released;
    pthread_mutex_unlock(&m->lock);
    if (gone)
        mem_destroy(m);
}

struct store_mem *store_mem_of(const void *p, uint8_t cls)
{
    return cls ? chunk_of(p)->mem : NULL;
}

void store_mem_stats(struct store_mem *m, struct store_mem_stats *out)
{
    pthread_mutex_lock(&m->lock);
    *out =
        (struct store_mem_stats){.blocks = m->live, .chunks = m->nchunks, .free_blocks = m->nfree};
    pthread_mutex_unlock(&m->lock);
}
