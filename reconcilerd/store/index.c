#include "reconcilerd/store/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "reconcilerd/store/mem.h"
#include "reconcilerd/store/record.h"

/* p = 1/4 and 20 levels keep lookups at ~log4(n) comparisons up to ~10^12 keys while
 * spending on average 1.33 forward pointers per node. */
#define SKIP_MAX_LEVEL STORE_INDEX_MAX_LEVEL
/* How many searches store_index_prepare interleaves. */
#define PREPARE_GROUP 16

/* A node keeps a copy of its item's key right after next[] (see node_key): a search reads
 * the node it is at anyway, and comparing there saves a cache miss per step (the item
 * lives elsewhere), which is most of an insert's cost in an index of many keys. */
struct skip_node {
    struct store_item *item;
    uint8_t level;
    uint8_t mem_cls; /* for store_mem_free */
    uint32_t hash;   /* of the key, for the hash table */
    struct skip_node *next[];
};

static inline const char *node_key(const struct skip_node *n)
{
    return (const char *)&n->next[n->level];
}

struct store_index {
    struct store_mem *mem; /* the nodes', and the items' the store makes for this index */
    struct skip_node *head;
    int level;
    size_t count;
    uint64_t rng;
    /* The last node at every level, valid while only store_index_append has changed the
     * list since it was computed. */
    struct skip_node *tail[SKIP_MAX_LEVEL];
    bool tail_valid;
    /* Point lookups (get, and every write's check of the current state) go through an
     * open-addressing table of nodes (linear probing, backward-shift deletion) instead of
     * a skiplist descent: O(1) and one or two cache misses instead of ~20. */
    struct skip_node **tab;
    size_t tab_cap; /* power of two; at most 3/4 full (entries of old included) */
    /* While the table grows: the one before, whose entries move to tab a few slots per
     * insert (those below mig_pos have moved), so that no insert pays for a whole rehash
     * (tens of milliseconds at a million keys, with the writer lock held). A lookup tries
     * tab, then old. A slot of old that was moved or deleted holds TOMB, which probes step
     * over: old's probe runs stay unbroken. NULL when not growing. */
    struct skip_node **old;
    size_t old_cap, mig_pos;
};

/* Marks a slot of the old table whose entry has gone; never dereferenced. */
static const char tomb_mark;
#define TOMB ((struct skip_node *)(uintptr_t)&tomb_mark)

/* Old slots moved per insert: the move ends after old_cap / 4 inserts, long before the
 * new table (twice the size) is 3/4 full. */
#define MIGRATE_PER_INSERT 4

static uint32_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, folded */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding key in table t (NULL: not there), stepping over tombstones. */
static struct skip_node **slot_find(struct skip_node **t, size_t cap, const char *key, uint32_t h)
{
    size_t mask = cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct skip_node *n = t[i];
        if (!n)
            return NULL;
        if (n != TOMB && n->hash == h && strcmp(node_key(n), key) == 0)
            return &t[i];
    }
}

static struct skip_node *tab_get(const struct store_index *ix, const char *key, uint32_t h)
{
    if (!ix->tab_cap)
        return NULL;
    struct skip_node **s = slot_find(ix->tab, ix->tab_cap, key, h);
    if (!s && ix->old)
        s = slot_find(ix->old, ix->old_cap, key, h);
    return s ? *s : NULL;
}

static void slot_place(struct skip_node **t, size_t cap, struct skip_node *n)
{
    size_t mask = cap - 1;
    size_t i = n->hash & mask;
    while (t[i])
        i = (i + 1) & mask;
    t[i] = n;
}

/* Moves up to nslots slots of the old table into the new one; frees it when done. */
static void tab_migrate(struct store_index *ix, size_t nslots)
{
    size_t end = ix->mig_pos + nslots < ix->old_cap ? ix->mig_pos + nslots : ix->old_cap;
    for (; ix->mig_pos < end; ix->mig_pos++) {
        struct skip_node *n = ix->old[ix->mig_pos];
        if (n && n != TOMB) {
            slot_place(ix->tab, ix->tab_cap, n);
            ix->old[ix->mig_pos] = TOMB;
        }
    }
    if (ix->mig_pos == ix->old_cap) {
        free(ix->old);
        ix->old = NULL;
        ix->old_cap = ix->mig_pos = 0;
    }
}

