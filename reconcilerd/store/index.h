/* index — the store's in-memory state: immutable, refcounted items in a skiplist ordered
 * by key.
 *
 * An item is never changed after it is published (its lazily parsed tree aside, which is
 * published once): an update makes a new item and swaps it in. Readers take a reference
 * (store_item_ref) under the index lock and use the item after dropping the lock, so
 * lists, gets and watch events never copy under a lock and never see a half-written
 * object. The refcount is atomic. An item keeps its value as the JSON bytes readers get
 * (resourceVersion included): loading a store is a copy per object, not a parse, and
 * list/get/watch can hand those bytes on without a parse-and-reserialise. The parsed tree
 * exists only for callers that ask for one; jansson's refcounts are atomic, so callers
 * that keep a reference to that shared (never modified) tree are safe.
 *
 * The skiplist itself is not synchronised; store.c guards it with a rwlock. */
#ifndef BOSUN_STORE_INDEX_H
#define BOSUN_STORE_INDEX_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_item {
    atomic_size_t refs;
    uint64_t mod_rev;
    uint64_t create_rev;
    /* The parsed value, made on first use (store_item_value) and owned by the item. Most
     * items are never parsed: reads that only pass bytes on use the raw bytes. */
    _Atomic(json_t *) value;
    uint32_t raw_len; /* bytes of JSON after the key (see store_item_raw) */
    uint32_t rv_off;  /* offset of metadata.resourceVersion's first digit in the raw bytes */
    uint16_t key_len;
    uint8_t rv_len;  /* its digits */
    uint8_t mem_cls; /* for store_mem_free */
    char key[];      /* NUL-terminated; the raw JSON follows, also NUL-terminated */
};

/* The serialized value, metadata.resourceVersion == mod_rev included; borrowed for the
 * item's lifetime. NUL-terminated. */
static inline const char *store_item_raw(const struct store_item *it)
{
    return it->key + it->key_len + 1;
}

struct store_mem;

/* Items are allocated from mem (store_index_mem, so that they share the index's chunks;
 * NULL: malloc) and go back to it when their last reference goes. */

/* New item (one reference) from value bytes without a resourceVersion (a value being
 * written, or a version 1 record): mod_rev is spliced into the metadata object opening at
 * meta_off (store_json_meta_off). NULL on ENOMEM. */
struct store_item *store_item_new_splice(struct store_mem *mem, const char *key, size_t key_len,
                                         const char *js, size_t js_len, size_t meta_off,
                                         uint64_t mod_rev, uint64_t create_rev);
/* The same in two steps, so that the allocation (which may fault in fresh pages) happens
 * before the writer takes the store's ordering lock, and only the splice under it: an
 * item with room for js_len bytes and a resourceVersion (NULL on ENOMEM), then its bytes
 * and revisions. */
struct store_item *store_item_alloc_splice(struct store_mem *mem, const char *key, size_t key_len,
                                           size_t js_len);
void store_item_splice(struct store_item *it, const char *js, size_t js_len, size_t meta_off,
                       uint64_t mod_rev, uint64_t create_rev);
/* New item from version 2 bytes, which already carry mod_rev as their resourceVersion.
 * NULL with *bad = true when they do not; NULL with *bad = false on ENOMEM. */
struct store_item *store_item_new_raw(struct store_mem *mem, const char *key, size_t key_len,
                                      const char *raw, size_t raw_len, uint64_t mod_rev,
                                      uint64_t create_rev, bool *bad);
/* A copy of it stamped with rev as its resourceVersion (mod_rev = rev), from its
 * allocator: the last state of a deleted object as a delete reports it. NULL on ENOMEM. */
struct store_item *store_item_restamp(const struct store_item *it, uint64_t rev);

/* The parsed value, borrowed for the item's lifetime. Parsed on first call and cached;
 * safe from any thread (racing first calls may both parse, one result is kept, the other
 * freed: every caller sees the same tree). The tree is shared: never modify it. NULL on
 * ENOMEM. */
const json_t *store_item_value(struct store_item *it);
/* A new tree the caller owns and may modify (a deep copy of the cached tree, or a fresh
 * parse that is not cached). NULL on ENOMEM. */
json_t *store_item_parse(const struct store_item *it);

struct store_item *store_item_ref(struct store_item *it);
void store_item_unref(struct store_item *it); /* NULL allowed */

struct store_index;

/* An index with its own store_mem for its nodes. NULL on ENOMEM. */
struct store_index *store_index_new(void);
void store_index_free(struct store_index *ix); /* drops every item */
/* The allocator for items of this index, borrowed; it outlives the index as long as any
 * item allocated from it lives. */
struct store_mem *store_index_mem(const struct store_index *ix);
size_t store_index_count(const struct store_index *ix);
/* The hash table grows a few slots per change (see index.c); this finishes a growth under
 * way, for a loaded index that may not change for a while. */
void store_index_settle(struct store_index *ix);

/* Borrowed item for key, or NULL. */
struct store_item *store_index_get(const struct store_index *ix, const char *key);
/* Inserts or replaces; takes over the caller's reference to it. -ENOMEM on failure (the
 * reference is then still the caller's). */
int store_index_put(struct store_index *ix, struct store_item *it);
/* Like store_index_put, but O(1) when it sorts after every key already present (loading a
 * snapshot, which is in key order); falls back to store_index_put otherwise. */
int store_index_append(struct store_index *ix, struct store_item *it);
/* An insert in two steps, so that readers are shut out only while pointers change: for the
 * one thread that changes the index, store_index_prepare searches and allocates without
 * the writer lock (readers never change the index, so what it reads holds still), and
 * store_index_put_prepared links under it. Between the two, the index may only change by
 * other prepared inserts (a delete could free a node a prepared insert points to).
 * store_index_prepare prepares ps[0..n-1], whose item the caller sets (borrowed until
 * put); their searches interleave. 0, or -ENOMEM with nothing to undo.
 * store_index_put_prepared: as store_index_put (takes over the caller's reference to the
 * item; -ENOMEM leaves it the caller's). Every prepared insert must be put. */
#define STORE_INDEX_MAX_LEVEL 20
struct skip_node;
struct store_index_prep {
    struct store_item *item;
    struct skip_node *node; /* NULL: the key was there, the item replaces the node's */
    uint32_t hash;
    struct skip_node *update[STORE_INDEX_MAX_LEVEL];
};
int store_index_prepare(struct store_index *ix, struct store_index_prep *ps, size_t n);
int store_index_put_prepared(struct store_index *ix, struct store_index_prep *p);
/* Removes key if present (dropping the index's reference). */
void store_index_del(struct store_index *ix, const char *key);

/* Iterates items whose key starts with prefix in key order; fn returns nonzero to stop.
 * Items are borrowed. Returns fn's nonzero value or 0. */
int store_index_scan(const struct store_index *ix, const char *prefix,
                     int (*fn)(struct store_item *it, void *ud), void *ud);
/* store_index_scan of the keys that sort after `after` only (NULL = all): a page that
 * resumes there starts there, without walking the keys before it. */
int store_index_scan_after(const struct store_index *ix, const char *prefix, const char *after,
                           int (*fn)(struct store_item *it, void *ud), void *ud);

#endif
