#include "cli/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/util.h"
#include "lib/jsonx.h"
#include "schema/validate.h"
#include "schema/yaml.h"

static int add_obj(struct cli_manifests *out, json_t *obj, const char *file, int line)
{
    struct cli_manifest_obj *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    out->v = nv;
    struct cli_manifest_obj *o = &nv[out->n];
    o->file = strdup(file);
    if (!o->file)
        return -ENOMEM;
    o->obj = json_incref(obj);
    o->line = line;
    o->kind = schema_kind_by_gvk(jsonx_get_str(obj, "apiVersion"), jsonx_get_str(obj, "kind"));
    out->n++;
    return 0;
}

static void print_issue(FILE *diag, const struct schema_issue *is, const char *file)
{
    char buf[2048];
    schema_issue_format(is, file, buf, sizeof(buf));
    fprintf(diag, "%s%s\n", is->severity == SCHEMA_WARNING ? "Warning: " : "", buf);
}

/* The minimum apply and delete need, when not validating fully. */
static int basic_check(const json_t *obj, const char *file, int line, FILE *diag)
{
    static const char *const req[] = {"apiVersion", "kind", "metadata.name"};
    int errors = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *s = jsonx_get_str(obj, req[i]);
        if (!s || !*s) {
            fprintf(diag, "%s:%d:1: %s: required\n", file, line, req[i]);
            errors++;
        }
    }
    return errors;
}

static int check_obj(const json_t *obj, const struct schema_doc *doc, const char *file,
                     int line, bool validate, FILE *diag)
{
    if (!validate)
        return basic_check(obj, file, line, diag);
    struct schema_issues issues = {0};
    schema_validate(obj, doc, &issues);
    for (size_t i = 0; i < issues.n; i++) {
        struct schema_issue is = issues.v[i];
        if (!doc && is.line == 0)
            is.line = line; /* List items: at least the document */
        print_issue(diag, &is, file);
    }
    int errors = (int)issues.errors;
    schema_issues_free(&issues);
    return errors;
}

static int load_file(const char *path, bool validate, struct cli_manifests *out, FILE *diag,
                     struct bosun_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int r = cli_read_file(path, &buf, &len, err);
    if (r < 0)
        return r;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    struct schema_docs docs = {0};
    struct bosun_err perr = {0};
    if (schema_yaml_parse(buf, len, name, &docs, &perr) < 0) {
        /* the message already reads "file:line:col: what" */
        fprintf(diag, "%s\n", perr.msg);
        free(buf);
        return 1;
    }
    free(buf);
    int errors = 0;
    for (size_t d = 0; d < docs.n; d++) {
        const struct schema_doc *doc = &docs.v[d];
        const json_t *obj = doc->obj;
        if (!json_is_object(obj)) {
            fprintf(diag, "%s:%d:1: : a manifest must be a mapping\n", name, doc->line);
            errors++;
            continue;
        }
        const char *kind = jsonx_get_str(obj, "kind");
        if (kind && strcmp(kind, "List") == 0) {
            const json_t *items = json_object_get(obj, "items");
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it)
            {
                int e = check_obj(it, NULL, name, doc->line, validate, diag);
                errors += e;
                if (!e && add_obj(out, it, name, doc->line) < 0) {
                    r = err_set(err, -ENOMEM, "out of memory");
                    goto out;
                }
            }
            continue;
        }
        int e = check_obj(obj, doc, name, doc->line, validate, diag);
        errors += e;
        if (!e && add_obj(out, (json_t *)obj, name, doc->line) < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    r = errors;
out:
    schema_docs_free(&docs);
    return r;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool manifest_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.')
        return false;
    return (l > 5 && strcmp(n + l - 5, ".yaml") == 0) || (l > 4 && strcmp(n + l - 4, ".yml") == 0) ||
           (l > 5 && strcmp(n + l - 5, ".json") == 0);
}

int cli_manifests_load(const char *path, bool validate, struct cli_manifests *out, FILE *diag,
                       struct bosun_err *err)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return err_errno(err, -errno, "%s", path);
        char **names = NULL;
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!manifest_name(de->d_name))
                continue;
            char **nn = realloc(names, (n + 1) * sizeof(*nn));
            if (!nn || !(nn[n] = strdup(de->d_name))) {
                names = nn ? nn : names;
                r = err_set(err, -ENOMEM, "out of memory");
                break;
            }
            names = nn;
            n++;
        }
        closedir(d);
        if (r == 0)
            qsort(names, n, sizeof(*names), name_cmp);
        int errors = 0;
        for (size_t i = 0; r == 0 && i < n; i++) {
            char *p = NULL;
            if (asprintf(&p, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                         names[i]) < 0) {
                r = err_set(err, -ENOMEM, "out of memory");
                break;
            }
            int e = load_file(p, validate, out, diag, err);
            free(p);
            if (e < 0)
                r = e;
            else
                errors += e;
        }
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return r < 0 ? r : errors;
    }
    return load_file(path, validate, out, diag, err);
}

static int rank(const struct cli_manifest_obj *o)
{
    const char *k = jsonx_get_str(o->obj, "kind");
    if (!k)
        return 3;
    if (!strcmp(k, "Namespace"))
        return 0;
    if (!strcmp(k, "ConfigMap") || !strcmp(k, "Secret"))
        return 1;
    if (!strcmp(k, "Service"))
        return 2;
    return 3;
}

void cli_manifests_sort(struct cli_manifests *m)
{
    /* insertion sort: stable, and manifests are few */
    for (size_t i = 1; i < m->n; i++) {
        struct cli_manifest_obj x = m->v[i];
        size_t j = i;
        while (j > 0 && rank(&m->v[j - 1]) > rank(&x)) {
            m->v[j] = m->v[j - 1];
            j--;
        }
        m->v[j] = x;
    }
}

void cli_manifests_free(struct cli_manifests *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        json_decref(m->v[i].obj);
        free(m->v[i].file);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}
