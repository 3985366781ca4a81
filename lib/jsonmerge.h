/* jsonmerge — server-side-apply semantics computed on the client, shared by gitsync and
 * `bosun apply`.
 *
 * A client owns the fields it sets and only those. It keeps the configuration it last
 * applied to an object in the annotation bosun.io/last-applied (compact JSON) and, on
 * every apply, computes the object it wants the server to hold:
 *
 *   desired = live
 *             - fields present in old_applied but absent from new_applied (recursively;
 *               lists with a merge key are compared element by element)
 *             + new_applied merged over it (maps recursively, keyed lists by key, every
 *               other value replaced whole)
 *
 * So fields the server allocated (clusterIP, nodePort), status, defaults the server
 * filled in and fields another client set that the applier never mentioned survive; a
 * field the applier sets that someone changed through the API is put back; a field it
 * stopped setting is removed. An object without the annotation (created by someone else)
 * is adopted: nothing is removed the first time.
 *
 * Merge keys (Kubernetes' patchMergeKey tags): containers, initContainers,
 * ephemeralContainers, env, volumes, imagePullSecrets -> name; volumeMounts -> mountPath;
 * ports -> containerPort when the elements carry one, else port; conditions -> type;
 * hostAliases -> ip; topologySpreadConstraints -> topologyKey; ownerReferences -> uid.
 * A list whose elements do not all carry the key is treated as atomic (replaced whole).
 *
 * Every function is pure; arguments are borrowed; results are new references, NULL only
 * on ENOMEM unless said otherwise. */
#ifndef BOSUN_JSONMERGE_H
#define BOSUN_JSONMERGE_H

#include <jansson.h>

/* The annotation holding the last applied configuration. gitsync and `bosun apply`
 * share it: whichever applied last owns the fields it set. */
#define JSONMERGE_LAST_APPLIED_ANNOTATION "bosun.io/last-applied"

/* Computes the desired object. live may be NULL (object absent: the result is a copy of
 * new_applied); old_applied may be NULL (nothing was applied before: nothing is
 * removed). */
json_t *jsonmerge_desired(const json_t *live, const json_t *old_applied, const json_t *new_applied);

/* The merge key of list field `field` whose elements are `a` and `b` (either may be
 * NULL), or NULL when the list is atomic. Exposed for tests. */
const char *jsonmerge_key(const char *field, const json_t *a, const json_t *b);

/* The last applied configuration recorded on obj (parsed from the annotation), or NULL
 * when there is none or it is not a JSON object. */
json_t *jsonmerge_last_applied(const json_t *obj);

/* A copy of base whose annotation records applied (compact JSON). */
json_t *jsonmerge_with_last_applied(const json_t *base, const json_t *applied);

/* The whole apply step: what to send for applied given live (NULL when the object does
 * not exist yet: the body to create). The last applied configuration is read from live's
 * annotation; the result records applied in it. An annotation inside applied itself is
 * ignored (a manifest must not smuggle in an old last-applied that would make us drop
 * fields). json_equal(result, live) means the apply would change nothing. */
json_t *jsonmerge_apply(const json_t *live, const json_t *applied);

#endif
