#include "reconcilerd/controllers/endpoints.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"

struct ctrl_endpoints {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
};

/* ---- pure logic ---- */

bool ctrl_endpoints_selects(const json_t *selector, const json_t *labels)
{
    const char *k;
    json_t *v;
    if (!json_is_object(selector) || json_object_size(selector) == 0)
        return false;
    json_object_foreach((json_t *)selector, k, v)
    {
        json_t *l = labels ? json_object_get(labels, k) : NULL;
        if (!l || !json_equal(l, v))
            return false;
    }
    return true;
}

/* The container port of pod named name with protocol, or -1 (Kubernetes' FindPort). */
static long long find_named_port(const json_t *pod, const char *name, const char *proto)
{
    json_t *containers = jsonx_get(pod, "spec") ? json_object_get(jsonx_get(pod, "spec"),
                                                                   "containers")
                                                 : NULL;
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(containers, i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            const char *pn = json_string_value(json_object_get(p, "name"));
            const char *pp = json_string_value(json_object_get(p, "protocol"));
            if (pn && strcmp(pn, name) == 0 && strcmp(pp ? pp : "TCP", proto) == 0)
                return json_integer_value(json_object_get(p, "containerPort"));
        }
    }
    return -1;
}

/* The ports of svc resolved for pod (ports whose named targetPort the pod lacks are
 * left out). New array. */
static json_t *resolve_ports(const json_t *svc, const json_t *pod)
{
    json_t *out = json_array();
    json_t *ports = jsonx_get(svc, "spec") ? json_object_get(jsonx_get(svc, "spec"), "ports")
                                            : NULL;
    size_t i;
    json_t *sp;
    json_array_foreach(ports, i, sp)
    {
        const char *proto = json_string_value(json_object_get(sp, "protocol"));
        const char *name = json_string_value(json_object_get(sp, "name"));
        json_t *tp = json_object_get(sp, "targetPort");
        long long port = json_integer_value(json_object_get(sp, "port"));
        if (!proto)
            proto = "TCP";
        if (json_is_integer(tp)) {
            port = json_integer_value(tp);
        } else if (json_is_string(tp)) {
            const char *s = json_string_value(tp);
            char *end;
            long long n = strtoll(s, &end, 10);
            if (*s && *end == '\0')
                port = n;
            else
                port = find_named_port(pod, s, proto);
        }
        if (port <= 0)
            continue;
        json_t *ep = json_pack("{s:I, s:s}", "port", (json_int_t)port, "protocol", proto);
        if (name && *name)
            json_object_set_new(ep, "name", json_string(name));
        json_t *ap = json_object_get(sp, "appProtocol");
        if (json_is_string(ap))
            json_object_set(ep, "appProtocol", ap);
        json_array_append_new(out, ep);
    }
    return out;
}

static int cmp_pod_ip(const void *pa, const void *pb)
{
    const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
    const char *ia = jsonx_get_str(a, "status.podIP"), *ib = jsonx_get_str(b, "status.podIP");
    struct in_addr xa, xb;
    if (inet_pton(AF_INET, ia, &xa) == 1 && inet_pton(AF_INET, ib, &xb) == 1 &&
        xa.s_addr != xb.s_addr)
        return ntohl(xa.s_addr) < ntohl(xb.s_addr) ? -1 : 1;
    int c = strcmp(ia, ib);
    if (c)
        return c;
    const char *na = jsonx_get_str(a, "metadata.name"), *nb = jsonx_get_str(b, "metadata.name");
    return strcmp(na ? na : "", nb ? nb : "");
}

static json_t *address(const json_t *pod)
{
    json_t *ref = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace",
                            jsonx_get_str(pod, "metadata.namespace") ?: "", "name",
                            jsonx_get_str(pod, "metadata.name") ?: "");
    const char *uid = jsonx_get_str(pod, "metadata.uid");
    if (uid)
        json_object_set_new(ref, "uid", json_string(uid));
    json_t *a = json_pack("{s:s}", "ip", jsonx_get_str(pod, "status.podIP"));
    const char *node = jsonx_get_str(pod, "spec.nodeName");
    if (node && *node)
        json_object_set_new(a, "nodeName", json_string(node));
    json_object_set_new(a, "targetRef", ref);
    return a;
}

