/* libFuzzer target: the four PATCH flavours of reconcilerd/api/patch.h — JSON merge patch
 * (RFC 7386), strategic merge patch, JSON patch (RFC 6902) and server-side apply.
 *
 * Input: [mode byte][rest]. With mode bit 0 clear, rest is the patch body and the target
 * is a fixed Deployment; with it set, rest holds two JSON values one after the other,
 * the target and then the patch. Every patch is tried in every flavour that accepts its
 * shape; none may crash, and merge patch must be idempotent (RFC 7386: applying the same
 * patch twice gives the same document). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reconcilerd/api/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_target[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
    "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\"},"
    "\"finalizers\":[\"a\",\"b\"],\"resourceVersion\":\"7\"},"
    "\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":["
    "{\"name\":\"c\",\"image\":\"busybox:1.35\",\"args\":[\"sleep\",\"1\"],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
    "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],"
    "\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/v\"}]},"
    "{\"name\":\"side\",\"image\":\"busybox:1.35\"}],"
    "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}},"
    "\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"}]}}";

/* Parses one JSON value from buf; *used = bytes consumed. */
static json_t *load_one(const char *buf, size_t len, size_t *used)
{
    json_error_t e;
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
    *used = v ? (size_t)e.position : len;
    if (*used > len)
        *used = len;
    return v;
}

static void try_all(const json_t *target, const json_t *patch)
{
    struct bosun_err err = {0};
    json_t *out = NULL;

    json_t *once = api_merge_patch(target, patch);
    if (once) {
        json_t *twice = api_merge_patch(once, patch);
        if (twice && !json_equal(once, twice))
            abort();
        json_decref(twice);
    }
    json_decref(once);

    if (json_is_object(target) && json_is_object(patch)) {
        if (api_smp_apply(target, patch, &out, &err) == 0)
            json_decref(out);
        out = NULL;
        json_t *fs = api_fieldset_of(patch);
        json_t *applied = NULL;
        if (api_apply_merge(target, patch, NULL, &applied, &err) == 0) {
            json_t *again = NULL;
            /* re-applying with what the first apply owned */
            if (api_apply_merge(applied, patch, fs, &again, &err) == 0)
                json_decref(again);
            json_decref(applied);
        }
        if (api_apply_merge(NULL, patch, fs, &applied, &err) == 0)
            json_decref(applied);
        json_decref(fs);
    }
    if (json_is_array(patch)) {
        if (api_json_patch_apply(target, patch, &out, &err) == 0)
            json_decref(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t rlen = size - 1;
    json_t *target = NULL, *patch = NULL;
    if (data[0] & 1) {
        size_t used = 0;
        target = load_one(rest, rlen, &used);
        if (!target)
            return 0;
        patch = load_one(rest + used, rlen - used, &used);
    } else {
        size_t used = 0;
        target = json_loads(fixed_target, 0, NULL);
        patch = load_one(rest, rlen, &used);
    }
    if (target && patch)
        try_all(target, patch);

    /* the merge-key table takes any dotted path */
    char path[256];
    size_t n = rlen < sizeof(path) - 1 ? rlen : sizeof(path) - 1;
    memcpy(path, rest, n);
    path[n] = '\0';
    api_patch_merge_key(path);

    json_decref(target);
    json_decref(patch);
    return 0;
}
