#include "reconcilerd/api/table.h"

#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/timeutil.h"

bool api_table_wanted(const char *accept)
{
    return accept && strstr(accept, "as=Table") != NULL;
}

enum api_table_include api_table_include_parse(const char *s)
{
    if (s && !strcmp(s, "Object"))
        return API_TABLE_OBJECT;
    if (s && !strcmp(s, "None"))
        return API_TABLE_NONE;
    return API_TABLE_METADATA;
}

struct col {
    const char *name, *type, *format;
    int priority;
};

static const struct col pod_cols[] = {{"Name", "string", "name", 0},
                                      {"Ready", "string", "", 0},
                                      {"Status", "string", "", 0},
                                      {"Restarts", "string", "", 0},
                                      {"Age", "string", "", 0},
                                      {"IP", "string", "", 1},
                                      {"Node", "string", "", 1},
                                      {"Nominated Node", "string", "", 1},
                                      {"Readiness Gates", "string", "", 1},
                                      {0}};
static const struct col deploy_cols[] = {{"Name", "string", "name", 0},
                                         {"Ready", "string", "", 0},
                                         {"Up-to-date", "integer", "", 0},
                                         {"Available", "integer", "", 0},
                                         {"Age", "string", "", 0},
                                         {"Containers", "string", "", 1},
                                         {"Images", "string", "", 1},
                                         {"Selector", "string", "", 1},
                                         {0}};
static const struct col rs_cols[] = {{"Name", "string", "name", 0},
                                     {"Desired", "integer", "", 0},
                                     {"Current", "integer", "", 0},
                                     {"Ready", "integer", "", 0},
                                     {"Age", "string", "", 0},
                                     {"Containers", "string", "", 1},
                                     {"Images", "string", "", 1},
                                     {"Selector", "string", "", 1},
                                     {0}};
static const struct col svc_cols[] = {{"Name", "string", "name", 0},
                                      {"Type", "string", "", 0},
                                      {"Cluster-IP", "string", "", 0},
                                      {"External-IP", "string", "", 0},
                                      {"Port(s)", "string", "", 0},
                                      {"Age", "string", "", 0},
                                      {"Selector", "string", "", 1},
                                      {0}};
static const struct col node_cols[] = {{"Name", "string", "name", 0},
                                       {"Status", "string", "", 0},
                                       {"Roles", "string", "", 0},
                                       {"Age", "string", "", 0},
                                       {"Version", "string", "", 0},
                                       {"Internal-IP", "string", "", 1},
                                       {"External-IP", "string", "", 1},
                                       {"OS-Image", "string", "", 1},
                                       {"Kernel-Version", "string", "", 1},
                                       {"Container-Runtime", "string", "", 1},
                                       {0}};
static const struct col ns_cols[] = {{"Name", "string", "name", 0},
                                     {"Status", "string", "", 0},
                                     {"Age", "string", "", 0},
                                     {0}};
static const struct col ev_cols[] = {{"Last Seen", "string", "", 0},
                                     {"Type", "string", "", 0},
                                     {"Reason", "string", "", 0},
                                     {"Object", "string", "", 0},
                                     {"Message", "string", "", 0},
                                     {0}};
static const struct col cm_cols[] = {{"Name", "string", "name", 0},
                                     {"Data", "integer", "", 0},
                                     {"Age", "string", "", 0},
                                     {0}};
static const struct col secret_cols[] = {{"Name", "string", "name", 0},
                                         {"Type", "string", "", 0},
                                         {"Data", "integer", "", 0},
                                         {"Age", "string", "", 0},
                                         {0}};
static const struct col ep_cols[] = {{"Name", "string", "name", 0},
                                     {"Endpoints", "string", "", 0},
                                     {"Age", "string", "", 0},
                                     {0}};
static const struct col lease_cols[] = {{"Name", "string", "name", 0},
                                        {"Holder", "string", "", 0},
                                        {"Age", "string", "", 0},
                                        {0}};
/* Flux's GitRepository columns, plus bosun's applied revision. */
static const struct col gitrepo_cols[] = {{"Name", "string", "name", 0},
                                          {"URL", "string", "", 0},
                                          {"Age", "string", "", 0},
                                          {"Ready", "string", "", 0},
                                          {"Status", "string", "", 0},
                                          {"Revision", "string", "", 1},
                                          {0}};
static const struct col default_cols[] = {{"Name", "string", "name", 0},
                                          {"Created At", "date", "", 0},
                                          {0}};

