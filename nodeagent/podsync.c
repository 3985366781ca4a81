#include "nodeagent/podsync.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "nodeagent/bundle.h"
#include "nodeagent/crashloop.h"
#include "nodeagent/nodefs.h"

#define PODSYNC_STEADY_MS 5000
/* How long a stopped container may lack conmon's exit file before its code is unknown. */
#define PODSYNC_EXIT_WAIT_MS 2000
#define PODSYNC_NET_RETRY_MS 2000
/* A network setup that keeps failing the same way is an event this often at most. */
#define PODSYNC_NET_EVENT_MS 30000

enum ctr_state { CTR_WAITING, CTR_RUNNING, CTR_TERMINATED };

struct ctr {
    char name[64];
    char image[256];
    char id[160];      /* current runtime id; "" when no instance exists */
    int restart_count; /* restarts so far = the instance number of the current one */
    struct crashloop backoff;
    int64_t next_start_ms;    /* mono: not before */
    int64_t stopped_seen_ms;  /* mono: first pass that saw the instance stopped, 0 none */
    bool done;                /* terminated, and the restart policy says stay so */
    bool image_failed;        /* the last start failed on the image (ImagePullBackOff) */
    int64_t backoff_event_ms; /* the next_start_ms a BackOff event was recorded for */

    enum ctr_state state;
    char reason[64];
    char message[ERR_MSG_MAX + 128];
    int exit_code;
    time_t started_at, finished_at;
    char image_id[80];

    bool has_last; /* lastState.terminated */
    int last_exit_code;
    char last_reason[64];
    time_t last_started_at, last_finished_at;
};

struct pod {
    char uid[64], ns[254], name[254];
    char source[8];
    json_t *obj; /* the Pod (owned) */
    bool desired, host_network;
    bool awaiting_source; /* loaded from disk; its source has not reported yet */
    bool terminating, killed;
    int64_t kill_at;
    char netns[32];
    char ip[64];
    bool net_ready;
    int64_t net_retry_ms;
    char net_message[ERR_MSG_MAX];
    int64_t net_event_ms; /* mono: when the last network failure event was recorded */
    time_t start_time;
    struct ctr *ctrs;
    size_t nctrs;
    char *status_written; /* last status.json content (owned) */
    bool state_saved;     /* state.json written at least once by this run */
};

struct podsync {
    struct podsync_config cfg;
    char pods_dir[PATH_MAX];
    char logs_dir[PATH_MAX];
    struct pod **pods;
    size_t npods;
};

static const char *restart_policy(const struct pod *p)
{
    const char *rp = jsonx_get_str(p->obj, "spec.restartPolicy");
    return rp ? rp : "Always";
}

static void pod_dir(const struct podsync *ps, const struct pod *p, char *buf, size_t len)
{
    nodefs_path(buf, len, "%s/%s", ps->pods_dir, p->uid);
}

static void bundle_dir(const struct podsync *ps, const struct pod *p, const struct ctr *c,
                       char *buf, size_t len)
{
    nodefs_path(buf, len, "%s/%s/containers/%s", ps->pods_dir, p->uid, c->name);
}

static void fmt_time(time_t t, char *buf, size_t len)
{
    time_rfc3339(t, buf, len);
}

/* An Event about the pod (c NULL) or one of its containers. A hollow node records none:
 * it pulls, creates and starts nothing. */
static void pod_event(const struct podsync *ps, const struct pod *p, const struct ctr *c,
                      const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void pod_event(const struct podsync *ps, const struct pod *p, const struct ctr *c,
                      const char *type, const char *reason, const char *fmt, ...)
{
    if (!ps->cfg.on_event || ps->cfg.runtime->kind == RUNTIME_FAKE)
        return;
    char msg[1024], field[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c)
        snprintf(field, sizeof(field), "spec.containers{%s}", c->name);
    ps->cfg.on_event(p->obj, p->source, c ? field : NULL, type, reason, msg, ps->cfg.userdata);
}

/* ---- persistence ------------------------------------------------------------ */

static void pod_save_state(const struct podsync *ps, struct pod *p)
{
    json_t *ctrs = json_array();
    for (size_t i = 0; i < p->nctrs; i++) {
        struct ctr *c = &p->ctrs[i];
        json_array_append_new(
            ctrs,
            json_pack("{s:s,s:s,s:i,s:i,s:b,s:i,s:I,s:I,s:b,s:i,s:s,s:I,s:I}", "name", c->name,
                      "id", c->id, "restartCount", c->restart_count, "exits", c->backoff.exits,
                      "done", c->done, "exitCode", c->exit_code, "startedAt",
                      (json_int_t)c->started_at, "finishedAt", (json_int_t)c->finished_at,
                      "hasLast", c->has_last, "lastExitCode", c->last_exit_code, "lastReason",
                      c->last_reason, "lastStartedAt", (json_int_t)c->last_started_at,
                      "lastFinishedAt", (json_int_t)c->last_finished_at));
    }
    json_t *st = json_pack("{s:O,s:s,s:s,s:s,s:b,s:I,s:o}", "pod", p->obj, "source", p->source,
                           "netns", p->netns, "ip", p->ip, "netReady", p->net_ready, "startTime",
                           (json_int_t)p->start_time, "containers", ctrs);
    char dir[PATH_MAX], path[PATH_MAX];
    pod_dir(ps, p, dir, sizeof(dir));
    nodefs_path(path, sizeof(path), "%s/state.json", dir);
    char *s = st ? json_dumps(st, JSON_COMPACT) : NULL;
    struct bosun_err err = {0};
    if (!s || nodefs_mkdir_p(dir, 0700, &err) < 0 ||
        fileutil_write_atomic(path, s, strlen(s), 0644, &err) < 0)
        log_warn("pod %s/%s: save state: %s", p->ns, p->name, s ? err.msg : "out of memory");
    free(s);
    json_decref(st);
}

static void ctr_init(struct ctr *c, const json_t *spec)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", jsonx_get_str(spec, "name"));
    const char *img = jsonx_get_str(spec, "image");
    snprintf(c->image, sizeof(c->image), "%s", img ? img : "");
    c->state = CTR_WAITING;
    snprintf(c->reason, sizeof(c->reason), "ContainerCreating");
    c->exit_code = -1;
}

