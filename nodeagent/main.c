/* nodeagent — runs this node's pods as containers (conmon + runc, CNI bridge networking).
 *
 * Pods come from two sources: static manifests in --manifest-dir (no API server needed)
 * and the pods the API binds to this node (--server; "" runs without an API). The pod
 * loop is one thread: poll(2) on a signalfd (SIGINT/SIGTERM), the manifest directory's
 * inotify fd, an inotify fd on conmon's exit directory (a container exit wakes the loop
 * at once) and an eventfd the API thread (apisync.h) writes when pods or the podCIDR
 * change, with the pod sync pass as the timer. On SIGINT/SIGTERM every pod is stopped and every
 * network namespace, veth and (if this agent created it) the bridge is removed before
 * exiting 0 — `bosun up`'s teardown relies on that. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "nodeagent/apisync.h"
#include "nodeagent/cni.h"
#include "nodeagent/image.h"
#include "nodeagent/logsrv.h"
#include "nodeagent/nodefs.h"
#include "nodeagent/podsync.h"
#include "nodeagent/runtime.h"
#include "nodeagent/spawn.h"
#include "nodeagent/staticpods.h"

/* How long shutdown waits for pods to stop beyond their own grace periods. */
#define SHUTDOWN_LIMIT_MS 120000

struct opts {
    const char *node_name, *node_ip, *root_dir, *runtime, *manifest_dir, *cni_bin_dir, *bridge,
        *listen, *server, *token_file, *ca_file, *log_level, *log_format, *healthz_listen, *pod_cidr,
        *image_dir;
};

static atomic_long metric_pods;

static void healthz_handler(struct httpd_req *req, void *userdata)
{
    (void)userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/healthz") == 0) {
        httpd_respond(req, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(path, "/metrics") == 0) {
        char buf[256];
        int n = snprintf(buf, sizeof(buf),
                         "# TYPE bosun_nodeagent_pods gauge\nbosun_nodeagent_pods %ld\n",
                         (long)atomic_load(&metric_pods));
        httpd_respond(req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
    } else {
        httpd_respond(req, 404, "text/plain", "not found\n", 10);
    }
}

/* The first non-loopback IPv4 address of this machine. */
static int first_ipv4(char *buf, size_t len)
{
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0)
        return -errno;
    int rc = -ENOENT;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len);
        rc = 0;
        break;
    }
    freeifaddrs(ifs);
    return rc;
}

/* The default --image-dir: build/images of the source tree this binary was built in
 * (bin/nodeagent -> ./build/images; build/<variant>/bin/nodeagent -> ../../images). */
static void default_image_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    buf[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0'; /* exe is now the binary's directory */
    const char *bin = strrchr(exe, '/');
    if (!bin || strcmp(bin, "/bin") != 0) {
        nodefs_path(buf, len, "%s/build/images", exe);
        return;
    }
    exe[bin - exe] = '\0'; /* the directory above bin/ */
    const char *variant = strrchr(exe, '/');
    if (variant) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%.*s", (int)(variant - exe), exe);
        const char *b = strrchr(parent, '/');
        if (b && strcmp(b, "/build") == 0) {
            nodefs_path(buf, len, "%s/images", parent); /* build/<variant>/bin */
            return;
        }
    }
    nodefs_path(buf, len, "%s/build/images", exe); /* <tree>/bin */
}

/* --pod-cidr wins and is remembered; otherwise the cached one (from a previous
 * --pod-cidr, later from the Node's spec.podCIDR). */
static void resolve_pod_cidr(const char *root, const char *flag, char *out, size_t len)
{
    char path[PATH_MAX];
    nodefs_path(path, sizeof(path), "%s/podcidr", root);
    out[0] = '\0';
    if (flag && *flag) {
        snprintf(out, len, "%s", flag);
        struct bosun_err err = {0};
        if (fileutil_write_atomic(path, flag, strlen(flag), 0644, &err) < 0)
            log_warn("pod CIDR: cannot cache it: %s", err.msg);
        return;
    }
    char *buf = NULL;
    if (fileutil_read_all(path, 128, &buf, NULL, NULL) == 0) {
        buf[strcspn(buf, " \n")] = '\0';
        snprintf(out, len, "%s", buf);
        free(buf);
    }
}

