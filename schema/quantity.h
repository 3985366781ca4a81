/* quantity — Kubernetes resource quantities ("100m", "0.5", "64Mi", "1G", "1e3").
 *
 * Grammar (as resource.Quantity): [+-]digits[.digits] then one suffix: binary Ki Mi Gi Ti
 * Pi Ei, decimal n u m "" k M G T P E, or an exponent e<int>/E<int>. Values are exact
 * (no floating point) and, as Kubernetes does, rounded up: "0.1m" is 1 milli, "1.5" is
 * 2 units. The scheduler and nodeagent use milli for CPU (millicores) and value for
 * memory (bytes). */
#ifndef BOSUN_SCHEMA_QUANTITY_H
#define BOSUN_SCHEMA_QUANTITY_H

#include <jansson.h>
#include <stdint.h>

/* Parses s. *milli gets the quantity x1000 and *value the quantity itself, each rounded
 * up; either pointer may be NULL. Returns 0, -EINVAL when s is not a quantity, or
 * -ERANGE when a requested output does not fit in int64 (nothing is written then). */
int schema_quantity_parse(const char *s, int64_t *milli, int64_t *value);

/* Same for a JSON value: a string, or a number (YAML `cpu: 1` or `cpu: 0.5`). */
int schema_quantity_parse_json(const json_t *v, int64_t *milli, int64_t *value);

#endif
