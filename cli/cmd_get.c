/* bosun get KIND [NAME] [-n NS] [-A] [-l SEL] [-o json|yaml|wide] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "cli/util.h"
#include "cli/yamlout.h"
#include "lib/jsonx.h"

static const char get_usage[] =
    "bosun get KIND [NAME] [-n NS] [-A] [-l SELECTOR] [-o json|yaml|wide] [--kubeconfig F]";

/* The list's items carry no kind/apiVersion on the wire; put them back for -o json|yaml
 * (kubectl does the same). */
static void add_type_meta(const struct schema_kind *k, json_t *obj)
{
    char av[64];
    schema_kind_api_version(k, av, sizeof(av));
    if (!json_object_get(obj, "apiVersion"))
        json_object_set_new(obj, "apiVersion", json_string(av));
    if (!json_object_get(obj, "kind"))
        json_object_set_new(obj, "kind", json_string(k->kind));
}

static int print_doc(json_t *doc, const char *output)
{
    if (strcmp(output, "yaml") == 0) {
        char *y = cli_yaml_dumps(doc);
        if (!y) {
            cli_errorf("out of memory");
            return 1;
        }
        fputs(y, stdout);
        free(y);
        return 0;
    }
    char *s = json_dumps(doc, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    if (!s) {
        cli_errorf("out of memory");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

int cli_cmd_get(int argc, char **argv)
{
    struct cli c = {0};
    const char *ns_flag = NULL, *selector = NULL, *output = "";
    int all_ns = 0;
    struct flag_def defs[] = {
        {"namespace", FLAG_STR, &ns_flag, "namespace [from kubeconfig, else default]"},
        {"all-namespaces", FLAG_BOOL, &all_ns, "list across all namespaces (-A)"},
        {"selector", FLAG_STR, &selector, "label selector (-l app=web)"},
        {"output", FLAG_STR, &output, "json|yaml|wide"},
        {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
        {0}};
    static const struct cli_short shorts[] = {{'n', "namespace", true},
                                              {'A', "all-namespaces", false},
                                              {'l', "selector", true},
                                              {'o', "output", true},
                                              {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(get_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    json_t *resp = NULL;
    char *path = NULL;
    struct cli_table t = {0};
    rc = 1;
    if (npos < 1 || npos > 2) {
        cli_errorf("expected KIND [NAME]");
        fprintf(stderr, "usage: %s\n", get_usage);
        rc = 2;
        goto out;
    }
    if (*output && strcmp(output, "json") && strcmp(output, "yaml") && strcmp(output, "wide")) {
        cli_errorf("unknown output format %s (json, yaml, wide)", output);
        rc = 2;
        goto out;
    }
    const struct schema_kind *k = cli_kind_resolve(args[0]);
    if (!k) {
        cli_errorf("the server doesn't have a resource type \"%s\"", args[0]);
        goto out;
    }
    const char *name = npos == 2 ? args[1] : NULL;
    if (name && all_ns) {
        cli_errorf("a resource cannot be retrieved by name across all namespaces");
        rc = 2;
        goto out;
    }
    if (cli_connect(&c))
        goto out;
    const char *ns = k->namespaced && !all_ns ? cli_namespace(&c, ns_flag) : NULL;
    path = cli_api_path(k, ns, name, NULL);
    if (!path) {
        cli_errorf("out of memory");
        goto out;
    }
    if (selector && *selector && !name) {
        char *esc = httpc_escape(selector);
        char *np = NULL;
        if (!esc || asprintf(&np, "%s?labelSelector=%s", path, esc) < 0) {
            free(esc);
            cli_errorf("out of memory");
            goto out;
        }
        free(esc);
        free(path);
        path = np;
    }
    long st = cli_request(&c, "GET", path, NULL, NULL, &resp);
    if (st < 0)
        goto out;
    if (st < 200 || st > 299) {
        cli_print_server_error(st, resp);
        goto out;
    }
    if (!json_is_object(resp)) {
        cli_errorf("GET %s: the server did not answer JSON", path);
        goto out;
    }
    json_t *items = name ? NULL : json_object_get(resp, "items");
    if (!name && !json_is_array(items)) {
        cli_errorf("GET %s: the answer has no items", path);
        goto out;
    }
    if (!strcmp(output, "json") || !strcmp(output, "yaml")) {
        if (name) {
            add_type_meta(k, resp);
            rc = print_doc(resp, output);
        } else {
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it) add_type_meta(k, it);
            /* kubectl prints a plain List */
            json_t *list = json_pack("{s:s, s:O, s:s, s:{s:s}}", "apiVersion", "v1", "items",
                                     items, "kind", "List", "metadata", "resourceVersion", "");
            if (!list) {
                cli_errorf("out of memory");
                goto out;
            }
            rc = print_doc(list, output);
            json_decref(list);
        }
        goto out;
    }
    json_t *one = NULL;
    if (name) {
        one = json_array();
        json_array_append(one, resp);
        items = one;
    }
    if (json_array_size(items) == 0) {
        if (k->namespaced && !all_ns)
            fprintf(stderr, "No resources found in %s namespace.\n", ns);
        else
            fprintf(stderr, "No resources found\n");
        json_decref(one);
        rc = 0;
        goto out;
    }
    int r = cli_table_for(k, items, !strcmp(output, "wide"), all_ns && k->namespaced,
                          time(NULL), &t);
    json_decref(one);
    char *s = r == 0 ? cli_table_render(&t) : NULL;
    if (!s) {
        cli_errorf("out of memory");
        goto out;
    }
    fputs(s, stdout);
    free(s);
    rc = 0;
out:
    cli_table_free(&t);
    json_decref(resp);
    free(path);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}