static int valid_cidr(const char *s)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return 0;
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
    struct in_addr a;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    return inet_pton(AF_INET, addr, &a) == 1 && *end == '\0' && bits >= 8 && bits <= 30;
}

static void remove_cgroup_parents(void)
{
    DIR *d = opendir("/sys/fs/cgroup");
    if (!d)
        return;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        nodefs_path(p, sizeof(p), "/sys/fs/cgroup/%s/bosun", e->d_name);
        rmdir(p); /* fails harmlessly while another agent's pods use it */
    }
    closedir(d);
    rmdir("/sys/fs/cgroup/bosun");
}

/* "runc://1.1.5" for nodeInfo.containerRuntimeVersion. */
static void runtime_version(const struct runtime *rt, char *buf, size_t len)
{
    snprintf(buf, len, "%s://unknown", runtime_kind_name(rt->kind));
    if (!rt->bin[0])
        return;
    char *argv[] = {(char *)rt->bin, "--version", NULL};
    struct spawn_result res;
    if (spawn_run(argv, NULL, NULL, 5000, 0, &res, NULL) < 0)
        return;
    char ver[64];
    if (sscanf(res.out, "%*s version %63s", ver) == 1) {
        ver[strcspn(ver, "+")] = '\0';
        snprintf(buf, len, "%s://%s", runtime_kind_name(rt->kind), ver);
    }
    spawn_result_free(&res);
}

struct loop_ctx {
    struct apisync *api;
    bool shutting_down;
};

/* A pod stopped and cleaned up. An API pod leaves the desired set only when its deletion
 * was requested (or it is gone already): it can now go for good. Pods stopped because the
 * agent shuts down stay in the API. */
static void on_pod_removed(const json_t *pod, const char *source, void *userdata)
{
    struct loop_ctx *lc = userdata;
    if (!lc->api || lc->shutting_down || strcmp(source, "api") != 0)
        return;
    apisync_delete_final(lc->api, jsonx_get_str(pod, "metadata.namespace"),
                         jsonx_get_str(pod, "metadata.name"), jsonx_get_str(pod, "metadata.uid"));
}

/* Events go to the API's posting thread (queued: the pod loop never waits for them);
 * without an API there is nowhere to put them. */
static void on_pod_event(const json_t *pod, const char *source, const char *field_path,
                         const char *type, const char *reason, const char *message, void *userdata)
{
    struct loop_ctx *lc = userdata;
    if (lc->api)
        apisync_event(lc->api, pod, source, field_path, type, reason, message);
}

/* The API's pods for this node -> the desired "api" pods. Pods marked for deletion are
 * not desired (podsync stops them; on_pod_removed finishes the delete); those this node
 * does not run are deleted at once. Finished pods are not started again. */
static void take_api_pods(struct podsync *ps, struct apisync *api)
{
    json_t *pods = apisync_pods(api);
    if (!pods)
        return; /* not synced yet: keep what runs */
    json_t *want = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        const char *uid = jsonx_get_str(p, "metadata.uid");
        const char *phase = jsonx_get_str(p, "status.phase");
        if (!uid)
            continue;
        bool known = podsync_has(ps, uid);
        if (jsonx_get(p, "metadata.deletionTimestamp")) {
            if (!known)
                apisync_delete_final(api, jsonx_get_str(p, "metadata.namespace"),
                                     jsonx_get_str(p, "metadata.name"), uid);
            continue;
        }
        if (!known && phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
            continue;
        json_array_append(want, p);
    }
    podsync_set_desired(ps, "api", want);
    json_decref(want);
    json_decref(pods);
}

