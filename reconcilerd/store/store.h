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
    const char *dir; /* created if missing */
    size_t history;  /* events kept for watch resumption [100000] */
    /* A snapshot is taken once the log since the last one holds this many bytes, or half
     * the last snapshot's size when that is more [64 MiB]. */
    size_t snapshot_bytes;
    /* Addition: when set, the store lives in etcd v3 instead of dir (which is then
     * ignored): comma-separated client URLs ("http://127.0.0.1:2379,http://10.0.0.2:2379"),
     * reached through etcd's JSON gateway. See "The etcd backend" below. */
    const char *etcd_endpoints;
    /* Addition: key prefix in etcd [/bosun/]; ignored by the file backend. */
    const char *etcd_prefix;
};

/* Opens (creating or recovering) the store in opts->dir. Fails with -EBUSY when another
 * process holds the directory's lock. With opts->etcd_endpoints, connects to etcd instead
 * (-ECONNREFUSED / -EIO with the endpoint named when none answers). */
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

/* ---- writes that answer later ----
 * The same writes, for a caller that should not block while the write is made durable
 * (an API server whose worker threads serve many connections). They check and order the
 * write at once: a refused write (-EEXIST, -ESTALE, -ENOENT, -EINVAL, -EFBIG, -ENOMEM,
 * -ESHUTDOWN) returns that code with err set, and fn is never called. 0 = accepted: fn
 * is called exactly once with the write's outcome — rc 0 and the stored object as JSON
 * bytes (json/len, resourceVersion included, borrowed for the call, not NUL-terminated:
 * what a reader of the object gets, so an API server can answer with them as they are),
 * or a negative rc (the sync failed: -ENOSPC, -EIO…), json NULL and err saying why.
 * No copy of value is made when its metadata has no resourceVersion (it is serialised
 * once, as it is). The file store calls fn on its commit
 * thread once the write is durable: fn must be quick and must not make a synchronous
 * write to this store (it would wait for its own thread). The etcd backend writes before
 * returning, so it calls fn on the caller's thread. Conflicts are decided when the write
 * is accepted, so -ESTALE and -EEXIST never reach fn. */
typedef void (*store_done_fn)(int rc, const char *json, size_t len, const struct bosun_err *err,
                              void *userdata);
int store_create_async(struct store *st, const char *key, const json_t *value, store_done_fn fn,
                       void *userdata, struct bosun_err *err);
int store_update_async(struct store *st, const char *key, const json_t *value,
                       uint64_t expected_rev, store_done_fn fn, void *userdata,
                       struct bosun_err *err);

/* STORE_EXPIRED ends a watch that cannot go on because the history it needs is gone: the
 * etcd backend's stream broke and etcd compacted past the next revision before it could
 * resume. rev is the compacted revision; key, values and bytes are NULL. Nothing follows
 * it; the watch still has to be cancelled by its owner. The file store never sends it (its
 * watches never fall behind its history: fan-out waits for the slowest). */
enum store_event_type { STORE_ADDED, STORE_MODIFIED, STORE_DELETED, STORE_EXPIRED };

