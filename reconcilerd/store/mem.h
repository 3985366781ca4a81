/* mem — where the file store keeps its long-lived objects: items and index nodes.
 *
 * Why not malloc alone: a store grows by about a kilobyte per object for as long as
 * objects are created, and glibc grows a thread's heap a page at a time, an mprotect and a
 * page fault per 4 KiB. On a VM with shadow paging a fault costs ~10 µs, which made a
 * fifth of a create's CPU. store_mem carves blocks out of 2 MiB-aligned chunks advised for
 * transparent huge pages (one fault per 2 MiB where THP is on, one mmap per chunk where it
 * is off), and keeps freed blocks on one free list per size class for reuse. Blocks over
 * STORE_MEM_MAX bytes, and every block of a NULL store_mem, come from malloc.
 *
 * Size classes step by 16 bytes up to 256, by 64 up to 4 KiB and by 512 up to 16 KiB, so a
 * block wastes at most 63 bytes below 4 KiB. Freed memory stays with its class and the
 * chunks stay mapped until the allocator goes away, as with malloc's arenas, which rarely
 * give memory back either.
 *
 * Thread-safe: any thread may allocate and free (one mutex, held for a list operation).
 * Lifetime: the owner's store_mem_release and the free of the last block both have to
 * happen before the chunks are unmapped, in either order, so an item that outlives its
 * index (held by a watch, say) stays valid. */
#ifndef BOSUN_STORE_MEM_H
#define BOSUN_STORE_MEM_H

#include <stddef.h>
#include <stdint.h>

#define STORE_MEM_MAX 16384

struct store_mem;

/* A new allocator, or NULL on ENOMEM. */
struct store_mem *store_mem_new(void);
/* The owner is done with m (NULL allowed): it goes once its last block is freed. */
void store_mem_release(struct store_mem *m);

/* A block of at least n bytes, 16-byte aligned, from m (or from malloc when m is NULL or
 * n > STORE_MEM_MAX); *cls is set to what store_mem_free needs (0: from malloc). NULL on
 * ENOMEM (*cls then undefined). */
void *store_mem_alloc(struct store_mem *m, size_t n, uint8_t *cls);
/* Frees p (NULL allowed), given the class its allocation returned. */
void store_mem_free(void *p, uint8_t cls);
/* The allocator p (of class cls) came from: NULL for a block from malloc. Borrowed, valid
 * while p is. */
struct store_mem *store_mem_of(const void *p, uint8_t cls);

struct store_mem_stats {
    size_t blocks;      /* handed out and not freed (malloc'd ones not counted) */
    size_t chunks;      /* 2 MiB chunks mapped */
    size_t free_blocks; /* on the free lists */
};
void store_mem_stats(struct store_mem *m, struct store_mem_stats *out);

#endif