static const struct col *cols_for(const struct schema_kind *k)
{
    if (*k->group == '\0') {
        if (!strcmp(k->resource, "pods"))
            return pod_cols;
        if (!strcmp(k->resource, "services"))
            return svc_cols;
        if (!strcmp(k->resource, "nodes"))
            return node_cols;
        if (!strcmp(k->resource, "namespaces"))
            return ns_cols;
        if (!strcmp(k->resource, "events"))
            return ev_cols;
        if (!strcmp(k->resource, "configmaps"))
            return cm_cols;
        if (!strcmp(k->resource, "secrets"))
            return secret_cols;
        if (!strcmp(k->resource, "endpoints"))
            return ep_cols;
    }
    if (!strcmp(k->group, "apps") && !strcmp(k->resource, "deployments"))
        return deploy_cols;
    if (!strcmp(k->group, "apps") && !strcmp(k->resource, "replicasets"))
        return rs_cols;
    if (!strcmp(k->group, "coordination.k8s.io") && !strcmp(k->resource, "leases"))
        return lease_cols;
    if (!strcmp(k->resource, "gitrepositories"))
        return gitrepo_cols;
    return default_cols;
}

json_t *api_table_new(const struct schema_kind *k, const char *rv, bool with_columns)
{
    json_t *defs = json_array();
    if (with_columns) {
        for (const struct col *c = cols_for(k); c->name; c++)
            json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", c->name,
                                                  "type", c->type, "format", c->format,
                                                  "description", "", "priority", c->priority));
    }
    json_t *t = json_pack("{s:s,s:s,s:{},s:o,s:[]}", "kind", "Table", "apiVersion",
                          "meta.k8s.io/v1", "metadata", "columnDefinitions", defs, "rows");
    if (rv)
        json_object_set_new(json_object_get(t, "metadata"), "resourceVersion", json_string(rv));
    return t;
}

static json_t *age(const json_t *obj, const char *field, time_t now)
{
    const char *ts = jsonx_get_str(obj, field);
    time_t t;
    if (!ts || time_parse_rfc3339(ts, &t))
        return json_string("<unknown>");
    char buf[32];
    return json_string(time_human_age(now > t ? now - t : 0, buf, sizeof(buf)));
}

static json_t *str_or(const json_t *obj, const char *path, const char *def)
{
    const char *s = jsonx_get_str(obj, path);
    return json_string(s && *s ? s : def);
}

/* "a,b" of field f of every container; names=1 for names, else images. */
static json_t *containers_join(const json_t *spec, const char *f)
{
    char buf[1024] = "";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c) {
        const char *v = json_string_value(json_object_get(c, f));
        if (!v)
            continue;
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof(buf) - l, "%s%s", l ? "," : "", v);
    }
    return json_string(buf);
}

static json_t *selector_string(const json_t *m)
{
    char buf[1024] = "";
    const char *k;
    json_t *v;
    if (!json_is_object(m) || !json_object_size(m))
        return json_string("<none>");
    json_object_foreach((json_t *)m, k, v) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof(buf) - l, "%s%s=%s", l ? "," : "", k,
                 json_is_string(v) ? json_string_value(v) : "");
    }
    return json_string(buf);
}

static json_t *pod_status(const json_t *pod)
{
    if (jsonx_get(pod, "metadata.deletionTimestamp"))
        return json_string("Terminating");
    const char *reason = jsonx_get_str(pod, "status.reason");
    if (reason && *reason)
        return json_string(reason);
    size_t i;
    json_t *cs;
    const char *phase = jsonx_get_str(pod, "status.phase");
    json_array_foreach(jsonx_get(pod, "status.containerStatuses"), i, cs) {
        const char *w = jsonx_get_str(cs, "state.waiting.reason");
        if (w && *w)
            return json_string(w);
        const char *t = jsonx_get_str(cs, "state.terminated.reason");
        if (t && *t && (!phase || strcmp(phase, "Running")))
            return json_string(t);
    }
    return json_string(phase && *phase ? phase : "Pending");
}

static void pod_cells(json_t *cells, const json_t *pod, time_t now)
{
    long long ready = 0, total = 0, restarts = 0;
    size_t i;
    json_t *c;
    total = (long long)json_array_size(jsonx_get(pod, "spec.containers"));
    json_array_foreach(jsonx_get(pod, "status.containerStatuses"), i, c) {
        if (json_is_true(json_object_get(c, "ready")))
            ready++;
        restarts += json_integer_value(json_object_get(c, "restartCount"));
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%lld/%lld", ready, total);
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells, pod_status(pod));
    snprintf(buf, sizeof(buf), "%lld", restarts);
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells, age(pod, "metadata.creationTimestamp", now));
    json_array_append_new(cells, str_or(pod, "status.podIP", "<none>"));
    json_array_append_new(cells, str_or(pod, "spec.nodeName", "<none>"));
    json_array_append_new(cells, str_or(pod, "status.nominatedNodeName", "<none>"));
    json_array_append_new(cells, json_string("<none>"));
}

