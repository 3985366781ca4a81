/* fields — indexes the embedded Kubernetes field tree once.
 *
 * The JSON (kept alive: every name in the index is borrowed from it) is walked twice:
 * first every type of every group goes into one hash table, then every field's type
 * string is parsed into a schema_tref, resolving names through the group's own types,
 * its aliases and its imports. Nothing is ever freed: the index lives as long as the
 * process and is read-only after pthread_once. */
#include "schema/fields.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

extern const char schema_fields_json[];
extern const size_t schema_fields_json_len;

/* bosun.io/v1 is not in the Kubernetes tree; written in the same shape so that it is
 * indexed, imported (ObjectMeta, Condition) and validated the same way. */
static const char bosun_group_json[] =
    "{\"aliases\":{},\"imports\":{\"../meta/v1\":[\"Condition\",\"ListMeta\",\"ObjectMeta\"]},"
    "\"types\":{"
    "\"GitRepository\":{"
    "\"apiVersion\":{\"required\":false,\"type\":\"\\\"bosun.io/v1\\\"\"},"
    "\"kind\":{\"required\":false,\"type\":\"\\\"GitRepository\\\"\"},"
    "\"metadata\":{\"required\":false,\"type\":\"ObjectMeta\"},"
    "\"spec\":{\"required\":false,\"type\":\"GitRepositorySpec\"},"
    "\"status\":{\"required\":false,\"type\":\"GitRepositoryStatus\"}},"
    "\"GitRepositoryList\":{"
    "\"apiVersion\":{\"required\":false,\"type\":\"\\\"bosun.io/v1\\\"\"},"
    "\"items\":{\"required\":true,\"type\":\"Array<GitRepository>\"},"
    "\"kind\":{\"required\":false,\"type\":\"\\\"GitRepositoryList\\\"\"},"
    "\"metadata\":{\"required\":false,\"type\":\"ListMeta\"}},"
    "\"GitRepositorySpec\":{"
    "\"url\":{\"required\":true,\"type\":\"string\"},"
    "\"branch\":{\"required\":false,\"type\":\"string\"},"
    "\"path\":{\"required\":false,\"type\":\"string\"},"
    "\"interval\":{\"required\":false,\"type\":\"string\"},"
    "\"prune\":{\"required\":false,\"type\":\"boolean\"},"
    "\"suspend\":{\"required\":false,\"type\":\"boolean\"}},"
    "\"GitRepositoryStatus\":{"
    "\"lastAppliedRevision\":{\"required\":false,\"type\":\"string\"},"
    "\"lastAttemptedRevision\":{\"required\":false,\"type\":\"string\"},"
    "\"conditions\":{\"required\":false,\"type\":\"Array<Condition>\"},"
    "\"errors\":{\"required\":false,\"type\":\"Array<GitRepositoryError>\"},"
    "\"inventory\":{\"required\":false,\"type\":\"Array<GitRepositoryInventoryEntry>\"},"
    "\"observedGeneration\":{\"required\":false,\"type\":\"number\"},"
    "\"lastHandledReconcileAt\":{\"required\":false,\"type\":\"string\"}},"
    "\"GitRepositoryError\":{"
    "\"file\":{\"required\":false,\"type\":\"string\"},"
    "\"line\":{\"required\":false,\"type\":\"number\"},"
    "\"column\":{\"required\":false,\"type\":\"number\"},"
    "\"field\":{\"required\":false,\"type\":\"string\"},"
    "\"message\":{\"required\":true,\"type\":\"string\"}},"
    "\"GitRepositoryInventoryEntry\":{"
    "\"apiVersion\":{\"required\":true,\"type\":\"string\"},"
    "\"kind\":{\"required\":true,\"type\":\"string\"},"
    "\"namespace\":{\"required\":false,\"type\":\"string\"},"
    "\"name\":{\"required\":true,\"type\":\"string\"}}"
    "}}";

struct type_impl {
    struct schema_type pub; /* first: schema_type pointers are type_impl pointers */
    json_t *src;            /* {"field": {"required", "type"}} (borrowed) */
    json_t *group_src;      /* the group object, for resolving names */
    uint32_t *slots;        /* field index + 1, 0 = empty; size mask + 1 */
    size_t mask;
};

static struct {
    json_t *root;
    json_t *groups;
    struct type_impl **slots; /* open addressing on group + name */
    size_t mask;
    int rc;
    struct bosun_err err;
} fx;