json_t *ctrl_endpoints_subsets(const json_t *svc, const json_t *pods)
{
    const char *ns = jsonx_get_str(svc, "metadata.namespace");
    json_t *selector = jsonx_get(svc, "spec") ? json_object_get(jsonx_get(svc, "spec"),
                                                                 "selector")
                                               : NULL;
    bool publish_not_ready =
        json_is_true(json_object_get(jsonx_get(svc, "spec"), "publishNotReadyAddresses"));
    json_t *subsets = json_array();
    size_t n = json_array_size(pods), k = 0, i;
    const json_t **sel = calloc(n ? n : 1, sizeof(*sel));
    if (!sel || !subsets) {
        free(sel);
        json_decref(subsets);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const json_t *p = json_array_get(pods, i);
        const char *pns = jsonx_get_str(p, "metadata.namespace");
        const char *ip = jsonx_get_str(p, "status.podIP");
        if (!pns || !ns || strcmp(pns, ns) != 0 || !ip || !*ip)
            continue;
        if (!ctrl_endpoints_selects(selector, jsonx_get(p, "metadata.labels")))
            continue;
        if (ctrl_pod_is_terminal(p) || (ctrl_is_deleting(p) && !publish_not_ready))
            continue;
        sel[k++] = p;
    }
    qsort(sel, k, sizeof(*sel), cmp_pod_ip);
    for (i = 0; i < k; i++) {
        json_t *ports = resolve_ports(svc, sel[i]);
        json_t *subset = NULL, *s;
        size_t j;
        json_array_foreach(subsets, j, s)
        {
            if (json_equal(json_object_get(s, "ports"), ports)) {
                subset = s;
                break;
            }
        }
        if (!subset) {
            subset = json_object();
            json_object_set_new(subset, "ports", ports);
            ports = NULL;
            json_array_append_new(subsets, subset);
        }
        json_decref(ports);
        const char *field = (publish_not_ready || ctrl_pod_is_ready(sel[i])) ? "addresses"
                                                                             : "notReadyAddresses";
        json_t *list = json_object_get(subset, field);
        if (!list) {
            list = json_array();
            json_object_set_new(subset, field, list);
        }
        json_array_append_new(list, address(sel[i]));
    }
    /* Kubernetes writes addresses before ports; keep a stable key order for equality */
    json_t *s;
    json_array_foreach(subsets, i, s)
    {
        json_t *ports = json_incref(json_object_get(s, "ports"));
        json_object_del(s, "ports");
        if (json_array_size(ports) > 0)
            json_object_set(s, "ports", ports);
        json_decref(ports);
    }
    free(sel);
    return subsets;
}

/* ---- the controller ---- */

static int sync_service(struct ctrl_endpoints *ec, const char *ns, const char *name,
                        struct bosun_err *err)
{
    struct ctrl_ctx *ctx = ec->ctx;
    char path[CTRL_PATH_MAX], cpath[CTRL_PATH_MAX];
    json_t *svc = informer_get(ctx->services, ns, name);
    json_t *ep = informer_get(ctx->endpoints, ns, name);
    json_t *pods = NULL, *subsets = NULL, *obj = NULL;
    int r = 0;
    if (ctrl_path("Endpoints", ns, name, path, sizeof path) < 0 ||
        ctrl_path("Endpoints", ns, NULL, cpath, sizeof cpath) < 0) {
        r = err_set(err, -EINVAL, "bad name");
        goto out;
    }
    if (!svc) {
        if (ep)
            r = ctrl_delete(ctx->client, path, jsonx_get_str(ep, "metadata.uid"), err);
        goto out;
    }
    json_t *selector = json_object_get(jsonx_get(svc, "spec"), "selector");
    if (!json_is_object(selector) || json_object_size(selector) == 0 || ctrl_is_deleting(svc))
        goto out;
    pods = informer_list(ctx->pods);
    subsets = pods ? ctrl_endpoints_subsets(svc, pods) : NULL;
    if (!subsets) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    json_t *labels = jsonx_get(svc, "metadata.labels");
    if (ep) {
        json_t *cur = json_object_get(ep, "subsets");
        json_t *curl = jsonx_get(ep, "metadata.labels");
        bool same_subsets = cur ? json_equal(cur, subsets) : json_array_size(subsets) == 0;
        bool same_labels = (labels && curl) ? json_equal(labels, curl)
                                            : json_object_size(labels) == json_object_size(curl);
        if (same_subsets && same_labels)
            goto out;
        obj = json_deep_copy(ep);
    } else {
        obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Endpoints",
                        "metadata", "name", name, "namespace", ns);
    }
    if (!obj) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    json_object_set(obj, "subsets", subsets);
    json_t *meta = json_object_get(obj, "metadata");
    if (labels)
        json_object_set_new(meta, "labels", json_deep_copy(labels));
    else
        json_object_del(meta, "labels");
    if (ep)
        r = ctrl_put(ctx->client, path, obj, NULL, err);
    else
        r = ctrl_post(ctx->client, cpath, obj, NULL, err);
    if (r == 0)
        log_debug("endpoints %s/%s: updated", ns, name);
