/* manifest — reads manifests for `bosun apply -f` / `bosun delete -f` and computes what
 * an apply sends.
 *
 * A path is a file, "-" (stdin) or a directory (its *.yaml, *.yml and *.json files, in
 * name order, not recursive; hidden files skipped). Every document is validated locally
 * (schema/validate.h) before anything is sent, so a bad file changes nothing. */
#ifndef BOSUN_CLI_MANIFEST_H
#define BOSUN_CLI_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/err.h"
#include "schema/kinds.h"

struct cli_manifest_obj {
    json_t *obj;                   /* owned */
    char *file;                    /* owned: as given on the command line or dir/name */
    int line;                      /* where the document starts */
    const struct schema_kind *kind; /* NULL when the API does not serve it */
};

struct cli_manifests {
    struct cli_manifest_obj *v;
    size_t n;
};

/* Appends the objects of path to out (kind: List is expanded). Every issue is printed to
 * diag as "file:line:col: field: message" (warnings prefixed "Warning: "); with
 * validate false only YAML syntax and the presence of apiVersion/kind/metadata.name are
 * checked. Returns the number of errors found (0 = all valid), or a negative code when
 * path cannot be read (err set). */
int cli_manifests_load(const char *path, bool validate, struct cli_manifests *out, FILE *diag,
                       struct bosun_err *err);

/* Stable-sorts into apply order: Namespaces, ConfigMaps/Secrets, Services, the rest
 * (gitsync's order). Delete in the reverse. */
void cli_manifests_sort(struct cli_manifests *m);

void cli_manifests_free(struct cli_manifests *m);

#endif