static pthread_once_t fx_once = PTHREAD_ONCE_INIT;

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV_INIT 1469598103934665603ull

static uint64_t type_hash(const char *group, const char *name, size_t nlen)
{
    uint64_t h = fnv(FNV_INIT, group, strlen(group));
    h = fnv(h, "\0", 1);
    return fnv(h, name, nlen);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 8;
    while (c < n)
        c <<= 1;
    return c;
}

static struct type_impl *type_lookup(const char *group, const char *name, size_t nlen)
{
    if (!fx.slots)
        return NULL;
    for (size_t i = type_hash(group, name, nlen) & fx.mask;; i = (i + 1) & fx.mask) {
        struct type_impl *t = fx.slots[i];
        if (!t)
            return NULL;
        if (strcmp(t->pub.group, group) == 0 && strncmp(t->pub.name, name, nlen) == 0 &&
            t->pub.name[nlen] == '\0')
            return t;
    }
}

static struct schema_tref *tref_new(enum schema_tkind kind)
{
    struct schema_tref *t = calloc(1, sizeof(*t));
    if (t)
        t->kind = kind;
    return t;
}

static const struct schema_tref *parse_texpr(const char *group, const char *s, size_t n,
                                             int depth);

/* "../meta/v1" -> "meta/v1" (imports are relative to the group directory). */
static const char *import_group(const char *path)
{
    while (strncmp(path, "../", 3) == 0)
        path += 3;
    return path;
}

/* Resolves a bare type name as seen from group: its own types, its aliases (with the
 * well-known Quantity/Time special-cased), then its imports. */
static const struct schema_tref *resolve_name(const char *group, const char *name, size_t n,
                                              int depth)
{
    if (depth > 8)
        return tref_new(SCHEMA_T_ANY);
    struct type_impl *ti = type_lookup(group, name, n);
    if (ti) {
        struct schema_tref *t = tref_new(SCHEMA_T_OBJECT);
        if (t)
            t->object = &ti->pub;
        return t;
    }
    char nm[128];
    if (n >= sizeof(nm))
        return tref_new(SCHEMA_T_ANY);
    memcpy(nm, name, n);
    nm[n] = '\0';
    json_t *g = json_object_get(fx.groups, group);
    json_t *alias = json_object_get(json_object_get(g, "aliases"), nm);
    if (json_is_string(alias)) {
        /* Quantity and Time are aliases of string, but they accept more (numbers) or
         * less (RFC 3339) than any string, so they keep their identity. */
        if (strcmp(nm, "Quantity") == 0)
            return tref_new(SCHEMA_T_QUANTITY);
        if (strcmp(nm, "Time") == 0 || strcmp(nm, "MicroTime") == 0)
            return tref_new(SCHEMA_T_TIME);
        return parse_texpr(group, json_string_value(alias), json_string_length(alias), depth + 1);
    }
    const char *path;
    json_t *names;
    json_object_foreach(json_object_get(g, "imports"), path, names) {
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), nm) == 0)
                return resolve_name(import_group(path), name, n, depth + 1);
        }
    }
    /* e.g. runtime.RawExtension: imported from a group that declares no types */
    return tref_new(SCHEMA_T_ANY);
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Parses the TypeScript-ish type strings of the field tree:
 *   string | number | boolean | "literal" | Name | Array<T> | { [name: string]: T } | A | B */
