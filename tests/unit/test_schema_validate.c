/* Unit tests for schema/validate and schema/fields: field-tree checks, kind rules,
 * defaults and issue formatting, on fixtures from tests/fixtures/manifests/ and inline
 * manifests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "schema/yaml.h"

struct parsed {
    struct schema_docs docs;
    struct schema_issues is[16];
    size_t errors[16];
};

static void parse_text(struct parsed *p, const char *text, const char *file)
{
    struct bosun_err err = {0};
    memset(p, 0, sizeof(*p));
    if (schema_yaml_parse(text, strlen(text), file, &p->docs, &err) != 0)
        fail_msg("parse %s: %s", file, err.msg);
    assert_true(p->docs.n <= 16);
    for (size_t i = 0; i < p->docs.n; i++)
        p->errors[i] = schema_validate(p->docs.v[i].obj, &p->docs.v[i], &p->is[i]);
}

static void parse_fixture(struct parsed *p, const char *name)
{
    const char *top = getenv("BOSUN_TOP");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/manifests/%s", top ? top : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("open %s (run from the repository root or set BOSUN_TOP)", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    parse_text(p, buf, name);
}

static void parsed_free(struct parsed *p)
{
    for (size_t i = 0; i < p->docs.n; i++)
        schema_issues_free(&p->is[i]);
    schema_docs_free(&p->docs);
}

/* The issue on field with severity sev whose message contains part; fails if none. */
static const struct schema_issue *find(const struct schema_issues *is, enum schema_severity sev,
                                       const char *field, const char *part)
{
    for (size_t i = 0; i < is->n; i++)
        if (is->v[i].severity == sev && strcmp(is->v[i].field, field) == 0 &&
            strstr(is->v[i].message, part))
            return &is->v[i];
    for (size_t i = 0; i < is->n; i++)
        print_message("  have: %s %s: %s\n", is->v[i].severity == SCHEMA_ERROR ? "E" : "W",
                      is->v[i].field, is->v[i].message);
    fail_msg("no %s on %s containing '%s'", sev == SCHEMA_ERROR ? "error" : "warning", field,
             part);
    return NULL;
}

static const char DEPLOY_HEAD[] = "apiVersion: apps/v1\n"
                                  "kind: Deployment\n"
                                  "metadata:\n"
                                  "  name: web\n"
                                  "spec:\n";

static void test_validate_accepts_nginx_deployment_with_warnings_only(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "nginx-deployment.yaml");
    assert_int_equal(p.docs.n, 1);
    assert_int_equal(p.errors[0], 0);
    assert_int_equal(p.is[0].errors, 0);
    const struct schema_issue *w =
        find(&p.is[0], SCHEMA_WARNING, "spec.template.spec.containers.0.livenessProbe",
             "\"livenessProbe\" is not supported by bosun");
    assert_int_equal(w->line, 66);
    assert_int_equal(w->col, 9);
    find(&p.is[0], SCHEMA_WARNING, "spec.template.spec.volumes", "volumes");
    find(&p.is[0], SCHEMA_WARNING, "spec.template.spec.affinity", "affinity");
    /* one warning per ignored subtree, not one per field inside it */
    for (size_t i = 0; i < p.is[0].n; i++)
        assert_null(strstr(p.is[0].v[i].field, "livenessProbe.httpGet"));
    parsed_free(&p);
}

static void test_validate_accepts_example_app_without_issues(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "app.yaml");
    assert_int_equal(p.docs.n, 6);
    for (size_t i = 0; i < p.docs.n; i++) {
        if (p.is[i].n)
            fail_msg("doc %zu: %s: %s", i, p.is[i].v[0].field, p.is[i].v[0].message);
    }
    parsed_free(&p);
}

static void test_validate_reports_unknown_field_with_position(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "typo.yaml");
    assert_int_equal(p.errors[0], 2);
    const struct schema_issue *e =
        find(&p.is[0], SCHEMA_ERROR, "spec.replica", "unknown field \"replica\"");
    assert_non_null(strstr(e->message, "did you mean \"replicas\""));
    char buf[512];
    assert_string_equal(schema_issue_format(e, "typo.yaml", buf, sizeof(buf)),
                        "typo.yaml:6:3: spec.replica: unknown field \"replica\" (not declared in "
                        "Kubernetes 1.30 DeploymentSpec; did you mean \"replicas\"?)");
    e = find(&p.is[0], SCHEMA_ERROR, "spec.template.spec.containers.0.comand", "\"comand\"");
    assert_int_equal(e->line, 19);
    assert_int_equal(e->col, 9);
    parsed_free(&p);
}

