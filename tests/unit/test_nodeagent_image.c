/* Unit tests for nodeagent/image: importing the busybox OCI layout that
 * tools/mkimage-busybox.sh builds, name resolution, caching and digest checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "nodeagent/image.h"
#include "nodeagent/nodefs.h"

struct fx {
    char dir[64];
    char layouts[128];
};

static int setup(void **state)
{
    static struct fx fx;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/bosun-image-XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.layouts, sizeof(fx.layouts), "%s/layouts", fx.dir);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    nodefs_rm_rf(fx->dir, NULL);
    return 0;
}

/* Builds the busybox layout with the real script (skips when busybox-static is absent). */
static void build_layout(const struct fx *fx)
{
    if (access("/bin/busybox", X_OK) != 0)
        skip();
    const char *top = getenv("BOSUN_TOP");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh %s/tools/mkimage-busybox.sh %s/busybox >/dev/null",
             top ? top : ".", fx->layouts);
    assert_int_equal(system(cmd), 0);
}

static void test_image_store_imports_busybox_once_by_either_name(void **state)
{
    struct fx *fx = *state;
    build_layout(fx);
    char root[128];
    snprintf(root, sizeof(root), "%s/root", fx->dir);
    struct image_store *s = NULL;
    struct bosun_err err = {0};
    assert_int_equal(image_store_open(root, fx->layouts, &s, &err), 0);
    struct image a = {0}, b = {0};
    if (image_store_get(s, "busybox:1.35", &a, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(image_store_get(s, "docker.io/library/busybox:1.35", &b, &err), 0);
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.rootfs, b.rootfs);
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/bin/busybox", a.rootfs);
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_mode & S_IXUSR);
    snprintf(p, sizeof(p), "%s/bin/httpd", a.rootfs);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    snprintf(p, sizeof(p), "%s/etc/passwd", a.rootfs);
    assert_int_equal(stat(p, &st), 0);
    assert_non_null(json_object_get(a.config, "Env"));
    image_free(&a);
    image_free(&b);

    struct image c = {0};
    assert_int_equal(image_store_get(s, "busybox:9.99", &c, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "busybox:9.99"));
    image_store_free(s);
}

static void test_image_store_refuses_a_tampered_layer(void **state)
{
    struct fx *fx = *state;
    build_layout(fx);
    /* Append a byte to the largest blob (the layer). */
    char blobs[256], big[512] = "";
    snprintf(blobs, sizeof(blobs), "%s/busybox/blobs/sha256", fx->layouts);
    DIR *d = opendir(blobs);
    assert_non_null(d);
    struct dirent *e;
    off_t max = -1;
    while ((e = readdir(d))) {
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", blobs, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0 && st.st_size > max) {
            max = st.st_size;
            snprintf(big, sizeof(big), "%s", p);
        }
    }
    closedir(d);
    FILE *f = fopen(big, "ae");
    assert_non_null(f);
    fputc('x', f);
    fclose(f);

    char root[128];
    snprintf(root, sizeof(root), "%s/root2", fx->dir);
    struct image_store *s = NULL;
    struct bosun_err err = {0};
    assert_int_equal(image_store_open(root, fx->layouts, &s, &err), 0);
    struct image img = {0};
    assert_int_equal(image_store_get(s, "busybox:1.35", &img, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "digest"));
    image_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_image_store_imports_busybox_once_by_either_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_image_store_refuses_a_tampered_layer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