struct store_event {
    enum store_event_type type;
    const char *key;
    const json_t *value; /* the new object; for DELETED the last state (new revision) */
    const json_t *prev;  /* the previous object, NULL for ADDED */
    uint64_t rev;
    /* Additions: the same two objects as serialized JSON (resourceVersion included, not
     * NUL-terminated), borrowed for the call only. Always set; value and prev above are
     * NULL for watches made with store_watch_raw. */
    const char *value_json;
    size_t value_len;
    const char *prev_json; /* NULL for ADDED */
    size_t prev_len;
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

/* ---- additions beyond the API server's first contract ---------------------------- */

/* Writes a snapshot of the current state now (normally taken automatically once the log
 * grows past 64 MiB or 500,000 records) and drops the log segments it covers. Returns
 * when the snapshot is durable. */
int store_snapshot(struct store *st, struct bosun_err *err);

struct store_check_report {
    uint64_t revision;     /* last revision found */
    uint64_t snapshot_rev; /* revision of the snapshot loaded, 0 if none */
    size_t objects;        /* live objects at `revision` */
    size_t segments;       /* log segments read */
    size_t records;        /* log records replayed after the snapshot */
    size_t torn_bytes;     /* bytes of a torn final record (open would cut them off) */
};

/* Verifies the store in dir offline (what `bosun store check DIR` runs): reads every
 * snapshot record and log record, checks checksums, revision continuity and JSON, and
 * changes nothing on disk. -EBUSY while another process (reconcilerd) holds the store;
 * corruption gives -EUCLEAN with a message naming the file and offset. out may be NULL. */
int store_check(const char *dir, struct store_check_report *out, struct bosun_err *err);

/* ---- raw JSON access (additions) ---------------------------------------------------
 *
 * The store keeps every object as the JSON bytes a reader gets, resourceVersion included
 * (objects are parsed only when a caller asks for a json_t). These calls hand those bytes
 * on, so an API server can write list and watch responses without parsing and
 * re-serialising each object. The bytes are compact JSON with metadata.resourceVersion as
 * the first member of metadata; callers must not assume any other key order. */

/* store_list with raw bytes: json/len are borrowed for the call only (not NUL-terminated).
 * Nothing is parsed. */
typedef int (*store_list_raw_fn)(const char *key, const char *json, size_t len, uint64_t mod_rev,
                                 void *userdata);
int store_list_raw(struct store *st, const char *prefix, store_list_raw_fn fn, void *userdata,
                   uint64_t *out_rev, struct bosun_err *err);

/* A list that outlives the call: the same consistent view as store_list_raw, held so that
 * a caller can hand a large list on bit by bit (an API server streaming 100k objects)
 * without keeping the store locked or copying it. The file store holds references to its
 * immutable objects (taking the view costs a reference per object under the index lock,
 * nothing is copied); the etcd backend holds copies. Objects written or deleted after the
 * view was taken do not change it. A view is owned by one thread at a time. */
struct store_view;

/* Takes the view of the objects under prefix whose keys sort after `after` (NULL = all),
 * at most max of them (0 = no limit): a page of a list holds only its page. *out (owned,
 * free with store_view_free) and *out_rev (may be NULL) = the revision of that view.
 * -ENOMEM, or the backend's errors. */
int store_view_take(struct store *st, const char *prefix, const char *after, size_t max,
                    struct store_view **out, uint64_t *out_rev, struct bosun_err *err);
/* The number of objects in the view, and the sum of their raw bytes' lengths (counted
 * while the view was taken, when each object was at hand anyway). */
size_t store_view_count(const struct store_view *v);
size_t store_view_bytes(const struct store_view *v);
/* The i-th object in key order (i < count): its key and raw bytes (*json, *len; NUL-
 * terminated), borrowed until store_view_free. */
void store_view_get(const struct store_view *v, size_t i, const char **key, const char **json,
                    size_t *len);
void store_view_free(struct store_view *v); /* NULL allowed */

/* store_get with raw bytes: *out_json = a NUL-terminated copy the caller frees, *out_len its
 * length (may be NULL), *out_rev (may be NULL) as in store_get. -ENOENT when absent. */
int store_get_raw(struct store *st, const char *key, char **out_json, size_t *out_len,
                  uint64_t *out_rev, struct bosun_err *err);

/* store_watch whose events carry only value_json/prev_json (value and prev are NULL):
 * nothing is parsed for this watch. Cancelled like any watch. */
int store_watch_raw(struct store *st, const char *prefix, uint64_t from_rev, store_watch_fn fn,
                    void *userdata, struct store_watch **out, struct bosun_err *err);

/* ---- the etcd backend ---------------------------------------------------------------
 *
 * With store_opts.etcd_endpoints the same calls work against etcd v3 (its JSON gateway,
 * POST /v3/kv/range|put|txn|deleterange and the /v3/watch stream):
 * - keys are etcd_prefix + key ("/bosun/" + "/pods/default/web");
 * - revisions are etcd's: resourceVersion = the key's mod_revision, store_revision and a
 *   list's revision = the cluster revision (header.revision). Unlike the file store,
 *   etcd's revisions are not consecutive for one prefix, and a revision can be shared by
 *   no write of ours (another client, or etcd's own compaction bookkeeping);
 * - create is a txn on create_revision == 0 (-EEXIST otherwise); update and delete with
 *   expected_rev are txns on mod_revision == expected_rev (-ESTALE), without it on
 *   create_revision > 0 (-ENOENT when absent);
 * - the values are the same JSON bytes as in the file store (resourceVersion is set to
 *   the mod_revision when read, since it is only known after the write);
 * - watch is one /v3/watch stream per store_watch (from from_rev + 1, prev_kv on); a
 *   revision etcd has compacted gives -ERANGE, "too old resource version: N (M)" with M
 *   the compact revision, as the file store does; a stream that breaks later is resumed
 *   from the next undelivered revision, and when etcd compacted past it meanwhile the
 *   watch gets one STORE_EXPIRED event and ends (an API watch answers 410 Expired).
 * - store_snapshot is a no-op (etcd compacts itself); store_check is file-store only.
 * Every call is a blocking HTTP request; a failing endpoint is skipped for the next one in
 * the list. */

#endif
