/* bosun logs POD [-c CONTAINER] [-f] [-n NS] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "lib/jsonx.h"

static const char logs_usage[] = "bosun logs POD [-c CONTAINER] [-f] [-n NS] [--kubeconfig F]";

static volatile int logs_stop;

static void on_sigint(int sig)
{
    (void)sig;
    logs_stop = 1;
}

static int print_line(const char *line, size_t len, void *userdata)
{
    (void)userdata;
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

int cli_cmd_logs(int argc, char **argv)
{
    struct cli c = {0};
    const char *ns_flag = NULL, *container = NULL;
    int follow = 0;
    struct flag_def defs[] = {{"namespace", FLAG_STR, &ns_flag, "namespace"},
                              {"container", FLAG_STR, &container, "container [the only one]"},
                              {"follow", FLAG_BOOL, &follow, "stream new lines as they come"},
                              {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
                              {0}};
    static const struct cli_short shorts[] = {{'n', "namespace", true},
                                              {'c', "container", true},
                                              {'f', "follow", false},
                                              {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(logs_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    char *path = NULL;
    rc = 1;
    if (npos != 1) {
        cli_errorf("expected one POD");
        fprintf(stderr, "usage: %s\n", logs_usage);
        rc = 2;
        goto out;
    }
    if (cli_connect(&c))
        goto out;
    const struct schema_kind *pods = cli_kind_resolve("pods");
    char *base = cli_api_path(pods, cli_namespace(&c, ns_flag), args[0], "log");
    char *ec = container ? httpc_escape(container) : NULL;
    if (!base || (container && !ec) ||
        asprintf(&path, "%s%s%s%s%s", base, container || follow ? "?" : "",
                 container ? "container=" : "", container ? ec : "",
                 follow ? (container ? "&follow=true" : "follow=true") : "") < 0) {
        path = NULL;
        free(base);
        free(ec);
        cli_errorf("out of memory");
        goto out;
    }
    free(base);
    free(ec);
    struct bosun_err err = {0};
    if (follow) {
        struct sigaction sa = {.sa_handler = on_sigint};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (httpc_stream(c.http, path, print_line, NULL, &logs_stop, &err) < 0) {
            cli_errorf("%s", err.msg);
            goto out;
        }
        rc = 0;
        goto out;
    }
    struct httpc_resp resp = {0};
    if (httpc_request(c.http, "GET", path, NULL, NULL, 0, 0, &resp, &err) < 0) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        json_t *j = jsonx_loadb(resp.body ? resp.body : "", resp.len, NULL);
        cli_print_server_error(resp.status, j);
        json_decref(j);
    } else {
        fwrite(resp.body, 1, resp.len, stdout);
        rc = 0;
    }
    httpc_resp_free(&resp);
out:
    free(path);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}
