#include "reconcilerd/api/patch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

#define PATH_MAX_LEN 1024

/* ---------- RFC 7386 ---------- */

json_t *api_merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!res)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(res, k);
            continue;
        }
        json_t *m = api_merge_patch(json_object_get(res, k), v);
        if (!m || json_object_set_new(res, k, m)) {
            json_decref(res);
            return NULL;
        }
    }
    return res;
}

/* ---------- merge keys ---------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix) && (ls == lx || s[ls - lx - 1] == '.');
}

const char *api_patch_merge_key(const char *path)
{
    static const struct {
        const char *field;
        const char *key;
    } keys[] = {
        {"containers", "name"},     {"initContainers", "name"},
        {"ephemeralContainers", "name"}, {"env", "name"},
        {"volumes", "name"},        {"volumeMounts", "mountPath"},
        {"imagePullSecrets", "name"}, {"conditions", "type"},
        {"ownerReferences", "uid"}, {"hostAliases", "ip"},
        {"topologySpreadConstraints", "topologyKey"}, {"addresses", "type"},
        {"finalizers", ""},
    };
    if (!strcmp(path, "spec.ports"))
        return "port"; /* Service */
    if (ends_with(path, "containers[].ports") || ends_with(path, "initContainers[].ports") ||
        ends_with(path, "ephemeralContainers[].ports"))
        return "containerPort";
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!strcmp(last, keys[i].field)) {
            /* Node status addresses are keyed by type; other "addresses" lists are atomic. */
            if (!strcmp(last, "addresses") && strcmp(path, "status.addresses"))
                return NULL;
            return keys[i].key;
        }
    }
    return NULL;
}

/* dst (PATH_MAX_LEN bytes) = base "." key, or key when base is empty; paths deeper than
 * PATH_MAX_LEN are cut (they then match no merge key: the list is replaced whole). */
static void path_join(char *dst, const char *base, const char *key)
{
    size_t n = strbuf_copy(dst, PATH_MAX_LEN, base);
    if (*base && n + 1 < PATH_MAX_LEN)
        dst[n++] = '.';
    if (n < PATH_MAX_LEN)
        strbuf_copy(dst + n, PATH_MAX_LEN - n, key);
}

static void path_items(char *dst, const char *base)
{
    int n = snprintf(dst, PATH_MAX_LEN, "%s[]", base);
    if (n < 0 || n >= PATH_MAX_LEN)
        dst[PATH_MAX_LEN - 1] = '\0';
}

/* ---------- strategic merge patch ---------- */

static int smp_merge_obj(json_t *live, const json_t *patch, const char *path,
                         struct bosun_err *err);

static int is_directive(const char *k)
{
    return k[0] == '$';
}

/* A copy of a patch value with every directive applied against nothing. */
static json_t *smp_clean(const json_t *v, const char *path, struct bosun_err *err)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        if (smp_merge_obj(o, v, path, err)) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (json_is_array(v)) {
        char ip[PATH_MAX_LEN];
        path_items(ip, path);
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_object(e)) {
                const char *d = json_string_value(json_object_get(e, "$patch"));
                if (d)
                    continue; /* delete/replace markers have nothing to act on */
            }
            json_t *c = smp_clean(e, ip, err);
            if (!c) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, c);
        }
        return a;
    }
    return json_deep_copy(v);
}

static int elem_matches(const json_t *e, const char *key, const json_t *val)
{
    return json_is_object(e) && json_equal(json_object_get(e, key), (json_t *)val);
}

