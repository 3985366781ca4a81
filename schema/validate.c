/* validate — two passes over an object.
 *
 * 1. A generic walk against the Kubernetes field tree (schema/fields.h): unknown fields,
 *    wrong JSON types, missing required fields, quantities that do not parse; and
 *    warnings for fields Kubernetes defines but bosun does not act on (the `supported`
 *    table below, per type, so a Pod's spec and a Deployment's template share it).
 *    A warning is given once, at the top of the ignored subtree. `status` is written by
 *    components, never by Git: it is type-checked but neither warned about nor held to
 *    the field tree's "required" flags (those come from TypeScript optionality and would
 *    demand e.g. imageID from every container status).
 * 2. Kind rules (names, replicas, ports, selectors, ...), reading the object defensively
 *    because pass 1 has already reported anything of the wrong type.
 *
 * null is treated as "unset" everywhere, as the API server does. */
#include "schema/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "schema/fields.h"
#include "schema/kinds.h"
#include "schema/quantity.h"

/* Fields bosun acts on, per field-tree type. A type not listed here is acted on in
 * full (ObjectMeta, LabelSelector, the kinds bosun's components write themselves). */
static const struct {
    const char *type;
    const char *const fields[12];
} supported[] = {
    {"PodSpec",
     {"containers", "restartPolicy", "terminationGracePeriodSeconds", "nodeName", "schedulerName",
      "hostNetwork", "nodeSelector", NULL}},
    {"Container",
     {"name", "image", "command", "args", "env", "ports", "resources", "imagePullPolicy",
      "workingDir", NULL}},
    {"EnvVar", {"name", "value", NULL}},
    {"ContainerPort", {"containerPort", "name", "protocol", NULL}},
    {"ResourceRequirements", {"limits", "requests", NULL}},
    {"DeploymentSpec", {"replicas", "selector", "template", "strategy", NULL}},
    {"ReplicaSetSpec", {"replicas", "selector", "template", NULL}},
    {"ServiceSpec", {"type", "selector", "ports", "clusterIP", "sessionAffinity", NULL}},
    {"ServicePort", {"name", "port", "targetPort", "nodePort", "protocol", NULL}},
    {"ConfigMap", {"apiVersion", "kind", "metadata", "data", "binaryData", NULL}},
    {"Secret", {"apiVersion", "kind", "metadata", "data", "stringData", "type", NULL}},
};

struct vctx {
    const struct schema_doc *doc;
    struct schema_issues *out;
    size_t added; /* errors added by this call (also those dropped for lack of memory) */
    bool in_status;
    char *path;
    size_t plen, pcap;
    bool oom;
};

/* ---- issues and paths ------------------------------------------------------- */

static void add_issue(struct vctx *v, enum schema_severity sev, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_issue(struct vctx *v, enum schema_severity sev, const char *field,
                      const char *fmt, ...)
{
    if (sev == SCHEMA_ERROR)
        v->added++;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct schema_issues *o = v->out;
    /* capacity is the power of two at or above n (the struct has no capacity field) */
    if (o->n == 0 || (o->n & (o->n - 1)) == 0) {
        struct schema_issue *nv = realloc(o->v, (o->n ? o->n * 2 : 1) * sizeof(*nv));
        if (!nv)
            return;
        o->v = nv;
    }
    struct schema_issue *is = &o->v[o->n];
    *is = (struct schema_issue){.severity = sev};
    is->field = strdup(field ? field : "");
    is->message = strdup(msg);
    if (!is->field || !is->message) {
        free(is->field);
        free(is->message);
        return;
    }
    if (schema_doc_position(v->doc, is->field, &is->line, &is->col) < 0)
        is->line = is->col = 0;
    o->n++;
    if (sev == SCHEMA_ERROR)
        o->errors++;
}

#define verr(v, field, ...) add_issue((v), SCHEMA_ERROR, (field), __VA_ARGS__)
#define vwarn(v, field, ...) add_issue((v), SCHEMA_WARNING, (field), __VA_ARGS__)

static size_t path_push(struct vctx *v, const char *seg)
{
    size_t saved = v->plen, n = strlen(seg);
    if (v->plen + n + 2 > v->pcap) {
        size_t cap = v->pcap ? v->pcap : 256;
        while (cap < v->plen + n + 2)
            cap *= 2;
        char *p = realloc(v->path, cap);
        if (!p) {
            v->oom = true;
            return saved;
        }
        v->path = p;
        v->pcap = cap;
    }
    if (v->plen)
        v->path[v->plen++] = '.';
    memcpy(v->path + v->plen, seg, n);
    v->plen += n;
    v->path[v->plen] = '\0';
    return saved;
}

static size_t path_push_index(struct vctx *v, size_t i)
{
    char idx[24];
    snprintf(idx, sizeof(idx), "%zu", i);
    return path_push(v, idx);
}

static void path_pop(struct vctx *v, size_t saved)
{
    v->plen = saved;
    if (v->path)
        v->path[saved] = '\0';
}

static const char *cur(const struct vctx *v)
{
    return v->path ? v->path : "";
}

/* snprintf for field paths, which may be cut short: through vsnprintf so that gcc does
 * not warn about truncation at every call. */
static void fmt_path(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* "<prefix>.<rest>" for rule messages; buf is owned by the caller. */
static const char *join(char *buf, size_t len, const char *prefix, const char *rest)
{
    /* memcpy, not snprintf: paths may be cut short, and gcc's truncation warnings on
     * snprintf would fire on every caller */
    size_t off = 0;
    const char *parts[3] = {prefix, *prefix && *rest ? "." : "", rest};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (n > len - 1 - off)
            n = len - 1 - off;
        memcpy(buf + off, parts[i], n);
        off += n;
    }
    buf[off] = '\0';
    return buf;
}

/* ---- pass 1: the field tree ------------------------------------------------- */

static const char *const *supported_fields(const struct schema_type *t)
{
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
        if (strcmp(supported[i].type, t->name) == 0)
            return supported[i].fields;
    return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) !=
                                          tolower((unsigned char)b[j - 1]));
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = c < del ? (c < ins ? c : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* The closest declared field, for "did you mean"; NULL when nothing is close. */
static const char *closest_field(const struct schema_type *t, const char *name)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < t->nfields; i++) {
        size_t d = edit_distance(name, t->fields[i].name);
        if (d < bd) {
            bd = d;
            best = t->fields[i].name;
        }
    }
    return best;
}