static struct pod *pod_new(const json_t *obj, const char *source)
{
    struct pod *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->obj = json_deep_copy(obj);
    const json_t *cs = jsonx_get(obj, "spec.containers");
    size_t n = json_array_size(cs);
    p->ctrs = calloc(n ? n : 1, sizeof(*p->ctrs));
    if (!p->obj || !p->ctrs) {
        json_decref(p->obj);
        free(p->ctrs);
        free(p);
        return NULL;
    }
    snprintf(p->uid, sizeof(p->uid), "%s", jsonx_get_str(obj, "metadata.uid"));
    const char *ns = jsonx_get_str(obj, "metadata.namespace");
    snprintf(p->ns, sizeof(p->ns), "%s", ns ? ns : "default");
    snprintf(p->name, sizeof(p->name), "%s", jsonx_get_str(obj, "metadata.name"));
    snprintf(p->source, sizeof(p->source), "%s", source);
    p->host_network = jsonx_get(obj, "spec.hostNetwork") == json_true();
    /* Short and derived from the uid: interface-name rules cap netns names at 15. */
    char hex[16] = "";
    size_t h = 0;
    for (const char *u = p->uid; *u && h < 8; u++) {
        if ((*u >= '0' && *u <= '9') || (*u >= 'a' && *u <= 'f'))
            hex[h++] = *u;
    }
    hex[h] = '\0';
    snprintf(p->netns, sizeof(p->netns), "bosun-%s", hex);
    p->nctrs = n;
    for (size_t i = 0; i < n; i++)
        ctr_init(&p->ctrs[i], json_array_get(cs, i));
    return p;
}

static void pod_free(struct pod *p)
{
    if (!p)
        return;
    json_decref(p->obj);
    free(p->ctrs);
    free(p->status_written);
    free(p);
}

static void pod_load(struct podsync *ps, const char *uid)
{
    char path[PATH_MAX];
    nodefs_path(path, sizeof(path), "%s/%s/state.json", ps->pods_dir, uid);
    struct bosun_err err = {0};
    json_t *st = jsonx_load_file(path, &err);
    if (!st) {
        log_warn("pod %s: cannot read its saved state (%s); its leftovers stay in %s/%s", uid,
                 err.msg, ps->pods_dir, uid);
        return;
    }
    const json_t *obj = json_object_get(st, "pod");
    const char *source = jsonx_get_str(st, "source");
    struct pod *p =
        obj && jsonx_get_str(obj, "metadata.uid") ? pod_new(obj, source ? source : "file") : NULL;
    struct pod **np = p ? realloc(ps->pods, (ps->npods + 1) * sizeof(*np)) : NULL;
    if (!np) {
        pod_free(p);
        json_decref(st);
        return;
    }
    ps->pods = np;
    const char *netns = jsonx_get_str(st, "netns");
    const char *ip = jsonx_get_str(st, "ip");
    if (netns)
        snprintf(p->netns, sizeof(p->netns), "%s", netns);
    snprintf(p->ip, sizeof(p->ip), "%s", ip ? ip : "");
    p->net_ready = jsonx_get(st, "netReady") == json_true();
    p->start_time = (time_t)jsonx_get_int(st, "startTime", 0);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "containers"), i, c)
    {
        const char *name = jsonx_get_str(c, "name");
        for (size_t k = 0; name && k < p->nctrs; k++) {
            struct ctr *x = &p->ctrs[k];
            if (strcmp(x->name, name) != 0)
                continue;
            const char *id = jsonx_get_str(c, "id");
            snprintf(x->id, sizeof(x->id), "%s", id ? id : "");
            x->restart_count = (int)jsonx_get_int(c, "restartCount", 0);
            crashloop_restore(&x->backoff, (int)jsonx_get_int(c, "exits", 0));
            x->done = jsonx_get(c, "done") == json_true();
            x->exit_code = (int)jsonx_get_int(c, "exitCode", -1);
            x->started_at = (time_t)jsonx_get_int(c, "startedAt", 0);
            x->finished_at = (time_t)jsonx_get_int(c, "finishedAt", 0);
            x->has_last = jsonx_get(c, "hasLast") == json_true();
            x->last_exit_code = (int)jsonx_get_int(c, "lastExitCode", 0);
            const char *lr = jsonx_get_str(c, "lastReason");
            snprintf(x->last_reason, sizeof(x->last_reason), "%s", lr ? lr : "");
            x->last_started_at = (time_t)jsonx_get_int(c, "lastStartedAt", 0);
            x->last_finished_at = (time_t)jsonx_get_int(c, "lastFinishedAt", 0);
            if (x->done) {
                x->state = CTR_TERMINATED;
                snprintf(x->reason, sizeof(x->reason), "%s",
                         x->exit_code == 0 ? "Completed" : "Error");
            }
        }
    }
    p->desired = true;
    p->awaiting_source = true;
    ps->pods[ps->npods++] = p;
    log_info("pod %s/%s (%s): found from a previous run", p->ns, p->name, p->uid);
    json_decref(st);
}

