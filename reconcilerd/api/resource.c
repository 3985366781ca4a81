#include "reconcilerd/api/resource.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/jscan.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/selector.h"
#include "lib/strbuf.h"
#include "lib/timeutil.h"
#include "reconcilerd/api/body.h"
#include "reconcilerd/api/fieldval.h"
#include "reconcilerd/api/finalize.h"
#include "reconcilerd/api/list.h"
#include "reconcilerd/api/logs.h"
#include "reconcilerd/api/managed.h"
#include "reconcilerd/api/patch.h"
#include "reconcilerd/api/status.h"
#include "reconcilerd/api/table.h"
#include "reconcilerd/api/watch.h"
#include "schema/validate.h"

#define MAX_RETRIES 16

/* ------------------------------------------------------------------ helpers */

static bool has_sub(const struct schema_kind *k, const char *sub)
{
    for (int i = 0; i < 4 && k->subresources[i]; i++)
        if (!strcmp(k->subresources[i], sub))
            return true;
    return false;
}

static bool is_kind(const struct schema_kind *k, const char *group, const char *resource)
{
    return !strcmp(k->group, group) && !strcmp(k->resource, resource);
}

static bool qbool(struct httpd_req *req, const char *key)
{
    const char *s = httpd_query(req, key);
    return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1"));
}

static bool dry_run(struct api_req *r)
{
    const char *s = httpd_query(r->req, "dryRun");
    return s && !strcmp(s, "All");
}

/* Random bytes for uids and generated names, from a per-thread buffer of getrandom's
 * (one system call per 16 creates instead of two per create). */
static void random_bytes(void *buf, size_t n)
{
    static _Thread_local unsigned char pool[256];
    static _Thread_local size_t left;
    unsigned char *b = buf;
    while (n) {
        if (!left) {
            if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
                for (size_t i = 0; i < sizeof(pool); i++)
                    pool[i] = (unsigned char)rand();
            left = sizeof(pool);
        }
        size_t k = n < left ? n : left;
        memcpy(b, pool + sizeof(pool) - left, k);
        explicit_bzero(pool + sizeof(pool) - left, k); /* never handed out twice */
        left -= k;
        b += k;
        n -= k;
    }
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}

static void now_rfc3339(char buf[32], int64_t plus_s)
{
    time_rfc3339(time(NULL) + plus_s, buf, 32);
}

static uint64_t rv_of(const json_t *obj)
{
    const char *s = jsonx_get_str(obj, "metadata.resourceVersion");
    return s ? strtoull(s, NULL, 10) : 0;
}

static json_t *meta(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    return m;
}

static void key_for(char *dst, const struct schema_kind *k, const char *ns, const char *name)
{
    snprintf(dst, API_KEY_MAX, "%s/%s/%s/%s", k->group, k->resource, k->namespaced ? ns : "",
             name);
}

/* A Status with the Kubernetes message for a missing object. */
static void respond_not_found(struct api_req *r, const char *name)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", r->qualified, name);
    json_t *st = api_status_new(404, "NotFound", msg);
    api_respond_status_obj(r->req, api_status_details(st, name, r->kind->group, r->kind->resource));
}

static void respond_conflict(struct api_req *r, const char *name, const char *why)
{
    char msg[800];
    snprintf(msg, sizeof(msg), "Operation cannot be fulfilled on %s \"%s\": %s", r->qualified,
             name, why);
    json_t *st = api_status_new(409, "Conflict", msg);
    api_respond_status_obj(r->req, api_status_details(st, name, r->kind->group, r->kind->resource));
}

static void respond_store_error(struct api_req *r, int rc, const struct bosun_err *err)
{
    /* kube-apiserver's wording, so kubectl prints what its users know. */
    api_respond_status(r->req, 500, "InternalError", "Internal error occurred: %s",
                       err && *err->msg ? err->msg : strerror(-rc));
}

static json_t *scale_of(struct api_req *r, const json_t *obj);

static void respond_object(struct api_req *r, int code, const json_t *obj)
{
    if (!strcmp(r->path.sub, "scale")) {
        json_t *s = scale_of(r, obj);
        httpd_respond_json(r->req, code, s);
        json_decref(s);
        return;
    }
    if (api_table_wanted(httpd_header(r->req, "Accept"))) {
        json_t *t = api_table_new(r->kind, jsonx_get_str(obj, "metadata.resourceVersion"), true);
        api_table_add_row(t, r->kind, obj,
                          api_table_include_parse(httpd_query(r->req, "includeObject")),
                          time(NULL));
        httpd_respond_json(r->req, code, t);
        json_decref(t);
        return;
    }
    httpd_respond_json(r->req, code, obj);
}


static bool issue_is_unknown_field(const struct schema_issue *is)
{
    return strstr(is->message, "unknown field") || strstr(is->message, "not a known field") ||
           strstr(is->message, "field not declared");
}

/* "Deployment.apps", "Pod" for messages. */
static void kind_qualified(const struct schema_kind *k, char *buf, size_t len)
{
    if (*k->group)
        snprintf(buf, len, "%s.%s", k->kind, k->group);
    else
        snprintf(buf, len, "%s", k->kind);
}

/* Defaults and validates obj. Returns 0, or a 422 Status in *status. Warnings (and, under
 * fieldValidation=Warn, unknown fields) become Warning headers. */
static int validate(struct api_req *r, json_t *obj, json_t **status)
{
    const char *fv = httpd_query(r->req, "fieldValidation");
    int mode = 2; /* Strict */
    if (fv && !strcmp(fv, "Ignore"))
        mode = 0;
    else if (fv && !strcmp(fv, "Warn"))
        mode = 1;
    schema_default(obj);
    struct schema_issues issues = {0};
    /* managedFields is the server's bookkeeping (FieldsV1 sets), not user input. */
    json_t *md = json_object_get(obj, "metadata");
    json_t *mf = json_incref(json_object_get(md, "managedFields"));
    if (mf)
        json_object_del(md, "managedFields");
    schema_validate(obj, NULL, &issues);
    if (mf)
        json_object_set_new(md, "managedFields", mf);
    json_t *causes = json_array();
    char summary[3000] = "";
    size_t nerr = 0;
    for (size_t i = 0; i < issues.n; i++) {
        const struct schema_issue *is = &issues.v[i];
        bool err = is->severity == SCHEMA_ERROR;
        bool unknown = err && issue_is_unknown_field(is) && mode < 2;
        if (unknown) {
            /* kube-apiserver never stores an unknown field (it decodes into typed objects) */
            api_fieldval_drop(obj, is->field);
            if (mode == 0)
                continue;
            err = false;
        }
        if (!err) {
            char text[1000], w[1200];
            if (unknown)
                api_fieldval_unknown_text(is->field, is->message, text, sizeof(text));
            else
                snprintf(text, sizeof(text), "%s: %s", is->field, is->message);
            api_fieldval_warning(text, w, sizeof(w));
            httpd_add_header(r->req, "Warning", w);
            continue;
        }
        const json_t *v = api_fieldval_at(obj, is->field);
        bool required = strstr(is->message, "required") || strstr(is->message, "Required");
        const char *reason = required               ? "FieldValueRequired"
                             : issue_is_unknown_field(is) ? "FieldValueNotSupported"
                                                    : "FieldValueInvalid";
        char msg[1200];
        char *vs = v && !required ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (vs && strlen(vs) > 200)
            strcpy(vs + 196, "...");
        if (required)
            snprintf(msg, sizeof(msg), "Required value: %s", is->message);
        else if (vs && !issue_is_unknown_field(is))
            snprintf(msg, sizeof(msg), "Invalid value: %s: %s", vs, is->message);
        else
            snprintf(msg, sizeof(msg), "%s", is->message);
        free(vs);
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message",
                                                msg, "field", is->field));
        size_t l = strlen(summary);
        snprintf(summary + l, sizeof(summary) - l, "%s%s: %s", nerr ? ", " : "", is->field, msg);
        nerr++;
    }
    schema_issues_free(&issues);
    if (!nerr) {
        json_decref(causes);
        return 0;
    }
    char kq[200], message[3600];
    kind_qualified(r->kind, kq, sizeof(kq));
    const char *name = jsonx_get_str(obj, "metadata.name");
    snprintf(message, sizeof(message), nerr > 1 ? "%s \"%s\" is invalid: [%s]" : "%s \"%s\" is invalid: %s", kq,
             name ? name : "", summary);
    json_t *st = api_status_new(422, "Invalid", message);
    api_status_details(st, name, r->kind->group, r->kind->kind);
    json_object_set_new(json_object_get(st, "details"), "causes", causes);
    *status = st;
    return -EINVAL;
}

/* A 422 with one cause. */
static json_t *invalid1(struct api_req *r, const char *name, const char *field, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static json_t *invalid1(struct api_req *r, const char *name, const char *field, const char *reason,
                        const char *fmt, ...)
{
    char m[800], message[1200], kq[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    kind_qualified(r->kind, kq, sizeof(kq));
    snprintf(message, sizeof(message), "%s \"%s\" is invalid: %s: %s", kq, name ? name : "",
             field, m);
    json_t *st = api_status_new(422, "Invalid", message);
    api_status_details(st, name, r->kind->group, r->kind->kind);
    json_object_set_new(json_object_get(st, "details"), "causes",
                        json_pack("[{s:s,s:s,s:s}]", "reason", reason, "message", m, "field",
                                  field));
    return st;
}

/* Checks apiVersion/kind of a body against the URL's kind (filling them when absent). */
static json_t *check_type(struct api_req *r, json_t *obj)
{
    char av[128];
    schema_kind_api_version(r->kind, av, sizeof(av));
    if (!json_is_object(obj))
        return api_status_new(400, "BadRequest", "the request body must be a JSON object");
    const char *oav = json_string_value(json_object_get(obj, "apiVersion"));
    const char *ok = json_string_value(json_object_get(obj, "kind"));
    if ((json_object_get(obj, "apiVersion") && !oav) || (json_object_get(obj, "kind") && !ok))
        return api_status_new(400, "BadRequest", "apiVersion and kind must be strings");
    if ((oav && *oav && strcmp(oav, av)) || (ok && *ok && strcmp(ok, r->kind->kind))) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "the API version in the data (%s) and kind (%s) do not match the request "
                 "URL's %s %s",
                 oav ? oav : "", ok ? ok : "", av, r->kind->kind);
        return api_status_new(400, "BadRequest", msg);
    }
    json_object_set_new(obj, "apiVersion", json_string(av));
    json_object_set_new(obj, "kind", json_string(r->kind->kind));
    return NULL;
}

