/* Unit tests for nodeagent/bundle (OCI config.json from a pod spec), nodeagent/cni's
 * network configuration and nodeagent/image's reference parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first */
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/jsonx.h"
#include "nodeagent/bundle.h"
#include "nodeagent/cni.h"
#include "nodeagent/image.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *POD =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"default\",\"uid\":\"u1\"},\"spec\":{\"containers\":[{\"name\":\"httpd\",\"image\":"
    "\"busybox:1.35\",\"command\":[\"httpd\"],\"args\":[\"-f\",\"-p\",\"8080\"],\"env\":[{"
    "\"name\":\"PATH\",\"value\":\"/bin\"},{\"name\":\"GREETING\",\"value\":\"hi\"}],"
    "\"resources\":{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"250m\"}}}]}}";

static const char *IMAGE_CONFIG =
    "{\"Env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\",\"FROM_IMAGE=1\"],\"Entrypoint\":["
    "\"/entry\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/srv\"}";

static json_t *config_for(const json_t *pod, const json_t *img, const char *netns)
{
    struct bundle_spec b = {
        .pod = pod,
        .container = json_array_get(jsonx_get(pod, "spec.containers"), 0),
        .image_config = img,
        .rootfs = "/b/rootfs",
        .netns_path = netns,
        .cgroups_path = "/bosun/u1/httpd",
        .hostname = "web",
        .etc_dir = "/p/etc",
    };
    struct bosun_err err = {0};
    json_t *cfg = bundle_config(&b, &err);
    if (!cfg)
        fail_msg("bundle_config: %s", err.msg);
    return cfg;
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

static void test_bundle_args_command_then_args(void **state)
{
    (void)state;
    json_t *pod = J(POD), *img = J(IMAGE_CONFIG);
    json_t *args =
        bundle_process_args(json_array_get(jsonx_get(pod, "spec.containers"), 0), img, NULL);
    json_t *want = J("[\"httpd\",\"-f\",\"-p\",\"8080\"]");
    assert_true(json_equal(args, want));
    json_decref(args);
    json_decref(want);
    json_decref(pod);
    json_decref(img);
}

static void test_bundle_args_fall_back_to_image_entrypoint_and_cmd(void **state)
{
    (void)state;
    json_t *img = J(IMAGE_CONFIG);
    json_t *only_args = J("{\"name\":\"c\",\"args\":[\"x\"]}");
    json_t *nothing = J("{\"name\":\"c\"}");
    json_t *a = bundle_process_args(only_args, img, NULL);
    json_t *b = bundle_process_args(nothing, img, NULL);
    json_t *wa = J("[\"/entry\",\"x\"]"), *wb = J("[\"/entry\",\"sh\"]");
    assert_true(json_equal(a, wa));
    assert_true(json_equal(b, wb));
    struct bosun_err err = {0};
    assert_null(bundle_process_args(nothing, NULL, &err));
    assert_int_equal(err.code, -EINVAL);
    json_decref(a);
    json_decref(b);
    json_decref(wa);
    json_decref(wb);
    json_decref(only_args);
    json_decref(nothing);
    json_decref(img);
}

static void test_bundle_config_joins_the_pod_netns(void **state)
{
    (void)state;
    json_t *pod = J(POD), *img = J(IMAGE_CONFIG);
    json_t *cfg = config_for(pod, img, "/var/run/netns/bosun-12345678");
    size_t i;
    json_t *ns;
    int net = 0, pid = 0, uts = 0;
    json_array_foreach(jsonx_get(cfg, "linux.namespaces"), i, ns)
    {
        const char *t = jsonx_get_str(ns, "type");
        if (!strcmp(t, "network")) {
            net = 1;
            assert_string_equal(jsonx_get_str(ns, "path"), "/var/run/netns/bosun-12345678");
        }
        pid |= !strcmp(t, "pid");
        uts |= !strcmp(t, "uts");
    }
    assert_true(net && pid && uts);
    assert_string_equal(jsonx_get_str(cfg, "hostname"), "web");
    assert_string_equal(jsonx_get_str(cfg, "root.path"), "/b/rootfs");
    assert_string_equal(jsonx_get_str(cfg, "linux.cgroupsPath"), "/bosun/u1/httpd");
    assert_true(jsonx_get(cfg, "process.noNewPrivileges") == json_true());
    assert_string_equal(jsonx_get_str(cfg, "process.cwd"), "/srv");
    json_decref(cfg);
    json_decref(pod);
    json_decref(img);
}

static void test_bundle_config_host_network_has_no_netns(void **state)
{
    (void)state;
    json_t *pod = J(POD);
    json_t *cfg = config_for(pod, NULL, NULL);
    size_t i;
    json_t *ns;
    json_array_foreach(jsonx_get(cfg, "linux.namespaces"), i, ns)
    {
        assert_string_not_equal(jsonx_get_str(ns, "type"), "network");
        assert_string_not_equal(jsonx_get_str(ns, "type"), "uts");
    }
    assert_null(json_object_get(cfg, "hostname"));
    json_decref(cfg);
    json_decref(pod);
}

static void test_bundle_config_env_image_then_container(void **state)
{
    (void)state;
    json_t *pod = J(POD), *img = J(IMAGE_CONFIG);
    json_t *cfg = config_for(pod, img, "/n");
    const json_t *env = jsonx_get(cfg, "process.env");
    assert_true(has_string(env, "PATH=/bin")); /* the container's value wins */
    assert_false(has_string(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"));
    assert_true(has_string(env, "FROM_IMAGE=1"));
    assert_true(has_string(env, "GREETING=hi"));
    assert_true(has_string(env, "HOSTNAME=web"));
    json_decref(cfg);
    json_decref(pod);
    json_decref(img);
}

static void test_bundle_config_limits_become_cgroup_resources(void **state)
{
    (void)state;
    json_t *pod = J(POD);
    json_t *cfg = config_for(pod, NULL, "/n");
    assert_int_equal(jsonx_get_int(cfg, "linux.resources.memory.limit", -1), 64 * 1024 * 1024);
    assert_int_equal(jsonx_get_int(cfg, "linux.resources.cpu.quota", -1), 25000);
    assert_int_equal(jsonx_get_int(cfg, "linux.resources.cpu.period", -1), 100000);
    assert_int_equal(jsonx_get_int(cfg, "linux.resources.cpu.shares", -1), 256);
    json_decref(cfg);
    json_decref(pod);
}

static void test_bundle_config_rejects_bad_quantity(void **state)
{
    (void)state;
    json_t *pod = J(POD);
    jsonx_set_new(json_array_get(jsonx_get(pod, "spec.containers"), 0), "resources.limits.memory",
                  json_string("lots"));
    struct bundle_spec b = {
        .pod = pod,
        .container = json_array_get(jsonx_get(pod, "spec.containers"), 0),
        .rootfs = "/r",
    };
    struct bosun_err err = {0};
    assert_null(bundle_config(&b, &err));
    assert_non_null(strstr(err.msg, "resources.limits.memory"));
    json_decref(pod);
}

static void test_bundle_capabilities_default_add_drop(void **state)
{
    (void)state;
    json_t *pod = J(POD);
    json_t *c = json_array_get(jsonx_get(pod, "spec.containers"), 0);
    jsonx_set_new(c, "securityContext.capabilities",
                  J("{\"add\":[\"NET_ADMIN\"],\"drop\":[\"NET_RAW\"]}"));
    json_t *cfg = config_for(pod, NULL, "/n");
    const json_t *bounding = jsonx_get(cfg, "process.capabilities.bounding");
    assert_true(has_string(bounding, "CAP_CHOWN"));
    assert_true(has_string(bounding, "CAP_NET_BIND_SERVICE"));
    assert_true(has_string(bounding, "CAP_NET_ADMIN"));
    assert_false(has_string(bounding, "CAP_NET_RAW"));
    assert_false(has_string(bounding, "CAP_SYS_ADMIN"));
    json_decref(cfg);
    json_decref(pod);
}

static void test_bundle_user_security_context_over_image(void **state)
{
    (void)state;
    json_t *pod = J(POD);
    json_t *c = json_array_get(jsonx_get(pod, "spec.containers"), 0);
    json_t *img = J("{\"User\":\"1000:2000\"}");
    unsigned uid = 9, gid = 9;
    assert_int_equal(bundle_resolve_user(pod, c, img, NULL, &uid, &gid, NULL), 0);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 2000);
    jsonx_set_new(c, "securityContext.runAsUser", json_integer(33));
    assert_int_equal(bundle_resolve_user(pod, c, img, NULL, &uid, &gid, NULL), 0);
    assert_int_equal(uid, 33);
    json_t *named = J("{\"User\":\"nosuchuser\"}"), *bare = json_object();
    assert_int_equal(bundle_resolve_user(pod, bare, named, "/nonexistent", &uid, &gid, NULL),
                     -EINVAL);
    json_decref(bare);
    json_decref(named);
    json_decref(img);
    json_decref(pod);
}

static void test_cni_bridge_config_names_bridge_and_subnet(void **state)
{
    (void)state;
    struct cni c = {.bin_dir = "/usr/lib/cni",
                    .bridge = "bst1",
                    .subnet = "10.244.7.0/24",
                    .data_dir = "/r/cni/ipam"};
    json_t *conf = cni_bridge_config(&c);
    json_t *want = J("{\"cniVersion\":\"1.0.0\",\"name\":\"bosun\",\"type\":\"bridge\","
                     "\"bridge\":\"bst1\",\"isGateway\":true,\"ipMasq\":false,\"hairpinMode\":"
                     "true,\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.244.7.0/24\","
                     "\"dataDir\":\"/r/cni/ipam\"}}");
    assert_true(json_equal(conf, want));
    json_decref(conf);
    json_decref(want);
}

static void test_image_ref_short_and_long_names_match(void **state)
{
    (void)state;
    struct image_ref a, b, c, d;
    assert_int_equal(image_ref_parse("busybox:1.35", &a, NULL), 0);
    assert_int_equal(image_ref_parse("docker.io/library/busybox:1.35", &b, NULL), 0);
    assert_string_equal(a.repo, "docker.io/library/busybox");
    assert_string_equal(a.repo, b.repo);
    assert_string_equal(a.tag, "1.35");
    assert_string_equal(b.tag, "1.35");
    assert_int_equal(image_ref_parse("busybox", &c, NULL), 0);
    assert_string_equal(c.tag, "latest");
    assert_int_equal(image_ref_parse("localhost:5000/team/app:v2", &d, NULL), 0);
    assert_string_equal(d.repo, "localhost:5000/team/app");
    assert_string_equal(d.tag, "v2");
    assert_int_equal(
        image_ref_parse("busybox@sha256:"
                        "0000000000000000000000000000000000000000000000000000000000000000",
                        &d, NULL),
        0);
    assert_string_equal(d.tag, "");
    assert_non_null(strstr(d.digest, "sha256:"));
}

static void test_image_ref_rejects_garbage(void **state)
{
    (void)state;
    struct image_ref r;
    struct bosun_err err = {0};
    assert_int_equal(image_ref_parse("", &r, &err), -EINVAL);
    assert_int_equal(image_ref_parse("../etc/passwd", &r, &err), -EINVAL);
    assert_int_equal(image_ref_parse("Busybox:1", &r, &err), -EINVAL);
    assert_int_equal(image_ref_parse("busybox:", &r, &err), -EINVAL);
    assert_int_equal(image_ref_parse("busybox@sha256:xyz", &r, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_args_command_then_args),
        cmocka_unit_test(test_bundle_args_fall_back_to_image_entrypoint_and_cmd),
        cmocka_unit_test(test_bundle_config_joins_the_pod_netns),
        cmocka_unit_test(test_bundle_config_host_network_has_no_netns),
        cmocka_unit_test(test_bundle_config_env_image_then_container),
        cmocka_unit_test(test_bundle_config_limits_become_cgroup_resources),
        cmocka_unit_test(test_bundle_config_rejects_bad_quantity),
        cmocka_unit_test(test_bundle_capabilities_default_add_drop),
        cmocka_unit_test(test_bundle_user_security_context_over_image),
        cmocka_unit_test(test_cni_bridge_config_names_bridge_and_subnet),
        cmocka_unit_test(test_image_ref_short_and_long_names_match),
        cmocka_unit_test(test_image_ref_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
