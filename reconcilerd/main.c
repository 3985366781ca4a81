/* reconcilerd — the store owner and Kubernetes-compatible API server of bosun, with the
 * controllers running inside it as API clients. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileutil.h"
#include "lib/flags.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "reconcilerd/api/api.h"
#include "reconcilerd/api/auth.h"
#include "reconcilerd/controllers/controllers.h"
#include "reconcilerd/controllers/leader.h"
#include "reconcilerd/store/store.h"

/* Parsed flags: one of the two globals STYLE.md allows. */
static struct {
    const char *listen;
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *data_dir;
    const char *store;
    const char *token_auth_file;
    const char *service_cidr;
    const char *node_port_range;
    const char *cluster_cidr;
    long long node_cidr_mask;
    int64_t node_monitor_grace_ms;
    const char *log_level;
    const char *log_format;
    const char *healthz_listen;
    long long watch_history;
    int64_t bookmark_interval_ms;
    long long user_qps;
    long long user_burst;
    long long max_watches_per_user;
    long long api_threads;
    int leader_elect; /* -1: on with etcd, off with the file store */
    int64_t lease_duration_ms;
    int64_t renew_deadline_ms;
    int64_t retry_period_ms;
} opt = {
    .listen = "127.0.0.1:6443",
    .data_dir = "/var/lib/bosun/store",
    .store = "file",
    .service_cidr = "10.96.0.0/16",
    .node_port_range = "30000-32767",
    .cluster_cidr = "10.244.0.0/16",
    .node_cidr_mask = 24,
    .node_monitor_grace_ms = 40000,
    .log_level = "info",
    .log_format = "text",
    .watch_history = 100000,
    .bookmark_interval_ms = 60000,
    .user_qps = 500,
    .user_burst = 1000,
    .max_watches_per_user = 500,
    .api_threads = 0, /* 16 on the file store, 64 on etcd (see the flag) */
    .leader_elect = -1,
    .lease_duration_ms = 15000,
    .renew_deadline_ms = 10000,
    .retry_period_ms = 2000,
};

static const struct flag_def flag_defs[] = {
    {"listen", FLAG_STR, &opt.listen, "address of the API [127.0.0.1:6443]"},
    {"tls-cert-file", FLAG_STR, &opt.tls_cert_file,
     "PEM certificate (chain) to serve the API over HTTPS with [plain HTTP]"},
    {"tls-private-key-file", FLAG_STR, &opt.tls_key_file,
     "PEM private key of --tls-cert-file"},
    {"data-dir", FLAG_STR, &opt.data_dir, "directory of the file store [/var/lib/bosun/store]"},
    {"store", FLAG_STR, &opt.store, "store backend: file [file] or etcd:URL[,URL...]"},
    {"token-auth-file", FLAG_STR, &opt.token_auth_file,
     "users: token,user,uid,\"group1,group2\" per line (without it: anonymous admin on "
     "loopback only)"},
    {"service-cidr", FLAG_STR, &opt.service_cidr, "ClusterIP range [10.96.0.0/16]"},
    {"service-node-port-range", FLAG_STR, &opt.node_port_range, "NodePort range [30000-32767]"},
    {"cluster-cidr", FLAG_STR, &opt.cluster_cidr, "pod network, split into node podCIDRs [10.244.0.0/16]"},
    {"node-cidr-mask", FLAG_INT, &opt.node_cidr_mask, "prefix length of a node's podCIDR [24]"},
    {"node-monitor-grace", FLAG_DURATION, &opt.node_monitor_grace_ms,
     "a node silent this long becomes NotReady [40s]"},
    {"log-level", FLAG_STR, &opt.log_level, "debug|info|warn|error [info]"},
    {"log-format", FLAG_STR, &opt.log_format, "text|json [text]"},
    {"healthz-listen", FLAG_STR, &opt.healthz_listen, "address for /healthz and /metrics [off]"},
    {"watch-history", FLAG_INT, &opt.watch_history,
     "store events kept for watch resumption; older versions get 410 Expired [100000]"},
    {"watch-bookmark-interval", FLAG_DURATION, &opt.bookmark_interval_ms,
     "how often a watch with allowWatchBookmarks=true gets a BOOKMARK [1m]"},
    {"max-requests-per-user", FLAG_INT, &opt.user_qps,
     "requests per second per user before 429 TooManyRequests; 0 = unlimited [500]"},
    {"max-request-burst-per-user", FLAG_INT, &opt.user_burst,
     "requests a user may send at once above the rate [1000]"},
    {"max-watches-per-user", FLAG_INT, &opt.max_watches_per_user,
     "open watches per user before 429; 0 = unlimited [500]"},
    {"api-threads", FLAG_INT, &opt.api_threads,
     "API worker threads; on the file store creates and updates do not hold one while "
     "their disk sync runs, on etcd every write holds one for its round trips; watches and "
     "pod logs hold none [file store: 2 per CPU, 4 to 16; etcd: 64]"},
    {"leader-elect", FLAG_BOOL, &opt.leader_elect,
     "run the controllers only while holding the Lease bosun-system/bosun-controllers, so "
     "that several replicas can share one etcd [true with --store etcd:, false with the file "
     "store]"},
    {"leader-elect-lease-duration", FLAG_DURATION, &opt.lease_duration_ms,
     "how long other replicas wait after the leader's last renewal before taking over [15s]"},
    {"leader-elect-renew-deadline", FLAG_DURATION, &opt.renew_deadline_ms,
     "the leader stops its controllers when it could not renew for this long [10s]"},
    {"leader-elect-retry-period", FLAG_DURATION, &opt.retry_period_ms,
     "how often the leader renews and the others try [2s]"},
    {0},
};

