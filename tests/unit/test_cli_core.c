/* Unit tests for the pure parts of the bosun CLI: kubeconfig, kind names, the JSON→YAML
 * emitter (round trip through schema_yaml_parse), tables, short flags, apply merging,
 * manifest loading and the `bosun up` helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/kubeconfig.h"
#include "cli/manifest.h"
#include "cli/table.h"
#include "cli/up.h"
#include "cli/util.h"
#include "cli/yamlout.h"
#include "lib/jsonmerge.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"
#include "schema/yaml.h"

/* ---- kubeconfig -------------------------------------------------------------------- */

static const char kubeconfig_two_contexts[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: other\n"
    "  cluster: {server: 'https://10.0.0.1:6443'}\n"
    "- name: bosun\n"
    "  cluster:\n"
    "    server: http://127.0.0.1:7443/\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    token: s3cret\n"
    "contexts:\n"
    "- name: a\n"
    "  context: {cluster: other, user: admin}\n"
    "- name: b\n"
    "  context:\n"
    "    cluster: bosun\n"
    "    user: admin\n"
    "    namespace: demo\n"
    "current-context: b\n";

static void test_cli_kubeconfig_follows_current_context(void **state)
{
    (void)state;
    struct cli_kubeconfig kc = {0};
    struct bosun_err err = {0};
    assert_int_equal(cli_kubeconfig_parse(kubeconfig_two_contexts,
                                          strlen(kubeconfig_two_contexts), "kc", &kc, &err),
                     0);
    assert_string_equal(kc.server, "http://127.0.0.1:7443");
    assert_string_equal(kc.token, "s3cret");
    assert_string_equal(kc.namespace, "demo");
    cli_kubeconfig_free(&kc);
}

static void test_cli_kubeconfig_missing_context_is_named(void **state)
{
    (void)state;
    const char *y = "clusters: []\ncontexts: []\ncurrent-context: nope\n";
    struct cli_kubeconfig kc = {0};
    struct bosun_err err = {0};
    assert_true(cli_kubeconfig_parse(y, strlen(y), "kc", &kc, &err) < 0);
    assert_non_null(strstr(err.msg, "context \"nope\" not found"));
}

static void test_cli_kubeconfig_written_by_up_parses(void **state)
{
    (void)state;
    char *y = cli_up_kubeconfig("http://127.0.0.1:6443", "abc123", NULL);
    struct cli_kubeconfig kc = {0};
    struct bosun_err err = {0};
    assert_int_equal(cli_kubeconfig_parse(y, strlen(y), "kc", &kc, &err), 0);
    assert_string_equal(kc.server, "http://127.0.0.1:6443");
    assert_string_equal(kc.token, "abc123");
    assert_null(kc.namespace);
    cli_kubeconfig_free(&kc);
    free(y);
}

static void test_cli_kubeconfig_reads_certificate_authority(void **state)
{
    (void)state;
    /* "-----BEGIN CERTIFICATE-----\n" in base64 */
    char *y = cli_up_kubeconfig("https://127.0.0.1:6443", "abc123",
                                "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==");
    struct cli_kubeconfig kc = {0};
    struct bosun_err err = {0};
    assert_int_equal(cli_kubeconfig_parse(y, strlen(y), "kc", &kc, &err), 0);
    assert_string_equal(kc.server, "https://127.0.0.1:6443");
    assert_string_equal(kc.ca_pem, "-----BEGIN CERTIFICATE-----\n");
    assert_null(kc.ca_file);
    cli_kubeconfig_free(&kc);
    free(y);
    const char *file = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                       "    certificate-authority: pki/ca.crt\n"
                       "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
    assert_int_equal(cli_kubeconfig_parse(file, strlen(file), "/d/kubeconfig", &kc, &err), 0);
    assert_string_equal(kc.ca_file, "/d/pki/ca.crt");
    assert_null(kc.ca_pem);
    cli_kubeconfig_free(&kc);
    const char *bad = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                      "    certificate-authority-data: '*not base64*'\n"
                      "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
    assert_int_equal(cli_kubeconfig_parse(bad, strlen(bad), "kc", &kc, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "certificate-authority-data"));
}

static void test_cli_kubeconfig_path_precedence(void **state)
{
    (void)state;
    setenv("KUBECONFIG", "/tmp/a:/tmp/b", 1);
    assert_string_equal(cli_kubeconfig_path("/x"), "/x");
    assert_string_equal(cli_kubeconfig_path(NULL), "/tmp/a");
    unsetenv("KUBECONFIG");
    assert_string_equal(cli_kubeconfig_path(NULL), "/var/lib/bosun/kubeconfig");
}

/* ---- kinds --------------------------------------------------------------------------- */

static void test_cli_kind_resolves_every_spelling(void **state)
{
    (void)state;
    const char *names[] = {"deployments", "deployment", "deploy", "Deployment",
                           "DEPLOYMENT",  "deployments.apps"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct schema_kind *k = cli_kind_resolve(names[i]);
        assert_non_null(k);
        assert_string_equal(k->kind, "Deployment");
    }
    assert_string_equal(cli_kind_resolve("po")->kind, "Pod");
    assert_string_equal(cli_kind_resolve("svc")->kind, "Service");
    assert_string_equal(cli_kind_resolve("gitrepo")->kind, "GitRepository");
    assert_string_equal(cli_kind_resolve("ep")->kind, "Endpoints");
    assert_null(cli_kind_resolve("deployments.batch"));
    assert_null(cli_kind_resolve("widgets"));
    char buf[64];
    assert_string_equal(cli_kind_label(cli_kind_resolve("deploy"), buf, sizeof(buf)),
                        "deployment.apps");
    assert_string_equal(cli_kind_label(cli_kind_resolve("svc"), buf, sizeof(buf)), "service");
}

static void test_cli_api_paths(void **state)
{
    (void)state;
    char *p = cli_api_path(cli_kind_resolve("deploy"), "demo", "web", NULL);
    assert_string_equal(p, "/apis/apps/v1/namespaces/demo/deployments/web");
    free(p);
    p = cli_api_path(cli_kind_resolve("pods"), "demo", "web-1", "log");
    assert_string_equal(p, "/api/v1/namespaces/demo/pods/web-1/log");
    free(p);
    p = cli_api_path(cli_kind_resolve("pods"), NULL, NULL, NULL);
    assert_string_equal(p, "/api/v1/pods");
    free(p);
    /* cluster-scoped kinds ignore the namespace */
    p = cli_api_path(cli_kind_resolve("nodes"), "demo", "n1", NULL);
    assert_string_equal(p, "/api/v1/nodes/n1");
    free(p);
}

/* ---- yaml emitter ---------------------------------------------------------------------- */

static void roundtrip(const char *json)
{
    json_t *in = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(in);
    char *y = cli_yaml_dumps(in);
    assert_non_null(y);
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    int r = schema_yaml_parse(y, strlen(y), "out.yaml", &docs, &err);
    if (r < 0)
        fail_msg("%s\n--- yaml:\n%s", err.msg, y);
    assert_int_equal(docs.n, 1);
    if (!json_equal(in, docs.v[0].obj)) {
        char *got = json_dumps(docs.v[0].obj, JSON_ENCODE_ANY);
        fail_msg("round trip changed the value\n--- yaml:\n%s--- read back: %s", y, got);
    }
    schema_docs_free(&docs);
    free(y);
    json_decref(in);
}

static void test_cli_yaml_roundtrips_objects(void **state)
{
    (void)state;
    roundtrip("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
              "\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"},\"annotations\":{}},"
              "\"spec\":{\"replicas\":3,\"paused\":false,\"x\":null,\"ratio\":0.5,\"big\":2.0,"
              "\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.35\","
              "\"command\":[\"sh\",\"-c\",\"echo hi: there # not a comment\"],"
              "\"ports\":[{\"containerPort\":8080}],\"env\":[]}]}}}}");
}

