/* yaml — libyaml's event API turned into jansson values plus a position map.
 *
 * Choices worth knowing (the header has the contract):
 * - Scalars resolve by the YAML 1.2 core schema, not 1.1: `yes`, `no`, `on`, `off` are
 *   strings, and `0644` is the decimal 644 (YAML 1.1, which Kubernetes' go-yaml uses,
 *   would read octal 420; write `0o644` or 420 to be unambiguous).
 * - An integer that does not fit in int64 is an error (quote it to get a string);
 *   silently turning it into a float or string would change what the manifest means.
 * - `.inf`/`.nan` are errors: JSON cannot carry them.
 * - The `<<` merge key is honoured (Kubernetes' YAML reader does): merged keys never
 *   override keys written in the mapping itself.
 * - Aliases are deep-copied, so the result is a tree that callers may mutate; the
 *   copies count against YAML_ALIAS_NODES_MAX per document (billion laughs). Paths
 *   inside an expanded alias have no positions of their own and fall back to the alias.
 * - Mapping entries are positioned at their key, sequence items at the item. */
#include "schema/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Nodes that alias expansion may add to one document. Real manifests use a handful of
 * small anchors; a billion-laughs file hits this long before memory runs out. */
#define YAML_ALIAS_NODES_MAX 100000
/* Nesting deeper than this is not a manifest, and the builder recurses. */
#define YAML_DEPTH_MAX 200

struct yctx {
    yaml_parser_t parser;
    const char *file;
    struct bosun_err *err;
    json_t *pos;      /* current document's position map */
    json_t *anchors;  /* name -> [value, node count] for the current document */
    size_t nodes;     /* nodes built in this document (anchors record deltas) */
    size_t alias_nodes;
    int depth;
    char *path;
    size_t plen, pcap;
};

static int yerr(struct yctx *c, int code, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int yerr(struct yctx *c, int code, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m)
        return err_set(c->err, code, "%s:%zu:%zu: %s", c->file, m->line + 1, m->column + 1, msg);
    return err_set(c->err, code, "%s: %s", c->file, msg);
}

static int path_reserve(struct yctx *c, size_t extra)
{
    if (c->plen + extra + 1 <= c->pcap)
        return 0;
    size_t cap = c->pcap ? c->pcap : 256;
    while (cap < c->plen + extra + 1)
        cap *= 2;
    char *p = realloc(c->path, cap);
    if (!p)
        return -ENOMEM;
    c->path = p;
    c->pcap = cap;
    return 0;
}

/* Appends ".seg" (or "seg" at the root); returns the previous length to restore. */
static int path_push(struct yctx *c, const char *seg, size_t n, size_t *saved)
{
    *saved = c->plen;
    if (path_reserve(c, n + 1) < 0)
        return -ENOMEM;
    if (c->plen)
        c->path[c->plen++] = '.';
    memcpy(c->path + c->plen, seg, n);
    c->plen += n;
    c->path[c->plen] = '\0';
    return 0;
}

static void path_pop(struct yctx *c, size_t saved)
{
    c->plen = saved;
    if (c->path)
        c->path[c->plen] = '\0';
}

static int pos_record(struct yctx *c, const yaml_mark_t *m)
{
    json_t *p = json_pack("[ii]", (int)m->line + 1, (int)m->column + 1);
    if (!p || json_object_set_new(c->pos, c->path ? c->path : "", p) != 0)
        return yerr(c, -ENOMEM, NULL, "out of memory");
    return 0;
}

static int next_event(struct yctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->parser, ev))
        return 0;
    const yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_MEMORY_ERROR)
        return yerr(c, -ENOMEM, NULL, "out of memory");
    if (p->context)
        return yerr(c, -EINVAL, &p->problem_mark, "%s %s (line %zu)", problem, p->context,
                    p->context_mark.line + 1);
    return yerr(c, -EINVAL, &p->problem_mark, "%s", problem);
}