/* Namespace and name in the body against the URL. */
static json_t *check_ns_name(struct api_req *r, json_t *obj, const char *url_name)
{
    json_t *m = meta(obj);
    const char *ns = json_string_value(json_object_get(m, "namespace"));
    if (r->kind->namespaced) {
        if (ns && *ns && strcmp(ns, r->path.ns))
            return api_status_new(400, "BadRequest",
                                  "the namespace of the provided object does not match the "
                                  "namespace sent on the request");
        json_object_set_new(m, "namespace", json_string(r->path.ns));
    } else {
        json_object_del(m, "namespace");
    }
    const char *name = json_string_value(json_object_get(m, "name"));
    if (url_name && *url_name) {
        if (name && *name && strcmp(name, url_name))
            return api_status_new(400, "BadRequest",
                                  "the name of the object does not match the name on the URL");
        json_object_set_new(m, "name", json_string(url_name));
    }
    return NULL;
}

/* Records an Update of obj (live NULL on create) in managedFields, unless this is an
 * apply (which records its own entry). */
static void record_update(struct api_req *r, json_t *obj, const json_t *live)
{
    if (r->applying)
        return;
    char mgr[256], av[128];
    api_managed_manager(httpd_query(r->req, "fieldManager"), httpd_header(r->req, "User-Agent"),
                        mgr, sizeof(mgr));
    api_managed_record_update(obj, live, mgr, schema_kind_api_version(r->kind, av, sizeof(av)));
}

/* ------------------------------------------------------------ services */

struct svc_claims {
    char uid[64];       /* the Service's, and so the claims' owner */
    char service[320];  /* "<ns>/<name>" */
    struct api_alloc_owner owner; /* points at the two above */
    char ip[64];        /* claimed now; undone on failure */
    int ports[64];
    int nports;
    char old_ip[64];    /* to release once the write succeeded */
    int old_ports[64];
    int nold;
};

static void svc_undo(struct api *api, struct svc_claims *c)
{
    if (*c->ip)
        api_alloc_ip_release(api->alloc, c->ip, &c->owner);
    for (int i = 0; i < c->nports; i++)
        api_alloc_port_release(api->alloc, c->ports[i], &c->owner);
}

static void svc_commit(struct api *api, struct svc_claims *c)
{
    if (*c->old_ip)
        api_alloc_ip_release(api->alloc, c->old_ip, &c->owner);
    for (int i = 0; i < c->nold; i++)
        api_alloc_port_release(api->alloc, c->old_ports[i], &c->owner);
}

/* The claims' owner: svc's uid, and "<ns>/<name>" into buf for people. */
static struct api_alloc_owner svc_owner(const json_t *svc, char *buf, size_t len)
{
    const char *ns = jsonx_get_str(svc, "metadata.namespace");
    const char *name = jsonx_get_str(svc, "metadata.name");
    snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
    const char *uid = jsonx_get_str(svc, "metadata.uid");
    return (struct api_alloc_owner){.uid = uid ? uid : "", .service = buf};
}

static void svc_release_all(struct api *api, const json_t *svc)
{
    char buf[320];
    struct api_alloc_owner owner = svc_owner(svc, buf, sizeof(buf));
    const char *ip = jsonx_get_str(svc, "spec.clusterIP");
    if (ip && strcmp(ip, "None"))
        api_alloc_ip_release(api->alloc, ip, &owner);
    size_t i;
    json_t *p;
    json_array_foreach(jsonx_get(svc, "spec.ports"), i, p) {
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        if (np)
            api_alloc_port_release(api->alloc, (int)np, &owner);
    }
}

/* The store failed under an allocation (shared mode): a 500. */
static json_t *svc_alloc_failed(const char *what, const struct bosun_err *err)
{
    char msg[1200];
    snprintf(msg, sizeof(msg), "failed to allocate a %s: %s", what, err->msg);
    return api_status_new(500, "InternalError", msg);
}

/* Allocates or preserves spec.clusterIP and nodePorts of svc (live: the stored version, or
 * NULL on create). Returns 0 or a 422 Status (a 500 when a shared store failed). */
static json_t *svc_prepare(struct api_req *r, const json_t *live, json_t *svc, struct svc_claims *c)
{
    struct api *api = r->api;
    const char *name = jsonx_get_str(svc, "metadata.name");
    json_t *spec = jsonx_ensure_obj(svc, "spec");
    struct bosun_err err = {0};
    memset(c, 0, sizeof(*c));
    const char *uid = jsonx_get_str(svc, "metadata.uid");
    snprintf(c->uid, sizeof(c->uid), "%s", uid ? uid : "");
    snprintf(c->service, sizeof(c->service), "%s/%s", r->path.ns, name ? name : "");
    c->owner = (struct api_alloc_owner){.uid = c->uid, .service = c->service};
    if (!spec)
        return NULL; /* validation reports it */
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!type)
        type = "ClusterIP";
    bool want_ip = strcmp(type, "ExternalName") != 0;
    bool want_np = !strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer");
    const char *live_ip = live ? jsonx_get_str(live, "spec.clusterIP") : NULL;
    if (live_ip && !*live_ip)
        live_ip = NULL;
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    if (ip && !*ip)
        ip = NULL;

    if (!want_ip) {
        if (live_ip && strcmp(live_ip, "None"))
            snprintf(c->old_ip, sizeof(c->old_ip), "%s", live_ip);
        json_object_del(spec, "clusterIP");
        json_object_del(spec, "clusterIPs");
    } else if (live_ip && (!ip || !strcmp(ip, live_ip))) {
        json_object_set_new(spec, "clusterIP", json_string(live_ip));
    } else if (live_ip && ip && strcmp(ip, live_ip)) {
        return invalid1(r, name, "spec.clusterIP", "FieldValueInvalid",
                        "Invalid value: \"%s\": may not change once set", ip);
    } else if (ip && !strcmp(ip, "None")) {
        /* headless */
    } else if (ip) {
        int rc = api_alloc_ip_claim(api->alloc, ip, &c->owner, &err);
        if (rc == -EEXIST)
            return invalid1(r, name, "spec.clusterIP", "FieldValueInvalid",
                            "Invalid value: \"%s\": failed to allocate IP %s: provided "
                            "IP is already allocated", ip, ip);
        if (rc && rc != -ERANGE && rc != -EINVAL)
            return svc_alloc_failed("serviceIP", &err);
        if (rc)
            return invalid1(r, name, "spec.clusterIP", "FieldValueInvalid",
                            "Invalid value: \"%s\": failed to allocate IP %s: provided "
                            "IP is not in the valid range. The range of valid IPs is %s", ip, ip,
                            api_alloc_cidr(api->alloc));
        snprintf(c->ip, sizeof(c->ip), "%s", ip);
    } else {
        char buf[64];
        int rc = api_alloc_ip_next(api->alloc, &c->owner, buf, sizeof(buf), &err);
        if (rc == -ENOSPC)
            return invalid1(r, name, "spec.clusterIP", "FieldValueInvalid",
                            "failed to allocate a serviceIP: range is full");
        if (rc)
            return svc_alloc_failed("serviceIP", &err);
        snprintf(c->ip, sizeof(c->ip), "%s", buf);
        json_object_set_new(spec, "clusterIP", json_string(buf));
    }
    /* spec.clusterIPs (dual stack) is not set: bosun is single-stack IPv4 and the schema
     * warns about the field; a client's clusterIPs is kept as sent. */

    /* nodePorts */
    json_t *ports = json_object_get(spec, "ports");
    json_t *live_ports = live ? jsonx_get(live, "spec.ports") : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p) {
        if (!json_is_object(p))
            continue;
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        if (!want_np) {
            json_object_del(p, "nodePort");
            continue;
        }
        json_int_t port = json_integer_value(json_object_get(p, "port"));
        bool live_has = false;
        size_t j;
        json_t *lp;
        json_array_foreach(live_ports, j, lp) {
            json_int_t lnp = json_integer_value(json_object_get(lp, "nodePort"));
            if (!lnp)
                continue;
            if (np ? lnp == np : json_integer_value(json_object_get(lp, "port")) == port) {
                np = lnp;
                live_has = true;
                break;
            }
        }
        if (live_has) {
            json_object_set_new(p, "nodePort", json_integer(np));
            continue;
        }
        if (c->nports == 64)
            break;
        char field[64];
        snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
        if (np) {
            int rc = api_alloc_port_claim(api->alloc, (int)np, &c->owner, &err);
            if (rc && rc != -EEXIST && rc != -ERANGE) {
                svc_undo(api, c);
                return svc_alloc_failed("nodePort", &err);
            }
            if (rc) {
                svc_undo(api, c);
                return invalid1(r, name, field, "FieldValueInvalid",
                                "Invalid value: %lld: %s", (long long)np,
                                rc == -EEXIST ? "provided port is already allocated"
                                              : "provided port is not in the valid range");
            }
            c->ports[c->nports++] = (int)np;
        } else {
            int got, rc = api_alloc_port_next(api->alloc, &c->owner, &got, &err);
            if (rc) {
                svc_undo(api, c);
                if (rc != -ENOSPC)
                    return svc_alloc_failed("nodePort", &err);
                return invalid1(r, name, field, "FieldValueInvalid",
                                "failed to allocate a nodePort: range is full");
            }
            c->ports[c->nports++] = got;
            json_object_set_new(p, "nodePort", json_integer(got));
        }
    }
    /* live nodePorts no longer used are released after the write */
    json_array_foreach(live_ports, i, p) {
        json_int_t lnp = json_integer_value(json_object_get(p, "nodePort"));
        if (!lnp || c->nold == 64)
            continue;
        bool kept = false;
        size_t j;
        json_t *q;
        json_array_foreach(ports, j, q)
            if (json_integer_value(json_object_get(q, "nodePort")) == lnp)
                kept = true;
        if (!kept)
            c->old_ports[c->nold++] = (int)lnp;
    }
    return NULL;
}

