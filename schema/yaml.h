/* yaml — multi-document YAML (libyaml) to JSON (jansson), keeping source positions.
 *
 * Each document becomes a json_t; a parallel map records where every node came from,
 * keyed by its dotted path ("spec.template.spec.containers.0.image"; "" is the document
 * root), so that validation can report `deploy.yaml:14:7: spec.replicas: ...`.
 * Scalars become JSON types by the YAML 1.2 core schema (plain true/false, null/~,
 * integers, floats; quoted scalars are strings). Anchors and aliases are expanded (with
 * a limit against "billion laughs"); duplicate keys are an error. Empty documents are
 * skipped. */
#ifndef BOSUN_SCHEMA_YAML_H
#define BOSUN_SCHEMA_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"

struct schema_doc {
    json_t *obj;   /* owned */
    json_t *pos;   /* owned: {"<dotted path>": [line, column]} (1-based) */
    int line;      /* where the document starts */
};

struct schema_docs {
    struct schema_doc *v;
    size_t n;
};

/* Parses buf. filename is used in messages only. On a syntax error returns -EINVAL with
 * err "file:line:col: message" and no documents. */
int schema_yaml_parse(const char *buf, size_t len, const char *filename, struct schema_docs *out,
               struct bosun_err *err);
void schema_docs_free(struct schema_docs *docs);

/* The position of dotted path in doc (falls back to the nearest parent that has one).
 * Returns 0 and fills line/col, or -ENOENT. */
int schema_doc_position(const struct schema_doc *doc, const char *path, int *line, int *col);

#endif
