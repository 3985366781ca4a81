/* Unit tests for gitsync/status: the read-modify-write of the GitRepository status
 * against an API that answers 409 Conflict (another writer got there first). The
 * in-test server speaks just enough of the API: GET of the object, PUT of /status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gitsync/apply.h"
#include "gitsync/status.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"

struct fake {
    pthread_mutex_t mu;
    int conflicts_left; /* PUTs to answer with 409 before accepting one */
    int gets, puts;
};

static void handler(struct httpd_req *req, void *ud)
{
    struct fake *f = ud;
    pthread_mutex_lock(&f->mu);
    if (!strcmp(httpd_method(req), "GET")) {
        f->gets++;
        pthread_mutex_unlock(&f->mu);
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:s}, s:{s:s}}", "apiVersion",
                              "bosun.io/v1", "kind", "GitRepository", "metadata", "name",
                              "default", "namespace", "bosun-system", "generation", 3,
                              "resourceVersion", "7", "spec", "url", "/repo");
        httpd_respond_json(req, 200, o);
        json_decref(o);
        return;
    }
    f->puts++;
    int conflict = f->conflicts_left > 0;
    if (conflict)
        f->conflicts_left--;
    pthread_mutex_unlock(&f->mu);
    if (conflict) {
        const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                         "\"reason\":\"Conflict\",\"code\":409,\"message\":\"stale\"}";
        httpd_respond(req, 409, "application/json", st, strlen(st));
        return;
    }
    size_t len;
    const char *body = httpd_body(req, &len);
    httpd_respond(req, 200, "application/json", body, len);
}

struct fixture {
    struct fake f;
    struct httpd *srv;
    struct httpc *c;
};

static int setup(void **state)
{
    static struct fixture fx;
    memset(&fx, 0, sizeof(fx));
    pthread_mutex_init(&fx.f.mu, NULL);
    struct httpd_opts o = {.listen = "127.0.0.1:0"};
    struct bosun_err err = {0};
    if (httpd_start(&o, handler, &fx.f, &fx.srv, &err))
        return -1;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", httpd_port(fx.srv));
    if (httpc_new_token(url, NULL, &fx.c, &err))
        return -1;
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    httpc_free(fx->c);
    httpd_stop(fx->srv);
    pthread_mutex_destroy(&fx->f.mu);
    return 0;
}

static void test_status_update_rereads_and_retries_on_conflict(void **state)
{
    struct fixture *fx = *state;
    fx->f.conflicts_left = 2;
    json_t *fields = json_pack("{s:s}", "lastAttemptedRevision", "main@sha1:abc");
    int wrote = 0;
    struct bosun_err err = {0};
    assert_int_equal(gitsync_status_update(fx->c, "default", fields, &wrote, &err), 0);
    assert_int_equal(wrote, 1);
    assert_int_equal(fx->f.puts, 3);
    assert_int_equal(fx->f.gets, 3); /* every attempt starts from a fresh read */
    json_decref(fields);
}

static void test_status_update_gives_up_after_repeated_conflicts(void **state)
{
    struct fixture *fx = *state;
    fx->f.conflicts_left = 1000;
    fx->f.puts = 0;
    json_t *fields = json_pack("{s:s}", "lastAttemptedRevision", "main@sha1:def");
    int wrote = 0;
    struct bosun_err err = {0};
    assert_int_equal(gitsync_status_update(fx->c, "default", fields, &wrote, &err), -EAGAIN);
    assert_int_equal(wrote, 0);
    assert_int_equal(fx->f.puts, GITSYNC_CONFLICT_RETRIES);
    assert_non_null(strstr(err.msg, "still conflicting"));
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_update_rereads_and_retries_on_conflict),
        cmocka_unit_test(test_status_update_gives_up_after_repeated_conflicts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
