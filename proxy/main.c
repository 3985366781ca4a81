/* proxy — makes Service NodePorts reach ready endpoints (userspace datapath).
 *
 * Threads: two informers (services, endpoints) run on their own threads; their handlers
 * only post a "resync" to the event loop (coalesced by a flag). The loop thread then
 * rebuilds the whole route table from the informers' caches and applies it to the
 * forwarder: level-triggered, so a missed or reordered event changes nothing.
 * SIGINT/SIGTERM arrive through a signalfd on the loop. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/informer.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "proxy/fwd.h"
#include "proxy/svc.h"

struct proxy_opts {
    const char *node_name;
    const char *mode;
    const char *nodeport_addresses;
    const char *server;
    const char *token_file;
    const char *ca_file;
    const char *log_level;
    const char *log_format;
    const char *healthz_listen;
};

struct proxy_ctx {
    struct proxy_opts opts;
    struct loop *loop;
    struct proxy_fwd *fwd;
    struct httpc *client;
    struct informer *svc_inf;
    struct informer *ep_inf;
    struct httpd *healthz;
    atomic_int resync_pending;
    atomic_int synced; /* the first route table has been applied */
    int sigfd;
    struct loop_watch *sigw;
    uint64_t applies;
};

static void resync(struct loop *l, void *userdata)
{
    (void)l;
    struct proxy_ctx *ctx = userdata;
    atomic_store(&ctx->resync_pending, 0);
    if (!informer_synced(ctx->svc_inf) || !informer_synced(ctx->ep_inf))
        return; /* a partial cache would close listeners that should stay */
    json_t *svcs = informer_list(ctx->svc_inf);
    json_t *eps = informer_list(ctx->ep_inf);
    struct proxy_route *routes = NULL;
    size_t n = 0;
    struct bosun_err err = {0};
    if (!svcs || !eps) {
        log_error("out of memory listing the caches");
        goto out;
    }
    if (proxy_routes_build(svcs, eps, &routes, &n, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    if (proxy_fwd_apply(ctx->fwd, routes, n, &err) < 0)
        log_warn("%s (retrying on the next change or resync)", err.msg);
    ctx->applies++;
    atomic_store(&ctx->synced, 1);
out:
    proxy_routes_free(routes, n);
    json_decref(svcs);
    json_decref(eps);
}

static void request_resync(struct proxy_ctx *ctx)
{
    if (atomic_exchange(&ctx->resync_pending, 1) == 0) {
        if (loop_post(ctx->loop, resync, ctx) < 0)
            atomic_store(&ctx->resync_pending, 0);
    }
}

static void on_add(const json_t *obj, void *userdata)
{
    (void)obj;
    request_resync(userdata);
}

static void on_update(const json_t *old_obj, const json_t *new_obj, void *userdata)
{
    (void)old_obj;
    (void)new_obj;
    request_resync(userdata);
}

static void on_delete(const json_t *obj, void *userdata)
{
    (void)obj;
    request_resync(userdata);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *userdata)
{
    (void)events;
    (void)userdata;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        log_info("signal %u, stopping", si.ssi_signo);
        loop_stop(l);
    }
}

/* A periodic tick: picks up an informer that finished its first list without an event
 * (an empty cluster), and retries listeners that failed to bind. */
static void tick(struct loop *l, void *userdata)
{
    struct proxy_ctx *ctx = userdata;
    request_resync(ctx);
    loop_timer(l, atomic_load(&ctx->synced) ? 30000 : 500, tick, ctx);
}

static void healthz_handler(struct httpd_req *req, void *userdata)
{
    struct proxy_ctx *ctx = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/healthz") == 0) {
        if (atomic_load(&ctx->synced))
            httpd_respond(req, 200, "text/plain", "ok\n", 3);
        else
            httpd_respond(req, 503, "text/plain", "not synced\n", 11);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        struct proxy_fwd_stats st;
        proxy_fwd_stats(ctx->fwd, &st);
        char buf[1024];
        int n = snprintf(buf, sizeof(buf),
                         "# TYPE bosun_proxy_connections_accepted_total counter\n"
                         "bosun_proxy_connections_accepted_total %llu\n"
                         "# TYPE bosun_proxy_connections_active gauge\n"
                         "bosun_proxy_connections_active %llu\n"
                         "# TYPE bosun_proxy_backend_connect_failures_total counter\n"
                         "bosun_proxy_backend_connect_failures_total %llu\n"
                         "# TYPE bosun_proxy_connections_no_backend_total counter\n"
                         "bosun_proxy_connections_no_backend_total %llu\n"
                         "# TYPE bosun_proxy_listeners gauge\n"
                         "bosun_proxy_listeners %llu\n",
                         (unsigned long long)st.accepted, (unsigned long long)st.active,
                         (unsigned long long)st.connect_failures,
                         (unsigned long long)st.no_backend, (unsigned long long)st.listeners);
        httpd_respond(req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
        return;
    }
    httpd_respond(req, 404, "text/plain", "not found\n", 10);
}

static int start(struct proxy_ctx *ctx, struct bosun_err *err)
{
    int r;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    /* blocked before any thread starts, so every thread inherits the mask */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    ctx->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (ctx->sigfd < 0)
        return err_errno(err, -errno, "signalfd");

    if ((r = loop_new(&ctx->loop, err)) < 0)
        return r;
    ctx->sigw = loop_watch(ctx->loop, ctx->sigfd, EPOLLIN, on_signal, ctx, err);
    if (!ctx->sigw)
        return err->code;
    struct proxy_fwd_opts fo = {.listen_addrs = ctx->opts.nodeport_addresses};
    if ((r = proxy_fwd_new(ctx->loop, &fo, &ctx->fwd, err)) < 0)
        return r;
    if ((r = httpc_new(ctx->opts.server, ctx->opts.token_file, &ctx->client, err)) < 0)
        return r;
    if (ctx->opts.ca_file && (r = httpc_set_ca_file(ctx->client, ctx->opts.ca_file, err)) < 0)
        return r;
    struct informer_handlers h = {on_add, on_update, on_delete, ctx};
    struct informer_opts io = {.client = ctx->client,
                               .path = "/api/v1/services",
                               .resync_ms = 5 * 60 * 1000,
                               .handlers = h};
    if ((r = informer_start(&io, &ctx->svc_inf, err)) < 0)
        return err_wrap(err, "services informer");
    io.path = "/api/v1/endpoints";
    if ((r = informer_start(&io, &ctx->ep_inf, err)) < 0)
        return err_wrap(err, "endpoints informer");
    if (ctx->opts.healthz_listen && *ctx->opts.healthz_listen) {
        struct httpd_opts ho = {.listen = ctx->opts.healthz_listen};
        if ((r = httpd_start(&ho, healthz_handler, ctx, &ctx->healthz, err)) < 0)
            return err_wrap(err, "healthz");
    }
    if (loop_timer(ctx->loop, 0, tick, ctx) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static void stop(struct proxy_ctx *ctx)
{
    httpd_stop(ctx->healthz);
    /* informers first: their handlers post to the loop */
    informer_stop(ctx->svc_inf);
    informer_stop(ctx->ep_inf);
    proxy_fwd_free(ctx->fwd);
    if (ctx->loop && ctx->sigw)
        loop_unwatch(ctx->loop, ctx->sigw);
    loop_free(ctx->loop);
    httpc_free(ctx->client);
    if (ctx->sigfd >= 0)
        close(ctx->sigfd);
}

int main(int argc, char **argv)
{
    static char hostname[256];
    if (gethostname(hostname, sizeof(hostname) - 1) < 0)
        snprintf(hostname, sizeof(hostname), "localhost");
    struct proxy_ctx ctx = {.sigfd = -1};
    ctx.opts = (struct proxy_opts){.node_name = hostname,
                                   .mode = "userspace",
                                   .nodeport_addresses = "0.0.0.0",
                                   .server = "http://127.0.0.1:6443",
                                   .log_level = "info",
                                   .log_format = "text"};
    struct flag_def defs[] = {
        {"node-name", FLAG_STR, &ctx.opts.node_name, "this node's name [hostname]"},
        {"mode", FLAG_STR, &ctx.opts.mode, "datapath: userspace|nftables [userspace]"},
        {"nodeport-addresses", FLAG_STR, &ctx.opts.nodeport_addresses,
         "comma-separated IPs NodePorts listen on [0.0.0.0]"},
        {"server", FLAG_STR, &ctx.opts.server, "API server URL [http://127.0.0.1:6443]"},
        {"token-file", FLAG_STR, &ctx.opts.token_file, "file holding the bearer token"},
        {"certificate-authority", FLAG_STR, &ctx.opts.ca_file,
         "PEM file of the CA that signed an https:// server's certificate"},
        {"log-level", FLAG_STR, &ctx.opts.log_level, "debug|info|warn|error [info]"},
        {"log-format", FLAG_STR, &ctx.opts.log_format, "text|json [text]"},
        {"healthz-listen", FLAG_STR, &ctx.opts.healthz_listen,
         "ADDR for /healthz and /metrics [off]"},
        {0}};
    struct bosun_err err = {0};
    int nargs = 0;
    int r = flags_parse(defs, argc, argv, &nargs, &err);
    if (r == -ECANCELED) {
        flags_usage(stdout, "proxy", defs);
        return 0;
    }
    if (r < 0 || nargs > 0) {
        fprintf(stderr, "proxy: %s\n", r < 0 ? err.msg : "unexpected argument");
        flags_usage(stderr, "proxy", defs);
        return 2;
    }
    if (log_setup("proxy", ctx.opts.log_level, ctx.opts.log_format) < 0) {
        fprintf(stderr, "proxy: bad --log-level or --log-format\n");
        return 2;
    }
    if (strcmp(ctx.opts.mode, "nftables") == 0) {
        log_error("--mode nftables is not supported yet; use --mode userspace");
        return 2;
    }
    if (strcmp(ctx.opts.mode, "userspace") != 0) {
        log_error("unknown --mode %s (userspace|nftables)", ctx.opts.mode);
        return 2;
    }
    int rc = 0;
    if ((r = start(&ctx, &err)) < 0) {
        log_error("%s", err.msg);
        rc = 1;
        goto out;
    }
    log_info("node %s, userspace mode, NodePorts on %s, server %s", ctx.opts.node_name,
             ctx.opts.nodeport_addresses, ctx.opts.server);
    if ((r = loop_run(ctx.loop, &err)) < 0) {
        log_error("%s", err.msg);
        rc = 1;
    }
out:
    stop(&ctx);
    return rc;
}