static void test_validate_reports_wrong_types(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "wrong-types.yaml");
    find(&p.is[0], SCHEMA_ERROR, "spec.replicas", "must be an integer");
    find(&p.is[0], SCHEMA_ERROR, "metadata.labels.replicas", "must be a string");
    find(&p.is[0], SCHEMA_ERROR, "spec.template.spec.hostNetwork", "must be a boolean");
    find(&p.is[0], SCHEMA_ERROR, "spec.template.spec.containers", "must be a list");
    parsed_free(&p);
}

static void test_validate_rejects_bad_names_and_unknown_kind(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "bad-names.yaml");
    assert_int_equal(p.docs.n, 5);
    find(&p.is[0], SCHEMA_ERROR, "metadata.name", "invalid name \"Web_Config\"");
    /* Service names are DNS labels: no dots */
    find(&p.is[1], SCHEMA_ERROR, "metadata.name", "RFC 1123 label");
    find(&p.is[2], SCHEMA_ERROR, "metadata.name", "'/'");
    find(&p.is[3], SCHEMA_ERROR, "metadata.name", "invalid name \"a..b\"");
    find(&p.is[3], SCHEMA_ERROR, "metadata.namespace", "invalid namespace \"Prod\"");
    const struct schema_issue *e =
        find(&p.is[4], SCHEMA_ERROR, "kind", "unknown kind \"Deplyment\" for apiVersion \"apps/v1\"");
    assert_int_equal(e->line, 36);
    assert_int_equal(p.errors[4], 1);
    parsed_free(&p);
}

static void test_validate_rejects_negative_replicas(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y),
             "%s  replicas: -1\n  selector: {matchLabels: {app: web}}\n  template:\n"
             "    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, "
             "image: busybox}]\n",
             DEPLOY_HEAD);
    struct parsed p;
    parse_text(&p, y, "deploy.yaml");
    assert_int_equal(p.errors[0], 1);
    char buf[256];
    assert_string_equal(schema_issue_format(&p.is[0].v[0], "deploy.yaml", buf, sizeof(buf)),
                        "deploy.yaml:6:3: spec.replicas: must be a non-negative integer");
    parsed_free(&p);
}

static void test_validate_requires_selector_matching_template_labels(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y),
             "%s  selector: {matchLabels: {app: api}}\n  template:\n"
             "    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, "
             "image: busybox}]\n",
             DEPLOY_HEAD);
    struct parsed p;
    parse_text(&p, y, "d.yaml");
    find(&p.is[0], SCHEMA_ERROR, "spec.template.metadata.labels", "does not match");
    parsed_free(&p);

    snprintf(y, sizeof(y),
             "%s  selector:\n    matchExpressions: [{key: app, operator: In, values: [web, "
             "api]}]\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      "
             "containers: [{name: web, image: busybox}]\n",
             DEPLOY_HEAD);
    parse_text(&p, y, "d.yaml");
    assert_int_equal(p.errors[0], 0);
    parsed_free(&p);

    /* selector and template are required by the field tree */
    snprintf(y, sizeof(y), "%s  replicas: 1\n", DEPLOY_HEAD);
    parse_text(&p, y, "d.yaml");
    find(&p.is[0], SCHEMA_ERROR, "spec.selector", "required field is missing");
    find(&p.is[0], SCHEMA_ERROR, "spec.template", "required field is missing");
    parsed_free(&p);
}

