#include "gitsync/status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gitsync/apply.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"

int gitsync_status_path(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "/apis/bosun.io/v1/namespaces/%s/gitrepositories%s%s",
                     GITSYNC_SYSTEM_NS, name ? "/" : "", name ? name : "");
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

char *gitsync_format_duration(int64_t ms, char *buf, size_t len)
{
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
    size_t n = 0;
    buf[0] = '\0';
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    if (h)
        n += (size_t)snprintf(buf + n, len - n, "%lldh", (long long)h);
    if (m && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%lldm", (long long)m);
    if (s && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%llds", (long long)s);
    if (rest && n < len)
        snprintf(buf + n, len - n, "%lldms", (long long)rest);
    return buf;
}

int gitsync_status_get(struct httpc *c, const char *name, json_t **out, struct bosun_err *err)
{
    char path[512];
    long status = 0;
    json_t *obj = NULL;
    gitsync_status_path(name, path, sizeof(path));
    int r = httpc_json(c, "GET", path, NULL, NULL, &status, &obj, err);
    if (r < 0)
        return r;
    if (status == 404) {
        json_decref(obj);
        *out = NULL;
        return 0;
    }
    if (status != 200 || !json_is_object(obj)) {
        r = gitsync_api_error(err, "GET", path, status, obj, NULL);
        json_decref(obj);
        return r;
    }
    *out = obj;
    return 0;
}

/* One write of a read-modify-write loop: 1 on 409 Conflict (the caller re-reads and
 * tries again), 0 with the server's answer in *out (when out is not NULL), or a negative
 * code with err set. */
static int write_once(struct httpc *c, const char *method, const char *path, const json_t *body,
                      json_t **out, struct bosun_err *err)
{
    long status = 0;
    json_t *resp = NULL;
    int r = httpc_json(c, method, path, "application/json", body, &status, &resp, err);
    if (r >= 0 && status == 409)
        r = 1;
    else if (r >= 0 && status != 200 && status != 201)
        r = gitsync_api_error(err, method, path, status, resp, NULL);
    if (r == 0 && out)
        *out = resp;
    else
        json_decref(resp);
    return r;
}

int gitsync_status_ensure(struct httpc *c, const char *name, const json_t *spec, json_t **out,
                          struct bosun_err *err)
{
    char path[512], coll[512];
    int r = 0;
    gitsync_status_path(name, path, sizeof(path));
    gitsync_status_path(NULL, coll, sizeof(coll));
    for (int attempt = 0; attempt < GITSYNC_CONFLICT_RETRIES; attempt++) {
        json_t *live = NULL, *body = NULL;
        r = gitsync_status_get(c, name, &live, err);
        if (r < 0)
            return r;
        if (!live) {
            body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion", "bosun.io/v1", "kind",
                             "GitRepository", "metadata", "name", name, "namespace",
                             GITSYNC_SYSTEM_NS, "spec", spec);
            if (!body)
                return err_errno(err, -ENOMEM, "gitrepository");
            if (!json_object_get(json_object_get(body, "spec"), "suspend"))
                json_object_set_new(json_object_get(body, "spec"), "suspend", json_false());
            r = write_once(c, "POST", coll, body, out, err);
            json_decref(body);
            if (r == 1)
                continue;
            return r;
        }
        json_t *sp = jsonx_ensure_obj(live, "spec");
        int changed = 0;
        const char *k;
        json_t *v;
        if (!sp) {
            json_object_set_new(live, "spec", json_object());
            sp = json_object_get(live, "spec");
        }
        json_object_foreach((json_t *)spec, k, v)
        {
            if (!json_equal(json_object_get(sp, k), v)) {
                json_object_set(sp, k, v);
                changed = 1;
            }
        }
        if (!json_object_get(sp, "suspend")) {
            json_object_set_new(sp, "suspend", json_false());
            changed = 1;
        }
        if (!changed) {
            if (out)
                *out = live;
            else
                json_decref(live);
            return 0;
        }
        r = write_once(c, "PUT", path, live, out, err);
        json_decref(live);
        if (r == 1)
            continue;
        return r;
    }
    return err_set(err, -EAGAIN, "PUT %s: still conflicting after %d attempts", path,
                   GITSYNC_CONFLICT_RETRIES);
}

json_t *gitsync_ready_condition(const char *status, const char *reason, const char *message)
{
    char now[32];
    time_rfc3339(time(NULL), now, sizeof(now));
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "Ready", "status", status, "reason",
                     reason, "message", message, "lastTransitionTime", now);
}

static json_t *find_condition(const json_t *conds, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

json_t *gitsync_status_merge(const json_t *old_status, const json_t *fields)
{
    json_t *st = json_is_object(old_status) ? json_deep_copy(old_status) : json_object();
    const char *k;
    json_t *v;
    if (!st)
        return NULL;
    json_object_foreach((json_t *)fields, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(st, k);
            continue;
        }
        if (strcmp(k, "conditions") == 0 && json_is_array(v)) {
            json_t *olds = json_object_get(st, "conditions");
            json_t *merged = json_array();
            size_t i;
            json_t *c;
            /* Conditions of other types (set by someone else) are kept. */
            json_array_foreach(olds, i, c)
            {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (!t || !find_condition(v, t))
                    json_array_append(merged, c);
            }
            json_array_foreach(v, i, c)
            {
                json_t *nc = json_deep_copy(c);
                const json_t *oc =
                    find_condition(olds, json_string_value(json_object_get(c, "type")));
                if (oc && json_equal(json_object_get(oc, "status"), json_object_get(c, "status")) &&
                    json_equal(json_object_get(oc, "reason"), json_object_get(c, "reason")) &&
                    json_object_get(oc, "lastTransitionTime"))
                    json_object_set(nc, "lastTransitionTime",
                                    json_object_get(oc, "lastTransitionTime"));
                json_array_append_new(merged, nc);
            }
            json_object_set_new(st, k, merged);
            continue;
        }
        json_object_set(st, k, v);
    }
    return st;
}

int gitsync_status_update(struct httpc *c, const char *name, const json_t *fields, int *wrote,
                          struct bosun_err *err)
{
    char path[600];
    int r = 0;
    if (wrote)
        *wrote = 0;
    gitsync_status_path(name, path, sizeof(path));
    strcat(path, "/status");
    for (int attempt = 0; attempt < GITSYNC_CONFLICT_RETRIES; attempt++) {
        json_t *live = NULL;
        r = gitsync_status_get(c, name, &live, err);
        if (r < 0)
            return r;
        if (!live)
            return err_set(err, -ENOENT, "GitRepository %s/%s does not exist", GITSYNC_SYSTEM_NS,
                           name);
        json_t *old = json_object_get(live, "status");
        json_t *st = gitsync_status_merge(old, fields);
        if (!st) {
            json_decref(live);
            return err_errno(err, -ENOMEM, "status");
        }
        json_t *gen = jsonx_get(live, "metadata.generation");
        if (json_is_integer(gen))
            json_object_set(st, "observedGeneration", gen);
        if (json_equal(st, old)) {
            json_decref(st);
            json_decref(live);
            return 0;
        }
        json_object_set_new(live, "status", st);
        r = write_once(c, "PUT", path, live, NULL, err);
        json_decref(live);
        if (r == 1)
            continue;
        if (r == 0 && wrote)
            *wrote = 1;
        return r;
    }
    return err_set(err, -EAGAIN, "PUT %s: still conflicting after %d attempts", path,
                   GITSYNC_CONFLICT_RETRIES);
}
