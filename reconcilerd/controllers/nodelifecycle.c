#include "reconcilerd/controllers/nodelifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define LEASE_NS "kube-node-lease"

struct health {
    char *node;
    char *heartbeat; /* last lastHeartbeatTime seen */
    char *renew;     /* last Lease renewTime seen */
    int64_t observed_ms;
};

struct ctrl_nodelc {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
    /* worker thread only */
    struct health *h;
    size_t nh;
};

/* ---- pure logic ---- */

json_t *ctrl_nodelc_unknown_status(const json_t *node, const char *now)
{
    json_t *st = json_deep_copy(jsonx_get(node, "status"));
    if (!st)
        st = json_object();
    json_t *conds = json_object_get(st, "conditions");
    bool never = !json_is_array(conds) || json_array_size(conds) == 0;
    if (never) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
        json_array_append_new(conds, json_pack("{s:s}", "type", "Ready"));
    }
    const char *reason = never ? "NodeStatusNeverUpdated" : "NodeStatusUnknown";
    const char *msg = never ? "Kubelet never posted node status." :
                              "Kubelet stopped posting node status.";
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *s = json_string_value(json_object_get(c, "status"));
        if (!s || strcmp(s, "Unknown") != 0)
            json_object_set_new(c, "lastTransitionTime", json_string(now));
        json_object_set_new(c, "status", json_string("Unknown"));
        json_object_set_new(c, "reason", json_string(reason));
        json_object_set_new(c, "message", json_string(msg));
        if (!json_object_get(c, "lastHeartbeatTime"))
            json_object_set_new(c, "lastHeartbeatTime",
                                json_string(jsonx_get_str(node, "metadata.creationTimestamp")
                                                ?: now));
    }
    return st;
}

bool ctrl_nodelc_pod_not_ready(const json_t *pod, const char *now, json_t **out)
{
    const json_t *ready = ctrl_condition(pod, "Ready");
    const char *s = ready ? json_string_value(json_object_get(ready, "status")) : NULL;
    if (!ready || (s && strcmp(s, "False") == 0))
        return false;
    json_t *st = json_deep_copy(jsonx_get(pod, "status"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (!t || strcmp(t, "Ready") != 0)
            continue;
        json_object_set_new(c, "status", json_string("False"));
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        json_object_set_new(c, "reason", json_string("NodeNotReady"));
        json_object_set_new(c, "message", json_string("The node this pod runs on is not ready."));
    }
    *out = st;
    return st != NULL;
}

/* ---- the controller ---- */

static struct health *health_of(struct ctrl_nodelc *lc, const char *node)
{
    for (size_t i = 0; i < lc->nh; i++)
        if (strcmp(lc->h[i].node, node) == 0)
            return &lc->h[i];
    struct health *p = realloc(lc->h, (lc->nh + 1) * sizeof(*p));
    if (!p)
        return NULL;
    lc->h = p;
    struct health *e = &lc->h[lc->nh];
    memset(e, 0, sizeof(*e));
    if (!(e->node = strdup(node)) || !(e->heartbeat = strdup("")) || !(e->renew = strdup(""))) {
        free(e->node);
        free(e->heartbeat);
        return NULL;
    }
    e->observed_ms = time_mono_ms();
    lc->nh++;
    return e;
}

static void health_drop(struct ctrl_nodelc *lc, const char *node)
{
    for (size_t i = 0; i < lc->nh; i++) {
        if (strcmp(lc->h[i].node, node) != 0)
            continue;
        free(lc->h[i].node);
        free(lc->h[i].heartbeat);
        free(lc->h[i].renew);
        lc->h[i] = lc->h[--lc->nh];
        return;
    }
}

static bool replace(char **slot, const char *v)
{
    if (strcmp(*slot, v) == 0)
        return false;
    char *n = strdup(v);
    if (!n)
        return false;
    free(*slot);
    *slot = n;
    return true;
}

/* Sets the Ready condition of a pod False, re-reading it on conflicts. */
static int mark_pod(struct ctrl_nodelc *lc, const json_t *cached, const char *now,
                    struct bosun_err *err)
{
    char path[CTRL_PATH_MAX], spath[CTRL_PATH_MAX + 16];
    ctrl_path("Pod", jsonx_get_str(cached, "metadata.namespace"),
              jsonx_get_str(cached, "metadata.name"), path, sizeof path);
    snprintf(spath, sizeof spath, "%s/status", path);
    json_t *pod = json_incref((json_t *)cached);
    int r = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        json_t *st = NULL;
        if (!ctrl_nodelc_pod_not_ready(pod, now, &st))
            break;
        json_t *copy = json_deep_copy(pod);
        json_object_set_new(copy, "status", st);
        r = ctrl_put(lc->ctx->client, spath, copy, NULL, err);
        json_decref(copy);
        if (r != -EAGAIN)
            break;
        json_decref(pod);
        pod = NULL;
        err_clear(err);
        r = ctrl_get(lc->ctx->client, path, &pod, err);
        if (r < 0)
            break;
    }
    json_decref(pod);
    return r == -ENOENT ? 0 : r;
}