static int smp_merge_list(json_t *obj, const char *field, const json_t *patch, const char *path,
                          struct bosun_err *err)
{
    const char *mk = api_patch_merge_key(path);
    if (!mk) {
        json_t *c = smp_clean(patch, path, err);
        if (!c)
            return err && err->code ? err->code : -ENOMEM;
        json_object_set_new(obj, field, c);
        return 0;
    }
    json_t *live = json_object_get(obj, field);
    if (!json_is_array(live)) {
        live = json_array();
        json_object_set_new(obj, field, live);
    }
    char ip[PATH_MAX_LEN];
    path_items(ip, path);
    /* A {"$patch":"replace"} element makes the list the rest of the patch. */
    size_t i;
    json_t *e;
    json_array_foreach(patch, i, e) {
        const char *d = json_is_object(e) ? json_string_value(json_object_get(e, "$patch")) : NULL;
        if (d && !strcmp(d, "replace")) {
            json_t *c = smp_clean(patch, path, err);
            if (!c)
                return err && err->code ? err->code : -ENOMEM;
            json_object_set_new(obj, field, c);
            return 0;
        }
    }
    if (!*mk) { /* primitive set: union */
        json_array_foreach(patch, i, e) {
            size_t j;
            json_t *le;
            int found = 0;
            json_array_foreach(live, j, le) {
                if (json_equal(le, e))
                    found = 1;
            }
            if (!found)
                json_array_append(live, e);
        }
        return 0;
    }
    json_array_foreach(patch, i, e) {
        if (!json_is_object(e)) {
            return err_set(err, -EINVAL, "%s: list items must be objects with key %s", path, mk);
        }
        json_t *kv = json_object_get(e, mk);
        const char *d = json_string_value(json_object_get(e, "$patch"));
        if (!kv)
            return err_set(err, -EINVAL, "%s: item without merge key %s", path, mk);
        if (d && !strcmp(d, "delete")) {
            for (size_t j = json_array_size(live); j-- > 0;) {
                if (elem_matches(json_array_get(live, j), mk, kv))
                    json_array_remove(live, j);
            }
            continue;
        }
        if (d && strcmp(d, "merge"))
            return err_set(err, -EINVAL, "%s: unknown $patch value \"%s\"", path, d);
        json_t *target = NULL;
        size_t j;
        json_t *le;
        json_array_foreach(live, j, le) {
            if (elem_matches(le, mk, kv)) {
                target = le;
                break;
            }
        }
        if (target) {
            int rc = smp_merge_obj(target, e, ip, err);
            if (rc)
                return rc;
        } else {
            json_t *c = smp_clean(e, ip, err);
            if (!c)
                return err && err->code ? err->code : -ENOMEM;
            json_array_append_new(live, c);
        }
    }
    return 0;
}

/* Reorders obj[field] so that the items named by order come first, in that order; the
 * others keep their relative order after them. */
static void smp_set_order(json_t *obj, const char *field, const json_t *order, const char *path)
{
    json_t *live = json_object_get(obj, field);
    if (!json_is_array(live) || !json_is_array(order))
        return;
    const char *mk = api_patch_merge_key(path);
    if (!mk)
        return;
    json_t *res = json_array();
    json_t *rest = json_deep_copy(live);
    size_t i;
    json_t *o;
    json_array_foreach(order, i, o) {
        for (size_t j = 0; j < json_array_size(rest); j++) {
            json_t *le = json_array_get(rest, j);
            int m = *mk ? (json_is_object(o) && elem_matches(le, mk, json_object_get(o, mk)))
                        : json_equal(le, o);
            if (m) {
                json_array_append(res, le);
                json_array_remove(rest, j);
                break;
            }
        }
    }
    json_array_extend(res, rest);
    json_decref(rest);
    json_object_set_new(obj, field, res);
}

static int smp_merge_obj(json_t *live, const json_t *patch, const char *path,
                         struct bosun_err *err)
{
    const char *d = json_string_value(json_object_get(patch, "$patch"));
    if (d && !strcmp(d, "replace")) {
        json_object_clear(live);
        json_t *tmp = json_object();
        json_t *p2 = json_deep_copy(patch);
        json_object_del(p2, "$patch");
        int rc = smp_merge_obj(tmp, p2, path, err);
        json_decref(p2);
        if (!rc)
            json_object_update(live, tmp);
        json_decref(tmp);
        return rc;
    }
    if (d && strcmp(d, "merge") && strcmp(d, "delete"))
        return err_set(err, -EINVAL, "%s: unknown $patch value \"%s\"", *path ? path : "<root>", d);