/* ------------------------------------------------------------ selectors */

static bool field_allowed(const struct schema_kind *k, const char *f)
{
    if (!strcmp(f, "metadata.name") || !strcmp(f, "metadata.namespace"))
        return true;
    if (is_kind(k, "", "pods"))
        return !strcmp(f, "spec.nodeName") || !strcmp(f, "status.phase") ||
               !strcmp(f, "spec.schedulerName") || !strcmp(f, "spec.restartPolicy") ||
               !strcmp(f, "status.podIP") || !strcmp(f, "spec.serviceAccountName");
    if (is_kind(k, "", "events"))
        return !strncmp(f, "involvedObject.", 15) || !strcmp(f, "reason") ||
               !strcmp(f, "type") || !strcmp(f, "source") || !strcmp(f, "reportingComponent");
    if (is_kind(k, "", "nodes"))
        return !strcmp(f, "spec.unschedulable");
    if (is_kind(k, "", "namespaces"))
        return !strcmp(f, "status.phase");
    if (is_kind(k, "", "secrets"))
        return !strcmp(f, "type");
    return false;
}

/* Parses labelSelector/fieldSelector; on error answers 400 and returns -EINVAL. */
static int parse_selectors(struct api_req *r, struct label_selector **ls,
                           struct field_selector **fs)
{
    struct bosun_err err = {0};
    const char *l = httpd_query(r->req, "labelSelector");
    const char *f = httpd_query(r->req, "fieldSelector");
    *ls = NULL;
    *fs = NULL;
    if (l && *l && label_selector_parse(l, ls, &err)) {
        api_respond_status(r->req, 400, "BadRequest", "unable to parse requirement: %s", err.msg);
        return -EINVAL;
    }
    if (f && *f) {
        if (field_selector_parse(f, fs, &err)) {
            label_selector_free(*ls);
            api_respond_status(r->req, 400, "BadRequest", "invalid field selector: %s", err.msg);
            return -EINVAL;
        }
        for (size_t i = 0; i < field_selector_count(*fs); i++) {
            const char *name = field_selector_field(*fs, i);
            if (!field_allowed(r->kind, name)) {
                char kq[200];
                kind_qualified(r->kind, kq, sizeof(kq));
                /* name is borrowed from *fs: answer before freeing it */
                api_respond_status(r->req, 400, "BadRequest",
                                   "field label not supported: %s (for %s)", name, kq);
                label_selector_free(*ls);
                field_selector_free(*fs);
                *ls = NULL;
                *fs = NULL;
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ get / list */


static void do_list(struct api_req *r)
{
    struct label_selector *ls;
    struct field_selector *fs;
    if (parse_selectors(r, &ls, &fs))
        return;
    bool table = api_table_wanted(httpd_header(r->req, "Accept"));
    enum api_table_include inc = api_table_include_parse(httpd_query(r->req, "includeObject"));
    if (qbool(r->req, "watch"))
        api_watch_serve(r, ls, fs, table, inc);
    else
        api_list_serve(r, ls, fs, table, inc);
}

static json_t *scale_of(struct api_req *r, const json_t *obj)
{
    json_t *sel = jsonx_get(obj, "spec.selector.matchLabels");
    char selbuf[1024] = "";
    const char *k;
    json_t *v;
    json_object_foreach(sel, k, v) {
        size_t l = strlen(selbuf);
        snprintf(selbuf + l, sizeof(selbuf) - l, "%s%s=%s", l ? "," : "", k,
                 json_string_value(v) ? json_string_value(v) : "");
    }
    json_t *m = json_object();
    const char *keys[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"};
    for (size_t i = 0; i < 5; i++) {
        json_t *x = jsonx_get(obj, "metadata");
        json_t *val = json_object_get(x, keys[i]);
        if (val)
            json_object_set(m, keys[i], val);
    }
    (void)r;
    return json_pack("{s:s,s:s,s:o,s:{s:I},s:{s:I,s:s}}", "kind", "Scale", "apiVersion",
                     "autoscaling/v1", "metadata", m, "spec", "replicas",
                     (json_int_t)jsonx_get_int(obj, "spec.replicas", 1), "status", "replicas",
                     (json_int_t)jsonx_get_int(obj, "status.replicas", 0), "selector", selbuf);
}

static void do_get(struct api_req *r)
{
    json_t *obj = NULL;
    struct bosun_err err = {0};
    int rc = store_get(r->api->store, r->key, &obj, NULL, &err);
    if (rc == -ENOENT) {
        respond_not_found(r, r->path.name);
        return;
    }
    if (rc) {
        respond_store_error(r, rc, &err);
        return;
    }
    respond_object(r, 200, obj);
    json_decref(obj);
}

/* ------------------------------------------------------------ create */

static void random_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5];
    random_bytes(b, sizeof(b));
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
    out[5] = '\0';
}

/* 0 = namespace ns is missing, 1 = active, 2 = terminating. */
static int namespace_state(struct api *api, const char *ns)
{
    char key[API_KEY_MAX];
    snprintf(key, sizeof(key), "/namespaces//%s", ns);
    /* every namespaced create asks: read the stored bytes, parse nothing */
    char *js = NULL;
    size_t len = 0;
    if (store_get_raw(api->store, key, &js, &len, NULL, NULL))
        return 0;
    struct jscan_want w[2] = {{.path = "metadata.deletionTimestamp"}, {.path = "status.phase"}};
    int state = 1;
    if (jscan_find(js, len, NULL, w, 2) == 0 &&
        (w[0].found || (w[1].found && jscan_str_eq(&w[1].val, "Terminating", 11))))
        state = 2;
    free(js);
    return state;
}

/* Server-set fields of a new object; the kind-specific parts too. */
static void set_create_meta(struct api_req *r, json_t *obj)
{
    json_t *m = meta(obj);
    char uid[37], ts[32];
    uuid4(uid);
    now_rfc3339(ts, 0);
    json_object_set_new(m, "uid", json_string(uid));
    json_object_set_new(m, "creationTimestamp", json_string(ts));
    json_object_set_new(m, "generation", json_integer(1));
    json_object_del(m, "resourceVersion");
    json_object_del(m, "deletionTimestamp");
    json_object_del(m, "deletionGracePeriodSeconds");
    if (is_kind(r->kind, "", "namespaces")) {
        json_t *st = jsonx_ensure_obj(obj, "status");
        if (st)
            json_object_set_new(st, "phase", json_string("Active"));
    } else if (is_kind(r->kind, "", "pods")) {
        json_t *st = jsonx_ensure_obj(obj, "status");
        if (st && !json_object_get(st, "phase"))
            json_object_set_new(st, "phase", json_string("Pending"));
    }
}

/* ---- writes answered once durable ----
 * A create or update whose store write is accepted does not hold its worker thread while
 * the store makes it durable (a group commit waits for its fdatasync): the handler leaves
 * the answer to a continuation (httpd_later) and the worker serves other connections. So
 * a few worker threads keep many writes in one group commit, without a thread switch per
 * write. */
struct later_write {
    struct api *api;
    const struct schema_kind *kind;
    int code;
    bool finalize; /* an update of a deleted object without finalizers: delete it next */
    int rc;
    char *json; /* the stored object's bytes (owned), once written */
    size_t len;
    char *cause; /* what failed (owned), when rc != 0 */
    char qualified[160];
    char name[API_SEG_MAX];
    char sub[API_SEG_MAX]; /* the subresource: "scale" changes the answer's form */
    struct httpd_req *req;
    /* Kept small (under 1 KiB with the store key allocated apart): larger blocks make
     * glibc consolidate its fast bins on every allocation. */
    char *key;
};

/* The store's completion, on its commit thread: keep the outcome, wake the request. */
static void later_write_done(int rc, const char *json, size_t len, const struct bosun_err *err,
                             void *ud)
{
    struct later_write *lw = ud;
    lw->rc = rc;
    if (rc == 0) {
        lw->json = malloc(len + 1);
        if (lw->json) {
            memcpy(lw->json, json, len);
            lw->json[len] = '\0';
            lw->len = len;
        } else {
            lw->rc = -ENOMEM;
        }
    } else {
        lw->cause = strdup(err && *err->msg ? err->msg : strerror(-rc));
    }
    httpd_later_ready(lw->req);
}

static void maybe_finalize(struct api_req *r, const char *key, const json_t *obj);

/* The continuation, on a worker thread: the answer a synchronous write would have made. A
 * plain JSON answer is the stored bytes as they are; a Table or a Scale parses them. */
static void later_write_answer(struct httpd_req *req, void *ud)
{
    struct later_write *lw = ud;
    struct api_req r = {.api = lw->api, .req = req, .kind = lw->kind};
    strbuf_copy(r.qualified, sizeof(r.qualified), lw->qualified);
    strbuf_copy(r.path.name, sizeof(r.path.name), lw->name);
    strbuf_copy(r.path.sub, sizeof(r.path.sub), lw->sub);
    if (lw->rc) { /* the sync failed: refusals (404, 409) were answered by the handler */
        struct bosun_err err = {0};
        err_set(&err, lw->rc, "%s", lw->cause ? lw->cause : strerror(-lw->rc));
        respond_store_error(&r, lw->rc, &err);
    } else if (!lw->finalize && strcmp(lw->sub, "scale") &&
               !api_table_wanted(httpd_header(req, "Accept"))) {
        httpd_respond_take(req, lw->code, "application/json", lw->json, lw->len);
        lw->json = NULL;
    } else {
        json_t *obj = jsonx_loadb(lw->json, lw->len, NULL);
        if (!obj) {
            api_respond_status(req, 500, "InternalError", "Internal error occurred: %s",
                               "the stored object could not be read back");
        } else {
            if (lw->finalize)
                maybe_finalize(&r, lw->key, obj);
            respond_object(&r, lw->code, obj);
        }
        json_decref(obj);
    }
    free(lw->json);
    free(lw->cause);
    free(lw->key);
    free(lw);
}

static struct later_write *later_write_new(struct api_req *r, int code, const char *name)
{
    struct later_write *lw = calloc(1, sizeof(*lw));
    if (!lw)
        return NULL;
    lw->api = r->api;
    lw->kind = r->kind;
    lw->code = code;
    lw->req = r->req;
    strbuf_copy(lw->qualified, sizeof(lw->qualified), r->qualified);
    strbuf_copy(lw->name, sizeof(lw->name), name);
    strbuf_copy(lw->sub, sizeof(lw->sub), r->path.sub);
    return lw;
}

/* Hands an accepted write's answer to the continuation; refused writes are answered by
 * the caller as before. Returns the store's code (0 = accepted, answered later). */
static int create_later(struct api_req *r, const char *key, const json_t *obj, int code,
                        const char *name, struct bosun_err *err)
{
    struct later_write *lw = later_write_new(r, code, name);
    if (!lw)
        return err_set(err, -ENOMEM, "out of memory");
    int rc = store_create_async(r->api->store, key, obj, later_write_done, lw, err);
    if (rc) {
        free(lw);
        return rc;
    }
    httpd_later(r->req, later_write_answer, lw);
    return 0;
}

/* obj (borrowed) loses its resourceVersion: the write is conditional on expected_rev
 * anyway, and without it the store serialises obj without copying it first. */
static int update_later(struct api_req *r, json_t *obj, uint64_t expected_rev, int code,
                        struct bosun_err *err)
{
    struct later_write *lw = later_write_new(r, code, r->path.name);
    if (!lw)
        return err_set(err, -ENOMEM, "out of memory");
    if (jsonx_get(obj, "metadata.deletionTimestamp") &&
        !json_array_size(jsonx_get(obj, "metadata.finalizers")) && !is_kind(r->kind, "", "pods")) {
        lw->finalize = true;
        lw->key = strdup(r->key);
        if (!lw->key) {
            free(lw);
            return err_set(err, -ENOMEM, "out of memory");
        }
    }
    json_object_del(meta(obj), "resourceVersion");
    int rc = store_update_async(r->api->store, r->key, obj, expected_rev, later_write_done, lw,
                                err);
    if (rc) {
        free(lw->key);
        free(lw);
        return rc;
    }
    httpd_later(r->req, later_write_answer, lw);
    return 0;
}

/* Creates obj (owned). Answers the request. code: 201 normally. */
static void create_object(struct api_req *r, json_t *obj, int code)
{
    json_t *st = NULL, *out = NULL;
    struct svc_claims claims;
    bool svc = is_kind(r->kind, "", "services"), locked = false;
    memset(&claims, 0, sizeof(claims));
    if ((st = check_type(r, obj)) || (st = check_ns_name(r, obj, r->path.name)))
        goto fail;
    json_t *m = meta(obj);
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *gen0 = json_string_value(json_object_get(m, "generateName"));
    char gen[256];
    strbuf_copy(gen, sizeof(gen), gen0 ? gen0 : "");
    bool generated = false;
    char namebuf[300];
    if ((!name || !*name) && *gen) {
        generated = true;
        char sfx[6];
        random_suffix(sfx);
        snprintf(namebuf, sizeof(namebuf), "%.247s%s", gen, sfx);
        json_object_set_new(m, "name", json_string(namebuf));
        name = json_string_value(json_object_get(m, "name"));
    }
    if (!name || !*name) {
        st = invalid1(r, "", "metadata.name", "FieldValueRequired",
                      "Required value: name or generateName is required");
        goto fail;
    }
    if (!api_path_segment_ok(name)) {
        st = invalid1(r, name, "metadata.name", "FieldValueInvalid",
                      "Invalid value: \"%s\": may not contain '/' or be '.' or '..'", name);
        goto fail;
    }
    int nstate = r->kind->namespaced ? namespace_state(r->api, r->path.ns) : 1;
    if (nstate == 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", r->path.ns);
        st = api_status_details(api_status_new(404, "NotFound", msg), r->path.ns, NULL,
                                "namespaces");
        goto fail;
    }
    if (nstate == 2) {
        /* kube-apiserver's NamespaceLifecycle admission: 403 with this message and cause */
        char msg[1200], why[600];
        snprintf(why, sizeof(why),
                 "unable to create new content in namespace %s because it is being terminated",
                 r->path.ns);
        snprintf(msg, sizeof(msg), "%s \"%s\" is forbidden: %s", r->qualified, name, why);
        st = api_status_details(api_status_new(403, "Forbidden", msg), name, r->kind->group,
                                r->kind->resource);
        json_object_set_new(json_object_get(st, "details"), "causes",
                            json_pack("[{s:s,s:s,s:s}]", "reason", "NamespaceTerminating",
                                      "message", why, "field", "metadata.namespace"));
        goto fail;
    }
    set_create_meta(r, obj);
    if (is_kind(r->kind, "", "namespaces") && r->kind->namespaced == false) {
        /* nothing more */
    }
    schema_default(obj);
    if (svc) {
        pthread_mutex_lock(&r->api->svc_mu);
        locked = true;
        if ((st = svc_prepare(r, NULL, obj, &claims)))
            goto fail;
    }
    if (validate(r, obj, &st)) {
        svc_undo(r->api, &claims);
        goto fail;
    }
    record_update(r, obj, NULL);
    char key[API_KEY_MAX];
    key_for(key, r->kind, r->path.ns, name);
    if (dry_run(r)) {
        svc_undo(r->api, &claims);
        respond_object(r, code, obj);
        goto out;
    }
    struct bosun_err err = {0};
    /* A Service's allocations are committed under svc_mu once its write is durable, so
     * its create stays synchronous; everything else is answered when durable. */
    int rc = svc ? store_create(r->api->store, key, obj, &out, &err)
                 : create_later(r, key, obj, code, name, &err);
    for (int again = 0; rc == -EEXIST && generated && again < 8; again++) {
        /* a generated name that is taken: draw another suffix, as Kubernetes does */
        char sfx[6];
        random_suffix(sfx);
        snprintf(namebuf, sizeof(namebuf), "%.247s%s", gen, sfx);
        json_object_set_new(meta(obj), "name", json_string(namebuf));
        name = json_string_value(json_object_get(meta(obj), "name"));
        key_for(key, r->kind, r->path.ns, name);
        rc = svc ? store_create(r->api->store, key, obj, &out, &err)
                 : create_later(r, key, obj, code, name, &err);
    }
    if (rc == 0 && !svc)
        goto out; /* answered by later_write_answer */
    if (rc) {
        svc_undo(r->api, &claims);
        if (rc == -EEXIST) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%s \"%s\" already exists", r->qualified, name);
            st = api_status_details(api_status_new(409, "AlreadyExists", msg), name,
                                    r->kind->group, r->kind->resource);
            goto fail;
        }
        respond_store_error(r, rc, &err);
        goto out;
    }
    respond_object(r, code, out);
    goto out;
fail:
    api_respond_status_obj(r->req, st);
out:
    if (locked)
        pthread_mutex_unlock(&r->api->svc_mu);
    json_decref(obj);
    json_decref(out);
}

/* ------------------------------------------------------------ updates */

enum { COMMIT_DONE = 0, COMMIT_RETRY = 1 };

/* Finishes a delete whose last finalizer went away (not pods: their node deletes them). */
static void maybe_finalize(struct api_req *r, const char *key, const json_t *obj)
{
    if (!jsonx_get(obj, "metadata.deletionTimestamp") ||
        json_array_size(jsonx_get(obj, "metadata.finalizers")) || is_kind(r->kind, "", "pods"))
        return;
    json_t *last = NULL;
    if (!store_delete(r->api->store, key, rv_of(obj), &last, NULL) &&
        is_kind(r->kind, "", "services"))
        svc_release_all(r->api, last);
    json_decref(last);
}

/* Turns want (owned) into the stored object: the server's fields from live, status or
 * spec kept depending on the subresource, generation, allocations, defaults and
 * validation; then a CAS write on live's revision. Answers unless it returns
 * COMMIT_RETRY (the object changed underneath and the client did not pin a version). */
static int commit_update(struct api_req *r, const json_t *live, json_t *want, const char *sub,
                         bool pinned, int code)
{
    json_t *st = NULL, *out = NULL, *final = NULL;
    struct svc_claims claims;
    memset(&claims, 0, sizeof(claims));
    bool locked = false;
    int ret = COMMIT_DONE;
    const char *name = r->path.name;
    if ((st = check_type(r, want)) || (st = check_ns_name(r, want, name)))
        goto fail;
    uint64_t live_rev = rv_of(live);
    const char *wrv = jsonx_get_str(want, "metadata.resourceVersion");
    if (wrv && *wrv && strtoull(wrv, NULL, 10) != live_rev) {
        respond_conflict(r, name, "the object has been modified; please apply your changes to "
                                  "the latest version and try again");
        goto out;
    }
    const char *wuid = jsonx_get_str(want, "metadata.uid");
    const char *luid = jsonx_get_str(live, "metadata.uid");
    if (wuid && *wuid && luid && strcmp(wuid, luid)) {
        respond_conflict(r, name, "Precondition failed: UID in precondition does not match "
                                  "the UID of the object");
        goto out;
    }
    if (!strcmp(sub, "status")) {
        final = json_deep_copy(live);
        json_t *ws = json_object_get(want, "status");
        if (ws)
            json_object_set(final, "status", ws);
        else
            json_object_del(final, "status");
    } else {
        final = json_incref(want);
        json_t *fm = meta(final);
        json_t *lm = json_object_get(live, "metadata");
        static const char *keep[] = {"uid", "creationTimestamp", "deletionTimestamp",
                                     "deletionGracePeriodSeconds", "generation"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
            json_t *v = json_object_get(lm, keep[i]);
            if (v)
                json_object_set(fm, keep[i], v);
            else
                json_object_del(fm, keep[i]);
        }
        if (!json_object_get(fm, "managedFields") && json_object_get(lm, "managedFields"))
            json_object_set(fm, "managedFields", json_object_get(lm, "managedFields"));
        if (has_sub(r->kind, "status")) {
            json_t *ls = json_object_get(live, "status");
            if (ls)
                json_object_set(final, "status", ls);
            else
                json_object_del(final, "status");
        }
        json_t *lspec = json_object_get(live, "spec"), *fspec = json_object_get(final, "spec");
        if ((lspec || fspec) && !(lspec && fspec && json_equal(lspec, fspec)))
            json_object_set_new(fm, "generation",
                                json_integer(jsonx_get_int(live, "metadata.generation", 1) + 1));
        if (!json_object_get(fm, "generation"))
            json_object_set_new(fm, "generation", json_integer(1));
    }
    json_object_set_new(meta(final), "resourceVersion",
                        json_string(jsonx_get_str(live, "metadata.resourceVersion")
                                        ? jsonx_get_str(live, "metadata.resourceVersion")
                                        : ""));
    schema_default(final);
    if (is_kind(r->kind, "", "services") && strcmp(sub, "status")) {
        pthread_mutex_lock(&r->api->svc_mu);
        locked = true;
        if ((st = svc_prepare(r, live, final, &claims)))
            goto fail;
    }
    if (validate(r, final, &st)) {
        svc_undo(r->api, &claims);
        goto fail;
    }
    /* after validation, which drops the unknown fields fieldValidation=Warn|Ignore lets
     * through: managedFields must not claim a field that is not stored */
    if (strcmp(sub, "status"))
        record_update(r, final, live);
    if (json_equal((json_t *)live, final)) {
        /* A no-op write keeps the resourceVersion and makes no event, as Kubernetes does. */
        svc_undo(r->api, &claims);
        respond_object(r, 200, live);
        goto out;
    }
    if (dry_run(r)) {
        svc_undo(r->api, &claims);
        respond_object(r, code, final);
        goto out;
    }
    struct bosun_err err = {0};
    /* As for creates: a Service's update stays synchronous (see create_object). */
    int rc = locked ? store_update(r->api->store, r->key, final, live_rev, &out, &err)
                    : update_later(r, final, live_rev, code, &err);
    if (rc == 0 && !locked)
        goto out; /* answered by later_write_answer */
    if (rc == -ESTALE) {
        svc_undo(r->api, &claims);
        if (!pinned) {
            ret = COMMIT_RETRY;
            goto out;
        }
        respond_conflict(r, name, "the object has been modified; please apply your changes to "
                                  "the latest version and try again");
        goto out;
    }
    if (rc == -ENOENT) {
        svc_undo(r->api, &claims);
        respond_not_found(r, name);
        goto out;
    }
    if (rc) {
        svc_undo(r->api, &claims);
        respond_store_error(r, rc, &err);
        goto out;
    }
    svc_commit(r->api, &claims);
    maybe_finalize(r, r->key, out);
    respond_object(r, code, out);
    goto out;
fail:
    api_respond_status_obj(r->req, st);
out:
    if (locked)
        pthread_mutex_unlock(&r->api->svc_mu);
    json_decref(want);
    json_decref(final);
    json_decref(out);
    return ret;
}

/* Computes the desired object from live. NULL with *status set on failure. */
typedef json_t *(*compute_fn)(struct api_req *r, const json_t *live, const void *input,
                              json_t **status);

static json_t *compute_put(struct api_req *r, const json_t *live, const void *input,
                           json_t **status)
{
    (void)r;
    (void)live;
    (void)status;
    return json_deep_copy(input);
}

static json_t *compute_scale(struct api_req *r, const json_t *live, const void *input,
                             json_t **status)
{
    const json_t *scale = input;
    json_t *rep = jsonx_get(scale, "spec.replicas");
    if (rep && (!json_is_integer(rep) || json_integer_value(rep) < 0)) {
        *status = invalid1(r, r->path.name, "spec.replicas", "FieldValueInvalid",
                           "Invalid value: %lld: must be greater than or equal to 0",
                           (long long)json_integer_value(rep));
        return NULL;
    }
    json_t *want = json_deep_copy(live);
    if (rep)
        jsonx_set_new(want, "spec.replicas", json_incref(rep));
    const char *rv = jsonx_get_str(scale, "metadata.resourceVersion");
    if (rv && *rv)
        json_object_set_new(meta(want), "resourceVersion", json_string(rv));
    return want;
}

struct patch_input {
    enum api_media media;
    const json_t *body;
};

static json_t *apply_patch_doc(struct api_req *r, const json_t *doc, const struct patch_input *pi,
                               json_t **status)
{
    struct bosun_err err = {0};
    json_t *out = NULL;
    int rc = 0;
    switch (pi->media) {
    case API_MEDIA_MERGE_PATCH:
        out = api_merge_patch(doc, pi->body);
        break;
    case API_MEDIA_SMP:
        rc = api_smp_apply(doc, pi->body, &out, &err);
        break;
    case API_MEDIA_JSON_PATCH:
        rc = api_json_patch_apply(doc, pi->body, &out, &err);
        if (rc && strstr(err.msg, "(test) failed")) {
            *status = api_status_new(422, "Invalid", err.msg);
            return NULL;
        }
        break;
    default:
        rc = err_set(&err, -EINVAL, "unsupported patch type");
    }
    (void)r;
    if (rc || !out) {
        json_decref(out);
        char msg[1200];
        snprintf(msg, sizeof(msg), "the patch could not be applied: %s", err.msg);
        *status = api_status_new(rc == -EINVAL && pi->media == API_MEDIA_JSON_PATCH ? 422 : 400,
                                 NULL, msg);
        return NULL;
    }
    return out;
}

static json_t *compute_patch(struct api_req *r, const json_t *live, const void *input,
                             json_t **status)
{
    const struct patch_input *pi = input;
    if (!strcmp(r->path.sub, "scale")) {
        json_t *sc = scale_of(r, live);
        json_t *patched = apply_patch_doc(r, sc, pi, status);
        json_decref(sc);
        if (!patched)
            return NULL;
        json_t *want = compute_scale(r, live, patched, status);
        json_decref(patched);
        return want;
    }
    return apply_patch_doc(r, live, pi, status);
}

/* GET live → compute → commit, retried while the object moves underneath. */
static void update_loop(struct api_req *r, compute_fn fn, const void *input, bool pinned)
{
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        json_t *live = NULL;
        struct bosun_err err = {0};
        int rc = store_get(r->api->store, r->key, &live, NULL, &err);
        if (rc == -ENOENT) {
            respond_not_found(r, r->path.name);
            return;
        }
        if (rc) {
            respond_store_error(r, rc, &err);
            return;
        }
        json_t *st = NULL;
        json_t *want = fn(r, live, input, &st);
        if (!want) {
            json_decref(live);
            api_respond_status_obj(r->req, st);
            return;
        }
        const char *sub = !strcmp(r->path.sub, "status") ? "status" : "";
        rc = commit_update(r, live, want, sub, pinned, 200);
        json_decref(live);
        if (rc != COMMIT_RETRY)
            return;
    }
    respond_conflict(r, r->path.name, "the object keeps changing; try again");
}

