/* libFuzzer target: lib/jsonx's own JSON reader and writer (jsonx_loadb, jsonx_dumps),
 * which stand in for jansson's on every request body and stored object.
 *
 * Input: any bytes, read as one JSON text. None may crash, leak or read out of bounds,
 * and:
 *  - jsonx_loadb accepts exactly what json_loadb(flags 0) accepts, and reads the same
 *    values in the same key order (compared through jansson's own writer);
 *  - jsonx_loadb_fast, when it takes the text at all, reads the same;
 *  - jsonx_dumps writes byte for byte what json_dumps(JSON_COMPACT) writes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jsonx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const json_t *want, const json_t *got)
{
    char *a = json_dumps(want, JSON_COMPACT);
    char *b = json_dumps(got, JSON_COMPACT);
    char *c = jsonx_dumps(got);
    if (!a || !b || !c || strcmp(a, b) != 0 || strcmp(a, c) != 0)
        abort();
    free(a);
    free(b);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    json_t *want = json_loadb(buf, size, 0, NULL);
    json_t *got = jsonx_loadb(buf, size, NULL);
    json_t *fast = jsonx_loadb_fast(buf, size);
    if (!want != !got)
        abort();
    if (fast && !want)
        abort();
    if (want) {
        same_or_abort(want, got);
        if (fast)
            same_or_abort(want, fast);
    }
    json_decref(want);
    json_decref(got);
    json_decref(fast);
    return 0;
}
