/* yamlout — JSON to YAML for `bosun get -o yaml`, in kubectl's layout (block style, two
 * spaces, sequences at their key's indentation, keys in the object's order).
 *
 * Strings that a YAML reader would take for something else (true, null, 1.5, "", ": ",
 * leading indicators...) are written double-quoted with JSON escapes, which YAML reads
 * back unchanged; multi-line strings become literal blocks (|, |-) when that is exact.
 * The output parses back (schema_yaml_parse) to a value json_equal() to the input. */
#ifndef BOSUN_CLI_YAMLOUT_H
#define BOSUN_CLI_YAMLOUT_H

#include <jansson.h>

/* The YAML text of v (one document, no "---"), newline-terminated. Caller frees; NULL on
 * ENOMEM. */
char *cli_yaml_dumps(const json_t *v);

/* 1 when s must be quoted to be read back as this string. */
int cli_yaml_needs_quotes(const char *s);

#endif