static void test_validate_applies_pod_rules(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
               "  restartPolicy: Sometimes\n"
               "  containers:\n"
               "  - name: a\n    image: busybox\n    ports: [{containerPort: 70000}]\n"
               "  - name: a\n"
               "  - name: B\n    image: busybox\n    imagePullPolicy: Maybe\n"
               "    resources: {requests: {cpu: 2}, limits: {cpu: 1, memory: lots}}\n"
               "---\n"
               "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers: []\n",
               "pod.yaml");
    const struct schema_issues *is = &p.is[0];
    find(is, SCHEMA_ERROR, "spec.restartPolicy", "unsupported value \"Sometimes\"");
    find(is, SCHEMA_ERROR, "spec.containers.0.ports.0.containerPort", "between 1 and 65535");
    find(is, SCHEMA_ERROR, "spec.containers.1.name", "duplicate container name \"a\"");
    find(is, SCHEMA_ERROR, "spec.containers.1.image", "required field is missing");
    find(is, SCHEMA_ERROR, "spec.containers.2.name", "invalid container name \"B\"");
    find(is, SCHEMA_ERROR, "spec.containers.2.imagePullPolicy", "\"Maybe\"");
    find(is, SCHEMA_ERROR, "spec.containers.2.resources.limits.memory", "must be a quantity");
    find(is, SCHEMA_ERROR, "spec.containers.2.resources.requests.cpu",
         "less than or equal to the cpu limit");
    find(&p.is[1], SCHEMA_ERROR, "spec.containers", "at least one container");
    parsed_free(&p);

    /* a controller's template must restart Always */
    char y[1024];
    snprintf(y, sizeof(y),
             "%s  selector: {matchLabels: {app: web}}\n  template:\n"
             "    metadata: {labels: {app: web}}\n    spec:\n      restartPolicy: Never\n"
             "      containers: [{name: web, image: busybox}]\n",
             DEPLOY_HEAD);
    parse_text(&p, y, "d.yaml");
    find(&p.is[0], SCHEMA_ERROR, "spec.template.spec.restartPolicy", "\"Always\"");
    parsed_free(&p);
}

static void test_validate_applies_service_rules(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
               "  type: ClusterIP\n"
               "  ports:\n"
               "  - {name: a, port: 0}\n"
               "  - {name: b, port: 80, nodePort: 30080, targetPort: Not_A_Name}\n"
               "  - {port: 81, protocol: ICMP}\n"
               "---\n"
               "apiVersion: v1\nkind: Service\nmetadata: {name: t}\nspec:\n  type: Magic\n"
               "  clusterIP: 10.0.0.300\n  ports: [{port: 80}]\n"
               "---\n"
               "apiVersion: v1\nkind: Service\nmetadata: {name: u}\nspec:\n  type: NodePort\n"
               "  ports: [{port: 80, nodePort: 30080}]\n",
               "svc.yaml");
    const struct schema_issues *is = &p.is[0];
    find(is, SCHEMA_ERROR, "spec.ports.0.port", "between 1 and 65535");
    find(is, SCHEMA_ERROR, "spec.ports.1.nodePort", "may not be used when type is ClusterIP");
    find(is, SCHEMA_ERROR, "spec.ports.1.targetPort", "invalid port name");
    find(is, SCHEMA_ERROR, "spec.ports.2.protocol", "\"ICMP\"");
    find(is, SCHEMA_ERROR, "spec.ports.2.name", "must be named");
    find(&p.is[1], SCHEMA_ERROR, "spec.type", "unsupported value \"Magic\"");
    find(&p.is[1], SCHEMA_ERROR, "spec.clusterIP", "valid IP");
    assert_int_equal(p.errors[2], 0);
    parsed_free(&p);
}

static void test_validate_checks_config_keys_and_base64(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
               "data: {ok: aGk=, bad: 'not base64!', 'a/b': aGk=}\n"
               "---\n"
               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\n"
               "data: {k: v}\nbinaryData: {k: aGk=}\n",
               "cfg.yaml");
    find(&p.is[0], SCHEMA_ERROR, "data.bad", "base64");
    find(&p.is[0], SCHEMA_ERROR, "data.a/b", "invalid key");
    assert_int_equal(p.errors[0], 2);
    find(&p.is[1], SCHEMA_ERROR, "binaryData.k", "duplicate key");
    find(&p.is[1], SCHEMA_WARNING, "immutable", "not supported");
    parsed_free(&p);
}

