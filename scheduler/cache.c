#include "scheduler/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

struct pod_entry {
    char *key;
    char *node;
    struct scheduler_res req, nonzero;
    bool assumed;
    int64_t assumed_ms;
};

struct node_entry {
    char *name;
    json_t *node;
};

struct scheduler_cache {
    pthread_mutex_t mu;
    struct node_entry *nodes;
    size_t nnodes;
    struct pod_entry *pods;
    size_t npods, cappods;
};

int scheduler_cache_new(struct scheduler_cache **out, struct bosun_err *err)
{
    struct scheduler_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, -ENOMEM, "scheduler cache: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

static void pod_entry_drop(struct scheduler_cache *c, size_t i)
{
    free(c->pods[i].key);
    free(c->pods[i].node);
    c->pods[i] = c->pods[--c->npods];
}

void scheduler_cache_free(struct scheduler_cache *c)
{
    if (!c)
        return;
    while (c->npods)
        pod_entry_drop(c, 0);
    for (size_t i = 0; i < c->nnodes; i++) {
        free(c->nodes[i].name);
        json_decref(c->nodes[i].node);
    }
    free(c->nodes);
    free(c->pods);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void scheduler_cache_node_set(struct scheduler_cache *c, const json_t *node)
{
    const char *name = jsonx_get_str(node, "metadata.name");
    if (!name)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nnodes; i++) {
        if (strcmp(c->nodes[i].name, name) == 0) {
            json_decref(c->nodes[i].node);
            c->nodes[i].node = json_incref((json_t *)node);
            goto out;
        }
    }
    struct node_entry *p = realloc(c->nodes, (c->nnodes + 1) * sizeof(*p));
    if (!p)
        goto out;
    c->nodes = p;
    if (!(p[c->nnodes].name = strdup(name)))
        goto out;
    p[c->nnodes].node = json_incref((json_t *)node);
    c->nnodes++;
out:
    pthread_mutex_unlock(&c->mu);
}

void scheduler_cache_node_remove(struct scheduler_cache *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nnodes; i++) {
        if (strcmp(c->nodes[i].name, name) == 0) {
            free(c->nodes[i].name);
            json_decref(c->nodes[i].node);
            c->nodes[i] = c->nodes[--c->nnodes];
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

size_t scheduler_cache_node_count(struct scheduler_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nnodes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static bool pod_key(const json_t *pod, char *buf, size_t len)
{
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    const char *name = jsonx_get_str(pod, "metadata.name");
    return ns && name && (size_t)snprintf(buf, len, "%s/%s", ns, name) < len;
}

static struct pod_entry *find_pod(struct scheduler_cache *c, const char *key, size_t *idx)
{
    for (size_t i = 0; i < c->npods; i++)
        if (strcmp(c->pods[i].key, key) == 0) {
            if (idx)
                *idx = i;
            return &c->pods[i];
        }
    return NULL;
}

/* Sets (or creates) the entry for key; called with mu held. */
static int put_pod(struct scheduler_cache *c, const char *key, const json_t *pod,
                   const char *node, bool assumed)
{
    struct scheduler_res req = {0}, nz = {0};
    /* a pod whose quantities do not parse is counted as requesting nothing (the API
     * validates them; this is defence, not policy) */
    if (scheduler_res_pod_requests(pod, &req, NULL) < 0)
        memset(&req, 0, sizeof req);
    if (scheduler_res_pod_nonzero_requests(pod, &nz, NULL) < 0)
        memset(&nz, 0, sizeof nz);
    struct pod_entry *e = find_pod(c, key, NULL);
    if (!e) {
        if (c->npods == c->cappods) {
            size_t ncap = c->cappods ? c->cappods * 2 : 64;
            struct pod_entry *p = realloc(c->pods, ncap * sizeof(*p));
            if (!p)
                return -ENOMEM;
            c->pods = p;
            c->cappods = ncap;
        }
        e = &c->pods[c->npods];
        memset(e, 0, sizeof(*e));
        if (!(e->key = strdup(key)))
            return -ENOMEM;
        c->npods++;
    }
    char *n = strdup(node);
    if (!n)
        return -ENOMEM;
    free(e->node);
    e->node = n;
    e->req = req;
    e->nonzero = nz;
    e->assumed = assumed;
    e->assumed_ms = assumed ? time_mono_ms() : 0;
    return 0;
}

void scheduler_cache_pod_set(struct scheduler_cache *c, const json_t *pod)
{
    char key[512];
    if (!pod_key(pod, key, sizeof key))
        return;
    const char *node = jsonx_get_str(pod, "spec.nodeName");
    const char *phase = jsonx_get_str(pod, "status.phase");
    bool finished = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
    pthread_mutex_lock(&c->mu);
    size_t idx;
    struct pod_entry *e = find_pod(c, key, &idx);
    if (node && *node && !finished) {
        put_pod(c, key, pod, node, false);
    } else if (e && (finished || !e->assumed)) {
        pod_entry_drop(c, idx);
    }
    pthread_mutex_unlock(&c->mu);
}

void scheduler_cache_pod_remove(struct scheduler_cache *c, const json_t *pod)
{
    char key[512];
    size_t idx;
    if (!pod_key(pod, key, sizeof key))
        return;
    pthread_mutex_lock(&c->mu);
    if (find_pod(c, key, &idx))
        pod_entry_drop(c, idx);
    pthread_mutex_unlock(&c->mu);
}

int scheduler_cache_assume(struct scheduler_cache *c, const json_t *pod, const char *node)
{
    char key[512];
    if (!pod_key(pod, key, sizeof key))
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    int r = put_pod(c, key, pod, node, true);
    pthread_mutex_unlock(&c->mu);
    return r;
}

void scheduler_cache_forget(struct scheduler_cache *c, const char *pod_key_s)
{
    size_t idx;
    pthread_mutex_lock(&c->mu);
    struct pod_entry *e = find_pod(c, pod_key_s, &idx);
    if (e && e->assumed)
        pod_entry_drop(c, idx);
    pthread_mutex_unlock(&c->mu);
}

bool scheduler_cache_is_assumed(struct scheduler_cache *c, const char *pod_key_s)
{
    pthread_mutex_lock(&c->mu);
    struct pod_entry *e = find_pod(c, pod_key_s, NULL);
    bool a = e && e->assumed;
    pthread_mutex_unlock(&c->mu);
    return a;
}

void scheduler_cache_expire(struct scheduler_cache *c, int64_t ttl_ms)
{
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->npods;) {
        if (c->pods[i].assumed && now - c->pods[i].assumed_ms > ttl_ms) {
            log_debug("scheduler cache: assumption of %s on %s expired", c->pods[i].key,
                      c->pods[i].node);
            pod_entry_drop(c, i);
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&c->mu);
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const struct scheduler_node *)a)->name,
                  ((const struct scheduler_node *)b)->name);
}

int scheduler_cache_snapshot(struct scheduler_cache *c, struct scheduler_node **out, size_t *n,
                             struct bosun_err *err)
{
    pthread_mutex_lock(&c->mu);
    struct scheduler_node *nodes = calloc(c->nnodes ? c->nnodes : 1, sizeof(*nodes));
    size_t k = 0;
    if (!nodes) {
        pthread_mutex_unlock(&c->mu);
        return err_set(err, -ENOMEM, "scheduler cache: out of memory");
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        struct bosun_err nerr = {0};
        if (scheduler_node_init(&nodes[k], c->nodes[i].node, &nerr) < 0) {
            log_debug("scheduler cache: %s", nerr.msg);
            continue;
        }
        k++;
    }
    qsort(nodes, k, sizeof(*nodes), cmp_node);
    for (size_t i = 0; i < c->npods; i++) {
        struct scheduler_node want = {.name = c->pods[i].node};
        struct scheduler_node *ni = bsearch(&want, nodes, k, sizeof(*nodes), cmp_node);
        if (ni)
            scheduler_node_add_pod(ni, &c->pods[i].req, &c->pods[i].nonzero);
    }
    pthread_mutex_unlock(&c->mu);
    *out = nodes;
    *n = k;
    return 0;
}

void scheduler_cache_snapshot_free(struct scheduler_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++)
        scheduler_node_clear(&nodes[i]);
    free(nodes);
}