/* ---- server-side apply ---- */

static const json_t *managed_fields_of(const json_t *obj, const char *manager)
{
    size_t i;
    json_t *e;
    json_array_foreach(jsonx_get(obj, "metadata.managedFields"), i, e) {
        const char *m = json_string_value(json_object_get(e, "manager"));
        const char *op = json_string_value(json_object_get(e, "operation"));
        if (m && !strcmp(m, manager) && op && !strcmp(op, "Apply"))
            return json_object_get(e, "fieldsV1");
    }
    return NULL;
}

static void do_apply(struct api_req *r, const json_t *applied_in)
{
    const char *manager = httpd_query(r->req, "fieldManager");
    char av[128];
    schema_kind_api_version(r->kind, av, sizeof(av));
    if (!manager || !*manager) {
        api_respond_status(r->req, 400, "BadRequest",
                           "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                           "value: is required for apply patch");
        return;
    }
    json_t *applied = json_deep_copy(applied_in);
    json_t *st = NULL;
    if ((st = check_type(r, applied)) || (st = check_ns_name(r, applied, r->path.name))) {
        json_decref(applied);
        api_respond_status_obj(r->req, st);
        return;
    }
    const char *sub = !strcmp(r->path.sub, "status") ? "status" : "";
    int force = qbool(r->req, "force");
    json_t *afs = api_fieldset_of(applied);
    r->applying = true;
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        json_t *live = NULL;
        struct bosun_err err = {0};
        int rc = store_get(r->api->store, r->key, &live, NULL, &err);
        if (rc == -ENOENT) {
            if (*sub) {
                respond_not_found(r, r->path.name);
                break;
            }
            json_t *obj = NULL;
            if (api_apply_merge(NULL, applied, NULL, &obj, &err)) {
                api_respond_status(r->req, 400, "BadRequest", "%s", err.msg);
                break;
            }
            api_managed_record_apply(obj, NULL, applied, manager, av, afs, force);
            create_object(r, obj, 201);
            break;
        }
        if (rc) {
            respond_store_error(r, rc, &err);
            break;
        }
        json_t *conflicts = api_managed_conflicts(live, applied, afs, manager);
        if (json_array_size(conflicts) && !force) {
            char msg[4000];
            api_managed_conflict_message(conflicts, msg, sizeof(msg));
            json_t *st409 = api_status_details(api_status_new(409, "Conflict", msg),
                                               r->path.name, r->kind->group, r->kind->resource);
            json_t *causes = json_array();
            size_t ci;
            json_t *c;
            json_array_foreach(conflicts, ci, c) {
                char cm[700];
                snprintf(cm, sizeof(cm), "conflict with %s",
                         json_string_value(json_object_get(c, "manager")));
                json_array_append_new(causes, json_pack("{s:s,s:s,s:O}", "reason",
                                                        "FieldManagerConflict", "message", cm,
                                                        "field", json_object_get(c, "field")));
            }
            json_object_set_new(json_object_get(st409, "details"), "causes", causes);
            json_decref(conflicts);
            json_decref(live);
            api_respond_status_obj(r->req, st409);
            break;
        }
        json_decref(conflicts);
        const json_t *old_fs = managed_fields_of(live, manager);
        json_t *removable = old_fs ? api_managed_removable(live, old_fs, manager) : NULL;
        json_t *merged = NULL;
        rc = api_apply_merge(live, applied, removable, &merged, &err);
        json_decref(removable);
        if (rc) {
            json_decref(live);
            api_respond_status(r->req, 400, "BadRequest", "%s", err.msg);
            break;
        }
        if (!jsonx_get_str(applied, "metadata.resourceVersion"))
            json_object_set(meta(merged), "resourceVersion",
                            jsonx_get(live, "metadata.resourceVersion"));
        api_managed_record_apply(merged, live, applied, manager, av, afs, force);
        bool pinned = jsonx_get_str(applied, "metadata.resourceVersion") != NULL;
        rc = commit_update(r, live, merged, sub, pinned, 200);
        json_decref(live);
        if (rc != COMMIT_RETRY)
            break;
    }
    json_decref(afs);
    json_decref(applied);
}