static void test_cli_yaml_quotes_what_would_change_type(void **state)
{
    (void)state;
    roundtrip("{\"a\":\"true\",\"b\":\"null\",\"c\":\"123\",\"d\":\"1.5\",\"e\":\"\","
              "\"f\":\"~\",\"g\":\"- x\",\"h\":\"yes\",\"i\":\" lead\",\"j\":\"trail \","
              "\"k\":\"0x1F\",\"l\":\"1e3\",\"m\":\"a: b\",\"n\":\"#x\",\"o\":\"[x]\","
              "\"p\":\"{}\",\"q\":\"*ref\",\"r\":\"&anchor\",\"s\":\"!tag\",\"t\":\"@x\","
              "\"u\":\"tab\\there\",\"v\":\"quote\\\"d\",\"w\":\"2026-11-24\",\"x\":\"10:30\","
              "\"123\":\"numeric key\",\"true\":\"bool key\",\"\":\"empty key\","
              "\"unicode\":\"h\\u00e9llo\"}");
    json_t *v = json_pack("{s:s}", "k", "true");
    char *y = cli_yaml_dumps(v);
    assert_string_equal(y, "k: \"true\"\n");
    free(y);
    json_decref(v);
}

static void test_cli_yaml_multiline_strings(void **state)
{
    (void)state;
    roundtrip("{\"data\":{\"index.html\":\"<h1>hi</h1>\\n<p>two</p>\\n\","
              "\"nofinal\":\"a\\nb\",\"twofinal\":\"a\\n\\n\",\"indented\":\"a\\n  b\\n\","
              "\"cr\":\"a\\r\\nb\"}}");
    json_t *v = json_pack("{s:s}", "page", "one\ntwo\n");
    char *y = cli_yaml_dumps(v);
    assert_string_equal(y, "page: |\n  one\n  two\n");
    free(y);
    json_decref(v);
}

