/* controllers — wires the informers (one per resource, shared by every loop) to the
 * controllers' work queues, and starts the workers once every cache has synced (a loop
 * acting on a half-filled cache would create what already exists). */
#include "reconcilerd/controllers/controllers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/httpc.h"
#include "lib/informer.h"
#include "lib/log.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/deployment.h"
#include "reconcilerd/controllers/endpoints.h"
#include "reconcilerd/controllers/gc.h"
#include "reconcilerd/controllers/nodeipam.h"
#include "reconcilerd/controllers/nodelifecycle.h"
#include "reconcilerd/controllers/replicaset.h"
#include "reconcilerd/controllers/workqueue.h"

#define RESYNC_MS 30000

struct controllers {
    struct ctrl_ctx ctx;
    char *cluster_cidr;
    struct ctrl_deployment *deploy;
    struct ctrl_replicaset *rs;
    struct ctrl_endpoints *ep;
    struct ctrl_nodeipam *ipam;
    struct ctrl_nodelc *nodelc;
    struct ctrl_gc *gc;

    pthread_t starter;
    bool starter_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

/* ---- informer handlers: fan out to the controllers ---- */

static void deploy_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_deployment_on_deployment(obj, c->deploy);
}

static void deploy_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    (void)old_obj;
    deploy_add(obj, ud);
}

static void deploy_delete(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_deployment_on_deployment(obj, c->deploy);
    ctrl_gc_on_deployment_delete(obj, c->gc);
}

static void rs_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_deployment_on_replicaset(obj, c->deploy);
    ctrl_replicaset_on_replicaset(obj, c->rs);
    ctrl_gc_on_replicaset(obj, c->gc);
}

static void rs_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    (void)old_obj;
    rs_add(obj, ud);
}

static void rs_delete(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_deployment_on_replicaset(obj, c->deploy);
    ctrl_replicaset_on_replicaset(obj, c->rs);
    ctrl_gc_on_replicaset_delete(obj, c->gc);
}

static void pod_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_replicaset_on_pod_add(obj, c->rs);
    ctrl_endpoints_on_pod(NULL, obj, c->ep);
    ctrl_gc_on_pod(obj, c->gc);
    ctrl_nodelc_on_pod(obj, c->nodelc);
}

static void pod_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_replicaset_on_pod_update(old_obj, obj, c->rs);
    ctrl_endpoints_on_pod(old_obj, obj, c->ep);
    ctrl_gc_on_pod(obj, c->gc);
    ctrl_nodelc_on_pod(obj, c->nodelc);
}

static void pod_delete(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_replicaset_on_pod_delete(obj, c->rs);
    ctrl_endpoints_on_pod(obj, NULL, c->ep);
}

static void svc_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_endpoints_on_service(obj, c->ep);
}

static void svc_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    (void)old_obj;
    svc_add(obj, ud);
}

static void node_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_nodeipam_on_node(obj, c->ipam);
    ctrl_nodelc_on_node(obj, c->nodelc);
}

static void node_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    (void)old_obj;
    node_add(obj, ud);
}

static void lease_add(const json_t *obj, void *ud)
{
    struct controllers *c = ud;
    ctrl_nodelc_on_lease(obj, c->nodelc);
}

static void lease_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    (void)old_obj;
    lease_add(obj, ud);
}

static int start_informer(struct controllers *c, const char *path, struct informer_handlers h,
                          struct informer **out, struct bosun_err *err)
{
    h.userdata = c;
    struct informer_opts o = {
        .client = c->ctx.client, .path = path, .resync_ms = RESYNC_MS, .handlers = h};
    int r = informer_start(&o, out, err);
    if (r < 0)
        return err_wrap(err, "controllers: informer %s", path);
    return 0;
}