/* ------------------------------------------------------------ binding */

static void do_binding(struct api_req *r, json_t *binding)
{
    const char *target = jsonx_get_str(binding, "target.name");
    const char *bname = jsonx_get_str(binding, "metadata.name");
    if (bname && *bname && strcmp(bname, r->path.name)) {
        api_respond_status(r->req, 400, "BadRequest",
                           "the name of the binding (%s) does not match the pod (%s)", bname,
                           r->path.name);
        return;
    }
    if (!target || !*target) {
        api_respond_status(r->req, 422, "Invalid",
                           "Binding \"%s\" is invalid: target.name: Required value", r->path.name);
        return;
    }
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        json_t *pod = NULL, *out = NULL;
        struct bosun_err err = {0};
        int rc = store_get(r->api->store, r->key, &pod, NULL, &err);
        if (rc == -ENOENT) {
            respond_not_found(r, r->path.name);
            return;
        }
        if (rc) {
            respond_store_error(r, rc, &err);
            return;
        }
        const char *cur = jsonx_get_str(pod, "spec.nodeName");
        if (cur && *cur) {
            char why[512];
            snprintf(why, sizeof(why), "pod %s is already assigned to node \"%s\"", r->path.name,
                     cur);
            char msg[1400];
            snprintf(msg, sizeof(msg), "Operation cannot be fulfilled on pods/binding \"%s\": %s",
                     r->path.name, why);
            json_decref(pod);
            api_respond_status_obj(r->req,
                                   api_status_details(api_status_new(409, "Conflict", msg),
                                                      r->path.name, NULL, "pods/binding"));
            return;
        }
        if (jsonx_get(pod, "metadata.deletionTimestamp")) {
            json_decref(pod);
            respond_conflict(r, r->path.name, "the pod is being deleted");
            return;
        }
        jsonx_set_new(pod, "spec.nodeName", json_string(target));
        /* PodScheduled=True, as the binding REST handler of Kubernetes sets it. */
        json_t *conds = jsonx_get(pod, "status.conditions");
        if (!json_is_array(conds)) {
            conds = json_array();
            jsonx_set_new(pod, "status.conditions", conds);
        }
        for (size_t i = json_array_size(conds); i-- > 0;) {
            const char *t = json_string_value(json_object_get(json_array_get(conds, i), "type"));
            if (t && !strcmp(t, "PodScheduled"))
                json_array_remove(conds, i);
        }
        char ts[32];
        now_rfc3339(ts, 0);
        json_array_append_new(conds, json_pack("{s:s,s:s,s:n,s:s}", "type", "PodScheduled",
                                               "status", "True", "lastProbeTime",
                                               "lastTransitionTime", ts));
        if (dry_run(r)) {
            json_decref(pod);
            json_t *ok = api_status_new(201, NULL, NULL);
            json_object_set_new(ok, "status", json_string("Success"));
            json_object_del(ok, "reason");
            json_object_del(ok, "message");
            api_respond_status_obj(r->req, ok);
            return;
        }
        rc = store_update(r->api->store, r->key, pod, rv_of(pod), &out, &err);
        json_decref(pod);
        json_decref(out);
        if (rc == -ESTALE)
            continue;
        if (rc) {
            respond_store_error(r, rc, &err);
            return;
        }
        json_t *st = api_status_new(201, NULL, NULL);
        json_object_set_new(st, "status", json_string("Success"));
        json_object_del(st, "reason");
        json_object_del(st, "message");
        api_respond_status_obj(r->req, st);
        return;
    }
    respond_conflict(r, r->path.name, "the pod keeps changing; try again");
}

