#include "reconcilerd/api/managed.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/timeutil.h"
#include "reconcilerd/api/patch.h"

#define PATH_LEN 1024

/* ---- FieldsV1 sets ---- */

/* The child of value v named by a FieldsV1 key ("f:name" or "k:{...}"), borrowed. */
static const json_t *nav(const json_t *v, const char *fk)
{
    if (!v)
        return NULL;
    if (!strncmp(fk, "f:", 2))
        return json_is_object(v) ? json_object_get(v, fk + 2) : NULL;
    if (strncmp(fk, "k:", 2) || !json_is_array(v))
        return NULL;
    json_t *key = json_loads(fk + 2, 0, NULL);
    const json_t *found = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_object(e) || !json_is_object(key))
            break;
        const char *kk;
        json_t *kv;
        int match = 1;
        json_object_foreach(key, kk, kv) {
            if (!json_equal(json_object_get(e, kk), kv))
                match = 0;
        }
        if (match) {
            found = e;
            break;
        }
    }
    json_decref(key);
    return found;
}

/* Appends the printed form of a FieldsV1 key to path: ".name" or [name="c"]. */
static void path_add(char *path, const char *fk)
{
    size_t l = strlen(path);
    if (!strncmp(fk, "f:", 2)) {
        snprintf(path + l, PATH_LEN - l, ".%s", fk + 2);
        return;
    }
    json_t *key = json_loads(fk + 2, 0, NULL);
    char buf[PATH_LEN] = "[";
    const char *kk;
    json_t *kv;
    json_object_foreach(key, kk, kv) {
        char *vs = json_dumps(kv, JSON_ENCODE_ANY | JSON_COMPACT);
        size_t b = strlen(buf);
        snprintf(buf + b, sizeof(buf) - b, "%s%s=%s", b > 1 ? "," : "", kk, vs ? vs : "");
        free(vs);
    }
    json_decref(key);
    size_t b = strlen(buf);
    snprintf(buf + b, sizeof(buf) - b, "]");
    snprintf(path + l, PATH_LEN - l, "%s", buf);
}

/* a minus b (new reference). A leaf of b ({}) removes the whole key from a. */
static json_t *fs_subtract(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *k;
    json_t *av;
    json_object_foreach((json_t *)a, k, av) {
        json_t *bv = json_object_get(b, k);
        if (!bv) {
            json_object_set_new(out, k, json_deep_copy(av));
            continue;
        }
        if (!json_object_size(bv) || !json_object_size(av))
            continue;
        json_t *sub = fs_subtract(av, bv);
        if (json_object_size(sub))
            json_object_set_new(out, k, sub);
        else
            json_decref(sub);
    }
    return out;
}

/* a united with b (new reference). */
static json_t *fs_union(const json_t *a, const json_t *b)
{
    json_t *out = json_is_object(a) ? json_deep_copy(a) : json_object();
    const char *k;
    json_t *bv;
    json_object_foreach((json_t *)b, k, bv) {
        json_t *av = json_object_get(out, k);
        if (!av)
            json_object_set_new(out, k, json_deep_copy(bv));
        else
            json_object_set_new(out, k, fs_union(av, bv));
    }
    return out;
}

/* Walks the fields both sets own; where applied sets a value live does not have, records
 * the printed path (paths, may be NULL) and the field (fs, may be NULL). */
static void conflict_walk(const json_t *live, const json_t *applied, const json_t *afs,
                          const json_t *ofs, char *path, json_t *paths, json_t *fs)
{
    const char *k;
    json_t *asub;
    json_object_foreach((json_t *)afs, k, asub) {
        json_t *osub = json_object_get(ofs, k);
        if (!osub)
            continue;
        const json_t *lv = nav(live, k), *av = nav(applied, k);
        size_t l = strlen(path);
        path_add(path, k);
        if (!json_object_size(asub) || !json_object_size(osub)) {
            if (!(lv && av && json_equal(lv, av))) {
                if (paths)
                    json_array_append_new(paths, json_string(path));
                if (fs)
                    json_object_set_new(fs, k, json_object());
            }
        } else {
            json_t *sub = fs ? json_object() : NULL;
            conflict_walk(lv, av, asub, osub, path, paths, sub);
            if (sub && json_object_size(sub))
                json_object_set_new(fs, k, sub);
            else
                json_decref(sub);
        }
        path[l] = '\0';
    }
}

