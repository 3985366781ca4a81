/* libFuzzer target: lib/jscan, the zero-allocation JSON reader behind Table rows and
 * selectors on raw list bytes.
 *
 * Input: any bytes, read as one JSON text. None may crash or read out of bounds, and:
 *  - what jansson accepts (flags 0 or JSON_DECODE_ANY), jscan_doc accepts (text with a
 *    raw NUL byte aside: jansson misreads it, and no writer emits it);
 *  - jscan_find checks the text as jscan_doc does, and finds what jscan_path finds (paths
 *    made of the keys the text holds);
 *  - on accepted text, jscan's view equals jansson's tree: types, array elements in
 *    order, every key's (last) value, decoded strings, integers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every value below v (checked text: no walk may fail), collecting up to 8 paths
 * of keys that occur (plain keys without dots only) for jscan_find. */
struct paths {
    char p[8][64];
    int n;
};

static void walk_all(const struct jscan_val *v, int depth, const char *prefix, struct paths *ps)
{
    struct jscan_iter it;
    struct jscan_val k, x;
    int r;
    if (depth > JSCAN_MAX_DEPTH + 1)
        abort();
    jscan_iter_init(&it, v);
    if (v->type == JSCAN_OBJECT) {
        while ((r = jscan_next_member(&it, &k, &x)) == 1) {
            char kb[32];
            size_t kl = jscan_str_decode(&k, kb, sizeof(kb));
            char path[64] = "";
            if (kl < sizeof(kb) && !memchr(kb, '.', kl) && depth < 4 &&
                strlen(prefix) + kl + 2 < sizeof(path)) {
                snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", kb);
                if (ps->n < 8)
                    snprintf(ps->p[ps->n++], sizeof(ps->p[0]), "%s", path);
            }
            walk_all(&x, depth + 1, path, ps);
        }
        if (r != 0)
            abort();
    } else if (v->type == JSCAN_ARRAY) {
        while ((r = jscan_next_elem(&it, &x)) == 1)
            walk_all(&x, depth + 1, "", ps);
        if (r != 0)
            abort();
    }
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
    struct jscan_want w[9] = {{.path = "metadata.name"}};
    if ((jscan_find(s, size, &root, w, 1) == 0) != (dr == 0))
        abort();
    if (dr == 0) {
        struct paths ps = {.n = 0};
        walk_all(&doc, 0, "", &ps);
        for (int i = 0; i < ps.n; i++)
            w[i + 1].path = ps.p[i];
        if (jscan_find(s, size, &root, w, (size_t)ps.n + 1) != 0 || root.p != doc.p ||
            root.len != doc.len)
            abort();
        for (int i = 0; i <= ps.n; i++) {
            struct jscan_val v;
            int found = jscan_path(&doc, w[i].path, &v);
            if (found != w[i].found || (found && (v.p != w[i].val.p || v.len != w[i].val.len)))
                abort();
        }
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
