/* nodelifecycle — notices nodes that stopped heartbeating. A node is stale when neither
 * its Ready condition's lastHeartbeatTime nor its Lease's renewTime (kube-node-lease/<node>,
 * when there is one) changed for node_monitor_grace_ms, measured on this process's
 * monotonic clock from when the change was seen (as kube-controller-manager does, so
 * clock skew between hosts does not matter). A stale node gets every condition set to
 * Unknown (Ready: reason NodeStatusUnknown, "Kubelet stopped posting node status."; a node
 * that never posted a status gets NodeStatusNeverUpdated), a NodeNotReady event, and its
 * pods' Ready condition set to False. Eviction comes later. */
#ifndef BOSUN_CTRL_NODELIFECYCLE_H
#define BOSUN_CTRL_NODELIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_nodelc;

int ctrl_nodelc_new(struct ctrl_ctx *ctx, struct ctrl_nodelc **out, struct bosun_err *err);
void ctrl_nodelc_free(struct ctrl_nodelc *lc);
struct ctrl_wq *ctrl_nodelc_queue(struct ctrl_nodelc *lc);
void ctrl_nodelc_on_node(const json_t *obj, void *userdata);
/* A pod event queues its node when the pod claims to be Ready, so a pod that turns Ready
 * on a node already marked Unknown is corrected too. */
void ctrl_nodelc_on_pod(const json_t *obj, void *userdata);
/* Lease events queue the node of the same name. */
void ctrl_nodelc_on_lease(const json_t *obj, void *userdata);

/* ---- pure logic ---- */

/* The node's status with every condition turned Unknown (timestamps: lastTransitionTime
 * now, lastHeartbeatTime kept). New reference. */
json_t *ctrl_nodelc_unknown_status(const json_t *node, const char *now);

/* Whether a pod's status needs its Ready condition set False; if so *out gets the new
 * status (new reference). */
bool ctrl_nodelc_pod_not_ready(const json_t *pod, const char *now, json_t **out);

#endif
