/* filter — which nodes can take a pod, and the message kube-scheduler gives when none can.
 *
 * Checks, in kube-scheduler's plugin order, stopping at the first that fails for a node:
 * Ready ("node(s) were not ready"), NodeUnschedulable ("node(s) were unschedulable"),
 * TaintToleration on NoSchedule/NoExecute taints ("node(s) had untolerated taint
 * {key: value}"), NodeAffinity for spec.nodeSelector ("node(s) didn't match Pod's node
 * affinity/selector"), NodeResourcesFit ("Too many pods", "Insufficient cpu",
 * "Insufficient memory" — every resource that does not fit is named). Pure. */
#ifndef BOSUN_SCHEDULER_FILTER_H
#define BOSUN_SCHEDULER_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scheduler/nodeinfo.h"
#include "scheduler/resources.h"

#define SCHEDULER_MAX_REASONS 4
#define SCHEDULER_REASON_LEN 192

struct scheduler_fit {
    int nreasons;
    char reasons[SCHEDULER_MAX_REASONS][SCHEDULER_REASON_LEN];
};

/* True when pod (requesting req) fits ni; otherwise fit gets the reasons why not. */
bool scheduler_filter_node(const struct scheduler_node *ni, const json_t *pod,
                           const struct scheduler_res *req, struct scheduler_fit *fit);

/* Whether the pod's spec.tolerations tolerate the taint (Kubernetes' ToleratesTaint). */
bool scheduler_filter_tolerates(const json_t *pod, const json_t *taint);

/* The FitError message for nnodes nodes that all failed with fits[0..nnodes):
 * "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready." — reasons
 * counted over nodes, "<count> <reason>" strings sorted as strings, as kube-scheduler
 * does. With no nodes: "no nodes available to schedule pods". Caller frees. */
char *scheduler_filter_message(const struct scheduler_fit *fits, size_t nnodes);

#endif
