#include "scheduler/nodeinfo.h"

#include <string.h>

#include "lib/jsonx.h"

int scheduler_node_init(struct scheduler_node *ni, const json_t *node, struct bosun_err *err)
{
    struct scheduler_res alloc;
    int r = scheduler_res_node_allocatable(node, &alloc, err);
    if (r < 0)
        return r;
    memset(ni, 0, sizeof(*ni));
    ni->node = json_incref((json_t *)node);
    ni->name = jsonx_get_str(node, "metadata.name");
    if (!ni->name)
        ni->name = "";
    ni->allocatable = alloc;
    return 0;
}

void scheduler_node_add_pod(struct scheduler_node *ni, const struct scheduler_res *req,
                            const struct scheduler_res *nonzero)
{
    ni->requested.milli_cpu += req->milli_cpu;
    ni->requested.memory += req->memory;
    ni->requested.pods++;
    ni->nonzero.milli_cpu += nonzero->milli_cpu;
    ni->nonzero.memory += nonzero->memory;
    ni->nonzero.pods++;
}

void scheduler_node_clear(struct scheduler_node *ni)
{
    if (!ni)
        return;
    json_decref(ni->node);
    ni->node = NULL;
}