/* Waits until every cache is loaded, then lets the workers go. */
static void *starter(void *arg)
{
    struct controllers *c = arg;
    struct informer *infs[] = {c->ctx.services, c->ctx.endpoints, c->ctx.pods,
                               c->ctx.replicasets, c->ctx.deployments, c->ctx.nodes};
    for (size_t i = 0; i < sizeof infs / sizeof infs[0]; i++) {
        for (;;) {
            pthread_mutex_lock(&c->mu);
            bool stop = c->stop;
            pthread_mutex_unlock(&c->mu);
            if (stop)
                return NULL;
            if (informer_wait_synced(infs[i], 500) == 0)
                break;
        }
    }
    /* leases are optional (a cluster without kube-node-lease): give them a moment only */
    informer_wait_synced(c->ctx.leases, 2000);

    struct ctrl_wq *qs[] = {ctrl_deployment_queue(c->deploy), ctrl_replicaset_queue(c->rs),
                            ctrl_endpoints_queue(c->ep),      ctrl_nodeipam_queue(c->ipam),
                            ctrl_nodelc_queue(c->nodelc),     ctrl_gc_queue(c->gc)};
    pthread_mutex_lock(&c->mu);
    if (!c->stop) {
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            struct bosun_err err = {0};
            if (ctrl_wq_run(qs[i], &err) < 0)
                log_error("controllers: %s", err.msg);
        }
        log_info("controllers: caches synced, loops running");
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int controllers_start(const struct controllers_opts *opts, struct controllers **out,
                      struct bosun_err *err)
{
    int r;
    struct controllers *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, -ENOMEM, "controllers: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->cluster_cidr = strdup(opts->cluster_cidr ? opts->cluster_cidr : "10.244.0.0/16");
    if (!c->cluster_cidr) {
        r = err_set(err, -ENOMEM, "controllers: out of memory");
        goto fail;
    }
    c->ctx.cluster_cidr = c->cluster_cidr;
    c->ctx.node_cidr_mask = opts->node_cidr_mask > 0 ? opts->node_cidr_mask : 24;
    c->ctx.node_monitor_grace_ms =
        opts->node_monitor_grace_ms > 0 ? opts->node_monitor_grace_ms : 40000;

    r = httpc_new_token(opts->server ? opts->server : "http://127.0.0.1:6443", opts->token,
                        &c->ctx.client, err);
    if (r < 0)
        goto fail;
    if (opts->ca_file && (r = httpc_set_ca_file(c->ctx.client, opts->ca_file, err)) < 0)
        goto fail;
    if ((r = events_new(c->ctx.client, "controller-manager", &c->ctx.events, err)) < 0 ||
        (r = ctrl_deployment_new(&c->ctx, &c->deploy, err)) < 0 ||
        (r = ctrl_replicaset_new(&c->ctx, &c->rs, err)) < 0 ||
        (r = ctrl_endpoints_new(&c->ctx, &c->ep, err)) < 0 ||
        (r = ctrl_nodeipam_new(&c->ctx, &c->ipam, err)) < 0 ||
        (r = ctrl_nodelc_new(&c->ctx, &c->nodelc, err)) < 0 ||
        (r = ctrl_gc_new(&c->ctx, &c->gc, err)) < 0)
        goto fail;

    /* Order matters: a handler may read the informers started before its own (pods read
     * services; replicaset deletes read pods; deployment deletes read replicasets). */
    if ((r = start_informer(c, "/api/v1/services",
                            (struct informer_handlers){svc_add, svc_update, svc_add, NULL},
                            &c->ctx.services, err)) < 0 ||
        (r = start_informer(c, "/api/v1/endpoints",
                            (struct informer_handlers){svc_add, svc_update, svc_add, NULL},
                            &c->ctx.endpoints, err)) < 0 ||
        (r = start_informer(c, "/api/v1/pods",
                            (struct informer_handlers){pod_add, pod_update, pod_delete, NULL},
                            &c->ctx.pods, err)) < 0 ||
        (r = start_informer(c, "/apis/apps/v1/replicasets",
                            (struct informer_handlers){rs_add, rs_update, rs_delete, NULL},
                            &c->ctx.replicasets, err)) < 0 ||
        (r = start_informer(c, "/apis/apps/v1/deployments",
                            (struct informer_handlers){deploy_add, deploy_update, deploy_delete,
                                                       NULL},
                            &c->ctx.deployments, err)) < 0 ||
        (r = start_informer(c, "/api/v1/nodes",
                            (struct informer_handlers){node_add, node_update, node_add, NULL},
                            &c->ctx.nodes, err)) < 0 ||
        (r = start_informer(c, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                            (struct informer_handlers){lease_add, lease_update, lease_add, NULL},
                            &c->ctx.leases, err)) < 0)
        goto fail;

    r = pthread_create(&c->starter, NULL, starter, c);
    if (r != 0) {
        r = err_errno(err, -r, "controllers: pthread_create");
        goto fail;
    }
    c->starter_running = true;
    *out = c;
    return 0;
fail:
    controllers_stop(c);
    return r;
}

void controllers_stop(struct controllers *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_mutex_unlock(&c->mu);
    if (c->starter_running)
        pthread_join(c->starter, NULL);
    /* workers first (they read the caches), then the informers (they feed the queues),
     * then the rest */
    if (c->deploy)
        ctrl_wq_shutdown(ctrl_deployment_queue(c->deploy));
    if (c->rs)
        ctrl_wq_shutdown(ctrl_replicaset_queue(c->rs));
    if (c->ep)
        ctrl_wq_shutdown(ctrl_endpoints_queue(c->ep));
    if (c->ipam)
        ctrl_wq_shutdown(ctrl_nodeipam_queue(c->ipam));
    if (c->nodelc)
        ctrl_wq_shutdown(ctrl_nodelc_queue(c->nodelc));
    if (c->gc)
        ctrl_wq_shutdown(ctrl_gc_queue(c->gc));
    informer_stop(c->ctx.leases);
    informer_stop(c->ctx.nodes);
    informer_stop(c->ctx.deployments);
    informer_stop(c->ctx.replicasets);
    informer_stop(c->ctx.pods);
    informer_stop(c->ctx.endpoints);
    informer_stop(c->ctx.services);
    ctrl_gc_free(c->gc);
    ctrl_nodelc_free(c->nodelc);
    ctrl_nodeipam_free(c->ipam);
    ctrl_endpoints_free(c->ep);
    ctrl_replicaset_free(c->rs);
    ctrl_deployment_free(c->deploy);
    events_free(c->ctx.events);
    httpc_free(c->ctx.client);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->cluster_cidr);
    free(c);
}
