/* validate — checks an object against Kubernetes' field tree and bosun's rules, and
 * fills in defaults.
 *
 * Fields Kubernetes does not define are errors (a typo must not pass silently); fields
 * Kubernetes defines but bosun does not act on yet are warnings that name them; wrong
 * types, missing required fields, invalid names (DNS-1123; no '/', no '..') and
 * kind-specific rules (replicas >= 0, ports in range, selector matching the template
 * labels, ...) are errors. Every issue carries the dotted field path and, when the
 * object came from YAML, its line and column. */
#ifndef BOSUN_SCHEMA_VALIDATE_H
#define BOSUN_SCHEMA_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

#include "schema/yaml.h"

enum schema_severity { SCHEMA_WARNING, SCHEMA_ERROR };

struct schema_issue {
    enum schema_severity severity;
    char *field;    /* "spec.replicas" (owned) */
    char *message;  /* "must be a non-negative integer" (owned) */
    int line, col;  /* 0 when unknown */
};

struct schema_issues {
    struct schema_issue *v;
    size_t n;
    size_t errors; /* how many of v are SCHEMA_ERROR */
};

/* Validates obj (apiVersion/kind decide the rules; an unknown kind is one error on
 * "kind"). doc (may be NULL) supplies positions. Issues are appended to out. Returns the
 * number of errors added. */
size_t schema_validate(const json_t *obj, const struct schema_doc *doc, struct schema_issues *out);

/* Fills Kubernetes defaults the controllers rely on (e.g. Deployment replicas 1,
 * strategy, pod restartPolicy Always, terminationGracePeriodSeconds 30, container
 * imagePullPolicy, Service type ClusterIP and port protocol/targetPort). Idempotent. */
void schema_default(json_t *obj);

/* "file:line:col: field: message" (or "field: message" when no position) into buf. */
const char *schema_issue_format(const struct schema_issue *is, const char *file, char *buf,
                                size_t len);

void schema_issues_free(struct schema_issues *issues);

#endif