static bool tab_fits(size_t count, size_t cap)
{
    return count * 4 <= cap * 3;
}

/* Every change moves a few slots of a growing table, replacements and deletes too: a
 * store that stops creating still finishes the move. */
static void tab_step(struct store_index *ix)
{
    if (ix->old)
        tab_migrate(ix, MIGRATE_PER_INSERT);
}

/* Room for one more entry; call before tab_insert. Starts growing a full table (finishing
 * the previous move first, should it still run). */
static int tab_reserve(struct store_index *ix)
{
    if (tab_fits(ix->count + 1, ix->tab_cap))
        return 0;
    size_t cap = ix->tab_cap ? ix->tab_cap * 2 : 1024;
    struct skip_node **t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (ix->old)
        tab_migrate(ix, ix->old_cap);
    if (ix->tab_cap) { /* the first table has nothing to move */
        ix->old = ix->tab;
        ix->old_cap = ix->tab_cap;
        ix->mig_pos = 0;
    }
    ix->tab = t;
    ix->tab_cap = cap;
    return 0;
}

static void tab_insert(struct store_index *ix, struct skip_node *n)
{
    slot_place(ix->tab, ix->tab_cap, n);
}

static void tab_remove(struct store_index *ix, struct skip_node *n)
{
    size_t mask = ix->tab_cap - 1;
    size_t i = n->hash & mask;
    while (ix->tab[i] && ix->tab[i] != n)
        i = (i + 1) & mask;
    if (!ix->tab[i]) {
        /* not moved yet: a tombstone keeps the old table's probe runs whole */
        *slot_find(ix->old, ix->old_cap, node_key(n), n->hash) = TOMB;
        return;
    }
    /* Backward shift: move later entries of the probe run into the hole when their home
     * slot does not lie cyclically between the hole and them. */
    size_t j = i;
    for (;;) {
        ix->tab[i] = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!ix->tab[j])
                return;
            size_t home = ix->tab[j]->hash & mask;
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        ix->tab[i] = ix->tab[j];
        i = j;
    }
}

static struct store_item *item_alloc(struct store_mem *mem, const char *key, size_t key_len,
                                     size_t raw_cap, uint64_t mod_rev, uint64_t create_rev)
{
    uint8_t cls;
    struct store_item *it = store_mem_alloc(mem, sizeof(*it) + key_len + 1 + raw_cap + 1, &cls);
    if (!it)
        return NULL;
    it->mem_cls = cls;
    atomic_init(&it->refs, 1);
    it->mod_rev = mod_rev;
    it->create_rev = create_rev;
    atomic_init(&it->value, NULL);
    it->key_len = (uint16_t)key_len;
    it->raw_len = 0;
    it->rv_off = 0;
    it->rv_len = 0;
    memcpy(it->key, key, key_len);
    it->key[key_len] = '\0';
    return it;
}

struct store_item *store_item_alloc_splice(struct store_mem *mem, const char *key, size_t key_len,
                                           size_t js_len)
{
    return item_alloc(mem, key, key_len, js_len + STORE_RV_SPLICE_MAX, 0, 0);
}

void store_item_splice(struct store_item *it, const char *js, size_t js_len, size_t meta_off,
                       uint64_t mod_rev, uint64_t create_rev)
{
    char *raw = it->key + it->key_len + 1;
    size_t n = store_rv_splice(raw, js, js_len, meta_off, mod_rev, &it->rv_off, &it->rv_len);
    raw[n] = '\0';
    it->raw_len = (uint32_t)n;
    it->mod_rev = mod_rev;
    it->create_rev = create_rev;
}

struct store_item *store_item_new_splice(struct store_mem *mem, const char *key, size_t key_len,
                                         const char *js, size_t js_len, size_t meta_off,
                                         uint64_t mod_rev, uint64_t create_rev)
{
    struct store_item *it = store_item_alloc_splice(mem, key, key_len, js_len);
    if (it)
        store_item_splice(it, js, js_len, meta_off, mod_rev, create_rev);
    return it;
}