int podsync_new(const struct podsync_config *cfg, struct podsync **out, struct bosun_err *err)
{
    struct podsync *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return err_set(err, -ENOMEM, "podsync: out of memory");
    ps->cfg = *cfg;
    nodefs_path(ps->pods_dir, sizeof(ps->pods_dir), "%s/pods", cfg->root_dir);
    nodefs_path(ps->logs_dir, sizeof(ps->logs_dir), "%s/logs", cfg->root_dir);
    int rc;
    if ((rc = nodefs_mkdir_p(ps->pods_dir, 0700, err)) < 0 ||
        (rc = nodefs_mkdir_p(ps->logs_dir, 0755, err)) < 0) {
        free(ps);
        return err_wrap(err, "podsync");
    }
    DIR *d = opendir(ps->pods_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] != '.')
                pod_load(ps, e->d_name);
        }
        closedir(d);
    }
    *out = ps;
    return 0;
}

void podsync_free(struct podsync *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->npods; i++)
        pod_free(ps->pods[i]);
    free(ps->pods);
    free(ps);
}

size_t podsync_count(const struct podsync *ps)
{
    return ps->npods;
}

void podsync_set_desired(struct podsync *ps, const char *source, const json_t *pods)
{
    for (size_t i = 0; i < ps->npods; i++) {
        if (strcmp(ps->pods[i]->source, source) == 0) {
            ps->pods[i]->desired = false;
            ps->pods[i]->awaiting_source = false;
        }
    }
    size_t k;
    json_t *obj;
    json_array_foreach(pods, k, obj)
    {
        const char *uid = jsonx_get_str(obj, "metadata.uid");
        if (!uid || !*uid || strlen(uid) >= 64 || strchr(uid, '/') || strstr(uid, ".."))
            continue;
        struct pod *found = NULL;
        for (size_t i = 0; i < ps->npods; i++) {
            if (strcmp(ps->pods[i]->uid, uid) == 0)
                found = ps->pods[i];
        }
        if (found) {
            /* A pod being stopped stays stopped: the same uid never comes back. */
            if (!found->terminating) {
                found->desired = true;
                json_decref(found->obj);
                found->obj = json_deep_copy(obj);
            }
            continue;
        }
        struct pod *p = pod_new(obj, source);
        struct pod **np = p ? realloc(ps->pods, (ps->npods + 1) * sizeof(*np)) : NULL;
        if (!np) {
            pod_free(p);
            log_error("pod %s: out of memory", uid);
            continue;
        }
        ps->pods = np;
        p->desired = true;
        ps->pods[ps->npods++] = p;
        log_info("pod %s/%s (%s): added", p->ns, p->name, p->uid);
    }
}

void podsync_stop_all(struct podsync *ps)
{
    for (size_t i = 0; i < ps->npods; i++) {
        ps->pods[i]->desired = false;
        ps->pods[i]->awaiting_source = false;
    }
}

int podsync_has(const struct podsync *ps, const char *uid)
{
    for (size_t i = 0; i < ps->npods; i++) {
        if (strcmp(ps->pods[i]->uid, uid) == 0)
            return 1;
    }
    return 0;
}

/* ---- network ----------------------------------------------------------------- */

static int write_etc(struct podsync *ps, struct pod *p, struct bosun_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    pod_dir(ps, p, dir, sizeof(dir));
    nodefs_path(dir + strlen(dir), sizeof(dir) - strlen(dir), "/etc");
    int rc = nodefs_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    const char *hostname = p->name;
    char hosts[1024];
    int n = snprintf(hosts, sizeof(hosts),
                     "# managed by bosun nodeagent\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                     "ip6-localhost ip6-loopback\n%s\t%s\n",
                     p->ip[0] ? p->ip : "127.0.1.1", hostname);
    nodefs_path(path, sizeof(path), "%s/hosts", dir);
    if ((rc = fileutil_write_atomic(path, hosts, (size_t)n, 0644, err)) < 0)
        return rc;
    n = snprintf(hosts, sizeof(hosts), "%s\n", hostname);
    nodefs_path(path, sizeof(path), "%s/hostname", dir);
    if ((rc = fileutil_write_atomic(path, hosts, (size_t)n, 0644, err)) < 0)
        return rc;
    /* No cluster DNS yet: the pod resolves as the host does. */
    char *resolv = NULL;
    size_t rlen = 0;
    if (fileutil_read_all("/etc/resolv.conf", 65536, &resolv, &rlen, NULL) < 0) {
        resolv = strdup("");
        rlen = 0;
    }
    nodefs_path(path, sizeof(path), "%s/resolv.conf", dir);
    rc = resolv ? fileutil_write_atomic(path, resolv, rlen, 0644, err) : -ENOMEM;
    free(resolv);
    return rc;
}

