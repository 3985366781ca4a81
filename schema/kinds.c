/* kinds — the static table of kinds the API serves. Lookups are linear: the table is a
 * dozen entries, which is faster than hashing and needs no initialisation. */
#include "schema/kinds.h"

#include <stdio.h>
#include <string.h>

static const struct schema_kind kinds[] = {
    {"", "v1", "Namespace", "NamespaceList", "namespaces", "namespace", {"ns", NULL}, false, false,
     {"status", NULL}},
    {"", "v1", "Pod", "PodList", "pods", "pod", {"po", NULL}, true, true,
     {"status", "log", "binding", NULL}},
    {"", "v1", "Service", "ServiceList", "services", "service", {"svc", NULL}, true, true,
     {"status", NULL}},
    {"", "v1", "Endpoints", "EndpointsList", "endpoints", "endpoints", {"ep", NULL}, true, false,
     {NULL}},
    {"", "v1", "ConfigMap", "ConfigMapList", "configmaps", "configmap", {"cm", NULL}, true, false,
     {NULL}},
    {"", "v1", "Secret", "SecretList", "secrets", "secret", {NULL}, true, false, {NULL}},
    {"", "v1", "Node", "NodeList", "nodes", "node", {"no", NULL}, false, false, {"status", NULL}},
    {"", "v1", "Event", "EventList", "events", "event", {"ev", NULL}, true, false, {NULL}},
    {"apps", "v1", "Deployment", "DeploymentList", "deployments", "deployment", {"deploy", NULL},
     true, true, {"status", "scale", NULL}},
    {"apps", "v1", "ReplicaSet", "ReplicaSetList", "replicasets", "replicaset", {"rs", NULL}, true,
     true, {"status", "scale", NULL}},
    {"coordination.k8s.io", "v1", "Lease", "LeaseList", "leases", "lease", {NULL}, true, false,
     {NULL}},
    {"bosun.io", "v1", "GitRepository", "GitRepositoryList", "gitrepositories", "gitrepository",
     {"gitrepo", NULL}, true, false, {"status", NULL}},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct schema_kind *schema_kind_by_gvk(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return NULL;
    const char *slash = strchr(api_version, '/');
    const char *group = slash ? api_version : "";
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    const char *version = slash ? slash + 1 : api_version;
    /* "core/v1" is not a valid apiVersion: the core group is spelled without a group. */
    if (slash && glen == 0)
        return NULL;
    for (size_t i = 0; i < NKINDS; i++) {
        const struct schema_kind *k = &kinds[i];
        if (strlen(k->group) == glen && strncmp(k->group, group, glen) == 0 &&
            strcmp(k->version, version) == 0 && strcmp(k->kind, kind) == 0)
            return k;
    }
    return NULL;
}

const struct schema_kind *schema_kind_by_resource(const char *group, const char *version,
                                                  const char *resource)
{
    if (!version || !resource)
        return NULL;
    if (!group)
        group = "";
    for (size_t i = 0; i < NKINDS; i++) {
        const struct schema_kind *k = &kinds[i];
        if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0 &&
            strcmp(k->resource, resource) == 0)
            return k;
    }
    return NULL;
}

const struct schema_kind *schema_kinds(size_t *n)
{
    *n = NKINDS;
    return kinds;
}

const char *schema_kind_api_version(const struct schema_kind *k, char *buf, size_t len)
{
    if (!buf || len == 0)
        return NULL;
    if (k->group[0])
        snprintf(buf, len, "%s/%s", k->group, k->version);
    else
        snprintf(buf, len, "%s", k->version);
    return buf;
}
