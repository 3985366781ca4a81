/* selector — label selectors (string and metav1.LabelSelector forms) and field selectors.
 *
 * The string grammar follows k8s.io/apimachinery/pkg/labels:
 *   selector    := requirement ( ',' requirement )*
 *   requirement := '!' key | key [ ('=' | '==' | '!=') value | ('in' | 'notin') '(' values ')' ]
 * Keys are qualified names ([prefix/]name); values are label values (may be empty). */
#include "lib/selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"

enum label_op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS };

struct label_req {
    char *key;
    enum label_op op;
    char **values;
    size_t nvalues;
};

struct label_selector {
    struct label_req *reqs;
    size_t n;
};

/* ---- label key and value syntax -------------------------------------------------------- */

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label value or the name part of a key: at most 63 characters, alphanumerics, '-',
 * '_' and '.', beginning and ending with an alphanumeric. Returns NULL or why not. */
static const char *check_name(const char *s, size_t n, size_t max)
{
    if (n > max)
        return "must be no more than 63 characters";
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return "may contain only alphanumerics, '-', '_' and '.'";
    if (n > 0 && (!is_alnum(s[0]) || !is_alnum(s[n - 1])))
        return "must begin and end with an alphanumeric character";
    return NULL;
}

static const char *check_value(const char *v)
{
    return check_name(v, strlen(v), 63);
}

/* A DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 characters,
 * each dot-separated part beginning and ending with an alphanumeric. */
static const char *check_prefix(const char *s, size_t n)
{
    if (n == 0)
        return "prefix must not be empty";
    if (n > 253)
        return "prefix must be no more than 253 characters";
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return "prefix must be a lowercase DNS subdomain";
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return "prefix must be a lowercase DNS subdomain";
        start = i + 1;
    }
    return NULL;
}

static const char *check_key(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = k;
    if (slash) {
        const char *why = check_prefix(k, (size_t)(slash - k));
        if (why)
            return why;
        name = slash + 1;
        if (strchr(name, '/'))
            return "must have at most one '/'";
    }
    if (*name == '\0')
        return "name part must not be empty";
    return check_name(name, strlen(name), 63);
}

/* ---- building ------------------------------------------------------------------------ */

static void req_clear(struct label_req *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvalues; i++)
        free(r->values[i]);
    free(r->values);
}

void label_selector_free(struct label_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++)
        req_clear(&sel->reqs[i]);
    free(sel->reqs);
    free(sel);
}

