#include "reconcilerd/store/hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* A watch gets at most this many events per turn so one busy watch cannot starve the
 * others, and at most this many ring slots are examined per turn for prefix filtering. */
#define FANOUT_BATCH 256
#define FANOUT_SCAN 4096
/* store_hub_append compares at most this many (watch, event) pairs to find a batch nobody
 * wants (see nobody_wants), so the commit thread's share stays small; past that it leaves
 * the filtering to the fan-out thread. */
#define QUIET_MAX_COMPARES 4096

struct hub_slot {
    enum store_event_type type;
    uint64_t rev;
    struct store_item *cur; /* never NULL; for DELETED the last state stamped with rev */
    struct store_item *prev;
};

struct store_hub_watch {
    struct store_hub *hub;
    char *prefix;
    size_t prefix_len;
    store_watch_fn fn;
    void *userdata;
    bool raw;             /* deliver JSON bytes only: never parse */
    uint64_t cursor;      /* last revision passed (delivered or filtered out) */
    atomic_int cancelled; /* set by either cancel; checked before every callback */
    bool async;           /* the fan-out thread frees it */
    struct store_hub_watch *prev, *next;
};

struct store_hub {
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* fan-out thread: new events, new watch, async cancel, stop */
    pthread_cond_t cb_done; /* sync cancellers: in_cb changed */
    pthread_t thread;
    bool started;
    bool stop;

    struct hub_slot *ring;
    size_t cap; /* power of two */
    size_t start;
    size_t count;
    uint64_t front_rev; /* rev of ring[start]; head_rev + 1 when empty */
    uint64_t head_rev;
    size_t history;
    uint64_t min_cursor; /* lower bound of every live watch's cursor */

    struct store_hub_watch *first, *last;
    struct store_hub_watch *in_cb; /* the watch whose callbacks are running now */
    uint64_t gen;                  /* bumped on every change the fan-out thread must see */
};

struct store_hub *store_hub_new(size_t history, uint64_t head_rev)
{
    struct store_hub *hub = calloc(1, sizeof(*hub));
    if (!hub)
        return NULL;
    hub->cap = 1024;
    hub->ring = calloc(hub->cap, sizeof(hub->ring[0]));
    if (!hub->ring) {
        free(hub);
        return NULL;
    }
    pthread_mutex_init(&hub->mu, NULL);
    pthread_cond_init(&hub->wake, NULL);
    pthread_cond_init(&hub->cb_done, NULL);
    hub->history = history;
    hub->head_rev = head_rev;
    hub->front_rev = head_rev + 1;
    hub->min_cursor = UINT64_MAX;
    return hub;
}

static void slot_clear(struct hub_slot *s)
{
    store_item_unref(s->cur);
    store_item_unref(s->prev);
    memset(s, 0, sizeof(*s));
}

static void watch_unlink(struct store_hub *hub, struct store_hub_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        hub->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        hub->last = w->prev;
    w->prev = w->next = NULL;
}

static void watch_free(struct store_hub_watch *w)
{
    if (!w)
        return;
    free(w->prefix);
    free(w);
}

static void ring_grow(struct store_hub *hub)
{
    size_t ncap = hub->cap * 2;
    struct hub_slot *n = calloc(ncap, sizeof(n[0]));
    if (!n) {
        /* Dropping an event a watcher has not seen would break exactly-once delivery
         * without telling anyone; a restart makes every informer relist, which is the
         * recovery Kubernetes clients already implement. */
        log_error("store: watch history: out of memory growing to %zu events", ncap);
        abort();
    }
    for (size_t i = 0; i < hub->count; i++)
        n[i] = hub->ring[(hub->start + i) & (hub->cap - 1)];
    free(hub->ring);
    hub->ring = n;
    hub->cap = ncap;
    hub->start = 0;
}

static void ring_trim(struct store_hub *hub)
{
    while (hub->count > hub->history && hub->front_rev <= hub->min_cursor) {
        slot_clear(&hub->ring[hub->start]);
        hub->start = (hub->start + 1) & (hub->cap - 1);
        hub->count--;
        hub->front_rev++;
    }
}

/* Called with hub->mu held, before evs are appended: true when no watch wants any of
 * them and every watch has passed every earlier event, so the fan-out thread would only
 * move cursors. With hub->mu held and no callback running, that thread is waiting. */
static bool nobody_wants(struct store_hub *hub, const struct store_hub_ev *evs, size_t n)
{
    if (hub->in_cb)
        return false;
    size_t k = 0;
    for (struct store_hub_watch *w = hub->first; w; w = w->next) {
        if (++k * n > QUIET_MAX_COMPARES || w->cursor != hub->head_rev || !w->prefix_len ||
            atomic_load(&w->cancelled))
            return false;
        for (size_t i = 0; i < n; i++)
            if (strncmp(evs[i].cur->key, w->prefix, w->prefix_len) == 0)
                return false;
    }
    return true;
}