/* The fields whose values differ between old and new (objects), at dotted path. */
static json_t *diff_fs(const json_t *old, const json_t *new_obj, const char *path)
{
    json_t *fs = json_object();
    const char *k;
    json_t *nv;
    json_object_foreach((json_t *)new_obj, k, nv) {
        json_t *ov = json_object_get(old, k);
        if (ov && json_equal(ov, nv))
            continue;
        /* what fieldset_walk leaves out is not owned by anyone */
        json_t *wrap = json_pack("{s:O}", k, nv);
        json_t *whole = api_fieldset_walk(wrap, path);
        json_decref(wrap);
        char fk[PATH_LEN];
        snprintf(fk, sizeof(fk), "f:%s", k);
        json_t *wfs = json_object_get(whole, fk);
        if (!wfs) {
            json_decref(whole);
            continue;
        }
        char cp[PATH_LEN + 8];
        if (*path)
            snprintf(cp, sizeof(cp), "%s.%s", path, k);
        else
            snprintf(cp, sizeof(cp), "%s", k);
        if (json_is_object(nv) && json_is_object(ov)) {
            json_t *sub = diff_fs(ov, nv, cp);
            if (json_object_size(sub))
                json_object_set_new(fs, fk, sub);
            else
                json_decref(sub);
        } else if (json_is_array(nv) && json_is_array(ov) && json_object_size(wfs)) {
            /* a list merged by key: only the items that changed */
            char ip[PATH_LEN + 16];
            snprintf(ip, sizeof(ip), "%s[]", cp);
            json_t *items = json_object();
            const char *ik;
            json_t *ifs;
            json_object_foreach(wfs, ik, ifs) {
                const json_t *ne = nav(nv, ik), *oe = nav(ov, ik);
                if (!oe)
                    json_object_set(items, ik, ifs);
                else if (!json_equal(oe, ne)) {
                    json_t *sub = diff_fs(oe, ne, ip);
                    json_object_set_new(items, ik, sub);
                }
            }
            if (json_object_size(items))
                json_object_set_new(fs, fk, items);
            else
                json_decref(items);
        } else {
            json_object_set(fs, fk, wfs);
        }
        json_decref(whole);
    }
    return fs;
}

/* ---- entries ---- */

static const char *str(const json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "";
}

static void print_manager(const json_t *e, char *buf, size_t len)
{
    int n = snprintf(buf, len, "\"%s\"", str(e, "manager"));
    if (*str(e, "subresource") && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " with subresource \"%s\"", str(e, "subresource"));
    if (!strcmp(str(e, "operation"), "Update") && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " using %s", str(e, "apiVersion"));
}

static bool is_entry(const json_t *e, const char *manager, const char *op)
{
    return !strcmp(str(e, "manager"), manager) && !strcmp(str(e, "operation"), op) &&
           !*str(e, "subresource");
}

json_t *api_managed_conflicts(const json_t *live, const json_t *applied,
                              const json_t *applied_fs, const char *manager)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(live, "metadata"), "managedFields"), i,
                       e) {
        if (!strcmp(str(e, "manager"), manager) || *str(e, "subresource"))
            continue;
        json_t *paths = json_array();
        char path[PATH_LEN] = "";
        conflict_walk(live, applied, applied_fs, json_object_get(e, "fieldsV1"), path, paths,
                      NULL);
        char who[600];
        print_manager(e, who, sizeof(who));
        size_t j;
        json_t *p;
        json_array_foreach(paths, j, p)
            json_array_append_new(out, json_pack("{s:s,s:O}", "manager", who, "field", p));
        json_decref(paths);
    }
    return out;
}

static int cmp_manager(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "manager")),
                  json_string_value(json_object_get(*(json_t *const *)b, "manager")));
}

void api_managed_conflict_message(const json_t *conflicts, char *buf, size_t len)
{
    size_t n = json_array_size(conflicts);
    if (n == 1) {
        json_t *c = json_array_get(conflicts, 0);
        snprintf(buf, len, "Apply failed with 1 conflict: conflict with %s: %s", str(c, "manager"),
                 str(c, "field"));
        return;
    }
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        snprintf(buf, len, "Apply failed with %zu conflicts", n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(conflicts, i);
    /* stable enough: managers sorted, fields in walk order within one */
    qsort(v, n, sizeof(*v), cmp_manager);
    size_t off = (size_t)snprintf(buf, len, "Apply failed with %zu conflicts: ", n);
    const char *prev = NULL;
    for (size_t i = 0; i < n && off < len; i++) {
        const char *m = str(v[i], "manager");
        if (!prev || strcmp(prev, m))
            off += (size_t)snprintf(buf + off, len - off, "%sconflicts with %s:", prev ? "\n" : "",
                                    m);
        if (off < len)
            off += (size_t)snprintf(buf + off, len - off, "\n- %s", str(v[i], "field"));
        prev = m;
    }
    free(v);
}

json_t *api_managed_removable(const json_t *live, const json_t *old_fs, const char *manager)
{
    json_t *out = json_deep_copy(old_fs);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(live, "metadata"), "managedFields"), i,
                       e) {
        if (is_entry(e, manager, "Apply"))
            continue;
        json_t *next = fs_subtract(out, json_object_get(e, "fieldsV1"));
        json_decref(out);
        out = next;
    }
    return out;
}