static bool is_rfc3339(const char *s)
{
    /* 2006-01-02T15:04:05[.frac](Z|+07:00) */
    static const char pat[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : (s[i] != pat[i] && !(pat[i] == 'T' && s[i] == 't')))
            return false;
    }
    s += sizeof(pat) - 1;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
        return true;
    return (*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
           isdigit((unsigned char)s[2]) && s[3] == ':' && isdigit((unsigned char)s[4]) &&
           isdigit((unsigned char)s[5]) && s[6] == '\0';
}

/* Whether val has the JSON shape of t (without looking inside), for unions. */
static bool shape_ok(const json_t *val, const struct schema_tref *t)
{
    switch (t->kind) {
    case SCHEMA_T_ANY:
        return true;
    case SCHEMA_T_STRING:
    case SCHEMA_T_TIME:
    case SCHEMA_T_LITERAL:
        return json_is_string(val);
    case SCHEMA_T_INTEGER:
        return json_is_integer(val);
    case SCHEMA_T_BOOLEAN:
        return json_is_boolean(val);
    case SCHEMA_T_QUANTITY:
        return json_is_string(val) || json_is_number(val);
    case SCHEMA_T_OBJECT:
    case SCHEMA_T_MAP:
        return json_is_object(val);
    case SCHEMA_T_ARRAY:
        return json_is_array(val);
    case SCHEMA_T_UNION:
        for (size_t i = 0; i < t->nalts; i++)
            if (shape_ok(val, t->alts[i]))
                return true;
        return false;
    }
    return false;
}

static const char *shape_name(const struct schema_tref *t, char *buf, size_t len)
{
    switch (t->kind) {
    case SCHEMA_T_STRING:
        return "a string";
    case SCHEMA_T_TIME:
        return "a time (RFC 3339 string)";
    case SCHEMA_T_INTEGER:
        return "an integer";
    case SCHEMA_T_BOOLEAN:
        return "a boolean";
    case SCHEMA_T_QUANTITY:
        return "a quantity (like 100m, 64Mi or 0.5)";
    case SCHEMA_T_OBJECT:
    case SCHEMA_T_MAP:
        return "an object";
    case SCHEMA_T_ARRAY:
        return "a list";
    case SCHEMA_T_LITERAL:
        snprintf(buf, len, "\"%s\"", t->literal);
        return buf;
    case SCHEMA_T_UNION: {
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < t->nalts && off < len; i++) {
            char inner[128];
            int w = snprintf(buf + off, len - off, "%s%s", i ? " or " : "",
                             shape_name(t->alts[i], inner, sizeof(inner)));
            if (w < 0)
                break;
            off += (size_t)w;
        }
        return buf;
    }
    case SCHEMA_T_ANY:
        break;
    }
    return "valid";
}

static void walk_object(struct vctx *v, const json_t *obj, const struct schema_type *t, bool warn,
                        bool root);

static void walk_value(struct vctx *v, const json_t *val, const struct schema_tref *t, bool warn)
{
    char buf[256];
    if (json_is_null(val) || t->kind == SCHEMA_T_ANY)
        return;
    if (!shape_ok(val, t)) {
        verr(v, cur(v), "must be %s", shape_name(t, buf, sizeof(buf)));
        return;
    }
    switch (t->kind) {
    case SCHEMA_T_LITERAL:
        if (strcmp(json_string_value(val), t->literal) != 0)
            verr(v, cur(v), "must be \"%s\"", t->literal);
        break;
    case SCHEMA_T_TIME:
        if (!is_rfc3339(json_string_value(val)))
            verr(v, cur(v), "must be an RFC 3339 time like 2024-01-02T15:04:05Z");
        break;
    case SCHEMA_T_QUANTITY:
        if (schema_quantity_parse_json(val, NULL, NULL) == -EINVAL)
            verr(v, cur(v), "must be a quantity (like 100m, 64Mi or 0.5)");
        break;
    case SCHEMA_T_OBJECT:
        walk_object(v, val, t->object, warn, false);
        break;
    case SCHEMA_T_ARRAY: {
        size_t i;
        const json_t *e;
        json_array_foreach(val, i, e) {
            size_t saved = path_push_index(v, i);
            walk_value(v, e, t->elem, warn);
            path_pop(v, saved);
        }
        break;
    }
    case SCHEMA_T_MAP: {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)val, k, e) {
            size_t saved = path_push(v, k);
            walk_value(v, e, t->elem, warn);
            path_pop(v, saved);
        }
        break;
    }
    case SCHEMA_T_UNION:
        for (size_t i = 0; i < t->nalts; i++) {
            if (shape_ok(val, t->alts[i])) {
                walk_value(v, val, t->alts[i], warn);
                break;
            }
        }
        break;
    default:
        break;
    }
}

