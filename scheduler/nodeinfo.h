/* nodeinfo — one node as a scheduling cycle sees it: the Node object, what it offers, and
 * what the pods already on it (bound, or assumed by this scheduler and not yet seen
 * bound) request. Plain value type; the cache builds a snapshot of them per cycle. */
#ifndef BOSUN_SCHEDULER_NODEINFO_H
#define BOSUN_SCHEDULER_NODEINFO_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"
#include "scheduler/resources.h"

struct scheduler_node {
    const char *name;                /* borrowed from node */
    json_t *node;                    /* owned reference */
    struct scheduler_res allocatable;
    struct scheduler_res requested;  /* sum of the pods' requests; .pods = pod count */
    struct scheduler_res nonzero;    /* the same with scoring defaults */
};

/* Fills ni from a Node (takes a new reference). Returns 0 or -EINVAL (bad quantity). */
int scheduler_node_init(struct scheduler_node *ni, const json_t *node, struct bosun_err *err);
/* Accounts one more pod on the node. */
void scheduler_node_add_pod(struct scheduler_node *ni, const struct scheduler_res *req,
                            const struct scheduler_res *nonzero);
/* Drops the node reference. */
void scheduler_node_clear(struct scheduler_node *ni);

#endif