/* ------------------------------------------------------------ delete */

struct del_opts {
    long long grace;      /* -1 = not given */
    const char *policy;   /* Background (default), Foreground, Orphan */
    const char *pre_uid, *pre_rv;
};

struct collect {
    const char *uid;
    json_t *keys;
};

static int collect_owned(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)mod_rev;
    struct collect *c = ud;
    size_t i;
    json_t *o;
    json_array_foreach(jsonx_get(value, "metadata.ownerReferences"), i, o) {
        const char *u = json_string_value(json_object_get(o, "uid"));
        if (u && !strcmp(u, c->uid)) {
            json_array_append_new(c->keys, json_string(key));
            break;
        }
    }
    return 0;
}

static int delete_key(struct api *api, const struct schema_kind *k, const char *key,
                      const struct del_opts *o, json_t **out, struct bosun_err *err, int depth);

/* Background/Foreground: delete what the object owns; Orphan: drop the owner reference. */
static void cascade(struct api *api, const char *ns, const char *uid, const struct del_opts *o,
                    int depth)
{
    if (depth > 8)
        return;
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n; i++) {
        if (!ks[i].namespaced)
            continue;
        char prefix[API_KEY_MAX];
        snprintf(prefix, sizeof(prefix), "%s/%s/%s/", ks[i].group, ks[i].resource, ns);
        struct collect c = {uid, json_array()};
        store_list(api->store, prefix, collect_owned, &c, NULL, NULL);
        size_t j;
        json_t *kv;
        json_array_foreach(c.keys, j, kv) {
            const char *key = json_string_value(kv);
            if (o->policy && !strcmp(o->policy, "Orphan")) {
                for (int a = 0; a < MAX_RETRIES; a++) {
                    json_t *obj = NULL;
                    if (store_get(api->store, key, &obj, NULL, NULL))
                        break;
                    json_t *refs = jsonx_get(obj, "metadata.ownerReferences");
                    for (size_t x = json_array_size(refs); x-- > 0;) {
                        const char *u = json_string_value(
                            json_object_get(json_array_get(refs, x), "uid"));
                        if (u && !strcmp(u, uid))
                            json_array_remove(refs, x);
                    }
                    if (!json_array_size(refs))
                        json_object_del(meta(obj), "ownerReferences");
                    int rc = store_update(api->store, key, obj, rv_of(obj), NULL, NULL);
                    json_decref(obj);
                    if (rc != -ESTALE)
                        break;
                }
            } else {
                struct del_opts child = {.grace = -1, .policy = o->policy};
                delete_key(api, &ks[i], key, &child, NULL, NULL, depth + 1);
            }
        }
        json_decref(c.keys);
    }
}

static bool has_finalizer(const json_t *obj, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(jsonx_get(obj, "metadata.finalizers"), i, v)
        if (json_string_value(v) && !strcmp(json_string_value(v), f))
            return true;
    return false;
}

/* Keys of terminating namespaces and of objects waiting for foreground deletion. */
static int collect_pending(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)mod_rev;
    if (!jsonx_get(value, "metadata.deletionTimestamp"))
        return 0;
    if (!strncmp(key, "/namespaces/", 12) || has_finalizer(value, "foregroundDeletion"))
        json_array_append_new((json_t *)ud, json_string(key));
    return 0;
}

static int collect_all(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)value;
    (void)mod_rev;
    json_array_append_new((json_t *)ud, json_string(key));
    return 0;
}

