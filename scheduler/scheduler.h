/* scheduler — the daemon's context: informers on nodes and pods feeding the cache and
 * the queue, one scheduling loop (pop a pending pod, filter, score, assume, bind through
 * POST .../pods/{name}/binding), and for a pod that fits nowhere the PodScheduled=False
 * condition (reason Unschedulable) and a FailedScheduling event with kube-scheduler's
 * message, then a retry with back-off or when the cluster changes.
 *
 * A pod is this scheduler's when spec.nodeName is empty, spec.schedulerName is
 * "default-scheduler" or unset, and it is not being deleted. */
#ifndef BOSUN_SCHEDULER_SCHEDULER_H
#define BOSUN_SCHEDULER_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/err.h"
#include "scheduler/nodeinfo.h"

#define SCHEDULER_NAME "default-scheduler"

struct scheduler;

struct scheduler_opts {
    const char *server;     /* "http://127.0.0.1:6443" */
    const char *token_file; /* or NULL */
    const char *ca_file;    /* PEM CA for an https server, or NULL (the system's CAs) */
};

int scheduler_start(const struct scheduler_opts *opts, struct scheduler **out,
                    struct bosun_err *err);
/* Stops the loop and the informers and frees. NULL allowed. */
void scheduler_stop(struct scheduler *s);
/* Both informers have loaded their first list. */
bool scheduler_synced(struct scheduler *s);
/* Prometheus text exposition of the scheduler's counters. */
void scheduler_write_metrics(struct scheduler *s, FILE *out);

/* ---- pure logic ---- */

/* Whether pod is waiting for this scheduler. */
bool scheduler_pod_is_pending(const json_t *pod);

/* One scheduling decision for pod over nodes[0..n): the index of the chosen node
 * (*chosen), or -1 with *message (caller frees) saying why none fits. *rr is the
 * round-robin counter for ties. Returns 0, or -EINVAL (bad quantity in the pod; err). */
int scheduler_decide(const struct scheduler_node *nodes, size_t n, const json_t *pod,
                     unsigned *rr, int *chosen, char **message, struct bosun_err *err);

#endif
