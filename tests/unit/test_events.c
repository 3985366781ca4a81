/* Unit tests for lib/events: the Event object's shape, and aggregation of repeats into
 * one Event (count, lastTimestamp) against a fake API server on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/events.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"

static void test_events_build_has_the_core_v1_shape(void **state)
{
    (void)state;
    json_t *rs = json_pack("{s:{s:s, s:s, s:s, s:s}}", "metadata", "name", "web-abc", "namespace",
                           "default", "uid", "u-1", "resourceVersion", "42");
    json_t *ev = events_build(rs, "ReplicaSet", "apps/v1", NULL, "controller-manager", NULL,
                              "Normal", "SuccessfulCreate", "Created pod: web-abc-x", 1767225600);
    assert_string_equal(jsonx_get_str(ev, "apiVersion"), "v1");
    assert_string_equal(jsonx_get_str(ev, "kind"), "Event");
    assert_string_equal(jsonx_get_str(ev, "metadata.namespace"), "default");
    assert_int_equal(strncmp(jsonx_get_str(ev, "metadata.name"), "web-abc.", 8), 0);
    assert_string_equal(jsonx_get_str(ev, "involvedObject.kind"), "ReplicaSet");
    assert_string_equal(jsonx_get_str(ev, "involvedObject.apiVersion"), "apps/v1");
    assert_string_equal(jsonx_get_str(ev, "involvedObject.namespace"), "default");
    assert_string_equal(jsonx_get_str(ev, "involvedObject.name"), "web-abc");
    assert_string_equal(jsonx_get_str(ev, "involvedObject.uid"), "u-1");
    assert_string_equal(jsonx_get_str(ev, "involvedObject.resourceVersion"), "42");
    assert_string_equal(jsonx_get_str(ev, "reason"), "SuccessfulCreate");
    assert_string_equal(jsonx_get_str(ev, "message"), "Created pod: web-abc-x");
    assert_string_equal(jsonx_get_str(ev, "type"), "Normal");
    assert_int_equal(jsonx_get_int(ev, "count", 0), 1);
    assert_string_equal(jsonx_get_str(ev, "firstTimestamp"), "2026-01-01T00:00:00Z");
    assert_string_equal(jsonx_get_str(ev, "lastTimestamp"), "2026-01-01T00:00:00Z");
    assert_string_equal(jsonx_get_str(ev, "eventTime"), "2026-01-01T00:00:00.000000Z");
    assert_string_equal(jsonx_get_str(ev, "source.component"), "controller-manager");
    assert_null(jsonx_get(ev, "source.host"));
    assert_null(jsonx_get(ev, "involvedObject.fieldPath"));
    assert_string_equal(jsonx_get_str(ev, "reportingInstance"), "controller-manager");
    json_decref(ev);
    json_decref(rs);
}

static void test_events_build_names_the_container_and_the_node(void **state)
{
    (void)state;
    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "prod",
                            "uid", "u-1");
    json_t *ev = events_build(pod, "Pod", "v1", "spec.containers{main}", "kubelet", "node-1",
                              "Normal", "Started", "Started container main", 0);
    assert_string_equal(jsonx_get_str(ev, "involvedObject.fieldPath"), "spec.containers{main}");
    assert_string_equal(jsonx_get_str(ev, "source.component"), "kubelet");
    assert_string_equal(jsonx_get_str(ev, "source.host"), "node-1");
    assert_string_equal(jsonx_get_str(ev, "reportingComponent"), "kubelet");
    assert_string_equal(jsonx_get_str(ev, "reportingInstance"), "node-1");
    json_decref(ev);
    json_decref(pod);
}

static void test_events_build_puts_cluster_scoped_objects_in_default(void **state)
{
    (void)state;
    json_t *node = json_pack("{s:{s:s, s:s}}", "metadata", "name", "n1", "uid", "u-n");
    json_t *ev = events_build(node, "Node", "v1", NULL, "controller-manager", NULL, "Normal",
                              "NodeNotReady", "Node n1 status is now: NodeNotReady", 0);
    assert_string_equal(jsonx_get_str(ev, "metadata.namespace"), "default");
    assert_null(jsonx_get(ev, "involvedObject.namespace"));
    assert_string_equal(jsonx_get_str(ev, "involvedObject.name"), "n1");
    json_decref(ev);
    json_decref(node);
}

/* ---- against a fake API server ---- */