void store_hub_append(struct store_hub *hub, struct store_hub_ev *evs, size_t n)
{
    pthread_mutex_lock(&hub->mu);
    bool quiet = nobody_wants(hub, evs, n);
    for (size_t i = 0; i < n; i++) {
        if (hub->count == hub->cap) {
            ring_trim(hub);
            if (hub->count == hub->cap)
                ring_grow(hub);
        }
        struct hub_slot *s = &hub->ring[(hub->start + hub->count) & (hub->cap - 1)];
        s->type = evs[i].type;
        s->rev = evs[i].rev;
        s->cur = evs[i].cur;
        s->prev = evs[i].prev;
        hub->count++;
        hub->head_rev = evs[i].rev;
    }
    if (quiet) {
        /* Writes to what nobody watches cost the fan-out thread no wake-up. */
        for (struct store_hub_watch *w = hub->first; w; w = w->next)
            w->cursor = hub->head_rev;
        hub->min_cursor = hub->first ? hub->head_rev : UINT64_MAX;
    }
    ring_trim(hub);
    if (!quiet) {
        hub->gen++;
        pthread_cond_signal(&hub->wake);
    }
    pthread_mutex_unlock(&hub->mu);
}

void store_hub_window(struct store_hub *hub, size_t *count, uint64_t *oldest_from)
{
    pthread_mutex_lock(&hub->mu);
    if (count)
        *count = hub->count;
    if (oldest_from)
        *oldest_from = hub->front_rev - 1;
    pthread_mutex_unlock(&hub->mu);
}

struct delivery {
    struct store_event ev;
    struct store_item *hold_cur;
    struct store_item *hold_prev;
};

/* Called with hub->mu held. Copies up to FANOUT_BATCH matching events after w->cursor
 * into out (with references), returns how many, and sets *new_cursor to the last
 * revision examined. */
static size_t gather(struct store_hub *hub, struct store_hub_watch *w, struct delivery *out,
                     uint64_t *new_cursor)
{
    size_t n = 0;
    uint64_t rev = w->cursor;
    size_t scanned = 0;
    while (rev < hub->head_rev && n < FANOUT_BATCH && scanned < FANOUT_SCAN) {
        rev++;
        scanned++;
        if (rev < hub->front_rev)
            continue; /* a watch starting at front_rev-1 has nothing older to see */
        struct hub_slot *s = &hub->ring[(hub->start + (rev - hub->front_rev)) & (hub->cap - 1)];
        if (w->prefix_len && strncmp(s->cur->key, w->prefix, w->prefix_len) != 0)
            continue;
        struct delivery *d = &out[n++];
        d->hold_cur = store_item_ref(s->cur);
        d->hold_prev = store_item_ref(s->prev);
        d->ev.type = s->type;
        d->ev.rev = s->rev;
    }
    *new_cursor = rev;
    return n;
}

/* Fills in what the callback sees; runs without the hub lock, because parsing (for
 * watches that want trees) must not hold up the commit thread's appends. The trees are
 * cached on the items, so every watch shares one parse per object version. */
static void materialize(struct delivery *d, bool raw)
{
    struct store_item *cur = d->hold_cur;
    struct store_item *prev = d->hold_prev;
    d->ev.key = cur->key;
    d->ev.value_json = store_item_raw(cur);
    d->ev.value_len = cur->raw_len;
    d->ev.prev_json = prev ? store_item_raw(prev) : NULL;
    d->ev.prev_len = prev ? prev->raw_len : 0;
    d->ev.value = NULL;
    d->ev.prev = NULL;
    if (raw)
        return;
    d->ev.value = store_item_value(cur);
    if (prev)
        d->ev.prev = store_item_value(prev);
    if (!d->ev.value || (prev && !d->ev.prev))
        log_error("store: watch: out of memory parsing %s at revision %llu", cur->key,
                  (unsigned long long)d->ev.rev);
}

static void release(struct delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_item_unref(d[i].hold_cur);
        store_item_unref(d[i].hold_prev);
    }
}