static void test_cli_yaml_nested_sequences_and_empties(void **state)
{
    (void)state;
    roundtrip("{\"a\":[[1,2],[],[{\"x\":1}],{}],\"b\":[{\"c\":[{\"d\":[\"e\"]}]}],\"e\":{}}");
    roundtrip("[1,\"two\",{\"three\":3}]");
    roundtrip("\"just a string\"");
    json_t *v = json_pack("{s:[{s:s,s:i}]}", "items", "name", "a", "port", 80);
    char *y = cli_yaml_dumps(v);
    assert_string_equal(y, "items:\n- name: a\n  port: 80\n");
    free(y);
    json_decref(v);
}

/* ---- tables -------------------------------------------------------------------------- */

static void test_cli_table_aligns_columns(void **state)
{
    (void)state;
    struct cli_table t;
    const char *h[] = {"NAME", "AGE"};
    assert_int_equal(cli_table_init(&t, 2, h), 0);
    const char *r1[] = {"a-long-name", "5m"};
    const char *r2[] = {"b", NULL};
    cli_table_add(&t, r1);
    cli_table_add(&t, r2);
    char *s = cli_table_render(&t);
    assert_string_equal(s, "NAME          AGE\n"
                           "a-long-name   5m\n"
                           "b             \n");
    free(s);
    cli_table_free(&t);
}

