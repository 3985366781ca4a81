#include "cli/kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/util.h"
#include "lib/jsonx.h"
#include "lib/pki.h"
#include "schema/yaml.h"

/* The entry of a named list ("clusters", "users", "contexts") called name, its inner
 * object (key inner: "cluster", "user", "context"). Borrowed. */
static const json_t *named(const json_t *root, const char *list, const char *inner,
                           const char *name)
{
    const json_t *arr = json_object_get(root, list);
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *n = jsonx_get_str(e, "name");
        if (n && strcmp(n, name) == 0) {
            const json_t *o = json_object_get(e, inner);
            return json_is_object(o) ? o : NULL;
        }
    }
    return NULL;
}

int cli_kubeconfig_parse(const char *buf, size_t len, const char *filename,
                         struct cli_kubeconfig *out, struct bosun_err *err)
{
    struct schema_docs docs = {0};
    struct cli_kubeconfig kc = {0};
    int r = schema_yaml_parse(buf, len, filename, &docs, err);
    if (r < 0)
        return err_wrap(err, "kubeconfig");
    if (docs.n == 0 || !json_is_object(docs.v[0].obj)) {
        r = err_set(err, -EINVAL, "kubeconfig %s: not a kubeconfig (no mapping)", filename);
        goto out;
    }
    const json_t *root = docs.v[0].obj;
    const char *cur = jsonx_get_str(root, "current-context");
    const json_t *ctx = NULL;
    if (cur && *cur) {
        ctx = named(root, "contexts", "context", cur);
        if (!ctx) {
            r = err_set(err, -ENOENT, "kubeconfig %s: context \"%s\" not found", filename, cur);
            goto out;
        }
    } else if (json_array_size(json_object_get(root, "contexts")) == 1) {
        ctx = json_object_get(json_array_get(json_object_get(root, "contexts"), 0), "context");
    } else {
        r = err_set(err, -ENOENT, "kubeconfig %s: no current-context", filename);
        goto out;
    }
    const char *cluster_name = jsonx_get_str(ctx, "cluster");
    const char *user_name = jsonx_get_str(ctx, "user");
    const json_t *cluster = cluster_name ? named(root, "clusters", "cluster", cluster_name) : NULL;
    if (!cluster) {
        r = err_set(err, -ENOENT, "kubeconfig %s: cluster \"%s\" not found", filename,
                    cluster_name ? cluster_name : "");
        goto out;
    }
    const char *server = jsonx_get_str(cluster, "server");
    if (!server || !*server) {
        r = err_set(err, -ENOENT, "kubeconfig %s: cluster \"%s\" has no server", filename,
                    cluster_name);
        goto out;
    }
    kc.server = strdup(server);
    if (!kc.server) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    /* trailing slashes would double up with request paths */
    for (size_t n = strlen(kc.server); n > 0 && kc.server[n - 1] == '/'; n--)
        kc.server[n - 1] = '\0';
    /* The cluster's CA: inline data wins over a file, as in kubectl. */
    const char *ca_data = jsonx_get_str(cluster, "certificate-authority-data");
    const char *ca_path = jsonx_get_str(cluster, "certificate-authority");
    if (ca_data && *ca_data) {
        r = pki_base64_decode(ca_data, &kc.ca_pem, NULL, err);
        if (r < 0) {
            err_wrap(err, "kubeconfig %s: cluster \"%s\": certificate-authority-data", filename,
                     cluster_name);
            goto out;
        }
    } else if (ca_path && *ca_path) {
        const char *slash = strrchr(filename, '/');
        int n = ca_path[0] == '/' || !slash
                    ? asprintf(&kc.ca_file, "%s", ca_path)
                    : asprintf(&kc.ca_file, "%.*s/%s", (int)(slash - filename), filename, ca_path);
        if (n < 0) {
            kc.ca_file = NULL;
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    const json_t *user = user_name ? named(root, "users", "user", user_name) : NULL;
    if (user_name && *user_name && !user) {
        r = err_set(err, -ENOENT, "kubeconfig %s: user \"%s\" not found", filename, user_name);
        goto out;
    }
    const char *token = jsonx_get_str(user, "token");
    const char *token_file = jsonx_get_str(user, "tokenFile");
    if (token) {
        kc.token = strdup(token);
    } else if (token_file) {
        size_t tl;
        r = cli_read_file(token_file, &kc.token, &tl, err);
        if (r < 0) {
            err_wrap(err, "kubeconfig %s: user \"%s\": tokenFile", filename, user_name);
            goto out;
        }
        while (tl > 0 && (kc.token[tl - 1] == '\n' || kc.token[tl - 1] == '\r' ||
                          kc.token[tl - 1] == ' '))
            kc.token[--tl] = '\0';
    }
    const char *ns = jsonx_get_str(ctx, "namespace");
    if (ns && *ns)
        kc.namespace = strdup(ns);
    *out = kc;
    memset(&kc, 0, sizeof(kc));
    r = 0;
out:
    cli_kubeconfig_free(&kc);
    schema_docs_free(&docs);
    return r;
}

const char *cli_kubeconfig_path(const char *flag)
{
    static char first[4096];
    if (flag && *flag)
        return flag;
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        const char *colon = strchr(env, ':');
        size_t n = colon ? (size_t)(colon - env) : strlen(env);
        if (n > 0 && n < sizeof(first)) {
            memcpy(first, env, n);
            first[n] = '\0';
            return first;
        }
    }
    return "/var/lib/bosun/kubeconfig";
}

int cli_kubeconfig_load(const char *path, struct cli_kubeconfig *out, struct bosun_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int r = cli_read_file(path, &buf, &len, err);
    if (r < 0)
        return err_wrap(err, "kubeconfig");
    r = cli_kubeconfig_parse(buf, len, path, out, err);
    free(buf);
    return r;
}

void cli_kubeconfig_free(struct cli_kubeconfig *kc)
{
    if (!kc)
        return;
    free(kc->server);
    free(kc->token);
    free(kc->namespace);
    free(kc->ca_pem);
    free(kc->ca_file);
    memset(kc, 0, sizeof(*kc));
}