static void *fanout_main(void *arg)
{
    struct store_hub *hub = arg;
    struct delivery *batch = calloc(FANOUT_BATCH, sizeof(*batch));
    if (!batch) {
        log_error("store: watch fan-out: out of memory");
        abort();
    }
    pthread_mutex_lock(&hub->mu);
    while (!hub->stop) {
        uint64_t gen = hub->gen;
        bool progressed = false;
        uint64_t min_cur = UINT64_MAX;
        struct store_hub_watch *w = hub->first;
        while (w) {
            struct store_hub_watch *nx = w->next;
            if (atomic_load(&w->cancelled)) {
                if (w->async) {
                    watch_unlink(hub, w);
                    watch_free(w);
                }
                /* a sync canceller unlinks and frees its own watch */
                w = nx;
                continue;
            }
            if (w->cursor < hub->head_rev) {
                uint64_t new_cursor;
                size_t n = gather(hub, w, batch, &new_cursor);
                if (n) {
                    hub->in_cb = w;
                    pthread_mutex_unlock(&hub->mu);
                    for (size_t i = 0; i < n; i++) {
                        if (atomic_load(&w->cancelled))
                            break;
                        materialize(&batch[i], w->raw);
                        w->fn(&batch[i].ev, w->userdata);
                    }
                    release(batch, n);
                    pthread_mutex_lock(&hub->mu);
                    hub->in_cb = NULL;
                    pthread_cond_broadcast(&hub->cb_done);
                }
                w->cursor = new_cursor;
                progressed = true;
                /* w may have been cancelled meanwhile; it is still linked (sync cancellers
                 * wait for in_cb to clear, and only this thread frees async ones), so its
                 * successor is read now, under the lock. */
                nx = w->next;
                if (atomic_load(&w->cancelled)) {
                    if (w->async) {
                        watch_unlink(hub, w);
                        watch_free(w);
                    }
                    w = nx;
                    continue;
                }
            }
            if (w->cursor < min_cur)
                min_cur = w->cursor;
            w = nx;
        }
        hub->min_cursor = min_cur;
        ring_trim(hub);
        if (!progressed && gen == hub->gen && !hub->stop)
            pthread_cond_wait(&hub->wake, &hub->mu);
    }
    pthread_mutex_unlock(&hub->mu);
    free(batch);
    return NULL;
}

int store_hub_start(struct store_hub *hub, struct bosun_err *err)
{
    int r = pthread_create(&hub->thread, NULL, fanout_main, hub);
    if (r)
        return err_errno(err, -r, "store: start watch fan-out thread");
    hub->started = true;
    return 0;
}

void store_hub_free(struct store_hub *hub)
{
    if (!hub)
        return;
    if (hub->started) {
        pthread_mutex_lock(&hub->mu);
        hub->stop = true;
        pthread_cond_signal(&hub->wake);
        pthread_mutex_unlock(&hub->mu);
        pthread_join(hub->thread, NULL);
    }
    struct store_hub_watch *w = hub->first;
    while (w) {
        struct store_hub_watch *nx = w->next;
        watch_free(w);
        w = nx;
    }
    for (size_t i = 0; i < hub->count; i++)
        slot_clear(&hub->ring[(hub->start + i) & (hub->cap - 1)]);
    free(hub->ring);
    pthread_cond_destroy(&hub->wake);
    pthread_cond_destroy(&hub->cb_done);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

int store_hub_watch(struct store_hub *hub, const char *prefix, uint64_t from_rev, bool raw,
                    store_watch_fn fn, void *userdata, struct store_hub_watch **out,
                    struct bosun_err *err)
{
    struct store_hub_watch *w = calloc(1, sizeof(*w));
    if (!w || !(w->prefix = strdup(prefix ? prefix : ""))) {
        free(w);
        return err_errno(err, -ENOMEM, "store: watch %s", prefix ? prefix : "");
    }
    w->hub = hub;
    w->prefix_len = strlen(w->prefix);
    w->fn = fn;
    w->userdata = userdata;
    w->raw = raw;
    w->cursor = from_rev;
    atomic_init(&w->cancelled, 0);

    pthread_mutex_lock(&hub->mu);
    uint64_t oldest_from = hub->front_rev - 1;
    if (from_rev < oldest_from) {
        pthread_mutex_unlock(&hub->mu);
        watch_free(w);
        return err_set(err, -ERANGE, "too old resource version: %llu (%llu)",
                       (unsigned long long)from_rev, (unsigned long long)oldest_from);
    }
    /* Appended at the tail so a fan-out pass in progress still visits it and counts its
     * cursor before publishing min_cursor. */
    w->prev = hub->last;
    if (hub->last)
        hub->last->next = w;
    else
        hub->first = w;
    hub->last = w;
    if (from_rev < hub->min_cursor)
        hub->min_cursor = from_rev;
    hub->gen++;
    pthread_cond_signal(&hub->wake);
    pthread_mutex_unlock(&hub->mu);
    *out = w;
    return 0;
}

void store_hub_cancel_async(struct store_hub_watch *w)
{
    if (!w)
        return;
    struct store_hub *hub = w->hub;
    pthread_mutex_lock(&hub->mu);
    w->async = true;
    atomic_store(&w->cancelled, 1);
    hub->gen++;
    pthread_cond_signal(&hub->wake);
    pthread_mutex_unlock(&hub->mu);
}

void store_hub_cancel(struct store_hub_watch *w)
{
    if (!w)
        return;
    struct store_hub *hub = w->hub;
    if (hub->started && pthread_equal(pthread_self(), hub->thread)) {
        /* Called from inside a callback despite the contract: waiting for ourselves
         * would deadlock, and freeing now would pull w out from under the loop. */
        store_hub_cancel_async(w);
        return;
    }
    pthread_mutex_lock(&hub->mu);
    atomic_store(&w->cancelled, 1);
    while (hub->in_cb == w)
        pthread_cond_wait(&hub->cb_done, &hub->mu);
    watch_unlink(hub, w);
    hub->gen++;
    pthread_mutex_unlock(&hub->mu);
    watch_free(w);
}
