/* replicaset — the ReplicaSet controller: keeps as many active pods (owned through a
 * controller ownerReference, not being deleted, not Succeeded/Failed) as spec.replicas,
 * creating pods from the template (generateName "<rs>-") and deleting extras, the least
 * useful first (unscheduled, pending, not ready, newest); writes status replicas,
 * fullyLabeledReplicas, readyReplicas, availableReplicas and observedGeneration.
 *
 * Creations and deletions are remembered ("expectations", as client-go does) until the
 * pod informer shows them, so a sync that runs before the cache caught up does not
 * create or delete twice. The ctrl_replicaset_* pure functions are for tests. */
#ifndef BOSUN_CTRL_REPLICASET_H
#define BOSUN_CTRL_REPLICASET_H

#include <jansson.h>
#include <time.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_replicaset;

int ctrl_replicaset_new(struct ctrl_ctx *ctx, struct ctrl_replicaset **out,
                        struct bosun_err *err);
void ctrl_replicaset_free(struct ctrl_replicaset *rc);
struct ctrl_wq *ctrl_replicaset_queue(struct ctrl_replicaset *rc);
/* Informer handlers (userdata = the controller). */
void ctrl_replicaset_on_replicaset(const json_t *obj, void *userdata);
void ctrl_replicaset_on_pod_add(const json_t *obj, void *userdata);
void ctrl_replicaset_on_pod_update(const json_t *old_obj, const json_t *new_obj, void *userdata);
void ctrl_replicaset_on_pod_delete(const json_t *obj, void *userdata);

/* ---- pure logic ---- */

/* The pods (from all_pods, any namespace) that count for rs: same namespace, controlled
 * by rs's uid, no deletionTimestamp, not terminal. New array of borrowed-then-increfed
 * pods. */
json_t *ctrl_replicaset_active_pods(const json_t *rs, const json_t *all_pods);

/* The n pods of active to delete first, in order, as Kubernetes ranks them: unassigned
 * before assigned; Pending, Unknown, then Running; not ready before ready; more recently
 * ready first; more restarts first; newer first. New array. */
json_t *ctrl_replicaset_pick_deletions(const json_t *active, size_t n);

/* The status for rs with these active pods at now. New reference. */
json_t *ctrl_replicaset_status(const json_t *rs, const json_t *active, time_t now);

/* A pod to create for rs: template labels/annotations/spec, generateName "<rs>-", the
 * name "<rs>-<suffix>", controller ownerReference. New reference. */
json_t *ctrl_replicaset_pod(const json_t *rs, const char *suffix);

#endif