static int mark_pods(struct ctrl_nodelc *lc, const char *node, const char *now,
                     struct bosun_err *err)
{
    json_t *pods = informer_list(lc->ctx->pods);
    size_t i;
    json_t *p;
    int r = 0;
    json_array_foreach(pods, i, p)
    {
        const char *n = jsonx_get_str(p, "spec.nodeName");
        if (!n || strcmp(n, node) != 0)
            continue;
        int rr = mark_pod(lc, p, now, err);
        if (rr < 0)
            r = rr;
    }
    json_decref(pods);
    return r;
}

static int sync_node(struct ctrl_nodelc *lc, const char *name, struct bosun_err *err)
{
    json_t *node = informer_get(lc->ctx->nodes, "", name);
    if (!node) {
        health_drop(lc, name);
        return 0;
    }
    int r = 0;
    json_t *lease = lc->ctx->leases ? informer_get(lc->ctx->leases, LEASE_NS, name) : NULL;
    const json_t *ready = ctrl_condition(node, "Ready");
    const char *hb = ready ? json_string_value(json_object_get(ready, "lastHeartbeatTime")) : NULL;
    const char *renew = lease ? jsonx_get_str(lease, "spec.renewTime") : NULL;
    struct health *h = health_of(lc, name);
    if (!h) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    bool changed = replace(&h->heartbeat, hb ? hb : "");
    changed |= replace(&h->renew, renew ? renew : "");
    int64_t now_ms = time_mono_ms();
    if (changed)
        h->observed_ms = now_ms;
    int64_t age = now_ms - h->observed_ms;
    int64_t grace = lc->ctx->node_monitor_grace_ms;
    if (age <= grace) {
        ctrl_wq_add_after(lc->q, name, grace - age + 100);
        goto out;
    }

    char now[32];
    ctrl_now(now, sizeof now);
    const char *rs = ready ? json_string_value(json_object_get(ready, "status")) : NULL;
    if (!rs || strcmp(rs, "Unknown") != 0) {
        json_t *st = ctrl_nodelc_unknown_status(node, now);
        json_t *copy = json_deep_copy(node);
        char path[CTRL_PATH_MAX];
        snprintf(path, sizeof path, "/api/v1/nodes/%s/status", name);
        json_object_set_new(copy, "status", st);
        /* a conflict may be a fresh heartbeat: never overwrite it, look again instead */
        r = ctrl_put(lc->ctx->client, path, copy, NULL, err);
        json_decref(copy);
        if (r < 0)
            goto out;
        log_warn("node %s: no heartbeat for %lld ms, status now Unknown", name,
                 (long long)age);
        events_recordf(lc->ctx->events, node, "Node", "v1", "Normal", "NodeNotReady",
                       "Node %s status is now: NodeNotReady", name);
    }
    r = mark_pods(lc, name, now, err);
out:
    json_decref(lease);
    json_decref(node);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_nodelc *lc = userdata;
    struct bosun_err err = {0};
    int r = sync_node(lc, key, &err);
    if (r < 0)
        log_warn("node lifecycle %s: %s", key, err.msg);
    return r;
}

void ctrl_nodelc_on_node(const json_t *obj, void *userdata)
{
    struct ctrl_nodelc *lc = userdata;
    const char *name = jsonx_get_str(obj, "metadata.name");
    if (name)
        ctrl_wq_add(lc->q, name);
}

void ctrl_nodelc_on_pod(const json_t *obj, void *userdata)
{
    struct ctrl_nodelc *lc = userdata;
    const char *node = jsonx_get_str(obj, "spec.nodeName");
    if (node && *node && ctrl_pod_is_ready(obj))
        ctrl_wq_add(lc->q, node);
}

void ctrl_nodelc_on_lease(const json_t *obj, void *userdata)
{
    ctrl_nodelc_on_node(obj, userdata);
}

int ctrl_nodelc_new(struct ctrl_ctx *ctx, struct ctrl_nodelc **out, struct bosun_err *err)
{
    struct ctrl_nodelc *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return err_set(err, -ENOMEM, "node lifecycle: out of memory");
    lc->ctx = ctx;
    struct ctrl_wq_opts qo = {.name = "nodelifecycle", .fn = sync_key, .userdata = lc};
    int r = ctrl_wq_new(&qo, &lc->q, err);
    if (r < 0) {
        free(lc);
        return r;
    }
    *out = lc;
    return 0;
}

struct ctrl_wq *ctrl_nodelc_queue(struct ctrl_nodelc *lc)
{
    return lc->q;
}

void ctrl_nodelc_free(struct ctrl_nodelc *lc)
{
    if (!lc)
        return;
    ctrl_wq_free(lc->q);
    while (lc->nh)
        health_drop(lc, lc->h[0].node);
    free(lc->h);
    free(lc);
}
