#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/jsonx.h"

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const struct cli_short *find_short(const struct cli_short *s, char c)
{
    for (; s && s->c; s++) {
        if (s->c == c)
            return s;
    }
    return NULL;
}

char **cli_args_expand(int argc, char **argv, const struct cli_short *shorts, int *nargc)
{
    /* each argument grows to at most two */
    char **out = calloc((size_t)argc * 2 + 1, sizeof(*out));
    if (!out)
        return NULL;
    int n = 0;
    bool rest = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (i == 0 || rest || a[0] != '-' || a[1] == '-' || a[1] == '\0') {
            if (strcmp(a, "--") == 0)
                rest = true;
            out[n++] = a;
            continue;
        }
        const struct cli_short *s = find_short(shorts, a[1]);
        if (!s) {
            out[n++] = a;
            continue;
        }
        /* "--name" lives in a static table: the long names are string literals */
        static char longs[32][48];
        static int nlongs;
        char *name = NULL;
        for (int k = 0; k < nlongs; k++) {
            if (strcmp(longs[k] + 2, s->long_name) == 0)
                name = longs[k];
        }
        if (!name && nlongs < 32) {
            snprintf(longs[nlongs], sizeof(longs[0]), "--%s", s->long_name);
            name = longs[nlongs++];
        }
        if (!name) {
            out[n++] = a;
            continue;
        }
        out[n++] = name;
        if (s->takes_value && a[2] != '\0')
            out[n++] = a + 2 + (a[2] == '=');
    }
    out[n] = NULL;
    *nargc = n;
    return out;
}

void cli_args_free(char **argv)
{
    free(argv);
}

int cli_parse(const char *usage, const struct flag_def *defs, const struct cli_short *shorts,
              int argc, char **argv, char ***argv_out, int *npos)
{
    int n = 0;
    char **v = cli_args_expand(argc, argv, shorts, &n);
    if (!v) {
        cli_errorf("out of memory");
        return 2;
    }
    struct bosun_err err = {0};
    int r = flags_parse(defs, n, v, npos, &err);
    if (r == -ECANCELED) {
        printf("usage: %s\n", usage);
        flags_usage(stdout, argv[0], defs);
        cli_args_free(v);
        return -1;
    }
    if (r < 0) {
        cli_errorf("%s", err.msg);
        fprintf(stderr, "usage: %s\n", usage);
        cli_args_free(v);
        return 2;
    }
    for (int i = 0; i < *npos; i++) {
        if (v[i][0] == '-' && v[i][1] != '\0' && strcmp(v[i], "-") != 0) {
            cli_errorf("unknown flag: %s", v[i]);
            fprintf(stderr, "usage: %s\n", usage);
            cli_args_free(v);
            return 2;
        }
    }
    *argv_out = v;
    return 0;
}

int cli_connect(struct cli *c)
{
    struct bosun_err err = {0};
    c->kubeconfig_path = cli_kubeconfig_path(c->kubeconfig_flag);
    if (cli_kubeconfig_load(c->kubeconfig_path, &c->kc, &err) < 0) {
        cli_errorf("%s (use --kubeconfig or $KUBECONFIG; `bosun up` writes DIR/kubeconfig)",
                   err.msg);
        return 1;
    }
    if (httpc_new_token(c->kc.server, c->kc.token, &c->http, &err) < 0 ||
        (c->kc.ca_pem && httpc_set_ca_pem(c->http, c->kc.ca_pem, &err) < 0) ||
        (c->kc.ca_file && httpc_set_ca_file(c->http, c->kc.ca_file, &err) < 0)) {
        cli_errorf("%s (kubeconfig %s)", err.msg, c->kubeconfig_path);
        return 1;
    }
    return 0;
}

void cli_close(struct cli *c)
{
    httpc_free(c->http);
    c->http = NULL;
    cli_kubeconfig_free(&c->kc);
}

const char *cli_namespace(const struct cli *c, const char *flag)
{
    if (flag && *flag)
        return flag;
    if (c->kc.namespace && *c->kc.namespace)
        return c->kc.namespace;
    return "default";
}

long cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
                 const json_t *body, json_t **out)
{
    struct bosun_err err = {0};
    long status = 0;
    *out = NULL;
    if (httpc_json(c->http, method, path, ctype, body, &status, out, &err) < 0) {
        cli_errorf("%s %s%s: %s", method, c->kc.server, path, err.msg);
        return -1;
    }
    return status;
}

void cli_print_server_error(long status, const json_t *body)
{
    const char *msg = jsonx_get_str(body, "message");
    const char *reason = jsonx_get_str(body, "reason");
    if (reason && *reason)
        fprintf(stderr, "Error from server (%s): %s\n", reason, msg ? msg : "");
    else
        fprintf(stderr, "Error from server: HTTP %ld%s%s\n", status, msg ? ": " : "",
                msg ? msg : "");
    /* validation failures name their fields */
    const json_t *causes = jsonx_get(body, "details");
    causes = causes ? json_object_get(causes, "causes") : NULL;
    size_t i;
    const json_t *cause;
    json_array_foreach(causes, i, cause)
    {
        const char *f = jsonx_get_str(cause, "field");
        const char *m = jsonx_get_str(cause, "message");
        if (f || m)
            fprintf(stderr, "  %s: %s\n", f ? f : "", m ? m : "");
    }
}
