/* body — decoding request bodies: JSON, YAML (schema_yaml_parse, one document) and the
 * Kubernetes protobuf envelope that `kubectl create namespace|configmap|secret` and
 * `kubectl auth can-i [--list]` send (k8s-api-subset.md §8 item 11; only those kinds:
 * Namespace, ConfigMap, Secret, SelfSubjectAccessReview, SelfSubjectRulesReview). */
#ifndef BOSUN_API_BODY_H
#define BOSUN_API_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Media type classes of a Content-Type header (parameters ignored). */
enum api_media {
    API_MEDIA_NONE,       /* no Content-Type */
    API_MEDIA_JSON,
    API_MEDIA_YAML,
    API_MEDIA_PROTOBUF,
    API_MEDIA_MERGE_PATCH,
    API_MEDIA_SMP,
    API_MEDIA_JSON_PATCH,
    API_MEDIA_APPLY,
    API_MEDIA_OTHER,
};

enum api_media api_media_of(const char *content_type);

/* Decodes body as media. On success returns a new reference; on failure NULL and
 * *status = a Status (owned) to answer with (400 for malformed input, 415 for an
 * unsupported media type or protobuf kind). JSON and the patch types are parsed as
 * JSON; YAML and apply-patch as YAML. */
json_t *api_body_decode(const char *body, size_t len, enum api_media media, json_t **status);

/* Decodes the protobuf envelope ("k8s\0" + runtime.Unknown) of a Namespace, ConfigMap,
 * Secret, SelfSubjectAccessReview or SelfSubjectRulesReview into its JSON form. Returns
 * NULL with msg filled when it cannot. Exposed for tests. */
/* Whether an options body (DeleteOptions: kubectl delete --dry-run=server sends
 * {"dryRun":["All"]} in the body, not the query) asks for a dry run. opts may be NULL. */
bool api_body_dry_run_all(const json_t *opts);

json_t *api_protobuf_decode(const unsigned char *buf, size_t len, char *msg, size_t msglen);

#endif