static const struct schema_tref *parse_texpr(const char *group, const char *s, size_t n,
                                             int depth)
{
    if (depth > 16)
        return tref_new(SCHEMA_T_ANY);
    trim(&s, &n);
    /* top-level union */
    int nest = 0;
    size_t bars = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '<' || s[i] == '{' || s[i] == '[')
            nest++;
        else if (s[i] == '>' || s[i] == '}' || s[i] == ']')
            nest--;
        else if (s[i] == '|' && nest == 0)
            bars++;
    }
    if (bars) {
        struct schema_tref *u = tref_new(SCHEMA_T_UNION);
        const struct schema_tref **alts = calloc(bars + 1, sizeof(*alts));
        if (!u || !alts) {
            free(u);
            free(alts);
            return NULL;
        }
        size_t start = 0, k = 0;
        nest = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && (s[i] == '<' || s[i] == '{' || s[i] == '['))
                nest++;
            else if (i < n && (s[i] == '>' || s[i] == '}' || s[i] == ']'))
                nest--;
            else if (i == n || (s[i] == '|' && nest == 0)) {
                if (!(alts[k++] = parse_texpr(group, s + start, i - start, depth + 1)))
                    return NULL;
                start = i + 1;
            }
        }
        u->alts = (const struct schema_tref *const *)alts;
        u->nalts = k;
        return u;
    }
    if (n >= 7 && strncmp(s, "Array<", 6) == 0 && s[n - 1] == '>') {
        struct schema_tref *a = tref_new(SCHEMA_T_ARRAY);
        if (a && !(a->elem = parse_texpr(group, s + 6, n - 7, depth + 1)))
            return NULL;
        return a;
    }
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        const char *colon = memmem(s, n, "]:", 2);
        if (!colon)
            return tref_new(SCHEMA_T_ANY);
        const char *v = colon + 2;
        struct schema_tref *m = tref_new(SCHEMA_T_MAP);
        if (m && !(m->elem = parse_texpr(group, v, (size_t)(s + n - 1 - v), depth + 1)))
            return NULL;
        return m;
    }
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        struct schema_tref *l = tref_new(SCHEMA_T_LITERAL);
        if (l && !(l->literal = strndup(s + 1, n - 2)))
            return NULL;
        return l;
    }
    if (n == 6 && strncmp(s, "string", 6) == 0)
        return tref_new(SCHEMA_T_STRING);
    if (n == 6 && strncmp(s, "number", 6) == 0)
        return tref_new(SCHEMA_T_INTEGER);
    if (n == 7 && strncmp(s, "boolean", 7) == 0)
        return tref_new(SCHEMA_T_BOOLEAN);
    return resolve_name(group, s, n, depth + 1);
}

static int field_cmp(const void *a, const void *b)
{
    return strcmp(((const struct schema_field *)a)->name, ((const struct schema_field *)b)->name);
}