/* How many objects in namespace ns name uid as an owner. */
static size_t count_dependents(struct api *api, const char *ns, const char *uid)
{
    size_t n, total = 0;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n && ns && *ns && uid; i++) {
        if (!ks[i].namespaced)
            continue;
        char prefix[API_KEY_MAX];
        snprintf(prefix, sizeof(prefix), "%s/%s/%s/", ks[i].group, ks[i].resource, ns);
        struct collect c = {uid, json_array()};
        store_list(api->store, prefix, collect_owned, &c, NULL, NULL);
        total += json_array_size(c.keys);
        json_decref(c.keys);
    }
    return total;
}

/* Marks namespace obj Terminating (the finalizer thread empties and removes it). */
static int mark_namespace(struct api *api, const char *key, json_t *obj, json_t **out,
                          struct bosun_err *err)
{
    if (jsonx_get(obj, "metadata.deletionTimestamp")) {
        *out = json_incref(obj);
        return 0;
    }
    char ts[32];
    now_rfc3339(ts, 0);
    json_object_set_new(meta(obj), "deletionTimestamp", json_string(ts));
    json_object_set_new(meta(obj), "deletionGracePeriodSeconds", json_integer(0));
    jsonx_set_new(obj, "status.phase", json_string("Terminating"));
    int rc = store_update(api->store, key, obj, rv_of(obj), out, err);
    if (!rc)
        api_finalizer_kick(api->fin);
    return rc;
}

/* Deletes (or marks for deletion) the object at key. *out (may be NULL) = what to answer
 * with: the last state, or the object now carrying deletionTimestamp. 0 or a negative code
 * (-ENOENT, -ESTALE for a failed precondition). */
static int delete_key(struct api *api, const struct schema_kind *k, const char *key,
                      const struct del_opts *o, json_t **out, struct bosun_err *err, int depth)
{
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        json_t *obj = NULL, *res = NULL;
        int rc = store_get(api->store, key, &obj, NULL, err);
        if (rc)
            return rc;
        const char *uid = jsonx_get_str(obj, "metadata.uid");
        if ((o->pre_uid && *o->pre_uid && (!uid || strcmp(uid, o->pre_uid))) ||
            (o->pre_rv && *o->pre_rv && rv_of(obj) != strtoull(o->pre_rv, NULL, 10))) {
            json_decref(obj);
            return err_set(err, -ESTALE, "Precondition failed");
        }
        if (is_kind(k, "", "namespaces")) {
            rc = mark_namespace(api, key, obj, &res, err);
            json_decref(obj);
            if (rc == -ESTALE)
                continue;
            if (rc)
                return rc;
            if (out)
                *out = res;
            else
                json_decref(res);
            return 0;
        }
        const char *ns = jsonx_get_str(obj, "metadata.namespace");
        bool orphan = o->policy && !strcmp(o->policy, "Orphan");
        /* Foreground: the owner stays (finalizer foregroundDeletion) until its dependents
         * are gone; the finalizer thread then removes it. Without dependents it is the
         * same as Background. */
        bool foreground = o->policy && !strcmp(o->policy, "Foreground") && k->namespaced &&
                          (has_finalizer(obj, "foregroundDeletion") ||
                           count_dependents(api, ns, uid) > 0);
        bool pod = is_kind(k, "", "pods");
        long long grace = o->grace;
        if (pod && grace < 0)
            grace = jsonx_get_int(obj, "spec.terminationGracePeriodSeconds", 30);
        const char *node = pod ? jsonx_get_str(obj, "spec.nodeName") : NULL;
        bool graceful = pod && node && *node && grace > 0;
        bool finalizers = json_array_size(jsonx_get(obj, "metadata.finalizers")) > 0;
        if (graceful || finalizers || foreground) {
            /* Mark it; the node (or whoever owns the finalizer) finishes the delete. */
            json_t *m = meta(obj);
            bool already = json_object_get(m, "deletionTimestamp") != NULL;
            long long cur = jsonx_get_int(obj, "metadata.deletionGracePeriodSeconds", -1);
            bool fg_needed = foreground && !has_finalizer(obj, "foregroundDeletion");
            if (already && !fg_needed && (!graceful || (cur >= 0 && grace >= cur))) {
                if (out)
                    *out = obj;
                else
                    json_decref(obj);
                return 0;
            }
            if (fg_needed) {
                json_t *fz = json_object_get(m, "finalizers");
                if (!json_is_array(fz)) {
                    fz = json_array();
                    json_object_set_new(m, "finalizers", fz);
                }
                json_array_append_new(fz, json_string("foregroundDeletion"));
            }
            if (!already || graceful) {
                char ts[32];
                now_rfc3339(ts, graceful ? grace : 0);
                json_object_set_new(m, "deletionTimestamp", json_string(ts));
                json_object_set_new(m, "deletionGracePeriodSeconds",
                                    json_integer(graceful ? grace : 0));
            }
            rc = store_update(api->store, key, obj, rv_of(obj), &res, err);
            json_decref(obj);
            if (rc == -ESTALE)
                continue;
            if (rc)
                return rc;
            const char *rns = jsonx_get_str(res, "metadata.namespace");
            if (!orphan)
                cascade(api, rns ? rns : "", jsonx_get_str(res, "metadata.uid"), o, depth);
            if (foreground)
                api_finalizer_add_owner(api->fin, k, key);
            if (out)
                *out = res;
            else
                json_decref(res);
            return 0;
        }
        rc = store_delete(api->store, key, rv_of(obj), &res, err);
        if (rc == -ESTALE) {
            json_decref(obj);
            continue;
        }
        if (rc) {
            json_decref(obj);
            return rc;
        }
        if (is_kind(k, "", "services"))
            svc_release_all(api, res);
        if (uid && k->namespaced && ns)
            cascade(api, ns, uid, o, depth);
        json_decref(obj);
        if (out)
            *out = res;
        else
            json_decref(res);
        return 0;
    }
    return err_set(err, -EAGAIN, "the object keeps changing");
}

static int count_fn(const char *key, const char *json, size_t len, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)json;
    (void)len;
    (void)mod_rev;
    (*(size_t *)ud)++;
    return 0;
}

int api_resource_namespace_step(struct api *api, const char *name)
{
    size_t n, left = 0;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n; i++) {
        if (!ks[i].namespaced)
            continue;
        char prefix[API_KEY_MAX];
        snprintf(prefix, sizeof(prefix), "%s/%s/%s/", ks[i].group, ks[i].resource, name);
        json_t *keys = json_array();
        store_list(api->store, prefix, collect_all, keys, NULL, NULL);
        size_t j;
        json_t *kv;
        json_array_foreach(keys, j, kv) {
            /* Background: pods bound to a node are stopped gracefully by it. */
            struct del_opts o = {.grace = -1, .policy = "Background"};
            delete_key(api, &ks[i], json_string_value(kv), &o, NULL, NULL, 0);
        }
        json_decref(keys);
        store_list_raw(api->store, prefix, count_fn, &left, NULL, NULL);
    }
    if (left)
        return 0;
    char key[API_KEY_MAX];
    snprintf(key, sizeof(key), "/namespaces//%s", name);
    json_t *ns = NULL;
    if (store_get(api->store, key, &ns, NULL, NULL))
        return 1;
    int rc = 0;
    if (jsonx_get(ns, "metadata.deletionTimestamp"))
        rc = store_delete(api->store, key, rv_of(ns), NULL, NULL) == 0 ? 1 : 0;
    json_decref(ns);
    return rc;
}

int api_resource_foreground_step(struct api *api, const char *key)
{
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        json_t *obj = NULL, *last = NULL;
        if (store_get(api->store, key, &obj, NULL, NULL))
            return 1;
        if (!has_finalizer(obj, "foregroundDeletion") ||
            !jsonx_get(obj, "metadata.deletionTimestamp")) {
            json_decref(obj);
            return 1;
        }
        if (count_dependents(api, jsonx_get_str(obj, "metadata.namespace"),
                             jsonx_get_str(obj, "metadata.uid"))) {
            json_decref(obj);
            return 0;
        }
        json_t *fz = jsonx_get(obj, "metadata.finalizers");
        for (size_t i = json_array_size(fz); i-- > 0;) {
            const char *f = json_string_value(json_array_get(fz, i));
            if (f && !strcmp(f, "foregroundDeletion"))
                json_array_remove(fz, i);
        }
        int rc;
        if (json_array_size(fz)) {
            rc = store_update(api->store, key, obj, rv_of(obj), NULL, NULL);
        } else {
            rc = store_delete(api->store, key, rv_of(obj), &last, NULL);
            if (!rc && !strncmp(key, "/services/", 10))
                svc_release_all(api, last);
        }
        json_decref(obj);
        json_decref(last);
        if (rc != -ESTALE)
            return 1;
    }
    return 0;
}

int api_resource_list_pending(struct api *api, json_t *namespaces, json_t *owners)
{
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n; i++) {
        char prefix[API_KEY_MAX];
        snprintf(prefix, sizeof(prefix), "%s/%s/", ks[i].group, ks[i].resource);
        json_t *keys = json_array();
        store_list(api->store, prefix, collect_pending, keys, NULL, NULL);
        size_t j;
        json_t *kv;
        json_array_foreach(keys, j, kv) {
            if (is_kind(&ks[i], "", "namespaces")) {
                const char *k = json_string_value(kv);
                json_array_append_new(namespaces, json_string(strrchr(k, '/') + 1));
            } else {
                json_array_append(owners, kv);
            }
        }
        json_decref(keys);
    }
    return 0;
}

