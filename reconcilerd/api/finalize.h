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
 * A pass runs when kicked and every 500 ms while anything is pending. */
#ifndef BOSUN_API_FINALIZE_H
#define BOSUN_API_FINALIZE_H

#include "lib/err.h"
#include "reconcilerd/api/context.h"

int api_finalizer_start(struct api *api, struct api_finalizer **out, struct bosun_err *err);
/* Stops and joins the thread; NULL allowed. */
void api_finalizer_stop(struct api_finalizer *f);
/* Wakes the thread (a namespace was marked Terminating). NULL allowed. */
void api_finalizer_kick(struct api_finalizer *f);
/* Adds the object at key to the foreground set and wakes the thread. NULL f allowed. */
void api_finalizer_add_owner(struct api_finalizer *f, const struct schema_kind *k,
                             const char *key);

#endif
