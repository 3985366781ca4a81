/* Unit tests for gitsync/collect and gitsync/fetch, on real git repositories made in a
 * temporary directory with the git CLI. */
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

#include "gitsync/collect.h"
#include "gitsync/fetch.h"
#include "lib/jsonx.h"

struct fixture {
    char dir[256];  /* temporary root */
    char work[300]; /* the repository's work tree */
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void write_file(struct fixture *f, const char *rel, const char *content)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", f->work, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(sh("mkdir -p '%s'", path), 0);
    *slash = '/';
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void commit_all(struct fixture *f)
{
    assert_int_equal(sh("cd '%s' && git add -A && git -c user.name=t -c user.email=t@example.com "
                        "commit -q -m c >/dev/null",
                        f->work),
                     0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/gitsync-unit.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
    if (sh("git init -q -b main '%s'", f->work) != 0)
        return -1;
    git_libgit2_init();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sh("rm -rf '%s'", f->dir);
    git_libgit2_shutdown();
    free(f);
    return 0;
}

/* Collects HEAD of the fixture's repository under path. */
static int collect_head(struct fixture *f, const char *path, struct gitsync_manifests *m)
{
    git_repository *repo = NULL;
    git_oid head;
    struct bosun_err err = {0};
    assert_int_equal(git_repository_open(&repo, f->work), 0);
    assert_int_equal(git_reference_name_to_id(&head, repo, "HEAD"), 0);
    struct gitsync_collect_opts o = {.path = path, .self_ns = "bosun-system",
                                     .self_name = "default"};
    int r = gitsync_collect(repo, &head, &o, m, &err);
    git_repository_free(repo);
    return r;
}

static const struct gitsync_obj *find_obj(const struct gitsync_manifests *m, const char *kind,
                                          const char *name)
{
    for (size_t i = 0; i < m->nobjs; i++) {
        if (strcmp(m->objs[i].kind->kind, kind) == 0 &&
            strcmp(jsonx_get_str(m->objs[i].obj, "metadata.name"), name) == 0)
            return &m->objs[i];
    }
    return NULL;
}

static const struct gitsync_issue *find_issue(const struct gitsync_manifests *m, int error,
                                              const char *needle)
{
    for (size_t i = 0; i < m->nissues; i++) {
        if (m->issues[i].error == error && strstr(m->issues[i].message, needle))
            return &m->issues[i];
    }
    return NULL;
}

#define CM(name)                                                                              \
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " name "\ndata:\n  k: v\n"

static void test_collect_walks_nested_dirs_and_skips_hidden(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "apps/a.yaml", CM("a"));
    write_file(f, "apps/deep/er/b.yml", CM("b"));
    write_file(f, "apps/.github/workflow.yaml", "this: is: not a manifest\n");
    write_file(f, "apps/.hidden.yaml", "nor: [this\n");
    write_file(f, "apps/README.md", "# not yaml\n");
    write_file(f, "other/c.yaml", CM("c"));
    commit_all(f);

    assert_int_equal(collect_head(f, "./apps/", &m), 0);
    assert_int_equal(m.nerrors, 0);
    assert_int_equal(m.nobjs, 2);
    const struct gitsync_obj *b = find_obj(&m, "ConfigMap", "b");
    assert_non_null(b);
    assert_string_equal(b->file, "apps/deep/er/b.yml");
    assert_int_equal(b->line, 1);
    /* Namespaced objects without a namespace land in default. */
    assert_string_equal(jsonx_get_str(b->obj, "metadata.namespace"), "default");
    assert_null(find_obj(&m, "ConfigMap", "c"));
    gitsync_manifests_free(&m);

    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_int_equal(m.nerrors, 0);
    assert_int_equal(m.nobjs, 3);
    gitsync_manifests_free(&m);
}

static void test_collect_multi_doc_and_list(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "multi.yaml",
               CM("one") "---\n" CM("two") "---\n"
                         "apiVersion: v1\n"
                         "kind: List\n"
                         "items:\n"
                         "- apiVersion: v1\n"
                         "  kind: ConfigMap\n"
                         "  metadata:\n"
                         "    name: three\n"
                         "    namespace: other\n"
                         "- apiVersion: v1\n"
                         "  kind: Namespace\n"
                         "  metadata:\n"
                         "    name: other\n");
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_int_equal(m.nerrors, 0);
    assert_int_equal(m.nobjs, 4);
    const struct gitsync_obj *two = find_obj(&m, "ConfigMap", "two");
    assert_non_null(two);
    assert_int_equal(two->line, 8);
    const struct gitsync_obj *three = find_obj(&m, "ConfigMap", "three");
    assert_non_null(three);
    assert_string_equal(jsonx_get_str(three->obj, "metadata.namespace"), "other");
    assert_int_equal(three->line, 18);
    const struct gitsync_obj *ns = find_obj(&m, "Namespace", "other");
    assert_non_null(ns);
    assert_null(jsonx_get(ns->obj, "metadata.namespace"));
    gitsync_manifests_free(&m);
}

static void test_collect_kustomization_is_a_warning(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "kustomization.yaml", "resources:\n- a.yaml\n");
    write_file(f, "a.yaml", CM("a"));
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_int_equal(m.nerrors, 0);
    assert_int_equal(m.nobjs, 1);
    const struct gitsync_issue *w = find_issue(&m, 0, "kustomization");
    assert_non_null(w);
    assert_string_equal(w->file, "kustomization.yaml");
    gitsync_manifests_free(&m);
}

