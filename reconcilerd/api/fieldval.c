#include "reconcilerd/api/fieldval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_fieldval_unknown_text(const char *field, const char *message, char *buf, size_t len)
{
    /* the schema's paths say "containers.0.x", Kubernetes' "containers[0].x" */
    char path[1024];
    size_t o = 0;
    for (const char *p = field; *p && o + 1 < sizeof(path); p++) {
        size_t digits = p[0] == '.' ? strspn(p + 1, "0123456789") : 0;
        if (digits && (p[1 + digits] == '.' || p[1 + digits] == '\0' || p[1 + digits] == '[')) {
            int n = snprintf(path + o, sizeof(path) - o, "[%.*s]", (int)digits, p + 1);
            if (n < 0 || (size_t)n >= sizeof(path) - o)
                break;
            o += (size_t)n;
            p += digits;
            continue;
        }
        path[o++] = *p;
    }
    path[o] = '\0';
    const char *hint = message ? strstr(message, "\" (") : NULL;
    snprintf(buf, len, "unknown field \"%s\"%s", path, hint ? hint + 1 : "");
}

void api_fieldval_warning(const char *text, char *buf, size_t len)
{
    static const char head[] = "299 - \"";
    if (len < sizeof(head) + 1) {
        if (len)
            buf[0] = '\0';
        return;
    }
    size_t o = sizeof(head) - 1;
    memcpy(buf, head, o);
    /* room for the closing quote and the NUL */
    for (const char *p = text; *p && o + 2 + (*p == '"' || *p == '\\') < len; p++) {
        if (*p == '"' || *p == '\\')
            buf[o++] = '\\';
        buf[o++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

json_t *api_fieldval_at(const json_t *obj, const char *field)
{
    char buf[1024];
    if (!obj || !field || snprintf(buf, sizeof(buf), "%s", field) >= (int)sizeof(buf))
        return NULL;
    json_t *cur = (json_t *)obj;
    char *save = NULL;
    for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save)) {
        char *br = strchr(t, '[');
        if (br)
            *br = '\0';
        if (*t) {
            if (json_is_array(cur) && strspn(t, "0123456789") == strlen(t))
                cur = json_array_get(cur, strtoul(t, NULL, 10));
            else
                cur = json_object_get(cur, t);
        }
        while (br && cur) {
            cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
            br = strchr(br + 1, '[');
        }
    }
    return cur;
}

bool api_fieldval_drop(json_t *obj, const char *field)
{
    char path[1024];
    if (!obj || !field || snprintf(path, sizeof(path), "%s", field) >= (int)sizeof(path))
        return false;
    /* Walk to the parent object, then delete the last key. */
    char *last = strrchr(path, '.');
    char *key = last ? last + 1 : path;
    if (!*key || strchr(key, '['))
        return false; /* a list item is never an unknown field */
    json_t *cur = obj;
    if (last) {
        *last = '\0';
        cur = api_fieldval_at(obj, path);
    }
    return json_is_object(cur) && json_object_del(cur, key) == 0;
}
