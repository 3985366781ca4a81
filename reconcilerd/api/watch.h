/* watch — `?watch=true` streams (k8s-api-subset.md §6).
 *
 * A watch is a store watch on the collection's key prefix feeding an httpd stream: each
 * event is serialised once (JSON or a one-row Table), newline-terminated, and queued as
 * its own chunk. Nothing blocks the store's fan-out thread: httpd_stream_write only
 * queues; a client that cannot keep up (-ENOBUFS) or went away (-EPIPE) has its stream
 * closed, and the store watch is cancelled when the stream's on_closed runs.
 *
 * resourceVersion absent or "0": synthetic ADDED for every matching object, then live
 * events from that list's revision. "N": every event after N. A revision that has left
 * the store's history: 200, one ERROR event carrying a 410 Expired Status, end.
 * Selectors filter; an object that stops matching arrives as DELETED, one that starts
 * matching as ADDED. timeoutSeconds ends the stream cleanly (default: 30–60 min);
 * BOOKMARK events are sent (every --watch-bookmark-interval, a minute by default) only with
 * allowWatchBookmarks=true. sendInitialEvents=true: synthetic ADDED for the current
 * objects whatever resourceVersion says, then (with allowWatchBookmarks) a BOOKMARK
 * annotated `k8s.io/initial-events-end: "true"`, as kube-apiserver ends them. */
#ifndef BOSUN_API_WATCH_H
#define BOSUN_API_WATCH_H

#include <stdbool.h>

#include "lib/err.h"
#include "lib/selector.h"
#include "reconcilerd/api/context.h"
#include "reconcilerd/api/table.h"

/* The registry of open watches and its timer thread (timeouts, bookmarks). */
int api_watches_new(struct api_watches **out, struct bosun_err *err);
/* Stops the timer thread. Every stream must already be closed (httpd_stop first). */
void api_watches_free(struct api_watches *w);
/* How many watches are open. */
size_t api_watches_count(struct api_watches *w);

/* Serves a watch on r's collection and answers r->req. ls and fs (may be NULL) are
 * stolen. table: send Table objects; inc: what their rows carry. */
void api_watch_serve(struct api_req *r, struct label_selector *ls, struct field_selector *fs,
                     bool table, enum api_table_include inc);

#endif