static int pod_network_up(struct podsync *ps, struct pod *p, struct bosun_err *err)
{
    /* A hollow node (--runtime fake) makes no namespaces: its pods show the node's IP. */
    if (p->host_network || ps->cfg.runtime->kind == RUNTIME_FAKE) {
        snprintf(p->ip, sizeof(p->ip), "%s", ps->cfg.node_ip ? ps->cfg.node_ip : "");
        return write_etc(ps, p, err);
    }
    if (!ps->cfg.cni->subnet[0])
        return err_set(err, -EAGAIN,
                       "no podCIDR yet (the node has not registered; pass --pod-cidr to run "
                       "static pods without the API)");
    int rc = cni_netns_add(p->netns, err);
    if (rc < 0 && rc != -EEXIST)
        return rc;
    /* Remember the bridge was ours before the plugin creates it (shutdown removes it). */
    if (!cni_bridge_exists(ps->cfg.cni->bridge)) {
        char marker[PATH_MAX];
        nodefs_path(marker, sizeof(marker), "%s/cni/bridge-created", ps->cfg.root_dir);
        fileutil_write_atomic(marker, ps->cfg.cni->bridge, strlen(ps->cfg.cni->bridge), 0644, NULL);
    }
    int64_t t0 = time_mono_ms();
    rc = cni_add(ps->cfg.cni, p->uid, p->netns, p->ip, sizeof(p->ip), err);
    if (rc < 0) {
        cni_del(ps->cfg.cni, p->uid, p->netns, NULL);
        cni_netns_del(p->netns, NULL);
        p->ip[0] = '\0';
        return err_wrap(err, "cni: add pod %s/%s", p->ns, p->name);
    }
    log_debug("pod %s/%s: netns %s ip %s (%lld ms)", p->ns, p->name, p->netns, p->ip,
              (long long)(time_mono_ms() - t0));
    return write_etc(ps, p, err);
}

/* ---- containers ---------------------------------------------------------------- */

static const json_t *ctr_spec(const struct pod *p, const struct ctr *c)
{
    size_t i;
    json_t *s;
    json_array_foreach(jsonx_get(p->obj, "spec.containers"), i, s)
    {
        const char *n = jsonx_get_str(s, "name");
        if (n && strcmp(n, c->name) == 0)
            return s;
    }
    return NULL;
}

/* Removes the container's current instance (runtime state, bundle, overlay). */
static int ctr_remove_instance(struct podsync *ps, struct pod *p, struct ctr *c,
                               struct bosun_err *err)
{
    int rc = 0;
    if (c->id[0]) {
        rc = runtime_delete(ps->cfg.runtime, c->id, err);
        if (rc < 0)
            return rc;
    }
    char dir[PATH_MAX];
    bundle_dir(ps, p, c, dir, sizeof(dir));
    rc = bundle_remove(dir, err);
    if (rc < 0)
        return rc;
    c->id[0] = '\0';
    c->stopped_seen_ms = 0;
    return 0;
}

