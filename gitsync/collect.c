#include "gitsync/collect.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/validate.h"
#include "schema/yaml.h"

/* Collection state beyond the output: duplicate detection. */
struct collector {
    struct gitsync_manifests *m;
    const struct gitsync_collect_opts *opts;
    json_t *seen; /* "group/Kind/ns/name" -> [file, line, col] */
    int nomem;
};

int gitsync_manifests_add_issue(struct gitsync_manifests *m, int error, const char *file,
                                int line, int col, const char *field, const char *fmt, ...)
{
    struct gitsync_issue *v = realloc(m->issues, (m->nissues + 1) * sizeof(*v));
    char *msg = NULL;
    va_list ap;
    if (!v)
        return -ENOMEM;
    m->issues = v;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    struct gitsync_issue *is = &m->issues[m->nissues];
    is->error = error;
    is->file = file ? strdup(file) : NULL;
    is->line = line;
    is->col = col;
    is->field = strdup(field ? field : "");
    is->message = msg;
    if ((file && !is->file) || !is->field) {
        free(is->file);
        free(is->field);
        free(msg);
        return -ENOMEM;
    }
    m->nissues++;
    if (error)
        m->nerrors++;
    return 0;
}

const char *gitsync_issue_format(const struct gitsync_issue *is, char *buf, size_t len)
{
    char where[512] = "";
    if (is->file && is->line > 0)
        snprintf(where, sizeof(where), "%s:%d:%d: ", is->file, is->line, is->col);
    else if (is->file)
        snprintf(where, sizeof(where), "%s: ", is->file);
    snprintf(buf, len, "%s%s%s%s", where, is->field, *is->field ? ": " : "", is->message);
    return buf;
}

void gitsync_manifests_free(struct gitsync_manifests *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nobjs; i++) {
        json_decref(m->objs[i].obj);
        free(m->objs[i].file);
    }
    for (size_t i = 0; i < m->nissues; i++) {
        free(m->issues[i].file);
        free(m->issues[i].field);
        free(m->issues[i].message);
    }
    free(m->objs);
    free(m->issues);
    memset(m, 0, sizeof(*m));
}

#define ISSUE(c, ...)                                                                      \
    do {                                                                                   \
        if (gitsync_manifests_add_issue((c)->m, __VA_ARGS__) != 0)                         \
            (c)->nomem = 1;                                                                \
    } while (0)

/* schema_yaml_parse reports "file:line:col: message"; status wants the parts. */
static void add_parse_error(struct collector *c, const char *file, const char *msg)
{
    size_t fl = strlen(file);
    int line = 0, col = 0;
    const char *rest = msg;
    if (strncmp(msg, file, fl) == 0 && msg[fl] == ':') {
        char *end;
        long l = strtol(msg + fl + 1, &end, 10);
        if (*end == ':') {
            long k = strtol(end + 1, &end, 10);
            if (*end == ':') {
                line = (int)l;
                col = (int)k;
                rest = end + 1;
                while (*rest == ' ')
                    rest++;
            }
        }
    }
    ISSUE(c, 1, file, line, col, "", "%s", rest);
}

/* A schema_doc for items.N of a List document: the same positions, re-rooted. */
static int sub_doc(const struct schema_doc *doc, size_t idx, json_t *item, struct schema_doc *out)
{
    char prefix[48];
    int plen = snprintf(prefix, sizeof(prefix), "items.%zu", idx);
    const char *k;
    json_t *v;
    out->obj = item;
    out->pos = json_object();
    out->line = doc->line;
    if (!out->pos)
        return -ENOMEM;
    json_object_foreach(doc->pos, k, v)
    {
        if (strncmp(k, prefix, (size_t)plen) != 0)
            continue;
        if (k[plen] == '\0')
            json_object_set(out->pos, "", v);
        else if (k[plen] == '.')
            json_object_set(out->pos, k + plen + 1, v);
    }
    int l = 0, col = 0;
    if (schema_doc_position(out, "", &l, &col) == 0)
        out->line = l;
    return 0;
}

