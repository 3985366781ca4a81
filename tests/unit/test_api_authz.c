/* Unit tests for reconcilerd/api/authz (the group roles, the node rules on secrets and
 * configmaps, the rules listing checked against every decision, the Forbidden message),
 * reconcilerd/api/managed (managedFields: conflicts, removals, Update ownership) and
 * reconcilerd/api/limits (token bucket, watch slots). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "reconcilerd/api/authz.h"
#include "reconcilerd/api/limits.h"
#include "reconcilerd/api/managed.h"
#include "reconcilerd/api/patch.h"
#include "schema/kinds.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    if (!v)
        fail_msg("bad test JSON at %d: %s: %s", e.position, e.text, s);
    return v;
}

static struct api_user user(const char *name, const char *g1, const char *g2)
{
    struct api_user u;
    memset(&u, 0, sizeof(u));
    u.name = (char *)name;
    if (g1)
        u.groups[u.ngroups++] = (char *)g1;
    if (g2)
        u.groups[u.ngroups++] = (char *)g2;
    return u;
}

static bool can(const struct api_user *u, const char *verb, const char *group, const char *res,
                const char *sub, const char *ns, const char *name, const json_t *obj)
{
    struct api_authz_req q = {verb, group, res, sub, ns, name, NULL, obj, NULL};
    return api_authz_allows(u, &q);
}

static void test_authz_roles_by_group(void **state)
{
    (void)state;
    struct api_user admin = user("admin", "system:masters", NULL);
    struct api_user viewer = user("v", "bosun:viewer", NULL);
    struct api_user sched = user("s", "bosun:scheduler", NULL);
    struct api_user proxy = user("p", "bosun:proxy", NULL);
    struct api_user git = user("g", "bosun:gitsync", NULL);
    struct api_user nobody = user("x", NULL, NULL);
    assert_true(can(NULL, "delete", "", "nodes", "", "", "n1", NULL)); /* anonymous admin */
    assert_true(can(&admin, "delete", "", "nodes", "", "", "n1", NULL));
    assert_true(can(&viewer, "list", "apps", "deployments", "", "default", "", NULL));
    assert_true(can(&viewer, "get", "", "pods", "log", "default", "p", NULL));
    assert_false(can(&viewer, "get", "", "secrets", "", "default", "s", NULL));
    assert_false(can(&viewer, "patch", "", "configmaps", "", "default", "c", NULL));
    assert_true(can(&sched, "create", "", "pods", "binding", "default", "p", NULL));
    assert_true(can(&sched, "watch", "", "nodes", "", "", "", NULL));
    assert_false(can(&sched, "delete", "", "pods", "", "default", "p", NULL));
    assert_true(can(&proxy, "watch", "", "endpoints", "", "", "", NULL));
    assert_false(can(&proxy, "list", "", "pods", "", "", "", NULL));
    assert_true(can(&git, "update", "bosun.io", "gitrepositories", "status", "bosun-system",
                    "default", NULL));
    assert_true(can(&git, "create", "", "namespaces", "", "", "", NULL));
    assert_false(can(&git, "patch", "", "nodes", "", "", "n1", NULL));
    assert_false(can(&nobody, "get", "", "pods", "", "default", "p", NULL));
    assert_true(can(&nobody, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "",
                    "", "", NULL));
}