static void test_cli_table_pods_and_services(void **state)
{
    (void)state;
    time_t now = 1795000000; /* 2026-11-18T... */
    char created[32];
    time_rfc3339(now - 300, created, sizeof(created));
    json_t *pods = json_pack(
        "[{s:{s:s,s:s,s:s}, s:{s:s,s:[{s:s},{s:s}]},"
        "  s:{s:s,s:s,s:[{s:b,s:i},{s:b,s:i,s:{s:{s:s}}}]}}]",
        "metadata", "name", "web-1", "namespace", "demo", "creationTimestamp", created, "spec",
        "nodeName", "n1", "containers", "name", "a", "name", "b", "status", "phase", "Running",
        "podIP", "10.244.0.5", "containerStatuses", "ready", 1, "restartCount", 1, "ready", 0,
        "restartCount", 2, "state", "waiting", "reason", "CrashLoopBackOff");
    struct cli_table t;
    assert_int_equal(cli_table_for(cli_kind_resolve("pods"), pods, true, true, now, &t), 0);
    char *s = cli_table_render(&t);
    assert_string_equal(s, "NAMESPACE   NAME    READY   STATUS             RESTARTS   AGE   IP"
                           "           NODE\n"
                           "demo        web-1   1/2     CrashLoopBackOff   3          5m    "
                           "10.244.0.5   n1\n");
    free(s);
    cli_table_free(&t);
    json_decref(pods);

    json_t *svcs = json_pack("[{s:{s:s,s:s}, s:{s:s,s:s,s:[{s:i,s:i,s:s},{s:i,s:s}]}}]",
                             "metadata", "name", "web", "creationTimestamp", created, "spec",
                             "type", "NodePort", "clusterIP", "10.96.0.10", "ports", "port", 80,
                             "nodePort", 30080, "protocol", "TCP", "port", 53, "protocol", "UDP");
    assert_int_equal(cli_table_for(cli_kind_resolve("svc"), svcs, false, false, now, &t), 0);
    s = cli_table_render(&t);
    assert_string_equal(s, "NAME   TYPE       CLUSTER-IP   PORT(S)               AGE\n"
                           "web    NodePort   10.96.0.10   80:30080/TCP,53/UDP   5m\n");
    free(s);
    cli_table_free(&t);
    json_decref(svcs);
}

static void test_cli_table_deployments_nodes_and_others(void **state)
{
    (void)state;
    time_t now = 1795000000;
    json_t *d = json_pack("[{s:{s:s}, s:{s:i}, s:{s:i,s:i,s:i}}]", "metadata", "name", "web",
                          "spec", "replicas", 3, "status", "readyReplicas", 2, "updatedReplicas",
                          3, "availableReplicas", 2);
    struct cli_table t;
    assert_int_equal(cli_table_for(cli_kind_resolve("deploy"), d, false, false, now, &t), 0);
    char *s = cli_table_render(&t);
    assert_string_equal(s, "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n"
                           "web    2/3     3            2           <unknown>\n");
    free(s);
    cli_table_free(&t);
    json_decref(d);

    json_t *n = json_pack("[{s:{s:s}, s:{s:[{s:s,s:s}], s:{s:s}}}]", "metadata", "name", "n1",
                          "status", "conditions", "type", "Ready", "status", "False",
                          "nodeInfo", "kubeletVersion", "v1.30.0-bosun");
    assert_int_equal(cli_table_for(cli_kind_resolve("nodes"), n, false, false, now, &t), 0);
    s = cli_table_render(&t);
    assert_string_equal(s, "NAME   STATUS     AGE         VERSION\n"
                           "n1     NotReady   <unknown>   v1.30.0-bosun\n");
    free(s);
    cli_table_free(&t);
    json_decref(n);

    json_t *cm = json_pack("[{s:{s:s}}]", "metadata", "name", "page");
    assert_int_equal(cli_table_for(cli_kind_resolve("cm"), cm, false, false, now, &t), 0);
    s = cli_table_render(&t);
    assert_string_equal(s, "NAME   AGE\npage   <unknown>\n");
    free(s);
    cli_table_free(&t);
    json_decref(cm);
}

/* ---- args ---------------------------------------------------------------------------- */