struct store_item *store_item_new_raw(struct store_mem *mem, const char *key, size_t key_len,
                                      const char *raw, size_t raw_len, uint64_t mod_rev,
                                      uint64_t create_rev, bool *bad)
{
    uint32_t rv_off;
    uint8_t rv_len;
    *bad = false;
    if (store_rv_locate(raw, raw_len, mod_rev, &rv_off, &rv_len) < 0) {
        *bad = true;
        return NULL;
    }
    struct store_item *it = item_alloc(mem, key, key_len, raw_len, mod_rev, create_rev);
    if (!it)
        return NULL;
    char *dst = it->key + key_len + 1;
    memcpy(dst, raw, raw_len);
    dst[raw_len] = '\0';
    it->raw_len = (uint32_t)raw_len;
    it->rv_off = rv_off;
    it->rv_len = rv_len;
    return it;
}

struct store_item *store_item_restamp(const struct store_item *it, uint64_t rev)
{
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)rev);
    size_t raw_len = it->raw_len - it->rv_len + (size_t)nd;
    struct store_item *n = item_alloc(store_mem_of(it, it->mem_cls), it->key, it->key_len, raw_len,
                                      rev, it->create_rev);
    if (!n)
        return NULL;
    const char *src = store_item_raw(it);
    char *dst = n->key + n->key_len + 1;
    memcpy(dst, src, it->rv_off);
    memcpy(dst + it->rv_off, digits, (size_t)nd);
    memcpy(dst + it->rv_off + nd, src + it->rv_off + it->rv_len,
           it->raw_len - it->rv_off - it->rv_len);
    dst[raw_len] = '\0';
    n->raw_len = (uint32_t)raw_len;
    n->rv_off = it->rv_off;
    n->rv_len = (uint8_t)nd;
    return n;
}

const json_t *store_item_value(struct store_item *it)
{
    json_t *v = atomic_load_explicit(&it->value, memory_order_acquire);
    if (v)
        return v;
    json_t *parsed = jsonx_loadb(store_item_raw(it), it->raw_len, NULL);
    if (!parsed)
        return NULL;
    json_t *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&it->value, &expected, parsed,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        json_decref(parsed);
        return expected;
    }
    return parsed;
}

json_t *store_item_parse(const struct store_item *it)
{
    json_t *v = atomic_load_explicit(&((struct store_item *)it)->value, memory_order_acquire);
    if (v)
        return json_deep_copy(v);
    return jsonx_loadb(store_item_raw(it), it->raw_len, NULL);
}

struct store_item *store_item_ref(struct store_item *it)
{
    if (it)
        atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
    return it;
}

void store_item_unref(struct store_item *it)
{
    if (!it)
        return;
    if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) != 1)
        return;
    json_decref(atomic_load_explicit(&it->value, memory_order_relaxed));
    store_mem_free(it, it->mem_cls);
}

/* it NULL: the head, which has no key. */
static struct skip_node *node_new(struct store_index *ix, int level, struct store_item *it)
{
    size_t key_len = it ? it->key_len : 0;
    uint8_t cls;
    struct skip_node *n = store_mem_alloc(
        ix->mem, sizeof(*n) + (size_t)level * sizeof(n->next[0]) + key_len + 1, &cls);
    if (!n)
        return NULL;
    n->mem_cls = cls;
    n->level = (uint8_t)level;
    n->item = it;
    n->hash = 0;
    memcpy((char *)node_key(n), it ? it->key : "", key_len + 1);
    for (int i = 0; i < level; i++)
        n->next[i] = NULL;
    return n;
}

static void node_free(struct skip_node *n)
{
    if (n)
        store_mem_free(n, n->mem_cls);
}

struct store_index *store_index_new(void)
{
    struct store_index *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->mem = store_mem_new();
    ix->head = ix->mem ? node_new(ix, SKIP_MAX_LEVEL, NULL) : NULL;
    if (!ix->head) {
        store_mem_release(ix->mem);
        free(ix);
        return NULL;
    }
    ix->level = 1;
    ix->rng = 0x9E3779B97F4A7C15ull;
    return ix;
}

void store_index_free(struct store_index *ix)
{
    if (!ix)
        return;
    struct skip_node *n = ix->head->next[0];
    while (n) {
        struct skip_node *nx = n->next[0];
        store_item_unref(n->item);
        node_free(n);
        n = nx;
    }
    node_free(ix->head);
    store_mem_release(ix->mem);
    free(ix->old);
    free(ix->tab);
    free(ix);
}

void store_index_settle(struct store_index *ix)
{
    if (ix->old)
        tab_migrate(ix, ix->old_cap);
}

struct store_mem *store_index_mem(const struct store_index *ix)
{
    return ix->mem;
}

