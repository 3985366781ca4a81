/* bosun apply -f FILE|DIR|-  and  bosun delete -f / bosun delete KIND NAME */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/manifest.h"
#include "cli/util.h"
#include "lib/jsonmerge.h"
#include "lib/jsonx.h"

#define APPLY_CONFLICT_RETRIES 5

static const char apply_usage[] = "bosun apply -f FILE|DIR|- [-n NS] [--kubeconfig F]";
static const char delete_usage[] =
    "bosun delete KIND NAME [-n NS] | bosun delete -f FILE|DIR|- [--kubeconfig F]";

/* The namespace an object goes to: its own, else -n / the context's. A manifest namespace
 * that contradicts an explicit -n is an error, as with kubectl. */
static const char *object_ns(struct cli *c, const struct cli_manifest_obj *o, const char *flag)
{
    if (!o->kind->namespaced)
        return NULL;
    const char *own = jsonx_get_str(o->obj, "metadata.namespace");
    if (own && *own) {
        if (flag && *flag && strcmp(flag, own) != 0) {
            cli_errorf("%s: the namespace from the manifest (%s) does not match -n %s",
                       o->file, own, flag);
            return "";
        }
        return own;
    }
    return cli_namespace(c, flag);
}

/* Applies one object. Returns 0 or 1 (error printed). */
static int apply_one(struct cli *c, struct cli_manifest_obj *o, const char *ns_flag)
{
    char label[96];
    cli_kind_label(o->kind, label, sizeof(label));
    const char *name = jsonx_get_str(o->obj, "metadata.name");
    const char *ns_ref = object_ns(c, o, ns_flag);
    if (ns_ref && !*ns_ref)
        return 1;
    /* a copy: setting metadata.namespace below frees the string ns_ref may point into */
    char ns_buf[256];
    const char *ns = NULL;
    if (ns_ref) {
        snprintf(ns_buf, sizeof(ns_buf), "%s", ns_ref);
        ns = ns_buf;
        jsonx_set_new(o->obj, "metadata.namespace", json_string(ns));
    }
    char *path = cli_api_path(o->kind, ns, name, NULL);
    char *coll = cli_api_path(o->kind, ns, NULL, NULL);
    json_t *live = NULL, *resp = NULL, *merged = NULL, *create = NULL;
    int rc = 1;
    if (!path || !coll) {
        cli_errorf("out of memory");
        goto out;
    }
    for (int attempt = 0; attempt < APPLY_CONFLICT_RETRIES; attempt++) {
        json_decref(live);
        json_decref(resp);
        json_decref(merged);
        live = resp = merged = NULL;
        long st = cli_request(c, "GET", path, NULL, NULL, &live);
        if (st < 0)
            goto out;
        if (st == 404) {
            /* created with the annotation, so the next apply knows what it set */
            if (!create && !(create = jsonmerge_apply(NULL, o->obj))) {
                cli_errorf("out of memory");
                goto out;
            }
            st = cli_request(c, "POST", coll, "application/json", create, &resp);
            if (st < 0)
                goto out;
            if (st == 409)
                continue; /* created meanwhile: update it */
            if (st < 200 || st > 299) {
                fprintf(stderr, "%s:%d: %s/%s: ", o->file, o->line, label, name);
                cli_print_server_error(st, resp);
                goto out;
            }
            printf("%s/%s created\n", label, name);
            rc = 0;
            goto out;
        }
        if (st < 200 || st > 299) {
            cli_print_server_error(st, live);
            goto out;
        }
        /* fields the last apply set and this manifest does not are removed; fields the
         * server or other clients set survive (lib/jsonmerge.h) */
        merged = jsonmerge_apply(live, o->obj);
        if (!merged) {
            cli_errorf("out of memory");
            goto out;
        }
        if (json_equal(merged, live)) {
            printf("%s/%s unchanged\n", label, name);
            rc = 0;
            goto out;
        }
        /* PUT carries the live resourceVersion: a concurrent writer makes it 409, and we
         * re-read and merge again rather than overwrite its change */
        st = cli_request(c, "PUT", path, "application/json", merged, &resp);
        if (st < 0)
            goto out;
        if (st == 409)
            continue;
        if (st < 200 || st > 299) {
            fprintf(stderr, "%s:%d: %s/%s: ", o->file, o->line, label, name);
            cli_print_server_error(st, resp);
            goto out;
        }
        printf("%s/%s configured\n", label, name);
        rc = 0;
        goto out;
    }
    cli_errorf("%s/%s: still conflicting after %d attempts", label, name,
               APPLY_CONFLICT_RETRIES);
out:
    json_decref(live);
    json_decref(resp);
    json_decref(merged);
    json_decref(create);
    free(path);
    free(coll);
    return rc;
}

/* Loads and checks; 0 when every object is valid and served, else 1 (issues printed). */
static int load_all(const char *file, bool validate, struct cli_manifests *m)
{
    struct bosun_err err = {0};
    int r = cli_manifests_load(file, validate, m, stderr, &err);
    if (r < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }
    int bad = r;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->v[i].kind) {
            fprintf(stderr, "%s:%d:1: kind: %s %s is not served by bosun\n", m->v[i].file,
                    m->v[i].line, jsonx_get_str(m->v[i].obj, "apiVersion"),
                    jsonx_get_str(m->v[i].obj, "kind"));
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "error: %d error(s) in %s; nothing was applied\n", bad, file);
        return 1;
    }
    return 0;
}