static void test_authz_node_rules_look_at_the_object(void **state)
{
    (void)state;
    struct api_user n1 = user("system:node:n1", "system:nodes", NULL);
    struct api_user fake = user("system:node:n1", NULL, NULL); /* not in system:nodes */
    json_t *mine = J("{\"spec\":{\"nodeName\":\"n1\"}}");
    json_t *theirs = J("{\"spec\":{\"nodeName\":\"n2\"}}");
    json_t *mirror = J("{\"metadata\":{\"annotations\":{\"kubernetes.io/config.mirror\":\"x\"}},"
                       "\"spec\":{\"nodeName\":\"n1\"}}");
    json_t *node = J("{\"metadata\":{\"name\":\"n1\"}}");
    assert_true(can(&n1, "patch", "", "nodes", "status", "", "n1", NULL));
    assert_false(can(&n1, "patch", "", "nodes", "status", "", "n2", NULL));
    assert_true(can(&n1, "create", "", "nodes", "", "", "", node));
    assert_true(can(&n1, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1",
                    NULL));
    assert_false(can(&n1, "update", "coordination.k8s.io", "leases", "", "kube-node-lease",
                     "n2", NULL));
    assert_true(can(&n1, "patch", "", "pods", "status", "default", "p", mine));
    assert_false(can(&n1, "patch", "", "pods", "status", "default", "p", theirs));
    assert_false(can(&n1, "patch", "", "pods", "status", "default", "p", NULL));
    assert_true(can(&n1, "delete", "", "pods", "", "default", "p", mine));
    assert_false(can(&n1, "delete", "", "pods", "", "default", "p", theirs));
    assert_false(can(&n1, "create", "", "pods", "", "default", "", mine));
    assert_true(can(&n1, "create", "", "pods", "", "default", "", mirror));
    assert_true(can(&n1, "create", "", "events", "", "default", "", NULL));
    /* the kubelet's recorder bumps count and lastTimestamp of a repeat with a patch */
    assert_true(can(&n1, "patch", "", "events", "", "default", "hello.18eec6", NULL));
    assert_true(can(&n1, "update", "", "events", "", "kube-system", "hello.18eec6", NULL));
    assert_true(can(&n1, "create", "events.k8s.io", "events", "", "default", "", NULL));
    assert_false(can(&n1, "delete", "", "events", "", "default", "hello.18eec6", NULL));
    assert_true(can(&n1, "watch", "", "pods", "", "", "", NULL));
    assert_false(can(&fake, "patch", "", "nodes", "", "", "n1", NULL));
    struct api_authz_req q = {"delete", "", "pods", "", "default", "p", NULL, NULL, NULL};
    assert_true(api_authz_needs_object(&n1, &q));
    json_decref(mine);
    json_decref(theirs);
    json_decref(mirror);
    json_decref(node);
}

static void test_authz_forbidden_message_is_kubernetes_form(void **state)
{
    (void)state;
    struct api_user u = user("u", NULL, NULL);
    char buf[600];
    struct api_authz_req q = {"delete", "", "pods", "", "default", "x", NULL, NULL, NULL};
    api_authz_message(&u, &q, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "pods \"x\" is forbidden: User \"u\" cannot delete resource "
                             "\"pods\" in API group \"\" in the namespace \"default\"");
    struct api_authz_req l = {"list", "apps", "deployments", "", "", "", NULL, NULL, NULL};
    api_authz_message(&u, &l, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "deployments.apps is forbidden: User \"u\" cannot list resource "
                             "\"deployments\" in API group \"apps\" at the cluster scope");
    struct api_authz_req s = {"patch", "", "pods", "status", "ns1", "p", NULL, NULL, NULL};
    api_authz_message(&u, &s, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "cannot patch resource \"pods/status\""));
    assert_string_equal(api_authz_verb("GET", false, true), "watch");
    assert_string_equal(api_authz_verb("GET", true, false), "get");
    assert_string_equal(api_authz_verb("PUT", true, false), "update");
}

/* Pods bound to n1 (and one to n2) that reference Secrets and ConfigMaps every way a pod
 * can, in namespace "default". */
