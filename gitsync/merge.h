/* merge — server-side-apply semantics computed on the client.
 *
 * Git owns the fields it sets and only those. gitsync keeps the configuration it last
 * applied to an object (annotation bosun.io/last-applied, JSON) and, on every sync,
 * computes the object it wants the server to hold:
 *
 *   desired = live
 *             - fields present in old_applied but absent from new_applied (recursively;
 *               lists with a merge key are compared element by element)
 *             + new_applied merged over it (maps recursively, keyed lists by key, every
 *               other value replaced whole)
 *
 * So fields the server allocated (clusterIP, nodePort), status, defaults the server
 * filled in and fields another client set that Git never mentioned survive; a field Git
 * sets that someone changed through the API is put back; a field Git stopped setting is
 * removed.
 *
 * Merge keys (Kubernetes' patchMergeKey tags): containers, initContainers,
 * ephemeralContainers, env, volumes, imagePullSecrets -> name; volumeMounts -> mountPath;
 * ports -> containerPort when the elements carry one, else port; conditions -> type;
 * hostAliases -> ip; topologySpreadConstraints -> topologyKey; ownerReferences -> uid.
 * A list whose elements do not all carry the key is treated as atomic (replaced whole). */
#ifndef BOSUN_GITSYNC_MERGE_H
#define BOSUN_GITSYNC_MERGE_H

#include <jansson.h>

/* The annotation holding the last applied configuration. */
#define GITSYNC_LAST_APPLIED_ANNOTATION "bosun.io/last-applied"

/* Computes the desired object. live may be NULL (object absent: the result is a copy of
 * new_applied); old_applied may be NULL (nothing was applied before: nothing is
 * removed). All arguments are borrowed. Returns a new reference, or NULL on ENOMEM. */
json_t *gitsync_merge_desired(const json_t *live, const json_t *old_applied,
                              const json_t *new_applied);

/* The merge key of list field `field` whose elements are `a` and `b` (either may be
 * NULL), or NULL when the list is atomic. Exposed for tests. */
const char *gitsync_merge_key(const char *field, const json_t *a, const json_t *b);

#endif