static int ctr_start(struct podsync *ps, struct pod *p, struct ctr *c, struct bosun_err *err)
{
    const json_t *spec = ctr_spec(p, c);
    struct image img = {0};
    json_t *config = NULL;
    char dir[PATH_MAX], logdir[PATH_MAX], logpath[PATH_MAX], etc[PATH_MAX], cg[512],
        netns[PATH_MAX];
    int rc;
    bool mounted = false, created = false;

    if (ps->cfg.runtime->kind == RUNTIME_FAKE) {
        /* Hollow node: no image, no rootfs, nothing runs; the pod reports Running. */
        snprintf(c->id, sizeof(c->id), "%s-%s-%d", p->uid, c->name, c->restart_count);
        if ((rc = runtime_create(ps->cfg.runtime, c->id, "", "", err)) < 0 ||
            (rc = runtime_start(ps->cfg.runtime, c->id, err)) < 0) {
            c->id[0] = '\0';
            snprintf(c->reason, sizeof(c->reason), "CreateContainerError");
            goto out;
        }
        c->state = CTR_RUNNING;
        c->reason[0] = c->message[0] = '\0';
        c->started_at = time(NULL);
        c->exit_code = -1;
        goto out;
    }
    rc = image_store_get(ps->cfg.images, c->image, &img, err);
    if (rc < 0) {
        /* There are no registry pulls: an image missing from the store is a failed pull,
         * unless the pod said never to pull. */
        const char *policy = jsonx_get_str(spec, "imagePullPolicy");
        c->image_failed = true;
        if (rc == -ENOENT && policy && strcmp(policy, "Never") == 0) {
            snprintf(c->reason, sizeof(c->reason), "ErrImageNeverPull");
            pod_event(ps, p, c, "Warning", "ErrImageNeverPull",
                      "Container image \"%s\" is not present with pull policy of Never", c->image);
        } else {
            snprintf(c->reason, sizeof(c->reason), "ErrImagePull");
            pod_event(ps, p, c, "Warning", "Failed", "Failed to pull image \"%s\": %s", c->image,
                      err->msg);
        }
        pod_event(ps, p, c, "Warning", "Failed", "Error: %s", c->reason);
        goto out;
    }
    c->image_failed = false;
    pod_event(ps, p, c, "Normal", "Pulled", "Container image \"%s\" already present on machine",
              c->image);
    snprintf(c->image_id, sizeof(c->image_id), "%s", img.digest);
    snprintf(c->id, sizeof(c->id), "%s-%s-%d", p->uid, c->name, c->restart_count);
    bundle_dir(ps, p, c, dir, sizeof(dir));
    bundle_remove(dir, NULL); /* leftovers of an instance that never started */
    if ((rc = bundle_rootfs_mount(dir, img.rootfs, err)) < 0)
        goto fail_create;
    mounted = true;

    unsigned uid = 0, gid = 0;
    char rootfs[PATH_MAX];
    nodefs_path(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    if ((rc = bundle_resolve_user(p->obj, spec, img.config, img.rootfs, &uid, &gid, err)) < 0)
        goto fail_create;
    pod_dir(ps, p, etc, sizeof(etc));
    nodefs_path(etc + strlen(etc), sizeof(etc) - strlen(etc), "/etc");
    nodefs_path(cg, sizeof(cg), "/bosun/%s/%s", p->uid, c->name);
    nodefs_path(netns, sizeof(netns), "%s/%s", CNI_NETNS_DIR, p->netns);
    struct bundle_spec bs = {
        .pod = p->obj,
        .container = spec,
        .image_config = img.config,
        .rootfs = rootfs,
        .netns_path = p->host_network ? NULL : netns,
        .cgroups_path = cg,
        .hostname = p->name,
        .etc_dir = etc,
        .uid = uid,
        .gid = gid,
    };
    config = bundle_config(&bs, err);
    if (!config) {
        rc = err->code ? err->code : -EINVAL;
        goto fail_create;
    }
    if ((rc = bundle_write_config(dir, config, err)) < 0)
        goto fail_create;
    nodefs_path(logdir, sizeof(logdir), "%s/%s_%s_%s/%s", ps->logs_dir, p->ns, p->name, p->uid,
                c->name);
    nodefs_path(logpath, sizeof(logpath), "%s/%d.log", logdir, c->restart_count);
    if ((rc = nodefs_mkdir_p(logdir, 0755, err)) < 0)
        goto fail_create;
    if ((rc = runtime_create(ps->cfg.runtime, c->id, dir, logpath, err)) < 0)
        goto fail_create;
    created = true;
    pod_event(ps, p, c, "Normal", "Created", "Created container %s", c->name);
    if ((rc = runtime_start(ps->cfg.runtime, c->id, err)) < 0)
        goto fail_create;
    pod_event(ps, p, c, "Normal", "Started", "Started container %s", c->name);
    c->state = CTR_RUNNING;
    c->reason[0] = c->message[0] = '\0';
    c->started_at = time(NULL);
    c->exit_code = -1;
    goto out;

fail_create:
    snprintf(c->reason, sizeof(c->reason), "CreateContainerError");
    pod_event(ps, p, c, "Warning", "Failed", "Error: %s", err->msg);
    if (created)
        runtime_delete(ps->cfg.runtime, c->id, NULL);
    if (mounted || nodefs_exists(dir))
        bundle_remove(dir, NULL);
    c->id[0] = '\0';
out:
    if (rc < 0) {
        c->state = CTR_WAITING;
        snprintf(c->message, sizeof(c->message), "%s", err->msg);
    }
    json_decref(config);
    image_free(&img);
    return rc;
}

/* Records that the current instance ended (exit code, times) and whether to restart. */
static void ctr_ended(struct pod *p, struct ctr *c, int exit_code, time_t finished)
{
    c->state = CTR_TERMINATED;
    c->exit_code = exit_code;
    c->finished_at = finished ? finished : time(NULL);
    snprintf(c->reason, sizeof(c->reason), "%s",
             exit_code == 0     ? "Completed"
             : exit_code == 137 ? "Error"
                                : "Error");
    c->message[0] = '\0';
    const char *rp = restart_policy(p);
    bool restart = strcmp(rp, "Always") == 0 || (strcmp(rp, "OnFailure") == 0 && exit_code != 0);
    if (!restart) {
        c->done = true;
        return;
    }
    int64_t ran_ms = (int64_t)(c->finished_at - c->started_at) * 1000;
    int64_t delay = crashloop_next(&c->backoff, ran_ms);
    c->next_start_ms = time_mono_ms() + delay;
    log_info("pod %s/%s: container %s exited with %d; restart in %lld s", p->ns, p->name, c->name,
             exit_code, (long long)(delay / 1000));
}

/* Observes one container and moves it on. Returns ms until it needs another look. */
static int64_t ctr_sync(struct podsync *ps, struct pod *p, struct ctr *c)
{
    struct bosun_err err = {0};
    int64_t now = time_mono_ms();
    if (c->id[0]) {
        struct runtime_state st;
        if (runtime_state(ps->cfg.runtime, c->id, &st, &err) < 0) {
            log_warn("pod %s/%s: container %s: %s", p->ns, p->name, c->name, err.msg);
            return PODSYNC_NET_RETRY_MS;
        }
        if (st.status == RUNTIME_RUNNING) {
            if (c->state != CTR_RUNNING) {
                c->state = CTR_RUNNING;
                c->reason[0] = '\0';
                if (!c->started_at)
                    c->started_at = time(NULL);
            }
            return PODSYNC_STEADY_MS;
        }
        if (st.status == RUNTIME_CREATED) {
            if (runtime_start(ps->cfg.runtime, c->id, &err) < 0)
                log_warn("pod %s/%s: container %s: %s", p->ns, p->name, c->name, err.msg);
            return 500;
        }
        /* Stopped or gone. conmon writes the exit file just after the process dies. */
        if (st.exit_code < 0 && st.status == RUNTIME_STOPPED) {
            if (!c->stopped_seen_ms)
                c->stopped_seen_ms = now;
            if (now - c->stopped_seen_ms < PODSYNC_EXIT_WAIT_MS)
                return 100;
        }
        int code = st.exit_code >= 0 ? st.exit_code : 137;
        c->has_last = true;
        ctr_ended(p, c, code, (time_t)st.finished_at);
        if (st.exit_code < 0)
            snprintf(c->reason, sizeof(c->reason), "ContainerStatusUnknown");
        c->last_exit_code = c->exit_code;
        snprintf(c->last_reason, sizeof(c->last_reason), "%s", c->reason);
        c->last_started_at = c->started_at;
        c->last_finished_at = c->finished_at;
        if (ctr_remove_instance(ps, p, c, &err) < 0)
            log_warn("pod %s/%s: container %s: cleanup: %s", p->ns, p->name, c->name, err.msg);
        pod_save_state(ps, p);
    }
    if (c->done)
        return -1;
    if (now < c->next_start_ms) {
        if (c->state == CTR_TERMINATED || c->state == CTR_WAITING) {
            c->state = CTR_WAITING;
            if (c->image_failed) {
                snprintf(c->reason, sizeof(c->reason), "ImagePullBackOff");
                snprintf(c->message, sizeof(c->message), "Back-off pulling image \"%s\"", c->image);
            } else {
                snprintf(c->reason, sizeof(c->reason), "CrashLoopBackOff");
                snprintf(c->message, sizeof(c->message),
                         "back-off restarting failed container %s in pod %s/%s", c->name, p->ns,
                         p->name);
            }
        }
        /* Once per delayed start, not once per pass. */
        if (c->backoff_event_ms != c->next_start_ms) {
            c->backoff_event_ms = c->next_start_ms;
            if (c->image_failed)
                pod_event(ps, p, c, "Normal", "BackOff", "Back-off pulling image \"%s\"", c->image);
            else if (c->has_last)
                pod_event(ps, p, c, "Warning", "BackOff",
                          "Back-off restarting failed container %s in pod %s_%s(%s)", c->name,
                          p->name, p->ns, p->uid);
        }
        return c->next_start_ms - now;
    }
    if (c->finished_at)
        c->restart_count++; /* a previous instance ended: this one is a restart */
    int64_t t0 = time_mono_ms();
    int rc = ctr_start(ps, p, c, &err);
    if (rc < 0) {
        log_error("pod %s/%s: container %s: %s", p->ns, p->name, c->name, err.msg);
        if (c->finished_at)
            c->restart_count--; /* this attempt did not make an instance */
        c->next_start_ms = time_mono_ms() + crashloop_next(&c->backoff, 0) + 1000;
    } else {
        c->finished_at = 0;
        log_info("pod %s/%s: container %s started (%s, restart %d, %lld ms)", p->ns, p->name,
                 c->name, c->id, c->restart_count, (long long)(time_mono_ms() - t0));
    }
    pod_save_state(ps, p);
    return rc < 0 ? c->next_start_ms - time_mono_ms() : 300;
}

/* ---- status -------------------------------------------------------------------- */

static json_t *ctr_status(const struct pod *p, const struct ctr *c)
{
    char t1[40], t2[40];
    json_t *state;
    if (c->state == CTR_RUNNING) {
        fmt_time(c->started_at, t1, sizeof(t1));
        state = json_pack("{s:{s:s}}", "running", "startedAt", t1);
    } else if (c->state == CTR_TERMINATED) {
        fmt_time(c->started_at, t1, sizeof(t1));
        fmt_time(c->finished_at, t2, sizeof(t2));
        state =
            json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "terminated", "exitCode", c->exit_code, "reason",
                      c->reason, "startedAt", t1, "finishedAt", t2, "containerID", "");
    } else {
        state = json_pack("{s:{s:s}}", "waiting", "reason", c->reason[0] ? c->reason : "Waiting");
        if (c->message[0])
            jsonx_set_new(state, "waiting.message", json_string(c->message));
    }
    json_t *last = json_object();
    if (c->has_last && c->last_finished_at) {
        fmt_time(c->last_started_at, t1, sizeof(t1));
        fmt_time(c->last_finished_at, t2, sizeof(t2));
        json_object_set_new(last, "terminated",
                            json_pack("{s:i,s:s,s:s,s:s}", "exitCode", c->last_exit_code, "reason",
                                      c->last_reason, "startedAt", t1, "finishedAt", t2));
    }
    char cid[200] = "";
    if (c->id[0])
        snprintf(cid, sizeof(cid), "runc://%s", c->id);
    (void)p;
    json_t *s =
        json_pack("{s:s,s:o,s:o,s:b,s:b,s:i,s:s,s:s}", "name", c->name, "state", state, "lastState",
                  last, "ready", c->state == CTR_RUNNING, "started", c->state == CTR_RUNNING,
                  "restartCount", c->restart_count, "image", c->image, "imageID", c->image_id);
    if (cid[0])
        json_object_set_new(s, "containerID", json_string(cid));
    return s;
}