static void pos_of(const struct schema_doc *doc, const char *path, int *line, int *col)
{
    *line = 0;
    *col = 0;
    if (schema_doc_position(doc, path, line, col) != 0) {
        *line = doc->line;
        *col = doc->line ? 1 : 0;
    }
}

static const char *group_of(const char *api_version, char *buf, size_t len)
{
    const char *slash = strchr(api_version, '/');
    if (!slash)
        return "";
    snprintf(buf, len, "%.*s", (int)(slash - api_version), api_version);
    return buf;
}

/* One object (a document or a List item). obj is borrowed; kept by reference on success. */
static void add_object(struct collector *c, const char *file, json_t *obj,
                       const struct schema_doc *doc)
{
    int line, col;
    pos_of(doc, "", &line, &col);
    if (!json_is_object(obj)) {
        ISSUE(c, 1, file, line, col, "", "a manifest must be a mapping (an object)");
        return;
    }
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!api || !*api) {
        pos_of(doc, "apiVersion", &line, &col);
        ISSUE(c, 1, file, line, col, "apiVersion", "required");
        return;
    }
    if (!kind || !*kind) {
        pos_of(doc, "kind", &line, &col);
        ISSUE(c, 1, file, line, col, "kind", "required");
        return;
    }
    const struct schema_kind *sk = schema_kind_by_gvk(api, kind);
    if (!sk) {
        pos_of(doc, "kind", &line, &col);
        ISSUE(c, 1, file, line, col, "kind",
              "kind %s of apiVersion %s is not served by the API", kind, api);
        return;
    }
    if (c->m->nobjs >= GITSYNC_MAX_OBJECTS) {
        if (c->m->nobjs == GITSYNC_MAX_OBJECTS)
            ISSUE(c, 1, file, line, col, "", "more than %d objects in one commit",
                  GITSYNC_MAX_OBJECTS);
        return;
    }

    json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (sk->namespaced && json_is_object(meta) && (!ns || !*ns)) {
        json_object_set_new(meta, "namespace", json_string("default"));
        ns = "default";
    } else if (!sk->namespaced && ns) {
        pos_of(doc, "metadata.namespace", &line, &col);
        ISSUE(c, 0, file, line, col, "metadata.namespace",
              "%s is cluster-scoped; the namespace is ignored", kind);
        json_object_del(meta, "namespace");
        ns = NULL;
    }

    if (c->opts && c->opts->self_name && strcmp(sk->group, "bosun.io") == 0 &&
        strcmp(sk->kind, "GitRepository") == 0 && name && ns &&
        strcmp(name, c->opts->self_name) == 0 &&
        strcmp(ns, c->opts->self_ns ? c->opts->self_ns : "bosun-system") == 0) {
        pos_of(doc, "", &line, &col);
        ISSUE(c, 0, file, line, col, "",
              "GitRepository %s/%s is written by gitsync itself; skipped", ns, name);
        return;
    }

    /* Validate what the server will hold after defaulting; apply what Git says. */
    struct schema_issues issues = {0};
    json_t *copy = json_deep_copy(obj);
    if (!copy) {
        c->nomem = 1;
        return;
    }
    schema_default(copy);
    size_t nerr = schema_validate(copy, doc, &issues);
    json_decref(copy);
    for (size_t i = 0; i < issues.n; i++) {
        const struct schema_issue *is = &issues.v[i];
        int l = is->line, k = is->col;
        if (l <= 0)
            pos_of(doc, is->field ? is->field : "", &l, &k);
        ISSUE(c, is->severity == SCHEMA_ERROR, file, l, k, is->field ? is->field : "", "%s",
              is->message ? is->message : "invalid");
    }
    schema_issues_free(&issues);
    if (nerr > 0)
        return;

    pos_of(doc, "", &line, &col);
    if (name) {
        char gbuf[128], key[1024];
        const char *group = group_of(api, gbuf, sizeof(gbuf));
        snprintf(key, sizeof(key), "%s/%s/%s/%s", group, kind, ns ? ns : "", name);
        json_t *prev = json_object_get(c->seen, key);
        if (prev) {
            char where[64] = "";
            if (ns)
                snprintf(where, sizeof(where), "%s/", ns);
            ISSUE(c, 1, file, line, col, "metadata.name",
                  "%s %s%s is defined twice: %s:%lld:%lld and %s:%d:%d", kind, where, name,
                  json_string_value(json_array_get(prev, 0)),
                  json_integer_value(json_array_get(prev, 1)),
                  json_integer_value(json_array_get(prev, 2)), file, line, col);
            return;
        }
        json_object_set_new(c->seen, key, json_pack("[sii]", file, line, col));
    }

    struct gitsync_obj *v = realloc(c->m->objs, (c->m->nobjs + 1) * sizeof(*v));
    if (!v) {
        c->nomem = 1;
        return;
    }
    c->m->objs = v;
    struct gitsync_obj *o = &v[c->m->nobjs];
    o->file = strdup(file);
    if (!o->file) {
        c->nomem = 1;
        return;
    }
    o->obj = json_incref(obj);
    o->kind = sk;
    o->line = line;
    o->col = col;
    o->seq = c->m->nobjs;
    c->m->nobjs++;
}

