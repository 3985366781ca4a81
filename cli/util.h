/* util — small pure helpers shared by the `bosun` commands: files, kind names, API paths,
 * time stamps. */
#ifndef BOSUN_CLI_UTIL_H
#define BOSUN_CLI_UTIL_H

#include <stddef.h>
#include <time.h>

#include "lib/err.h"
#include "schema/kinds.h"

/* Reads a whole file ("-" = stdin) into a NUL-terminated buffer (*out, caller frees).
 * Refuses files over 64 MiB. */
int cli_read_file(const char *path, char **out, size_t *len, struct bosun_err *err);

/* Resolves what a user types for a kind: the plural resource ("deployments"), the
 * singular ("deployment"), a short name ("deploy"), the Kind ("Deployment", any case),
 * or any of those qualified by the group ("deployments.apps"). NULL when unknown. */
const struct schema_kind *cli_kind_resolve(const char *name);

/* kubectl's "kind.group" label for messages: "deployment.apps", "service" (core).
 * Writes into buf. */
const char *cli_kind_label(const struct schema_kind *k, char *buf, size_t len);

/* The API path of a resource, collection or object: ns NULL/"" for cluster-wide (or a
 * cluster-scoped kind), name NULL for the collection, sub NULL or "status", "log"...
 * Segments are escaped. Caller frees; NULL on ENOMEM. */
char *cli_api_path(const struct schema_kind *k, const char *ns, const char *name,
                   const char *sub);

/* Now as RFC 3339 with nanoseconds, UTC ("2026-11-24T08:14:22.590123456Z"). */
char *cli_now_rfc3339nano(char *buf, size_t len);

/* The age of an RFC 3339 timestamp relative to now, as kubectl prints it ("5m"), or
 * "<unknown>". */
const char *cli_age(const char *ts, time_t now, char *buf, size_t len);

#endif
