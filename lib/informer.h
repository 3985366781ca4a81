/* informer — list + watch + local cache of one resource, the loop every controller and
 * agent is built on (level-triggered: handlers see the cache's current state; nothing
 * depends on seeing every event).
 *
 * A background thread lists `path` (e.g. "/api/v1/pods" or
 * "/api/v1/namespaces/default/services"), fills the cache, then watches from the list's
 * resourceVersion. A 410 Expired, a dropped stream or a server restart leads to a relist
 * (with back-off), after which handlers receive the differences as add/update/delete.
 * Every resync_ms, on_update is called for every cached object (old == new) so that
 * controllers recheck their work.
 *
 * Handlers run on the informer's thread, one at a time, after the cache is updated. They
 * receive borrowed objects valid during the call. */
#ifndef BOSUN_INFORMER_H
#define BOSUN_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/httpc.h"

struct informer;

struct informer_handlers {
    void (*on_add)(const json_t *obj, void *userdata);
    void (*on_update)(const json_t *old_obj, const json_t *new_obj, void *userdata);
    void (*on_delete)(const json_t *obj, void *userdata);
    void *userdata;
};

struct informer_opts {
    struct httpc *client;        /* borrowed; must outlive the informer */
    const char *path;            /* list path without query */
    const char *label_selector;  /* NULL = everything */
    const char *field_selector;  /* NULL = everything */
    int64_t resync_ms;           /* 0 = never */
    struct informer_handlers handlers;
};

/* Starts the informer thread. */
int informer_start(const struct informer_opts *opts, struct informer **out,
                   struct bosun_err *err);
/* Stops the thread (handlers are not running when it returns) and frees. NULL allowed. */
void informer_stop(struct informer *inf);

/* True once the first list has been loaded into the cache. */
bool informer_synced(struct informer *inf);
/* Waits up to timeout_ms for informer_synced. Returns 0 or -ETIMEDOUT. */
int informer_wait_synced(struct informer *inf, int64_t timeout_ms);

/* The cached object (new reference) for namespace ("" for cluster-scoped) and name, or
 * NULL. It is a copy the caller may modify (e.g. to send an update). */
json_t *informer_get(struct informer *inf, const char *ns, const char *name);
/* A snapshot of every cached object as a new JSON array of copies (caller owns). */
json_t *informer_list(struct informer *inf);

#endif