static int req_add_value(struct label_req *r, const char *v, size_t n)
{
    char **nv = realloc(r->values, (r->nvalues + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    r->values = nv;
    if (!(nv[r->nvalues] = strndup(v, n)))
        return -ENOMEM;
    r->nvalues++;
    return 0;
}

/* Appends *r (taken over, zeroed) to sel. */
static int sel_push(struct label_selector *sel, struct label_req *r)
{
    struct label_req *nr = realloc(sel->reqs, (sel->n + 1) * sizeof(*nr));
    if (!nr)
        return -ENOMEM;
    sel->reqs = nr;
    nr[sel->n++] = *r;
    memset(r, 0, sizeof(*r));
    return 0;
}

/* ---- the string form ----------------------------------------------------------------- */

struct lexer {
    const char *in;  /* the whole input, for messages */
    const char *p;
    struct bosun_err *err;
};

__attribute__((format(printf, 2, 3))) static int lex_fail(struct lexer *lx, const char *fmt,
                                                         ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return err_set(lx->err, -EINVAL, "labelSelector: \"%s\": %s", lx->in, what);
}

static void skip_ws(struct lexer *lx)
{
    while (*lx->p == ' ' || *lx->p == '\t')
        lx->p++;
}

/* Characters that end an identifier. */
static int is_special(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == ',' || c == '=' || c == '!' || c == '(' ||
           c == ')';
}

/* Reads an identifier (key or value); returns its length (0 when none). */
static size_t lex_ident(struct lexer *lx, const char **start)
{
    skip_ws(lx);
    *start = lx->p;
    while (!is_special(*lx->p))
        lx->p++;
    return (size_t)(lx->p - *start);
}

static int parse_values(struct lexer *lx, struct label_req *r)
{
    skip_ws(lx);
    if (*lx->p != '(')
        return lex_fail(lx, "expected '(' after '%s'", r->op == OP_IN ? "in" : "notin");
    lx->p++;
    for (;;) {
        const char *v;
        size_t n = lex_ident(lx, &v);
        skip_ws(lx);
        if (*lx->p != ',' && *lx->p != ')') {
            if (*lx->p == '\0')
                return lex_fail(lx, "missing ')'%s", "");
            char c[2] = {*lx->p, 0};
            return lex_fail(lx, "unexpected '%s' in a value list", c);
        }
        char *val = strndup(v, n);
        if (!val)
            return err_set(lx->err, -ENOMEM, "labelSelector: out of memory");
        const char *why = check_value(val);
        if (why) {
            char msg[200];
            snprintf(msg, sizeof(msg), "invalid label value \"%s\": %s", val, why);
            free(val);
            return lex_fail(lx, "%s", msg);
        }
        free(val);
        /* "in (a,)" or "in ()" give empty values, which Kubernetes accepts as "". */
        if (req_add_value(r, v, n) != 0)
            return err_set(lx->err, -ENOMEM, "labelSelector: out of memory");
        if (*lx->p == ')') {
            lx->p++;
            return 0;
        }
        lx->p++; /* ',' */
    }
}

static int parse_requirement(struct lexer *lx, struct label_req *r)
{
    skip_ws(lx);
    bool negated = false;
    if (*lx->p == '!') {
        negated = true;
        lx->p++;
    }
    const char *k;
    size_t kn = lex_ident(lx, &k);
    if (kn == 0) {
        if (*lx->p == '\0')
            return lex_fail(lx, "%s", negated ? "expected a key after '!'" : "missing a key");
        char c[2] = {*lx->p, 0};
        return lex_fail(lx, "expected a key, found '%s'", c);
    }
    r->key = strndup(k, kn);
    if (!r->key)
        return err_set(lx->err, -ENOMEM, "labelSelector: out of memory");
    const char *why = check_key(r->key);
    if (why) {
        char msg[400];
        snprintf(msg, sizeof(msg), "invalid label key \"%.200s\": %s", r->key, why);
        return lex_fail(lx, "%s", msg);
    }
    skip_ws(lx);
    if (negated) {
        r->op = OP_NOT_EXISTS;
        return 0;
    }
    if (*lx->p == ',' || *lx->p == '\0') {
        r->op = OP_EXISTS;
        return 0;
    }
    if (*lx->p == '=' || *lx->p == '!') {
        if (lx->p[0] == '!' && lx->p[1] != '=')
            return lex_fail(lx, "expected '!=' after key \"%s\"", r->key);
        r->op = lx->p[0] == '!' ? OP_NE : OP_EQ;
        lx->p += (lx->p[0] == '!' || lx->p[1] == '=') ? 2 : 1;
        const char *v;
        size_t vn = lex_ident(lx, &v);
        char *val = strndup(v, vn);
        if (!val)
            return err_set(lx->err, -ENOMEM, "labelSelector: out of memory");
        why = check_value(val);
        if (why) {
            char msg[200];
            snprintf(msg, sizeof(msg), "invalid label value \"%.100s\": %s", val, why);
            free(val);
            return lex_fail(lx, "%s", msg);
        }
        free(val);
        if (req_add_value(r, v, vn) != 0)
            return err_set(lx->err, -ENOMEM, "labelSelector: out of memory");
        return 0;
    }
    const char *w;
    size_t wn = lex_ident(lx, &w);
    if (wn == 2 && strncmp(w, "in", 2) == 0)
        r->op = OP_IN;
    else if (wn == 5 && strncmp(w, "notin", 5) == 0)
        r->op = OP_NOTIN;
    else if (wn == 0) {
        char c[2] = {*lx->p, 0};
        return lex_fail(lx, "unexpected '%s' after the key", c);
    } else {
        char op[64];
        snprintf(op, sizeof(op), "%.*s", (int)(wn > 40 ? 40 : wn), w);
        return lex_fail(lx, "unknown operator \"%s\" (want =, ==, !=, in, notin)", op);
    }
    return parse_values(lx, r);
}

int label_selector_parse(const char *s, struct label_selector **out, struct bosun_err *err)
{
    struct label_selector *sel = calloc(1, sizeof(*sel));
    if (!sel)
        return err_set(err, -ENOMEM, "labelSelector: out of memory");
    struct lexer lx = {.in = s ? s : "", .p = s ? s : "", .err = err};
    struct label_req r = {0};
    int rc = 0;
    skip_ws(&lx);
    if (*lx.p == '\0')
        goto done; /* empty: everything */
    for (;;) {
        rc = parse_requirement(&lx, &r);
        if (rc != 0)
            goto fail;
        if ((rc = sel_push(sel, &r)) != 0) {
            err_set(err, rc, "labelSelector: out of memory");
            goto fail;
        }
        skip_ws(&lx);
        if (*lx.p == '\0')
            break;
        if (*lx.p != ',') {
            char c[2] = {*lx.p, 0};
            rc = lex_fail(&lx, "unexpected '%s' (requirements are separated by ',')", c);
            goto fail;
        }
        lx.p++;
        skip_ws(&lx);
        if (*lx.p == '\0') {
            rc = lex_fail(&lx, "%s", "trailing ','");
            goto fail;
        }
    }
done:
    *out = sel;
    return 0;
fail:
    req_clear(&r);
    label_selector_free(sel);
    return rc;
}

/* ---- the JSON form ------------------------------------------------------------------- */

int label_selector_from_json(const json_t *js, struct label_selector **out,
                             struct bosun_err *err)
{
    struct label_selector *sel = calloc(1, sizeof(*sel));
    struct label_req r = {0};
    int rc = 0;
    if (!sel)
        return err_set(err, -ENOMEM, "selector: out of memory");
    if (!js || json_is_null(js))
        goto done;
    if (!json_is_object(js)) {
        rc = err_set(err, -EINVAL, "selector: must be an object");
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)js, key, v)
    {
        if (strcmp(key, "matchLabels") != 0 && strcmp(key, "matchExpressions") != 0) {
            rc = err_set(err, -EINVAL, "selector.%s: unknown field (want matchLabels, "
                                       "matchExpressions)", key);
            goto fail;
        }
    }
    json_t *ml = json_object_get(js, "matchLabels");
    if (ml && !json_is_null(ml)) {
        if (!json_is_object(ml)) {
            rc = err_set(err, -EINVAL, "selector.matchLabels: must be an object");
            goto fail;
        }
        json_object_foreach(ml, key, v)
        {
            const char *why = check_key(key);
            if (why) {
                rc = err_set(err, -EINVAL, "selector.matchLabels: invalid label key \"%s\": %s",
                             key, why);
                goto fail;
            }
            if (!json_is_string(v)) {
                rc = err_set(err, -EINVAL, "selector.matchLabels.%s: must be a string", key);
                goto fail;
            }
            if ((why = check_value(json_string_value(v)))) {
                rc = err_set(err, -EINVAL, "selector.matchLabels.%s: invalid value \"%s\": %s",
                             key, json_string_value(v), why);
                goto fail;
            }
            r.op = OP_EQ;
            if (!(r.key = strdup(key)) ||
                req_add_value(&r, json_string_value(v), strlen(json_string_value(v))) != 0 ||
                sel_push(sel, &r) != 0) {
                rc = err_set(err, -ENOMEM, "selector: out of memory");
                goto fail;
            }
        }
    }
    json_t *me = json_object_get(js, "matchExpressions");
    if (me && !json_is_null(me)) {
        if (!json_is_array(me)) {
            rc = err_set(err, -EINVAL, "selector.matchExpressions: must be an array");
            goto fail;
        }
        size_t i;
        json_t *e;
        json_array_foreach(me, i, e)
        {
            const char *k = json_string_value(json_object_get(e, "key"));
            const char *op = json_string_value(json_object_get(e, "operator"));
            json_t *vals = json_object_get(e, "values");
            if (!json_is_object(e)) {
                rc = err_set(err, -EINVAL, "selector.matchExpressions[%zu]: must be an object", i);
                goto fail;
            }
            if (!k) {
                rc = err_set(err, -EINVAL, "selector.matchExpressions[%zu].key: required", i);
                goto fail;
            }
            const char *why = check_key(k);
            if (why) {
                rc = err_set(err, -EINVAL,
                             "selector.matchExpressions[%zu].key: invalid label key \"%s\": %s",
                             i, k, why);
                goto fail;
            }
            if (!op) {
                rc = err_set(err, -EINVAL, "selector.matchExpressions[%zu].operator: required",
                             i);
                goto fail;
            }
            if (strcmp(op, "In") == 0)
                r.op = OP_IN;
            else if (strcmp(op, "NotIn") == 0)
                r.op = OP_NOTIN;
            else if (strcmp(op, "Exists") == 0)
                r.op = OP_EXISTS;
            else if (strcmp(op, "DoesNotExist") == 0)
                r.op = OP_NOT_EXISTS;
            else {
                rc = err_set(err, -EINVAL,
                             "selector.matchExpressions[%zu].operator: \"%s\" is not a valid "
                             "operator (want In, NotIn, Exists, DoesNotExist)",
                             i, op);
                goto fail;
            }
            if (vals && !json_is_null(vals) && !json_is_array(vals)) {
                rc = err_set(err, -EINVAL,
                             "selector.matchExpressions[%zu].values: must be an array", i);
                goto fail;
            }
            size_t nv = json_array_size(vals);
            if ((r.op == OP_IN || r.op == OP_NOTIN) && nv == 0) {
                rc = err_set(err, -EINVAL,
                             "selector.matchExpressions[%zu].values: must be non-empty when "
                             "operator is %s",
                             i, op);
                goto fail;
            }
            if ((r.op == OP_EXISTS || r.op == OP_NOT_EXISTS) && nv != 0) {
                rc = err_set(err, -EINVAL,
                             "selector.matchExpressions[%zu].values: must be empty when "
                             "operator is %s",
                             i, op);
                goto fail;
            }
            if (!(r.key = strdup(k))) {
                rc = err_set(err, -ENOMEM, "selector: out of memory");
                goto fail;
            }
            size_t j;
            json_t *jv;
            json_array_foreach(vals, j, jv)
            {
                const char *sv = json_string_value(jv);
                if (!sv) {
                    rc = err_set(err, -EINVAL,
                                 "selector.matchExpressions[%zu].values[%zu]: must be a string",
                                 i, j);
                    goto fail;
                }
                if ((why = check_value(sv))) {
                    rc = err_set(err, -EINVAL,
                                 "selector.matchExpressions[%zu].values[%zu]: invalid value "
                                 "\"%s\": %s",
                                 i, j, sv, why);
                    goto fail;
                }
                if (req_add_value(&r, sv, strlen(sv)) != 0) {
                    rc = err_set(err, -ENOMEM, "selector: out of memory");
                    goto fail;
                }
            }
            if (sel_push(sel, &r) != 0) {
                rc = err_set(err, -ENOMEM, "selector: out of memory");
                goto fail;
            }
        }
    }
done:
    *out = sel;
    return 0;
fail:
    req_clear(&r);
    label_selector_free(sel);
    return rc;
}

/* ---- matching ---------------------------------------------------------------------- */

static bool in_values(const struct label_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

bool label_selector_matches_get(const struct label_selector *sel, label_selector_get_fn get,
                                void *userdata)
{
    for (size_t i = 0; i < sel->n; i++) {
        const struct label_req *r = &sel->reqs[i];
        const char *v = NULL;
        bool present = get(r->key, &v, userdata) != 0;
        bool ok;
        switch (r->op) {
        case OP_EQ:
        case OP_IN:
            ok = v && in_values(r, v);
            break;
        case OP_NE:
        case OP_NOTIN:
            ok = !v || !in_values(r, v);
            break;
        case OP_EXISTS:
            ok = present;
            break;
        case OP_NOT_EXISTS:
            ok = !present;
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

static int json_label(const char *key, const char **value, void *userdata)
{
    const json_t *labels = userdata;
    json_t *jv = json_is_object(labels) ? json_object_get(labels, key) : NULL;
    *value = json_string_value(jv);
    return jv != NULL;
}

bool label_selector_matches(const struct label_selector *sel, const json_t *labels)
{
    return label_selector_matches_get(sel, json_label, (void *)labels);
}

bool label_selector_empty(const struct label_selector *sel)
{
    return !sel || sel->n == 0;
}

/* ---- field selectors ----------------------------------------------------------------- */

struct field_term {
    char *field;
    char *value;
    bool neq;
};

struct field_selector {
    struct field_term *terms;
    size_t n;
};

void field_selector_free(struct field_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->terms[i].field);
        free(sel->terms[i].value);
    }
    free(sel->terms);
    free(sel);
}

/* Kubernetes lets values escape ',', '=' and '!' (and '\') with a backslash. */
static int parse_term(const char *in, const char *t, size_t n, struct field_term *out,
                      struct bosun_err *err)
{
    size_t op = 0, oplen = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\') {
            i++;
            continue;
        }
        if (t[i] == '!' && i + 1 < n && t[i + 1] == '=') {
            op = i;
            oplen = 2;
            out->neq = true;
            break;
        }
        if (t[i] == '=') {
            op = i;
            oplen = (i + 1 < n && t[i + 1] == '=') ? 2 : 1;
            break;
        }
    }
    if (oplen == 0)
        return err_set(err, -EINVAL,
                       "fieldSelector: \"%s\": \"%.*s\" has no operator (want =, ==, !=)", in,
                       (int)n, t);
    if (op == 0)
        return err_set(err, -EINVAL, "fieldSelector: \"%s\": a term is missing its field name",
                       in);
    for (size_t i = 0; i < op; i++)
        if (isspace((unsigned char)t[i]) || t[i] == '\\' || t[i] == '!')
            return err_set(err, -EINVAL, "fieldSelector: \"%s\": invalid field name \"%.*s\"",
                           in, (int)op, t);
    out->field = strndup(t, op);
    const char *v = t + op + oplen;
    size_t vn = n - op - oplen;
    out->value = malloc(vn + 1);
    if (!out->field || !out->value)
        return err_set(err, -ENOMEM, "fieldSelector: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < vn; i++) {
        if (v[i] == '\\') {
            if (i + 1 >= vn || (v[i + 1] != ',' && v[i + 1] != '=' && v[i + 1] != '!' &&
                                v[i + 1] != '\\'))
                return err_set(err, -EINVAL,
                               "fieldSelector: \"%s\": invalid escape in value \"%.*s\"", in,
                               (int)vn, v);
            i++;
        } else if (v[i] == '=' || (v[i] == '!' && i + 1 < vn && v[i + 1] == '=')) {
            return err_set(err, -EINVAL,
                           "fieldSelector: \"%s\": unescaped operator in value \"%.*s\"", in,
                           (int)vn, v);
        }
        out->value[o++] = v[i];
    }
    out->value[o] = '\0';
    return 0;
}

int field_selector_parse(const char *s, struct field_selector **out, struct bosun_err *err)
{
    struct field_selector *sel = calloc(1, sizeof(*sel));
    if (!sel)
        return err_set(err, -ENOMEM, "fieldSelector: out of memory");
    const char *in = s ? s : "";
    int rc = 0;
    if (*in == '\0')
        goto done;
    size_t len = strlen(in);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && in[i] == '\\') {
            i++;
            if (i >= len)
                break;
            continue;
        }
        if (i < len && in[i] != ',')
            continue;
        if (i == start) {
            rc = err_set(err, -EINVAL, "fieldSelector: \"%s\": empty term", in);
            goto fail;
        }
        struct field_term *nt = realloc(sel->terms, (sel->n + 1) * sizeof(*nt));
        if (!nt) {
            rc = err_set(err, -ENOMEM, "fieldSelector: out of memory");
            goto fail;
        }
        sel->terms = nt;
        memset(&nt[sel->n], 0, sizeof(*nt));
        sel->n++;
        rc = parse_term(in, in + start, i - start, &nt[sel->n - 1], err);
        if (rc != 0)
            goto fail;
        start = i + 1;
    }
    if (start < len) {
        /* the input ended in a lone backslash */
        rc = err_set(err, -EINVAL, "fieldSelector: \"%s\": trailing '\\'", in);
        goto fail;
    }
