/* fieldval — what `fieldValidation=Warn|Ignore` does with an unknown field, the way
 * kube-apiserver does it.
 *
 * kube-apiserver decodes a request into the kind's Go type, so an unknown field is never
 * stored whatever fieldValidation says; Strict refuses it, Warn names it in a `Warning`
 * header (`unknown field "spec.replicaz"`, which kubectl prints as `Warning: unknown
 * field "spec.replicaz"`) and Ignore says nothing. The Strict 422 is resource.c's. */
#ifndef BOSUN_API_FIELDVAL_H
#define BOSUN_API_FIELDVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The Warning text for an unknown field at path field ("spec.template.spec.containers[0].x")
 * whose schema message is message (`unknown field "x" (not declared in …; did you mean
 * "y"?)`): `unknown field "<field>"`, then the message's parenthesised hint if it has one.
 * Always NUL-terminated in buf (truncated to len). */
void api_fieldval_unknown_text(const char *field, const char *message, char *buf, size_t len);

/* A Warning header value for text: `299 - "<text>"` with `"` and `\` escaped and line
 * breaks made spaces (RFC 7234 warn-text). Always NUL-terminated in buf (truncated to len,
 * never in the middle of an escape). */
void api_fieldval_warning(const char *text, char *buf, size_t len);

/* The value at field (dot-separated keys, `[i]` or numeric segments for list items:
 * "spec.containers[0].image" or "spec.containers.0.image"), borrowed, or NULL. */
json_t *api_fieldval_at(const json_t *obj, const char *field);

/* Removes the member at field (dot-separated keys, `[i]` or numeric segments for list
 * items) from obj. Returns whether it was there. */
bool api_fieldval_drop(json_t *obj, const char *field);

#endif