static void test_cli_short_flags_expand(void **state)
{
    (void)state;
    static const struct cli_short shorts[] = {{'n', "namespace", true},
                                              {'A', "all-namespaces", false},
                                              {'o', "output", true},
                                              {0}};
    char *argv[] = {"get", "pods", "-n", "demo", "-A", "-oyaml", "-o=json", "--x", "-", "-z"};
    int n = 0;
    char **v = cli_args_expand(10, argv, shorts, &n);
    const char *want[] = {"get",      "pods",   "--namespace", "demo", "--all-namespaces",
                          "--output", "yaml",   "--output",    "json", "--x",
                          "-",        "-z"};
    assert_int_equal(n, 12);
    for (int i = 0; i < n; i++)
        assert_string_equal(v[i], want[i]);
    assert_null(v[n]);
    cli_args_free(v);
}

/* ---- apply merge --------------------------------------------------------------------- */

static void test_cli_apply_merge_keeps_server_fields(void **state)
{
    (void)state;
    json_t *live = json_loads(
        "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"7\",\"uid\":\"u\"},"
        "\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.9\",\"selector\":{\"app\":\"web\"}"
        ","
        "\"ports\":[{\"port\":80,\"targetPort\":8080,\"nodePort\":30080,\"protocol\":\"TCP\"}]},"
        "\"status\":{}}",
        0, NULL);
    json_t *same = json_loads("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"type\":\"NodePort\","
                              "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80,"
                              "\"targetPort\":8080}]}}",
                              0, NULL);
    /* the first apply over an object created elsewhere only records the annotation */
    json_t *m = jsonmerge_apply(live, same);
    json_t *rec = jsonmerge_last_applied(m);
    assert_true(json_equal(rec, same));
    json_decref(rec);
    json_object_del(jsonx_get(m, "metadata"), "annotations");
    assert_true(json_equal(m, live));
    json_decref(m);
    /* then applying the same is unchanged */
    json_t *annotated = jsonmerge_apply(live, same);
    m = jsonmerge_apply(annotated, same);
    assert_true(json_equal(m, annotated));
    json_decref(m);
    json_t *changed = json_loads("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{"
                                 "\"port\":80,\"targetPort\":9090}]}}",
                                 0, NULL);
    m = jsonmerge_apply(annotated, changed);
    assert_false(json_equal(m, annotated));
    assert_int_equal(jsonx_get_int(json_array_get(jsonx_get(m, "spec.ports"), 0), "nodePort", 0),
                     30080);
    assert_int_equal(jsonx_get_int(json_array_get(jsonx_get(m, "spec.ports"), 0), "targetPort", 0),
                     9090);
    assert_string_equal(jsonx_get_str(m, "metadata.resourceVersion"), "7");
    assert_string_equal(jsonx_get_str(m, "spec.clusterIP"), "10.96.0.9");
    /* the selector and type the manifest stopped setting are removed; the server's
     * clusterIP is not (it was never applied) */
    assert_null(jsonx_get(m, "spec.selector"));
    assert_null(jsonx_get(m, "spec.type"));
    json_decref(m);
    json_decref(annotated);
    json_decref(changed);
    json_decref(same);
    json_decref(live);
}

static void test_cli_apply_merge_named_lists(void **state)
{
    (void)state;
    json_t *v1 = json_loads("{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},"
                            "{\"name\":\"b\",\"image\":\"y\"}]}}",
                            0, NULL);
    json_t *live = jsonmerge_apply(NULL, v1);
    /* the server defaults a field in each container */
    json_t *c;
    size_t i;
    json_array_foreach(jsonx_get(live, "spec.containers"), i, c)
        json_object_set_new(c, "imagePullPolicy", json_string("IfNotPresent"));
    json_t *v2 =
        json_loads("{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"z\"}]}}", 0, NULL);
    json_t *m = jsonmerge_apply(live, v2);
    json_t *cs = jsonx_get(m, "spec.containers");
    assert_int_equal(json_array_size(cs), 1); /* a: no longer in the manifest */
    assert_string_equal(jsonx_get_str(json_array_get(cs, 0), "name"), "b");
    assert_string_equal(jsonx_get_str(json_array_get(cs, 0), "image"), "z");
    assert_string_equal(jsonx_get_str(json_array_get(cs, 0), "imagePullPolicy"), "IfNotPresent");
    json_decref(m);
    json_decref(v2);
    json_decref(live);
    json_decref(v1);
}

