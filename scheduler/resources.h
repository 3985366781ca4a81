/* resources — what a pod asks for and what a node offers, as kube-scheduler counts them.
 *
 * A pod's request is the larger of the sum of its containers' resources.requests and the
 * largest init container's request, plus spec.overhead (Kubernetes'
 * computePodResourceRequest). Quantities are parsed with schema/quantity ("100m", "64Mi",
 * "1.5"). A node offers status.allocatable (status.capacity where allocatable is
 * missing). Pure functions over borrowed JSON. */
#ifndef BOSUN_SCHEDULER_RESOURCES_H
#define BOSUN_SCHEDULER_RESOURCES_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"

struct scheduler_res {
    int64_t milli_cpu;
    int64_t memory; /* bytes */
    int64_t pods;   /* allocatable pod count (nodes only; 0 = no limit) */
};

/* The defaults kube-scheduler's scoring assumes for a container that requests nothing. */
#define SCHEDULER_DEFAULT_MILLI_CPU 100
#define SCHEDULER_DEFAULT_MEMORY (200LL * 1024 * 1024)

/* The pod's requests into *out. Returns 0, or -EINVAL naming the bad quantity in err. */
int scheduler_res_pod_requests(const json_t *pod, struct scheduler_res *out,
                               struct bosun_err *err);
/* Same with the scoring defaults for containers that leave cpu or memory unset. */
int scheduler_res_pod_nonzero_requests(const json_t *pod, struct scheduler_res *out,
                                       struct bosun_err *err);
/* The node's allocatable cpu, memory and pods. Returns 0 or -EINVAL. */
int scheduler_res_node_allocatable(const json_t *node, struct scheduler_res *out,
                                   struct bosun_err *err);

#endif