    const char *k;
    json_t *v;
    char cp[PATH_MAX_LEN];
    json_object_foreach((json_t *)patch, k, v) {
        if (is_directive(k))
            continue;
        path_join(cp, path, k);
        if (json_is_null(v)) {
            json_object_del(live, k);
            continue;
        }
        if (json_is_object(v)) {
            const char *vd = json_string_value(json_object_get(v, "$patch"));
            if (vd && !strcmp(vd, "delete")) {
                json_object_del(live, k);
                continue;
            }
            json_t *lv = json_object_get(live, k);
            if (json_is_object(lv)) {
                int rc = smp_merge_obj(lv, v, cp, err);
                if (rc)
                    return rc;
            } else {
                json_t *c = smp_clean(v, cp, err);
                if (!c)
                    return err && err->code ? err->code : -ENOMEM;
                json_object_set_new(live, k, c);
            }
            continue;
        }
        if (json_is_array(v)) {
            int rc = smp_merge_list(live, k, v, cp, err);
            if (rc)
                return rc;
            continue;
        }
        json_object_set_new(live, k, json_deep_copy(v));
    }
    /* Directives that act after the merge. */
    json_object_foreach((json_t *)patch, k, v) {
        if (!strncmp(k, "$deleteFromPrimitiveList/", 25)) {
            json_t *l = json_object_get(live, k + 25);
            if (!json_is_array(l) || !json_is_array(v))
                continue;
            for (size_t j = json_array_size(l); j-- > 0;) {
                size_t x;
                json_t *dv;
                json_array_foreach(v, x, dv) {
                    if (json_equal(json_array_get(l, j), dv)) {
                        json_array_remove(l, j);
                        break;
                    }
                }
            }
        } else if (!strncmp(k, "$setElementOrder/", 17)) {
            path_join(cp, path, k + 17);
            smp_set_order(live, k + 17, v, cp);
        }
    }
    json_t *retain = json_object_get(patch, "$retainKeys");
    if (json_is_array(retain)) {
        void *tmp;
        json_object_foreach_safe(live, tmp, k, v) {
            size_t x;
            json_t *rk;
            int keep = 0;
            json_array_foreach(retain, x, rk) {
                if (json_is_string(rk) && !strcmp(json_string_value(rk), k))
                    keep = 1;
            }
            if (!keep)
                json_object_del(live, k);
        }
    }
    return 0;
}

