/* score — kube-scheduler's NodeResourcesFit scoring with the LeastAllocated strategy:
 * for cpu and memory, (allocatable - requested) * 100 / allocatable where requested
 * counts the node's pods and this one with the non-zero defaults (100m, 200Mi), then the
 * average of the two. The best node wins; nodes with equal scores take turns (round
 * robin over their names) so equal nodes fill evenly. Pure. */
#ifndef BOSUN_SCHEDULER_SCORE_H
#define BOSUN_SCHEDULER_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler/nodeinfo.h"
#include "scheduler/resources.h"

#define SCHEDULER_MAX_SCORE 100

/* 0..100 for pod_nonzero (the pod's requests with scoring defaults) on ni. */
int64_t scheduler_score_node(const struct scheduler_node *ni,
                             const struct scheduler_res *pod_nonzero);

/* The index into nodes[0..n) with the highest score; among equal ones the
 * (*rr % ties)-th by name, then *rr is advanced. -1 when n is 0. */
int scheduler_score_select(const struct scheduler_node *const *nodes, const int64_t *scores,
                           size_t n, unsigned *rr);

#endif