static json_t *node_pods_fixture(void)
{
    return J("["
             "{\"metadata\":{\"name\":\"vol\",\"namespace\":\"default\"},\"spec\":{"
             "\"nodeName\":\"n1\",\"imagePullSecrets\":[{\"name\":\"pull\"}],"
             "\"volumes\":[{\"name\":\"a\",\"secret\":{\"secretName\":\"s-vol\"}},"
             "{\"name\":\"b\",\"configMap\":{\"name\":\"cm-vol\"}},"
             "{\"name\":\"c\",\"projected\":{\"sources\":[{\"secret\":{\"name\":\"s-proj\"}},"
             "{\"configMap\":{\"name\":\"cm-proj\"}}]}}],"
             "\"containers\":[{\"name\":\"c\",\"env\":["
             "{\"name\":\"A\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s-env\",\"key\":\"k\"}}},"
             "{\"name\":\"B\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cm-env\",\"key\":\"k\"}}}]}]}},"
             "{\"metadata\":{\"name\":\"init\",\"namespace\":\"default\",\"annotations\":{"
             "\"kubernetes.io/config.mirror\":\"h\"}},\"spec\":{\"nodeName\":\"n1\","
             "\"initContainers\":[{\"name\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"s-from\"}},"
             "{\"configMapRef\":{\"name\":\"cm-from\"}}]}],\"containers\":[{\"name\":\"c\"}]}},"
             "{\"metadata\":{\"name\":\"other\",\"namespace\":\"default\"},\"spec\":{"
             "\"nodeName\":\"n2\",\"volumes\":[{\"name\":\"a\",\"secret\":{\"secretName\":\"s-other\"}}],"
             "\"containers\":[{\"name\":\"c\"}]}}"
             "]");
}

static void test_authz_pod_references_every_kind_of_reference(void **state)
{
    (void)state;
    json_t *pods = node_pods_fixture();
    json_t *vol = json_array_get(pods, 0), *init = json_array_get(pods, 1);
    assert_true(api_authz_pod_references(vol, "secrets", "pull"));
    assert_true(api_authz_pod_references(vol, "secrets", "s-vol"));
    assert_true(api_authz_pod_references(vol, "secrets", "s-proj"));
    assert_true(api_authz_pod_references(vol, "secrets", "s-env"));
    assert_true(api_authz_pod_references(vol, "configmaps", "cm-vol"));
    assert_true(api_authz_pod_references(vol, "configmaps", "cm-proj"));
    assert_true(api_authz_pod_references(vol, "configmaps", "cm-env"));
    assert_true(api_authz_pod_references(init, "secrets", "s-from"));
    assert_true(api_authz_pod_references(init, "configmaps", "cm-from"));
    /* a Secret's name is not a ConfigMap reference and the other way round */
    assert_false(api_authz_pod_references(vol, "configmaps", "s-vol"));
    assert_false(api_authz_pod_references(vol, "secrets", "cm-vol"));
    assert_false(api_authz_pod_references(vol, "secrets", "c")); /* a volume's own name */
    assert_false(api_authz_pod_references(vol, "pods", "s-vol"));
    json_decref(pods);
}

static bool node_reads(const struct api_user *u, const char *verb, const char *res,
                       const char *ns, const char *name, const json_t *pods, char *reason)
{
    struct api_authz_req q = {verb, "", res, "", ns, name, NULL, NULL, pods};
    return api_authz_decide(u, &q, reason, 256);
}

