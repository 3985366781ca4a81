/* gc — garbage collection of objects whose owners are gone (Background propagation):
 * a ReplicaSet owned by a deleted Deployment and a Pod owned by a deleted ReplicaSet are
 * deleted. An owner missing from the cache is looked up on the API before anything is
 * deleted (the cache may lag), and the delete carries the child's uid as a precondition.
 * Owners of kinds this collector does not know keep their children. */
#ifndef BOSUN_CTRL_GC_H
#define BOSUN_CTRL_GC_H

#include <jansson.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_gc;

int ctrl_gc_new(struct ctrl_ctx *ctx, struct ctrl_gc **out, struct bosun_err *err);
void ctrl_gc_free(struct ctrl_gc *gc);
struct ctrl_wq *ctrl_gc_queue(struct ctrl_gc *gc);
/* Queue the object itself when it has owners (userdata = the collector). */
void ctrl_gc_on_replicaset(const json_t *obj, void *userdata);
void ctrl_gc_on_pod(const json_t *obj, void *userdata);
/* An owner went away: queue its dependents from the cache. */
void ctrl_gc_on_deployment_delete(const json_t *obj, void *userdata);
void ctrl_gc_on_replicaset_delete(const json_t *obj, void *userdata);

#endif