static void test_collect_duplicate_names_both_places(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "a/first.yaml", CM("same"));
    write_file(f, "b/second.yaml", "# leading comment\n" CM("same"));
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_int_equal(m.nerrors, 1);
    const struct gitsync_issue *e = find_issue(&m, 1, "defined twice");
    assert_non_null(e);
    assert_non_null(strstr(e->message, "a/first.yaml:1:1"));
    assert_non_null(strstr(e->message, "b/second.yaml:2:1"));
    assert_non_null(strstr(e->message, "ConfigMap default/same"));
    assert_string_equal(e->file, "b/second.yaml");
    gitsync_manifests_free(&m);
}

static void test_collect_invalid_yaml_has_position(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "ok.yaml", CM("ok"));
    write_file(f, "dir/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n");
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_true(m.nerrors >= 1);
    const struct gitsync_issue *e = NULL;
    for (size_t i = 0; i < m.nissues; i++) {
        if (m.issues[i].error && strcmp(m.issues[i].file, "dir/broken.yaml") == 0)
            e = &m.issues[i];
    }
    assert_non_null(e);
    assert_true(e->line >= 4);
    assert_true(e->col >= 1);
    /* The message itself does not repeat the file name. */
    assert_null(strstr(e->message, "dir/broken.yaml"));
    gitsync_manifests_free(&m);
}

static void test_collect_schema_error_has_field_and_line(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                             "  labelz:\n    a: b\n");
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_true(m.nerrors >= 1);
    const struct gitsync_issue *e = NULL;
    for (size_t i = 0; i < m.nissues; i++) {
        if (m.issues[i].error)
            e = &m.issues[i];
    }
    assert_non_null(e);
    assert_string_equal(e->file, "cm.yaml");
    assert_non_null(strstr(e->field, "labelz"));
    assert_int_equal(e->line, 5);
    assert_int_equal(m.nobjs, 0);
    gitsync_manifests_free(&m);
}

static void test_collect_unknown_kind_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "x.yaml", CM("fine") "---\napiVersion: example.com/v1\nkind: Widget\n"
                                       "metadata:\n  name: w\n");
    commit_all(f);
    assert_int_equal(collect_head(f, ".", &m), 0);
    assert_int_equal(m.nerrors, 1);
    const struct gitsync_issue *e = find_issue(&m, 1, "not served");
    assert_non_null(e);
    assert_string_equal(e->field, "kind");
    assert_int_equal(e->line, 9);
    gitsync_manifests_free(&m);
}

static void test_collect_missing_path_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct gitsync_manifests m = {0};
    write_file(f, "a.yaml", CM("a"));
    commit_all(f);
    assert_int_equal(collect_head(f, "nope", &m), 0);
    assert_int_equal(m.nerrors, 1);
    assert_non_null(find_issue(&m, 1, "no such directory"));
    gitsync_manifests_free(&m);
}

static void test_fetch_mirrors_default_branch(void **state)
{
    struct fixture *f = *state;
    struct gitsync_fetch_result fr = {0};
    struct bosun_err err = {0};
    char cache[512], head[64];
    write_file(f, "a.yaml", CM("a"));
    commit_all(f);
    assert_int_equal(sh("cd '%s' && git rev-parse HEAD > ../head", f->work), 0);
    snprintf(cache, sizeof(cache), "%s/head", f->dir);
    FILE *fp = fopen(cache, "r");
    assert_non_null(fgets(head, sizeof(head), fp));
    fclose(fp);
    head[40] = '\0';
    snprintf(cache, sizeof(cache), "%s/cache", f->dir);

    assert_int_equal(gitsync_fetch(f->work, NULL, cache, &fr, &err), 0);
    assert_string_equal(fr.branch, "main");
    assert_string_equal(fr.commit_hex, head);
    assert_true(git_repository_is_bare(fr.repo));
    gitsync_fetch_result_free(&fr);

    /* Again, through file:// and into the same mirror. */
    char url[600];
    snprintf(url, sizeof(url), "file://%s", f->work);
    assert_int_equal(gitsync_fetch(url, "main", cache, &fr, &err), 0);
    assert_string_equal(fr.commit_hex, head);
    gitsync_fetch_result_free(&fr);

    assert_int_equal(gitsync_fetch(f->work, "nope", cache, &fr, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "branch nope not found"));
}

static void test_fetch_errors_are_clear(void **state)
{
    struct fixture *f = *state;
    struct gitsync_fetch_result fr = {0};
    struct bosun_err err = {0};
    char cache[512], path[512];
    snprintf(cache, sizeof(cache), "%s/cache", f->dir);
    snprintf(path, sizeof(path), "%s/does-not-exist", f->dir);
    assert_true(gitsync_fetch(path, NULL, cache, &fr, &err) < 0);
    assert_non_null(strstr(err.msg, "does not exist"));
    snprintf(path, sizeof(path), "%s/plain", f->dir);
    mkdir(path, 0755);
    assert_true(gitsync_fetch(path, NULL, cache, &fr, &err) < 0);
    assert_non_null(strstr(err.msg, "not a git repository"));
    assert_null(fr.repo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collect_walks_nested_dirs_and_skips_hidden, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collect_multi_doc_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_kustomization_is_a_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_duplicate_names_both_places, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collect_invalid_yaml_has_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_schema_error_has_field_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collect_unknown_kind_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_missing_path_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_mirrors_default_branch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_errors_are_clear, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