static json_t *pod_status(const struct podsync *ps, const struct pod *p)
{
    size_t running = 0, succeeded = 0, failed = 0, waiting = 0;
    for (size_t i = 0; i < p->nctrs; i++) {
        const struct ctr *c = &p->ctrs[i];
        if (c->state == CTR_RUNNING)
            running++;
        else if (c->state == CTR_TERMINATED && c->done)
            *(c->exit_code == 0 ? &succeeded : &failed) += 1;
        else
            waiting++;
    }
    const char *phase = "Pending";
    if (p->nctrs && succeeded == p->nctrs)
        phase = "Succeeded";
    else if (p->nctrs && succeeded + failed == p->nctrs)
        phase = "Failed";
    else if (running > 0 || (p->net_ready && waiting < p->nctrs && failed + succeeded > 0))
        phase = "Running";
    else if (p->net_ready) {
        /* Containers that ran once and wait for a restart keep the pod Running. */
        for (size_t i = 0; i < p->nctrs; i++) {
            if (p->ctrs[i].restart_count > 0 || p->ctrs[i].has_last)
                phase = "Running";
        }
    }
    bool ready = p->nctrs > 0 && running == p->nctrs && !p->terminating;
    char st[40], now[40];
    fmt_time(p->start_time ? p->start_time : time(NULL), st, sizeof(st));
    fmt_time(time(NULL), now, sizeof(now));
    json_t *cs = json_array();
    for (size_t i = 0; i < p->nctrs; i++)
        json_array_append_new(cs, ctr_status(p, &p->ctrs[i]));
    json_t *conds = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "type", "PodScheduled",
                              "status", "True", "type", "Initialized", "status", "True", "type",
                              "ContainersReady", "status", ready ? "True" : "False", "type",
                              "Ready", "status", ready ? "True" : "False");
    json_t *s = json_pack("{s:s,s:s,s:s,s:o,s:o}", "phase", phase, "hostIP",
                          ps->cfg.node_ip ? ps->cfg.node_ip : "", "startTime", st, "conditions",
                          conds, "containerStatuses", cs);
    if (p->net_ready && p->ip[0]) {
        json_object_set_new(s, "podIP", json_string(p->ip));
        json_object_set_new(s, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
    }
    if (!p->net_ready && p->net_message[0]) {
        json_object_set_new(s, "reason", json_string("NetworkNotReady"));
        json_object_set_new(s, "message", json_string(p->net_message));
    }
    (void)now;
    return s;
}