/* Splits "host:port" / "[v6]:port" into host (without brackets). */
static int split_host(const char *listen, char *host, size_t len)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        snprintf(host, len, "%.*s", (int)(end - listen - 1), listen + 1);
        return 0;
    }
    colon = strrchr(listen, ':');
    if (!colon)
        return -EINVAL;
    snprintf(host, len, "%.*s", (int)(colon - listen), listen);
    return 0;
}

static int host_is_loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") || !strcmp(host, "::1");
}

/* What /healthz and /metrics read (set before the health server starts). */
struct health_ctx {
    struct store *st;
    struct ctrl_leader *leader; /* NULL without leader election */
};

static void health_handler(struct httpd_req *req, void *userdata)
{
    struct health_ctx *h = userdata;
    const char *path = httpd_path(req);
    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/livez")) {
        httpd_respond(req, 200, "text/plain", "ok", 2);
    } else if (!strcmp(path, "/metrics")) {
        char buf[768];
        int n = snprintf(buf, sizeof(buf),
                         "# HELP bosun_store_revision The store's last revision.\n"
                         "# TYPE bosun_store_revision gauge\n"
                         "bosun_store_revision %" PRIu64 "\n",
                         store_revision(h->st));
        if (h->leader)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                          "# HELP leader_election_master_status 1 while this replica holds "
                          "the controllers' Lease.\n"
                          "# TYPE leader_election_master_status gauge\n"
                          "leader_election_master_status{name=\"bosun-controllers\"} %d\n",
                          ctrl_leader_is_leader(h->leader) ? 1 : 0);
        httpd_respond(req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
    } else {
        httpd_respond(req, 404, "text/plain", "not found\n", 10);
    }
}

/* The controllers, started and stopped by the leader election (or once, without it). */
struct ctl_runner {
    struct controllers_opts opts;
    struct controllers *ctl;
};

static int runner_start(void *userdata)
{
    struct ctl_runner *r = userdata;
    struct bosun_err err = {0};
    int rc = controllers_start(&r->opts, &r->ctl, &err);
    if (rc)
        log_error("controllers: %s", err.msg);
    return rc;
}

static void runner_stop(void *userdata)
{
    struct ctl_runner *r = userdata;
    controllers_stop(r->ctl);
    r->ctl = NULL;
}

/* "<hostname>_<listen address>_<8 hex>": unique per replica, readable in the Lease. */
static void leader_identity(const char *addr, char *out, size_t len)
{
    char hostname[256] = "";
    unsigned char b[4] = {0};
    if (gethostname(hostname, sizeof(hostname) - 1))
        snprintf(hostname, sizeof(hostname), "unknown");
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        log_warn("leader election: getrandom failed; the identity has no random suffix");
    snprintf(out, len, "%s_%s_%02x%02x%02x%02x", hostname, addr, b[0], b[1], b[2], b[3]);
}

static int random_token(char *out, size_t len)
{
    unsigned char b[32];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b) || len < 65)
        return -EIO;
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