static void test_authz_node_reads_only_referenced_secrets_and_configmaps(void **state)
{
    (void)state;
    struct api_user n1 = user("system:node:n1", "system:nodes", NULL);
    struct api_user admin = user("admin", "system:masters", NULL);
    json_t *pods = node_pods_fixture();
    char reason[256];
    assert_true(node_reads(&n1, "get", "secrets", "default", "s-env", pods, reason));
    assert_true(node_reads(&n1, "get", "secrets", "default", "s-from", pods, reason));
    assert_true(node_reads(&n1, "get", "configmaps", "default", "cm-proj", pods, reason));
    /* kubelet's single-object watch: list/watch with fieldSelector metadata.name */
    assert_true(node_reads(&n1, "watch", "secrets", "default", "pull", pods, reason));
    /* referenced by a pod of another node, by nobody, or in another namespace */
    assert_false(node_reads(&n1, "get", "secrets", "default", "s-other", pods, reason));
    assert_string_equal(reason, "no relationship found between node 'n1' and this object");
    assert_false(node_reads(&n1, "get", "secrets", "default", "nobody", pods, reason));
    assert_false(node_reads(&n1, "get", "secrets", "kube-system", "s-env", pods, reason));
    assert_false(node_reads(&n1, "get", "secrets", "default", "s-env", NULL, reason));
    /* lists of many */
    assert_false(node_reads(&n1, "list", "secrets", "", "", pods, reason));
    assert_string_equal(reason, "can only read namespaced object of this type");
    assert_false(node_reads(&n1, "watch", "configmaps", "default", "", pods, reason));
    assert_string_equal(reason, "No Object name found");
    /* writes: no rule at all */
    assert_false(node_reads(&n1, "update", "secrets", "default", "s-env", pods, reason));
    assert_false(node_reads(&admin, "list", "secrets", "", "", NULL, reason) == false);
    /* what the API loads: pods only for a named read in a namespace */
    struct api_authz_req get = {"get", "", "secrets", "", "default", "s-env", NULL, NULL, NULL};
    struct api_authz_req all = {"list", "", "secrets", "", "", "", NULL, NULL, NULL};
    assert_true(api_authz_needs_node_pods(&n1, &get));
    assert_false(api_authz_needs_node_pods(&n1, &all));
    assert_false(api_authz_needs_node_pods(&admin, &get));
    /* the message carries the reason, as kube-apiserver's does */
    char msg[600];
    api_authz_message(&n1, &all, "can only read namespaced object of this type", msg,
                      sizeof(msg));
    assert_string_equal(msg, "secrets is forbidden: User \"system:node:n1\" cannot list resource "
                             "\"secrets\" in API group \"\" at the cluster scope: can only read "
                             "namespaced object of this type");
    json_decref(pods);
}

/* ---- the rules listing against the decisions, with RBAC's matching rules ---- */

static bool str_in(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!strcmp(json_string_value(v), s))
            return true;
    }
    return false;
}

/* RBAC's RuleAllows over a SubjectRulesReviewStatus. */
static bool rbac_allows(const json_t *status, const struct api_authz_req *q)
{
    size_t i;
    json_t *r;
    if (!*q->resource) {
        json_array_foreach(json_object_get(status, "nonResourceRules"), i, r) {
            json_t *urls = json_object_get(r, "nonResourceURLs");
            json_t *verbs = json_object_get(r, "verbs");
            if (!str_in(verbs, "*") && !str_in(verbs, q->verb))
                continue;
            size_t j;
            json_t *u;
            json_array_foreach(urls, j, u) {
                const char *s = json_string_value(u);
                size_t n = strlen(s);
                if (!strcmp(s, "*") || !strcmp(s, q->path) ||
                    (s[n - 1] == '*' && !strncmp(s, q->path, n - 1)))
                    return true;
            }
        }
        return false;
    }
    char combined[300], star_sub[300];
    snprintf(combined, sizeof(combined), "%s%s%s", q->resource, *q->sub ? "/" : "", q->sub);
    snprintf(star_sub, sizeof(star_sub), "*/%s", q->sub);
    json_array_foreach(json_object_get(status, "resourceRules"), i, r) {
        json_t *verbs = json_object_get(r, "verbs"), *groups = json_object_get(r, "apiGroups");
        json_t *res = json_object_get(r, "resources"), *names = json_object_get(r, "resourceNames");
        if (!str_in(verbs, "*") && !str_in(verbs, q->verb))
            continue;
        if (!str_in(groups, "*") && !str_in(groups, q->group))
            continue;
        if (!str_in(res, "*") && !str_in(res, combined) && !(*q->sub && str_in(res, star_sub)))
            continue;
        if (json_array_size(names) && !str_in(names, q->name))
            continue;
        return true;
    }
    return false;
}

