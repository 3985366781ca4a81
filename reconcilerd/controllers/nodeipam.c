#include "reconcilerd/controllers/nodeipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"

/* the largest number of node subnets tracked (a /8 split into /24s is 65536) */
#define MAX_SUBNETS (1u << 20)

struct pending {
    char *node;
    char *cidr;
};

struct ctrl_nodeipam {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
    /* allocations made but not yet seen in the cache; worker thread only */
    struct pending *pending;
    size_t npending;
};

/* ---- pure logic ---- */

int ctrl_nodeipam_parse_cidr(const char *cidr, uint32_t *base, int *prefix)
{
    char buf[64];
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= sizeof buf)
        return -EINVAL;
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -EINVAL;
    char *end;
    long p = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || p < 0 || p > 32)
        return -EINVAL;
    uint32_t m = p == 0 ? 0 : 0xffffffffu << (32 - p);
    *base = ntohl(a.s_addr) & m;
    *prefix = (int)p;
    return 0;
}

int ctrl_nodeipam_next(const char *cluster_cidr, int mask, const char *const *used, size_t n,
                       char *out, size_t len, struct bosun_err *err)
{
    uint32_t base;
    int prefix;
    if (!cluster_cidr || ctrl_nodeipam_parse_cidr(cluster_cidr, &base, &prefix) < 0)
        return err_set(err, -EINVAL, "node ipam: bad cluster CIDR \"%s\"",
                       cluster_cidr ? cluster_cidr : "");
    if (mask < prefix || mask > 30 || mask - prefix > 20)
        return err_set(err, -EINVAL,
                       "node ipam: node CIDR mask /%d does not fit cluster CIDR %s", mask,
                       cluster_cidr);
    uint32_t count = 1u << (mask - prefix);
    unsigned char *taken = calloc(count, 1);
    if (!taken)
        return err_set(err, -ENOMEM, "node ipam: out of memory");
    for (size_t i = 0; i < n; i++) {
        uint32_t ub;
        int up;
        if (!used[i] || ctrl_nodeipam_parse_cidr(used[i], &ub, &up) < 0)
            continue;
        /* the range [ub, ub + size) against the cluster range, in units of subnets */
        uint64_t usize = 1ull << (32 - up);
        uint64_t lo = ub, hi = (uint64_t)ub + usize; /* exclusive */
        uint64_t clo = base, chi = (uint64_t)base + ((uint64_t)count << (32 - mask));
        if (hi <= clo || lo >= chi)
            continue;
        if (lo < clo)
            lo = clo;
        if (hi > chi)
            hi = chi;
        uint64_t first = (lo - clo) >> (32 - mask);
        uint64_t last = (hi - 1 - clo) >> (32 - mask);
        for (uint64_t s = first; s <= last; s++)
            taken[s] = 1;
    }
    int r = -ENOSPC;
    for (uint32_t s = 0; s < count; s++) {
        if (taken[s])
            continue;
        uint32_t net = base + (s << (32 - mask));
        struct in_addr a = {.s_addr = htonl(net)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, ip, sizeof ip);
        if ((size_t)snprintf(out, len, "%s/%d", ip, mask) >= len)
            r = err_set(err, -ENAMETOOLONG, "node ipam: buffer too small");
        else
            r = 0;
        break;
    }
    free(taken);
    if (r == -ENOSPC)
        err_set(err, r, "node ipam: no free /%d left in %s", mask, cluster_cidr);
    return r;
}

/* ---- the controller ---- */

static void pending_drop(struct ctrl_nodeipam *ic, size_t i)
{
    free(ic->pending[i].node);
    free(ic->pending[i].cidr);
    ic->pending[i] = ic->pending[--ic->npending];
}

static const char *pending_of(struct ctrl_nodeipam *ic, const char *node)
{
    for (size_t i = 0; i < ic->npending; i++)
        if (strcmp(ic->pending[i].node, node) == 0)
            return ic->pending[i].cidr;
    return NULL;
}

static void pending_add(struct ctrl_nodeipam *ic, const char *node, const char *cidr)
{
    struct pending *p = realloc(ic->pending, (ic->npending + 1) * sizeof(*p));
    if (!p)
        return;
    ic->pending = p;
    p[ic->npending].node = strdup(node);
    p[ic->npending].cidr = strdup(cidr);
    if (!p[ic->npending].node || !p[ic->npending].cidr) {
        free(p[ic->npending].node);
        free(p[ic->npending].cidr);
        return;
    }
    ic->npending++;
}

static bool has_cidr(const json_t *node)
{
    const char *c = jsonx_get_str(node, "spec.podCIDR");
    return c && *c;
}

