/* bosun sync [--no-wait] [--timeout 60s]   and   bosun status [-o json]
 *
 * Both read the GitRepository bosun-system/<name> that gitsync keeps its state in. sync
 * sets the request annotation (bosun.io/requested-at = now, RFC 3339 with nanoseconds)
 * with a merge patch and waits until gitsync reports it handled exactly that request
 * (status.lastHandledReconcileAt), the same handshake as Flux's reconcile annotation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "cli/util.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"

#define SYNC_ANNOTATION "bosun.io/requested-at"
#define SYNC_NAMESPACE "bosun-system"

static const char sync_usage[] =
    "bosun sync [--no-wait] [--timeout 60s] [--name default] [--kubeconfig F]";
static const char status_usage[] = "bosun status [-o json] [--name default] [--kubeconfig F]";

static const json_t *ready_condition(const json_t *status)
{
    const json_t *conds = json_object_get(status, "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *t = jsonx_get_str(c, "type");
        if (t && strcmp(t, "Ready") == 0)
            return c;
    }
    return NULL;
}

/* 1 when gitsync's last attempt failed. */
static int sync_failed(const json_t *status)
{
    const json_t *ready = ready_condition(status);
    const char *st = ready ? jsonx_get_str(ready, "status") : NULL;
    if (st && strcmp(st, "False") == 0)
        return 1;
    return json_array_size(json_object_get(status, "errors")) > 0;
}

static void print_sync_state(const json_t *status, FILE *out)
{
    const json_t *ready = ready_condition(status);
    const char *st = ready ? jsonx_get_str(ready, "status") : NULL;
    const char *reason = ready ? jsonx_get_str(ready, "reason") : NULL;
    const char *msg = ready ? jsonx_get_str(ready, "message") : NULL;
    const char *applied = jsonx_get_str(status, "lastAppliedRevision");
    const char *attempted = jsonx_get_str(status, "lastAttemptedRevision");
    fprintf(out, "Sync:       %s%s%s%s\n",
            !st                         ? "Unknown"
            : strcmp(st, "True") == 0   ? "Ready"
            : strcmp(st, "False") == 0  ? "Failed"
                                        : "Unknown",
            reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
    fprintf(out, "Applied:    %s\n", applied && *applied ? applied : "<none>");
    fprintf(out, "Attempted:  %s\n", attempted && *attempted ? attempted : "<none>");
    if (msg && *msg)
        fprintf(out, "Message:    %s\n", msg);
    const json_t *errors = json_object_get(status, "errors");
    if (json_array_size(errors) > 0) {
        fprintf(out, "Errors:\n");
        size_t i;
        const json_t *e;
        json_array_foreach(errors, i, e)
        {
            const char *file = jsonx_get_str(e, "file");
            long long line = jsonx_get_int(e, "line", 0);
            long long col = jsonx_get_int(e, "column", 0);
            const char *field = jsonx_get_str(e, "field");
            const char *m = jsonx_get_str(e, "message");
            fprintf(out, "  ");
            if (file && *file) {
                fprintf(out, "%s", file);
                if (line > 0)
                    fprintf(out, ":%lld:%lld", line, col > 0 ? col : 1);
                fprintf(out, ": ");
            }
            if (field && *field)
                fprintf(out, "%s: ", field);
            fprintf(out, "%s\n", m ? m : "");
        }
    }
}

/* GETs the GitRepository; prints the error and returns 1 when it cannot. */
static int get_gitrepo(struct cli *c, const char *name, json_t **out)
{
    const struct schema_kind *k = cli_kind_resolve("gitrepositories");
    char *path = k ? cli_api_path(k, SYNC_NAMESPACE, name, NULL) : NULL;
    if (!path) {
        cli_errorf("out of memory");
        return 1;
    }
    json_t *obj = NULL;
    long st = cli_request(c, "GET", path, NULL, NULL, &obj);
    free(path);
    if (st < 0)
        return 1;
    if (st == 404) {
        cli_errorf("no GitRepository %s/%s: is gitsync running?", SYNC_NAMESPACE, name);
        json_decref(obj);
        return 1;
    }
    if (st < 200 || st > 299) {
        cli_print_server_error(st, obj);
        json_decref(obj);
        return 1;
    }
    *out = obj;
    return 0;
}

int cli_cmd_sync(int argc, char **argv)
{
    struct cli c = {0};
    int no_wait = 0;
    int64_t timeout_ms = 60000;
    const char *name = "default";
    struct flag_def defs[] = {{"no-wait", FLAG_BOOL, &no_wait, "return once requested"},
                              {"timeout", FLAG_DURATION, &timeout_ms, "how long to wait [60s]"},
                              {"name", FLAG_STR, &name, "GitRepository name [default]"},
                              {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
                              {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(sync_usage, defs, NULL, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    json_t *obj = NULL, *patch = NULL, *resp = NULL;
    char *path = NULL;
    rc = 1;
    if (npos > 0) {
        cli_errorf("sync takes no arguments");
        rc = 2;
        goto out;
    }
    if (cli_connect(&c))
        goto out;
    if (get_gitrepo(&c, name, &obj))
        goto out;
    char now[64];
    cli_now_rfc3339nano(now, sizeof(now));
    patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", SYNC_ANNOTATION, now);
    path = cli_api_path(cli_kind_resolve("gitrepositories"), SYNC_NAMESPACE, name, NULL);
    if (!patch || !path) {
        cli_errorf("out of memory");
        goto out;
    }
    long st = cli_request(&c, "PATCH", path, "application/merge-patch+json", patch, &resp);
    if (st < 0)
        goto out;
    if (st < 200 || st > 299) {
        cli_print_server_error(st, resp);
        goto out;
    }
    if (no_wait) {
        printf("sync requested at %s\n", now);
        rc = 0;
        goto out;
    }
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        json_decref(obj);
        obj = NULL;
        if (get_gitrepo(&c, name, &obj))
            goto out;
        const char *handled = jsonx_get_str(obj, "status.lastHandledReconcileAt");
        if (handled && strcmp(handled, now) == 0)
            break;
        if (time_mono_ms() >= deadline) {
            cli_errorf("timed out after %llds waiting for gitsync to handle the sync request "
                       "(%s); last state:",
                       (long long)(timeout_ms / 1000), now);
            const json_t *status = json_object_get(obj, "status");
            if (status)
                print_sync_state(status, stderr);
            goto out;
        }
        usleep(200 * 1000);
    }
    const json_t *status = json_object_get(obj, "status");
    print_sync_state(status, stdout);
    rc = sync_failed(status) ? 1 : 0;
out:
    json_decref(obj);
    json_decref(patch);
    json_decref(resp);
    free(path);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}

/* Deployments, and ReplicaSets no Deployment owns, as {kind, namespace, name, ready,
 * desired}. */
static int collect_workloads(struct cli *c, json_t *out)
{
    static const char *const resources[] = {"deployments", "replicasets"};
    for (size_t r = 0; r < 2; r++) {
        const struct schema_kind *k = cli_kind_resolve(resources[r]);
        char *path = cli_api_path(k, NULL, NULL, NULL);
        json_t *list = NULL;
        long st = path ? cli_request(c, "GET", path, NULL, NULL, &list) : -1;
        free(path);
        if (st < 200 || st > 299) {
            if (st > 0)
                cli_print_server_error(st, list);
            json_decref(list);
            return 1;
        }
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(list, "items"), i, it)
        {
            if (r == 1 && json_array_size(jsonx_get(it, "metadata") ?
                                              json_object_get(jsonx_get(it, "metadata"),
                                                              "ownerReferences")
                                                                     : NULL) > 0)
                continue;
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:s, s:I, s:I}", "kind", k->kind, "namespace",
                               jsonx_get_str(it, "metadata.namespace")
                                   ? jsonx_get_str(it, "metadata.namespace")
                                   : "",
                               "name",
                               jsonx_get_str(it, "metadata.name") ? jsonx_get_str(it, "metadata.name")
                                                                  : "",
                               "ready", (json_int_t)jsonx_get_int(it, "status.readyReplicas", 0),
                               "desired", (json_int_t)jsonx_get_int(it, "spec.replicas", 1)));
        }
        json_decref(list);
    }
    return 0;
}

