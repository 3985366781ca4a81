/* kinds — the registry of kinds the API serves (the first wave plus bosun.io/v1
 * GitRepository): how a kind maps to its resource path, scope, names and verbs. The
 * registry is static data; pointers returned stay valid for the process lifetime. */
#ifndef BOSUN_SCHEMA_KINDS_H
#define BOSUN_SCHEMA_KINDS_H

#include <stdbool.h>
#include <stddef.h>

struct schema_kind {
    const char *group;        /* "" for core, "apps", "coordination.k8s.io", "bosun.io" */
    const char *version;      /* "v1" */
    const char *kind;         /* "Deployment" */
    const char *list_kind;    /* "DeploymentList" */
    const char *resource;     /* plural: "deployments" */
    const char *singular;     /* "deployment" */
    const char *short_names[4]; /* NULL-terminated: {"deploy", NULL} */
    bool namespaced;
    bool in_all_category;     /* listed by `kubectl get all` */
    const char *subresources[4]; /* NULL-terminated: "status", "scale", "log", "binding" */
};

/* By apiVersion ("v1", "apps/v1", "bosun.io/v1") and kind; NULL when not served. */
const struct schema_kind *schema_kind_by_gvk(const char *api_version, const char *kind);
/* By group ("" = core), version and plural resource; NULL when not served. */
const struct schema_kind *schema_kind_by_resource(const char *group, const char *version,
                                                  const char *resource);
/* All served kinds; *n gets their count. */
const struct schema_kind *schema_kinds(size_t *n);
/* "apps/v1" or "v1" for k; writes into buf. */
const char *schema_kind_api_version(const struct schema_kind *k, char *buf, size_t len);

#endif
