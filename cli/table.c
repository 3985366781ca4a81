#include "cli/table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/util.h"
#include "lib/jsonx.h"

#define COL_GAP 3

int cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    return cli_table_add(t, headers);
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
    char **nc = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*nc));
    if (!nc)
        return -ENOMEM;
    t->cells = nc;
    char **row = &t->cells[t->nrows * t->ncols];
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "");
        if (!row[i]) {
            for (size_t j = 0; j < i; j++)
                free(row[j]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

char *cli_table_render(const struct cli_table *t)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
    if (!w)
        return NULL;
    size_t total = 1;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);
            if (l > w[c])
                w[c] = l;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        total += w[c] + COL_GAP;
    total = total * t->nrows + 1;
    char *out = malloc(total);
    if (!out) {
        free(w);
        return NULL;
    }
    size_t off = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t l = strlen(s);
            memcpy(out + off, s, l);
            off += l;
            if (c + 1 < t->ncols) {
                size_t pad = w[c] - l + COL_GAP;
                memset(out + off, ' ', pad);
                off += pad;
            }
        }
        out[off++] = '\n';
    }
    out[off] = '\0';
    free(w);
    return out;
}

void cli_table_free(struct cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const char *cli_pod_status(const json_t *pod, char *buf, size_t len)
{
    if (jsonx_get_str(pod, "metadata.deletionTimestamp")) {
        snprintf(buf, len, "Terminating");
        return buf;
    }
    const char *reason = jsonx_get_str(pod, "status.reason");
    const char *phase = jsonx_get_str(pod, "status.phase");
    const json_t *cs = jsonx_get(pod, "status");
    cs = cs ? json_object_get(cs, "containerStatuses") : NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(cs, i, c)
    {
        const char *w = jsonx_get_str(c, "state.waiting.reason");
        const char *t = jsonx_get_str(c, "state.terminated.reason");
        if (w && *w) {
            snprintf(buf, len, "%s", w);
            return buf;
        }
        if (t && *t && (!phase || strcmp(phase, "Succeeded") != 0)) {
            snprintf(buf, len, "%s", t);
            return buf;
        }
    }
    snprintf(buf, len, "%s", reason && *reason ? reason : phase ? phase : "Pending");
    return buf;
}

static void pod_ready(const json_t *pod, char *ready, size_t rlen, char *restarts, size_t relen)
{
    const json_t *spec_cs = jsonx_get(pod, "spec");
    spec_cs = spec_cs ? json_object_get(spec_cs, "containers") : NULL;
    const json_t *st = jsonx_get(pod, "status");
    const json_t *cs = st ? json_object_get(st, "containerStatuses") : NULL;
    long long nready = 0, nrestarts = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(cs, i, c)
    {
        if (json_is_true(json_object_get(c, "ready")))
            nready++;
        nrestarts += jsonx_get_int(c, "restartCount", 0);
    }
    size_t total = json_array_size(spec_cs);
    if (total < json_array_size(cs))
        total = json_array_size(cs);
    snprintf(ready, rlen, "%lld/%zu", nready, total);
    snprintf(restarts, relen, "%lld", nrestarts);
}

static void service_ports(const json_t *svc, char *buf, size_t len)
{
    const json_t *ports = jsonx_get(svc, "spec");
    ports = ports ? json_object_get(ports, "ports") : NULL;
    size_t off = 0;
    buf[0] = '\0';
    size_t i;
    const json_t *p;
    json_array_foreach(ports, i, p)
    {
        const char *proto = jsonx_get_str(p, "protocol");
        long long port = jsonx_get_int(p, "port", 0);
        long long np = jsonx_get_int(p, "nodePort", 0);
        int n;
        if (np > 0)
            n = snprintf(buf + off, len - off, "%s%lld:%lld/%s", i ? "," : "", port, np,
                         proto ? proto : "TCP");
        else
            n = snprintf(buf + off, len - off, "%s%lld/%s", i ? "," : "", port,
                         proto ? proto : "TCP");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, len, "<none>");
}

static const char *cond_status(const json_t *obj, const char *type)
{
    const json_t *conds = jsonx_get(obj, "status");
    conds = conds ? json_object_get(conds, "conditions") : NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *t = jsonx_get_str(c, "type");
        if (t && strcmp(t, type) == 0)
            return jsonx_get_str(c, "status");
    }
    return NULL;
}

static const char *node_ip(const json_t *node)
{
    const json_t *addrs = jsonx_get(node, "status");
    addrs = addrs ? json_object_get(addrs, "addresses") : NULL;
    size_t i;
    const json_t *a;
    json_array_foreach(addrs, i, a)
    {
        const char *t = jsonx_get_str(a, "type");
        if (t && strcmp(t, "InternalIP") == 0)
            return jsonx_get_str(a, "address");
    }
    return "<none>";
}

static const char *or_none(const char *s)
{
    return s && *s ? s : "<none>";
}

enum table_kind { TK_OTHER, TK_POD, TK_DEPLOY, TK_RS, TK_SVC, TK_NODE, TK_NS, TK_GITREPO };

static enum table_kind table_kind_of(const struct schema_kind *k)
{
    static const struct {
        const char *resource;
        enum table_kind tk;
    } m[] = {{"pods", TK_POD},         {"deployments", TK_DEPLOY},
             {"replicasets", TK_RS},   {"services", TK_SVC},
             {"nodes", TK_NODE},       {"namespaces", TK_NS},
             {"gitrepositories", TK_GITREPO}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (strcmp(k->resource, m[i].resource) == 0)
            return m[i].tk;
    }
    return TK_OTHER;
}