static void walk_object(struct vctx *v, const json_t *obj, const struct schema_type *t, bool warn,
                        bool root)
{
    const char *const *sup = warn ? supported_fields(t) : NULL;
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)obj, k, val) {
        size_t saved = path_push(v, k);
        const struct schema_field *f = schema_fields_field(t, k);
        if (!f) {
            const char *near = closest_field(t, k);
            if (near)
                verr(v, cur(v),
                     "unknown field \"%s\" (not declared in Kubernetes 1.30 %s; did you mean "
                     "\"%s\"?)",
                     k, t->name, near);
            else
                verr(v, cur(v), "unknown field \"%s\" (not declared in Kubernetes 1.30 %s)", k,
                     t->name);
            path_pop(v, saved);
            continue;
        }
        bool child_warn = warn;
        bool was_status = v->in_status;
        if (root && strcmp(k, "status") == 0) {
            child_warn = false;
            v->in_status = true;
        } else if (sup && !in_list(sup, k) && !json_is_null(val)) {
            vwarn(v, cur(v), "field \"%s\" is not supported by bosun yet and is ignored", k);
            child_warn = false;
        }
        walk_value(v, val, f->type, child_warn);
        v->in_status = was_status;
        path_pop(v, saved);
    }
    if (v->in_status)
        return;
    for (size_t i = 0; i < t->nfields; i++) {
        const struct schema_field *f = &t->fields[i];
        if (!f->required)
            continue;
        const json_t *have = json_object_get(obj, f->name);
        if (!have || json_is_null(have)) {
            size_t saved = path_push(v, f->name);
            verr(v, cur(v), "required field is missing");
            path_pop(v, saved);
        }
    }
}

/* ---- names ------------------------------------------------------------------- */

static const char MSG_LABEL[] = "a lowercase RFC 1123 label must consist of lower case "
                                "alphanumeric characters or '-', and must start and end with "
                                "an alphanumeric character";
static const char MSG_SUBDOMAIN[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character";

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_dns_label_n(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool is_dns_label(const char *s)
{
    return is_dns_label_n(s, strlen(s));
}

static bool is_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        /* labels of a subdomain are not limited to 63 here, as in Kubernetes */
        if (l == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[l - 1]))
            return false;
        for (size_t i = 0; i < l; i++)
            if (!is_lower_alnum(p[i]) && p[i] != '-')
                return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63: the name part of a label key
 * and the form of a label value. */
static bool is_label_name(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

/* Label and annotation keys: [prefix/]name, prefix a DNS subdomain. */
static const char *qualified_name_problem(const char *key)
{
    const char *slash = strchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    if (slash) {
        char prefix[256];
        size_t pl = (size_t)(slash - key);
        if (pl == 0 || pl >= sizeof(prefix))
            return "prefix part must be a lowercase RFC 1123 subdomain";
        memcpy(prefix, key, pl);
        prefix[pl] = '\0';
        if (!is_dns_subdomain(prefix))
            return "prefix part must be a lowercase RFC 1123 subdomain";
        if (strchr(name, '/'))
            return "a qualified name may contain at most one '/'";
    }
    if (strlen(name) > 63)
        return "name part must be no more than 63 characters";
    if (!is_label_name(name, strlen(name)))
        return "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
               "start and end with an alphanumeric character";
    return NULL;
}

/* IANA service names (container port names, named targetPorts). */
static bool is_iana_svc_name(const char *s)
{
    size_t n = strlen(s);
    bool letter = false;
    if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
        letter |= s[i] >= 'a' && s[i] <= 'z';
    }
    return letter;
}

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static void check_enum(struct vctx *v, const json_t *o, const char *key, const char *field,
                       const char *const *allowed)
{
    const char *s = str_at(o, key);
    if (!s || one_of(s, allowed))
        return;
    char list[256];
    size_t off = 0;
    list[0] = '\0';
    for (const char *const *a = allowed; *a && off < sizeof(list); a++) {
        int w = snprintf(list + off, sizeof(list) - off, "%s\"%s\"", off ? ", " : "", *a);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    verr(v, field, "unsupported value \"%s\": supported values: %s", s, list);
}

/* ---- metadata ---------------------------------------------------------------- */

static void check_labels(struct vctx *v, const json_t *labels, const char *prefix)
{
    char f[512];
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)labels, k, val) {
        join(f, sizeof(f), prefix, k);
        const char *why = qualified_name_problem(k);
        if (why)
            verr(v, f, "invalid label key \"%s\": %s", k, why);
        const char *s = json_string_value(val);
        if (s && *s && !is_label_name(s, strlen(s)))
            verr(v, f,
                 "invalid label value \"%s\": must be 63 characters or less and consist of "
                 "alphanumeric characters, '-', '_' or '.', starting and ending with an "
                 "alphanumeric character",
                 s);
    }
}

static void check_annotations(struct vctx *v, const json_t *ann, const char *prefix)
{
    char f[512];
    const char *k;
    const json_t *val;
    size_t total = 0;
    json_object_foreach((json_t *)ann, k, val) {
        const char *why = qualified_name_problem(k);
        if (why)
            verr(v, join(f, sizeof(f), prefix, k), "invalid annotation key \"%s\": %s", k, why);
        total += strlen(k) + json_string_length(val);
    }
    if (total > 256 * 1024)
        verr(v, prefix, "annotations may not be larger than 256 KiB in total");
}