static void check_listing_agrees(const struct api_user *u, const json_t *pods)
{
    json_t *st = api_authz_rules(u, "default", pods);
    static const char *const verbs[] = {"get", "list", "watch", "create", "update", "patch",
                                        "delete", "deletecollection"};
    static const char *const names[] = {"", "n1", "n2", "vol", "init", "other", "s-env",
                                        "cm-vol", "s-other"};
    size_t nk;
    const struct schema_kind *ks = schema_kinds(&nk);
    const char *node = api_authz_node_name(u);
    size_t checked = 0;
    /* every served kind and subresource, a kind that does not exist, the self reviews */
    for (size_t k = 0; k <= nk + 2; k++) {
        const char *group = k < nk ? ks[k].group : k == nk ? "" : "authorization.k8s.io";
        const char *res = k < nk    ? ks[k].resource
                          : k == nk ? "foos"
                                    : "selfsubjectrulesreviews";
        const char *ns = k < nk && !ks[k].namespaced ? "" : "default";
        for (int s = -1; s < 4; s++) {
            const char *sub = s < 0 ? "" : k < nk ? ks[k].subresources[s] : NULL;
            if (!sub)
                break;
            for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
                for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
                    /* creating mirror pods is the one rule the listing cannot carry */
                    if (node && !strcmp(res, "pods") && !*sub && !strcmp(verbs[v], "create"))
                        continue;
                    /* the API hands a node rule the stored pod it names */
                    const json_t *obj = NULL;
                    size_t p;
                    json_t *pod;
                    json_array_foreach(pods, p, pod) {
                        if (!strcmp(res, "pods") && !strcmp(json_string_value(jsonx_get(pod,
                                                                "metadata.name")),
                                                            names[n]))
                            obj = pod;
                    }
                    struct api_authz_req q = {verbs[v], group, res, sub, ns, names[n],
                                              NULL, obj, pods};
                    bool want = rbac_allows(st, &q);
                    if (api_authz_allows(u, &q) != want)
                        fail_msg("%s: %s %s/%s%s%s ns=%s name=%s: decision %d, listing %d",
                                 u->name, verbs[v], group, res, *sub ? "/" : "", sub, ns,
                                 names[n], !want, want);
                    checked++;
                }
            }
        }
    }
    static const char *const paths[] = {"/api", "/apis/apps/v1", "/openapi/v3", "/version",
                                        "/healthz", "/metrics", "/logs", "/"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (size_t v = 0; v < 2; v++) {
            struct api_authz_req q = {v ? "post" : "get", "", "", "", "", "", paths[i], NULL,
                                      NULL};
            if (api_authz_allows(u, &q) != rbac_allows(st, &q))
                fail_msg("%s: %s %s: decision and listing differ", u->name, q.verb, paths[i]);
        }
    }
    assert_true(checked > 1000);
    json_decref(st);
}

static void test_authz_rules_listing_agrees_with_every_decision(void **state)
{
    (void)state;
    json_t *pods = node_pods_fixture();
    struct api_user us[] = {
        user("admin", "system:masters", NULL),
        user("system:node:n1", "system:nodes", NULL),
        user("s", "bosun:scheduler", NULL),
        user("p", "bosun:proxy", NULL),
        user("g", "bosun:gitsync", NULL),
        user("v", "bosun:viewer", NULL),
        user("vp", "bosun:viewer", "bosun:proxy"),
        user("nobody", NULL, NULL),
        user("system:node:n1", NULL, NULL), /* not in system:nodes: no node rules */
    };
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++)
        check_listing_agrees(&us[i], pods);
    json_decref(pods);
}

/* The resourceRules entry listing group/resource (and names), or NULL. */
static json_t *rule_for(json_t *st, const char *group, const char *res, const char *verb)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(st, "resourceRules"), i, r) {
        if (str_in(json_object_get(r, "apiGroups"), group) &&
            str_in(json_object_get(r, "resources"), res) &&
            str_in(json_object_get(r, "verbs"), verb))
            return r;
    }
    return NULL;
}