static int index_fields(struct type_impl *ti)
{
    size_t n = json_object_size(ti->src);
    struct schema_field *f = calloc(n ? n : 1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    size_t i = 0;
    const char *name;
    json_t *def;
    json_object_foreach(ti->src, name, def) {
        json_t *type = json_object_get(def, "type");
        if (!json_is_string(type)) {
            free(f);
            return err_set(&fx.err, -EINVAL, "schema: %s.%s.%s has no type", ti->pub.group,
                           ti->pub.name, name);
        }
        f[i].name = name;
        f[i].required = json_is_true(json_object_get(def, "required"));
        f[i].type = parse_texpr(ti->pub.group, json_string_value(type), json_string_length(type),
                                0);
        if (!f[i].type) {
            free(f);
            return -ENOMEM;
        }
        i++;
    }
    qsort(f, n, sizeof(*f), field_cmp);
    size_t cap = pow2_at_least(n * 2);
    ti->slots = calloc(cap, sizeof(*ti->slots));
    if (!ti->slots) {
        free(f);
        return -ENOMEM;
    }
    ti->mask = cap - 1;
    for (i = 0; i < n; i++) {
        size_t s = fnv(FNV_INIT, f[i].name, strlen(f[i].name)) & ti->mask;
        while (ti->slots[s])
            s = (s + 1) & ti->mask;
        ti->slots[s] = (uint32_t)(i + 1);
    }
    ti->pub.fields = f;
    ti->pub.nfields = n;
    return 0;
}

static void fx_build(void)
{
    json_error_t jerr;
    int r = 0;
    fx.root = json_loadb(schema_fields_json, schema_fields_json_len, 0, &jerr);
    json_t *bosun = json_loads(bosun_group_json, 0, &jerr);
    fx.groups = json_object_get(fx.root, "groups");
    if (!json_is_object(fx.groups) || !bosun) {
        json_decref(bosun);
        r = err_set(&fx.err, -EINVAL, "schema: embedded field tree: %s", jerr.text);
        goto out;
    }
    if (json_object_set_new(fx.groups, "bosun/v1", bosun) != 0) {
        r = err_set(&fx.err, -ENOMEM, "schema: out of memory");
        goto out;
    }

    size_t ntypes = 0;
    const char *gname;
    json_t *g;
    json_object_foreach(fx.groups, gname, g) ntypes += json_object_size(json_object_get(g, "types"));
    size_t cap = pow2_at_least(ntypes * 2);
    fx.slots = calloc(cap, sizeof(*fx.slots));
    if (!fx.slots) {
        r = err_set(&fx.err, -ENOMEM, "schema: out of memory");
        goto out;
    }
    fx.mask = cap - 1;
    json_object_foreach(fx.groups, gname, g) {
        const char *tname;
        json_t *tdef;
        json_object_foreach(json_object_get(g, "types"), tname, tdef) {
            struct type_impl *ti = calloc(1, sizeof(*ti));
            if (!ti) {
                r = err_set(&fx.err, -ENOMEM, "schema: out of memory");
                goto out;
            }
            ti->pub.group = gname;
            ti->pub.name = tname;
            ti->src = tdef;
            ti->group_src = g;
            size_t s = type_hash(gname, tname, strlen(tname)) & fx.mask;
            while (fx.slots[s])
                s = (s + 1) & fx.mask;
            fx.slots[s] = ti;
        }
    }
    for (size_t i = 0; i <= fx.mask; i++) {
        if (fx.slots[i] && (r = index_fields(fx.slots[i])) < 0) {
            if (r == -ENOMEM)
                err_set(&fx.err, r, "schema: out of memory");
            goto out;
        }
    }
out:
    fx.rc = r;
}

int schema_fields_init(struct bosun_err *err)
{
    pthread_once(&fx_once, fx_build);
    if (fx.rc < 0) {
        if (err)
            *err = fx.err;
        return fx.rc;
    }
    return 0;
}

const struct schema_type *schema_fields_type(const char *group, const char *name)
{
    if (schema_fields_init(NULL) < 0 || !group || !name)
        return NULL;
    struct type_impl *t = type_lookup(group, name, strlen(name));
    return t ? &t->pub : NULL;
}

const struct schema_field *schema_fields_field(const struct schema_type *t, const char *name)
{
    if (!t || !name)
        return NULL;
    const struct type_impl *ti = (const struct type_impl *)t;
    for (size_t s = fnv(FNV_INIT, name, strlen(name)) & ti->mask;; s = (s + 1) & ti->mask) {
        uint32_t i = ti->slots[s];
        if (!i)
            return NULL;
        if (strcmp(t->fields[i - 1].name, name) == 0)
            return &t->fields[i - 1];
    }
}

const char *schema_fields_group_of(const char *api_version, char *buf, size_t len)
{
    if (!api_version || !buf)
        return NULL;
    const char *slash = strchr(api_version, '/');
    int n;
    if (!slash) {
        n = snprintf(buf, len, "core/%s", api_version);
    } else {
        /* "coordination.k8s.io" -> "coordination": the tree names groups by their
         * first label */
        size_t glen = strcspn(api_version, "./");
        n = snprintf(buf, len, "%.*s/%s", (int)glen, api_version, slash + 1);
    }
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

const char *schema_tref_describe(const struct schema_tref *t, char *buf, size_t len)
{
    if (!buf || len == 0)
        return NULL;
    buf[0] = '\0';
    if (!t)
        return buf;
    char inner[256];
    switch (t->kind) {
    case SCHEMA_T_ANY:
        snprintf(buf, len, "any");
        break;
    case SCHEMA_T_STRING:
        snprintf(buf, len, "string");
        break;
    case SCHEMA_T_INTEGER:
        snprintf(buf, len, "integer");
        break;
    case SCHEMA_T_BOOLEAN:
        snprintf(buf, len, "boolean");
        break;
    case SCHEMA_T_QUANTITY:
        snprintf(buf, len, "quantity");
        break;
    case SCHEMA_T_TIME:
        snprintf(buf, len, "time");
        break;
    case SCHEMA_T_LITERAL:
        snprintf(buf, len, "\"%s\"", t->literal);
        break;
    case SCHEMA_T_OBJECT:
        snprintf(buf, len, "%s", t->object->name);
        break;
    case SCHEMA_T_ARRAY:
        snprintf(buf, len, "Array<%s>", schema_tref_describe(t->elem, inner, sizeof(inner)));
        break;
    case SCHEMA_T_MAP:
        snprintf(buf, len, "map of %s", schema_tref_describe(t->elem, inner, sizeof(inner)));
        break;
    case SCHEMA_T_UNION: {
        size_t off = 0;
        for (size_t i = 0; i < t->nalts && off < len; i++) {
            int w = snprintf(buf + off, len - off, "%s%s", i ? " or " : "",
                             schema_tref_describe(t->alts[i], inner, sizeof(inner)));
            if (w < 0)
                break;
            off += (size_t)w;
        }
        break;
    }
    }
    return buf;
}