static int assign(struct ctrl_nodeipam *ic, const json_t *cached, const char *cidr,
                  struct bosun_err *err)
{
    char path[CTRL_PATH_MAX];
    const char *name = jsonx_get_str(cached, "metadata.name");
    ctrl_path("Node", NULL, name, path, sizeof path);
    json_t *node = json_deep_copy(cached);
    int r = -EAGAIN;
    for (int attempt = 0; attempt < 5 && node; attempt++) {
        if (has_cidr(node)) {
            r = 0; /* someone else (or an earlier try of ours) got there first */
            break;
        }
        json_t *spec = jsonx_ensure_obj(node, "spec");
        json_object_set_new(spec, "podCIDR", json_string(cidr));
        json_object_set_new(spec, "podCIDRs", json_pack("[s]", cidr));
        r = ctrl_put(ic->ctx->client, path, node, NULL, err);
        if (r != -EAGAIN)
            break;
        json_decref(node);
        node = NULL;
        err_clear(err);
        r = ctrl_get(ic->ctx->client, path, &node, err);
        if (r < 0)
            break;
        r = -EAGAIN;
    }
    json_decref(node);
    return r;
}

static int sync_node(struct ctrl_nodeipam *ic, const char *name, struct bosun_err *err)
{
    json_t *node = informer_get(ic->ctx->nodes, "", name);
    json_t *all = NULL;
    const char **used = NULL;
    int r = 0;
    if (!node) {
        for (size_t i = 0; i < ic->npending; i++)
            if (strcmp(ic->pending[i].node, name) == 0) {
                pending_drop(ic, i);
                break;
            }
        goto out;
    }
    if (has_cidr(node) || pending_of(ic, name))
        goto out;
    all = informer_list(ic->ctx->nodes);
    used = calloc(json_array_size(all) + ic->npending + 1, sizeof(*used));
    if (!all || !used) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    size_t n = 0, i;
    json_t *x;
    json_array_foreach(all, i, x)
    {
        json_t *cidrs = jsonx_get(x, "spec") ? json_object_get(jsonx_get(x, "spec"), "podCIDRs")
                                              : NULL;
        if (has_cidr(x))
            used[n++] = jsonx_get_str(x, "spec.podCIDR");
        else if (json_array_size(cidrs) > 0)
            used[n++] = json_string_value(json_array_get(cidrs, 0));
    }
    /* forget pending allocations the cache now shows (or whose node is gone) */
    for (i = 0; i < ic->npending;) {
        json_t *pn = informer_get(ic->ctx->nodes, "", ic->pending[i].node);
        bool keep = pn && !has_cidr(pn);
        json_decref(pn);
        if (!keep) {
            pending_drop(ic, i);
            continue;
        }
        used[n++] = ic->pending[i].cidr;
        i++;
    }
    char cidr[64];
    r = ctrl_nodeipam_next(ic->ctx->cluster_cidr, ic->ctx->node_cidr_mask, used, n, cidr,
                           sizeof cidr, err);
    if (r == -ENOSPC) {
        events_recordf(ic->ctx->events, node, "Node", "v1", "Normal", "CIDRNotAvailable",
                       "Node %s status is now: CIDRNotAvailable", name);
        goto out;
    }
    if (r < 0)
        goto out;
    r = assign(ic, node, cidr, err);
    if (r == 0) {
        pending_add(ic, name, cidr);
        log_info("node ipam: node %s gets podCIDR %s", name, cidr);
        events_recordf(ic->ctx->events, node, "Node", "v1", "Normal", "CIDRAssigned",
                       "Node %s was assigned podCIDR %s", name, cidr);
    }
out:
    free(used);
    json_decref(all);
    json_decref(node);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_nodeipam *ic = userdata;
    struct bosun_err err = {0};
    int r = sync_node(ic, key, &err);
    if (r < 0)
        log_warn("node ipam %s: %s", key, err.msg);
    return r;
}

void ctrl_nodeipam_on_node(const json_t *obj, void *userdata)
{
    struct ctrl_nodeipam *ic = userdata;
    const char *name = jsonx_get_str(obj, "metadata.name");
    if (name)
        ctrl_wq_add(ic->q, name);
}

int ctrl_nodeipam_new(struct ctrl_ctx *ctx, struct ctrl_nodeipam **out, struct bosun_err *err)
{
    char probe[64];
    int r = ctrl_nodeipam_next(ctx->cluster_cidr, ctx->node_cidr_mask, NULL, 0, probe,
                               sizeof probe, err);
    if (r < 0)
        return r;
    struct ctrl_nodeipam *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return err_set(err, -ENOMEM, "node ipam: out of memory");
    ic->ctx = ctx;
    struct ctrl_wq_opts qo = {.name = "nodeipam", .fn = sync_key, .userdata = ic};
    r = ctrl_wq_new(&qo, &ic->q, err);
    if (r < 0) {
        free(ic);
        return r;
    }
    *out = ic;
    return 0;
}

struct ctrl_wq *ctrl_nodeipam_queue(struct ctrl_nodeipam *ic)
{
    return ic->q;
}

void ctrl_nodeipam_free(struct ctrl_nodeipam *ic)
{
    if (!ic)
        return;
    ctrl_wq_free(ic->q);
    while (ic->npending)
        pending_drop(ic, 0);
    free(ic->pending);
    free(ic);
}
