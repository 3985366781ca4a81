/* deployment — the Deployment controller: one ReplicaSet per pod template (named
 * <deployment>-<pod-template-hash>, owned by the Deployment), the current one scaled to
 * spec.replicas, older ones scaled down by the strategy (Recreate, or RollingUpdate
 * honouring maxSurge/maxUnavailable, 25% each by default), and the status kubectl
 * rollout status reads (observedGeneration, replicas, updatedReplicas, readyReplicas,
 * availableReplicas, unavailableReplicas, conditions Available and Progressing).
 *
 * The ctrl_deployment_* functions below the controller are pure, for tests. */
#ifndef BOSUN_CTRL_DEPLOYMENT_H
#define BOSUN_CTRL_DEPLOYMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_deployment;

int ctrl_deployment_new(struct ctrl_ctx *ctx, struct ctrl_deployment **out, struct bosun_err *err);
void ctrl_deployment_free(struct ctrl_deployment *dc);
struct ctrl_wq *ctrl_deployment_queue(struct ctrl_deployment *dc);
/* Informer handlers (userdata = the controller). */
void ctrl_deployment_on_deployment(const json_t *obj, void *userdata);
void ctrl_deployment_on_replicaset(const json_t *obj, void *userdata);

/* ---- pure logic ---- */

#define CTRL_HASH_LEN 16
/* The pod-template-hash of a pod template: FNV-32a over its JSON with sorted keys,
 * the decimal digits mapped to Kubernetes' safe alphabet (as rand.SafeEncodeString).
 * out gets at most 10 characters + NUL. */
void ctrl_deployment_template_hash(const json_t *tmpl, char out[CTRL_HASH_LEN]);

/* Resolves an IntOrString (NULL = def_percent%) against total: a percentage is rounded
 * up when round_up, down otherwise. Returns -1 for a malformed value. */
int ctrl_deployment_intstr(const json_t *v, int total, bool round_up, int def_percent);

/* One ReplicaSet as the planner sees it. */
struct ctrl_rs_view {
    const json_t *rs;   /* borrowed */
    bool is_new;        /* matches the current template */
    int spec_replicas;  /* spec.replicas now */
    int status_replicas;
    int available;
    time_t created;
    int target;         /* out: desired spec.replicas */
};

/* Fills view from an RS object (is_new false, target = spec_replicas). */
void ctrl_deployment_view(const json_t *rs, struct ctrl_rs_view *view);

/* Decides the replicas of every RS of deploy (the new one has is_new set; there may be
 * none yet, then the caller creates it with the target planned for a view with
 * spec_replicas 0 that it appends). Sets views[i].target. */
void ctrl_deployment_plan(const json_t *deploy, struct ctrl_rs_view *views, size_t n);

/* The Deployment status for the given ReplicaSets (their status as observed) and the new
 * one's name (NULL if none yet). Conditions keep the timestamps of deploy's current
 * status while unchanged, so recomputing an unchanged state gives an equal object (no
 * write). New reference. */
json_t *ctrl_deployment_status(const json_t *deploy, const json_t *const *rs, size_t n,
                               const char *new_rs_name, time_t now);

#endif
