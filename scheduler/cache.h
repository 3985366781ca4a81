/* cache — the scheduler's view of nodes and of what the pods on them request, fed by the
 * informers' handlers and by the scheduler's own binds. A pod this scheduler bound is
 * "assumed" on its node at once, before the pod informer shows spec.nodeName, so the
 * next cycle already counts it; an assumption the informer never confirms expires.
 * Thread-safe (one mutex). Sizes: linear over pods per update. */
#ifndef BOSUN_SCHEDULER_CACHE_H
#define BOSUN_SCHEDULER_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "scheduler/nodeinfo.h"

struct scheduler_cache;

int scheduler_cache_new(struct scheduler_cache **out, struct bosun_err *err);
void scheduler_cache_free(struct scheduler_cache *c);

void scheduler_cache_node_set(struct scheduler_cache *c, const json_t *node);
void scheduler_cache_node_remove(struct scheduler_cache *c, const char *name);
/* A pod as the informer shows it: counted on spec.nodeName unless finished; an unbound
 * pod drops its entry unless it is assumed. */
void scheduler_cache_pod_set(struct scheduler_cache *c, const json_t *pod);
void scheduler_cache_pod_remove(struct scheduler_cache *c, const json_t *pod);
/* Counts pod on node until confirmed or expired. Returns 0 or -ENOMEM. */
int scheduler_cache_assume(struct scheduler_cache *c, const json_t *pod, const char *node);
/* Undoes an assumption (a bind that failed). */
void scheduler_cache_forget(struct scheduler_cache *c, const char *pod_key);
bool scheduler_cache_is_assumed(struct scheduler_cache *c, const char *pod_key);
/* Drops assumptions older than ttl_ms. */
void scheduler_cache_expire(struct scheduler_cache *c, int64_t ttl_ms);

/* Every node with its requested totals, sorted by name (nodes whose quantities do not
 * parse are left out). Free with scheduler_cache_snapshot_free. */
int scheduler_cache_snapshot(struct scheduler_cache *c, struct scheduler_node **out, size_t *n,
                             struct bosun_err *err);
void scheduler_cache_snapshot_free(struct scheduler_node *nodes, size_t n);

size_t scheduler_cache_node_count(struct scheduler_cache *c);

#endif
