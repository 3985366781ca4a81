#include "scheduler/resources.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lib/jsonx.h"
#include "schema/quantity.h"

static int quantity(const json_t *list, const char *name, bool milli, int64_t *out, bool *set,
                    struct bosun_err *err)
{
    const json_t *v = list ? json_object_get(list, name) : NULL;
    int64_t m = 0, val = 0;
    *set = false;
    if (!v)
        return 0;
    int r = schema_quantity_parse_json(v, milli ? &m : NULL, milli ? NULL : &val);
    if (r < 0)
        return err_set(err, r, "%s: not a quantity", name);
    *out = milli ? m : val;
    *set = true;
    return 0;
}

/* The requests of one container (or the overhead map) into res. */
static int container_requests(const json_t *requests, bool nonzero, struct scheduler_res *res,
                              struct bosun_err *err)
{
    bool set;
    int64_t v = 0;
    int r;
    res->milli_cpu = 0;
    res->memory = 0;
    if ((r = quantity(requests, "cpu", true, &v, &set, err)) < 0)
        return r;
    res->milli_cpu = set ? v : (nonzero ? SCHEDULER_DEFAULT_MILLI_CPU : 0);
    if ((r = quantity(requests, "memory", false, &v, &set, err)) < 0)
        return r;
    res->memory = set ? v : (nonzero ? SCHEDULER_DEFAULT_MEMORY : 0);
    return 0;
}

static int pod_requests(const json_t *pod, bool nonzero, struct scheduler_res *out,
                        struct bosun_err *err)
{
    const json_t *spec = jsonx_get(pod, "spec");
    struct scheduler_res sum = {0}, init_max = {0}, c;
    size_t i;
    json_t *ctr;
    int r;
    json_array_foreach(json_object_get(spec, "containers"), i, ctr)
    {
        r = container_requests(jsonx_get(ctr, "resources.requests"), nonzero, &c, err);
        if (r < 0)
            return err_wrap(err, "spec.containers[%zu].resources.requests", i);
        sum.milli_cpu += c.milli_cpu;
        sum.memory += c.memory;
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, ctr)
    {
        r = container_requests(jsonx_get(ctr, "resources.requests"), nonzero, &c, err);
        if (r < 0)
            return err_wrap(err, "spec.initContainers[%zu].resources.requests", i);
        if (c.milli_cpu > init_max.milli_cpu)
            init_max.milli_cpu = c.milli_cpu;
        if (c.memory > init_max.memory)
            init_max.memory = c.memory;
    }
    if (init_max.milli_cpu > sum.milli_cpu)
        sum.milli_cpu = init_max.milli_cpu;
    if (init_max.memory > sum.memory)
        sum.memory = init_max.memory;
    const json_t *overhead = json_object_get(spec, "overhead");
    if (overhead) {
        r = container_requests(overhead, false, &c, err);
        if (r < 0)
            return err_wrap(err, "spec.overhead");
        sum.milli_cpu += c.milli_cpu;
        sum.memory += c.memory;
    }
    sum.pods = 1;
    *out = sum;
    return 0;
}

int scheduler_res_pod_requests(const json_t *pod, struct scheduler_res *out,
                               struct bosun_err *err)
{
    return pod_requests(pod, false, out, err);
}

int scheduler_res_pod_nonzero_requests(const json_t *pod, struct scheduler_res *out,
                                       struct bosun_err *err)
{
    return pod_requests(pod, true, out, err);
}

int scheduler_res_node_allocatable(const json_t *node, struct scheduler_res *out,
                                   struct bosun_err *err)
{
    const json_t *alloc = jsonx_get(node, "status.allocatable");
    const json_t *cap = jsonx_get(node, "status.capacity");
    struct scheduler_res res = {0};
    const char *names[] = {"cpu", "memory", "pods"};
    int64_t *slots[] = {&res.milli_cpu, &res.memory, &res.pods};
    for (int i = 0; i < 3; i++) {
        const json_t *src = json_object_get(alloc, names[i]) ? alloc : cap;
        bool set;
        int r = quantity(src, names[i], i == 0, slots[i], &set, err);
        if (r < 0)
            return err_wrap(err, "node %s: status.allocatable",
                            jsonx_get_str(node, "metadata.name") ?: "?");
    }
    *out = res;
    return 0;
}
