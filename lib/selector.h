/* selector — Kubernetes label selectors and field selectors.
 *
 * Label selectors: the string form of `?labelSelector=` and `kubectl -l`
 * ("app=web,tier!=db,env in (a,b),env notin (c),release,!canary"; "==" equals "=")
 * and the structured form of `spec.selector` ({matchLabels, matchExpressions with
 * operators In, NotIn, Exists, DoesNotExist}). An empty selector matches everything.
 *
 * Field selectors: "metadata.name=x,spec.nodeName!=,status.phase==Running". Which fields
 * are allowed is the caller's business (selector_field_fields lists them). */
#ifndef BOSUN_SELECTOR_H
#define BOSUN_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"

struct label_selector;
struct field_selector;

/* Parses the string form. Errors name the offending part. *out owned by the caller. */
int label_selector_parse(const char *s, struct label_selector **out, struct bosun_err *err);
/* Parses a metav1.LabelSelector object (NULL or {} = everything). */
int label_selector_from_json(const json_t *sel, struct label_selector **out,
                             struct bosun_err *err);
/* Selects according to the object's metadata.labels-style map (NULL = no labels). */
bool label_selector_matches(const struct label_selector *sel, const json_t *labels);
/* label_selector_matches for labels that are not a json_t (read from stored bytes): get
 * looks up the label named key and returns 0 when it is absent, 1 when present with
 * *value = its string value, or NULL when that is not a string. *value stays valid until
 * the next call of get. */
typedef int (*label_selector_get_fn)(const char *key, const char **value, void *userdata);
bool label_selector_matches_get(const struct label_selector *sel, label_selector_get_fn get,
                                void *userdata);
bool label_selector_empty(const struct label_selector *sel);
void label_selector_free(struct label_selector *sel);

int field_selector_parse(const char *s, struct field_selector **out, struct bosun_err *err);
/* Compares the string at each dotted field path of obj (a missing field is ""). */
bool field_selector_matches(const struct field_selector *sel, const json_t *obj);
/* field_selector_matches for an object that is not a json_t: get returns the field at the
 * dotted path in its string form — strings as they are, integers as "%lld", reals as
 * "%g", booleans as "true"/"false", anything missing or structured as "" — valid until the
 * next call of get. */
typedef const char *(*field_selector_get_fn)(const char *path, void *userdata);
bool field_selector_matches_get(const struct field_selector *sel, field_selector_get_fn get,
                                void *userdata);
/* The number of terms and the i-th term's field path (borrowed), for validation. */
size_t field_selector_count(const struct field_selector *sel);
const char *field_selector_field(const struct field_selector *sel, size_t i);
/* The value the selector requires with "=" for field, or NULL (lets the API serve
 * `spec.nodeName=n1` or `metadata.name=x` without scanning everything). */
const char *field_selector_equals(const struct field_selector *sel, const char *field);
void field_selector_free(struct field_selector *sel);

#endif
