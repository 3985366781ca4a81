#include "scheduler/filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"

static void add_reason(struct scheduler_fit *fit, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_reason(struct scheduler_fit *fit, const char *fmt, ...)
{
    va_list ap;
    if (fit->nreasons >= SCHEDULER_MAX_REASONS)
        return;
    va_start(ap, fmt);
    vsnprintf(fit->reasons[fit->nreasons++], SCHEDULER_REASON_LEN, fmt, ap);
    va_end(ap);
}

static bool node_ready(const json_t *node)
{
    size_t i;
    json_t *c;
    json_array_foreach(jsonx_get(node, "status") ? json_object_get(jsonx_get(node, "status"),
                                                                    "conditions")
                                                  : NULL,
                       i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, "Ready") == 0) {
            const char *s = json_string_value(json_object_get(c, "status"));
            return s && strcmp(s, "True") == 0;
        }
    }
    return false;
}

static const char *str_or_empty(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

bool scheduler_filter_tolerates(const json_t *pod, const json_t *taint)
{
    json_t *tols = jsonx_get(pod, "spec") ? json_object_get(jsonx_get(pod, "spec"),
                                                             "tolerations")
                                           : NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tols, i, t)
    {
        const char *eff = str_or_empty(t, "effect"), *key = str_or_empty(t, "key");
        const char *op = str_or_empty(t, "operator");
        if (*eff && strcmp(eff, str_or_empty(taint, "effect")) != 0)
            continue;
        if (*key && strcmp(key, str_or_empty(taint, "key")) != 0)
            continue;
        if (strcmp(op, "Exists") == 0)
            return true;
        if ((!*op || strcmp(op, "Equal") == 0) &&
            strcmp(str_or_empty(t, "value"), str_or_empty(taint, "value")) == 0)
            return true;
    }
    return false;
}

static bool selector_matches(const json_t *pod, const json_t *node)
{
    json_t *sel = jsonx_get(pod, "spec") ? json_object_get(jsonx_get(pod, "spec"),
                                                            "nodeSelector")
                                          : NULL;
    json_t *labels = jsonx_get(node, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach(sel, k, v)
    {
        json_t *l = labels ? json_object_get(labels, k) : NULL;
        if (!l || !json_equal(l, v))
            return false;
    }
    return true;
}

bool scheduler_filter_node(const struct scheduler_node *ni, const json_t *pod,
                           const struct scheduler_res *req, struct scheduler_fit *fit)
{
    const json_t *node = ni->node;
    memset(fit, 0, sizeof(*fit));
    if (!node_ready(node)) {
        add_reason(fit, "node(s) were not ready");
        return false;
    }
    json_t *spec = jsonx_get(node, "spec");
    if (spec && json_is_true(json_object_get(spec, "unschedulable"))) {
        json_t *t = json_pack("{s:s, s:s}", "key", "node.kubernetes.io/unschedulable", "effect",
                              "NoSchedule");
        bool ok = scheduler_filter_tolerates(pod, t);
        json_decref(t);
        if (!ok) {
            add_reason(fit, "node(s) were unschedulable");
            return false;
        }
    }
    size_t i;
    json_t *taint;
    json_array_foreach(spec ? json_object_get(spec, "taints") : NULL, i, taint)
    {
        const char *eff = str_or_empty(taint, "effect");
        if (strcmp(eff, "NoSchedule") != 0 && strcmp(eff, "NoExecute") != 0)
            continue;
        if (!scheduler_filter_tolerates(pod, taint)) {
            add_reason(fit, "node(s) had untolerated taint {%s: %s}", str_or_empty(taint, "key"),
                       str_or_empty(taint, "value"));
            return false;
        }
    }
    if (!selector_matches(pod, node)) {
        add_reason(fit, "node(s) didn't match Pod's node affinity/selector");
        return false;
    }
    const struct scheduler_res *a = &ni->allocatable, *u = &ni->requested;
    if (a->pods > 0 && u->pods + 1 > a->pods)
        add_reason(fit, "Too many pods");
    if (req->milli_cpu > 0 && req->milli_cpu > a->milli_cpu - u->milli_cpu)
        add_reason(fit, "Insufficient cpu");
    if (req->memory > 0 && req->memory > a->memory - u->memory)
        add_reason(fit, "Insufficient memory");
    return fit->nreasons == 0;
}

struct hist {
    const char *reason;
    size_t count;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *scheduler_filter_message(const struct scheduler_fit *fits, size_t nnodes)
{
    if (nnodes == 0)
        return strdup("no nodes available to schedule pods");
    size_t cap = nnodes * SCHEDULER_MAX_REASONS, nh = 0;
    struct hist *h = calloc(cap, sizeof(*h));
    char **strs = calloc(cap, sizeof(*strs));
    char *msg = NULL;
    size_t len = 0;
    FILE *f = NULL;
    if (!h || !strs)
        goto out;
    for (size_t i = 0; i < nnodes; i++) {
        for (int j = 0; j < fits[i].nreasons; j++) {
            size_t k;
            for (k = 0; k < nh; k++)
                if (strcmp(h[k].reason, fits[i].reasons[j]) == 0)
                    break;
            if (k == nh)
                h[nh++].reason = fits[i].reasons[j];
            h[k].count++;
        }
    }
    for (size_t k = 0; k < nh; k++)
        if (asprintf(&strs[k], "%zu %s", h[k].count, h[k].reason) < 0)
            goto out;
    qsort(strs, nh, sizeof(*strs), cmp_str);
    f = open_memstream(&msg, &len);
    if (!f)
        goto out;
    fprintf(f, "0/%zu nodes are available:", nnodes);
    for (size_t k = 0; k < nh; k++)
        fprintf(f, "%s%s", k ? ", " : " ", strs[k]);
    fputc('.', f);
    fclose(f);
out:
    if (strs)
        for (size_t k = 0; k < nh; k++)
            free(strs[k]);
    free(strs);
    free(h);
    return msg;
}
