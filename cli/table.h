/* table — kubectl-style tables for `bosun get` and `bosun status`.
 *
 * Columns are left-aligned, separated by three spaces, the last column not padded.
 * cli_table_for() knows the columns of each kind:
 *   pods         NAME READY STATUS RESTARTS AGE [IP NODE]
 *   deployments  NAME READY UP-TO-DATE AVAILABLE AGE
 *   replicasets  NAME DESIRED CURRENT READY AGE
 *   services     NAME TYPE CLUSTER-IP PORT(S) AGE
 *   nodes        NAME STATUS AGE VERSION [INTERNAL-IP]
 *   namespaces   NAME STATUS AGE
 *   gitrepositories NAME READY REVISION AGE
 *   others       NAME AGE
 * with NAMESPACE first when listing across namespaces. */
#ifndef BOSUN_CLI_TABLE_H
#define BOSUN_CLI_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "schema/kinds.h"

struct cli_table {
    size_t ncols;
    size_t nrows; /* including the header row */
    char **cells; /* nrows * ncols, owned */
};

/* Starts a table with these headers (copied). 0 or -ENOMEM. */
int cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers);
/* Appends a row of ncols cells (copied; NULL = ""). 0 or -ENOMEM. */
int cli_table_add(struct cli_table *t, const char *const *cells);
/* The rendered table, each row newline-terminated. Caller frees; NULL on ENOMEM. */
char *cli_table_render(const struct cli_table *t);
void cli_table_free(struct cli_table *t);

/* Fills *out (initialised here) with one row per item of items (a JSON array, borrowed)
 * of kind k. wide adds the -o wide columns; show_ns adds NAMESPACE. now is for AGE. */
int cli_table_for(const struct schema_kind *k, const json_t *items, bool wide, bool show_ns,
                  time_t now, struct cli_table *out);

/* The pod's STATUS column as kubectl computes it: "Terminating" when deleting, a
 * waiting/terminated container's reason (CrashLoopBackOff, ContainerCreating, Error...),
 * else status.phase (or "Pending" when absent). Writes into buf. */
const char *cli_pod_status(const json_t *pod, char *buf, size_t len);

#endif