static void test_validate_checks_label_keys_and_values(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n"
               "    example.com/app: web\n    Bad_Prefix/x: y\n    ok: 'has space'\n"
               "    '-x': y\n  annotations:\n    a/b/c: x\n",
               "l.yaml");
    find(&p.is[0], SCHEMA_ERROR, "metadata.labels.Bad_Prefix/x", "prefix part");
    find(&p.is[0], SCHEMA_ERROR, "metadata.labels.ok", "invalid label value \"has space\"");
    find(&p.is[0], SCHEMA_ERROR, "metadata.labels.-x", "name part");
    find(&p.is[0], SCHEMA_ERROR, "metadata.annotations.a/b/c", "at most one '/'");
    assert_int_equal(p.errors[0], 4);
    parsed_free(&p);
}

static void test_validate_requires_apiversion_and_kind(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, "metadata: {name: x}\n---\n- a\n- b\n---\napiVersion: v1\nkind: 3\n", "m.yaml");
    find(&p.is[0], SCHEMA_ERROR, "apiVersion", "required field is missing");
    find(&p.is[0], SCHEMA_ERROR, "kind", "required field is missing");
    find(&p.is[1], SCHEMA_ERROR, "", "must be a mapping");
    find(&p.is[2], SCHEMA_ERROR, "kind", "must be a string");
    parsed_free(&p);
}

static void test_validate_requires_name_unless_generate_name(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n---\n"
               "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\n"
               "spec: {containers: [{name: a, image: b}]}\n",
               "n.yaml");
    find(&p.is[0], SCHEMA_ERROR, "metadata.name", "required field is missing");
    assert_int_equal(p.errors[1], 0);
    parsed_free(&p);
}

static void test_validate_status_is_type_checked_but_not_required_or_warned(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
               "spec: {containers: [{name: a, image: b}]}\n"
               "status:\n  phase: Running\n  podIP: 10.244.0.5\n"
               "  containerStatuses: [{name: a, ready: true}]\n"
               "  startTime: 2024-01-02T15:04:05Z\n"
               "---\n"
               "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
               "spec: {containers: [{name: a, image: b}]}\n"
               "status: {phse: Running, startTime: yesterday}\n",
               "s.yaml");
    assert_int_equal(p.is[0].n, 0);
    find(&p.is[1], SCHEMA_ERROR, "status.phse", "unknown field");
    find(&p.is[1], SCHEMA_ERROR, "status.startTime", "RFC 3339");
    parsed_free(&p);
}

static void test_validate_knows_gitrepository(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: bosun.io/v1\nkind: GitRepository\n"
               "metadata: {name: default, namespace: bosun-system}\n"
               "spec: {url: /srv/repo.git, interval: 1m30s, prune: true}\n"
               "status:\n  lastAppliedRevision: main@sha1:0123\n"
               "  errors: [{file: a.yaml, line: 3, column: 5, field: spec.x, message: bad}]\n"
               "  inventory: [{apiVersion: v1, kind: Service, namespace: d, name: web}]\n"
               "  conditions: [{type: Ready, status: 'True', reason: Synced, message: ok,\n"
               "                lastTransitionTime: '2024-01-02T15:04:05Z'}]\n"
               "---\n"
               "apiVersion: bosun.io/v1\nkind: GitRepository\nmetadata: {name: x}\n"
               "spec: {url: u, branch: main, intervl: 5m, prune: yes}\n",
               "g.yaml");
    if (p.is[0].n)
        fail_msg("%s: %s", p.is[0].v[0].field, p.is[0].v[0].message);
    find(&p.is[1], SCHEMA_ERROR, "spec.intervl", "did you mean \"interval\"");
    /* YAML 1.2: `yes` is a string */
    find(&p.is[1], SCHEMA_ERROR, "spec.prune", "must be a boolean");
    parsed_free(&p);
}

