/* libFuzzer target: lib/jscan, the zero-allocation JSON reader behind Table rows and
 * selectors on raw list bytes.
 *
 * Input: any bytes, read as one JSON text. None may crash or read out of bounds, and:
 *  - what jansson accepts (flags 0 or JSON_DECODE_ANY), jscan_doc accepts (text with a
 *    raw NUL byte aside: jansson misreads it, and no writer emits it);
 *  - for an object or array, jscan_root plus a full walk agrees with jscan_doc;
 *  - on accepted text, jscan's view equals jansson's tree: types, array elements in
 *    order, every key's (last) value, decoded strings, integers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every value below v: -EINVAL when a walk finds malformed text. */
static int walk_all(const struct jscan_val *v, int depth)
{
    struct jscan_iter it;
    struct jscan_val k, x;
    int r;
    if (depth > JSCAN_MAX_DEPTH + 1)
        abort();
    jscan_iter_init(&it, v);
    if (v->type == JSCAN_OBJECT) {
        while ((r = jscan_next_member(&it, &k, &x)) == 1) {
            char buf[8];
            jscan_str_decode(&k, buf, sizeof(buf));
            if (walk_all(&x, depth + 1) < 0)
                return -1;
        }
        return r;
    }
    if (v->type == JSCAN_ARRAY) {
        while ((r = jscan_next_elem(&it, &x)) == 1)
            if (walk_all(&x, depth + 1) < 0)
                return -1;
        return r;
    }
    long long n;
    jscan_int(v, &n);
    return 0;
}

static void same(const struct jscan_val *v, const json_t *j, int depth)
{
    if (depth > 200)
        return;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (v->type != JSCAN_OBJECT)
            abort();
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)j, key, x) {
            struct jscan_val got;
            if (jscan_get(v, key, &got) != 1)
                abort();
            same(&got, x, depth + 1);
        }
        /* every key jscan sees is one jansson has */
        struct jscan_iter it;
        struct jscan_val k, x2;
        jscan_iter_init(&it, v);
        while (jscan_next_member(&it, &k, &x2) == 1) {
            char *kb = malloc(k.len);
            size_t kl = jscan_str_decode(&k, kb, k.len);
            if (strlen(kb) != kl || !json_object_get(j, kb))
                abort();
            free(kb);
        }
        break;
    }
    case JSON_ARRAY: {
        if (v->type != JSCAN_ARRAY || jscan_array_size(v) != json_array_size(j))
            abort();
        struct jscan_iter it;
        struct jscan_val x;
        size_t i = 0;
        jscan_iter_init(&it, v);
        while (jscan_next_elem(&it, &x) == 1)
            same(&x, json_array_get(j, i++), depth + 1);
        break;
    }
    case JSON_STRING: {
        if (v->type != JSCAN_STRING)
            abort();
        char *b = malloc(v->len);
        size_t n = jscan_str_decode(v, b, v->len);
        if (n != json_string_length(j) || memcmp(b, json_string_value(j), n) != 0 ||
            !jscan_str_eq(v, json_string_value(j), n) || (n > 0 && jscan_str_eq(v, b, n - 1)))
            abort();
        free(b);
        break;
    }
    case JSON_INTEGER: {
        long long n;
        if (v->type != JSCAN_NUMBER || jscan_int(v, &n) != 1 || n != json_integer_value(j))
            abort();
        break;
    }
    case JSON_REAL: {
        long long n;
        if (v->type != JSCAN_NUMBER || jscan_int(v, &n) != 0)
            abort();
        break;
    }
    case JSON_TRUE:
        if (v->type != JSCAN_TRUE)
            abort();
        break;
    case JSON_FALSE:
        if (v->type != JSCAN_FALSE)
            abort();
        break;
    case JSON_NULL:
        if (v->type != JSCAN_NULL)
            abort();
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct jscan_val doc, root;
    int dr = jscan_doc(s, size, &doc);
    if (jscan_root(s, size, &root) == 0) {
        int wr = walk_all(&root, 0);
        if ((wr == 0) != (dr == 0))
            abort();
    }
    /* jansson reads a raw NUL byte oddly ("4\0}" passes for "4}"), and no JSON writer
     * emits one: such text is outside the comparison */
    if (memchr(s, '\0', size))
        return 0;
    json_t *j = json_loadb(s, size, JSON_DECODE_ANY, NULL);
    if (j) {
        if (dr != 0)
            abort();
        same(&doc, j, 0);
        json_decref(j);
    }
    return 0;
}
