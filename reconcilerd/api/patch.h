/* patch — the four PATCH flavours of the Kubernetes API, as pure functions on JSON.
 *
 *  - JSON merge patch (RFC 7386): objects merge recursively, null deletes, everything
 *    else replaces.
 *  - Strategic merge patch (k8s-api-subset.md §7.1): like merge patch, but lists with a
 *    merge key (containers by name, container ports by containerPort, Service ports by
 *    port, ...) merge element by element, and the directives $patch (delete/replace/merge),
 *    $retainKeys, $setElementOrder/<f> and $deleteFromPrimitiveList/<f> are honoured and
 *    never stored.
 *  - JSON patch (RFC 6902): add, remove, replace, move, copy, test on JSON pointers.
 *  - Server-side apply: the manager's applied configuration is merged over the live object
 *    like a strategic merge; fields the same manager applied last time and no longer
 *    applies are removed. What a manager applied is kept as a Kubernetes FieldsV1 set
 *    ({"f:spec":{"f:replicas":{}}}, list items as "k:{\"name\":\"a\"}"), which the API
 *    stores in metadata.managedFields.
 *
 * Inputs are borrowed; results are new references the caller owns. */
#ifndef BOSUN_API_PATCH_H
#define BOSUN_API_PATCH_H

#include <jansson.h>

#include "lib/err.h"

/* RFC 7386. target may be NULL. Never fails except on ENOMEM (NULL). */
json_t *api_merge_patch(const json_t *target, const json_t *patch);

/* The merge key of the list at dotted path (object keys only, list items as "[]", e.g.
 * "spec.template.spec.containers[].ports"), "" for a primitive set list (finalizers),
 * or NULL when the list is atomic (replaced whole). */
const char *api_patch_merge_key(const char *path);

/* Strategic merge patch of live (an object) with patch (an object). -EINVAL with err for
 * a malformed patch (e.g. a $patch value that is not delete/replace/merge). */
int api_smp_apply(const json_t *live, const json_t *patch, json_t **out, struct bosun_err *err);

/* RFC 6902. patch must be an array of operations. -EINVAL with err naming the failing
 * operation (index, op, path); a failed "test" is -EINVAL too (the API answers 422). */
int api_json_patch_apply(const json_t *doc, const json_t *patch, json_t **out,
                         struct bosun_err *err);

/* The FieldsV1 set of an applied configuration. */
json_t *api_fieldset_of(const json_t *applied);
/* The FieldsV1 set of object v found at dotted path (merge keys looked up from it). */
json_t *api_fieldset_walk(const json_t *v, const char *path);

/* Server-side apply: live (NULL when the object does not exist yet), the manager's new
 * applied configuration, and the FieldsV1 set it applied last time (NULL for none).
 * *out is the merged object. */
int api_apply_merge(const json_t *live, const json_t *applied, const json_t *old_fields,
                    json_t **out, struct bosun_err *err);

#endif