size_t store_index_count(const struct store_index *ix)
{
    return ix->count;
}

static int random_level(struct store_index *ix)
{
    /* xorshift64: only the distribution matters, and the index is only mutated under the
     * writer lock, so a per-index state needs no synchronisation. */
    uint64_t x = ix->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ix->rng = x;
    int level = 1;
    while (level < SKIP_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    return level;
}

/* One skiplist search in flight: at node x on level i; ge sorts at or after
 * the key (the node the level above stopped at). */
struct search {
    struct skip_node *x;
    struct skip_node *ge;
    int i;
};

/* Both cache lines a step reads from a node: its pointers and the key copy after them. */
static inline void prefetch_node(const struct skip_node *n)
{
    if (n) {
        __builtin_prefetch(n);
        __builtin_prefetch((const char *)n + 64);
    }
}

/* Advances search s by one node; returns false once its level 0 is done. */
static bool search_step(struct search *s, const char *key, struct skip_node **update)
{
    struct skip_node *nx = s->x->next[s->i];
    if (nx && nx != s->ge && strcmp(node_key(nx), key) < 0) {
        s->x = nx;
        prefetch_node(nx->next[s->i]);
        return true;
    }
    update[s->i] = s->x;
    s->ge = nx;
    if (--s->i < 0)
        return false;
    prefetch_node(s->x->next[s->i]);
    return true;
}

/* Fills update[] with the last node before key at each level; returns the node at or
 * after key on level 0. */
static struct skip_node *find_ge(const struct store_index *ix, const char *key,
                                 struct skip_node **update)
{
    struct skip_node *scratch[SKIP_MAX_LEVEL];
    struct search s = {.x = ix->head, .ge = NULL, .i = ix->level - 1};
    while (search_step(&s, key, update ? update : scratch))
        ;
    return s.ge;
}

struct store_item *store_index_get(const struct store_index *ix, const char *key)
{
    struct skip_node *n = tab_get(ix, key, key_hash(key));
    return n ? n->item : NULL;
}

static int index_put(struct store_index *ix, struct store_item *it);

int store_index_put(struct store_index *ix, struct store_item *it)
{
    ix->tail_valid = false;
    tab_step(ix);
    return index_put(ix, it);
}

int store_index_append(struct store_index *ix, struct store_item *it)
{
    if (!ix->tail_valid) {
        struct skip_node *x = ix->head;
        for (int i = SKIP_MAX_LEVEL - 1; i >= 0; i--) {
            while (i < ix->level && x->next[i])
                x = x->next[i];
            ix->tail[i] = x;
        }
        ix->tail_valid = true;
    }
    struct skip_node *last = ix->tail[0];
    if (last != ix->head && strcmp(node_key(last), it->key) >= 0)
        return store_index_put(ix, it);
    tab_step(ix);
    if (tab_reserve(ix) < 0)
        return -ENOMEM;
    int level = random_level(ix);
    struct skip_node *n = node_new(ix, level, it);
    if (!n)
        return -ENOMEM;
    n->hash = key_hash(it->key);
    tab_insert(ix, n);
    if (level > ix->level)
        ix->level = level;
    for (int i = 0; i < level; i++) {
        ix->tail[i]->next[i] = n;
        ix->tail[i] = n;
    }
    ix->count++;
    return 0;
}

static int index_put(struct store_index *ix, struct store_item *it)
{
    uint32_t h = key_hash(it->key);
    struct skip_node *there = tab_get(ix, it->key, h);
    if (there) {
        store_item_unref(there->item);
        there->item = it;
        return 0;
    }
    if (tab_reserve(ix) < 0)
        return -ENOMEM;
    struct skip_node *update[SKIP_MAX_LEVEL];
    find_ge(ix, it->key, update);
    int level = random_level(ix);
    struct skip_node *n = node_new(ix, level, it);
    if (!n)
        return -ENOMEM;
    n->hash = h;
    tab_insert(ix, n);
    for (int i = ix->level; i < level; i++)
        update[i] = ix->head;
    if (level > ix->level)
        ix->level = level;
    for (int i = 0; i < level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    ix->count++;
    return 0;
}

int store_index_prepare(struct store_index *ix, struct store_index_prep *ps, size_t n)
{
    /* Only the thread that changes the index gets here, so reading it without the writer
     * lock sees a state nobody changes meanwhile; readers only read. */
    struct search ss[PREPARE_GROUP];
    for (size_t base = 0; base < n; base += PREPARE_GROUP) {
        size_t g = n - base < PREPARE_GROUP ? n - base : PREPARE_GROUP;
        struct store_index_prep *p = ps + base;
        for (size_t k = 0; k < g; k++) {
            p[k].hash = key_hash(p[k].item->key);
            if (ix->tab_cap)
                __builtin_prefetch(&ix->tab[p[k].hash & (ix->tab_cap - 1)]);
        }
        size_t active = 0;
        for (size_t k = 0; k < g; k++) {
            p[k].node = NULL;
            ss[k].i = -1;
            if (tab_get(ix, p[k].item->key, p[k].hash))
                continue; /* the key is there: the item replaces the node's */
            struct skip_node *nd = node_new(ix, random_level(ix), p[k].item);
            if (!nd) {
                for (size_t j = 0; j < base + k; j++) {
                    node_free(ps[j].node);
                    ps[j].node = NULL;
                }
                return -ENOMEM;
            }
            nd->hash = p[k].hash;
            p[k].node = nd;
            for (int i = ix->level; i < nd->level; i++)
                p[k].update[i] = ix->head;
            ss[k] = (struct search){.x = ix->head, .ge = NULL, .i = ix->level - 1};
            active++;
        }
        /* The searches take turns a node at a time, each prefetching the node its next
         * step reads: in an index larger than the cache, their misses overlap instead of
         * following one another. */
        while (active) {
            for (size_t k = 0; k < g; k++) {
                if (ss[k].i >= 0 && !search_step(&ss[k], p[k].item->key, p[k].update))
                    active--;
            }
        }
    }
    return 0;
}

int store_index_put_prepared(struct store_index *ix, struct store_index_prep *p)
{
    struct skip_node *n = p->node;
    ix->tail_valid = false;
    tab_step(ix);
    struct skip_node *there = tab_get(ix, p->item->key, p->hash);
    if (there) {
        /* there already, or put by an earlier prepared insert of the same batch */
        store_item_unref(there->item);
        there->item = p->item;
        node_free(n);
        return 0;
    }
    if (!n)
        return -EINVAL; /* prepared as a replacement, but the key went away meanwhile */
    if (tab_reserve(ix) < 0)
        return -ENOMEM;
    tab_insert(ix, n);
    if (n->level > ix->level)
        ix->level = n->level;
    for (int i = 0; i < n->level; i++) {
        /* Inserts linked since this one was prepared may now sit between the
         * predecessor found then and the key: step over them. */
        struct skip_node *u = p->update[i];
        while (u->next[i] && strcmp(node_key(u->next[i]), node_key(n)) < 0)
            u = u->next[i];
        n->next[i] = u->next[i];
        u->next[i] = n;
    }
    ix->count++;
    return 0;
}

void store_index_del(struct store_index *ix, const char *key)
{
    ix->tail_valid = false;
    tab_step(ix);
    if (!store_index_get(ix, key))
        return;
    struct skip_node *update[SKIP_MAX_LEVEL];
    struct skip_node *n = find_ge(ix, key, update);
    tab_remove(ix, n);
    for (int i = 0; i < n->level; i++)
        if (update[i]->next[i] == n)
            update[i]->next[i] = n->next[i];
    while (ix->level > 1 && !ix->head->next[ix->level - 1])
        ix->level--;
    store_item_unref(n->item);
    node_free(n);
    ix->count--;
}

int store_index_scan(const struct store_index *ix, const char *prefix,
                     int (*fn)(struct store_item *it, void *ud), void *ud)
{
    return store_index_scan_after(ix, prefix, NULL, fn, ud);
}

int store_index_scan_after(const struct store_index *ix, const char *prefix, const char *after,
                           int (*fn)(struct store_item *it, void *ud), void *ud)
{
    size_t plen = strlen(prefix);
    struct skip_node *n;
    if (after && strcmp(after, prefix) >= 0) {
        n = find_ge(ix, after, NULL);
        if (n && strcmp(node_key(n), after) == 0)
            n = n->next[0];
    } else {
        n = find_ge(ix, prefix, NULL);
    }
    for (; n; n = n->next[0]) {
        if (strncmp(node_key(n), prefix, plen) != 0)
            break;
        int r = fn(n->item, ud);
        if (r)
            return r;
    }
    return 0;
}
