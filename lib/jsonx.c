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

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

json_t *jsonx_string_lossy(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes of U+FFFD */
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    json_t *v = json_stringn_nocheck(out, o);
    free(out);
    return v;
}
