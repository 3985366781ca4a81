/* libFuzzer target: the Table row of a pod read from its stored bytes
 * (api_table_row_raw, reconcilerd/api/table.c) against the row of the parsed pod.
 *
 * Input: any bytes. The raw path runs on them as they are (it must not crash, and must
 * refuse what jansson refuses); when jansson parses them, the stored form (jansson's
 * compact text, what the store keeps) must give byte for byte the parsed path's row for
 * every includeObject choice. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jsonx.h"
#include "lib/strbuf.h"
#include "reconcilerd/api/table.h"
#include "schema/kinds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((time_t)1795000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct schema_kind *pods = schema_kind_by_gvk("v1", "Pod");
    if (!pods)
        abort();
    const char *s = (const char *)data;
    struct strbuf out = {0};
    int r = api_table_row_raw(&out, pods, s, size, API_TABLE_METADATA, NOW);
    free(out.p);
    /* jansson reads a raw NUL byte oddly ("4\0}" passes for "4}"), and no JSON writer
     * emits one (the store's bytes never hold one): such text is outside the comparison */
    if (memchr(s, '\0', size))
        return 0;
    json_t *obj = json_loadb(s, size, 0, NULL);
    if (!obj)
        return 0;
    if (r != 0)
        abort(); /* jansson took it: so must the raw path */
    char *text = jsonx_dumps(obj);
    if (!text)
        abort();
    enum api_table_include incs[] = {API_TABLE_METADATA, API_TABLE_OBJECT, API_TABLE_NONE};
    for (size_t i = 0; i < 3; i++) {
        json_t *t = api_table_new(pods, NULL, false);
        api_table_add_row(t, pods, obj, incs[i], NOW);
        char *want = json_dumps(json_array_get(json_object_get(t, "rows"), 0), JSON_COMPACT);
        json_decref(t);
        struct strbuf got = {0};
        if (!want || api_table_row_raw(&got, pods, text, strlen(text), incs[i], NOW) != 0 ||
            !got.p || strcmp(got.p, want) != 0)
            abort();
        free(got.p);
        free(want);
    }
    free(text);
    json_decref(obj);
    return 0;
}
