/* Unit tests for reconcilerd/api/authz (the group roles and the Forbidden message),
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

#include "reconcilerd/api/authz.h"
#include "reconcilerd/api/limits.h"
#include "reconcilerd/api/managed.h"
#include "reconcilerd/api/patch.h"

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
    struct api_authz_req q = {verb, group, res, sub, ns, name, NULL, obj};
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
    assert_true(can(&n1, "watch", "", "pods", "", "", "", NULL));
    assert_false(can(&fake, "patch", "", "nodes", "", "", "n1", NULL));
    struct api_authz_req q = {"delete", "", "pods", "", "default", "p", NULL, NULL};
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
    struct api_authz_req q = {"delete", "", "pods", "", "default", "x", NULL, NULL};
    api_authz_message(&u, &q, buf, sizeof(buf));
    assert_string_equal(buf, "pods \"x\" is forbidden: User \"u\" cannot delete resource "
                             "\"pods\" in API group \"\" in the namespace \"default\"");
    struct api_authz_req l = {"list", "apps", "deployments", "", "", "", NULL, NULL};
    api_authz_message(&u, &l, buf, sizeof(buf));
    assert_string_equal(buf, "deployments.apps is forbidden: User \"u\" cannot list resource "
                             "\"deployments\" in API group \"apps\" at the cluster scope");
    struct api_authz_req s = {"patch", "", "pods", "status", "ns1", "p", NULL, NULL};
    api_authz_message(&u, &s, buf, sizeof(buf));
    assert_non_null(strstr(buf, "cannot patch resource \"pods/status\""));
    assert_string_equal(api_authz_verb("GET", false, true), "watch");
    assert_string_equal(api_authz_verb("GET", true, false), "get");
    assert_string_equal(api_authz_verb("PUT", true, false), "update");
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
        cmocka_unit_test(test_managed_conflicts_and_force),
        cmocka_unit_test(test_managed_update_takes_changed_fields_and_removal_spares_others),
        cmocka_unit_test(test_limits_rate_and_watch_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