static void test_validate_without_doc_has_no_positions(void **state)
{
    (void)state;
    struct bosun_err err = {0};
    const char *text = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                       "\"metadata\":{\"name\":\"Bad\"}}";
    json_t *o = jsonx_loadb(text, strlen(text), &err);
    assert_non_null(o);
    struct schema_issues is = {0};
    assert_int_equal(schema_validate(o, NULL, &is), 1);
    assert_int_equal(is.v[0].line, 0);
    char buf[512];
    schema_issue_format(&is.v[0], NULL, buf, sizeof(buf));
    assert_true(strncmp(buf, "metadata.name: invalid name \"Bad\"", 33) == 0);
    schema_issue_format(&is.v[0], "ns.yaml", buf, sizeof(buf));
    assert_true(strncmp(buf, "ns.yaml: metadata.name: ", 24) == 0);
    /* issues accumulate across calls */
    assert_int_equal(schema_validate(o, NULL, &is), 1);
    assert_int_equal(is.n, 2);
    assert_int_equal(is.errors, 2);
    schema_issues_free(&is);
    json_decref(o);
}

static void test_default_fills_kubernetes_defaults_idempotently(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p,
               "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
               "  selector: {matchLabels: {app: web}}\n  template:\n"
               "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
               "      - {name: a, image: busybox:1.35, ports: [{containerPort: 80}]}\n"
               "      - {name: b, image: 'registry:5000/x'}\n"
               "      - {name: c, image: 'nginx@sha256:abcd'}\n"
               "---\n"
               "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
               "  ports: [{name: a, port: 80},\n"
               "          {name: b, port: 81, targetPort: http, protocol: UDP}]\n",
               "d.yaml");
    json_t *d = p.docs.v[0].obj, *s = p.docs.v[1].obj;
    schema_default(d);
    schema_default(s);
    assert_int_equal(jsonx_get_int(d, "spec.replicas", -1), 1);
    assert_string_equal(jsonx_get_str(d, "spec.strategy.type"), "RollingUpdate");
    assert_string_equal(jsonx_get_str(d, "spec.strategy.rollingUpdate.maxSurge"), "25%");
    json_t *ps = jsonx_get(d, "spec.template.spec");
    assert_string_equal(jsonx_get_str(ps, "restartPolicy"), "Always");
    assert_int_equal(jsonx_get_int(ps, "terminationGracePeriodSeconds", -1), 30);
    json_t *cs = json_object_get(ps, "containers");
    assert_string_equal(jsonx_get_str(json_array_get(cs, 0), "imagePullPolicy"), "IfNotPresent");
    assert_string_equal(jsonx_get_str(json_array_get(cs, 1), "imagePullPolicy"), "Always");
    assert_string_equal(jsonx_get_str(json_array_get(cs, 2), "imagePullPolicy"), "IfNotPresent");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(cs, 0), "ports"), 0), "protocol")),
        "TCP");
    assert_string_equal(jsonx_get_str(s, "spec.type"), "ClusterIP");
    assert_string_equal(jsonx_get_str(s, "spec.sessionAffinity"), "None");
    json_t *ports = jsonx_get(s, "spec.ports");
    assert_int_equal(jsonx_get_int(json_array_get(ports, 0), "targetPort", -1), 80);
    assert_string_equal(jsonx_get_str(json_array_get(ports, 0), "protocol"), "TCP");
    assert_string_equal(jsonx_get_str(json_array_get(ports, 1), "targetPort"), "http");
    assert_string_equal(jsonx_get_str(json_array_get(ports, 1), "protocol"), "UDP");

    json_t *d1 = json_deep_copy(d), *s1 = json_deep_copy(s);
    schema_default(d);
    schema_default(s);
    assert_true(json_equal(d, d1));
    assert_true(json_equal(s, s1));
    json_decref(d1);
    json_decref(s1);

    /* defaulted objects still validate (and get no warnings for defaulted fields) */
    struct schema_issues is = {0};
    schema_validate(d, NULL, &is);
    schema_validate(s, NULL, &is);
    if (is.n)
        fail_msg("%s: %s", is.v[0].field, is.v[0].message);
    schema_issues_free(&is);
    parsed_free(&p);
}