static void test_authz_rules_listing_by_group(void **state)
{
    (void)state;
    json_t *pods = node_pods_fixture();
    struct api_user admin = user("admin", "system:masters", NULL);
    struct api_user viewer = user("v", "bosun:viewer", NULL);
    struct api_user n1 = user("system:node:n1", "system:nodes", NULL);
    struct api_user git = user("g", "bosun:gitsync", NULL);

    json_t *st = api_authz_rules(&admin, "default", NULL);
    assert_false(json_is_true(json_object_get(st, "incomplete")));
    assert_non_null(rule_for(st, "*", "*", "*"));
    json_t *nr = json_object_get(st, "nonResourceRules");
    assert_true(str_in(json_object_get(json_array_get(nr, 1), "nonResourceURLs"), "*"));
    json_decref(st);

    st = api_authz_rules(&viewer, "default", NULL);
    assert_false(json_is_true(json_object_get(st, "incomplete")));
    assert_non_null(rule_for(st, "", "pods", "list"));
    assert_non_null(rule_for(st, "apps", "deployments/scale", "get"));
    assert_non_null(rule_for(st, "", "pods/log", "get"));
    assert_non_null(rule_for(st, "authorization.k8s.io", "selfsubjectrulesreviews", "create"));
    assert_null(rule_for(st, "", "secrets", "get"));
    assert_null(rule_for(st, "", "pods", "delete"));
    json_decref(st);

    st = api_authz_rules(&git, "default", NULL);
    assert_non_null(rule_for(st, "bosun.io", "gitrepositories/status", "*"));
    assert_non_null(rule_for(st, "", "secrets", "*"));
    assert_null(rule_for(st, "", "nodes", "*"));
    json_decref(st);

    st = api_authz_rules(&n1, "default", pods);
    /* creating mirror pods cannot be a rule: said, not hidden */
    assert_true(json_is_true(json_object_get(st, "incomplete")));
    assert_non_null(strstr(json_string_value(json_object_get(st, "evaluationError")),
                           "mirror pod"));
    json_t *sec = rule_for(st, "", "secrets", "get");
    assert_non_null(sec);
    json_t *names = json_object_get(sec, "resourceNames");
    assert_int_equal(json_array_size(names), 5); /* pull s-vol s-proj s-env s-from */
    assert_true(str_in(names, "s-from"));
    assert_false(str_in(names, "s-other"));
    json_t *own = rule_for(st, "", "nodes/status", "patch");
    assert_non_null(own);
    assert_true(str_in(json_object_get(own, "resourceNames"), "n1"));
    json_t *del = rule_for(st, "", "pods", "delete");
    assert_int_equal(json_array_size(json_object_get(del, "resourceNames")), 2);
    json_t *mirror = rule_for(st, "", "pods", "patch");
    assert_int_equal(json_array_size(json_object_get(mirror, "resourceNames")), 1);
    json_decref(st);
    /* no pods on the node: no names, and never an empty (= every name) resourceNames */
    st = api_authz_rules(&n1, "default", NULL);
    assert_null(rule_for(st, "", "secrets", "get"));
    assert_null(rule_for(st, "", "pods", "delete"));
    json_decref(st);
    json_decref(pods);
}

static void test_managed_conflicts_and_force(void **state)
{
    (void)state;
    json_t *live = J("{\"data\":{\"a\":\"9\",\"b\":\"2\"},\"metadata\":{\"managedFields\":["
                     "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
                     "\"fieldsV1\":{\"f:data\":{\"f:b\":{}}}},"
                     "{\"manager\":\"kubectl-edit\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
                     "\"fieldsV1\":{\"f:data\":{\"f:a\":{}}}}]}}");
    json_t *applied = J("{\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    json_t *fs = api_fieldset_of(applied);
    json_t *c = api_managed_conflicts(live, applied, fs, "kubectl");
    assert_int_equal(json_array_size(c), 1);
    char msg[600];
    api_managed_conflict_message(c, msg, sizeof(msg));
    assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl-edit\" "
                             "using v1: .data.a");
    json_decref(c);
    /* the same value co-owns: no conflict */
    json_t *same = J("{\"data\":{\"a\":\"9\"}}");
    json_t *sfs = api_fieldset_of(same);
    c = api_managed_conflicts(live, same, sfs, "kubectl");
    assert_int_equal(json_array_size(c), 0);
    json_decref(c);
    /* force: the field changes hands */
    json_t *obj = json_deep_copy(live);
    api_managed_record_apply(obj, live, applied, "kubectl", "v1", fs, 1);
    json_t *mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    assert_int_equal(json_array_size(mf), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(mf, 0), "manager")),
                        "kubectl");
    json_decref(obj);
    json_decref(same);
    json_decref(sfs);
    json_decref(fs);
    json_decref(applied);
    json_decref(live);
}