static void check_metadata(struct vctx *v, const json_t *obj, const struct schema_kind *k)
{
    const json_t *md = json_object_get(obj, "metadata");
    if (md && !json_is_object(md))
        return; /* pass 1 said "must be an object" */
    const char *name = str_at(md, "name");
    const char *gen = str_at(md, "generateName");
    bool label = strcmp(k->kind, "Namespace") == 0 || strcmp(k->kind, "Service") == 0;
    if (!name || !*name) {
        if (!gen || !*gen)
            verr(v, "metadata.name", "required field is missing (or set metadata.generateName)");
    } else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/') ||
               strchr(name, '%')) {
        verr(v, "metadata.name", "invalid name \"%s\": may not be '.' or '..' and may not "
             "contain '/' or '%%'", name);
    } else if (label ? !is_dns_label(name) : !is_dns_subdomain(name)) {
        verr(v, "metadata.name", "invalid name \"%s\": %s", name, label ? MSG_LABEL : MSG_SUBDOMAIN);
    }
    if (gen && *gen) {
        /* the server appends 5 characters; the prefix may end in '-' */
        char probe[300];
        snprintf(probe, sizeof(probe), "%sa", gen);
        if (label ? !is_dns_label(probe) : !is_dns_subdomain(probe))
            verr(v, "metadata.generateName", "invalid prefix \"%s\": %s", gen,
                 label ? MSG_LABEL : MSG_SUBDOMAIN);
    }
    const char *ns = str_at(md, "namespace");
    if (ns && *ns) {
        if (!k->namespaced)
            vwarn(v, "metadata.namespace", "%s is cluster-scoped: namespace \"%s\" is ignored",
                  k->kind, ns);
        else if (!is_dns_label(ns))
            verr(v, "metadata.namespace", "invalid namespace \"%s\": %s", ns, MSG_LABEL);
    }
    const json_t *labels = json_object_get(md, "labels");
    if (json_is_object(labels))
        check_labels(v, labels, "metadata.labels");
    const json_t *ann = json_object_get(md, "annotations");
    if (json_is_object(ann))
        check_annotations(v, ann, "metadata.annotations");
}

/* ---- pods -------------------------------------------------------------------- */

static const char *const PROTOCOLS[] = {"TCP", "UDP", "SCTP", NULL};

static bool port_ok(const json_t *p)
{
    return json_is_integer(p) && json_integer_value(p) >= 1 && json_integer_value(p) <= 65535;
}

static void check_resources(struct vctx *v, const json_t *res, const char *prefix)
{
    char f[512];
    const json_t *lim = json_object_get(res, "limits");
    const json_t *req = json_object_get(res, "requests");
    const char *which[] = {"limits", "requests"};
    const json_t *maps[] = {lim, req};
    for (int i = 0; i < 2; i++) {
        const char *k;
        const json_t *q;
        json_object_foreach((json_t *)maps[i], k, q) {
            int64_t m;
            if (schema_quantity_parse_json(q, &m, NULL) == 0 && m < 0) {
                fmt_path(f, sizeof(f), "%s.%s.%s", prefix, which[i], k);
                verr(v, f, "must be greater than or equal to 0");
            }
        }
    }
    const char *k;
    const json_t *q;
    json_object_foreach((json_t *)req, k, q) {
        int64_t rm, lm;
        const json_t *l = json_object_get(lim, k);
        if (l && schema_quantity_parse_json(q, &rm, NULL) == 0 &&
            schema_quantity_parse_json(l, &lm, NULL) == 0 && rm > lm) {
            fmt_path(f, sizeof(f), "%s.requests.%s", prefix, k);
            verr(v, f, "must be less than or equal to the %s limit", k);
        }
    }
}

static void check_container(struct vctx *v, const json_t *c, const char *prefix, json_t *names)
{
    char f[512];
    const char *name = str_at(c, "name");
    if (name) {
        if (!is_dns_label(name))
            verr(v, join(f, sizeof(f), prefix, "name"), "invalid container name \"%s\": %s", name,
                 MSG_LABEL);
        else if (json_object_get(names, name))
            verr(v, join(f, sizeof(f), prefix, "name"), "duplicate container name \"%s\"", name);
        else
            json_object_set_new(names, name, json_true());
    }
    const json_t *image = json_object_get(c, "image");
    if (!image || json_is_null(image) || (json_is_string(image) && !*json_string_value(image)))
        verr(v, join(f, sizeof(f), prefix, "image"), "required field is missing");
    static const char *const pull[] = {"Always", "IfNotPresent", "Never", NULL};
    check_enum(v, c, "imagePullPolicy", join(f, sizeof(f), prefix, "imagePullPolicy"), pull);

    const json_t *ports = json_object_get(c, "ports");
    size_t i;
    const json_t *p;
    json_t *pnames = json_object();
    json_array_foreach(ports, i, p) {
        if (!json_is_object(p))
            continue;
        char pp[512];
        fmt_path(pp, sizeof(pp), "%s.ports.%zu", prefix, i);
        const json_t *cp = json_object_get(p, "containerPort");
        if (json_is_integer(cp) && !port_ok(cp))
            verr(v, join(f, sizeof(f), pp, "containerPort"), "must be between 1 and 65535");
        const json_t *hp = json_object_get(p, "hostPort");
        if (json_is_integer(hp) && json_integer_value(hp) != 0 && !port_ok(hp))
            verr(v, join(f, sizeof(f), pp, "hostPort"), "must be between 1 and 65535");
        check_enum(v, p, "protocol", join(f, sizeof(f), pp, "protocol"), PROTOCOLS);
        const char *pn = str_at(p, "name");
        if (pn) {
            if (!is_iana_svc_name(pn))
                verr(v, join(f, sizeof(f), pp, "name"),
                     "invalid port name \"%s\": must be no more than 15 characters, lower case "
                     "alphanumeric or '-', contain a letter, and not start, end or repeat '-'",
                     pn);
            else if (pnames && json_object_get(pnames, pn))
                verr(v, join(f, sizeof(f), pp, "name"), "duplicate port name \"%s\"", pn);
            else if (pnames)
                json_object_set_new(pnames, pn, json_true());
        }
    }
    json_decref(pnames);

    const json_t *env = json_object_get(c, "env");
    json_array_foreach(env, i, p) {
        const char *en = str_at(p, "name");
        if (en && (!*en || strchr(en, '='))) {
            char pp[512];
            fmt_path(pp, sizeof(pp), "%s.env.%zu.name", prefix, i);
            verr(v, pp, "invalid environment variable name \"%s\": must not be empty or contain '='",
                 en);
        }
    }
    const json_t *res = json_object_get(c, "resources");
    if (json_is_object(res))
        check_resources(v, res, join(f, sizeof(f), prefix, "resources"));
}