static void test_fields_resolve_types_across_groups(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(schema_fields_init(NULL), 0);
    const struct schema_type *t = schema_fields_type("apps/v1", "DeploymentSpec");
    assert_non_null(t);
    const struct schema_field *f = schema_fields_field(t, "template");
    assert_true(f->required);
    assert_int_equal(f->type->kind, SCHEMA_T_OBJECT);
    assert_string_equal(f->type->object->group, "core/v1"); /* imported */
    f = schema_fields_field(t, "selector");
    assert_string_equal(f->type->object->group, "meta/v1");
    assert_null(schema_fields_field(t, "replica"));
    t = schema_fields_type("core/v1", "Container");
    assert_string_equal(schema_tref_describe(schema_fields_field(schema_fields_type("core/v1",
                                                                                    "PodSpec"),
                                                                 "containers")
                                                 ->type,
                                             buf, sizeof(buf)),
                        "Array<Container>");
    f = schema_fields_field(schema_fields_type("core/v1", "ResourceRequirements"), "limits");
    assert_int_equal(f->type->kind, SCHEMA_T_MAP);
    assert_int_equal(f->type->elem->kind, SCHEMA_T_QUANTITY);
    f = schema_fields_field(schema_fields_type("core/v1", "ServicePort"), "targetPort");
    assert_int_equal(f->type->kind, SCHEMA_T_UNION);
    assert_string_equal(schema_tref_describe(f->type, buf, sizeof(buf)), "integer or string");
    f = schema_fields_field(schema_fields_type("meta/v1", "ObjectMeta"), "creationTimestamp");
    assert_int_equal(f->type->kind, SCHEMA_T_TIME);
    f = schema_fields_field(schema_fields_type("apps/v1", "Deployment"), "apiVersion");
    assert_int_equal(f->type->kind, SCHEMA_T_LITERAL);
    assert_string_equal(f->type->literal, "apps/v1");
    f = schema_fields_field(schema_fields_type("apps/v1", "ControllerRevision"), "data");
    assert_int_equal(f->type->kind, SCHEMA_T_ANY); /* runtime.RawExtension */
    assert_non_null(schema_fields_type("coordination/v1", "Lease"));
    assert_non_null(schema_fields_type("bosun/v1", "GitRepository"));
    assert_null(schema_fields_type("core/v1", "Nope"));
    assert_string_equal(schema_fields_group_of("coordination.k8s.io/v1", buf, sizeof(buf)),
                        "coordination/v1");
    assert_string_equal(schema_fields_group_of("v1", buf, sizeof(buf)), "core/v1");
}

static void test_validate_takes_microseconds_per_object(void **state)
{
    (void)state;
    struct parsed p;
    parse_fixture(&p, "nginx-deployment.yaml");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        struct schema_issues is = {0};
        schema_validate(p.docs.v[0].obj, &p.docs.v[0], &is);
        schema_issues_free(&is);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / N;
    print_message("validate nginx deployment: %.1f us/object\n", us);
    /* generous, so that sanitizer builds on a loaded machine pass: a millisecond means
     * the field tree is being re-read or scanned linearly */
    assert_true(us < 1000.0);
    parsed_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_accepts_nginx_deployment_with_warnings_only),
        cmocka_unit_test(test_validate_accepts_example_app_without_issues),
        cmocka_unit_test(test_validate_reports_unknown_field_with_position),
        cmocka_unit_test(test_validate_reports_wrong_types),
        cmocka_unit_test(test_validate_rejects_bad_names_and_unknown_kind),
        cmocka_unit_test(test_validate_rejects_negative_replicas),
        cmocka_unit_test(test_validate_requires_selector_matching_template_labels),
        cmocka_unit_test(test_validate_applies_pod_rules),
        cmocka_unit_test(test_validate_applies_service_rules),
        cmocka_unit_test(test_validate_checks_config_keys_and_base64),
        cmocka_unit_test(test_validate_checks_label_keys_and_values),
        cmocka_unit_test(test_validate_requires_apiversion_and_kind),
        cmocka_unit_test(test_validate_requires_name_unless_generate_name),
        cmocka_unit_test(test_validate_status_is_type_checked_but_not_required_or_warned),
        cmocka_unit_test(test_validate_knows_gitrepository),
        cmocka_unit_test(test_validate_without_doc_has_no_positions),
        cmocka_unit_test(test_default_fills_kubernetes_defaults_idempotently),
        cmocka_unit_test(test_fields_resolve_types_across_groups),
        cmocka_unit_test(test_validate_takes_microseconds_per_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
