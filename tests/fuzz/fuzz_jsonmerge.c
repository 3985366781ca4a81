/* libFuzzer target: lib/jsonmerge, the three-way merge behind gitsync's and `bosun
 * apply`'s server-side-apply semantics.
 *
 * Input: up to three JSON values one after the other: live, the old applied
 * configuration and the new one (missing ones are NULL). None may crash, and:
 *  - with nothing live and nothing applied before, the result is the new configuration;
 *  - an apply is idempotent: applying the same configuration to its own result changes
 *    nothing (checked when no keyed list of the new configuration repeats a key: those
 *    are invalid objects whose merge is order-dependent). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jsonmerge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *load_one(const char *buf, size_t len, size_t *used)
{
    json_error_t e;
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
    *used = v ? (size_t)e.position : len;
    if (*used > len)
        *used = len;
    return v;
}

/* 1 when some list under a merge-key field repeats a key value (or v nests too deep). */
static int has_duplicate_keys(const json_t *v, int depth)
{
    const char *k;
    json_t *x;
    if (depth > 64)
        return 1;
    if (json_is_array(v)) {
        size_t i;
        json_array_foreach(v, i, x) if (has_duplicate_keys(x, depth + 1)) return 1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    json_object_foreach((json_t *)v, k, x)
    {
        if (has_duplicate_keys(x, depth + 1))
            return 1;
        if (!json_is_array(x))
            continue;
        /* the key the merge would use against any live list: check both port keys */
        const char *keys[] = {jsonmerge_key(k, x, NULL), "containerPort", "port"};
        for (size_t n = 0; n < 3; n++) {
            if (!keys[n] || (n > 0 && strcmp(k, "ports") != 0))
                continue;
            for (size_t i = 0; i < json_array_size(x); i++)
                for (size_t j = i + 1; j < json_array_size(x); j++) {
                    json_t *a = json_object_get(json_array_get(x, i), keys[n]);
                    json_t *b = json_object_get(json_array_get(x, j), keys[n]);
                    if (a && b && json_equal(a, b))
                        return 1;
                }
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t left = size, used = 0;
    json_t *live = load_one(p, left, &used);
    p += used, left -= used;
    json_t *old = live ? load_one(p, left, &used) : NULL;
    p += used, left -= used;
    json_t *new = old ? load_one(p, left, &used) : NULL;
    if (!new &&old) { /* two values: live and new */
        new = old;
        old = NULL;
    }

    json_t *d =
        jsonmerge_desired(json_is_object(live) ? live : NULL, json_is_object(old) ? old : NULL,
                          json_is_object(new) ? new : NULL);
    json_decref(d);
    jsonmerge_key("ports", live, new);

    if (json_is_object(new)) {
        json_t *fresh = jsonmerge_desired(NULL, NULL, new);
        if (fresh && !json_equal(fresh, new))
            abort();
        json_decref(fresh);

        json_t *once = jsonmerge_apply(live, new);
        if (once && !has_duplicate_keys(new, 0) && !has_duplicate_keys(once, 0)) {
            json_t *twice = jsonmerge_apply(once, new);
            if (twice && !json_equal(once, twice))
                abort();
            json_decref(twice);
        }
        json_t *rec = once ? jsonmerge_last_applied(once) : NULL;
        json_decref(rec);
        json_decref(once);
    }
    json_decref(live);
    json_decref(old);
    json_decref(new);
    return 0;
}
