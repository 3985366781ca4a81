#include "reconcilerd/api/table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jscan.h"
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
        /* wraps instead of overflowing, as the raw path does */
        restarts = (long long)((unsigned long long)restarts +
                               (unsigned long long)json_integer_value(json_object_get(c, "restartCount")));
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

/* One row (a new reference): cells, and the object as inc asks. */
static json_t *row_of(const struct schema_kind *k, const json_t *obj, enum api_table_include inc,
                      time_t now)
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
    return row;
}

void api_table_add_row(json_t *table, const struct schema_kind *k, const json_t *obj,
                       enum api_table_include inc, time_t now)
{
    json_array_append_new(json_object_get(table, "rows"), row_of(k, obj, inc, now));
}

/* ---- rows from the stored bytes ------------------------------------------------------
 *
 * A Table of 100k pods cannot afford a parse per pod: the pod's row is read from its JSON
 * text with lib/jscan and written straight out. Every choice below mirrors pod_cells and
 * pod_status on the parsed tree (jsonx_get semantics: a path step that is missing or not
 * an object means absent; the last of duplicate keys wins), and the unit test and
 * fuzz_table_row hold the two paths to the same bytes. */

/* s as a JSON string the way jansson writes one (compact, UTF-8 kept as is). */
static void put_json_str(struct strbuf *out, const char *s, size_t n)
{
    strbuf_add(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        strbuf_add(out, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            strbuf_add(out, "\\\"", 2);
            break;
        case '\\':
            strbuf_add(out, "\\\\", 2);
            break;
        case '\b':
            strbuf_add(out, "\\b", 2);
            break;
        case '\f':
            strbuf_add(out, "\\f", 2);
            break;
        case '\n':
            strbuf_add(out, "\\n", 2);
            break;
        case '\r':
            strbuf_add(out, "\\r", 2);
            break;
        case '\t':
            strbuf_add(out, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            strbuf_add(out, esc, 6);
        }
    }
    strbuf_add(out, s + run, n - run);
    strbuf_add(out, "\"", 1);
}

/* A decoded string value: in buf when it fits, else in *heap (the caller frees it). NULL
 * on ENOMEM. */
static const char *str_value(const struct jscan_val *v, char *buf, size_t cap, char **heap,
                             size_t *len)
{
    *heap = NULL;
    if (v->len > cap) {
        *heap = malloc(v->len);
        if (!*heap)
            return NULL;
        buf = *heap;
        cap = v->len;
    }
    *len = jscan_str_decode(v, buf, cap);
    return buf;
}

/* A string cell: v's value when v is a non-empty string, else def (str_or). */
static void put_str_or(struct strbuf *out, const struct jscan_val *v, const char *def)
{
    if (v->type != JSCAN_STRING || v->len <= 2) {
        put_json_str(out, def, strlen(def));
    } else if (jscan_str_plain(v)) {
        strbuf_add(out, v->p, v->len); /* nothing to escape: the text is the output */
    } else {
        char buf[256], *heap;
        size_t n;
        const char *s = str_value(v, buf, sizeof(buf), &heap, &n);
        if (s)
            put_json_str(out, s, n);
        else
            out->oom = true;
        free(heap);
    }
}

static bool str_nonempty(const struct jscan_val *v)
{
    return v->type == JSCAN_STRING && v->len > 2;
}

/* The age cell of a timestamp value (age()). */
static void put_age(struct strbuf *out, const struct jscan_val *v, time_t now)
{
    time_t t;
    char buf[64], *heap = NULL;
    size_t n;
    const char *ts = v->type == JSCAN_STRING ? str_value(v, buf, sizeof(buf), &heap, &n) : NULL;
    if (!ts || time_parse_rfc3339(ts, &t)) {
        put_json_str(out, "<unknown>", 9);
    } else {
        char ab[32];
        time_human_age(now > t ? now - t : 0, ab, sizeof(ab));
        put_json_str(out, ab, strlen(ab));
    }
    free(heap);
}

#define KEY_IS(k, lit) jscan_str_eq(k, lit, sizeof(lit) - 1)

/* What the pod columns read, found in one pass (jscan_find). */
enum {
    P_METADATA,
    P_NAME,
    P_CTIME,
    P_DELETION,
    P_MANAGED,
    P_CONTAINERS,
    P_NODE,
    P_REASON,
    P_PHASE,
    P_IP,
    P_NOMINATED,
    P_CSTATUSES,
    P_COUNT
};
static const char *const pod_paths[P_COUNT] = {
    "metadata",          "metadata.name",   "metadata.creationTimestamp",
    "metadata.deletionTimestamp", "metadata.managedFields", "spec.containers",
    "spec.nodeName",     "status.reason",   "status.phase",
    "status.podIP",      "status.nominatedNodeName", "status.containerStatuses",
};

struct pod_scan {
    struct jscan_val root;
    struct jscan_want f[P_COUNT];
};

/* The pod's fields; -EINVAL when the text is not well-formed JSON or not an object or
 * array (the whole of it is checked, as a parse would). */
static int pod_scan(const char *json, size_t len, struct pod_scan *ps)
{
    for (int i = 0; i < P_COUNT; i++)
        ps->f[i].path = pod_paths[i];
    if (jscan_find(json, len, &ps->root, ps->f, P_COUNT) < 0)
        return -EINVAL;
    if (ps->root.type != JSCAN_OBJECT && ps->root.type != JSCAN_ARRAY)
        return -EINVAL; /* json_loadb wants an object or an array */
    return 0;
}

/* What a container status contributes: its readiness, restarts and state reasons. */
enum { C_READY, C_RESTARTS, C_WAITING, C_TERMINATED, C_COUNT };

static void cstatus_scan(const struct jscan_val *cs, struct jscan_want *f)
{
    static const char *const paths[C_COUNT] = {"ready", "restartCount", "state.waiting.reason",
                                               "state.terminated.reason"};
    for (int i = 0; i < C_COUNT; i++)
        f[i].path = paths[i];
    /* checked text: this cannot fail; an element that is not an object has none of them */
    if (jscan_find(cs->p, cs->len, NULL, f, C_COUNT) < 0)
        for (int i = 0; i < C_COUNT; i++)
            f[i].found = false;
}

/* pod_status: the status cell. */
static void put_pod_status(struct strbuf *out, const struct pod_scan *ps)
{
    const struct jscan_val *phase = &ps->f[P_PHASE].val;
    if (ps->f[P_DELETION].found) { /* any value, null included: jsonx_get finds it */
        put_json_str(out, "Terminating", 11);
        return;
    }
    if (str_nonempty(&ps->f[P_REASON].val)) {
        put_str_or(out, &ps->f[P_REASON].val, "");
        return;
    }
    /* a terminated reason counts unless the phase is Running (a missing or non-string
     * phase is not Running) */
    bool running = phase->type == JSCAN_STRING && KEY_IS(phase, "Running");
    struct jscan_iter it;
    struct jscan_val cs;
    jscan_iter_init(&it, &ps->f[P_CSTATUSES].val);
    while (jscan_next_elem(&it, &cs) == 1) {
        struct jscan_want c[C_COUNT];
        cstatus_scan(&cs, c);
        if (str_nonempty(&c[C_WAITING].val)) {
            put_str_or(out, &c[C_WAITING].val, "");
            return;
        }
        if (str_nonempty(&c[C_TERMINATED].val) && !running) {
            put_str_or(out, &c[C_TERMINATED].val, "");
            return;
        }
    }
    put_str_or(out, phase, "Pending");
}

/* The metadata object as it is written, without its managedFields member: the stored
 * text is jansson's compact output, so cutting the member and one comma out of it is
 * what dumping the object without that member gives. */
static void put_metadata(struct strbuf *out, const struct pod_scan *ps)
{
    const struct jscan_want *md = &ps->f[P_METADATA], *mf = &ps->f[P_MANAGED];
    if (!md->found) {
        strbuf_str(out, "{}");
        return;
    }
    if (!mf->found) {
        strbuf_add(out, md->val.p, md->val.len);
        return;
    }
    const char *cut = mf->key.p, *cut_end = mf->val.p + mf->val.len;
    const char *mend = md->val.p + md->val.len;
    if (cut[-1] == ',')
        cut--; /* a member before it: drop the comma that precedes it */
    else if (cut_end < mend && *cut_end == ',')
        cut_end++; /* the first member: drop the comma that follows it */
    strbuf_add(out, md->val.p, (size_t)(cut - md->val.p));
    strbuf_add(out, cut_end, (size_t)(mend - cut_end));
}

static int pod_row_raw(struct strbuf *out, const char *json, size_t len,
                       enum api_table_include inc, time_t now)
{
    struct pod_scan ps;
    if (pod_scan(json, len, &ps) < 0)
        return -EINVAL;
    long long ready = 0, restarts = 0;
    long long total = (long long)jscan_array_size(&ps.f[P_CONTAINERS].val);
    struct jscan_iter it;
    struct jscan_val cs;
    jscan_iter_init(&it, &ps.f[P_CSTATUSES].val);
    while (jscan_next_elem(&it, &cs) == 1) {
        struct jscan_want c[C_COUNT];
        cstatus_scan(&cs, c);
        if (c[C_READY].val.type == JSCAN_TRUE)
            ready++;
        long long n;
        if (jscan_int(&c[C_RESTARTS].val, &n))
            restarts = (long long)((unsigned long long)restarts + (unsigned long long)n);
    }
    char buf[64];
    strbuf_str(out, "{\"cells\":[");
    put_str_or(out, &ps.f[P_NAME].val, "");
    snprintf(buf, sizeof(buf), ",\"%lld/%lld\",", ready, total);
    strbuf_str(out, buf);
    put_pod_status(out, &ps);
    snprintf(buf, sizeof(buf), ",\"%lld\",", restarts);
    strbuf_str(out, buf);
    put_age(out, &ps.f[P_CTIME].val, now);
    strbuf_add(out, ",", 1);
    put_str_or(out, &ps.f[P_IP].val, "<none>");
    strbuf_add(out, ",", 1);
    put_str_or(out, &ps.f[P_NODE].val, "<none>");
    strbuf_add(out, ",", 1);
    put_str_or(out, &ps.f[P_NOMINATED].val, "<none>");
    strbuf_str(out, ",\"<none>\"]");
    if (inc == API_TABLE_OBJECT) {
        /* the stored text is jansson's compact output already: a copy of it is what
         * dumping a deep copy of the parsed object gives */
        strbuf_str(out, ",\"object\":");
        strbuf_add(out, ps.root.p, ps.root.len);
    } else if (inc == API_TABLE_METADATA) {
        strbuf_str(out, ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":"
                        "\"meta.k8s.io/v1\",\"metadata\":");
        put_metadata(out, &ps);
        strbuf_add(out, "}", 1);
    }
    strbuf_add(out, "}", 1);
    return 0;
}

int api_table_row_raw(struct strbuf *out, const struct schema_kind *k, const char *json,
                      size_t len, enum api_table_include inc, time_t now)
{
    if (cols_for(k) == pod_cols)
        return pod_row_raw(out, json, len, inc, now);
    json_t *obj = json_loadb(json, len, 0, NULL);
    if (!obj)
        return -EINVAL;
    json_t *row = row_of(k, obj, inc, now);
    char *s = row ? json_dumps(row, JSON_COMPACT) : NULL;
    json_decref(row);
    json_decref(obj);
    if (!s)
        return -ENOMEM;
    strbuf_str(out, s);
    free(s);
    return 0;
}
