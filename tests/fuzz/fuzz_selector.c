/* libFuzzer target: the label and field selector parsers (and matching what they parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *obj = json_pack("{s:{s:s,s:s,s:{s:s,s:s}},s:{s:s}}", "metadata", "name", "web",
                            "namespace", "default", "labels", "app", "web", "example.com/x", "",
                            "spec", "nodeName", "n1");
    struct bosun_err err;
    struct label_selector *ls = NULL;
    if (label_selector_parse(s, &ls, &err) == 0) {
        label_selector_matches(ls, json_object_get(json_object_get(obj, "metadata"), "labels"));
        label_selector_empty(ls);
        label_selector_free(ls);
    }
    struct field_selector *fs = NULL;
    if (field_selector_parse(s, &fs, &err) == 0) {
        field_selector_matches(fs, obj);
        for (size_t i = 0; i < field_selector_count(fs); i++)
            field_selector_equals(fs, field_selector_field(fs, i));
        field_selector_free(fs);
    }
    /* The same bytes as a JSON LabelSelector, when they parse as JSON. */
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j && label_selector_from_json(j, &ls, &err) == 0)
        label_selector_free(ls);
    json_decref(j);
    json_decref(obj);
    free(s);
    return 0;
}