/* ---- manifests ----------------------------------------------------------------------- */

static char *write_tmp(const char *dir, const char *name, const char *content)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return p;
}

static void test_cli_manifests_invalid_reports_file_line_col(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_manifests.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *good = write_tmp(dir, "a.yaml",
                           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n"
                           "  k: v\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n"
                           "  name: demo\n");
    char *bad = write_tmp(dir, "b.yaml",
                          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                          "spec:\n  replicas: -1\n  selector:\n    matchLabels: {app: web}\n"
                          "  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
                          "      containers:\n      - name: c\n        image: busybox\n");
    char *ignored = write_tmp(dir, "notes.txt", "not a manifest");
    char *out = NULL;
    size_t outlen = 0;
    FILE *diag = open_memstream(&out, &outlen);
    struct cli_manifests m = {0};
    struct bosun_err err = {0};
    int r = cli_manifests_load(dir, true, &m, diag, &err);
    fclose(diag);
    assert_true(r >= 1);
    char want[512];
    snprintf(want, sizeof(want), "%s/b.yaml:6:3: spec.replicas: ", dir);
    if (!strstr(out, want))
        fail_msg("diagnostics lack \"%s\":\n%s", want, out);
    /* the valid documents were still read, in file order, then sorted for apply */
    assert_int_equal(m.n, 2);
    cli_manifests_sort(&m);
    assert_string_equal(jsonx_get_str(m.v[0].obj, "kind"), "Namespace");
    assert_string_equal(jsonx_get_str(m.v[1].obj, "kind"), "ConfigMap");
    assert_int_equal(m.v[0].line > 1, 1);
    cli_manifests_free(&m);
    free(out);
    unlink(good);
    unlink(bad);
    unlink(ignored);
    rmdir(dir);
    free(good);
    free(bad);
    free(ignored);
}

static void test_cli_manifests_yaml_syntax_error(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_manifests.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *f = write_tmp(dir, "x.yaml", "apiVersion: v1\nkind: [oops\n");
    char *out = NULL;
    size_t outlen = 0;
    FILE *diag = open_memstream(&out, &outlen);
    struct cli_manifests m = {0};
    int r = cli_manifests_load(f, true, &m, diag, NULL);
    fclose(diag);
    assert_int_equal(r, 1);
    assert_non_null(strstr(out, "x.yaml:"));
    cli_manifests_free(&m);
    free(out);
    unlink(f);
    rmdir(dir);
    free(f);
}

static void test_cli_manifests_example_is_valid(void **state)
{
    (void)state;
    char *out = NULL;
    size_t outlen = 0;
    FILE *diag = open_memstream(&out, &outlen);
    struct cli_manifests m = {0};
    struct bosun_err err = {0};
    int r = cli_manifests_load("manifests-example/apps", true, &m, diag, &err);
    int r2 = cli_manifests_load("manifests-example/static", true, &m, diag, &err);
    fclose(diag);
    if (r != 0 || r2 != 0)
        fail_msg("manifests-example: %d/%d errors: %s%s", r, r2, err.msg, out ? out : "");
    assert_int_equal(m.n, 5);
    cli_manifests_free(&m);
    free(out);
}

/* ---- up helpers ---------------------------------------------------------------------- */