/* Pod spec rules; prefix is "spec" or "spec.template.spec". Controllers' templates must
 * restart Always (a ReplicaSet replaces pods; it does not wait for them to finish). */
static void check_pod_spec(struct vctx *v, const json_t *spec, const char *prefix,
                           bool template)
{
    char f[512];
    if (!json_is_object(spec))
        return;
    const json_t *cs = json_object_get(spec, "containers");
    if (json_is_array(cs) && json_array_size(cs) == 0)
        verr(v, join(f, sizeof(f), prefix, "containers"), "must have at least one container");
    json_t *names = json_object();
    size_t i;
    const json_t *c;
    json_array_foreach(cs, i, c) {
        if (!json_is_object(c))
            continue;
        char cp[512];
        fmt_path(cp, sizeof(cp), "%s.containers.%zu", prefix, i);
        check_container(v, c, cp, names);
    }
    json_decref(names);
    static const char *const rp_all[] = {"Always", "OnFailure", "Never", NULL};
    static const char *const rp_always[] = {"Always", NULL};
    check_enum(v, spec, "restartPolicy", join(f, sizeof(f), prefix, "restartPolicy"),
               template ? rp_always : rp_all);
    const json_t *tg = json_object_get(spec, "terminationGracePeriodSeconds");
    if (json_is_integer(tg) && json_integer_value(tg) < 0)
        verr(v, join(f, sizeof(f), prefix, "terminationGracePeriodSeconds"),
             "must be a non-negative integer");
    const char *node = str_at(spec, "nodeName");
    if (node && *node && !is_dns_subdomain(node))
        verr(v, join(f, sizeof(f), prefix, "nodeName"), "invalid node name \"%s\": %s", node,
             MSG_SUBDOMAIN);
    const json_t *ns = json_object_get(spec, "nodeSelector");
    if (json_is_object(ns))
        check_labels(v, ns, join(f, sizeof(f), prefix, "nodeSelector"));
}

/* ---- workloads --------------------------------------------------------------- */

/* Whether a metav1.LabelSelector (already type-checked) selects labels. Returns -1 when
 * the selector itself is invalid (reported by the caller's checks). */
static int selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    const json_t *want;
    json_object_foreach(json_object_get(sel, "matchLabels"), k, want) {
        const char *have = str_at(labels, k);
        if (!have || !json_is_string(want) || strcmp(have, json_string_value(want)) != 0)
            return 0;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
        const char *key = str_at(e, "key"), *op = str_at(e, "operator");
        if (!key || !op)
            return -1;
        const char *have = str_at(labels, key);
        bool in = false;
        size_t j;
        const json_t *val;
        json_array_foreach(json_object_get(e, "values"), j, val) {
            if (have && json_is_string(val) && strcmp(have, json_string_value(val)) == 0)
                in = true;
        }
        if (strcmp(op, "In") == 0) {
            if (!in)
                return 0;
        } else if (strcmp(op, "NotIn") == 0) {
            if (in)
                return 0;
        } else if (strcmp(op, "Exists") == 0) {
            if (!have)
                return 0;
        } else if (strcmp(op, "DoesNotExist") == 0) {
            if (have)
                return 0;
        } else {
            return -1;
        }
    }
    return 1;
}

static void check_selector(struct vctx *v, const json_t *sel, const char *prefix)
{
    char f[512];
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
        char ep[512];
        fmt_path(ep, sizeof(ep), "%s.matchExpressions.%zu", prefix, i);
        static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
        check_enum(v, e, "operator", join(f, sizeof(f), ep, "operator"), ops);
        const char *op = str_at(e, "operator");
        size_t nv = json_array_size(json_object_get(e, "values"));
        if (op && (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) && nv == 0)
            verr(v, join(f, sizeof(f), ep, "values"), "must be specified when operator is %s", op);
        if (op && (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) && nv > 0)
            verr(v, join(f, sizeof(f), ep, "values"), "may not be specified when operator is %s",
                 op);
    }
    const json_t *ml = json_object_get(sel, "matchLabels");
    if (json_is_object(ml))
        check_labels(v, ml, join(f, sizeof(f), prefix, "matchLabels"));
}

static void check_int_or_percent(struct vctx *v, const json_t *val, const char *field)
{
    if (json_is_integer(val)) {
        if (json_integer_value(val) < 0)
            verr(v, field, "must be a non-negative integer or a percentage");
        return;
    }
    const char *s = json_string_value(val);
    if (!s)
        return;
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (end == s || strcmp(end, "%") != 0 || n < 0 || !isdigit((unsigned char)s[0]))
        verr(v, field, "must be a non-negative integer or a percentage like \"25%%\"");
}

