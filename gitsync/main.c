/* gitsync — applies a Git repository of manifests to the cluster (see docs/gitsync.md). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitsync/hook.h"
#include "gitsync/sync.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/log.h"

/* Parsed flags: one of the two kinds of globals STYLE allows. */
static struct {
    const char *repo, *branch, *path, *cache_dir, *name;
    const char *webhook_listen, *webhook_secret_file;
    const char *server, *token_file, *ca_file, *log_level, *log_format, *healthz_listen;
    int64_t interval_ms;
    int prune;
} flags = {
    .path = ".",
    .cache_dir = "/var/lib/bosun/gitsync",
    .name = "default",
    .webhook_listen = "127.0.0.1:9292",
    .server = "http://127.0.0.1:6443",
    .log_level = "info",
    .log_format = "text",
    .interval_ms = 30000,
    .prune = 1,
};

static const struct flag_def flag_defs[] = {
    {"repo", FLAG_STR, &flags.repo, "repository to follow: a path, file:// or https:// URL"},
    {"branch", FLAG_STR, &flags.branch, "branch to follow [the remote's default branch]"},
    {"path", FLAG_STR, &flags.path, "directory of the manifests inside the repository [.]"},
    {"interval", FLAG_DURATION, &flags.interval_ms, "time between syncs [30s]"},
    {"webhook-listen", FLAG_STR, &flags.webhook_listen,
     "address of POST /hook [127.0.0.1:9292]; \"off\" disables it"},
    {"webhook-secret-file", FLAG_STR, &flags.webhook_secret_file,
     "file holding the HMAC secret webhooks must sign with (X-Hub-Signature-256)"},
    {"prune", FLAG_BOOL, &flags.prune, "delete objects Git no longer has [true]"},
    {"name", FLAG_STR, &flags.name, "GitRepository to report to, in bosun-system [default]"},
    {"cache-dir", FLAG_STR, &flags.cache_dir,
     "where the bare mirror of the repository is kept [/var/lib/bosun/gitsync]"},
    {"server", FLAG_STR, &flags.server, "API server URL [http://127.0.0.1:6443]"},
    {"token-file", FLAG_STR, &flags.token_file, "file holding this client's bearer token"},
    {"certificate-authority", FLAG_STR, &flags.ca_file,
     "PEM file of the CA that signed an https:// server's certificate [the system's CAs]"},
    {"log-level", FLAG_STR, &flags.log_level, "debug|info|warn|error [info]"},
    {"log-format", FLAG_STR, &flags.log_format, "text|json [text]"},
    {"healthz-listen", FLAG_STR, &flags.healthz_listen, "address of /healthz and /metrics"},
    {0},
};

static void healthz_handle(struct httpd_req *req, void *userdata)
{
    struct gitsync *g = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/healthz") == 0) {
        httpd_respond(req, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(path, "/metrics") == 0) {
        char *m = gitsync_metrics(g);
        if (m)
            httpd_respond(req, 200, "text/plain; version=0.0.4", m, strlen(m));
        else
            httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
        free(m);
    } else {
        httpd_respond(req, 404, "text/plain", "not found\n", 10);
    }
}

static void on_hook(void *userdata)
{
    gitsync_trigger(userdata);
}

static void *run_main(void *arg)
{
    gitsync_run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bosun_err err = {0};
    struct httpc *client = NULL;
    struct gitsync_hook *hook = NULL;
    struct httpd *healthz = NULL;
    struct gitsync g;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    int nargs = 0, rc = 1, g_ready = 0;
    pthread_t runner;
    sigset_t sigs;

    int r = flags_parse(flag_defs, argc, argv, &nargs, &err);
    if (r == -ECANCELED) {
        flags_usage(stdout, "gitsync", flag_defs);
        return 0;
    }
    if (r < 0 || nargs > 0) {
        fprintf(stderr, "gitsync: %s\n", r < 0 ? err.msg : "unexpected argument");
        flags_usage(stderr, "gitsync", flag_defs);
        return 2;
    }
    if (log_setup("gitsync", flags.log_level, flags.log_format) < 0) {
        fprintf(stderr, "gitsync: bad --log-level or --log-format\n");
        return 2;
    }
    if (!flags.repo || !*flags.repo) {
        fprintf(stderr, "gitsync: --repo is required\n");
        return 2;
    }
    if (flags.interval_ms <= 0) {
        fprintf(stderr, "gitsync: --interval must be positive\n");
        return 2;
    }

    /* Signals go to the main thread's sigwait only: block them before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (flags.webhook_secret_file &&
        gitsync_hook_read_secret(flags.webhook_secret_file, &secret, &secret_len, &err) < 0)
        goto out;
    if (httpc_new(flags.server, flags.token_file, &client, &err) < 0 ||
        (flags.ca_file && httpc_set_ca_file(client, flags.ca_file, &err) < 0)) {
        err_wrap(&err, "client for %s", flags.server);
        goto out;
    }
    struct gitsync_opts o = {
        .repo = flags.repo,
        .branch = flags.branch,
        .path = flags.path,
        .cache_dir = flags.cache_dir,
        .name = flags.name,
        .interval_ms = flags.interval_ms,
        .prune = flags.prune,
    };
    if (gitsync_init(&g, &o, client, &err) < 0)
        goto out;
    g_ready = 1;
    if (flags.webhook_listen && *flags.webhook_listen && strcmp(flags.webhook_listen, "off") != 0) {
        if (gitsync_hook_start(flags.webhook_listen, secret, secret_len, on_hook, &g, &hook,
                               &err) < 0)
            goto out;
        log_info("webhook: POST /hook on port %d%s", gitsync_hook_port(hook),
                 secret ? " (signed with X-Hub-Signature-256)" : "");
    }
    if (flags.healthz_listen) {
        struct httpd_opts ho = {.listen = flags.healthz_listen, .max_body = 4096, .threads = 1};
        if (httpd_start(&ho, healthz_handle, &g, &healthz, &err) < 0) {
            err_wrap(&err, "healthz: listen %s", flags.healthz_listen);
            goto out;
        }
    }
    log_info("following %s (branch %s, path %s) every %lld ms; reporting to "
             "bosun-system/%s at %s",
             g.repo_url, flags.branch ? flags.branch : "<default>", flags.path,
             (long long)flags.interval_ms, flags.name, flags.server);
    if (pthread_create(&runner, NULL, run_main, &g) != 0) {
        err_set(&err, -EAGAIN, "cannot start the sync thread");
        goto out;
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("signal %d: stopping", sig);
    gitsync_stop(&g);
    pthread_join(runner, NULL);
    rc = 0;
out:
    if (rc != 0 && err.msg[0])
        log_error("%s", err.msg);
    gitsync_hook_stop(hook);
    httpd_stop(healthz);
    if (g_ready)
        gitsync_destroy(&g);
    httpc_free(client);
    free(secret);
    return rc;
}
