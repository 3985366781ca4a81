/* Unit tests for reconcilerd/api/nodepods: the pods bound to a node in one namespace, read
 * from a real (temporary) file store, with the raw-bytes pre-filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "reconcilerd/api/nodepods.h"

struct fx {
    char dir[64];
    struct store *st;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/bosun-test-nodepods-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    struct store_opts o = {.dir = f->dir};
    struct bosun_err err = {0};
    if (store_open(&o, &f->st, &err)) {
        print_error("store_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put_pod(struct store *st, const char *ns, const char *name, const char *node,
                    const char *secret)
{
    json_t *pod = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:[{s:s}]}}", "apiVersion", "v1", "kind",
                            "Pod", "metadata", "name", name, "namespace", ns, "spec",
                            "containers", "name", "c");
    if (node)
        jsonx_set_new(pod, "spec.nodeName", json_string(node));
    if (secret)
        json_object_set_new(json_object_get(pod, "spec"), "volumes",
                            json_pack("[{s:s,s:{s:s}}]", "name", "v", "secret", "secretName",
                                      secret));
    char key[256];
    snprintf(key, sizeof(key), "/pods/%s/%s", ns, name);
    struct bosun_err err = {0};
    assert_int_equal(store_create(st, key, pod, NULL, &err), 0);
    json_decref(pod);
}

static void assert_names(const json_t *pods, const char *want)
{
    char got[256] = "";
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof(got) - l, "%s%s", l ? "," : "",
                 jsonx_get_str(p, "metadata.name"));
    }
    assert_string_equal(got, want);
}

static void test_node_pods_of_one_node_in_one_namespace(void **state)
{
    struct fx *f = *state;
    put_pod(f->st, "default", "a", "n1", "s1");
    put_pod(f->st, "default", "b", "n1", NULL);
    put_pod(f->st, "default", "c", "n10", "s1"); /* a node whose name starts with n1 */
    put_pod(f->st, "default", "d", NULL, "s1");  /* not bound */
    put_pod(f->st, "other", "e", "n1", "s1");    /* another namespace */
    put_pod(f->st, "defaults", "g", "n1", "s1"); /* a namespace whose name starts with it */
    /* "nodeName":"n1" elsewhere (a label): passes the pre-filter, parsed, dropped */
    json_t *h = json_pack("{s:{s:s,s:s,s:{s:s}},s:{s:s}}", "metadata", "name", "h", "namespace",
                          "default", "labels", "nodeName", "n1", "spec", "nodeName", "n2");
    struct bosun_err err = {0};
    assert_int_equal(store_create(f->st, "/pods/default/h", h, NULL, &err), 0);
    json_decref(h);
    json_t *pods = NULL;
    assert_int_equal(api_node_pods(f->st, "n1", "default", NULL, &pods, &err), 0);
    assert_names(pods, "a,b");
    json_decref(pods);
    assert_int_equal(api_node_pods(f->st, "n1", "default", "s1", &pods, &err), 0);
    assert_names(pods, "a");
    json_decref(pods);
    assert_int_equal(api_node_pods(f->st, "n1", "default", "s2", &pods, &err), 0);
    assert_names(pods, "");
    json_decref(pods);
    assert_int_equal(api_node_pods(f->st, "n1", "", NULL, &pods, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_pods_of_one_node_in_one_namespace, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