static bool match_all(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

static bool is_core_float(const char *s)
{
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t ip = 0, fp = 0;
    while (*p >= '0' && *p <= '9') {
        p++;
        ip++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            fp++;
        }
    }
    if (ip == 0 && fp == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Resolves a plain scalar by the YAML 1.2 core schema. */
static int resolve_plain(struct yctx *c, const char *s, size_t n, const yaml_mark_t *m,
                         json_t **out)
{
    if (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0) {
        *out = json_null();
        return 0;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
        *out = json_true();
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
        *out = json_false();
        return 0;
    }
    const char *body = s + (s[0] == '-' || s[0] == '+');
    int base = 0;
    const char *digits = NULL;
    if (match_all(body, "0123456789")) {
        base = 10;
        digits = s;
    } else if (s[0] == '0' && s[1] == 'o' && match_all(s + 2, "01234567")) {
        base = 8;
        digits = s + 2;
    } else if (s[0] == '0' && s[1] == 'x' && match_all(s + 2, "0123456789abcdefABCDEF")) {
        base = 16;
        digits = s + 2;
    }
    if (base) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(digits, &end, base);
        if (errno == ERANGE || *end)
            return yerr(c, -EINVAL, m,
                        "integer %s does not fit in 64 bits (quote it to make it a string)", s);
        *out = json_integer(v);
        return *out ? 0 : yerr(c, -ENOMEM, NULL, "out of memory");
    }
    if (is_core_float(s)) {
        double d = strtod(s, NULL);
        if (!isfinite(d))
            return yerr(c, -EINVAL, m, "number %s is out of range", s);
        *out = json_real(d);
        return *out ? 0 : yerr(c, -ENOMEM, NULL, "out of memory");
    }
    const char *f = s + (s[0] == '-' || s[0] == '+');
    if (strcmp(f, ".inf") == 0 || strcmp(f, ".Inf") == 0 || strcmp(f, ".INF") == 0 ||
        strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
        return yerr(c, -EINVAL, m, "%s cannot be represented in JSON (quote it to make it a string)",
                    s);
    return -ENOENT; /* a plain string */
}

static int build_scalar(struct yctx *c, const yaml_event_t *ev, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    /* !!int, !!float, !!bool and !!null resolve by content even when quoted (so
     * `!!int "3"` is 3); the non-specific "!" tag, !!str and any other tag (!!binary,
     * local tags) leave a quoted scalar a string. */
    bool force_str = tag && (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0);
    bool typed = tag && (strcmp(tag, YAML_INT_TAG) == 0 || strcmp(tag, YAML_FLOAT_TAG) == 0 ||
                         strcmp(tag, YAML_BOOL_TAG) == 0 || strcmp(tag, YAML_NULL_TAG) == 0);
    if (!force_str && (plain || typed) && strlen(s) == n) {
        int r = resolve_plain(c, s, n, &ev->start_mark, out);
        if (r != -ENOENT)
            return r;
    }
    *out = json_stringn(s, n);
    if (!*out)
        return yerr(c, -EINVAL, &ev->start_mark, "string is not valid UTF-8");
    return 0;
}

static int build_node(struct yctx *c, yaml_event_t *ev, json_t **out);

/* The key of a mapping entry as a string (YAML allows any node as a key; JSON does not).
 * Numbers, booleans and null keep their source text, so `80: http` has key "80". */
static int build_key(struct yctx *c, yaml_event_t *ev, char **key, bool *merge)
{
    *merge = false;
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *s = (const char *)ev->data.scalar.value;
        if (strlen(s) != ev->data.scalar.length)
            return yerr(c, -EINVAL, &ev->start_mark, "mapping key contains a NUL character");
        *merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "<<") == 0;
        *key = strdup(s);
        return *key ? 0 : yerr(c, -ENOMEM, NULL, "out of memory");
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        json_t *a = json_object_get(c->anchors, (const char *)ev->data.alias.anchor);
        json_t *v = json_array_get(a, 0);
        if (json_is_string(v)) {
            *key = strdup(json_string_value(v));
            return *key ? 0 : yerr(c, -ENOMEM, NULL, "out of memory");
        }
    }
    return yerr(c, -EINVAL, &ev->start_mark, "mapping keys must be strings or numbers");
}

/* Applies `<<: value` to obj: keys not yet present are copied in and remembered in
 * merged (so that a later explicit key may override them without being a duplicate). */
