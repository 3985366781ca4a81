#include "lib/jsonx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

json_t *jsonx_get(const json_t *root, const char *dotted_path)
{
    const json_t *cur = root;
    const char *p = dotted_path;
    while (cur && *p) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

const char *jsonx_get_str(const json_t *root, const char *dotted_path)
{
    return json_string_value(jsonx_get(root, dotted_path));
}

long long jsonx_get_int(const json_t *root, const char *dotted_path, long long def)
{
    json_t *v = jsonx_get(root, dotted_path);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

json_t *jsonx_ensure_obj(json_t *root, const char *dotted_path)
{
    json_t *cur = root;
    const char *p = dotted_path;
    while (cur && *p) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        json_t *next = json_object_getn(cur, p, n);
        if (!next) {
            next = json_object();
            if (!next || json_object_setn_new(cur, p, n, next) != 0)
                return NULL;
        }
        cur = next;
        p += n;
        if (*p == '.')
            p++;
    }
    return json_is_object(cur) ? cur : NULL;
}

int jsonx_set_new(json_t *root, const char *dotted_path, json_t *value)
{
    const char *last = strrchr(dotted_path, '.');
    json_t *parent = root;
    if (last) {
        char *head = strndup(dotted_path, (size_t)(last - dotted_path));
        parent = head ? jsonx_ensure_obj(root, head) : NULL;
        free(head);
        last++;
    } else {
        last = dotted_path;
    }
    if (!parent || json_object_set_new(parent, last, value) != 0) {
        if (!parent)
            json_decref(value);
        return -EINVAL;
    }
    return 0;
}

json_t *jsonx_loadb(const char *buf, size_t len, struct bosun_err *err)
{
    json_error_t je;
    json_t *v = json_loadb(buf, len, 0, &je);
    if (!v)
        err_set(err, -EINVAL, "json: line %d col %d: %s", je.line, je.column, je.text);
    return v;
}

char *jsonx_dumps(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

json_t *jsonx_load_file(const char *path, struct bosun_err *err)
{
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (!v)
        err_set(err, -EINVAL, "%s: line %d col %d: %s", path, je.line, je.column, je.text);
    return v;
}