int cli_table_for(const struct schema_kind *k, const json_t *items, bool wide, bool show_ns,
                  time_t now, struct cli_table *out)
{
    enum table_kind tk = table_kind_of(k);
    const char *hdr[10];
    size_t n = 0;
    if (show_ns)
        hdr[n++] = "NAMESPACE";
    hdr[n++] = "NAME";
    switch (tk) {
    case TK_POD:
        hdr[n++] = "READY";
        hdr[n++] = "STATUS";
        hdr[n++] = "RESTARTS";
        hdr[n++] = "AGE";
        if (wide) {
            hdr[n++] = "IP";
            hdr[n++] = "NODE";
        }
        break;
    case TK_DEPLOY:
        hdr[n++] = "READY";
        hdr[n++] = "UP-TO-DATE";
        hdr[n++] = "AVAILABLE";
        hdr[n++] = "AGE";
        break;
    case TK_RS:
        hdr[n++] = "DESIRED";
        hdr[n++] = "CURRENT";
        hdr[n++] = "READY";
        hdr[n++] = "AGE";
        break;
    case TK_SVC:
        hdr[n++] = "TYPE";
        hdr[n++] = "CLUSTER-IP";
        hdr[n++] = "PORT(S)";
        hdr[n++] = "AGE";
        break;
    case TK_NODE:
        hdr[n++] = "STATUS";
        hdr[n++] = "AGE";
        hdr[n++] = "VERSION";
        if (wide)
            hdr[n++] = "INTERNAL-IP";
        break;
    case TK_NS:
        hdr[n++] = "STATUS";
        hdr[n++] = "AGE";
        break;
    case TK_GITREPO:
        hdr[n++] = "READY";
        hdr[n++] = "REVISION";
        hdr[n++] = "AGE";
        break;
    case TK_OTHER:
        hdr[n++] = "AGE";
        break;
    }
    int r = cli_table_init(out, n, hdr);
    if (r < 0)
        return r;
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        char age[32], a[64], b[64], c[64], d[512];
        const char *row[10];
        size_t m = 0;
        if (show_ns)
            row[m++] = jsonx_get_str(it, "metadata.namespace");
        row[m++] = jsonx_get_str(it, "metadata.name");
        cli_age(jsonx_get_str(it, "metadata.creationTimestamp"), now, age, sizeof(age));
        switch (tk) {
        case TK_POD:
            pod_ready(it, a, sizeof(a), c, sizeof(c));
            row[m++] = a;
            row[m++] = cli_pod_status(it, b, sizeof(b));
            row[m++] = c;
            row[m++] = age;
            if (wide) {
                row[m++] = or_none(jsonx_get_str(it, "status.podIP"));
                row[m++] = or_none(jsonx_get_str(it, "spec.nodeName"));
            }
            break;
        case TK_DEPLOY:
            snprintf(a, sizeof(a), "%lld/%lld", jsonx_get_int(it, "status.readyReplicas", 0),
                     jsonx_get_int(it, "spec.replicas", 1));
            snprintf(b, sizeof(b), "%lld", jsonx_get_int(it, "status.updatedReplicas", 0));
            snprintf(c, sizeof(c), "%lld", jsonx_get_int(it, "status.availableReplicas", 0));
            row[m++] = a;
            row[m++] = b;
            row[m++] = c;
            row[m++] = age;
            break;
        case TK_RS:
            snprintf(a, sizeof(a), "%lld", jsonx_get_int(it, "spec.replicas", 1));
            snprintf(b, sizeof(b), "%lld", jsonx_get_int(it, "status.replicas", 0));
            snprintf(c, sizeof(c), "%lld", jsonx_get_int(it, "status.readyReplicas", 0));
            row[m++] = a;
            row[m++] = b;
            row[m++] = c;
            row[m++] = age;
            break;
        case TK_SVC: {
            const char *type = jsonx_get_str(it, "spec.type");
            row[m++] = type ? type : "ClusterIP";
            row[m++] = or_none(jsonx_get_str(it, "spec.clusterIP"));
            service_ports(it, d, sizeof(d));
            row[m++] = d;
            row[m++] = age;
            break;
        }
        case TK_NODE: {
            const char *ready = cond_status(it, "Ready");
            snprintf(a, sizeof(a), "%s",
                     !ready                         ? "Unknown"
                     : strcmp(ready, "True") == 0   ? "Ready"
                     : strcmp(ready, "False") == 0  ? "NotReady"
                                                    : "Unknown");
            if (json_is_true(jsonx_get(it, "spec.unschedulable")))
                strcat(a, ",SchedulingDisabled");
            row[m++] = a;
            row[m++] = age;
            row[m++] = or_none(jsonx_get_str(it, "status.nodeInfo.kubeletVersion"));
            if (wide)
                row[m++] = node_ip(it);
            break;
        }
        case TK_NS: {
            const char *phase = jsonx_get_str(it, "status.phase");
            row[m++] = phase ? phase : "Active";
            row[m++] = age;
            break;
        }
        case TK_GITREPO: {
            const char *ready = cond_status(it, "Ready");
            row[m++] = ready ? ready : "Unknown";
            row[m++] = or_none(jsonx_get_str(it, "status.lastAppliedRevision"));
            row[m++] = age;
            break;
        }
        case TK_OTHER:
            row[m++] = age;
            break;
        }
        if ((r = cli_table_add(out, row)) < 0) {
            cli_table_free(out);
            return r;
        }
    }
    return 0;
}
