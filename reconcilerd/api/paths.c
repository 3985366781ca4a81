#include "reconcilerd/api/paths.h"

#include <errno.h>
#include <string.h>

#define MAX_SEGS 10

bool api_path_segment_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= API_SEG_MAX)
        return false;
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/' || *p == '%' || *p == '\\' || *p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

static int copy_seg(char *dst, const char *src, const char *what, struct bosun_err *err)
{
    if (!api_path_segment_ok(src))
        return err_set(err, -EINVAL, "invalid %s in request path: \"%s\"", what, src);
    strcpy(dst, src);
    return 0;
}

int api_path_parse(const char *path, struct api_path *out, struct bosun_err *err)
{
    struct api_path p;
    memset(&p, 0, sizeof(p));
    char buf[4096];
    if (!path || path[0] != '/' || strlen(path) >= sizeof(buf))
        return err_set(err, -ENOENT, "not an API path");
    strcpy(buf, path + 1);
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == '/')
        buf[--len] = '\0'; /* a trailing slash is tolerated, as kube-apiserver does */

    char *segs[MAX_SEGS];
    size_t n = 0;
    char *s = buf;
    while (1) {
        char *slash = strchr(s, '/');
        if (n == MAX_SEGS)
            return err_set(err, -ENOENT, "path too deep");
        segs[n++] = s;
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!*segs[i])
            return err_set(err, -ENOENT, "empty path segment");
    }

    size_t i;
    if (!strcmp(segs[0], "api")) {
        if (n == 1) {
            p.type = API_PATH_CORE_ROOT;
            goto done;
        }
        if (copy_seg(p.version, segs[1], "version", err))
            return -ENOENT;
        i = 2;
    } else if (!strcmp(segs[0], "apis")) {
        if (n == 1) {
            p.type = API_PATH_APIS_ROOT;
            goto done;
        }
        if (copy_seg(p.group, segs[1], "group", err))
            return -ENOENT;
        if (n == 2) {
            p.type = API_PATH_GROUP;
            goto done;
        }
        if (copy_seg(p.version, segs[2], "version", err))
            return -ENOENT;
        i = 3;
    } else {
        return err_set(err, -ENOENT, "not an API path");
    }
    if (i == n) {
        p.type = API_PATH_GROUP_VERSION;
        goto done;
    }
    p.type = API_PATH_RESOURCE;
    size_t rest = n - i;
    char **r = segs + i;
    int rc;
    if (!strcmp(r[0], "namespaces") && rest >= 3 &&
        !(rest == 3 && (!strcmp(r[2], "status") || !strcmp(r[2], "finalize")))) {
        if ((rc = copy_seg(p.ns, r[1], "namespace", err)))
            return rc;
        r += 2;
        rest -= 2;
    }
    if (rest > 3)
        return err_set(err, -ENOENT, "path too deep");
    if (copy_seg(p.resource, r[0], "resource", err))
        return -ENOENT;
    if (rest >= 2 && (rc = copy_seg(p.name, r[1], "name", err)))
        return rc;
    if (rest == 3 && copy_seg(p.sub, r[2], "subresource", err))
        return -ENOENT;
done:
    *out = p;
    return 0;
}
