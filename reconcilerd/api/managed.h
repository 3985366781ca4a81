/* managed — metadata.managedFields: who owns which field (FieldsV1 sets, patch.h).
 *
 * Every write records ownership like kube-apiserver does:
 *  - an apply (server-side apply) by manager M sets M's `Apply` entry to the fields M's
 *    configuration names; a field another manager owns and M sets to a different value
 *    is a conflict (409 with the Kubernetes message) unless forced, when M takes it over;
 *    fields M applied before and no longer applies are removed unless another manager
 *    still owns them;
 *  - any other write (create, update, patch) by manager U (the fieldManager parameter,
 *    else the User-Agent's product name) gives U an `Update` entry for the fields whose
 *    values it changed and removes them from every other manager.
 * Entries that own nothing are dropped. Writes to the status subresource record nothing
 * (the main resource's entries never include status). */
#ifndef BOSUN_API_MANAGED_H
#define BOSUN_API_MANAGED_H

#include <jansson.h>
#include <stddef.h>

/* The conflicts an apply of `applied` (its field set applied_fs) by manager would have on
 * live: a new array of {"manager": <printed manager>, "field": ".spec.replicas"} (empty
 * when none). */
json_t *api_managed_conflicts(const json_t *live, const json_t *applied,
                              const json_t *applied_fs, const char *manager);

/* The Kubernetes message of a non-empty conflicts array:
 *   Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.a */
void api_managed_conflict_message(const json_t *conflicts, char *buf, size_t len);

/* What manager may remove when it stops applying fields: old_fs minus the fields of every
 * other manager of live. New reference (an empty set when nothing). */
json_t *api_managed_removable(const json_t *live, const json_t *old_fs, const char *manager);

/* Records an apply in obj's managedFields (obj is the merged object that will be stored;
 * live is the object before, NULL on create): manager's Apply entry = applied_fs
 * (borrowed); with force, the fields in conflict leave the other managers. */
void api_managed_record_apply(json_t *obj, const json_t *live, const json_t *applied,
                              const char *manager, const char *api_version,
                              const json_t *applied_fs, int force);

/* Records an Update by manager: the fields whose values differ between live (NULL on
 * create) and obj move to manager's Update entry. */
void api_managed_record_update(json_t *obj, const json_t *live, const char *manager,
                               const char *api_version);

/* The manager name of a request: fieldManager, else the User-Agent up to its first '/',
 * else "unknown". Writes into buf (len bytes) and returns it. */
const char *api_managed_manager(const char *field_manager, const char *user_agent, char *buf,
                                size_t len);

#endif