static void drain_fd(int fd)
{
    char buf[4096];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

int main(int argc, char **argv)
{
    char hostname[256] = "localhost", node_ip[64] = "127.0.0.1", image_dir[PATH_MAX];
    gethostname(hostname, sizeof(hostname) - 1);
    first_ipv4(node_ip, sizeof(node_ip));
    default_image_dir(image_dir, sizeof(image_dir));
    struct opts o = {
        .node_name = hostname,
        .node_ip = node_ip,
        .root_dir = "/var/lib/bosun/node",
        .runtime = "",
        .manifest_dir = "",
        .cni_bin_dir = "/usr/lib/cni",
        .bridge = "bosun0",
        .listen = NULL,
        .server = "http://127.0.0.1:6443",
        .token_file = "",
        .log_level = "info",
        .log_format = "text",
        .healthz_listen = "",
        .pod_cidr = "",
        .image_dir = image_dir,
    };
    const struct flag_def defs[] = {
        {"node-name", FLAG_STR, &o.node_name, "this node's name [hostname]"},
        {"node-ip", FLAG_STR, &o.node_ip, "this node's InternalIP [first non-loopback IPv4]"},
        {"root-dir", FLAG_STR, &o.root_dir,
         "images, bundles, logs, pod state [/var/lib/bosun/node]"},
        {"runtime", FLAG_STR, &o.runtime, "runc|crun|fake [runc; crun on pure cgroup v2]"},
        {"manifest-dir", FLAG_STR, &o.manifest_dir, "static pod manifests (watched)"},
        {"cni-bin-dir", FLAG_STR, &o.cni_bin_dir, "CNI plugins [/usr/lib/cni]"},
        {"bridge", FLAG_STR, &o.bridge, "the pod bridge [bosun0]"},
        {"listen", FLAG_STR, &o.listen, "container logs for the API [NODE-IP:10250]; \"\" = off"},
        {"server", FLAG_STR, &o.server,
         "API server [http://127.0.0.1:6443]; \"\" = static pods only"},
        {"token-file", FLAG_STR, &o.token_file, "bearer token file"},
        {"certificate-authority", FLAG_STR, &o.ca_file,
         "PEM file of the CA that signed an https:// API server's certificate"},
        {"log-level", FLAG_STR, &o.log_level, "debug|info|warn|error [info]"},
        {"log-format", FLAG_STR, &o.log_format, "text|json [text]"},
        {"healthz-listen", FLAG_STR, &o.healthz_listen, "ADDR for /healthz and /metrics"},
        {"pod-cidr", FLAG_STR, &o.pod_cidr,
         "podCIDR to use without registering (cached under --root-dir)"},
        {"image-dir", FLAG_STR, &o.image_dir,
         "OCI image layouts to import [<source tree>/build/images]"},
        {0},
    };
    struct bosun_err err = {0};
    int nargs = 0;
    int rc = flags_parse(defs, argc, argv, &nargs, &err);
    if (rc == -ECANCELED) {
        flags_usage(stdout, "nodeagent", defs);
        return 0;
    }
    if (rc < 0 || nargs > 0) {
        fprintf(stderr, "nodeagent: %s\n", rc < 0 ? err.msg : "unexpected argument");
        flags_usage(stderr, "nodeagent", defs);
        return 2;
    }
    if (log_setup("nodeagent", o.log_level, o.log_format) < 0) {
        fprintf(stderr, "nodeagent: bad --log-level or --log-format\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts (the HTTP servers' and the API's), so that every
     * thread leaves SIGINT/SIGTERM to the signalfd of the pod loop. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);

    struct runtime rt;
    struct cni cni;
    struct image_store *images = NULL;
    struct staticpods *sp = NULL;
    struct podsync *ps = NULL;
    struct httpd *hz = NULL;
    struct apisync *api = NULL;
    struct logsrv *logs = NULL;
    struct loop_ctx lc = {0};
    int sfd = -1, exit_fd = -1, wake_fd = -1, status = 1;
    char listen_buf[128];
    if (!o.listen) {
        snprintf(listen_buf, sizeof(listen_buf), "%s:10250", o.node_ip);
        o.listen = listen_buf;
    }
    enum runtime_kind kind;
    char cidr[64];

    if (nodefs_mkdir_p(o.root_dir, 0700, &err) < 0) {
        log_error("--root-dir: %s", err.msg);
        goto out;
    }
    resolve_pod_cidr(o.root_dir, o.pod_cidr, cidr, sizeof(cidr));
    if (cidr[0] && !valid_cidr(cidr)) {
        log_error("--pod-cidr: \"%s\" is not an IPv4 CIDR like 10.244.1.0/24", cidr);
        goto out;
    }
    if (runtime_kind_parse(o.runtime, &kind, &err) < 0 ||
        runtime_init(&rt, kind, o.root_dir, &err) < 0 ||
        cni_init(&cni, o.cni_bin_dir, o.bridge, cidr, o.root_dir, &err) < 0 ||
        image_store_open(o.root_dir, o.image_dir, &images, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    struct podsync_config pc = {
        .root_dir = o.root_dir,
        .node_name = o.node_name,
        .node_ip = o.node_ip,
        .runtime = &rt,
        .cni = &cni,
        .images = images,
        .on_removed = on_pod_removed,
        .on_event = on_pod_event,
        .userdata = &lc,
    };
    if (podsync_new(&pc, &ps, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    if (o.manifest_dir[0]) {
        if (staticpods_open(o.manifest_dir, o.node_name, &sp, &err) < 0) {
            log_error("%s", err.msg);
            goto out;
        }
        staticpods_rescan(sp, true);
        podsync_set_desired(ps, "file", staticpods_pods(sp));
    } else {
        json_t *none = json_array();
        podsync_set_desired(ps, "file", none);
        json_decref(none);
    }
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        goto out;
    }
    if (o.listen[0]) {
        char logs_dir[PATH_MAX];
        nodefs_path(logs_dir, sizeof(logs_dir), "%s/logs", o.root_dir);
        if (logsrv_start(o.listen, logs_dir, &logs, &err) < 0)
            log_error("%s (container logs are not served)", err.msg);
    }
    if (o.server[0]) {
        char rtv[128];
        runtime_version(&rt, rtv, sizeof(rtv));
        const char *colon = strrchr(o.listen, ':');
        struct apisync_config ac = {
            .server = o.server,
            .token_file = o.token_file,
            .ca_file = o.ca_file,
            .node_name = o.node_name,
            .node_ip = o.node_ip,
            .kubelet_port = logs    ? logsrv_port(logs)
                            : colon ? atoi(colon + 1)
                                    : 10250,
            .runtime_version = rtv,
            .wake_fd = wake_fd,
        };
        if (apisync_start(&ac, &api, &err) < 0) {
            log_error("%s", err.msg);
            goto out;
        }
        lc.api = api;
    } else {
        json_t *none = json_array();
        podsync_set_desired(ps, "api", none);
        json_decref(none);
    }
    if (o.healthz_listen[0]) {
        struct httpd_opts ho = {.listen = o.healthz_listen, .threads = 1};
        if (httpd_start(&ho, healthz_handler, NULL, &hz, &err) < 0) {
            log_error("--healthz-listen: %s", err.msg);
            goto out;
        }
    }

    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    exit_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (sfd < 0 || exit_fd < 0 ||
        inotify_add_watch(exit_fd, rt.exit_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        log_error("signalfd/inotify: %s", strerror(errno));
        goto out;
    }
    log_info("node %s (%s): runtime %s, root %s, bridge %s, podCIDR %s, images %s%s%s", o.node_name,
             o.node_ip, runtime_kind_name(kind), o.root_dir, o.bridge,
             cidr[0] ? cidr : "(none yet)", o.image_dir, sp ? ", static pods " : "",
             sp ? o.manifest_dir : "");

    int64_t next_sync = 0, shutdown_deadline = -1;
    for (;;) {
        int64_t now = time_mono_ms();
        if (now >= next_sync) {
            next_sync = now + podsync_sync(ps);
            atomic_store(&metric_pods, (long)podsync_count(ps));
            if (api) {
                json_t *st = podsync_statuses(ps);
                apisync_report(api, st);
                json_decref(st);
            }
            if (shutdown_deadline >= 0 && podsync_count(ps) == 0)
                break;
            if (shutdown_deadline >= 0 && now > shutdown_deadline) {
                log_error("shutdown: %zu pod(s) did not stop in time", podsync_count(ps));
                goto out;
            }
        }
        int64_t timeout = next_sync - time_mono_ms();
        int64_t rescan = sp ? staticpods_rescan_in(sp) : -1;
        if (rescan >= 0 && rescan < timeout)
            timeout = rescan;
        if (timeout < 0)
            timeout = 0;
        struct pollfd pf[4] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = exit_fd, .events = POLLIN},
            {.fd = sp ? staticpods_fd(sp) : -1, .events = POLLIN},
            {.fd = wake_fd, .events = POLLIN},
        };
        if (poll(pf, 4, (int)timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            goto out;
        }
        if (pf[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (shutdown_deadline < 0) {
                    log_info("signal %u: stopping every pod", si.ssi_signo);
                    podsync_stop_all(ps);
                    lc.shutting_down = true;
                    shutdown_deadline = time_mono_ms() + SHUTDOWN_LIMIT_MS;
                    next_sync = 0;
                }
            }
        }
        if (pf[1].revents & POLLIN) {
            drain_fd(exit_fd);
            next_sync = 0; /* a container exited: look now */
        }
        if (sp && (pf[2].revents & POLLIN))
            staticpods_handle_events(sp);
        if (pf[3].revents & POLLIN) {
            drain_fd(wake_fd);
            if (api && shutdown_deadline < 0) {
                take_api_pods(ps, api);
                next_sync = 0;
                /* --pod-cidr wins; else the Node's spec.podCIDR, cached for next time. */
                char ncidr[64];
                apisync_pod_cidr(api, ncidr, sizeof(ncidr));
                if (!o.pod_cidr[0] && ncidr[0] && strcmp(ncidr, cni.subnet) != 0 &&
                    valid_cidr(ncidr)) {
                    log_info("podCIDR %s (from the Node)", ncidr);
                    snprintf(cni.subnet, sizeof(cni.subnet), "%s", ncidr);
                    char cache[PATH_MAX];
                    nodefs_path(cache, sizeof(cache), "%s/podcidr", o.root_dir);
                    fileutil_write_atomic(cache, ncidr, strlen(ncidr), 0644, NULL);
                }
            }
        }
        if (sp && shutdown_deadline < 0 && staticpods_rescan(sp, false)) {
            podsync_set_desired(ps, "file", staticpods_pods(sp));
            next_sync = 0;
        }
    }

    /* Everything stopped: the bridge goes too when this agent created it. */
    char marker[PATH_MAX];
    nodefs_path(marker, sizeof(marker), "%s/cni/bridge-created", o.root_dir);
    if (nodefs_exists(marker)) {
        if (cni_bridge_delete(cni.bridge, &err) < 0)
            log_warn("%s", err.msg);
        else
            unlink(marker);
    }
    remove_cgroup_parents();
    log_info("stopped");
    status = 0;
out:
    apisync_stop(api);
    logsrv_stop(logs);
    httpd_stop(hz);
    if (wake_fd >= 0)
        close(wake_fd);
    if (sfd >= 0)
        close(sfd);
    if (exit_fd >= 0)
        close(exit_fd);
    podsync_free(ps);
    staticpods_free(sp);
    image_store_free(images);
    return status;
}
