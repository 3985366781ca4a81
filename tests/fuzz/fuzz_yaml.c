/* libFuzzer target: arbitrary bytes through the YAML reader, then validation, defaulting
 * and formatting of every document, so that hostile manifests from Git cannot crash
 * gitsync or the API server. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "schema/validate.h"
#include "schema/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schema_docs docs = {0};
    struct bosun_err err = {0};
    if (schema_yaml_parse((const char *)data, size, "fuzz.yaml", &docs, &err) < 0)
        return 0;
    for (size_t i = 0; i < docs.n; i++) {
        struct schema_issues is = {0};
        char buf[1024];
        schema_validate(docs.v[i].obj, &docs.v[i], &is);
        for (size_t j = 0; j < is.n; j++)
            schema_issue_format(&is.v[j], "fuzz.yaml", buf, sizeof(buf));
        schema_issues_free(&is);
        /* defaulting must cope with whatever validation let through or rejected */
        schema_default(docs.v[i].obj);
        schema_validate(docs.v[i].obj, NULL, &is);
        schema_issues_free(&is);
    }
    schema_docs_free(&docs);
    return 0;
}
