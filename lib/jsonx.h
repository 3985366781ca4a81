/* jsonx — small helpers over jansson used by every component.
 *
 * Reference rules are jansson's: functions named *_get return borrowed references,
 * functions that return json_t * otherwise return a new reference the caller owns. */
#ifndef BOSUN_JSONX_H
#define BOSUN_JSONX_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"

/* Walks a dotted path ("metadata.name", "spec.template.spec"); borrowed, NULL if any
 * step is missing or not an object. */
json_t *jsonx_get(const json_t *root, const char *dotted_path);

/* The string at dotted_path, or NULL when absent or not a string. Borrowed. */
const char *jsonx_get_str(const json_t *root, const char *dotted_path);

/* The integer at dotted_path, or def when absent or not an integer. */
long long jsonx_get_int(const json_t *root, const char *dotted_path, long long def);

/* The object at dotted_path, creating empty objects along the way (borrowed).
 * NULL if a step exists but is not an object. */
json_t *jsonx_ensure_obj(json_t *root, const char *dotted_path);

/* Sets dotted_path to value, creating parents; steals value. Returns 0 or -EINVAL. */
int jsonx_set_new(json_t *root, const char *dotted_path, json_t *value);

/* Parses len bytes of JSON. Returns a new reference, or NULL with err set to
 * "json: line L col C: what". */
json_t *jsonx_loadb(const char *buf, size_t len, struct bosun_err *err);

/* jsonx_loadb's fast path alone: the object or array filling buf (whitespace around it
 * allowed), exactly as json_loadb(buf, len, 0) reads it, or NULL when it leaves the input
 * to jansson (every error, integers of 19 digits or more, real overflow, \u0000, nesting
 * near jansson's limit). New reference. */
json_t *jsonx_loadb_fast(const char *buf, size_t len);

/* Compact serialisation with keys in insertion order, byte for byte what jansson's
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes; caller frees. NULL on ENOMEM, or
 * when a string is not UTF-8 (as with jansson). */
char *jsonx_dumps(const json_t *value);

/* A JSON string of s with every byte that is not part of valid UTF-8 replaced by U+FFFD:
 * messages that quote user input (names, media types) must never fail to serialise.
 * New reference; NULL only on ENOMEM. */
json_t *jsonx_string_lossy(const char *s);

/* Reads a whole file as JSON (new reference) or NULL with err set. */
json_t *jsonx_load_file(const char *path, struct bosun_err *err);

#endif
