/* bin/scheduler — assigns pending pods to nodes (see scheduler/scheduler.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "scheduler/scheduler.h"

struct scheduler_flags {
    const char *server;
    const char *token_file;
    const char *ca_file;
    const char *log_level;
    const char *log_format;
    const char *healthz_listen;
};

static struct scheduler_flags g_flags = {
    .server = "http://127.0.0.1:6443",
    .log_level = "info",
    .log_format = "text",
};

static void serve_health(struct httpd_req *req, void *userdata)
{
    struct scheduler *s = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (strcmp(path, "/readyz") == 0 && !scheduler_synced(s))
            httpd_respond(req, 503, "text/plain", "caches not synced\n", 18);
        else
            httpd_respond(req, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
            return;
        }
        scheduler_write_metrics(s, f);
        fclose(f);
        httpd_respond(req, 200, "text/plain; version=0.0.4", buf, len);
        free(buf);
        return;
    }
    httpd_respond(req, 404, "text/plain", "not found\n", 10);
}

int main(int argc, char **argv)
{
    struct flag_def defs[] = {
        {"server", FLAG_STR, &g_flags.server, "reconcilerd URL [http://127.0.0.1:6443]"},
        {"token-file", FLAG_STR, &g_flags.token_file, "file holding the bearer token"},
        {"certificate-authority", FLAG_STR, &g_flags.ca_file,
         "PEM file of the CA that signed an https:// server's certificate"},
        {"log-level", FLAG_STR, &g_flags.log_level, "debug|info|warn|error [info]"},
        {"log-format", FLAG_STR, &g_flags.log_format, "text|json [text]"},
        {"healthz-listen", FLAG_STR, &g_flags.healthz_listen,
         "address for /healthz, /readyz and /metrics (off unless given)"},
        {0}};
    struct bosun_err err = {0};
    int nargs = 0;
    int r = flags_parse(defs, argc, argv, &nargs, &err);
    if (r == -ECANCELED) {
        flags_usage(stdout, "scheduler", defs);
        return 0;
    }
    if (r < 0 || nargs > 0) {
        fprintf(stderr, "scheduler: %s\n", r < 0 ? err.msg : "unexpected argument");
        flags_usage(stderr, "scheduler", defs);
        return 2;
    }
    if (log_setup("scheduler", g_flags.log_level, g_flags.log_format) < 0) {
        fprintf(stderr, "scheduler: bad --log-level or --log-format\n");
        return 2;
    }

    /* every thread inherits the mask; main takes the signals with sigwait */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct scheduler *s = NULL;
    struct httpd *hz = NULL;
    struct scheduler_opts so = {
        .server = g_flags.server, .token_file = g_flags.token_file, .ca_file = g_flags.ca_file};
    r = scheduler_start(&so, &s, &err);
    if (r < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    if (g_flags.healthz_listen) {
        struct httpd_opts ho = {.listen = g_flags.healthz_listen, .threads = 1, .max_conns = 64};
        r = httpd_start(&ho, serve_health, s, &hz, &err);
        if (r < 0) {
            log_error("healthz: %s", err.msg);
            scheduler_stop(s);
            return 1;
        }
    }
    log_info("scheduler: started (server %s)", g_flags.server);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("scheduler: signal %d, stopping", sig);
    httpd_stop(hz);
    scheduler_stop(s);
    return 0;
}
