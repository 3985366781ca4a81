/* Unit tests for reconcilerd/api/paths (URL parsing) and api/auth (token file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "reconcilerd/api/auth.h"
#include "reconcilerd/api/paths.h"

static void test_paths_namespaced_object_and_subresource(void **state)
{
    (void)state;
    struct api_path p;
    assert_int_equal(api_path_parse("/apis/apps/v1/namespaces/default/deployments/web/scale", &p,
                                    NULL), 0);
    assert_int_equal(p.type, API_PATH_RESOURCE);
    assert_string_equal(p.group, "apps");
    assert_string_equal(p.version, "v1");
    assert_string_equal(p.ns, "default");
    assert_string_equal(p.resource, "deployments");
    assert_string_equal(p.name, "web");
    assert_string_equal(p.sub, "scale");

    assert_int_equal(api_path_parse("/api/v1/namespaces/kube/pods", &p, NULL), 0);
    assert_string_equal(p.group, "");
    assert_string_equal(p.ns, "kube");
    assert_string_equal(p.resource, "pods");
    assert_string_equal(p.name, "");
}

static void test_paths_cluster_scoped_and_cluster_wide(void **state)
{
    (void)state;
    struct api_path p;
    assert_int_equal(api_path_parse("/api/v1/pods", &p, NULL), 0);
    assert_string_equal(p.resource, "pods");
    assert_string_equal(p.ns, "");
    assert_int_equal(api_path_parse("/api/v1/nodes/n1/status", &p, NULL), 0);
    assert_string_equal(p.resource, "nodes");
    assert_string_equal(p.name, "n1");
    assert_string_equal(p.sub, "status");
    /* A namespace itself, and its status subresource. */
    assert_int_equal(api_path_parse("/api/v1/namespaces/default", &p, NULL), 0);
    assert_string_equal(p.resource, "namespaces");
    assert_string_equal(p.name, "default");
    assert_string_equal(p.ns, "");
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/status", &p, NULL), 0);
    assert_string_equal(p.resource, "namespaces");
    assert_string_equal(p.sub, "status");
    assert_int_equal(api_path_parse("/api/v1/namespaces", &p, NULL), 0);
    assert_string_equal(p.resource, "namespaces");
    assert_string_equal(p.name, "");
}

static void test_paths_discovery_roots(void **state)
{
    (void)state;
    struct api_path p;
    assert_int_equal(api_path_parse("/api", &p, NULL), 0);
    assert_int_equal(p.type, API_PATH_CORE_ROOT);
    assert_int_equal(api_path_parse("/api/v1", &p, NULL), 0);
    assert_int_equal(p.type, API_PATH_GROUP_VERSION);
    assert_int_equal(api_path_parse("/apis/", &p, NULL), 0);
    assert_int_equal(p.type, API_PATH_APIS_ROOT);
    assert_int_equal(api_path_parse("/apis/apps", &p, NULL), 0);
    assert_int_equal(p.type, API_PATH_GROUP);
    assert_int_equal(api_path_parse("/apis/apps/v1", &p, NULL), 0);
    assert_int_equal(p.type, API_PATH_GROUP_VERSION);
    assert_string_equal(p.group, "apps");
}

static void test_paths_dotdot_tricks_are_rejected(void **state)
{
    (void)state;
    struct api_path p;
    struct bosun_err err = {0};
    /* "..%2Fetc" arrives percent-decoded as "../etc". */
    int rc = api_path_parse("/api/v1/namespaces/default/pods/../etc", &p, &err);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err.msg, "\"..\""));
    assert_int_equal(api_path_parse("/api/v1/namespaces/../pods/x", &p, NULL), -EINVAL);
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/..", &p, NULL), -EINVAL);
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/.", &p, NULL), -EINVAL);
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/a%2Fb", &p, NULL), -EINVAL);
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/a\\b", &p, NULL), -EINVAL);
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/a\nb", &p, NULL), -EINVAL);
    /* Unknown shapes are not API paths. */
    assert_int_equal(api_path_parse("/api/v1/namespaces/default/pods/a/b/c", &p, NULL), -ENOENT);
    assert_int_equal(api_path_parse("/api/v1//pods", &p, NULL), -ENOENT);
    assert_int_equal(api_path_parse("/etc/passwd", &p, NULL), -ENOENT);
    assert_int_equal(api_path_parse("", &p, NULL), -ENOENT);
    assert_int_equal(api_path_parse("/api/../../etc", &p, NULL), -ENOENT);
    char longname[400];
    memset(longname, 'a', sizeof(longname));
    strcpy(longname, "/api/v1/namespaces/default/pods/");
    memset(longname + strlen(longname), 'a', 300);
    longname[strlen("/api/v1/namespaces/default/pods/") + 300] = '\0';
    assert_int_equal(api_path_parse(longname, &p, NULL), -EINVAL);
}

static void test_auth_token_file(void **state)
{
    (void)state;
    struct api_auth *a = NULL;
    struct bosun_err err = {0};
    const char *file = "# users\n"
                       "tok-admin,admin,1,\"system:masters,bosun:viewer\"\n"
                       "\n"
                       "tok-node,system:node:n1,2,system:nodes\r\n"
                       "tok-plain,plain\n";
    assert_int_equal(api_auth_parse(file, "tokens.csv", &a, &err), 0);
    assert_int_equal(api_auth_count(a), 3);
    const struct api_user *u = api_auth_lookup(a, "tok-admin");
    assert_non_null(u);
    assert_string_equal(u->name, "admin");
    assert_int_equal(u->ngroups, 2);
    assert_string_equal(u->groups[0], "system:masters");
    assert_string_equal(u->groups[1], "bosun:viewer");
    u = api_auth_lookup(a, "tok-node");
    assert_string_equal(u->groups[0], "system:nodes");
    assert_null(api_auth_lookup(a, "tok-adminx"));
    assert_null(api_auth_lookup(a, "tok-admi"));
    assert_null(api_auth_lookup(a, ""));
    api_auth_free(a);

    assert_int_equal(api_auth_parse("a,u1\na,u2\n", "t.csv", &a, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "t.csv: entry 2"));
    assert_int_equal(api_auth_parse("justatoken\n", "t.csv", &a, &err), -EINVAL);
    assert_int_equal(api_auth_parse("a,u,1,\"unterminated\n", "t.csv", &a, &err), -EINVAL);

    assert_string_equal(api_auth_bearer("Bearer abc"), "abc");
    assert_string_equal(api_auth_bearer("bearer   abc"), "abc");
    assert_null(api_auth_bearer("Basic abc"));
    assert_null(api_auth_bearer("Bearer"));
    assert_null(api_auth_bearer(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_namespaced_object_and_subresource),
        cmocka_unit_test(test_paths_cluster_scoped_and_cluster_wide),
        cmocka_unit_test(test_paths_discovery_roots),
        cmocka_unit_test(test_paths_dotdot_tricks_are_rejected),
        cmocka_unit_test(test_auth_token_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
