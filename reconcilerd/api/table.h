/* table — server-side printing (`meta.k8s.io/v1` Table) for `kubectl get`.
 *
 * Column sets follow what kubectl shows against Kubernetes (k8s-api-subset.md §5.4):
 * pods, deployments, replicasets, services, nodes, namespaces, events, endpoints,
 * configmaps, secrets; every other kind gets Name + Created At. Priority-1 columns are
 * the `-o wide` ones. */
#ifndef BOSUN_API_TABLE_H
#define BOSUN_API_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "lib/strbuf.h"
#include "schema/kinds.h"

enum api_table_include { API_TABLE_METADATA, API_TABLE_OBJECT, API_TABLE_NONE };

/* 1 when an Accept header asks for a Table ("...;as=Table;..."). */
bool api_table_wanted(const char *accept);

/* "Object", "None", anything else = Metadata. */
enum api_table_include api_table_include_parse(const char *s);

/* A new Table (owned) with k's column definitions (or none when with_columns is false),
 * metadata.resourceVersion = rv (may be NULL) and no rows. */
json_t *api_table_new(const struct schema_kind *k, const char *rv, bool with_columns);

/* Appends obj's row to table (obj borrowed). now is the time ages are computed from. */
void api_table_add_row(json_t *table, const struct schema_kind *k, const json_t *obj,
                       enum api_table_include inc, time_t now);

/* Appends to out the compact JSON of the row of the object whose stored text is json (len
 * bytes): the same bytes as api_table_add_row's row dumped with JSON_COMPACT, for text
 * that jansson wrote (the store's objects are). Pods are read without a parse (lib/jscan;
 * what a Table of many pods costs); other kinds are parsed. -EINVAL when json is not
 * well-formed (nothing is appended then; callers skip the object, as they skip one that
 * does not parse), -ENOMEM (out->oom may also be set). */
int api_table_row_raw(struct strbuf *out, const struct schema_kind *k, const char *json,
                      size_t len, enum api_table_include inc, time_t now);

#endif
