#include "nodeagent/apisync.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "lib/events.h"
#include "lib/fileutil.h"
#include "lib/httpc.h"
#include "lib/informer.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "nodeagent/nodefs.h"
#include "nodeagent/podevents.h"

#define APISYNC_HEARTBEAT_MS 10000
#define APISYNC_RETRY_MS 2000
#define APISYNC_TIMEOUT_MS 5000
#define APISYNC_MIRROR_ANN "kubernetes.io/config.mirror"
/* An event request never takes longer (the posting thread's queue waits meanwhile). */
#define APISYNC_EVENT_TIMEOUT_MS 3000
/* What shutdown gives the last events (Killing of the pods it stopped) to go out. */
#define APISYNC_EVENT_FLUSH_MS 2000

struct apisync {
    struct apisync_config cfg;
    char server[512], token_file[1024], node[256], node_ip[64], rt_version[128];
    struct httpc *client;
    struct informer *pods;
    struct events *recorder;
    struct podevents *events;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    char pod_cidr[64];
    json_t *report;  /* the latest apisync_report input (owned copy) or NULL */
    json_t *deletes; /* [{ns, name, uid}] still to send */
    /* thread-only: */
    json_t *sent; /* "ns/name" -> the status last written */
    int64_t next_heartbeat_ms;
};

static void wake_loop(struct apisync *as)
{
    uint64_t one = 1;
    ssize_t w = write(as->cfg.wake_fd, &one, sizeof(one));
    (void)w;
}

static void on_add(const json_t *obj, void *ud)
{
    (void)obj;
    wake_loop(ud);
}
static void on_update(const json_t *o, const json_t *n, void *ud)
{
    (void)o;
    (void)n;
    wake_loop(ud);
}

/* ---- the Node --------------------------------------------------------------------- */

static char *read_line_of(const char *path, char *buf, size_t len)
{
    char *s = NULL;
    buf[0] = '\0';
    if (fileutil_read_all(path, 4096, &s, NULL, NULL) == 0) {
        s[strcspn(s, "\n")] = '\0';
        snprintf(buf, len, "%s", s);
        free(s);
    }
    return buf;
}

static json_t *node_status(struct apisync *as, const json_t *old_status)
{
    char mem[64] = "0", osimg[256] = "Linux", hb[40];
    char *mi = NULL;
    if (fileutil_read_all("/proc/meminfo", 65536, &mi, NULL, NULL) == 0) {
        long long kb = 0;
        const char *p = strstr(mi, "MemTotal:");
        if (p && sscanf(p, "MemTotal: %lld kB", &kb) == 1)
            snprintf(mem, sizeof(mem), "%lldKi", kb);
        free(mi);
    }
    char *osr = NULL;
    if (fileutil_read_all("/etc/os-release", 65536, &osr, NULL, NULL) == 0) {
        const char *p = strstr(osr, "PRETTY_NAME=");
        if (p) {
            p += 12;
            if (*p == '"')
                p++;
            snprintf(osimg, sizeof(osimg), "%.*s", (int)strcspn(p, "\"\n"), p);
        }
        free(osr);
    }
    struct utsname u;
    uname(&u);
    const char *arch = !strcmp(u.machine, "x86_64")    ? "amd64"
                       : !strcmp(u.machine, "aarch64") ? "arm64"
                                                       : u.machine;
    char cpus[24];
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(cpus, sizeof(cpus), "%ld", n > 0 ? n : 1);
    char machine_id[128], boot_id[128], uuid[128];
    read_line_of("/etc/machine-id", machine_id, sizeof(machine_id));
    read_line_of("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
    read_line_of("/sys/class/dmi/id/product_uuid", uuid, sizeof(uuid));
    if (!uuid[0])
        snprintf(uuid, sizeof(uuid), "%s", machine_id);
    time_rfc3339(time(NULL), hb, sizeof(hb));

    /* Ready's lastTransitionTime moves only when its status changes. */
    const char *since = hb;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(old_status, "conditions"), i, c)
    {
        if (!strcmp(jsonx_get_str(c, "type") ?: "", "Ready") &&
            !strcmp(jsonx_get_str(c, "status") ?: "", "True") &&
            jsonx_get_str(c, "lastTransitionTime"))
            since = jsonx_get_str(c, "lastTransitionTime");
    }
    return json_pack(
        "{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s},{s:s,s:s}],s:{s:{s:i}},"
        "s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s},"
        "s:[{s:s,s:s,s:s,s:s,s:s,s:s}]}",
        "capacity", "cpu", cpus, "memory", mem, "pods", "110", "allocatable", "cpu", cpus, "memory",
        mem, "pods", "110", "addresses", "type", "InternalIP", "address", as->node_ip, "type",
        "Hostname", "address", as->node, "daemonEndpoints", "kubeletEndpoint", "Port",
        as->cfg.kubelet_port, "nodeInfo", "machineID", machine_id, "systemUUID", uuid, "bootID",
        boot_id, "kernelVersion", u.release, "osImage", osimg, "containerRuntimeVersion",
        as->rt_version, "kubeletVersion", "v1.30.0-bosun", "kubeProxyVersion", "v1.30.0-bosun",
        "operatingSystem", "linux", "architecture", arch, "conditions", "type", "Ready", "status",
        "True", "reason", "KubeletReady", "message", "bosun nodeagent is posting ready status",
        "lastHeartbeatTime", hb, "lastTransitionTime", since);
}

