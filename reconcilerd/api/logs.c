#include "reconcilerd/api/logs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/httpc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "reconcilerd/api/status.h"

struct follow {
    pthread_mutex_t mu;
    int refs;
    bool closed;
    volatile int stop;
    struct httpd_stream *s;
    struct httpc *c;
    char *path;
};

static void follow_release(struct follow *f)
{
    pthread_mutex_lock(&f->mu);
    int left = --f->refs;
    pthread_mutex_unlock(&f->mu);
    if (left)
        return;
    httpc_free(f->c);
    free(f->path);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void follow_closed(struct httpd_stream *s, void *ud)
{
    (void)s;
    struct follow *f = ud;
    pthread_mutex_lock(&f->mu);
    f->closed = true;
    f->stop = 1;
    pthread_mutex_unlock(&f->mu);
    follow_release(f);
}

static int follow_line(const char *line, size_t len, void *ud)
{
    struct follow *f = ud;
    int ret = 0;
    char *buf = malloc(len + 1);
    if (!buf)
        return 1;
    memcpy(buf, line, len);
    buf[len] = '\n';
    pthread_mutex_lock(&f->mu);
    if (f->closed || httpd_stream_write(f->s, buf, len + 1))
        ret = 1;
    pthread_mutex_unlock(&f->mu);
    free(buf);
    return ret;
}

static void *follow_main(void *arg)
{
    struct follow *f = arg;
    struct bosun_err err = {0};
    int rc = httpc_stream(f->c, f->path, follow_line, f, &f->stop, &err);
    pthread_mutex_lock(&f->mu);
    if (!f->closed) {
        if (rc && !f->stop) {
            char msg[1200];
            int n = snprintf(msg, sizeof(msg), "error reading logs from the node: %s\n", err.msg);
            httpd_stream_write(f->s, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg));
        }
        httpd_stream_close(f->s);
    }
    pthread_mutex_unlock(&f->mu);
    follow_release(f);
    return NULL;
}

/* A log fetched whole from its node. The fetch runs on a thread of its own and the request
 * is answered later (httpd_later): a slow or unreachable node (up to the client's
 * timeouts) must not hold an API worker, of which there are few. */
struct log_fetch {
    struct httpc *c;
    struct httpd_req *req;
    char path[2048];
    char node[256];
    char server[128];
    int rc;
    struct httpc_resp resp;
    struct bosun_err err;
};

static void fetch_free(struct log_fetch *lf)
{
    httpc_resp_free(&lf->resp);
    httpc_free(lf->c);
    free(lf);
}

static void *fetch_main(void *arg)
{
    struct log_fetch *lf = arg;
    lf->rc = httpc_request(lf->c, "GET", lf->path, NULL, NULL, 0, 30000, &lf->resp, &lf->err);
    httpd_later_ready(lf->req);
    return NULL;
}

/* The continuation, on a worker, once the node answered (or did not). */
static void fetch_answer(struct httpd_req *req, void *ud)
{
    struct log_fetch *lf = ud;
    long st = lf->resp.status;
    if (lf->rc) {
        api_respond_status(req, 503, "ServiceUnavailable",
                           "cannot reach the node %s (%s) for logs: %s", lf->node, lf->server,
                           lf->err.msg);
    } else if (st >= 200 && st < 300) {
        httpd_respond(req, 200, "text/plain", lf->resp.body ? lf->resp.body : "", lf->resp.len);
    } else {
        api_respond_status(req, st == 404 ? 404 : 500, NULL, "the node %s answered %ld: %.*s",
                           lf->node, st, (int)(lf->resp.len > 512 ? 512 : lf->resp.len),
                           lf->resp.body ? lf->resp.body : "");
    }
    fetch_free(lf);
}

/* Starts fetching path from the node with c (owned) and leaves the answer to
 * fetch_answer. */
static void fetch_later(struct api_req *r, struct httpc *c, const char *path, const char *node,
                        const char *server)
{
    struct log_fetch *lf = calloc(1, sizeof(*lf));
    if (!lf) {
        httpc_free(c);
        api_respond_status(r->req, 500, "InternalError", "out of memory");
        return;
    }
    lf->c = c;
    lf->req = r->req;
    strbuf_copy(lf->path, sizeof(lf->path), path);
    strbuf_copy(lf->node, sizeof(lf->node), node);
    strbuf_copy(lf->server, sizeof(lf->server), server);
    httpd_later(r->req, fetch_answer, lf);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, fetch_main, lf)) {
        lf->rc = -EAGAIN;
        err_set(&lf->err, -EAGAIN, "cannot start a thread to fetch them");
        httpd_later_ready(r->req); /* answered by fetch_answer as the handler returns */
    }
    pthread_attr_destroy(&attr);
}

static bool qbool(struct httpd_req *req, const char *k)
{
    const char *s = httpd_query(req, k);
    return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1"));
}

