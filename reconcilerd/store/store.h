/* store — reconcilerd's durable, watchable object store (the file backend).
 *
 * Objects are JSON values under opaque string keys; reconcilerd uses
 * "<group>/<resource>/<namespace>/<name>" ("/pods/default/web",
 * "apps/deployments/default/web", "/nodes//n1"), so a prefix lists a resource, or a
 * resource in one namespace. Every write gets the next global revision; the store writes
 * that revision as a decimal string into the stored object's metadata.resourceVersion.
 *
 * Durability: a write returns only after its log record is on disk (fdatasync), and
 * concurrent writers share one sync (group commit). On open, the latest snapshot is
 * loaded and the log replayed; a torn tail is cut off (logged), corruption elsewhere is
 * an error naming the file and offset.
 *
 * Watch: events (in revision order, exactly once) reach callbacks on the store's fan-out
 * thread, never on the writer's thread, so slow watchers do not slow writes. The store
 * keeps the last `history` events; a watch from an older revision gets -ERANGE (the API
 * turns it into 410 Expired).
 *
 * All functions are thread-safe. Values passed in are borrowed (the store keeps its own
 * copy); values returned through out-parameters are new references the caller owns. */
#ifndef BOSUN_STORE_H
#define BOSUN_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"

struct store;
struct store_watch;

struct store_opts {
    const char *dir;   /* created if missing */
    size_t history;    /* events kept for watch resumption [100000] */
};

/* Opens (creating or recovering) the store in opts->dir. Fails with -EBUSY when another
 * process holds the directory's lock. */
int store_open(const struct store_opts *opts, struct store **out, struct bosun_err *err);
/* Stops the fan-out thread (cancelling every watch) and closes files. NULL allowed. */
void store_close(struct store *st);

/* The revision of the last acknowledged write (0 for an empty store). */
uint64_t store_revision(struct store *st);

/* -ENOENT when absent. *out_rev (may be NULL) = the object's last-write revision. */
int store_get(struct store *st, const char *key, json_t **out, uint64_t *out_rev,
              struct bosun_err *err);

/* Calls fn for every object whose key begins with prefix, in key order, on a consistent
 * view; *out_rev (may be NULL) gets the revision of that view. fn returns nonzero to stop
 * early. value is borrowed for the call only. */
typedef int (*store_list_fn)(const char *key, const json_t *value, uint64_t mod_rev,
                             void *userdata);
int store_list(struct store *st, const char *prefix, store_list_fn fn, void *userdata,
               uint64_t *out_rev, struct bosun_err *err);

/* Creates key. -EEXIST when it exists. *out (may be NULL) = the stored object. */
int store_create(struct store *st, const char *key, const json_t *value, json_t **out,
                 struct bosun_err *err);

/* Replaces key's value. expected_rev 0 = unconditional; otherwise -ESTALE when the
 * object's revision differs (a 409 Conflict). -ENOENT when absent. */
int store_update(struct store *st, const char *key, const json_t *value, uint64_t expected_rev,
                 json_t **out, struct bosun_err *err);

/* Deletes key (expected_rev as in store_update). *out_last (may be NULL) = the object
 * as it was, with the delete's revision as its resourceVersion. */
int store_delete(struct store *st, const char *key, uint64_t expected_rev, json_t **out_last,
                 struct bosun_err *err);

enum store_event_type { STORE_ADDED, STORE_MODIFIED, STORE_DELETED };

struct store_event {
    enum store_event_type type;
    const char *key;
    const json_t *value; /* the new object; for DELETED the last state (new revision) */
    const json_t *prev;  /* the previous object, NULL for ADDED */
    uint64_t rev;
};

/* Called on the fan-out thread for each event; must not block for long. */
typedef void (*store_watch_fn)(const struct store_event *ev, void *userdata);

/* Delivers every event with revision > from_rev under prefix (history first, then live).
 * from_rev older than the history window → -ERANGE, err saying "too old resource
 * version: N (M)" where M is the oldest revision still watchable. */
int store_watch(struct store *st, const char *prefix, uint64_t from_rev, store_watch_fn fn,
                void *userdata, struct store_watch **out, struct bosun_err *err);

/* Stops a watch. When it returns, fn is not running and will not be called again.
 * Must not be called from inside fn (use store_watch_cancel_async there). */
void store_watch_cancel(struct store_watch *w);
/* Marks w cancelled from any thread, including inside fn; freed by the store later. */
void store_watch_cancel_async(struct store_watch *w);

#endif