/* GET the Node (creating it when missing), refresh its status. */
static int node_heartbeat(struct apisync *as, struct bosun_err *err)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", as->node);
    long status = 0;
    json_t *node = NULL;
    int rc = httpc_json(as->client, "GET", path, NULL, NULL, &status, &node, err);
    if (rc < 0)
        return rc;
    if (status == 404) {
        json_decref(node);
        struct utsname u;
        uname(&u);
        json_t *obj =
            json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:s}},s:{},s:o}", "apiVersion", "v1", "kind", "Node",
                      "metadata", "name", as->node, "labels", "kubernetes.io/hostname", as->node,
                      "kubernetes.io/os", "linux", "spec", "status", node_status(as, NULL));
        rc = httpc_json(as->client, "POST", "/api/v1/nodes", NULL, obj, &status, &node, err);
        json_decref(obj);
        if (rc < 0)
            return rc;
        if (status != 201 && status != 200 && status != 409) {
            rc = err_set(err, -EIO, "register node %s: HTTP %ld: %s", as->node, status,
                         jsonx_get_str(node, "message") ?: "");
            json_decref(node);
            return rc;
        }
        log_info("api: registered node %s", as->node);
        json_decref(node);
        /* Read it back: the server may have set spec.podCIDR already. */
        rc = httpc_json(as->client, "GET", path, NULL, NULL, &status, &node, err);
        if (rc < 0)
            return rc;
    }
    if (status != 200 || !json_is_object(node)) {
        rc = err_set(err, -EIO, "get node %s: HTTP %ld", as->node, status);
        json_decref(node);
        return rc;
    }
    const char *cidr = jsonx_get_str(node, "spec.podCIDR");
    if (cidr && *cidr) {
        pthread_mutex_lock(&as->mu);
        bool changed = strcmp(as->pod_cidr, cidr) != 0;
        snprintf(as->pod_cidr, sizeof(as->pod_cidr), "%s", cidr);
        pthread_mutex_unlock(&as->mu);
        if (changed)
            wake_loop(as);
    }
    json_object_set_new(node, "status", node_status(as, json_object_get(node, "status")));
    char spath[600];
    snprintf(spath, sizeof(spath), "%s/status", path);
    json_t *out = NULL;
    rc = httpc_json(as->client, "PUT", spath, NULL, node, &status, &out, err);
    json_decref(node);
    json_decref(out);
    if (rc < 0)
        return rc;
    if (status != 200)
        return err_set(err, -EIO, "node %s status: HTTP %ld", as->node, status);
    return 0;
}

