/* collect — the manifests of one commit, read straight from git objects (no checkout).
 *
 * Every `*.yaml` / `*.yml` blob under `path` counts, in tree order; hidden files and
 * directories (a name starting with '.') and submodules are skipped; `kustomization.yaml`
 * / `kustomization.yml` / `Kustomization` give a warning and are skipped (not yet
 * supported). A file may hold several documents; `kind: List` is expanded into its items.
 * Each object is checked:
 *   - parse errors (schema_yaml_parse) with file:line:col;
 *   - apiVersion and kind must name a kind the API serves (schema_kind_by_gvk);
 *   - schema_validate on a defaulted copy (the object itself is applied as Git wrote it);
 *   - the same object (group, kind, namespace, name) twice is an error naming both places.
 * Namespaced objects without a namespace get `default`; a namespace on a cluster-scoped
 * object is dropped with a warning. A GitRepository named like gitsync's own is skipped
 * with a warning (gitsync writes it itself). The caller rejects the whole commit when
 * any error was found. */
#ifndef BOSUN_GITSYNC_COLLECT_H
#define BOSUN_GITSYNC_COLLECT_H

#include <git2.h>
#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"
#include "schema/kinds.h"

#define GITSYNC_MAX_FILE_BYTES (8u << 20)
#define GITSYNC_MAX_OBJECTS 20000

struct gitsync_obj {
    json_t *obj;                    /* owned: the manifest (namespace filled in) */
    const struct schema_kind *kind; /* static */
    char *file;                     /* owned, relative to the repo root */
    int line, col;                  /* where the object starts */
    size_t seq;                     /* position in collection order (stable sorting) */
};

struct gitsync_issue {
    int error;     /* 1: error (rejects the commit), 0: warning */
    char *file;    /* owned; NULL when not about a file */
    int line, col; /* 0 when unknown */
    char *field;   /* owned; "" when not about a field */
    char *message; /* owned */
};

struct gitsync_manifests {
    struct gitsync_obj *objs;
    size_t nobjs;
    struct gitsync_issue *issues;
    size_t nissues;
    size_t nerrors;
};

struct gitsync_collect_opts {
    const char *path;         /* --path: "." or "apps" or "./apps/" */
    const char *self_ns;      /* the GitRepository gitsync reports to ... */
    const char *self_name;    /* ... (skipped when found in Git); may be NULL */
};

/* Collects the manifests of commit. Returns 0 when the commit could be read (check
 * out->nerrors for manifest errors), a negative code with err set when git objects could
 * not be read or memory ran out. *out is filled in both cases; free it with
 * gitsync_manifests_free. */
int gitsync_collect(git_repository *repo, const git_oid *commit,
                    const struct gitsync_collect_opts *opts, struct gitsync_manifests *out,
                    struct bosun_err *err);

/* Collects the documents of one file's contents (what gitsync_collect does per blob);
 * exposed for tests and the fuzzer. */
int gitsync_collect_buffer(const char *file, const char *buf, size_t len,
                           const struct gitsync_collect_opts *opts,
                           struct gitsync_manifests *m);

/* Adds an issue (strings copied). Returns 0 or -ENOMEM. */
int gitsync_manifests_add_issue(struct gitsync_manifests *m, int error, const char *file,
                                int line, int col, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* "file:line:col: field: message" for logs, into buf. */
const char *gitsync_issue_format(const struct gitsync_issue *is, char *buf, size_t len);

void gitsync_manifests_free(struct gitsync_manifests *m);

#endif
