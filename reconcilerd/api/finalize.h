/* finalize — the deletion work that outlives a DELETE request, done by one thread of the
 * API server (kube-apiserver leaves it to the namespace controller and the garbage
 * collector; here the API owns it so that it works with any set of controllers):
 *
 *  - Terminating namespaces: every pass deletes what is left inside (Background; pods
 *    bound to a node gracefully, so the node stops them and sends the final delete) and
 *    removes the namespace once it is empty.
 *  - Foreground deletion: an owner carrying the foregroundDeletion finalizer loses it
 *    (and is removed when it was the last finalizer) once no object names it as owner.
 *
 * The pending sets are rebuilt from the store at start, so a restart resumes the work.
 * A pass runs when kicked and every 500 ms while anything is pending.
 *
 * With several replicas on one store, each replica does the work of the requests it
 * served; with rescan_ms > 0 it also looks for work another replica left behind (a
 * replica that died mid-way) every rescan_ms: terminating namespaces and foreground
 * owners are picked up again, and Service allocation claims no Service uses are repaired
 * (api_resource_rebuild_allocations). Two replicas working on the same object is safe:
 * every write is conditional on the version read. */
#ifndef BOSUN_API_FINALIZE_H
#define BOSUN_API_FINALIZE_H

#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/api/context.h"

/* rescan_ms: 0 = never (one replica owns the store). */
int api_finalizer_start(struct api *api, int64_t rescan_ms, struct api_finalizer **out,
                        struct bosun_err *err);
/* Stops and joins the thread; NULL allowed. */
void api_finalizer_stop(struct api_finalizer *f);
/* Wakes the thread (a namespace was marked Terminating). NULL allowed. */
void api_finalizer_kick(struct api_finalizer *f);
/* Adds the object at key to the foreground set and wakes the thread. NULL f allowed. */
void api_finalizer_add_owner(struct api_finalizer *f, const struct schema_kind *k,
                             const char *key);

#endif
