#include "proxy/svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"

static const char *str_or(const json_t *o, const char *path, const char *def)
{
    const char *s = jsonx_get_str(o, path);
    return s ? s : def;
}

static const json_t *find_endpoints(const json_t *endpoints, const char *ns, const char *name)
{
    size_t i;
    const json_t *ep;
    json_array_foreach(endpoints, i, ep)
    {
        if (strcmp(str_or(ep, "metadata.namespace", ""), ns) == 0 &&
            strcmp(str_or(ep, "metadata.name", ""), name) == 0)
            return ep;
    }
    return NULL;
}

static int backend_cmp(const void *a, const void *b)
{
    const struct proxy_backend *x = a, *y = b;
    int c = strcmp(x->ip, y->ip);
    if (c)
        return c;
    return (x->port > y->port) - (x->port < y->port);
}

static int route_cmp(const void *a, const void *b)
{
    const struct proxy_route *x = a, *y = b;
    if (x->port != y->port)
        return (x->port > y->port) - (x->port < y->port);
    return strcmp(x->name, y->name);
}

/* The endpoint port of one subset matching the service port name; -1 when none. */
static int subset_port(const json_t *subset, const char *port_name, size_t svc_nports)
{
    const json_t *ports = json_object_get(subset, "ports");
    size_t i;
    const json_t *p;
    json_array_foreach(ports, i, p)
    {
        const char *proto = str_or(p, "protocol", "TCP");
        if (strcmp(proto, "TCP") != 0)
            continue;
        const char *name = str_or(p, "name", "");
        if (strcmp(name, port_name) == 0 ||
            (svc_nports == 1 && json_array_size(ports) == 1 && !*port_name))
            return (int)jsonx_get_int(p, "port", -1);
    }
    return -1;
}

static int add_backends(const json_t *ep, const char *port_name, size_t svc_nports,
                        struct proxy_route *rt)
{
    const json_t *subsets = json_object_get(ep, "subsets");
    size_t i;
    const json_t *ss;
    json_array_foreach(subsets, i, ss)
    {
        int port = subset_port(ss, port_name, svc_nports);
        if (port <= 0 || port > 65535)
            continue;
        const json_t *addrs = json_object_get(ss, "addresses");
        size_t j;
        const json_t *a;
        json_array_foreach(addrs, j, a)
        {
            const char *ip = jsonx_get_str(a, "ip");
            if (!ip || strlen(ip) >= sizeof(rt->backends[0].ip))
                continue;
            struct proxy_backend *nb = realloc(rt->backends, (rt->n + 1) * sizeof(*nb));
            if (!nb)
                return -ENOMEM;
            rt->backends = nb;
            snprintf(nb[rt->n].ip, sizeof(nb[rt->n].ip), "%s", ip);
            nb[rt->n].port = port;
            rt->n++;
        }
    }
    if (rt->n > 1)
        qsort(rt->backends, rt->n, sizeof(*rt->backends), backend_cmp);
    return 0;
}

int proxy_routes_build(const json_t *services, const json_t *endpoints, struct proxy_route **out,
                       size_t *n, struct bosun_err *err)
{
    struct proxy_route *v = NULL;
    size_t nv = 0;
    int r = 0;
    size_t i;
    const json_t *svc;
    json_array_foreach(services, i, svc)
    {
        const char *ns = str_or(svc, "metadata.namespace", "");
        const char *name = str_or(svc, "metadata.name", "");
        const json_t *ports = jsonx_get(svc, "spec");
        ports = ports ? json_object_get(ports, "ports") : NULL;
        const json_t *ep = find_endpoints(endpoints, ns, name);
        size_t j;
        const json_t *p;
        json_array_foreach(ports, j, p)
        {
            long long np = jsonx_get_int(p, "nodePort", 0);
            if (np <= 0 || np > 65535)
                continue;
            if (strcmp(str_or(p, "protocol", "TCP"), "TCP") != 0)
                continue;
            const char *pname = str_or(p, "name", "");
            struct proxy_route *nr = realloc(v, (nv + 1) * sizeof(*nr));
            if (!nr) {
                r = err_set(err, -ENOMEM, "proxy: out of memory");
                goto out;
            }
            v = nr;
            struct proxy_route *rt = &v[nv++];
            memset(rt, 0, sizeof(*rt));
            rt->port = (int)np;
            char label[64];
            if (*pname)
                snprintf(label, sizeof(label), "%s", pname);
            else
                snprintf(label, sizeof(label), "%lld", jsonx_get_int(p, "port", 0));
            if (asprintf(&rt->name, "%s/%s:%s", ns, name, label) < 0) {
                rt->name = NULL;
                r = err_set(err, -ENOMEM, "proxy: out of memory");
                goto out;
            }
            if (ep && add_backends(ep, pname, json_array_size(ports), rt) < 0) {
                r = err_set(err, -ENOMEM, "proxy: out of memory");
                goto out;
            }
        }
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), route_cmp);
    /* one route per port: the first by name wins */
    size_t w = 0;
    for (size_t k = 0; k < nv; k++) {
        if (w > 0 && v[w - 1].port == v[k].port) {
            free(v[k].name);
            free(v[k].backends);
            continue;
        }
        v[w++] = v[k];
    }
    nv = w;
out:
    if (r < 0) {
        proxy_routes_free(v, nv);
        return r;
    }
    *out = v;
    *n = nv;
    return 0;
}
