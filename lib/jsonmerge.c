#include "lib/jsonmerge.h"

#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"

struct key_rule {
    const char *field;
    const char *key;
};

/* Kubernetes' patchMergeKey for the lists that appear in the first-wave kinds. `ports`
 * is context-dependent and handled in jsonmerge_key. */
static const struct key_rule key_rules[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"env", "name"},
    {"volumes", "name"},
    {"imagePullSecrets", "name"},
    {"volumeMounts", "mountPath"},
    {"conditions", "type"},
    {"hostAliases", "ip"},
    {"topologySpreadConstraints", "topologyKey"},
    {"ownerReferences", "uid"},
    {NULL, NULL},
};

/* Every element of list (NULL counts as empty) is an object carrying a scalar `key`. */
static int all_have_key(const json_t *list, const char *key)
{
    size_t i;
    json_t *e;
    if (!list)
        return 1;
    if (!json_is_array(list))
        return 0;
    json_array_foreach(list, i, e)
    {
        json_t *k = json_is_object(e) ? json_object_get(e, key) : NULL;
        if (!k || json_is_object(k) || json_is_array(k) || json_is_null(k))
            return 0;
    }
    return 1;
}

static int any_has_key(const json_t *list, const char *key)
{
    size_t i;
    json_t *e;
    if (!json_is_array(list))
        return 0;
    json_array_foreach(list, i, e)
    {
        if (json_is_object(e) && json_object_get(e, key))
            return 1;
    }
    return 0;
}

const char *jsonmerge_key(const char *field, const json_t *a, const json_t *b)
{
    const char *key = NULL;
    if (!field)
        return NULL;
    if (strcmp(field, "ports") == 0) {
        key = (any_has_key(a, "containerPort") || any_has_key(b, "containerPort")) ? "containerPort"
                                                                                   : "port";
    } else {
        for (const struct key_rule *r = key_rules; r->field; r++) {
            if (strcmp(r->field, field) == 0) {
                key = r->key;
                break;
            }
        }
    }
    if (!key || !all_have_key(a, key) || !all_have_key(b, key))
        return NULL;
    return key;
}

/* Index of the element of list whose `key` equals that of elem, or -1. */
static long find_by_key(const json_t *list, const char *key, const json_t *elem)
{
    const json_t *want = json_object_get(elem, key);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_is_object(e) && json_equal(json_object_get(e, key), want))
            return (long)i;
    }
    return -1;
}

static void remove_fields(json_t *dst, const json_t *old, const json_t *new);

/* Removes from the keyed list dst the elements old has and new lacks; recurses into the
 * elements both have. */
static void remove_from_list(json_t *dst, const json_t *old, const json_t *new, const char *key)
{
    size_t i;
    json_t *oe;
    json_array_foreach(old, i, oe)
    {
        long d = find_by_key(dst, key, oe);
        if (d < 0)
            continue;
        long n = json_is_array(new) ? find_by_key(new, key, oe) : -1;
        if (n < 0)
            json_array_remove(dst, (size_t)d);
        else
            remove_fields(json_array_get(dst, (size_t)d), oe, json_array_get(new, (size_t)n));
    }
}

/* dst, old, new: objects at the same place in live, old applied and new applied. */
static void remove_fields(json_t *dst, const json_t *old, const json_t *new)
{
    const char *k;
    json_t *ov;
    if (!json_is_object(dst) || !json_is_object(old))
        return;
    json_object_foreach((json_t *)old, k, ov)
    {
        json_t *nv = json_is_object(new) ? json_object_get(new, k) : NULL;
        json_t *dv = json_object_get(dst, k);
        if (!dv)
            continue;
        if (!nv) {
            json_object_del(dst, k);
            continue;
        }
        if (json_is_object(ov) && json_is_object(nv)) {
            remove_fields(dv, ov, nv);
        } else if (json_is_array(ov) && json_is_array(nv) && json_is_array(dv)) {
            const char *key = jsonmerge_key(k, ov, nv);
            if (key && all_have_key(dv, key))
                remove_from_list(dv, ov, nv, key);
        }
    }
}

static int merge_over(json_t *dst, const json_t *src);

/* The keyed list src merged over dv: src's elements in src's order (each merged over
 * its live counterpart), then the live elements src does not mention. New reference. */
static json_t *merge_list(const json_t *dv, const json_t *src, const char *key)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    if (!out)
        return NULL;
    json_array_foreach(src, i, e)
    {
        long d = find_by_key(dv, key, e);
        json_t *m = d >= 0 ? json_deep_copy(json_array_get(dv, (size_t)d)) : json_object();
        if (!m || merge_over(m, e) != 0 || json_array_append_new(out, m) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    json_array_foreach(dv, i, e)
    {
        if (find_by_key(src, key, e) < 0 && json_array_append_new(out, json_deep_copy(e)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int merge_over(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *sv;
    json_object_foreach((json_t *)src, k, sv)
    {
        json_t *dv = json_object_get(dst, k);
        json_t *nv = NULL;
        if (dv && json_is_object(dv) && json_is_object(sv)) {
            if (merge_over(dv, sv) != 0)
                return -1;
            continue;
        }
        if (dv && json_is_array(dv) && json_is_array(sv)) {
            const char *key = jsonmerge_key(k, dv, sv);
            if (key)
                nv = merge_list(dv, sv, key);
        }
        if (!nv)
            nv = json_deep_copy(sv);
        if (!nv || json_object_set_new(dst, k, nv) != 0)
            return -1;
    }
    return 0;
}

json_t *jsonmerge_desired(const json_t *live, const json_t *old_applied, const json_t *new_applied)
{
    json_t *out = live ? json_deep_copy(live) : json_object();
    if (!out)
        return NULL;
    if (old_applied)
        remove_fields(out, old_applied, new_applied);
    if (new_applied && merge_over(out, new_applied) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *jsonmerge_last_applied(const json_t *obj)
{
    json_t *ann = jsonx_get(obj, "metadata.annotations");
    const char *s = json_string_value(json_object_get(ann, JSONMERGE_LAST_APPLIED_ANNOTATION));
    if (!s)
        return NULL;
    json_t *v = jsonx_loadb(s, strlen(s), NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

json_t *jsonmerge_with_last_applied(const json_t *base, const json_t *applied)
{
    json_t *o = json_deep_copy(base);
    char *s = jsonx_dumps(applied);
    json_t *ann = o ? jsonx_ensure_obj(o, "metadata.annotations") : NULL;
    if (!s || !ann ||
        json_object_set_new(ann, JSONMERGE_LAST_APPLIED_ANNOTATION, json_string(s)) != 0) {
        free(s);
        json_decref(o);
        return NULL;
    }
    free(s);
    return o;
}

json_t *jsonmerge_apply(const json_t *live, const json_t *applied)
{
    json_t *clean = NULL, *old = NULL, *merged = NULL, *out = NULL;
    const json_t *ann = jsonx_get(applied, "metadata.annotations");
    if (json_is_object(ann) && json_object_get(ann, JSONMERGE_LAST_APPLIED_ANNOTATION)) {
        if (!(clean = json_deep_copy(applied)))
            goto out;
        json_object_del(jsonx_get(clean, "metadata.annotations"),
                        JSONMERGE_LAST_APPLIED_ANNOTATION);
        applied = clean;
    }
    if (live && json_is_object(live))
        old = jsonmerge_last_applied(live);
    else
        live = NULL;
    merged = jsonmerge_desired(live, old, applied);
    if (merged)
        out = jsonmerge_with_last_applied(merged, applied);
out:
    json_decref(clean);
    json_decref(old);
    json_decref(merged);
    return out;
}