static json_t *entries_of(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    json_t *mf = json_object_get(m, "managedFields");
    if (!json_is_array(mf)) {
        mf = json_array();
        json_object_set_new(m, "managedFields", mf);
    }
    return mf;
}

static void drop_empty(json_t *obj)
{
    json_t *mf = entries_of(obj);
    for (size_t i = json_array_size(mf); i-- > 0;) {
        json_t *fs = json_object_get(json_array_get(mf, i), "fieldsV1");
        if (!json_object_size(fs))
            json_array_remove(mf, i);
    }
    if (!json_array_size(mf))
        json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

static json_t *new_entry(const char *manager, const char *op, const char *av, json_t *fs)
{
    char ts[32];
    time_rfc3339(time(NULL), ts, sizeof(ts));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "manager", manager, "operation", op,
                     "apiVersion", av, "time", ts, "fieldsType", "FieldsV1", "fieldsV1", fs);
}

void api_managed_record_apply(json_t *obj, const json_t *live, const json_t *applied,
                              const char *manager, const char *api_version,
                              const json_t *applied_fs, int force)
{
    if (!json_is_object(json_object_get(obj, "metadata")))
        return;
    json_t *mf = entries_of(obj);
    bool kept = false;
    for (size_t i = json_array_size(mf); i-- > 0;) {
        json_t *e = json_array_get(mf, i);
        if (is_entry(e, manager, "Apply")) {
            /* the same set again: keep the entry (and its time), so that a re-apply
             * changes nothing and makes no new revision */
            if (!kept && json_equal(json_object_get(e, "fieldsV1"), (json_t *)applied_fs) &&
                !strcmp(str(e, "apiVersion"), api_version))
                kept = true;
            else
                json_array_remove(mf, i);
        } else if (force && !*str(e, "subresource")) {
            /* forced: conflicting fields (values the apply changed) change hands; equal
             * values stay shared */
            json_t *cf = json_object();
            char path[PATH_LEN] = "";
            conflict_walk(live, applied, applied_fs, json_object_get(e, "fieldsV1"), path, NULL,
                          cf);
            json_object_set_new(e, "fieldsV1", fs_subtract(json_object_get(e, "fieldsV1"), cf));
            json_decref(cf);
        }
    }
    if (!kept)
        json_array_append_new(mf, new_entry(manager, "Apply", api_version,
                                            json_deep_copy(applied_fs)));
    drop_empty(obj);
}

void api_managed_record_update(json_t *obj, const json_t *live, const char *manager,
                               const char *api_version)
{
    if (!json_is_object(json_object_get(obj, "metadata")))
        return;
    json_t *ch = live ? diff_fs(live, obj, "") : api_fieldset_of(obj);
    if (!json_object_size(ch)) {
        json_decref(ch);
        return;
    }
    json_t *mf = entries_of(obj);
    json_t *mine = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(mf, i, e) {
        if (*str(e, "subresource"))
            continue;
        if (is_entry(e, manager, "Update")) {
            mine = e;
            continue;
        }
        json_object_set_new(e, "fieldsV1", fs_subtract(json_object_get(e, "fieldsV1"), ch));
    }
    if (mine) {
        json_object_set_new(mine, "fieldsV1", fs_union(json_object_get(mine, "fieldsV1"), ch));
        char ts[32];
        time_rfc3339(time(NULL), ts, sizeof(ts));
        json_object_set_new(mine, "time", json_string(ts));
        json_decref(ch);
    } else {
        json_array_append_new(mf, new_entry(manager, "Update", api_version, ch));
    }
    drop_empty(obj);
}

const char *api_managed_manager(const char *field_manager, const char *user_agent, char *buf,
                                size_t len)
{
    if (field_manager && *field_manager)
        snprintf(buf, len, "%s", field_manager);
    else if (user_agent && *user_agent)
        snprintf(buf, len, "%.*s", (int)strcspn(user_agent, "/ "), user_agent);
    else
        snprintf(buf, len, "unknown");
    if (!*buf)
        snprintf(buf, len, "unknown");
    return buf;
}