static int apply_merge(struct yctx *c, json_t *obj, json_t *merged, json_t *val,
                       const yaml_mark_t *m)
{
    json_t *srcs = json_is_array(val) ? val : NULL;
    size_t n = srcs ? json_array_size(srcs) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *src = srcs ? json_array_get(srcs, i) : val;
        if (!json_is_object(src))
            return yerr(c, -EINVAL, m, "merge key \"<<\" needs a mapping or a list of mappings");
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v) {
            if (json_object_get(obj, k))
                continue;
            size_t saved;
            if (json_object_set(obj, k, v) != 0 || json_object_set_new(merged, k, json_true()) ||
                path_push(c, k, strlen(k), &saved) < 0)
                return yerr(c, -ENOMEM, NULL, "out of memory");
            int r = pos_record(c, m);
            path_pop(c, saved);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int build_mapping(struct yctx *c, json_t **out)
{
    json_t *obj = json_object();
    json_t *merged = NULL;
    char *key = NULL;
    yaml_event_t kev, vev;
    bool have_k = false, have_v = false;
    int r = 0;
    if (!obj)
        return yerr(c, -ENOMEM, NULL, "out of memory");
    for (;;) {
        if ((r = next_event(c, &kev)) < 0)
            goto out;
        have_k = true;
        if (kev.type == YAML_MAPPING_END_EVENT)
            break;
        bool merge;
        if ((r = build_key(c, &kev, &key, &merge)) < 0)
            goto out;
        /* A key given as a collection must still be consumed; build_key refused it. */
        size_t saved;
        if ((r = path_push(c, key, strlen(key), &saved)) < 0) {
            r = yerr(c, r, NULL, "out of memory");
            goto out;
        }
        json_t *existing = json_object_get(obj, key);
        if (existing && !merge && !(merged && json_object_get(merged, key))) {
            r = yerr(c, -EINVAL, &kev.start_mark, "duplicate key \"%s\"", key);
            goto out;
        }
        if (!merge && (r = pos_record(c, &kev.start_mark)) < 0)
            goto out;
        if ((r = next_event(c, &vev)) < 0)
            goto out;
        have_v = true;
        json_t *val = NULL;
        r = build_node(c, &vev, &val);
        path_pop(c, saved);
        if (r < 0)
            goto out;
        if (merge) {
            if (!merged && !(merged = json_object())) {
                json_decref(val);
                r = yerr(c, -ENOMEM, NULL, "out of memory");
                goto out;
            }
            r = apply_merge(c, obj, merged, val, &kev.start_mark);
            json_decref(val);
            if (r < 0)
                goto out;
        } else {
            if (merged)
                json_object_del(merged, key);
            if (json_object_set_new(obj, key, val) != 0) {
                r = yerr(c, -ENOMEM, NULL, "out of memory");
                goto out;
            }
        }
        free(key);
        key = NULL;
        yaml_event_delete(&kev);
        yaml_event_delete(&vev);
        have_k = have_v = false;
    }
    *out = obj;
    obj = NULL;
out:
    if (have_k)
        yaml_event_delete(&kev);
    if (have_v)
        yaml_event_delete(&vev);
    free(key);
    json_decref(merged);
    json_decref(obj);
    return r;
}

static int build_sequence(struct yctx *c, json_t **out)
{
    json_t *arr = json_array();
    yaml_event_t ev;
    bool have = false;
    int r = 0;
    if (!arr)
        return yerr(c, -ENOMEM, NULL, "out of memory");
    for (size_t i = 0;; i++) {
        if ((r = next_event(c, &ev)) < 0)
            goto out;
        have = true;
        if (ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        char idx[24];
        int n = snprintf(idx, sizeof(idx), "%zu", i);
        size_t saved;
        if (path_push(c, idx, (size_t)n, &saved) < 0) {
            r = yerr(c, -ENOMEM, NULL, "out of memory");
            goto out;
        }
        json_t *val = NULL;
        r = pos_record(c, &ev.start_mark);
        if (r == 0)
            r = build_node(c, &ev, &val);
        path_pop(c, saved);
        if (r < 0)
            goto out;
        if (json_array_append_new(arr, val) != 0) {
            r = yerr(c, -ENOMEM, NULL, "out of memory");
            goto out;
        }
        yaml_event_delete(&ev);
        have = false;
    }
    *out = arr;
    arr = NULL;
out:
    if (have)
        yaml_event_delete(&ev);
    json_decref(arr);
    return r;
}

/* Builds the node that starts with ev (a scalar, alias, or collection start; the caller
 * owns ev). Anchored nodes are remembered with their size for later aliases. */
static int build_node(struct yctx *c, yaml_event_t *ev, json_t **out)
{
    const char *anchor = NULL;
    size_t before = c->nodes;
    int r;
    if (++c->depth > YAML_DEPTH_MAX) {
        r = yerr(c, -EINVAL, &ev->start_mark, "nesting deeper than %d levels", YAML_DEPTH_MAX);
        goto out;
    }
    c->nodes++;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        r = build_scalar(c, ev, out);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        r = build_sequence(c, out);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        r = build_mapping(c, out);
        break;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        json_t *a = json_object_get(c->anchors, name);
        if (!a) {
            r = yerr(c, -EINVAL, &ev->start_mark, "unknown anchor \"%s\"", name);
            goto out;
        }
        size_t size = (size_t)json_integer_value(json_array_get(a, 1));
        c->alias_nodes += size;
        c->nodes += size;
        if (c->alias_nodes > YAML_ALIAS_NODES_MAX) {
            r = yerr(c, -E2BIG, &ev->start_mark,
                     "aliases expand to more than %d nodes (a \"billion laughs\" document?)",
                     YAML_ALIAS_NODES_MAX);
            goto out;
        }
        *out = json_deep_copy(json_array_get(a, 0));
        r = *out ? 0 : yerr(c, -ENOMEM, NULL, "out of memory");
        break;
    }
    default:
        r = yerr(c, -EINVAL, &ev->start_mark, "unexpected YAML event");
        break;
    }
    if (r == 0 && anchor) {
        json_t *a = json_pack("[Oi]", *out, (json_int_t)(c->nodes - before));
        if (!a || json_object_set_new(c->anchors, anchor, a) != 0) {
            json_decref(*out);
            *out = NULL;
            r = yerr(c, -ENOMEM, NULL, "out of memory");
        }
    }
out:
    c->depth--;
    return r;
}

