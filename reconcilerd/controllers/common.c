#include "reconcilerd/controllers/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

int ctrl_obj_key(const json_t *obj, char *buf, size_t len)
{
    const char *ns = jsonx_get_str(obj, "metadata.namespace");
    const char *name = jsonx_get_str(obj, "metadata.name");
    int n;
    if (!name)
        return -EINVAL;
    if (ns && *ns)
        n = snprintf(buf, len, "%s/%s", ns, name);
    else
        n = snprintf(buf, len, "%s", name);
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int ctrl_key_split(const char *key, char *ns, size_t nslen, char *name, size_t namelen)
{
    const char *slash = strchr(key, '/');
    if (!slash) {
        if (nslen)
            ns[0] = '\0';
        if ((size_t)snprintf(name, namelen, "%s", key) >= namelen)
            return -EINVAL;
        return 0;
    }
    size_t nl = (size_t)(slash - key);
    if (nl >= nslen)
        return -EINVAL;
    memcpy(ns, key, nl);
    ns[nl] = '\0';
    if ((size_t)snprintf(name, namelen, "%s", slash + 1) >= namelen)
        return -EINVAL;
    return 0;
}

const json_t *ctrl_controller_ref(const json_t *obj)
{
    json_t *refs = jsonx_get(obj, "metadata") ? json_object_get(jsonx_get(obj, "metadata"),
                                                                 "ownerReferences")
                                              : NULL;
    size_t i;
    json_t *r;
    if (!json_is_array(refs))
        return NULL;
    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")))
            return r;
    }
    return NULL;
}

bool ctrl_is_controlled_by(const json_t *obj, const char *kind, const char *uid)
{
    const json_t *ref = ctrl_controller_ref(obj);
    if (!ref || !uid)
        return false;
    const char *k = json_string_value(json_object_get(ref, "kind"));
    const char *u = json_string_value(json_object_get(ref, "uid"));
    return k && u && strcmp(k, kind) == 0 && strcmp(u, uid) == 0;
}

json_t *ctrl_owner_ref(const json_t *owner, const char *api_version, const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind,
                     "name", jsonx_get_str(owner, "metadata.name") ?: "", "uid",
                     jsonx_get_str(owner, "metadata.uid") ?: "", "controller", 1,
                     "blockOwnerDeletion", 1);
}

bool ctrl_is_deleting(const json_t *obj)
{
    return jsonx_get_str(obj, "metadata.deletionTimestamp") != NULL;
}