static void deploy_cells(json_t *cells, const json_t *d, time_t now, bool rs)
{
    long long want = jsonx_get_int(d, "spec.replicas", 1);
    long long ready = jsonx_get_int(d, "status.readyReplicas", 0);
    if (rs) {
        json_array_append_new(cells, json_integer(want));
        json_array_append_new(cells, json_integer(jsonx_get_int(d, "status.replicas", 0)));
        json_array_append_new(cells, json_integer(ready));
    } else {
        char buf[64];
        snprintf(buf, sizeof(buf), "%lld/%lld", ready, want);
        json_array_append_new(cells, json_string(buf));
        json_array_append_new(cells, json_integer(jsonx_get_int(d, "status.updatedReplicas", 0)));
        json_array_append_new(cells,
                              json_integer(jsonx_get_int(d, "status.availableReplicas", 0)));
    }
    json_array_append_new(cells, age(d, "metadata.creationTimestamp", now));
    const json_t *tspec = jsonx_get(d, "spec.template.spec");
    json_array_append_new(cells, containers_join(tspec, "name"));
    json_array_append_new(cells, containers_join(tspec, "image"));
    json_array_append_new(cells, selector_string(jsonx_get(d, "spec.selector.matchLabels")));
}

static void svc_cells(json_t *cells, const json_t *s, time_t now)
{
    json_array_append_new(cells, str_or(s, "spec.type", "ClusterIP"));
    json_array_append_new(cells, str_or(s, "spec.clusterIP", "<none>"));
    json_array_append_new(cells, json_string("<none>"));
    char buf[1024] = "";
    size_t i;
    json_t *p;
    json_array_foreach(jsonx_get(s, "spec.ports"), i, p) {
        size_t l = strlen(buf);
        long long port = json_integer_value(json_object_get(p, "port"));
        long long np = json_integer_value(json_object_get(p, "nodePort"));
        const char *proto = json_string_value(json_object_get(p, "protocol"));
        if (np)
            snprintf(buf + l, sizeof(buf) - l, "%s%lld:%lld/%s", l ? "," : "", port, np,
                     proto ? proto : "TCP");
        else
            snprintf(buf + l, sizeof(buf) - l, "%s%lld/%s", l ? "," : "", port,
                     proto ? proto : "TCP");
    }
    json_array_append_new(cells, json_string(*buf ? buf : "<none>"));
    json_array_append_new(cells, age(s, "metadata.creationTimestamp", now));
    json_array_append_new(cells, selector_string(jsonx_get(s, "spec.selector")));
}

static void node_cells(json_t *cells, const json_t *n, time_t now)
{
    const char *status = "Unknown";
    size_t i;
    json_t *c;
    json_array_foreach(jsonx_get(n, "status.conditions"), i, c) {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        if (type && !strcmp(type, "Ready") && st)
            status = !strcmp(st, "True") ? "Ready" : !strcmp(st, "False") ? "NotReady" : "Unknown";
    }
    char buf[128];
    snprintf(buf, sizeof(buf), "%s%s", status,
             json_is_true(jsonx_get(n, "spec.unschedulable")) ? ",SchedulingDisabled" : "");
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells, json_string("<none>"));
    json_array_append_new(cells, age(n, "metadata.creationTimestamp", now));
    json_array_append_new(cells, str_or(n, "status.nodeInfo.kubeletVersion", ""));
    const char *iip = "<none>", *eip = "<none>";
    json_array_foreach(jsonx_get(n, "status.addresses"), i, c) {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *addr = json_string_value(json_object_get(c, "address"));
        if (type && addr && !strcmp(type, "InternalIP"))
            iip = addr;
        if (type && addr && !strcmp(type, "ExternalIP"))
            eip = addr;
    }
    json_array_append_new(cells, json_string(iip));
    json_array_append_new(cells, json_string(eip));
    json_array_append_new(cells, str_or(n, "status.nodeInfo.osImage", "<unknown>"));
    json_array_append_new(cells, str_or(n, "status.nodeInfo.kernelVersion", "<unknown>"));
    json_array_append_new(cells, str_or(n, "status.nodeInfo.containerRuntimeVersion", "<unknown>"));
}