int cli_cmd_status(int argc, char **argv)
{
    struct cli c = {0};
    const char *output = "";
    const char *name = "default";
    struct flag_def defs[] = {{"output", FLAG_STR, &output, "json"},
                              {"name", FLAG_STR, &name, "GitRepository name [default]"},
                              {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
                              {0}};
    static const struct cli_short shorts[] = {{'o', "output", true}, {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(status_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    json_t *obj = NULL, *workloads = json_array(), *doc = NULL;
    struct cli_table t = {0};
    rc = 1;
    if (npos > 0 || (*output && strcmp(output, "json") != 0)) {
        cli_errorf("usage: %s", status_usage);
        rc = 2;
        goto out;
    }
    if (cli_connect(&c))
        goto out;
    if (get_gitrepo(&c, name, &obj))
        goto out;
    if (collect_workloads(&c, workloads))
        goto out;
    json_t *status = json_object_get(obj, "status");
    if (!status) {
        status = json_object();
        json_object_set_new(obj, "status", status);
    }
    int failed = sync_failed(status);
    if (strcmp(output, "json") == 0) {
        doc = json_pack("{s:O, s:O}", "sync", status, "workloads", workloads);
        char *s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (!s) {
            cli_errorf("out of memory");
            goto out;
        }
        puts(s);
        free(s);
        rc = failed;
        goto out;
    }
    const char *url = jsonx_get_str(obj, "spec.url");
    const char *branch = jsonx_get_str(obj, "spec.branch");
    printf("Repository: %s%s%s\n", url ? url : "<unknown>", branch ? " branch " : "",
           branch ? branch : "");
    print_sync_state(status, stdout);
    printf("\nWorkloads:\n");
    const char *hdr[] = {"KIND", "NAMESPACE", "NAME", "READY"};
    if (cli_table_init(&t, 4, hdr) < 0)
        goto out;
    size_t i;
    const json_t *w;
    json_array_foreach(workloads, i, w)
    {
        char ready[64];
        snprintf(ready, sizeof(ready), "%lld/%lld", jsonx_get_int(w, "ready", 0),
                 jsonx_get_int(w, "desired", 0));
        const char *row[] = {jsonx_get_str(w, "kind"), jsonx_get_str(w, "namespace"),
                             jsonx_get_str(w, "name"), ready};
        cli_table_add(&t, row);
    }
    if (json_array_size(workloads) == 0) {
        printf("  (none)\n");
    } else {
        char *s = cli_table_render(&t);
        if (s) {
            /* indent the table under its heading */
            for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
                printf("  %s\n", line);
        }
        free(s);
    }
    rc = failed;
out:
    cli_table_free(&t);
    json_decref(doc);
    json_decref(obj);
    json_decref(workloads);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}
