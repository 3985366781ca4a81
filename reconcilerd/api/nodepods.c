#include "reconcilerd/api/nodepods.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"

struct scan {
    const char *node;
    char *bound;   /* "nodeName":"<node>" as the store writes it (compact jsonx_dumps) */
    char *mention; /* "<name>", or NULL */
    json_t *pods;
    bool oom;
};

static int scan_fn(const char *key, const char *raw, size_t len, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)mod_rev;
    struct scan *s = ud;
    if (!memmem(raw, len, s->bound, strlen(s->bound)) ||
        (s->mention && !memmem(raw, len, s->mention, strlen(s->mention))))
        return 0;
    json_t *pod = json_loadb(raw, len, 0, NULL);
    const char *b = jsonx_get_str(pod, "spec.nodeName");
    if (pod && b && !strcmp(b, s->node)) {
        if (json_array_append_new(s->pods, pod)) {
            s->oom = true;
            return 1;
        }
        return 0;
    }
    json_decref(pod);
    return 0;
}

/* key:value (or just value) as compact JSON, the way the store serialises objects. */
static char *needle(const char *key, const char *value)
{
    json_t *v = json_string(value);
    char *vs = v ? jsonx_dumps(v) : NULL;
    json_decref(v);
    if (!vs || !key)
        return vs;
    char *out = NULL;
    if (asprintf(&out, "\"%s\":%s", key, vs) < 0)
        out = NULL;
    free(vs);
    return out;
}

int api_node_pods(struct store *st, const char *node, const char *ns, const char *mention,
                  json_t **out, struct bosun_err *err)
{
    struct scan s = {.node = node};
    char prefix[600];
    int rc;
    if (!node || !*node || !ns || !*ns)
        return err_set(err, -EINVAL, "node pods: a node and a namespace are needed");
    snprintf(prefix, sizeof(prefix), "/pods/%s/", ns);
    s.bound = needle("nodeName", node);
    s.mention = mention ? needle(NULL, mention) : NULL;
    s.pods = json_array();
    if (!s.bound || (mention && !s.mention) || !s.pods) {
        rc = err_set(err, -ENOMEM, "node pods: out of memory");
        goto out;
    }
    rc = store_list_raw(st, prefix, scan_fn, &s, NULL, err);
    if (!rc && s.oom)
        rc = err_set(err, -ENOMEM, "node pods: out of memory");
    if (!rc) {
        *out = s.pods;
        s.pods = NULL;
    }
out:
    free(s.bound);
    free(s.mention);
    json_decref(s.pods);
    return rc;
}