done:
    *out = sel;
    return 0;
fail:
    field_selector_free(sel);
    return rc;
}

/* The string form of a field for comparison: strings as is, numbers and booleans as
 * Kubernetes prints them, anything missing or structured as "". */
struct json_field_ctx {
    const json_t *obj;
    char buf[64];
};

static const char *json_field(const char *path, void *userdata)
{
    struct json_field_ctx *c = userdata;
    json_t *v = jsonx_get(c->obj, path);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(c->buf, sizeof(c->buf), "%lld", (long long)json_integer_value(v));
        return c->buf;
    }
    if (json_is_real(v)) {
        snprintf(c->buf, sizeof(c->buf), "%g", json_real_value(v));
        return c->buf;
    }
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    return "";
}

bool field_selector_matches_get(const struct field_selector *sel, field_selector_get_fn get,
                                void *userdata)
{
    for (size_t i = 0; i < sel->n; i++) {
        const char *v = get(sel->terms[i].field, userdata);
        bool eq = strcmp(v, sel->terms[i].value) == 0;
        if (eq == sel->terms[i].neq)
            return false;
    }
    return true;
}

bool field_selector_matches(const struct field_selector *sel, const json_t *obj)
{
    struct json_field_ctx c = {.obj = obj};
    return field_selector_matches_get(sel, json_field, &c);
}

size_t field_selector_count(const struct field_selector *sel)
{
    return sel ? sel->n : 0;
}

const char *field_selector_field(const struct field_selector *sel, size_t i)
{
    return i < sel->n ? sel->terms[i].field : NULL;
}

const char *field_selector_equals(const struct field_selector *sel, const char *field)
{
    if (!sel)
        return NULL;
    for (size_t i = 0; i < sel->n; i++)
        if (!sel->terms[i].neq && strcmp(sel->terms[i].field, field) == 0)
            return sel->terms[i].value;
    return NULL;
}
