/* hub — the store's watch history and fan-out thread.
 *
 * The hub keeps events in a ring indexed by revision (revisions are consecutive: every
 * write is exactly one event). Each watch has a cursor (the last revision it was given);
 * one fan-out thread walks every watch forward in order, so delivery is in revision
 * order and exactly once, and a new watch's history replay and its live events are the
 * same loop (no boundary to get wrong).
 *
 * The ring keeps at least `history` events, and never drops an event some watch has not
 * seen yet: a slow watcher makes the ring grow instead of silently losing events. The
 * writers never wait for watchers. */
#ifndef BOSUN_STORE_HUB_H
#define BOSUN_STORE_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/store/index.h"
#include "reconcilerd/store/store.h"

struct store_hub;
struct store_hub_watch;

/* head_rev: the revision the store starts at (no events at or before it). */
struct store_hub *store_hub_new(size_t history, uint64_t head_rev);
/* Starts the fan-out thread. */
int store_hub_start(struct store_hub *hub, struct bosun_err *err);
/* Stops the fan-out thread, frees every watch and the history. NULL allowed. */
void store_hub_free(struct store_hub *hub);

struct store_hub_ev {
    enum store_event_type type;
    uint64_t rev;
    struct store_item *cur;  /* ADDED/MODIFIED: the new item; DELETED: the last state
                                stamped with rev (store_item_restamp) */
    struct store_item *prev; /* MODIFIED/DELETED: the item before; ADDED: NULL */
};

/* Appends events (consecutive revisions following the last one) and wakes the fan-out
 * thread. Takes over the references in evs. */
void store_hub_append(struct store_hub *hub, struct store_hub_ev *evs, size_t n);

/* Registers a watch delivering events with rev > from_rev under prefix. -ERANGE when
 * from_rev is older than the history window. raw: events carry only the JSON bytes
 * (value and prev NULL), so nothing is parsed for this watch. */
int store_hub_watch(struct store_hub *hub, const char *prefix, uint64_t from_rev, bool raw,
                    store_watch_fn fn, void *userdata, struct store_hub_watch **out,
                    struct bosun_err *err);
/* store_watch_cancel / store_watch_cancel_async for a hub watch. */
void store_hub_cancel(struct store_hub_watch *w);
void store_hub_cancel_async(struct store_hub_watch *w);

/* Number of events currently held, and the oldest revision a watch may start from. */
void store_hub_window(struct store_hub *hub, size_t *count, uint64_t *oldest_from);

#endif