static void event_cells(json_t *cells, const json_t *e, time_t now)
{
    const char *f = jsonx_get_str(e, "lastTimestamp") ? "lastTimestamp"
                    : jsonx_get_str(e, "eventTime")   ? "eventTime"
                                                      : "metadata.creationTimestamp";
    json_array_append_new(cells, age(e, f, now));
    json_array_append_new(cells, str_or(e, "type", ""));
    json_array_append_new(cells, str_or(e, "reason", ""));
    char buf[512];
    const char *kind = jsonx_get_str(e, "involvedObject.kind");
    const char *name = jsonx_get_str(e, "involvedObject.name");
    char lower[128] = "";
    for (size_t i = 0; kind && kind[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)((kind[i] >= 'A' && kind[i] <= 'Z') ? kind[i] + 32 : kind[i]);
    snprintf(buf, sizeof(buf), "%s/%s", lower, name ? name : "");
    json_array_append_new(cells, json_string(buf));
    json_array_append_new(cells, str_or(e, "message", ""));
}

static void endpoints_cells(json_t *cells, const json_t *e, time_t now)
{
    char buf[1024] = "";
    size_t i, j, k;
    json_t *s, *a, *p;
    json_array_foreach(json_object_get(e, "subsets"), i, s) {
        json_array_foreach(json_object_get(s, "addresses"), j, a) {
            const char *ip = json_string_value(json_object_get(a, "ip"));
            json_t *ports = json_object_get(s, "ports");
            if (!json_array_size(ports)) {
                size_t l = strlen(buf);
                snprintf(buf + l, sizeof(buf) - l, "%s%s", l ? "," : "", ip ? ip : "");
            }
            json_array_foreach(ports, k, p) {
                size_t l = strlen(buf);
                snprintf(buf + l, sizeof(buf) - l, "%s%s:%lld", l ? "," : "", ip ? ip : "",
                         json_integer_value(json_object_get(p, "port")));
            }
        }
    }
    json_array_append_new(cells, json_string(*buf ? buf : "<none>"));
    json_array_append_new(cells, age(e, "metadata.creationTimestamp", now));
}

static void gitrepo_cells(json_t *cells, const json_t *g, time_t now)
{
    json_array_append_new(cells, str_or(g, "spec.url", ""));
    json_array_append_new(cells, age(g, "metadata.creationTimestamp", now));
    const json_t *ready = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(jsonx_get(g, "status.conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && !strcmp(t, "Ready"))
            ready = c;
    }
    json_array_append_new(cells, str_or(ready, "status", "Unknown"));
    json_array_append_new(cells, str_or(ready, "message", ""));
    json_array_append_new(cells, str_or(g, "status.lastAppliedRevision", ""));
}

void api_table_add_row(json_t *table, const struct schema_kind *k, const json_t *obj,
                       enum api_table_include inc, time_t now)
{
    const struct col *cols = cols_for(k);
    json_t *cells = json_array();
    if (cols != ev_cols)
        json_array_append_new(cells, str_or(obj, "metadata.name", ""));
    if (cols == pod_cols) {
        pod_cells(cells, obj, now);
    } else if (cols == deploy_cols || cols == rs_cols) {
        deploy_cells(cells, obj, now, cols == rs_cols);
    } else if (cols == svc_cols) {
        svc_cells(cells, obj, now);
    } else if (cols == node_cols) {
        node_cells(cells, obj, now);
    } else if (cols == ns_cols) {
        json_array_append_new(cells, str_or(obj, "status.phase", "Active"));
        json_array_append_new(cells, age(obj, "metadata.creationTimestamp", now));
    } else if (cols == ev_cols) {
        event_cells(cells, obj, now);
    } else if (cols == cm_cols || cols == secret_cols) {
        if (cols == secret_cols)
            json_array_append_new(cells, str_or(obj, "type", "Opaque"));
        json_array_append_new(cells,
                              json_integer((json_int_t)(json_object_size(json_object_get(obj, "data")) +
                                           json_object_size(json_object_get(obj, "binaryData")))));
        json_array_append_new(cells, age(obj, "metadata.creationTimestamp", now));
    } else if (cols == ep_cols) {
        endpoints_cells(cells, obj, now);
    } else if (cols == lease_cols) {
        json_array_append_new(cells, str_or(obj, "spec.holderIdentity", "<none>"));
        json_array_append_new(cells, age(obj, "metadata.creationTimestamp", now));
    } else if (cols == gitrepo_cols) {
        gitrepo_cells(cells, obj, now);
    } else {
        json_array_append_new(cells, str_or(obj, "metadata.creationTimestamp", ""));
    }
    json_t *row = json_pack("{s:o}", "cells", cells);
    if (inc == API_TABLE_OBJECT) {
        json_object_set_new(row, "object", json_deep_copy(obj));
    } else if (inc == API_TABLE_METADATA) {
        json_t *md = json_deep_copy(json_object_get(obj, "metadata"));
        json_object_del(md, "managedFields");
        json_object_set_new(row, "object",
                            json_pack("{s:s,s:s,s:o}", "kind", "PartialObjectMetadata",
                                      "apiVersion", "meta.k8s.io/v1", "metadata",
                                      md ? md : json_object()));
    }
    json_array_append_new(json_object_get(table, "rows"), row);
}