int main(int argc, char **argv)
{
    struct bosun_err err = {0};
    struct store *st = NULL;
    struct api_auth *auth = NULL;
    struct api *api = NULL;
    struct httpd *srv = NULL, *health = NULL;
    struct ctrl_leader *leader = NULL;
    struct ctl_runner runner = {0};
    struct health_ctx hctx = {0};
    int nargs = 0, exit_code = 1, rc;

    rc = flags_parse(flag_defs, argc, argv, &nargs, &err);
    if (rc == -ECANCELED) {
        flags_usage(stdout, "reconcilerd", flag_defs);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "reconcilerd: %s\n", err.msg);
        flags_usage(stderr, "reconcilerd", flag_defs);
        return 2;
    }
    if (nargs > 0) {
        fprintf(stderr, "reconcilerd: unexpected argument %s\n", argv[0]);
        return 2;
    }
    if (log_setup("reconcilerd", opt.log_level, opt.log_format)) {
        fprintf(stderr, "reconcilerd: bad --log-level or --log-format\n");
        return 2;
    }
    const char *etcd = NULL;
    if (!strncmp(opt.store, "etcd:", 5) && opt.store[5]) {
        etcd = opt.store + 5;
    } else if (strcmp(opt.store, "file")) {
        log_error("--store %s: unknown backend (want \"file\" or \"etcd:URL[,URL...]\")",
                  opt.store);
        return 2;
    }
    /* The file store is one process's by nature (it holds the directory's lock), so its
     * controllers start directly; on etcd, replicas elect one to run them. */
    bool leader_elect = opt.leader_elect < 0 ? etcd != NULL : opt.leader_elect != 0;
    if (leader_elect && (opt.lease_duration_ms < 1000 ||
                         opt.renew_deadline_ms >= opt.lease_duration_ms ||
                         opt.retry_period_ms <= 0 ||
                         opt.retry_period_ms >= opt.renew_deadline_ms)) {
        log_error("--leader-elect-*: want 0 < retry period < renew deadline < lease duration, "
                  "and a lease duration of at least 1s");
        return 2;
    }
    if (opt.watch_history < 1) {
        log_error("--watch-history %lld: want at least 1", opt.watch_history);
        return 2;
    }
    if (opt.bookmark_interval_ms < 1000) {
        /* the watch timer ticks once a second */
        log_error("--watch-bookmark-interval: want at least 1s");
        return 2;
    }
    if (opt.api_threads == 0) {
        /* On the file store the workers only run requests, never wait for a disk sync:
         * a few per CPU keep the CPUs busy, and fewer threads wake less often (measured
         * here, 4 rather than 16 made ~10% more durable writes/s at 16 clients). */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        long n = 2 * (cpus > 0 ? cpus : 1);
        opt.api_threads = etcd ? 64 : n < 4 ? 4 : n > 16 ? 16 : n;
    }
    if (opt.api_threads < 1 || opt.api_threads > 1024) {
        log_error("--api-threads %lld: want 1..1024", opt.api_threads);
        return 2;
    }
    if (opt.node_cidr_mask < 8 || opt.node_cidr_mask > 30) {
        log_error("--node-cidr-mask %lld: want 8..30", opt.node_cidr_mask);
        return 2;
    }
    char host[256];
    if (split_host(opt.listen, host, sizeof(host))) {
        log_error("--listen %s: want HOST:PORT", opt.listen);
        return 2;
    }
    if (!opt.tls_cert_file != !opt.tls_key_file) {
        log_error("--tls-cert-file and --tls-private-key-file go together");
        return 2;
    }
    if (!opt.token_auth_file) {
        if (!host_is_loopback(host)) {
            log_error("--listen %s: without --token-auth-file reconcilerd serves anonymous admin "
                      "access and only on a loopback address", opt.listen);
            return 2;
        }
        log_warn("no --token-auth-file: every local client is an anonymous admin (loopback only)");
    }

    /* Signals are taken by sigwait in this thread; every thread started below inherits the
     * mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char internal_token[65] = "";
    const struct api_user *internal_user = NULL;
    if (opt.token_auth_file) {
        if ((rc = api_auth_load(opt.token_auth_file, &auth, &err))) {
            log_error("--token-auth-file: %s", err.msg);
            goto out;
        }
        if (random_token(internal_token, sizeof(internal_token)) ||
            api_auth_add(auth, internal_token, "system:bosun-controllers", "bosun-controllers",
                         "system:masters", &err)) {
            log_error("internal token: %s", *err.msg ? err.msg : "getrandom failed");
            goto out;
        }
        /* the controllers' identity (system:masters) is exempt from per-user limits */
        internal_user = api_auth_lookup(auth, internal_token);
    }

    struct store_opts so = {.dir = opt.data_dir,
                            .history = (size_t)opt.watch_history,
                            .etcd_endpoints = etcd};
    if ((rc = store_open(&so, &st, &err))) {
        log_error("store %s: %s", etcd ? opt.store : opt.data_dir, err.msg);
        goto out;
    }
    struct api_opts ao = {
        .store = st,
        .auth = auth,
        .service_cidr = opt.service_cidr,
        .node_port_range = opt.node_port_range,
        .user_qps = (double)opt.user_qps,
        .user_burst = (double)opt.user_burst,
        .max_watches_per_user = (long)opt.max_watches_per_user,
        .bookmark_interval_ms = opt.bookmark_interval_ms,
        .internal_user = internal_user,
        .shared_store = etcd != NULL,
    };
    if ((rc = api_new(&ao, &api, &err))) {
        log_error("api: %s", err.msg);
        goto out;
    }
    char *tls_cert = NULL, *tls_key = NULL;
    if (opt.tls_cert_file &&
        ((rc = fileutil_read_all(opt.tls_cert_file, 0, &tls_cert, NULL, &err)) ||
         (rc = fileutil_read_all(opt.tls_key_file, 0, &tls_key, NULL, &err)))) {
        free(tls_cert);
        log_error("TLS: %s", err.msg);
        goto out;
    }
    struct httpd_opts ho = {.listen = opt.listen,
                            .max_body = 3u << 20,
                            .threads = (unsigned)opt.api_threads,
                            .tls_cert_pem = tls_cert,
                            .tls_key_pem = tls_key};
    rc = httpd_start(&ho, api_handle, api, &srv, &err);
    free(tls_cert);
    if (tls_key)
        explicit_bzero(tls_key, strlen(tls_key));
    free(tls_key);
    if (rc) {
        log_error("listen %s: %s", opt.listen, err.msg);
        goto out;
    }
    char self[320], addr[300];
    const char *chost = host;
    if (!*host || !strcmp(host, "0.0.0.0"))
        chost = "127.0.0.1";
    else if (!strcmp(host, "::"))
        chost = "::1";
    const char *scheme = opt.tls_cert_file ? "https" : "http";
    snprintf(addr, sizeof(addr), strchr(chost, ':') ? "[%s]:%d" : "%s:%d", chost,
             httpd_port(srv));
    snprintf(self, sizeof(self), "%s://%s", scheme, addr);
    log_info("serving the API on %s (listen %s), store %s", self, opt.listen,
             etcd ? opt.store : opt.data_dir);

    runner.opts = (struct controllers_opts){
        .server = self,
        .token = *internal_token ? internal_token : NULL,
        /* The serving certificate itself is the controllers' trust anchor (libcurl accepts
         * a non-self-signed anchor: partial chains), so no CA file is needed here; it must
         * name the loopback address they dial. */
        .ca_file = opt.tls_cert_file,
        .cluster_cidr = opt.cluster_cidr,
        .node_cidr_mask = (int)opt.node_cidr_mask,
        .node_monitor_grace_ms = opt.node_monitor_grace_ms,
    };
    if (leader_elect) {
        /* Several replicas on one etcd: the controllers run on the Lease's holder only. */
        char identity[600];
        leader_identity(addr, identity, sizeof(identity));
        struct ctrl_leader_opts lo = {
            .server = self,
            .token = runner.opts.token,
            .ca_file = runner.opts.ca_file,
            .lease_ns = "bosun-system",
            .lease_name = "bosun-controllers",
            .identity = identity,
            .lease_duration_ms = opt.lease_duration_ms,
            .renew_deadline_ms = opt.renew_deadline_ms,
            .retry_period_ms = opt.retry_period_ms,
            .on_started = runner_start,
            .on_stopped = runner_stop,
            .userdata = &runner,
        };
        if ((rc = ctrl_leader_start(&lo, &leader, &err))) {
            log_error("%s", err.msg);
            goto out;
        }
    } else if ((rc = runner_start(&runner))) {
        goto out;
    }

    if (opt.healthz_listen) {
        struct httpd_opts hh = {.listen = opt.healthz_listen, .max_body = 4096, .threads = 1};
        hctx = (struct health_ctx){.st = st, .leader = leader};
        if ((rc = httpd_start(&hh, health_handler, &hctx, &health, &err))) {
            log_error("--healthz-listen %s: %s", opt.healthz_listen, err.msg);
            goto out;
        }
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("%s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    exit_code = 0;
out:
    httpd_stop(health);
    /* before the API stops: a leader stops its controllers, then gives the Lease back
     * through the API so that another replica takes over at once */
    ctrl_leader_stop(leader);
    runner_stop(&runner);
    httpd_stop(srv);
    api_free(api);
    store_close(st);
    api_auth_free(auth);
    return exit_code;
}