static void test_managed_update_takes_changed_fields_and_removal_spares_others(void **state)
{
    (void)state;
    json_t *live = J("{\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":["
                     "{\"name\":\"c\",\"image\":\"a\"}]}}},\"metadata\":{\"managedFields\":["
                     "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
                     "\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{"
                     "\"f:containers\":{\"k:{\\\"name\\\":\\\"c\\\"}\":{\"f:name\":{},"
                     "\"f:image\":{}}}}}}}}]}}");
    json_t *obj = json_deep_copy(live);
    json_object_set_new(json_object_get(obj, "spec"), "replicas", json_integer(3));
    api_managed_record_update(obj, live, "kubectl-scale", "apps/v1");
    json_t *mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    assert_int_equal(json_array_size(mf), 2);
    json_t *apply_fs = json_object_get(json_array_get(mf, 0), "fieldsV1");
    assert_null(json_object_get(json_object_get(apply_fs, "f:spec"), "f:replicas"));
    assert_non_null(json_object_get(json_object_get(apply_fs, "f:spec"), "f:template"));
    json_t *upd = json_array_get(mf, 1);
    assert_string_equal(json_string_value(json_object_get(upd, "operation")), "Update");
    assert_non_null(json_object_get(json_object_get(json_object_get(upd, "fieldsV1"), "f:spec"),
                                    "f:replicas"));
    /* kubectl stops applying replicas: kubectl-scale still owns it, so it stays */
    json_t *old = J("{\"f:spec\":{\"f:replicas\":{}}}");
    json_t *rem = api_managed_removable(obj, old, "kubectl");
    assert_int_equal(json_object_size(rem), 0);
    char m[64];
    assert_string_equal(api_managed_manager(NULL, "kubectl/v1.32.4 (linux)", m, sizeof(m)),
                        "kubectl");
    assert_string_equal(api_managed_manager("kubectl-edit", "x/1", m, sizeof(m)), "kubectl-edit");
    json_decref(rem);
    json_decref(old);
    json_decref(obj);
    json_decref(live);
}

static void test_limits_rate_and_watch_slots(void **state)
{
    (void)state;
    struct api_limits *l = NULL;
    assert_int_equal(api_limits_new(1, 3, 2, &l, NULL), 0);
    assert_int_equal(api_limits_take(l, "a"), 0);
    assert_int_equal(api_limits_take(l, "a"), 0);
    assert_int_equal(api_limits_take(l, "a"), 0);
    assert_true(api_limits_take(l, "a") >= 1);  /* burst used up */
    assert_int_equal(api_limits_take(l, "b"), 0); /* others unaffected */
    assert_int_equal(api_limits_watch_open(l, "a"), 0);
    assert_int_equal(api_limits_watch_open(l, "a"), 0);
    assert_int_equal(api_limits_watch_open(l, "a"), -EBUSY);
    api_limits_watch_done(l, "a");
    assert_int_equal(api_limits_watch_open(l, "a"), 0);
    api_limits_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authz_roles_by_group),
        cmocka_unit_test(test_authz_node_rules_look_at_the_object),
        cmocka_unit_test(test_authz_forbidden_message_is_kubernetes_form),
        cmocka_unit_test(test_authz_pod_references_every_kind_of_reference),
        cmocka_unit_test(test_authz_node_reads_only_referenced_secrets_and_configmaps),
        cmocka_unit_test(test_authz_rules_listing_agrees_with_every_decision),
        cmocka_unit_test(test_authz_rules_listing_by_group),
        cmocka_unit_test(test_managed_conflicts_and_force),
        cmocka_unit_test(test_managed_update_takes_changed_fields_and_removal_spares_others),
        cmocka_unit_test(test_limits_rate_and_watch_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