static void check_workload(struct vctx *v, const json_t *obj, const struct schema_kind *k)
{
    const json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        if (!spec)
            verr(v, "spec", "required field is missing");
        return;
    }
    const json_t *r = json_object_get(spec, "replicas");
    if (json_is_integer(r) && json_integer_value(r) < 0)
        verr(v, "spec.replicas", "must be a non-negative integer");
    if (json_is_integer(r) && json_integer_value(r) > INT32_MAX)
        verr(v, "spec.replicas", "must be at most %d", INT32_MAX);
    const json_t *sel = json_object_get(spec, "selector");
    const json_t *tmpl = json_object_get(spec, "template");
    const json_t *tlabels = jsonx_get(tmpl, "metadata.labels");
    if (json_is_object(tlabels))
        check_labels(v, tlabels, "spec.template.metadata.labels");
    const json_t *tann = jsonx_get(tmpl, "metadata.annotations");
    if (json_is_object(tann))
        check_annotations(v, tann, "spec.template.metadata.annotations");
    if (json_is_object(sel)) {
        check_selector(v, sel, "spec.selector");
        size_t n = json_object_size(json_object_get(sel, "matchLabels")) +
                   json_array_size(json_object_get(sel, "matchExpressions"));
        if (n == 0)
            verr(v, "spec.selector", "empty selector is invalid for %s", k->singular);
        else if (json_is_object(tmpl) && selector_matches(sel, tlabels) == 0)
            verr(v, "spec.template.metadata.labels", "`selector` does not match template `labels`");
    }
    if (json_is_object(tmpl)) {
        const json_t *ps = json_object_get(tmpl, "spec");
        if (!ps)
            verr(v, "spec.template.spec", "required field is missing");
        check_pod_spec(v, ps, "spec.template.spec", true);
    }
    const json_t *st = json_object_get(spec, "strategy");
    if (strcmp(k->kind, "Deployment") == 0 && json_is_object(st)) {
        static const char *const types[] = {"RollingUpdate", "Recreate", NULL};
        check_enum(v, st, "type", "spec.strategy.type", types);
        const char *t = str_at(st, "type");
        const json_t *ru = json_object_get(st, "rollingUpdate");
        if (t && strcmp(t, "Recreate") == 0 && ru && !json_is_null(ru))
            verr(v, "spec.strategy.rollingUpdate", "may not be specified when strategy type is "
                 "Recreate");
        if (json_is_object(ru)) {
            const json_t *ms = json_object_get(ru, "maxSurge");
            const json_t *mu = json_object_get(ru, "maxUnavailable");
            check_int_or_percent(v, ms, "spec.strategy.rollingUpdate.maxSurge");
            check_int_or_percent(v, mu, "spec.strategy.rollingUpdate.maxUnavailable");
            bool ms0 = (json_is_integer(ms) && json_integer_value(ms) == 0) ||
                       (json_is_string(ms) && strcmp(json_string_value(ms), "0%") == 0);
            bool mu0 = (json_is_integer(mu) && json_integer_value(mu) == 0) ||
                       (json_is_string(mu) && strcmp(json_string_value(mu), "0%") == 0);
            if (ms0 && mu0)
                verr(v, "spec.strategy.rollingUpdate.maxUnavailable",
                     "may not be 0 when maxSurge is 0");
        }
    }
}

/* ---- services ---------------------------------------------------------------- */

static void check_service(struct vctx *v, const json_t *obj)
{
    char f[512];
    const json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec))
        return;
    static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
                                        NULL};
    check_enum(v, spec, "type", "spec.type", types);
    const char *type = str_at(spec, "type");
    if (!type)
        type = "ClusterIP";
    bool node_ports = strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0;
    const char *cip = str_at(spec, "clusterIP");
    bool headless = cip && strcmp(cip, "None") == 0;
    if (cip && *cip && !headless) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, cip, buf) != 1 && inet_pton(AF_INET6, cip, buf) != 1)
            verr(v, "spec.clusterIP", "must be empty, \"None\" or a valid IP address");
    }
    if (strcmp(type, "ExternalName") == 0) {
        const char *en = str_at(spec, "externalName");
        if (!en || !*en)
            verr(v, "spec.externalName", "required field is missing for type ExternalName");
    }
    if (headless && node_ports)
        verr(v, "spec.clusterIP", "may not be \"None\" for type %s", type);
    const json_t *ports = json_object_get(spec, "ports");
    if ((!ports || (json_is_array(ports) && json_array_size(ports) == 0)) && !headless &&
        strcmp(type, "ExternalName") != 0)
        verr(v, "spec.ports", "required field is missing (at least one port)");
    size_t n = json_array_size(ports), i;
    const json_t *p;
    json_t *seen_names = json_object();
    json_t *seen_ports = json_object();
    json_array_foreach(ports, i, p) {
        if (!json_is_object(p))
            continue;
        char pp[64];
        snprintf(pp, sizeof(pp), "spec.ports.%zu", i);
        const json_t *port = json_object_get(p, "port");
        if (json_is_integer(port) && !port_ok(port))
            verr(v, join(f, sizeof(f), pp, "port"), "must be between 1 and 65535");
        check_enum(v, p, "protocol", join(f, sizeof(f), pp, "protocol"), PROTOCOLS);
        const json_t *tp = json_object_get(p, "targetPort");
        if (json_is_integer(tp) && !port_ok(tp))
            verr(v, join(f, sizeof(f), pp, "targetPort"), "must be between 1 and 65535");
        else if (json_is_string(tp) && !is_iana_svc_name(json_string_value(tp)))
            verr(v, join(f, sizeof(f), pp, "targetPort"),
                 "invalid port name \"%s\": must be no more than 15 characters, lower case "
                 "alphanumeric or '-', contain a letter, and not start, end or repeat '-'",
                 json_string_value(tp));
        const json_t *np = json_object_get(p, "nodePort");
        if (json_is_integer(np) && json_integer_value(np) != 0) {
            if (!node_ports)
                verr(v, join(f, sizeof(f), pp, "nodePort"), "may not be used when type is %s",
                     type);
            else if (!port_ok(np))
                verr(v, join(f, sizeof(f), pp, "nodePort"), "must be between 1 and 65535");
        }
        const char *name = str_at(p, "name");
        if (name && *name) {
            if (!is_dns_label(name))
                verr(v, join(f, sizeof(f), pp, "name"), "invalid port name \"%s\": %s", name,
                     MSG_LABEL);
            else if (seen_names && json_object_get(seen_names, name))
                verr(v, join(f, sizeof(f), pp, "name"), "duplicate port name \"%s\"", name);
            else if (seen_names)
                json_object_set_new(seen_names, name, json_true());
        } else if (n > 1) {
            verr(v, join(f, sizeof(f), pp, "name"),
                 "required field is missing (ports must be named when there are several)");
        }
        if (json_is_integer(port)) {
            const char *proto = str_at(p, "protocol");
            char key[48];
            snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT "/%s", json_integer_value(port),
                     proto ? proto : "TCP");
            if (seen_ports && json_object_get(seen_ports, key))
                verr(v, join(f, sizeof(f), pp, "port"), "duplicate port %s", key);
            else if (seen_ports)
                json_object_set_new(seen_ports, key, json_true());
        }
    }
    json_decref(seen_names);
    json_decref(seen_ports);
    const json_t *sel = json_object_get(spec, "selector");
    if (json_is_object(sel))
        check_labels(v, sel, "spec.selector");
    static const char *const aff[] = {"None", "ClientIP", NULL};
    check_enum(v, spec, "sessionAffinity", "spec.sessionAffinity", aff);
}