static void pod_write_status(struct podsync *ps, struct pod *p)
{
    json_t *st = pod_status(ps, p);
    /* startTime aside, only write when something changed. */
    char *s = st ? json_dumps(st, JSON_INDENT(2)) : NULL;
    json_decref(st);
    if (!s)
        return;
    if (p->status_written && strcmp(p->status_written, s) == 0) {
        free(s);
        return;
    }
    char path[PATH_MAX];
    nodefs_path(path, sizeof(path), "%s/%s/status.json", ps->pods_dir, p->uid);
    struct bosun_err err = {0};
    char dir[PATH_MAX];
    pod_dir(ps, p, dir, sizeof(dir));
    if (nodefs_mkdir_p(dir, 0700, &err) < 0 || fileutil_write_atomic(path, s, strlen(s), 0644, &err) < 0) {
        log_warn("pod %s/%s: write status: %s", p->ns, p->name, err.msg);
        free(s);
        return;
    }
    free(p->status_written);
    p->status_written = s;
}

json_t *podsync_statuses(const struct podsync *ps)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < ps->npods; i++) {
        const struct pod *p = ps->pods[i];
        json_array_append_new(out, json_pack("{s:s,s:O,s:o}", "source", p->source, "pod", p->obj,
                                             "status", pod_status(ps, p)));
    }
    return out;
}

json_t *podsync_status(const struct podsync *ps, const char *uid)
{
    for (size_t i = 0; i < ps->npods; i++) {
        if (strcmp(ps->pods[i]->uid, uid) == 0)
            return pod_status(ps, ps->pods[i]);
    }
    return NULL;
}

/* ---- teardown ------------------------------------------------------------------ */

static void remove_cgroups(const char *uid)
{
    DIR *d = opendir("/sys/fs/cgroup");
    if (!d)
        return;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        nodefs_path(p, sizeof(p), "/sys/fs/cgroup/%s/bosun/%s", e->d_name, uid);
        rmdir(p);
    }
    closedir(d);
    nodefs_path(p, sizeof(p), "/sys/fs/cgroup/bosun/%s", uid); /* pure cgroup v2 */
    rmdir(p);
}

/* Stops the pod step by step; returns 1 once everything it made is gone. */
static int pod_teardown(struct podsync *ps, struct pod *p, int64_t *next)
{
    struct bosun_err err = {0};
    int64_t now = time_mono_ms();
    if (!p->terminating) {
        p->terminating = true;
        long long grace = jsonx_get_int(p->obj, "metadata.deletionGracePeriodSeconds", -1);
        if (grace < 0)
            grace = jsonx_get_int(p->obj, "spec.terminationGracePeriodSeconds", 30);
        p->kill_at = now + grace * 1000;
        log_info("pod %s/%s (%s): stopping (grace %llds)", p->ns, p->name, p->uid, grace);
        for (size_t i = 0; i < p->nctrs; i++) {
            struct ctr *c = &p->ctrs[i];
            if (!c->id[0])
                continue;
            if (c->state == CTR_RUNNING)
                pod_event(ps, p, c, "Normal", "Killing", "Stopping container %s", c->name);
            if (runtime_kill(ps->cfg.runtime, c->id, grace > 0 ? SIGTERM : SIGKILL, &err) < 0)
                log_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
        }
    }
    bool alive = false;
    for (size_t i = 0; i < p->nctrs; i++) {
        struct ctr *c = &p->ctrs[i];
        if (!c->id[0])
            continue;
        struct runtime_state st;
        if (runtime_state(ps->cfg.runtime, c->id, &st, &err) < 0) {
            log_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
            alive = true;
            continue;
        }
        if (st.status == RUNTIME_RUNNING) {
            alive = true;
            continue;
        }
        if (ctr_remove_instance(ps, p, c, &err) < 0) {
            log_warn("pod %s/%s: container %s: %s", p->ns, p->name, c->name, err.msg);
            alive = true;
        }
    }
    if (alive) {
        if (now >= p->kill_at && !p->killed) {
            p->killed = true;
            log_info("pod %s/%s: grace period over, SIGKILL", p->ns, p->name);
            for (size_t i = 0; i < p->nctrs; i++) {
                if (p->ctrs[i].id[0])
                    runtime_kill(ps->cfg.runtime, p->ctrs[i].id, SIGKILL, NULL);
            }
        }
        *next = 100;
        return 0;
    }
    /* Bundle directories of containers that never got an instance. */
    for (size_t i = 0; i < p->nctrs; i++) {
        char dir[PATH_MAX];
        bundle_dir(ps, p, &p->ctrs[i], dir, sizeof(dir));
        if (bundle_remove(dir, &err) < 0) {
            log_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
            *next = 1000;
            return 0;
        }
    }
    if (!p->host_network && ps->cfg.runtime->kind != RUNTIME_FAKE &&
        (p->net_ready || cni_netns_exists(p->netns))) {
        if (cni_del(ps->cfg.cni, p->uid, p->netns, &err) < 0) {
            log_warn("pod %s/%s: cni: del: %s", p->ns, p->name, err.msg);
            /* The IP stays allocated until a DEL succeeds; keep trying. */
            *next = 1000;
            return 0;
        }
        if (cni_netns_del(p->netns, &err) < 0) {
            log_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
            *next = 1000;
            return 0;
        }
    }
    remove_cgroups(p->uid);
    char dir[PATH_MAX];
    pod_dir(ps, p, dir, sizeof(dir));
    if (nodefs_rm_rf(dir, &err) < 0)
        log_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
    log_info("pod %s/%s (%s): stopped and removed", p->ns, p->name, p->uid);
    return 1;
}