static int is_list(const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    return kind && api && strcmp(api, "v1") == 0 &&
           (strcmp(kind, "List") == 0 ||
            (strlen(kind) > 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
             json_is_array(json_object_get(obj, "items"))));
}

static void collect_buffer(struct collector *c, const char *file, const char *buf, size_t len)
{
    struct schema_docs docs = {0};
    struct bosun_err perr = {0};
    if (schema_yaml_parse(buf, len, file, &docs, &perr) != 0) {
        add_parse_error(c, file, perr.msg[0] ? perr.msg : "invalid YAML");
        return;
    }
    for (size_t d = 0; d < docs.n && !c->nomem; d++) {
        struct schema_doc *doc = &docs.v[d];
        if (json_is_null(doc->obj))
            continue;
        if (json_is_object(doc->obj) && is_list(doc->obj)) {
            json_t *items = json_object_get(doc->obj, "items");
            size_t i;
            json_t *item;
            if (!json_is_array(items)) {
                int line, col;
                pos_of(doc, "items", &line, &col);
                ISSUE(c, 1, file, line, col, "items", "a List needs an items array");
                continue;
            }
            json_array_foreach(items, i, item)
            {
                struct schema_doc sd;
                if (sub_doc(doc, i, item, &sd) != 0) {
                    c->nomem = 1;
                    break;
                }
                add_object(c, file, item, &sd);
                json_decref(sd.pos);
            }
            continue;
        }
        add_object(c, file, doc->obj, doc);
    }
    schema_docs_free(&docs);
}