/* ---- config ------------------------------------------------------------------ */

static bool is_config_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 253 || strcmp(k, ".") == 0 || strcmp(k, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '-' && k[i] != '_' && k[i] != '.')
            return false;
    return true;
}

static bool is_base64(const char *s)
{
    size_t n = 0, pad = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == ' ')
            continue; /* wrapped base64 (as `base64` prints it) is common in manifests */
        if (*p == '=') {
            pad++;
        } else if (pad || !(isalnum((unsigned char)*p) || *p == '+' || *p == '/')) {
            return false;
        }
        n++;
    }
    return n % 4 == 0 && pad <= 2;
}

static void check_config_map_keys(struct vctx *v, const json_t *m, const char *prefix,
                                  bool base64, const json_t *other, const char *other_name)
{
    char f[512];
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)m, k, val) {
        join(f, sizeof(f), prefix, k);
        if (!is_config_key(k))
            verr(v, f,
                 "invalid key \"%s\": must consist of alphanumeric characters, '-', '_' or '.'",
                 k);
        if (other && json_object_get(other, k))
            verr(v, f, "duplicate key \"%s\": also in %s", k, other_name);
        if (base64 && json_is_string(val) && !is_base64(json_string_value(val)))
            verr(v, f, "must be base64-encoded");
    }
}

static bool is_duration(const char *s)
{
    /* Go's time.ParseDuration: ("1.5h", "1m30s", "500ms") */
    if (!*s)
        return false;
    if (strcmp(s, "0") == 0)
        return true;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s))
                s++;
        }
        static const char *const units[] = {"ns", "us", "µs", "ms", "s", "m", "h"};
        size_t best = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i]);
            if (strncmp(s, units[i], l) == 0 && l > best)
                best = l;
        }
        if (!best)
            return false;
        s += best;
    }
    return true;
}

static void check_kind_rules(struct vctx *v, const json_t *obj, const struct schema_kind *k)
{
    check_metadata(v, obj, k);
    const json_t *spec = json_object_get(obj, "spec");
    if (strcmp(k->kind, "Deployment") == 0 || strcmp(k->kind, "ReplicaSet") == 0) {
        check_workload(v, obj, k);
    } else if (strcmp(k->kind, "Pod") == 0) {
        if (!spec)
            verr(v, "spec", "required field is missing");
        check_pod_spec(v, spec, "spec", false);
    } else if (strcmp(k->kind, "Service") == 0) {
        check_service(v, obj);
    } else if (strcmp(k->kind, "ConfigMap") == 0) {
        const json_t *d = json_object_get(obj, "data"), *b = json_object_get(obj, "binaryData");
        check_config_map_keys(v, d, "data", false, NULL, NULL);
        check_config_map_keys(v, b, "binaryData", true, d, "data");
    } else if (strcmp(k->kind, "Secret") == 0) {
        check_config_map_keys(v, json_object_get(obj, "data"), "data", true, NULL, NULL);
        check_config_map_keys(v, json_object_get(obj, "stringData"), "stringData", false, NULL,
                              NULL);
    } else if (strcmp(k->kind, "GitRepository") == 0) {
        const char *url = str_at(spec, "url");
        if (url && !*url)
            verr(v, "spec.url", "must not be empty");
        const char *iv = str_at(spec, "interval");
        if (iv && !is_duration(iv))
            verr(v, "spec.interval", "invalid duration \"%s\" (like 30s, 5m or 1m30s)", iv);
    }
}

/* ---- entry points -------------------------------------------------------------- */