/* ---- pods ----------------------------------------------------------------------- */

static bool is_mirror(const json_t *pod)
{
    return json_object_get(jsonx_get(pod, "metadata.annotations"), APISYNC_MIRROR_ANN) != NULL;
}

json_t *apisync_pods(struct apisync *as)
{
    if (!as->pods || !informer_synced(as->pods))
        return NULL;
    json_t *all = informer_list(as->pods);
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(all, i, p)
    {
        const char *node = jsonx_get_str(p, "spec.nodeName");
        if (node && !strcmp(node, as->node) && !is_mirror(p))
            json_array_append(out, p);
    }
    json_decref(all);
    return out;
}

void apisync_pod_cidr(struct apisync *as, char *buf, size_t len)
{
    pthread_mutex_lock(&as->mu);
    snprintf(buf, len, "%s", as->pod_cidr);
    pthread_mutex_unlock(&as->mu);
}

void apisync_report(struct apisync *as, const json_t *statuses)
{
    json_t *copy = json_deep_copy(statuses);
    pthread_mutex_lock(&as->mu);
    json_decref(as->report);
    as->report = copy;
    pthread_cond_signal(&as->cond);
    pthread_mutex_unlock(&as->mu);
}

void apisync_delete_final(struct apisync *as, const char *ns, const char *name, const char *uid)
{
    pthread_mutex_lock(&as->mu);
    json_array_append_new(as->deletes,
                          json_pack("{s:s,s:s,s:s}", "ns", ns, "name", name, "uid", uid));
    pthread_cond_signal(&as->cond);
    pthread_mutex_unlock(&as->mu);
}

static int pod_path(char *buf, size_t len, const char *ns, const char *name, const char *sub)
{
    char *ens = httpc_escape(ns), *ename = httpc_escape(name);
    int rc = (ens && ename)
                 ? nodefs_path(buf, len, "/api/v1/namespaces/%s/pods/%s%s", ens, ename, sub)
                 : -ENOMEM;
    free(ens);
    free(ename);
    return rc;
}