int gitsync_collect_buffer(const char *file, const char *buf, size_t len,
                           const struct gitsync_collect_opts *opts, struct gitsync_manifests *m)
{
    struct collector c = {.m = m, .opts = opts, .seen = json_object()};
    if (!c.seen)
        return -ENOMEM;
    /* Duplicates across calls are found by gitsync_collect, which keeps one map. */
    collect_buffer(&c, file, buf, len);
    json_decref(c.seen);
    return c.nomem ? -ENOMEM : 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int is_kustomization(const char *name)
{
    return strcmp(name, "kustomization.yaml") == 0 || strcmp(name, "kustomization.yml") == 0 ||
           strcmp(name, "Kustomization") == 0;
}

static const char *git_msg(void)
{
    const git_error *e = git_error_last();
    return e && e->message ? e->message : "unknown libgit2 error";
}

/* Walks tree (at dir, "" for the root) depth first in tree order. */
static int walk(struct collector *c, git_repository *repo, const git_tree *tree, const char *dir,
                int depth, struct bosun_err *err)
{
    size_t n = git_tree_entrycount(tree);
    if (depth > 64)
        return err_set(err, -ELOOP, "%s: directories nested too deep", dir);
    for (size_t i = 0; i < n && !c->nomem; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_object_t type = git_tree_entry_type(e);
        char *path = NULL;
        int r = 0;
        if (name[0] == '.')
            continue;
        if (asprintf(&path, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
            return err_errno(err, -ENOMEM, "collect");
        if (type == GIT_OBJECT_TREE) {
            git_tree *sub = NULL;
            if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)) != 0) {
                r = err_set(err, -EIO, "collect %s: %s", path, git_msg());
            } else {
                r = walk(c, repo, sub, path, depth + 1, err);
                git_tree_free(sub);
            }
        } else if (type == GIT_OBJECT_BLOB && is_kustomization(name)) {
            ISSUE(c, 0, path, 0, 0, "",
                  "kustomization files are not supported yet; the file is skipped");
        } else if (type == GIT_OBJECT_BLOB && (has_suffix(name, ".yaml") ||
                                               has_suffix(name, ".yml"))) {
            git_blob *blob = NULL;
            if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
                ISSUE(c, 0, path, 0, 0, "", "symbolic links are not followed; skipped");
            } else if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) != 0) {
                r = err_set(err, -EIO, "collect %s: %s", path, git_msg());
            } else {
                git_object_size_t sz = git_blob_rawsize(blob);
                if (sz > GITSYNC_MAX_FILE_BYTES)
                    ISSUE(c, 1, path, 0, 0, "", "file larger than %u bytes",
                          GITSYNC_MAX_FILE_BYTES);
                else
                    collect_buffer(c, path, git_blob_rawcontent(blob), (size_t)sz);
                git_blob_free(blob);
            }
        }
        free(path);
        if (r < 0)
            return r;
    }
    return c->nomem ? err_errno(err, -ENOMEM, "collect") : 0;
}

/* "./apps/" -> "apps"; "." and "" -> "". Writes into buf. */
static const char *clean_path(const char *p, char *buf, size_t len)
{
    size_t n;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    while (*p == '/')
        p++;
    if (strcmp(p, ".") == 0)
        p = "";
    snprintf(buf, len, "%s", p);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    return buf;
}

int gitsync_collect(git_repository *repo, const git_oid *commit,
                    const struct gitsync_collect_opts *opts, struct gitsync_manifests *out,
                    struct bosun_err *err)
{
    struct collector c = {.m = out, .opts = opts};
    git_commit *cm = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *te = NULL;
    char pbuf[1024];
    const char *path = clean_path(opts && opts->path ? opts->path : "", pbuf, sizeof(pbuf));
    int r = 0;

    memset(out, 0, sizeof(*out));
    c.seen = json_object();
    if (!c.seen)
        return err_errno(err, -ENOMEM, "collect");
    if (git_commit_lookup(&cm, repo, commit) != 0 || git_commit_tree(&root, cm) != 0) {
        r = err_set(err, -EIO, "collect: read commit: %s", git_msg());
        goto out;
    }
    if (!*path) {
        r = walk(&c, repo, root, "", 0, err);
        goto out;
    }
    if (git_tree_entry_bypath(&te, root, path) != 0 ||
        git_tree_entry_type(te) != GIT_OBJECT_TREE) {
        if (gitsync_manifests_add_issue(out, 1, path, 0, 0, "", "no such directory in the commit"))
            r = err_errno(err, -ENOMEM, "collect");
        goto out;
    }
    if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)) != 0) {
        r = err_set(err, -EIO, "collect %s: %s", path, git_msg());
        goto out;
    }
    r = walk(&c, repo, sub, path, 0, err);
out:
    git_tree_entry_free(te);
    git_tree_free(sub);
    git_tree_free(root);
    git_commit_free(cm);
    json_decref(c.seen);
    return r;
}
