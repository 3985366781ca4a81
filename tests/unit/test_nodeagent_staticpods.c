/* Unit tests for nodeagent/staticpods (manifest-file filtering, static pod identity,
 * rescans that keep the last good version) and nodeagent/crashloop (restart back-off). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "nodeagent/crashloop.h"
#include "nodeagent/nodefs.h"
#include "nodeagent/staticpods.h"

static void test_staticpods_takes_manifests_and_skips_editor_files(void **state)
{
    (void)state;
    assert_true(staticpods_name_wanted("web.yaml"));
    assert_true(staticpods_name_wanted("web.yml"));
    assert_true(staticpods_name_wanted("web.json"));
    assert_false(staticpods_name_wanted(".web.yaml"));
    assert_false(staticpods_name_wanted(".web.yaml.swp"));
    assert_false(staticpods_name_wanted("web.yaml.swp"));
    assert_false(staticpods_name_wanted("web.yaml~"));
    assert_false(staticpods_name_wanted(".#web.yaml"));
    assert_false(staticpods_name_wanted("#web.yaml#"));
    assert_false(staticpods_name_wanted("4913"));
    assert_false(staticpods_name_wanted("README.md"));
    assert_false(staticpods_name_wanted(""));
}

static json_t *pod(const char *image)
{
    json_t *p =
        json_pack("{s:s,s:s,s:{s:s},s:{s:[{s:s,s:s}]}}", "apiVersion", "v1", "kind", "Pod",
                  "metadata", "name", "web", "spec", "containers", "name", "c", "image", image);
    assert_non_null(p);
    return p;
}

static void test_staticpods_identity_follows_content_and_node(void **state)
{
    (void)state;
    json_t *a = pod("busybox:1.35"), *b = pod("busybox:1.35"), *c = pod("busybox:1.36"),
           *d = pod("busybox:1.35");
    assert_int_equal(staticpods_finish(a, "n1", "/m/web.yaml"), 0);
    assert_int_equal(staticpods_finish(b, "n1", "/m/web.yaml"), 0);
    assert_int_equal(staticpods_finish(c, "n1", "/m/web.yaml"), 0);
    assert_int_equal(staticpods_finish(d, "n2", "/m/web.yaml"), 0);
    assert_string_equal(jsonx_get_str(a, "metadata.name"), "web-n1");
    assert_string_equal(jsonx_get_str(a, "metadata.namespace"), "default");
    assert_string_equal(jsonx_get_str(a, "spec.nodeName"), "n1");
    const char *ua = jsonx_get_str(a, "metadata.uid");
    assert_int_equal(strlen(ua), 36);
    assert_string_equal(ua, jsonx_get_str(b, "metadata.uid"));
    assert_string_not_equal(ua, jsonx_get_str(c, "metadata.uid"));
    assert_string_not_equal(ua, jsonx_get_str(d, "metadata.uid"));
    assert_string_equal(json_string_value(json_object_get(jsonx_get(a, "metadata.annotations"),
                                                          "kubernetes.io/config.source")),
                        "file");
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(fileutil_write_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static const char *fixture(void)
{
    static char buf[8192];
    char *text = NULL;
    const char *top = getenv("BOSUN_TOP");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/nodeagent/web.yaml", top ? top : ".");
    if (fileutil_read_all(path, sizeof(buf) - 1, &text, NULL, NULL) < 0)
        return NULL;
    snprintf(buf, sizeof(buf), "%s", text);
    free(text);
    return buf;
}

static void test_staticpods_rescan_keeps_last_good_version(void **state)
{
    (void)state;
    const char *good = fixture();
    if (!good)
        skip();
    log_setup("test", "error", "text");
    char dir[] = "/tmp/bosun-staticpods-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct staticpods *sp = NULL;
    assert_int_equal(staticpods_open(dir, "node1", &sp, NULL), 0);

    write_file(dir, "web.yaml", good);
    write_file(dir, ".web.yaml.swp", "garbage: [");
    write_file(dir, "4913", "");
    assert_int_equal(staticpods_rescan(sp, true), 1);
    assert_int_equal(json_array_size(staticpods_pods(sp)), 1);
    const json_t *p = json_array_get(staticpods_pods(sp), 0);
    assert_string_equal(jsonx_get_str(p, "metadata.name"), "web-node1");
    assert_string_equal(jsonx_get_str(p, "spec.restartPolicy"), "Always"); /* defaulted */
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", jsonx_get_str(p, "metadata.uid"));

    /* An invalid edit: the pod stays as it was. */
    char *bad = NULL;
    assert_true(asprintf(&bad, "%s  restartPolicyy: Never\n", good) > 0);
    write_file(dir, "web.yaml", bad);
    free(bad);
    assert_int_equal(staticpods_rescan(sp, true), 0);
    assert_int_equal(json_array_size(staticpods_pods(sp)), 1);
    assert_string_equal(jsonx_get_str(json_array_get(staticpods_pods(sp), 0), "metadata.uid"), uid);

    /* A real change gets a new uid; removing the file removes the pod. */
    char *changed = NULL;
    assert_true(asprintf(&changed, "%s  hostname: other\n", good) > 0);
    write_file(dir, "web.yaml", changed);
    free(changed);
    assert_int_equal(staticpods_rescan(sp, true), 1);
    assert_string_not_equal(jsonx_get_str(json_array_get(staticpods_pods(sp), 0), "metadata.uid"),
                            uid);

    char path[4096];
    snprintf(path, sizeof(path), "%s/web.yaml", dir);
    unlink(path);
    assert_int_equal(staticpods_rescan(sp, true), 1);
    assert_int_equal(json_array_size(staticpods_pods(sp)), 0);

    staticpods_free(sp);
    assert_int_equal(nodefs_rm_rf(dir, NULL), 0);
}

static void test_crashloop_first_restart_at_once_then_doubles_to_five_minutes(void **state)
{
    (void)state;
    struct crashloop c = {0};
    int64_t want[] = {0, 10000, 20000, 40000, 80000, 160000, 300000, 300000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(crashloop_next(&c, 1000), want[i]);
}

static void test_crashloop_resets_after_ten_minutes_running(void **state)
{
    (void)state;
    struct crashloop c = {0};
    crashloop_next(&c, 0);
    crashloop_next(&c, 0);
    assert_int_equal(crashloop_next(&c, 0), 20000);
    assert_int_equal(crashloop_next(&c, CRASHLOOP_RESET_MS), 0);
    assert_int_equal(crashloop_next(&c, 0), 10000);
}

static void test_crashloop_restore_continues_where_it_was(void **state)
{
    (void)state;
    struct crashloop a = {0}, b = {0};
    for (int i = 0; i < 3; i++)
        crashloop_next(&a, 0);
    crashloop_restore(&b, a.exits);
    assert_int_equal(crashloop_next(&a, 0), crashloop_next(&b, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staticpods_takes_manifests_and_skips_editor_files),
        cmocka_unit_test(test_staticpods_identity_follows_content_and_node),
        cmocka_unit_test(test_staticpods_rescan_keeps_last_good_version),
        cmocka_unit_test(test_crashloop_first_restart_at_once_then_doubles_to_five_minutes),
        cmocka_unit_test(test_crashloop_resets_after_ten_minutes_running),
        cmocka_unit_test(test_crashloop_restore_continues_where_it_was),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
