/* libFuzzer target: the API's URL path parser (reconcilerd/api/paths.h). Every input must
 * parse or be refused with -ENOENT / -EINVAL, and what parses must be safe to use as
 * store keys: every namespace and name segment passes api_path_segment_ok (no '/', no
 * "." or "..", no '%', no control characters, at most 253 bytes). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reconcilerd/api/paths.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_segment(const char *s)
{
    if (*s && !api_path_segment_ok(s))
        abort();
    if (strlen(s) >= API_SEG_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1);
    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    struct api_path p;
    struct bosun_err err = {0};
    int r = api_path_parse(path, &p, &err);
    if (r != 0 && r != -ENOENT && r != -EINVAL)
        abort();
    if (r == 0) {
        check_segment(p.ns);
        check_segment(p.name);
        check_segment(p.resource);
        check_segment(p.sub);
        if (p.type == API_PATH_RESOURCE && !*p.resource)
            abort();
        if (*p.name && strchr(p.name, '/'))
            abort();
    }
    api_path_segment_ok(path);
    free(path);
    return 0;
}