static int send_delete(struct apisync *as, const char *ns, const char *name, const char *uid,
                       struct bosun_err *err)
{
    char path[1024];
    if (pod_path(path, sizeof(path), ns, name, "") < 0)
        return -ENAMETOOLONG;
    json_t *body = json_pack("{s:s,s:s,s:i}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "gracePeriodSeconds", 0);
    if (uid && *uid)
        jsonx_set_new(body, "preconditions.uid", json_string(uid));
    long status = 0;
    json_t *out = NULL;
    int rc = httpc_json(as->client, "DELETE", path, NULL, body, &status, &out, err);
    json_decref(body);
    json_decref(out);
    if (rc < 0)
        return rc;
    /* 404: already gone; 409: a newer pod of that name (precondition): not ours. */
    if (status == 200 || status == 202 || status == 404 || status == 409)
        return 0;
    return err_set(err, -EIO, "delete pod %s/%s: HTTP %ld", ns, name, status);
}

/* The mirror pod of static pod s: what the API shows for it. */
static json_t *mirror_of(const json_t *s)
{
    json_t *m = json_pack("{s:s,s:s,s:{s:s,s:s},s:O}", "apiVersion", "v1", "kind", "Pod",
                          "metadata", "name", jsonx_get_str(s, "metadata.name"), "namespace",
                          jsonx_get_str(s, "metadata.namespace"), "spec", jsonx_get(s, "spec"));
    if (!m)
        return NULL;
    const json_t *labels = jsonx_get(s, "metadata.labels");
    if (labels)
        json_object_set(json_object_get(m, "metadata"), "labels", (json_t *)labels);
    json_t *ann = json_deep_copy(jsonx_get(s, "metadata.annotations"));
    if (!ann)
        ann = json_object();
    json_object_set_new(ann, APISYNC_MIRROR_ANN,
                        json_string(jsonx_get_str(s, "metadata.uid") ?: ""));
    json_object_set_new(json_object_get(m, "metadata"), "annotations", ann);
    return m;
}

/* Mirror pods follow the static pods in report; statuses go where they belong. */
static void sync_pods(struct apisync *as, const json_t *report)
{
    struct bosun_err err = {0};
    json_t *cached = informer_list(as->pods);
    size_t i, j;
    json_t *r, *c;
    /* Mirrors no static pod wants any more. */
    json_array_foreach(cached, j, c)
    {
        if (!is_mirror(c) || strcmp(jsonx_get_str(c, "spec.nodeName") ?: "", as->node))
            continue;
        const char *want = json_string_value(
            json_object_get(jsonx_get(c, "metadata.annotations"), APISYNC_MIRROR_ANN));
        bool keep = false;
        json_array_foreach(report, i, r)
        {
            if (!strcmp(jsonx_get_str(r, "source") ?: "", "file") &&
                !strcmp(jsonx_get_str(r, "pod.metadata.uid") ?: "", want ?: ""))
                keep = true;
        }
        if (!keep) {
            const char *ns = jsonx_get_str(c, "metadata.namespace");
            const char *name = jsonx_get_str(c, "metadata.name");
            if (send_delete(as, ns, name, jsonx_get_str(c, "metadata.uid"), &err) < 0)
                log_warn("api: mirror pod %s/%s: %s", ns, name, err.msg);
            else
                log_info("api: deleted mirror pod %s/%s", ns, name);
        }
    }
    json_array_foreach(report, i, r)
    {
        const json_t *pod = json_object_get(r, "pod");
        const char *source = jsonx_get_str(r, "source") ?: "";
        const char *ns = jsonx_get_str(pod, "metadata.namespace");
        const char *name = jsonx_get_str(pod, "metadata.name");
        const char *uid = jsonx_get_str(pod, "metadata.uid");
        if (!ns || !name || !uid)
            continue;
        json_t *live = informer_get(as->pods, ns, name);
        bool is_static = !strcmp(source, "file");
        if (is_static) {
            const char *have =
                live ? json_string_value(json_object_get(jsonx_get(live, "metadata.annotations"),
                                                         APISYNC_MIRROR_ANN))
                     : NULL;
            if (!live || !have || strcmp(have, uid) != 0) {
                if (live && have) { /* an older version's mirror: the next pass recreates */
                    send_delete(as, ns, name, jsonx_get_str(live, "metadata.uid"), &err);
                    json_decref(live);
                    continue;
                }
                if (live) { /* a pod of that name the API owns: leave it alone */
                    json_decref(live);
                    continue;
                }
                json_t *m = mirror_of(pod), *out = NULL;
                long status = 0;
                char path[1024];
                char *ens = httpc_escape(ns);
                nodefs_path(path, sizeof(path), "/api/v1/namespaces/%s/pods", ens ?: "");
                free(ens);
                if (m && httpc_json(as->client, "POST", path, NULL, m, &status, &out, &err) == 0 &&
                    (status == 201 || status == 200))
                    log_info("api: created mirror pod %s/%s", ns, name);
                else if (status)
                    log_warn("api: mirror pod %s/%s: HTTP %ld: %s", ns, name, status,
                             jsonx_get_str(out, "message") ?: "");
                json_decref(m);
                json_decref(out);
                continue; /* its status goes out on the next pass, once it is cached */
            }
        } else if (!live || strcmp(jsonx_get_str(live, "metadata.uid") ?: "", uid) != 0) {
            json_decref(live);
            continue; /* gone, or replaced by another pod of the same name */
        }
        json_decref(live);

        const json_t *st = json_object_get(r, "status");
        char key[600];
        snprintf(key, sizeof(key), "%s/%s", ns, name);
        const json_t *last = json_object_get(as->sent, key);
        if (last && json_equal(last, st))
            continue;
        char path[1024];
        if (pod_path(path, sizeof(path), ns, name, "/status") < 0)
            continue;
        /* A merge patch keeps what it does not mention: the fields the node sets only
         * sometimes must be nulled when they no longer apply (a NetworkNotReady reason
         * left over from before the podCIDR arrived, the IP of a stopped pod). */
        json_t *body = json_deep_copy(st);
        static const char *const sometimes[] = {"reason", "message", "podIP", "podIPs"};
        for (size_t k = 0; body && k < sizeof(sometimes) / sizeof(sometimes[0]); k++) {
            if (!json_object_get(body, sometimes[k]))
                json_object_set_new(body, sometimes[k], json_null());
        }
        json_t *patch = json_pack("{s:o}", "status", body), *out = NULL;
        long status = 0;
        int rc = httpc_json(as->client, "PATCH", path, "application/merge-patch+json", patch,
                            &status, &out, &err);
        json_decref(patch);
        if (rc == 0 && status == 200)
            json_object_set_new(as->sent, key, json_deep_copy(st));
        else
            log_debug("api: status of %s: %s (HTTP %ld)", key, rc < 0 ? err.msg : "", status);
        json_decref(out);
    }
    json_decref(cached);
}

static void *api_thread(void *arg)
{
    struct apisync *as = arg;
    struct bosun_err err = {0};
    bool warned = false;
    pthread_mutex_lock(&as->mu);
    while (!as->stop) {
        int64_t now = time_mono_ms();
        if (now >= as->next_heartbeat_ms) {
            pthread_mutex_unlock(&as->mu);
            int rc = node_heartbeat(as, &err);
            pthread_mutex_lock(&as->mu);
            if (rc < 0) {
                if (!warned)
                    log_warn("api: %s (retrying; static pods keep running)", err.msg);
                warned = true;
                as->next_heartbeat_ms = time_mono_ms() + APISYNC_RETRY_MS;
            } else {
                if (warned)
                    log_info("api: node %s reported to %s", as->node, as->server);
                warned = false;
                /* Until the node IPAM controller gave us a podCIDR, look every second. */
                as->next_heartbeat_ms =
                    time_mono_ms() + (as->pod_cidr[0] ? APISYNC_HEARTBEAT_MS : 1000);
            }
        }
        json_t *deletes = as->deletes;
        as->deletes = json_array();
        json_t *report = json_incref(as->report);
        pthread_mutex_unlock(&as->mu);

        size_t i;
        json_t *d;
        json_t *retry = json_array();
        json_array_foreach(deletes, i, d)
        {
            if (send_delete(as, jsonx_get_str(d, "ns"), jsonx_get_str(d, "name"),
                            jsonx_get_str(d, "uid"), &err) < 0) {
                log_debug("api: %s", err.msg);
                json_array_append(retry, d);
            } else {
                log_info("api: pod %s/%s deleted", jsonx_get_str(d, "ns"),
                         jsonx_get_str(d, "name"));
            }
        }
        json_decref(deletes);
        if (report && !warned && informer_synced(as->pods))
            sync_pods(as, report);
        json_decref(report);

        pthread_mutex_lock(&as->mu);
        json_array_extend(as->deletes, retry);
        json_decref(retry);
        if (as->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&as->cond, &as->mu, &ts);
    }
    pthread_mutex_unlock(&as->mu);
    return NULL;
}

/* The object an event names. An API pod is itself (the pod loop's copy carries its uid
 * and resourceVersion). A static pod is named as the kubelet names it, by its own uid
 * (the config hash), which kubectl describe of the mirror pod looks for: it searches
 * events by the uid in the mirror's kubernetes.io/config.mirror annotation. Its events
 * wait until that mirror is in the cache: the API is reachable and describe has a pod to
 * show them on. */
static json_t *event_object(const json_t *pod, const char *source, void *userdata)
{
    struct apisync *as = userdata;
    if (strcmp(source, "file") != 0)
        return json_incref((json_t *)pod);
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    const char *name = jsonx_get_str(pod, "metadata.name");
    const char *uid = jsonx_get_str(pod, "metadata.uid");
    json_t *live = ns && name && uid ? informer_get(as->pods, ns, name) : NULL;
    const char *of = live ? json_string_value(json_object_get(
                                jsonx_get(live, "metadata.annotations"), APISYNC_MIRROR_ANN))
                          : NULL;
    bool mirrored = of && strcmp(of, uid) == 0;
    json_decref(live);
    return mirrored ? json_incref((json_t *)pod) : NULL;
}

void apisync_event(struct apisync *as, const json_t *pod, const char *source,
                   const char *field_path, const char *type, const char *reason,
                   const char *message)
{
    podevents_record(as->events, pod, source, field_path, type, reason, message);
}

int apisync_start(const struct apisync_config *cfg, struct apisync **out, struct bosun_err *err)
{
    struct apisync *as = calloc(1, sizeof(*as));
    if (!as)
        return err_set(err, -ENOMEM, "api: out of memory");
    as->cfg = *cfg;
    snprintf(as->server, sizeof(as->server), "%s", cfg->server);
    snprintf(as->token_file, sizeof(as->token_file), "%s", cfg->token_file ?: "");
    snprintf(as->node, sizeof(as->node), "%s", cfg->node_name);
    snprintf(as->node_ip, sizeof(as->node_ip), "%s", cfg->node_ip);
    snprintf(as->rt_version, sizeof(as->rt_version), "%s", cfg->runtime_version ?: "");
    pthread_mutex_init(&as->mu, NULL);
    pthread_cond_init(&as->cond, NULL);
    as->deletes = json_array();
    as->sent = json_object();
    int rc = httpc_new(as->server, as->token_file[0] ? as->token_file : NULL, &as->client, err);
    if (rc < 0)
        goto fail;
    if (cfg->ca_file && cfg->ca_file[0] &&
        (rc = httpc_set_ca_file(as->client, cfg->ca_file, err)) < 0)
        goto fail;
    char selector[300];
    snprintf(selector, sizeof(selector), "spec.nodeName=%s", as->node);
    struct informer_opts io = {
        .client = as->client,
        .path = "/api/v1/pods",
        .field_selector = selector,
        .resync_ms = 0,
        .handlers = {.on_add = on_add, .on_update = on_update, .on_delete = on_add, .userdata = as},
    };
    rc = informer_start(&io, &as->pods, err);
    if (rc < 0)
        goto fail;
    /* Events as the kubelet records them. */
    if ((rc = events_new(as->client, "kubelet", &as->recorder, err)) < 0 ||
        (rc = events_set_host(as->recorder, as->node, err)) < 0)
        goto fail;
    events_set_timeout(as->recorder, APISYNC_EVENT_TIMEOUT_MS);
    struct podevents_config pc = {
        .recorder = as->recorder, .resolve = event_object, .userdata = as};
    if ((rc = podevents_start(&pc, &as->events, err)) < 0)
        goto fail;
    if (pthread_create(&as->thread, NULL, api_thread, as) != 0) {
        rc = err_set(err, -EAGAIN, "api: cannot start its thread");
        goto fail;
    }
    as->thread_started = true;
    *out = as;
    return 0;
fail:
    apisync_stop(as);
    return err_wrap(err, "api");
}

void apisync_stop(struct apisync *as)
{
    if (!as)
        return;
    if (as->thread_started) {
        pthread_mutex_lock(&as->mu);
        as->stop = true;
        pthread_cond_signal(&as->cond);
        pthread_mutex_unlock(&as->mu);
        pthread_join(as->thread, NULL);
    }
    /* Before the informer: the posting thread looks mirror pods up in it. */
    podevents_stop(as->events, APISYNC_EVENT_FLUSH_MS);
    events_free(as->recorder);
    informer_stop(as->pods);
    httpc_free(as->client);
    json_decref(as->report);
    json_decref(as->deletes);
    json_decref(as->sent);
    pthread_mutex_destroy(&as->mu);
    pthread_cond_destroy(&as->cond);
    free(as);
}