static void test_cli_up_auth_is_created_then_reused(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_auth.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char auth[256];
    snprintf(auth, sizeof(auth), "%s/auth", dir);
    struct cli_up_auth a1, a2;
    struct bosun_err err = {0};
    assert_int_equal(cli_up_auth_ensure(auth, "node-1", &a1, &err), 0);
    assert_int_equal(strlen(a1.token[UP_ADMIN]), 64);
    assert_string_not_equal(a1.token[UP_ADMIN], a1.token[UP_NODE]);
    assert_int_equal(cli_up_auth_ensure(auth, "node-1", &a2, &err), 0);
    for (int i = 0; i < UP_NCLIENTS; i++)
        assert_string_equal(a1.token[i], a2.token[i]);
    char p[512], *csv = NULL;
    size_t len;
    snprintf(p, sizeof(p), "%s/tokens.csv", auth);
    assert_int_equal(cli_read_file(p, &csv, &len, &err), 0);
    char line[256];
    snprintf(line, sizeof(line), "%s,system:node:node-1,bosun-node,\"system:nodes\"\n",
             a1.token[UP_NODE]);
    assert_non_null(strstr(csv, line));
    snprintf(line, sizeof(line), "%s,admin,bosun-admin,\"system:masters\"\n", a1.token[UP_ADMIN]);
    assert_non_null(strstr(csv, line));
    free(csv);
    struct stat st;
    assert_int_equal(stat(cli_up_token_file(auth, UP_PROXY, p, sizeof(p)), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_cli_up_repo_is_seeded_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_repo.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char repo[256];
    snprintf(repo, sizeof(repo), "%s/repo.git", dir);
    int created = 0;
    struct bosun_err err = {0};
    if (cli_up_repo_ensure(repo, "manifests-example/apps", 19292, &created, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(created, 1);
    assert_int_equal(cli_up_repo_ensure(repo, "manifests-example/apps", 19293, &created, &err),
                     0);
    assert_int_equal(created, 0);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "test \"$(git --git-dir=%s ls-tree --name-only main | tr '\\n' ' ')\" = "
             "'00-namespace.yaml 10-config.yaml 20-web.yaml ' && "
             "test \"$(git --git-dir=%s rev-list --count main)\" = 1 && "
             "test \"$(git --git-dir=%s symbolic-ref HEAD)\" = refs/heads/main && "
             "test -x %s/hooks/post-receive && grep -q 127.0.0.1:19293/hook %s/hooks/post-receive",
             repo, repo, repo, repo, repo);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_kubeconfig_follows_current_context),
        cmocka_unit_test(test_cli_kubeconfig_missing_context_is_named),
        cmocka_unit_test(test_cli_kubeconfig_written_by_up_parses),
        cmocka_unit_test(test_cli_kubeconfig_reads_certificate_authority),
        cmocka_unit_test(test_cli_kubeconfig_path_precedence),
        cmocka_unit_test(test_cli_kind_resolves_every_spelling),
        cmocka_unit_test(test_cli_api_paths),
        cmocka_unit_test(test_cli_yaml_roundtrips_objects),
        cmocka_unit_test(test_cli_yaml_quotes_what_would_change_type),
        cmocka_unit_test(test_cli_yaml_multiline_strings),
        cmocka_unit_test(test_cli_yaml_nested_sequences_and_empties),
        cmocka_unit_test(test_cli_table_aligns_columns),
        cmocka_unit_test(test_cli_table_pods_and_services),
        cmocka_unit_test(test_cli_table_deployments_nodes_and_others),
        cmocka_unit_test(test_cli_short_flags_expand),
        cmocka_unit_test(test_cli_apply_merge_keeps_server_fields),
        cmocka_unit_test(test_cli_apply_merge_named_lists),
        cmocka_unit_test(test_cli_manifests_invalid_reports_file_line_col),
        cmocka_unit_test(test_cli_manifests_yaml_syntax_error),
        cmocka_unit_test(test_cli_manifests_example_is_valid),
        cmocka_unit_test(test_cli_up_auth_is_created_then_reused),
        cmocka_unit_test(test_cli_up_repo_is_seeded_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