void api_logs_serve(struct api_req *r)
{
    struct api *api = r->api;
    struct bosun_err err = {0};
    json_t *pod = NULL, *node = NULL;
    struct httpc *c = NULL;
    char *cont_e = NULL, *ns_e = NULL, *pod_e = NULL;
    if (strcmp(httpd_method(r->req), "GET")) {
        api_respond_status(r->req, 405, "MethodNotAllowed", "the server does not allow this "
                           "method on the requested resource");
        return;
    }
    int rc = store_get(api->store, r->key, &pod, NULL, &err);
    if (rc == -ENOENT) {
        json_t *st = api_status_new(404, "NotFound", NULL);
        char msg[512];
        snprintf(msg, sizeof(msg), "pods \"%s\" not found", r->path.name);
        json_object_set_new(st, "message", json_string(msg));
        api_respond_status_obj(r->req, api_status_details(st, r->path.name, NULL, "pods"));
        return;
    } else if (rc) {
        api_respond_status(r->req, 500, "InternalError", "%s", err.msg);
        return;
    }
    /* The container: ?container=, else the default-container annotation, else the only one. */
    const char *container = httpd_query(r->req, "container");
    json_t *containers = jsonx_get(pod, "spec.containers");
    if (!container || !*container) {
        json_t *ann = jsonx_get(pod, "metadata.annotations");
        container = json_string_value(json_object_get(ann, "kubectl.kubernetes.io/default-container"));
    }
    if (!container || !*container) {
        if (json_array_size(containers) == 1) {
            container = json_string_value(json_object_get(json_array_get(containers, 0), "name"));
        } else {
            char names[512] = "";
            size_t i;
            json_t *ct;
            json_array_foreach(containers, i, ct) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof(names) - l, "%s%s", l ? " " : "",
                         json_string_value(json_object_get(ct, "name")));
            }
            api_respond_status(r->req, 400, "BadRequest",
                               "a container name must be specified for pod %s, choose one of: [%s]",
                               r->path.name, names);
            goto out;
        }
    } else {
        bool found = false;
        size_t i;
        json_t *ct;
        json_array_foreach(containers, i, ct) {
            const char *n = json_string_value(json_object_get(ct, "name"));
            if (n && !strcmp(n, container))
                found = true;
        }
        json_array_foreach(jsonx_get(pod, "spec.initContainers"), i, ct) {
            const char *n = json_string_value(json_object_get(ct, "name"));
            if (n && !strcmp(n, container))
                found = true;
        }
        if (!found) {
            api_respond_status(r->req, 400, "BadRequest",
                               "container %s is not valid for pod %s", container, r->path.name);
            goto out;
        }
    }
    const char *node_name = jsonx_get_str(pod, "spec.nodeName");
    if (!node_name || !*node_name) {
        api_respond_status(r->req, 400, "BadRequest", "pod %s does not have a host assigned",
                           r->path.name);
        goto out;
    }
    char nkey[API_KEY_MAX];
    snprintf(nkey, sizeof(nkey), "/nodes//%s", node_name);
    if (store_get(api->store, nkey, &node, NULL, &err)) {
        api_respond_status(r->req, 503, "ServiceUnavailable",
                           "node \"%s\" of pod %s is not registered", node_name, r->path.name);
        goto out;
    }
    const char *ip = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(jsonx_get(node, "status.addresses"), i, a) {
        const char *t = json_string_value(json_object_get(a, "type"));
        if (t && !strcmp(t, "InternalIP"))
            ip = json_string_value(json_object_get(a, "address"));
    }
    long long port = jsonx_get_int(node, "status.daemonEndpoints.kubeletEndpoint.Port", 10250);
    if (!ip) {
        api_respond_status(r->req, 503, "ServiceUnavailable",
                           "node \"%s\" has no InternalIP address", node_name);
        goto out;
    }
    char server[128];
    snprintf(server, sizeof(server), strchr(ip, ':') ? "http://[%s]:%lld" : "http://%s:%lld", ip,
             port);
    if (httpc_new_token(server, NULL, &c, &err)) {
        api_respond_status(r->req, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    cont_e = httpc_escape(container);
    ns_e = httpc_escape(r->path.ns);
    pod_e = httpc_escape(r->path.name);
    bool follow = qbool(r->req, "follow");
    const char *tail = httpd_query(r->req, "tailLines");
    char path[2048];
    int n = snprintf(path, sizeof(path), "/containerLogs/%s/%s/%s?follow=%s", ns_e, pod_e, cont_e,
                     follow ? "true" : "false");
    if (tail && *tail && strspn(tail, "0123456789") == strlen(tail) && n > 0)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "&tailLines=%s", tail);
    if (qbool(r->req, "previous") && n > 0 && (size_t)n < sizeof(path))
        snprintf(path + n, sizeof(path) - (size_t)n, "&previous=true");

    if (!follow) {
        fetch_later(r, c, path, node_name, server);
        c = NULL;
        goto out;
    }
    struct follow *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        api_respond_status(r->req, 500, "InternalError", "out of memory");
        goto out;
    }
    pthread_mutex_init(&f->mu, NULL);
    f->refs = 2;
    f->c = c;
    c = NULL;
    f->s = httpd_stream_start(r->req, 200, "text/plain", follow_closed, f);
    if (!f->s) {
        f->refs = 1;
        follow_release(f);
        goto out;
    }
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, follow_main, f)) {
        httpd_stream_write(f->s, "cannot start the log stream\n", 28);
        httpd_stream_close(f->s);
        follow_release(f);
    }
    pthread_attr_destroy(&attr);
out:
    free(cont_e);
    free(ns_e);
    free(pod_e);
    httpc_free(c);
    json_decref(pod);
    json_decref(node);
}