int api_smp_apply(const json_t *live, const json_t *patch, json_t **out, struct bosun_err *err)
{
    if (!json_is_object(patch))
        return err_set(err, -EINVAL, "a strategic merge patch must be a JSON object");
    json_t *res = json_is_object(live) ? json_deep_copy(live) : json_object();
    if (!res)
        return err_set(err, -ENOMEM, "out of memory");
    int rc = smp_merge_obj(res, patch, "", err);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* ---------- RFC 6902 ---------- */

/* Splits a JSON pointer into unescaped tokens; returns count or -1. tokens point into buf. */
static int ptr_split(const char *ptr, char *buf, size_t buflen, char **tok, int max)
{
    if (!*ptr)
        return 0;
    if (*ptr != '/' || strlen(ptr) >= buflen)
        return -1;
    int n = 0;
    char *w = buf;
    const char *r = ptr;
    while (*r == '/') {
        if (n == max)
            return -1;
        r++;
        tok[n++] = w;
        while (*r && *r != '/') {
            if (*r == '~') {
                if (r[1] == '0')
                    *w++ = '~';
                else if (r[1] == '1')
                    *w++ = '/';
                else
                    return -1;
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        *w++ = '\0';
    }
    return n;
}

static int parse_index(const char *t, size_t max, size_t *out)
{
    if (!*t || (t[0] == '0' && t[1]) || strlen(t) > 9)
        return -1;
    size_t v = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Resolves all but the last token: the container the last token addresses. */
static json_t *ptr_parent(json_t *doc, char **tok, int n)
{
    json_t *cur = doc;
    for (int i = 0; i < n - 1; i++) {
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok[i]);
        } else if (json_is_array(cur)) {
            size_t idx;
            if (parse_index(tok[i], json_array_size(cur) - 1, &idx) || !json_array_size(cur))
                return NULL;
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
        if (!cur)
            return NULL;
    }
    return cur;
}

static json_t *ptr_get(json_t *doc, char **tok, int n)
{
    if (n == 0)
        return doc;
    json_t *p = ptr_parent(doc, tok, n);
    if (json_is_object(p))
        return json_object_get(p, tok[n - 1]);
    if (json_is_array(p) && json_array_size(p)) {
        size_t idx;
        if (parse_index(tok[n - 1], json_array_size(p) - 1, &idx))
            return NULL;
        return json_array_get(p, idx);
    }
    return NULL;
}

/* add (steals v); replace=1 requires the target to exist. */
static int ptr_add(json_t **doc, char **tok, int n, json_t *v, int replace)
{
    if (n == 0) {
        json_decref(*doc);
        *doc = v;
        return 0;
    }
    json_t *p = ptr_parent(*doc, tok, n);
    const char *last = tok[n - 1];
    if (json_is_object(p)) {
        if (replace && !json_object_get(p, last))
            goto fail;
        return json_object_set_new(p, last, v) ? -ENOMEM : 0;
    }
    if (json_is_array(p)) {
        size_t sz = json_array_size(p), idx;
        if (!replace && !strcmp(last, "-"))
            return json_array_append_new(p, v) ? -ENOMEM : 0;
        if (parse_index(last, replace ? (sz ? sz - 1 : 0) : sz, &idx) || (replace && !sz))
            goto fail;
        if (replace)
            return json_array_set_new(p, idx, v) ? -ENOMEM : 0;
        return json_array_insert_new(p, idx, v) ? -ENOMEM : 0;
    }
fail:
    json_decref(v);
    return -ENOENT;
}

static int ptr_remove(json_t *doc, char **tok, int n)
{
    if (n == 0)
        return -EINVAL;
    json_t *p = ptr_parent(doc, tok, n);
    if (json_is_object(p))
        return json_object_del(p, tok[n - 1]) ? -ENOENT : 0;
    if (json_is_array(p) && json_array_size(p)) {
        size_t idx;
        if (parse_index(tok[n - 1], json_array_size(p) - 1, &idx))
            return -ENOENT;
        return json_array_remove(p, idx) ? -ENOENT : 0;
    }
    return -ENOENT;
}

#define PTR_MAX 64

int api_json_patch_apply(const json_t *in, const json_t *patch, json_t **out,
                         struct bosun_err *err)
{
    if (!json_is_array(patch))
        return err_set(err, -EINVAL, "a JSON patch must be an array of operations");
    json_t *doc = json_deep_copy(in);
    int rc = 0;
    size_t i;
    json_t *opv;
    json_array_foreach(patch, i, opv) {
        const char *op = json_string_value(json_object_get(opv, "op"));
        const char *path = json_string_value(json_object_get(opv, "path"));
        const char *from = json_string_value(json_object_get(opv, "from"));
        json_t *value = json_object_get(opv, "value");
        char b1[PATH_MAX_LEN], b2[PATH_MAX_LEN];
        char *t1[PTR_MAX], *t2[PTR_MAX];
        int n1, n2 = 0;
        if (!op || !path) {
            rc = err_set(err, -EINVAL, "json patch operation %zu: missing op or path", i);
            goto out;
        }
        if ((n1 = ptr_split(path, b1, sizeof(b1), t1, PTR_MAX)) < 0) {
            rc = err_set(err, -EINVAL, "json patch operation %zu: invalid path \"%s\"", i, path);
            goto out;
        }
        if ((!strcmp(op, "move") || !strcmp(op, "copy")) &&
            (!from || (n2 = ptr_split(from, b2, sizeof(b2), t2, PTR_MAX)) < 0)) {
            rc = err_set(err, -EINVAL, "json patch operation %zu (%s): invalid from", i, op);
            goto out;
        }
        if ((!strcmp(op, "add") || !strcmp(op, "replace") || !strcmp(op, "test")) && !value) {
            rc = err_set(err, -EINVAL, "json patch operation %zu (%s): missing value", i, op);
            goto out;
        }
        int r;
        if (!strcmp(op, "add")) {
            r = ptr_add(&doc, t1, n1, json_deep_copy(value), 0);
        } else if (!strcmp(op, "replace")) {
            r = ptr_add(&doc, t1, n1, json_deep_copy(value), 1);
        } else if (!strcmp(op, "remove")) {
            r = ptr_remove(doc, t1, n1);
        } else if (!strcmp(op, "test")) {
            json_t *cur = ptr_get(doc, t1, n1);
            if (!cur || !json_equal(cur, value)) {
                rc = err_set(err, -EINVAL, "json patch operation %zu (test) failed at %s", i,
                             path);
                goto out;
            }
            r = 0;
        } else if (!strcmp(op, "move") || !strcmp(op, "copy")) {
            json_t *src = ptr_get(doc, t2, n2);
            if (!src) {
                r = -ENOENT;
            } else {
                json_t *c = json_deep_copy(src);
                r = 0;
                if (!strcmp(op, "move") && strncmp(path, from, strlen(from)) == 0 &&
                    path[strlen(from)] == '/') {
                    json_decref(c);
                    rc = err_set(err, -EINVAL, "json patch operation %zu: cannot move %s into itself",
                                 i, from);
                    goto out;
                }
                if (!strcmp(op, "move"))
                    r = ptr_remove(doc, t2, n2);
                if (!r)
                    r = ptr_add(&doc, t1, n1, c, 0);
                else
                    json_decref(c);
            }
        } else {
            rc = err_set(err, -EINVAL, "json patch operation %zu: unknown op \"%s\"", i, op);
            goto out;
        }
        if (r) {
            rc = err_set(err, -EINVAL, "json patch operation %zu (%s): path %s does not exist", i,
                         op, r == -ENOENT && from && strcmp(op, "add") ? from : path);
            goto out;
        }
    }
    *out = doc;
    doc = NULL;
out:
    json_decref(doc);
    return rc;
}

/* ---------- server-side apply ---------- */

static json_t *fieldset_walk(const json_t *v, const char *path)
{
    json_t *fs = json_object();
    if (!json_is_object(v))
        return fs;
    const char *k;
    json_t *c;
    char cp[PATH_MAX_LEN], fk[PATH_MAX_LEN + 2];
    json_object_foreach((json_t *)v, k, c) {
        if (!*path && (!strcmp(k, "status")))
            continue;
        if (!strcmp(path, "metadata") &&
            (!strcmp(k, "managedFields") || !strcmp(k, "resourceVersion") || !strcmp(k, "uid") ||
             !strcmp(k, "creationTimestamp") || !strcmp(k, "generation")))
            continue;
        path_join(cp, path, k);
        fk[0] = 'f';
        fk[1] = ':';
        if (strbuf_copy(fk + 2, sizeof(fk) - 2, k) >= sizeof(fk) - 2)
            continue;
        if (json_is_object(c)) {
            json_object_set_new(fs, fk, fieldset_walk(c, cp));
        } else if (json_is_array(c)) {
            const char *mk = api_patch_merge_key(cp);
            json_t *items = json_object();
            if (mk && *mk) {
                char ip[PATH_MAX_LEN];
                path_items(ip, cp);
                size_t i;
                json_t *e;
                json_array_foreach(c, i, e) {
                    json_t *kv = json_object_get(e, mk);
                    if (!kv)
                        continue;
                    json_t *kobj = json_pack("{s:O}", mk, kv);
                    char *ks = json_dumps(kobj, JSON_COMPACT);
                    json_decref(kobj);
                    if (!ks)
                        continue;
                    char *ik = malloc(strlen(ks) + 3);
                    if (ik) {
                        sprintf(ik, "k:%s", ks);
                        json_object_set_new(items, ik, fieldset_walk(e, ip));
                        free(ik);
                    }
                    free(ks);
                }
            }
            json_object_set_new(fs, fk, items);
        } else {
            json_object_set_new(fs, fk, json_object());
        }
    }
    return fs;
}

json_t *api_fieldset_of(const json_t *applied)
{
    return fieldset_walk(applied, "");
}

json_t *api_fieldset_walk(const json_t *v, const char *path)
{
    return fieldset_walk(v, path);
}

/* Removes from obj what old owns and new does not. */
static void fieldset_remove(json_t *obj, const json_t *old, const json_t *new_fs)
{
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)old, k, sub) {
        json_t *nsub = new_fs ? json_object_get(new_fs, k) : NULL;
        if (!strncmp(k, "f:", 2)) {
            if (!json_is_object(obj))
                continue;
            const char *field = k + 2;
            json_t *child = json_object_get(obj, field);
            if (!nsub && !json_object_size(sub)) {
                json_object_del(obj, field); /* a leaf the manager owned */
            } else if (child && json_object_size(sub)) {
                /* A map or list: remove only the parts this manager owned; others may
                 * have added their own (a label set by someone else survives). */
                fieldset_remove(child, sub, nsub);
                if (!nsub && ((json_is_object(child) && !json_object_size(child)) ||
                              (json_is_array(child) && !json_array_size(child))))
                    json_object_del(obj, field);
            }
        } else if (!strncmp(k, "k:", 2)) {
            if (!json_is_array(obj))
                continue;
            json_t *key = json_loads(k + 2, 0, NULL);
            if (!json_is_object(key)) {
                json_decref(key);
                continue;
            }
            for (size_t i = json_array_size(obj); i-- > 0;) {
                json_t *e = json_array_get(obj, i);
                const char *kk;
                json_t *kv;
                int match = json_is_object(e);
                json_object_foreach(key, kk, kv) {
                    if (match && !json_equal(json_object_get(e, kk), kv))
                        match = 0;
                }
                if (!match)
                    continue;
                if (!nsub)
                    json_array_remove(obj, i);
                else if (json_object_size(sub))
                    fieldset_remove(e, sub, nsub);
            }
            json_decref(key);
        }
    }
}

int api_apply_merge(const json_t *live, const json_t *applied, const json_t *old_fields,
                    json_t **out, struct bosun_err *err)
{
    if (!json_is_object(applied))
        return err_set(err, -EINVAL, "an apply configuration must be an object");
    json_t *res = json_is_object(live) ? json_deep_copy(live) : json_object();
    if (!res)
        return err_set(err, -ENOMEM, "out of memory");
    if (json_is_object(old_fields)) {
        json_t *nf = api_fieldset_of(applied);
        fieldset_remove(res, old_fields, nf);
        json_decref(nf);
    }
    int rc = smp_merge_obj(res, applied, "", err);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}