struct fake {
    pthread_mutex_t mu;
    int posts, patches;
    char post_path[256], patch_path[256];
    long long last_count;
    char component[64], host[64], field_path[128];
    char name[320];
};

static void handler(struct httpd_req *req, void *ud)
{
    struct fake *f = ud;
    size_t len;
    const char *body = httpd_body(req, &len);
    json_t *j = jsonx_loadb(body, len, NULL);
    pthread_mutex_lock(&f->mu);
    if (strcmp(httpd_method(req), "POST") == 0) {
        f->posts++;
        snprintf(f->post_path, sizeof f->post_path, "%s", httpd_path(req));
        snprintf(f->component, sizeof f->component, "%s",
                 jsonx_get_str(j, "source.component") ?: "");
        snprintf(f->name, sizeof f->name, "%s", jsonx_get_str(j, "metadata.name") ?: "");
        snprintf(f->host, sizeof f->host, "%s", jsonx_get_str(j, "source.host") ?: "");
        snprintf(f->field_path, sizeof f->field_path, "%s",
                 jsonx_get_str(j, "involvedObject.fieldPath") ?: "");
        f->last_count = jsonx_get_int(j, "count", 0);
    } else if (strcmp(httpd_method(req), "PATCH") == 0) {
        f->patches++;
        snprintf(f->patch_path, sizeof f->patch_path, "%s", httpd_path(req));
        f->last_count = jsonx_get_int(j, "count", 0);
    }
    pthread_mutex_unlock(&f->mu);
    httpd_respond_json(req, 201, j ? j : json_object());
    json_decref(j);
}

static void test_events_repeats_bump_count_of_the_posted_event(void **state)
{
    (void)state;
    struct fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct httpd_opts o = {.listen = "127.0.0.1:0"};
    struct httpd *srv = NULL;
    struct httpc *c = NULL;
    struct events *ev = NULL;
    struct bosun_err err = {0};
    char url[64];
    assert_int_equal(httpd_start(&o, handler, &f, &srv, &err), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", httpd_port(srv));
    assert_int_equal(httpc_new_token(url, NULL, &c, &err), 0);
    assert_int_equal(events_new(c, "default-scheduler", &ev, &err), 0);

    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "prod",
                            "uid", "u-9");
    events_record(ev, pod, "Pod", "v1", "Warning", "FailedScheduling", "0/1 nodes fit");
    events_recordf(ev, pod, "Pod", "v1", "Warning", "FailedScheduling", "%d/%d nodes fit", 0, 1);
    events_record(ev, pod, "Pod", "v1", "Warning", "FailedScheduling", "0/1 nodes fit");
    assert_int_equal(f.posts, 1);
    assert_int_equal(f.patches, 2);
    assert_int_equal(f.last_count, 3);
    assert_string_equal(f.post_path, "/api/v1/namespaces/prod/events");
    assert_string_equal(f.component, "default-scheduler");
    char want[400];
    snprintf(want, sizeof want, "/api/v1/namespaces/prod/events/%s", f.name);
    assert_string_equal(f.patch_path, want);

    /* another message is another event */
    events_record(ev, pod, "Pod", "v1", "Normal", "Scheduled", "Successfully assigned");
    assert_int_equal(f.posts, 2);
    assert_int_equal(f.last_count, 1);

    events_record(NULL, pod, "Pod", "v1", "Normal", "Scheduled", "ignored"); /* no recorder */

    /* the same words about another container are another event; host is sent */
    assert_int_equal(events_set_host(ev, "node-1", &err), 0);
    events_set_timeout(ev, 2000);
    events_record_field(ev, pod, "Pod", "v1", "spec.containers{a}", "Normal", "Pulled", "present");
    events_record_field(ev, pod, "Pod", "v1", "spec.containers{b}", "Normal", "Pulled", "present");
    assert_int_equal(f.posts, 4);
    assert_string_equal(f.field_path, "spec.containers{b}");
    assert_string_equal(f.host, "node-1");
    events_record_field(ev, pod, "Pod", "v1", "spec.containers{a}", "Normal", "Pulled", "present");
    assert_int_equal(f.posts, 4);
    assert_int_equal(f.last_count, 2);
    json_decref(pod);
    events_free(ev);
    httpc_free(c);
    httpd_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_build_has_the_core_v1_shape),
        cmocka_unit_test(test_events_build_puts_cluster_scoped_objects_in_default),
        cmocka_unit_test(test_events_build_names_the_container_and_the_node),
        cmocka_unit_test(test_events_repeats_bump_count_of_the_posted_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