size_t schema_validate(const json_t *obj, const struct schema_doc *doc, struct schema_issues *out)
{
    struct vctx v = {.doc = doc, .out = out};
    if (!json_is_object(obj)) {
        verr(&v, "", "a manifest must be a mapping (apiVersion, kind, metadata, ...)");
        goto out;
    }
    const json_t *av = json_object_get(obj, "apiVersion");
    const json_t *kd = json_object_get(obj, "kind");
    if (!av || json_is_null(av))
        verr(&v, "apiVersion", "required field is missing");
    else if (!json_is_string(av))
        verr(&v, "apiVersion", "must be a string");
    if (!kd || json_is_null(kd))
        verr(&v, "kind", "required field is missing");
    else if (!json_is_string(kd))
        verr(&v, "kind", "must be a string");
    if (v.added)
        goto out;
    const char *api_version = json_string_value(av), *kind = json_string_value(kd);
    const struct schema_kind *k = schema_kind_by_gvk(api_version, kind);
    if (!k) {
        verr(&v, "kind", "unknown kind \"%s\" for apiVersion \"%s\"", kind, api_version);
        goto out;
    }
    char group[96];
    struct bosun_err err = {0};
    const struct schema_type *t = NULL;
    if (schema_fields_init(&err) < 0) {
        verr(&v, "", "%s", err.msg);
        goto out;
    }
    if (schema_fields_group_of(api_version, group, sizeof(group)))
        t = schema_fields_type(group, kind);
    if (!t) {
        verr(&v, "kind", "no field tree for %s %s (a bosun bug)", api_version, kind);
        goto out;
    }
    walk_object(&v, obj, t, true, true);
    check_kind_rules(&v, obj, k);
out:
    free(v.path);
    return v.added;
}

static void default_pod_spec(json_t *spec)
{
    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "restartPolicy"))
        json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    if (!json_object_get(spec, "schedulerName"))
        json_object_set_new(spec, "schedulerName", json_string("default-scheduler"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c) {
        if (!json_is_object(c))
            continue;
        const char *image = str_at(c, "image");
        if (image && !json_object_get(c, "imagePullPolicy")) {
            /* Kubernetes: Always for :latest or no tag, else IfNotPresent. The tag is
             * after the last ':' that follows the last '/' (a registry may have a port). */
            const char *slash = strrchr(image, '/');
            const char *colon = strrchr(slash ? slash : image, ':');
            bool digest = strchr(image, '@') != NULL;
            bool latest = !digest && (!colon || strcmp(colon, ":latest") == 0);
            json_object_set_new(c, "imagePullPolicy", json_string(latest ? "Always" : "IfNotPresent"));
        }
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p) {
            if (json_is_object(p) && !json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
        }
    }
}

void schema_default(json_t *obj)
{
    if (!json_is_object(obj))
        return;
    const struct schema_kind *k =
        schema_kind_by_gvk(str_at(obj, "apiVersion"), str_at(obj, "kind"));
    if (!k)
        return;
    json_t *spec = json_object_get(obj, "spec");
    if (strcmp(k->kind, "Pod") == 0) {
        default_pod_spec(spec);
    } else if (strcmp(k->kind, "Deployment") == 0 || strcmp(k->kind, "ReplicaSet") == 0) {
        if (!json_is_object(spec))
            return;
        if (!json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        if (strcmp(k->kind, "Deployment") == 0) {
            json_t *st = json_object_get(spec, "strategy");
            if (!st) {
                st = json_object();
                json_object_set_new(spec, "strategy", st);
            }
            if (json_is_object(st)) {
                if (!json_object_get(st, "type"))
                    json_object_set_new(st, "type", json_string("RollingUpdate"));
                const char *t = str_at(st, "type");
                if (t && strcmp(t, "RollingUpdate") == 0) {
                    json_t *ru = json_object_get(st, "rollingUpdate");
                    if (!ru) {
                        ru = json_object();
                        json_object_set_new(st, "rollingUpdate", ru);
                    }
                    if (json_is_object(ru) && !json_object_get(ru, "maxSurge"))
                        json_object_set_new(ru, "maxSurge", json_string("25%"));
                    if (json_is_object(ru) && !json_object_get(ru, "maxUnavailable"))
                        json_object_set_new(ru, "maxUnavailable", json_string("25%"));
                }
            }
        }
        default_pod_spec(jsonx_get(spec, "template.spec"));
    } else if (strcmp(k->kind, "Service") == 0) {
        if (!json_is_object(spec))
            return;
        if (!json_object_get(spec, "type"))
            json_object_set_new(spec, "type", json_string("ClusterIP"));
        if (!json_object_get(spec, "sessionAffinity"))
            json_object_set_new(spec, "sessionAffinity", json_string("None"));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p) {
            if (!json_is_object(p))
                continue;
            if (!json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
            json_t *port = json_object_get(p, "port");
            if (!json_object_get(p, "targetPort") && json_is_integer(port))
                json_object_set_new(p, "targetPort", json_integer(json_integer_value(port)));
        }
    } else if (strcmp(k->kind, "Secret") == 0) {
        if (!json_object_get(obj, "type"))
            json_object_set_new(obj, "type", json_string("Opaque"));
    }
}

const char *schema_issue_format(const struct schema_issue *is, const char *file, char *buf,
                                size_t len)
{
    if (!buf || len == 0)
        return NULL;
    char where[512] = "";
    if (file && is->line > 0)
        snprintf(where, sizeof(where), "%s:%d:%d: ", file, is->line, is->col);
    else if (file)
        snprintf(where, sizeof(where), "%s: ", file);
    else if (is->line > 0)
        snprintf(where, sizeof(where), "%d:%d: ", is->line, is->col);
    snprintf(buf, len, "%s%s%s%s", where, is->field && *is->field ? is->field : "",
             is->field && *is->field ? ": " : "", is->message ? is->message : "");
    return buf;
}

void schema_issues_free(struct schema_issues *issues)
{
    if (!issues)
        return;
    for (size_t i = 0; i < issues->n; i++) {
        free(issues->v[i].field);
        free(issues->v[i].message);
    }
    free(issues->v);
    issues->v = NULL;
    issues->n = issues->errors = 0;
}