int cli_cmd_apply(int argc, char **argv)
{
    struct cli c = {0};
    const char *file = NULL, *ns_flag = NULL;
    struct flag_def defs[] = {{"filename", FLAG_STR, &file, "FILE, DIR or - (stdin)"},
                              {"namespace", FLAG_STR, &ns_flag, "namespace for objects without one"},
                              {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
                              {0}};
    static const struct cli_short shorts[] = {
        {'f', "filename", true}, {'n', "namespace", true}, {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(apply_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct cli_manifests m = {0};
    if (!file || npos > 0) {
        cli_errorf("apply needs -f FILE|DIR|- and nothing else");
        fprintf(stderr, "usage: %s\n", apply_usage);
        rc = 2;
        goto out;
    }
    rc = 1;
    if (load_all(file, true, &m))
        goto out;
    if (m.n == 0) {
        cli_errorf("no objects passed to apply");
        goto out;
    }
    cli_manifests_sort(&m);
    if (cli_connect(&c))
        goto out;
    int failed = 0;
    for (size_t i = 0; i < m.n; i++)
        failed += apply_one(&c, &m.v[i], ns_flag);
    rc = failed ? 1 : 0;
out:
    cli_manifests_free(&m);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}

/* Deletes one object; 0 or 1 (error printed). */
static int delete_one(struct cli *c, const struct schema_kind *k, const char *ns,
                      const char *name)
{
    char label[96];
    cli_kind_label(k, label, sizeof(label));
    char *path = cli_api_path(k, ns, name, NULL);
    if (!path) {
        cli_errorf("out of memory");
        return 1;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "propagationPolicy", "Background");
    json_t *resp = NULL;
    long st = cli_request(c, "DELETE", path, "application/json", body, &resp);
    int rc = 1;
    if (st >= 200 && st <= 299) {
        printf("%s \"%s\" deleted\n", label, name);
        rc = 0;
    } else if (st > 0) {
        cli_print_server_error(st, resp);
    }
    json_decref(body);
    json_decref(resp);
    free(path);
    return rc;
}

int cli_cmd_delete(int argc, char **argv)
{
    struct cli c = {0};
    const char *file = NULL, *ns_flag = NULL;
    int ignore_not_found = 0;
    struct flag_def defs[] = {{"filename", FLAG_STR, &file, "FILE, DIR or - (stdin)"},
                              {"namespace", FLAG_STR, &ns_flag, "namespace"},
                              {"ignore-not-found", FLAG_BOOL, &ignore_not_found,
                               "an object that is already gone is not an error"},
                              {"kubeconfig", FLAG_STR, &c.kubeconfig_flag, "kubeconfig file"},
                              {0}};
    static const struct cli_short shorts[] = {
        {'f', "filename", true}, {'n', "namespace", true}, {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(delete_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct cli_manifests m = {0};
    rc = 1;
    if (file) {
        if (npos > 0) {
            cli_errorf("delete -f takes no KIND or NAME");
            rc = 2;
            goto out;
        }
        if (load_all(file, false, &m))
            goto out;
        cli_manifests_sort(&m);
        if (cli_connect(&c))
            goto out;
        int failed = 0;
        for (size_t i = m.n; i-- > 0;) {
            const char *ns = object_ns(&c, &m.v[i], ns_flag);
            if (ns && !*ns) {
                failed++;
                continue;
            }
            if (ignore_not_found) {
                char *p = cli_api_path(m.v[i].kind, ns, jsonx_get_str(m.v[i].obj, "metadata.name"),
                                       NULL);
                json_t *o = NULL;
                long st = p ? cli_request(&c, "GET", p, NULL, NULL, &o) : -1;
                free(p);
                json_decref(o);
                if (st == 404)
                    continue;
            }
            failed += delete_one(&c, m.v[i].kind, ns, jsonx_get_str(m.v[i].obj, "metadata.name"));
        }
        rc = failed ? 1 : 0;
        goto out;
    }
    if (npos != 2) {
        cli_errorf("expected KIND NAME or -f FILE");
        fprintf(stderr, "usage: %s\n", delete_usage);
        rc = 2;
        goto out;
    }
    const struct schema_kind *k = cli_kind_resolve(args[0]);
    if (!k) {
        cli_errorf("the server doesn't have a resource type \"%s\"", args[0]);
        goto out;
    }
    if (cli_connect(&c))
        goto out;
    const char *ns = k->namespaced ? cli_namespace(&c, ns_flag) : NULL;
    if (ignore_not_found) {
        char *p = cli_api_path(k, ns, args[1], NULL);
        json_t *o = NULL;
        long st = p ? cli_request(&c, "GET", p, NULL, NULL, &o) : -1;
        free(p);
        json_decref(o);
        if (st == 404) {
            rc = 0;
            goto out;
        }
    }
    rc = delete_one(&c, k, ns, args[1]);
out:
    cli_manifests_free(&m);
    cli_close(&c);
    cli_args_free(args);
    return rc;
}