static void do_delete(struct api_req *r)
{
    struct del_opts o = {.grace = -1};
    json_t *body = NULL;
    size_t len;
    const char *b = httpd_body(r->req, &len);
    if (len) {
        json_t *st = NULL;
        body = api_body_decode(b, len, api_media_of(httpd_header(r->req, "Content-Type")), &st);
        if (!body) {
            api_respond_status_obj(r->req, st);
            return;
        }
        json_t *g = json_object_get(body, "gracePeriodSeconds");
        if (json_is_integer(g))
            o.grace = json_integer_value(g);
        o.policy = json_string_value(json_object_get(body, "propagationPolicy"));
        o.pre_uid = jsonx_get_str(body, "preconditions.uid");
        o.pre_rv = jsonx_get_str(body, "preconditions.resourceVersion");
        if (json_is_true(json_object_get(body, "orphanDependents")))
            o.policy = "Orphan";
    }
    const char *g = httpd_query(r->req, "gracePeriodSeconds");
    if (g && *g)
        o.grace = strtoll(g, NULL, 10);
    const char *pp = httpd_query(r->req, "propagationPolicy");
    if (pp && *pp)
        o.policy = pp;
    if (o.policy && strcmp(o.policy, "Background") && strcmp(o.policy, "Foreground") &&
        strcmp(o.policy, "Orphan")) {
        api_respond_status(r->req, 400, "BadRequest", "invalid propagationPolicy \"%s\"",
                           o.policy);
        goto out;
    }
    if (is_kind(r->kind, "", "namespaces") && !strcmp(r->path.name, "default")) {
        json_t *st = api_status_new(403, "Forbidden",
                                    "namespaces \"default\" is forbidden: this namespace may not "
                                    "be deleted");
        api_respond_status_obj(r->req, api_status_details(st, "default", NULL, "namespaces"));
        goto out;
    }
    if (dry_run(r) || api_body_dry_run_all(body)) {
        json_t *obj = NULL;
        if (store_get(r->api->store, r->key, &obj, NULL, NULL)) {
            respond_not_found(r, r->path.name);
            goto out;
        }
        respond_object(r, 200, obj);
        json_decref(obj);
        goto out;
    }
    json_t *res = NULL;
    struct bosun_err err = {0};
    int rc = delete_key(r->api, r->kind, r->key, &o, &res, &err, 0);
    if (rc == -ENOENT) {
        respond_not_found(r, r->path.name);
    } else if (rc == -ESTALE) {
        respond_conflict(r, r->path.name, err.msg);
    } else if (rc) {
        respond_store_error(r, rc, &err);
    } else {
        respond_object(r, 200, res);
        json_decref(res);
    }
out:
    json_decref(body);
}

/* ------------------------------------------------------------ dispatch */

static json_t *read_body(struct api_req *r, enum api_media *media_out)
{
    size_t len;
    const char *b = httpd_body(r->req, &len);
    enum api_media media = api_media_of(httpd_header(r->req, "Content-Type"));
    *media_out = media;
    json_t *st = NULL;
    json_t *v = api_body_decode(b, len, media, &st);
    if (!v)
        api_respond_status_obj(r->req, st);
    return v;
}

static void method_not_allowed(struct api_req *r)
{
    api_respond_status(r->req, 405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
}

void api_resource_serve(struct api_req *r)
{
    const char *m = httpd_method(r->req);
    const char *sub = r->path.sub;
    bool named = r->path.name[0] != '\0';
    enum api_media media;

    if (!strcmp(sub, "log")) {
        api_logs_serve(r);
        return;
    }
    if (!strcmp(m, "GET")) {
        if (named)
            do_get(r);
        else
            do_list(r);
        return;
    }
    if (!strcmp(m, "POST")) {
        if (named && !strcmp(sub, "binding")) {
            json_t *b = read_body(r, &media);
            if (b) {
                do_binding(r, b);
                json_decref(b);
            }
            return;
        }
        if (named) {
            method_not_allowed(r);
            return;
        }
        json_t *b = read_body(r, &media);
        if (!b)
            return;
        if (media != API_MEDIA_NONE && media != API_MEDIA_JSON && media != API_MEDIA_YAML &&
            media != API_MEDIA_PROTOBUF) {
            json_decref(b);
            api_respond_status(r->req, 415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format");
            return;
        }
        create_object(r, b, 201);
        return;
    }
    if (!named) {
        method_not_allowed(r);
        return;
    }
    if (!strcmp(m, "PUT")) {
        json_t *b = read_body(r, &media);
        if (!b)
            return;
        if (media != API_MEDIA_NONE && media != API_MEDIA_JSON && media != API_MEDIA_YAML &&
            media != API_MEDIA_PROTOBUF) {
            json_decref(b);
            api_respond_status(r->req, 415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format");
            return;
        }
        if (!json_is_object(b)) {
            json_decref(b);
            api_respond_status(r->req, 400, "BadRequest", "the request body must be a JSON object");
            return;
        }
        const char *rv = jsonx_get_str(b, "metadata.resourceVersion");
        bool pinned = rv && *rv;
        if (!strcmp(sub, "scale"))
            update_loop(r, compute_scale, b, pinned);
        else
            update_loop(r, compute_put, b, pinned);
        json_decref(b);
        return;
    }
    if (!strcmp(m, "PATCH")) {
        enum api_media pm = api_media_of(httpd_header(r->req, "Content-Type"));
        if (pm != API_MEDIA_MERGE_PATCH && pm != API_MEDIA_SMP && pm != API_MEDIA_JSON_PATCH &&
            pm != API_MEDIA_APPLY) {
            json_t *st = api_status_new(415, "UnsupportedMediaType", NULL);
            char msg[300];
            snprintf(msg, sizeof(msg), "the body of the request was in an unknown format - "
                     "accepted media types include: application/json-patch+json, "
                     "application/merge-patch+json, application/apply-patch+yaml, "
                     "application/strategic-merge-patch+json");
            json_object_set_new(st, "message", json_string(msg));
            api_respond_status_obj(r->req, st);
            return;
        }
        json_t *b = read_body(r, &media);
        if (!b)
            return;
        if (pm == API_MEDIA_APPLY) {
            if (!strcmp(sub, "scale"))
                method_not_allowed(r);
            else
                do_apply(r, b);
            json_decref(b);
            return;
        }
        if (pm == API_MEDIA_JSON_PATCH ? !json_is_array(b) : !json_is_object(b)) {
            json_decref(b);
            api_respond_status(r->req, 400, "BadRequest",
                               pm == API_MEDIA_JSON_PATCH ? "a JSON patch must be an array"
                                                          : "a merge patch must be an object");
            return;
        }
        struct patch_input pi = {pm, b};
        bool pinned = pm != API_MEDIA_JSON_PATCH && jsonx_get_str(b, "metadata.resourceVersion");
        update_loop(r, compute_patch, &pi, pinned);
        json_decref(b);
        return;
    }
    if (!strcmp(m, "DELETE")) {
        if (*sub) {
            method_not_allowed(r);
            return;
        }
        do_delete(r);
        return;
    }
    method_not_allowed(r);
}

/* ------------------------------------------------------------ start-up helpers */

int api_resource_ensure_namespace(struct api *api, const char *name, struct bosun_err *err)
{
    char key[API_KEY_MAX];
    snprintf(key, sizeof(key), "/namespaces//%s", name);
    json_t *o = NULL;
    int rc = store_get(api->store, key, &o, NULL, NULL);
    json_decref(o);
    if (rc == 0)
        return 0;
    char uid[37], ts[32];
    uuid4(uid);
    now_rfc3339(ts, 0);
    json_t *ns = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:i,s:{s:s}},s:{s:s}}", "apiVersion", "v1",
                           "kind", "Namespace", "metadata", "name", name, "uid", uid,
                           "creationTimestamp", ts, "generation", 1, "labels",
                           "kubernetes.io/metadata.name", name, "status", "phase", "Active");
    rc = store_create(api->store, key, ns, NULL, err);
    json_decref(ns);
    if (rc == -EEXIST)
        return 0;
    if (rc)
        return err_wrap(err, "create namespace %s", name);
    return 0;
}

/* used[value] = {uid, service}; a value two Services use is logged. */
static void note_used(json_t *used, const char *value, const char *uid, const char *service,
                      const char *what)
{
    json_t *prev = json_object_get(used, value);
    if (prev) {
        log_warn("service %s: %s %s is used twice (also by %s)", service, what, value,
                 json_string_value(json_object_get(prev, "service")));
        return;
    }
    json_object_set_new(used, value, json_pack("{s:s,s:s}", "uid", uid, "service", service));
}

static int used_fn(const char *key, const json_t *svc, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)mod_rev;
    json_t **used = ud;
    char buf[320];
    struct api_alloc_owner o = svc_owner(svc, buf, sizeof(buf));
    const char *ip = jsonx_get_str(svc, "spec.clusterIP");
    if (ip && *ip && strcmp(ip, "None"))
        note_used(used[0], ip, o.uid, o.service, "clusterIP");
    size_t i;
    json_t *p;
    json_array_foreach(jsonx_get(svc, "spec.ports"), i, p) {
        json_int_t np = json_integer_value(json_object_get(p, "nodePort"));
        char port[24];
        snprintf(port, sizeof(port), "%lld", (long long)np);
        if (np)
            note_used(used[1], port, o.uid, o.service, "nodePort");
    }
    return 0;
}

int api_resource_rebuild_allocations(struct api *api, int64_t grace_s, struct bosun_err *err)
{
    json_t *used[2] = {json_object(), json_object()};
    int rc = store_list(api->store, "/services/", used_fn, used, NULL, err);
    if (!rc)
        rc = api_alloc_sync(api->alloc, used[0], used[1], grace_s, err);
    json_decref(used[0]);
    json_decref(used[1]);
    if (rc)
        return err_wrap(err, "rebuild service allocations");
    return 0;
}
