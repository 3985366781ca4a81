/* fields — the Kubernetes 1.30 field tree (schema/k8s-fields-1.30.json, compiled in),
 * plus bosun.io/v1 GitRepository, indexed once into hash tables.
 *
 * A type ("core/v1" "Container") has fields; each field has a type expression: a
 * scalar, a literal ("apps/v1"), an object type, Array<T>, a map { [name: string]: T },
 * or a union (number | string is IntOrString). Aliases (Time, Quantity) and imports
 * between groups are resolved while indexing, so callers see final types. A name no
 * group defines (runtime.RawExtension) is SCHEMA_T_ANY.
 *
 * Everything returned is borrowed from a process-wide index built on first use
 * (pthread_once) and never freed; it is immutable, so any thread may read it. */
#ifndef BOSUN_SCHEMA_FIELDS_H
#define BOSUN_SCHEMA_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

enum schema_tkind {
    SCHEMA_T_ANY,      /* anything (unresolvable names such as RawExtension) */
    SCHEMA_T_STRING,
    SCHEMA_T_INTEGER,  /* 'number': Kubernetes uses integers only */
    SCHEMA_T_BOOLEAN,
    SCHEMA_T_QUANTITY, /* string or number that parses as a quantity */
    SCHEMA_T_TIME,     /* RFC 3339 string (Time, MicroTime) */
    SCHEMA_T_LITERAL,  /* the string in .literal */
    SCHEMA_T_OBJECT,   /* .object */
    SCHEMA_T_ARRAY,    /* of .elem */
    SCHEMA_T_MAP,      /* string keys to .elem */
    SCHEMA_T_UNION,    /* any of .alts[0..nalts) */
};

struct schema_type;

struct schema_tref {
    enum schema_tkind kind;
    const char *literal;
    const struct schema_type *object;
    const struct schema_tref *elem;
    const struct schema_tref *const *alts;
    size_t nalts;
};

struct schema_field {
    const char *name;
    bool required;
    const struct schema_tref *type;
};

struct schema_type {
    const char *group; /* "core/v1" */
    const char *name;  /* "Container" */
    const struct schema_field *fields; /* sorted by name */
    size_t nfields;
};

/* Builds the index (once). Returns 0, or a negative code with err set when the
 * embedded data is broken (a build problem, never user input). */
int schema_fields_init(struct bosun_err *err);

/* The type name in group ("core/v1", "apps/v1", "meta/v1", "coordination/v1",
 * "bosun/v1", ...); NULL when unknown or the index failed to build. */
const struct schema_type *schema_fields_type(const char *group, const char *name);

/* The field name of t; NULL when t does not declare it. O(1). */
const struct schema_field *schema_fields_field(const struct schema_type *t, const char *name);

/* The field-tree group of an apiVersion: "v1" -> "core/v1", "apps/v1" -> "apps/v1",
 * "coordination.k8s.io/v1" -> "coordination/v1", "bosun.io/v1" -> "bosun/v1".
 * Writes into buf; NULL when buf is too small. */
const char *schema_fields_group_of(const char *api_version, char *buf, size_t len);

/* "string", "integer", "Array<Container>", ... for messages; writes into buf. */
const char *schema_tref_describe(const struct schema_tref *t, char *buf, size_t len);

#endif
