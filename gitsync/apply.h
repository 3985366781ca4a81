/* apply — applies collected manifests to the API and prunes what Git no longer has.
 *
 * Order: Namespaces, then ConfigMaps and Secrets, then Services, then everything else
 * (collection order within a rank); prune in the reverse order. Every object is applied
 * with client-side server-side-apply semantics (see lib/jsonmerge.h): GET the live object; absent
 * -> POST the applied configuration; present -> compute the desired object from the last
 * applied configuration (annotation bosun.io/last-applied), the new one and the live one,
 * and PUT it with the live resourceVersion only when it differs (a 409 re-reads and
 * retries). The applied configuration carries the label
 * app.kubernetes.io/managed-by=bosun-gitsync and the annotation
 * bosun.io/source=<repo>@<commit>:<file>, so Git owns them too. */
#ifndef BOSUN_GITSYNC_APPLY_H
#define BOSUN_GITSYNC_APPLY_H

#include <jansson.h>
#include <stddef.h>

#include "gitsync/collect.h"
#include "lib/err.h"
#include "lib/httpc.h"
#include "schema/kinds.h"

#define GITSYNC_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define GITSYNC_MANAGER "bosun-gitsync"
#define GITSYNC_SOURCE_ANNOTATION "bosun.io/source"
#define GITSYNC_SYSTEM_NS "bosun-system"
#define GITSYNC_CONFLICT_RETRIES 5

/* 0 Namespace, 1 ConfigMap/Secret, 2 Service, 3 everything else. */
int gitsync_order_rank(const char *group, const char *kind);

/* Sorts objs into apply order (stable). */
void gitsync_order_objects(struct gitsync_obj *objs, size_t n);

/* "/api/v1/namespaces/default/services/web" (name NULL: the collection). ns is ignored
 * for cluster-scoped kinds. Returns 0 or -ENAMETOOLONG. */
int gitsync_resource_path(const struct schema_kind *k, const char *ns, const char *name,
                          char *buf, size_t len);

/* The configuration gitsync applies for o: the manifest plus the managed-by label and
 * the source annotation "<source>:<file>". New reference, NULL on ENOMEM. */
json_t *gitsync_applied_config(const struct gitsync_obj *o, const char *source);

/* Inventory of objs: [{apiVersion, kind, namespace (namespaced only), name}] in apply
 * order. New reference. */
json_t *gitsync_inventory(const struct gitsync_obj *objs, size_t n);

enum gitsync_apply_result { GITSYNC_UNCHANGED, GITSYNC_CREATED, GITSYNC_UPDATED };

/* Applies one object. applied: from gitsync_applied_config (borrowed). On failure err
 * holds the API's message; *field (may be NULL) gets the first field the API blamed
 * (malloc'd, caller frees). */
int gitsync_apply_object(struct httpc *c, const struct schema_kind *k, const json_t *applied,
                         enum gitsync_apply_result *res, char **field, struct bosun_err *err);

/* Makes sure namespace name exists (POST when GET says 404). */
int gitsync_ensure_namespace(struct httpc *c, const char *name, struct bosun_err *err);

/* Deletes, in reverse apply order, the objects of old_inv missing from new_inv that the
 * API still has and that carry the managed-by label. Never deletes the namespaces
 * bosun-system, default and kube-system, nor the GitRepository self_ns/self_name.
 * *deleted gets how many were deleted. Stops at the first failure. */
int gitsync_prune(struct httpc *c, const json_t *old_inv, const json_t *new_inv,
                  const char *self_ns, const char *self_name, size_t *deleted,
                  struct bosun_err *err);

/* Same identity (apiVersion group, kind, namespace, name) in two inventory entries. */
int gitsync_inventory_same(const json_t *a, const json_t *b);

/* Fills err from an API error response ("<METHOD> <path>: 422 Invalid: <message>").
 * Exposed for the status module. */
int gitsync_api_error(struct bosun_err *err, const char *method, const char *path, long status,
                      const json_t *body, char **field);

#endif