bool ctrl_pod_is_terminal(const json_t *pod)
{
    const char *phase = jsonx_get_str(pod, "status.phase");
    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

const json_t *ctrl_condition(const json_t *obj, const char *type)
{
    json_t *conds = jsonx_get(obj, "status") ? json_object_get(jsonx_get(obj, "status"),
                                                                "conditions")
                                              : NULL;
    size_t i;
    json_t *c;
    if (!json_is_array(conds))
        return NULL;
    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

bool ctrl_pod_is_ready(const json_t *pod)
{
    const json_t *c = ctrl_condition(pod, "Ready");
    const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;
    return s && strcmp(s, "True") == 0;
}

bool ctrl_pod_is_available(const json_t *pod, int64_t min_ready_s, time_t now)
{
    if (!ctrl_pod_is_ready(pod))
        return false;
    if (min_ready_s <= 0)
        return true;
    const json_t *c = ctrl_condition(pod, "Ready");
    const char *ltt = json_string_value(json_object_get(c, "lastTransitionTime"));
    time_t t;
    if (!ltt || time_parse_rfc3339(ltt, &t) != 0)
        return false;
    return (int64_t)(now - t) >= min_ready_s;
}

char *ctrl_now(char *buf, size_t len)
{
    return time_rfc3339(time(NULL), buf, len);
}

int ctrl_path(const char *kind, const char *ns, const char *name, char *buf, size_t len)
{
    const char *prefix, *plural;
    bool namespaced = true;
    if (strcmp(kind, "Deployment") == 0) {
        prefix = "/apis/apps/v1";
        plural = "deployments";
    } else if (strcmp(kind, "ReplicaSet") == 0) {
        prefix = "/apis/apps/v1";
        plural = "replicasets";
    } else if (strcmp(kind, "Pod") == 0) {
        prefix = "/api/v1";
        plural = "pods";
    } else if (strcmp(kind, "Endpoints") == 0) {
        prefix = "/api/v1";
        plural = "endpoints";
    } else if (strcmp(kind, "Service") == 0) {
        prefix = "/api/v1";
        plural = "services";
    } else if (strcmp(kind, "Event") == 0) {
        prefix = "/api/v1";
        plural = "events";
    } else if (strcmp(kind, "Node") == 0) {
        prefix = "/api/v1";
        plural = "nodes";
        namespaced = false;
    } else {
        return -EINVAL;
    }
    int n;
    if (namespaced)
        n = snprintf(buf, len, "%s/namespaces/%s/%s%s%s", prefix, ns ? ns : "", plural,
                     name ? "/" : "", name ? name : "");
    else
        n = snprintf(buf, len, "%s/%s%s%s", prefix, plural, name ? "/" : "", name ? name : "");
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static const char *status_reason(const json_t *body)
{
    const char *m = body ? json_string_value(json_object_get(body, "message")) : NULL;
    return m ? m : "";
}

int ctrl_get(struct httpc *c, const char *path, json_t **out, struct bosun_err *err)
{
    long status = 0;
    json_t *body = NULL;
    int r = httpc_json(c, "GET", path, NULL, NULL, &status, &body, err);
    if (r < 0)
        return err_wrap(err, "GET %s", path);
    if (status == 404) {
        json_decref(body);
        return err_set(err, -ENOENT, "GET %s: not found", path);
    }
    if (status != 200 || !body) {
        r = err_set(err, -EIO, "GET %s: HTTP %ld %s", path, status, status_reason(body));
        json_decref(body);
        return r;
    }
    *out = body;
    return 0;
}

static int send_obj(struct httpc *c, const char *method, const char *path, const json_t *obj,
                    json_t **out, struct bosun_err *err)
{
    long status = 0;
    json_t *body = NULL;
    int r = httpc_json(c, method, path, "application/json", obj, &status, &body, err);
    if (r < 0)
        return err_wrap(err, "%s %s", method, path);
    if (status >= 200 && status < 300) {
        if (out)
            *out = body;
        else
            json_decref(body);
        return 0;
    }
    if (status == 409)
        r = err_set(err, strcmp(method, "POST") == 0 ? -EEXIST : -EAGAIN, "%s %s: conflict: %s",
                    method, path, status_reason(body));
    else if (status == 404)
        r = err_set(err, -ENOENT, "%s %s: not found: %s", method, path, status_reason(body));
    else
        r = err_set(err, -EIO, "%s %s: HTTP %ld %s", method, path, status, status_reason(body));
    json_decref(body);
    return r;
}

int ctrl_put(struct httpc *c, const char *path, const json_t *obj, json_t **out,
             struct bosun_err *err)
{
    return send_obj(c, "PUT", path, obj, out, err);
}

int ctrl_post(struct httpc *c, const char *path, const json_t *obj, json_t **out,
              struct bosun_err *err)
{
    return send_obj(c, "POST", path, obj, out, err);
}

int ctrl_delete(struct httpc *c, const char *path, const char *uid, struct bosun_err *err)
{
    json_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "propagationPolicy", "Background");
    if (!opts)
        return err_set(err, -ENOMEM, "DELETE %s: out of memory", path);
    if (uid)
        json_object_set_new(opts, "preconditions", json_pack("{s:s}", "uid", uid));
    int r = send_obj(c, "DELETE", path, opts, NULL, err);
    json_decref(opts);
    if (r == -ENOENT) {
        err_clear(err);
        return 0;
    }
    return r;
}

int ctrl_update_status(struct httpc *c, const char *path, const json_t *obj,
                       const json_t *status, struct bosun_err *err)
{
    char spath[CTRL_PATH_MAX];
    if ((size_t)snprintf(spath, sizeof spath, "%s/status", path) >= sizeof spath)
        return err_set(err, -ENAMETOOLONG, "status: path too long");
    json_t *cur = json_deep_copy(obj);
    int r = -EAGAIN;
    for (int attempt = 0; attempt < 3 && cur; attempt++) {
        json_object_set(cur, "status", (json_t *)status);
        r = ctrl_put(c, spath, cur, NULL, err);
        if (r != -EAGAIN)
            break;
        json_decref(cur);
        cur = NULL;
        err_clear(err);
        r = ctrl_get(c, path, &cur, err);
        if (r < 0)
            break;
    }
    json_decref(cur);
    if (r == -ENOENT) {
        err_clear(err);
        return 0;
    }
    return r;
}