static int docs_append(struct schema_docs *docs, size_t *cap, json_t *obj, json_t *pos, int line)
{
    if (docs->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct schema_doc *v = realloc(docs->v, ncap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        docs->v = v;
        *cap = ncap;
    }
    docs->v[docs->n++] = (struct schema_doc){.obj = obj, .pos = pos, .line = line};
    return 0;
}

int schema_yaml_parse(const char *buf, size_t len, const char *filename, struct schema_docs *out,
                      struct bosun_err *err)
{
    struct yctx c = {.file = filename ? filename : "<input>", .err = err};
    struct schema_docs docs = {0};
    size_t cap = 0;
    yaml_event_t ev;
    bool have = false, parser_ok = false;
    int r = 0;

    if (!yaml_parser_initialize(&c.parser)) {
        r = yerr(&c, -ENOMEM, NULL, "out of memory");
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)buf, len);
    for (;;) {
        if ((r = next_event(&c, &ev)) < 0)
            goto out;
        have = true;
        if (ev.type == YAML_STREAM_END_EVENT)
            break;
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            have = false;
            continue; /* STREAM_START */
        }
        int line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        have = false;

        c.pos = json_object();
        c.anchors = json_object();
        c.nodes = c.alias_nodes = 0;
        path_pop(&c, 0);
        if (!c.pos || !c.anchors) {
            r = yerr(&c, -ENOMEM, NULL, "out of memory");
            goto out;
        }
        json_t *obj = NULL;
        if ((r = next_event(&c, &ev)) < 0)
            goto out;
        have = true;
        if (path_reserve(&c, 0) < 0) {
            r = yerr(&c, -ENOMEM, NULL, "out of memory");
            goto out;
        }
        c.path[0] = '\0';
        if ((r = pos_record(&c, &ev.start_mark)) < 0 || (r = build_node(&c, &ev, &obj)) < 0)
            goto out;
        yaml_event_delete(&ev);
        have = false;
        if ((r = next_event(&c, &ev)) < 0) { /* DOCUMENT_END */
            json_decref(obj);
            goto out;
        }
        have = true;
        json_decref(c.anchors);
        c.anchors = NULL;
        if (json_is_null(obj)) { /* empty document (or only comments) */
            json_decref(obj);
            json_decref(c.pos);
            c.pos = NULL;
        } else {
            if (docs_append(&docs, &cap, obj, c.pos, line) < 0) {
                json_decref(obj);
                r = yerr(&c, -ENOMEM, NULL, "out of memory");
                goto out;
            }
            c.pos = NULL;
        }
        yaml_event_delete(&ev);
        have = false;
    }
    *out = docs;
    docs = (struct schema_docs){0};
out:
    if (have)
        yaml_event_delete(&ev);
    if (parser_ok)
        yaml_parser_delete(&c.parser);
    json_decref(c.pos);
    json_decref(c.anchors);
    free(c.path);
    schema_docs_free(&docs);
    return r;
}

void schema_docs_free(struct schema_docs *docs)
{
    if (!docs)
        return;
    for (size_t i = 0; i < docs->n; i++) {
        json_decref(docs->v[i].obj);
        json_decref(docs->v[i].pos);
    }
    free(docs->v);
    docs->v = NULL;
    docs->n = 0;
}

int schema_doc_position(const struct schema_doc *doc, const char *path, int *line, int *col)
{
    if (!doc || !doc->pos || !path)
        return -ENOENT;
    size_t n = strlen(path);
    for (;;) {
        json_t *p = json_object_getn(doc->pos, path, n);
        if (json_is_array(p)) {
            *line = (int)json_integer_value(json_array_get(p, 0));
            *col = (int)json_integer_value(json_array_get(p, 1));
            return 0;
        }
        if (n == 0)
            return -ENOENT;
        while (n > 0 && path[n - 1] != '.')
            n--;
        if (n > 0)
            n--; /* drop the dot */
    }
}