/* ---- the pass -------------------------------------------------------------------- */

static int64_t pod_sync(struct podsync *ps, struct pod *p)
{
    int64_t next = PODSYNC_STEADY_MS, now = time_mono_ms();
    if (!p->state_saved) {
        /* Before making anything: a crash must leave a record of the netns to remove. */
        pod_save_state(ps, p);
        p->state_saved = true;
    }
    if (!p->net_ready) {
        if (now < p->net_retry_ms)
            return p->net_retry_ms - now;
        struct bosun_err err = {0};
        int rc = pod_network_up(ps, p, &err);
        if (rc < 0) {
            bool changed = strcmp(p->net_message, err.msg) != 0;
            if (changed)
                log_error("pod %s/%s: %s", p->ns, p->name, err.msg);
            if (changed || !p->net_event_ms || now - p->net_event_ms >= PODSYNC_NET_EVENT_MS) {
                p->net_event_ms = now;
                if (rc == -EAGAIN) /* no podCIDR: what the kubelet says without a CNI config */
                    pod_event(ps, p, NULL, "Warning", "NetworkNotReady",
                              "network is not ready: %s", err.msg);
                else
                    pod_event(ps, p, NULL, "Warning", "FailedCreatePodSandBox",
                              "Failed to create pod sandbox: %s", err.msg);
            }
            snprintf(p->net_message, sizeof(p->net_message), "%s", err.msg);
            p->net_retry_ms = now + PODSYNC_NET_RETRY_MS;
            for (size_t i = 0; i < p->nctrs; i++) {
                snprintf(p->ctrs[i].message, sizeof(p->ctrs[i].message), "%s", err.msg);
            }
            pod_write_status(ps, p);
            return PODSYNC_NET_RETRY_MS;
        }
        p->net_ready = true;
        p->net_message[0] = '\0';
        if (!p->start_time)
            p->start_time = time(NULL);
        pod_save_state(ps, p);
    }
    for (size_t i = 0; i < p->nctrs; i++) {
        int64_t n = ctr_sync(ps, p, &p->ctrs[i]);
        if (n >= 0 && n < next)
            next = n;
    }
    pod_write_status(ps, p);
    return next;
}

/* Containers in the runtime's state directory that no pod claims: a previous run's
 * leftovers (its state was lost). Stopped and removed. */
static void reap_orphans(struct podsync *ps)
{
    char **ids = NULL;
    size_t n = 0;
    if (runtime_list(ps->cfg.runtime, &ids, &n, NULL) < 0)
        return;
    for (size_t k = 0; k < n; k++) {
        bool claimed = false;
        for (size_t i = 0; i < ps->npods && !claimed; i++) {
            for (size_t j = 0; j < ps->pods[i]->nctrs; j++)
                claimed |= strcmp(ps->pods[i]->ctrs[j].id, ids[k]) == 0;
        }
        if (!claimed) {
            log_info("container %s: not claimed by any pod; removing", ids[k]);
            runtime_delete(ps->cfg.runtime, ids[k], NULL);
        }
    }
    runtime_list_free(ids, n);
}

int64_t podsync_sync(struct podsync *ps)
{
    int64_t next = PODSYNC_STEADY_MS;
    for (size_t i = 0; i < ps->npods;) {
        struct pod *p = ps->pods[i];
        int64_t n = PODSYNC_STEADY_MS;
        if (!p->desired || p->terminating) {
            if (pod_teardown(ps, p, &n)) {
                if (ps->cfg.on_removed)
                    ps->cfg.on_removed(p->obj, p->source, ps->cfg.userdata);
                pod_free(p);
                ps->pods[i] = ps->pods[--ps->npods];
                continue;
            }
        } else {
            n = pod_sync(ps, p);
        }
        if (n < next)
            next = n;
        i++;
    }
    reap_orphans(ps);
    return next < 0 ? 0 : next;
}
