/* nodeipam — gives every Node without spec.podCIDR the first free /node_cidr_mask of
 * cluster_cidr (IPv4), as kube-controller-manager's range allocator does. What is free is
 * computed from the node cache plus the allocations this controller made that the cache
 * has not shown yet, so restarting it is safe. ctrl_nodeipam_next is pure, for tests. */
#ifndef BOSUN_CTRL_NODEIPAM_H
#define BOSUN_CTRL_NODEIPAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_nodeipam;

/* Fails with -EINVAL when ctx->cluster_cidr or the mask is unusable. */
int ctrl_nodeipam_new(struct ctrl_ctx *ctx, struct ctrl_nodeipam **out, struct bosun_err *err);
void ctrl_nodeipam_free(struct ctrl_nodeipam *ic);
struct ctrl_wq *ctrl_nodeipam_queue(struct ctrl_nodeipam *ic);
void ctrl_nodeipam_on_node(const json_t *obj, void *userdata);

/* ---- pure logic ---- */

/* Parses "a.b.c.d/p" into a host-order base (host bits cleared) and prefix. */
int ctrl_nodeipam_parse_cidr(const char *cidr, uint32_t *base, int *prefix);

/* The first /mask subnet of cluster_cidr that overlaps none of used[0..n) (CIDR strings;
 * unparsable ones are ignored) as "a.b.c.d/mask" into out. Returns 0, -ENOSPC when the
 * range is full, -EINVAL for a bad cluster_cidr or mask (err says which). */
int ctrl_nodeipam_next(const char *cluster_cidr, int mask, const char *const *used, size_t n,
                       char *out, size_t len, struct bosun_err *err);

#endif