out:
    json_decref(obj);
    json_decref(subsets);
    json_decref(pods);
    json_decref(ep);
    json_decref(svc);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_endpoints *ec = userdata;
    char ns[256], name[256];
    struct bosun_err err = {0};
    if (ctrl_key_split(key, ns, sizeof ns, name, sizeof name) < 0)
        return 0;
    int r = sync_service(ec, ns, name, &err);
    if (r < 0)
        log_warn("endpoints %s: %s", key, err.msg);
    return r;
}

void ctrl_endpoints_on_service(const json_t *obj, void *userdata)
{
    struct ctrl_endpoints *ec = userdata;
    char key[CTRL_KEY_MAX];
    if (ctrl_obj_key(obj, key, sizeof key) == 0)
        ctrl_wq_add(ec->q, key);
}

void ctrl_endpoints_on_pod(const json_t *old_obj, const json_t *new_obj, void *userdata)
{
    struct ctrl_endpoints *ec = userdata;
    const json_t *pod = new_obj ? new_obj : old_obj;
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    if (!ns || !ec->ctx->services)
        return;
    json_t *svcs = informer_list(ec->ctx->services);
    size_t i;
    json_t *s;
    json_array_foreach(svcs, i, s)
    {
        const char *sns = jsonx_get_str(s, "metadata.namespace");
        if (!sns || strcmp(sns, ns) != 0)
            continue;
        json_t *selector = json_object_get(jsonx_get(s, "spec"), "selector");
        if ((new_obj && ctrl_endpoints_selects(selector, jsonx_get(new_obj, "metadata.labels"))) ||
            (old_obj && ctrl_endpoints_selects(selector, jsonx_get(old_obj, "metadata.labels")))) {
            char key[CTRL_KEY_MAX];
            if (ctrl_obj_key(s, key, sizeof key) == 0)
                ctrl_wq_add(ec->q, key);
        }
    }
    json_decref(svcs);
}

int ctrl_endpoints_new(struct ctrl_ctx *ctx, struct ctrl_endpoints **out, struct bosun_err *err)
{
    struct ctrl_endpoints *ec = calloc(1, sizeof(*ec));
    if (!ec)
        return err_set(err, -ENOMEM, "endpoints controller: out of memory");
    ec->ctx = ctx;
    struct ctrl_wq_opts qo = {.name = "endpoints", .fn = sync_key, .userdata = ec};
    int r = ctrl_wq_new(&qo, &ec->q, err);
    if (r < 0) {
        free(ec);
        return r;
    }
    *out = ec;
    return 0;
}

struct ctrl_wq *ctrl_endpoints_queue(struct ctrl_endpoints *ec)
{
    return ec->q;
}

void ctrl_endpoints_free(struct ctrl_endpoints *ec)
{
    if (!ec)
        return;
    ctrl_wq_free(ec->q);
    free(ec);
}
