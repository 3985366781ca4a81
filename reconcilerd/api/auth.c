#include "reconcilerd/api/auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct api_auth {
    struct api_user *v;
    size_t n, cap;
};

int api_auth_new(struct api_auth **out, struct bosun_err *err)
{
    struct api_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(err, -ENOMEM, "auth: out of memory");
    *out = a;
    return 0;
}

static void user_clear(struct api_user *u)
{
    free(u->token);
    free(u->name);
    free(u->uid);
    for (size_t i = 0; i < u->ngroups; i++)
        free(u->groups[i]);
}

void api_auth_free(struct api_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        user_clear(&a->v[i]);
    free(a->v);
    free(a);
}

size_t api_auth_count(const struct api_auth *a)
{
    return a ? a->n : 0;
}

static int ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0 && lb > 0;
}

const struct api_user *api_auth_lookup(const struct api_auth *a, const char *token)
{
    if (!a || !token || !*token)
        return NULL;
    const struct api_user *found = NULL;
    for (size_t i = 0; i < a->n; i++) {
        if (ct_equal(a->v[i].token, token))
            found = &a->v[i];
    }
    return found;
}

int api_auth_add(struct api_auth *a, const char *token, const char *user, const char *uid,
                 const char *groups, struct bosun_err *err)
{
    if (!token || !*token || !user || !*user)
        return err_set(err, -EINVAL, "token and user must not be empty");
    if (api_auth_lookup(a, token))
        return err_set(err, -EEXIST, "duplicate token for user %s", user);
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct api_user *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return err_set(err, -ENOMEM, "out of memory");
        a->v = v;
        a->cap = cap;
    }
    struct api_user u;
    memset(&u, 0, sizeof(u));
    u.token = strdup(token);
    u.name = strdup(user);
    u.uid = strdup(uid ? uid : "");
    int rc = 0;
    if (!u.token || !u.name || !u.uid) {
        rc = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (groups) {
        const char *p = groups;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            while (len && isspace((unsigned char)*p)) {
                p++;
                len--;
            }
            while (len && isspace((unsigned char)p[len - 1]))
                len--;
            if (len) {
                if (u.ngroups == API_AUTH_MAX_GROUPS) {
                    rc = err_set(err, -EINVAL, "more than %d groups", API_AUTH_MAX_GROUPS);
                    goto fail;
                }
                u.groups[u.ngroups] = strndup(p, len);
                if (!u.groups[u.ngroups]) {
                    rc = err_set(err, -ENOMEM, "out of memory");
                    goto fail;
                }
                u.ngroups++;
            }
            if (!e)
                break;
            p = e + 1;
        }
    }
    a->v[a->n++] = u;
    return 0;
fail:
    user_clear(&u);
    return rc;
}

/* Splits one CSV line into at most 4 fields, honouring double quotes ("" = a quote). */
static int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *r = line, *w = line;
    while (n < max) {
        fields[n++] = w;
        int quoted = 0;
        while (*r == ' ' || *r == '\t')
            r++;
        if (*r == '"') {
            quoted = 1;
            r++;
        }
        while (*r) {
            if (quoted && *r == '"') {
                if (r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                    continue;
                }
                quoted = 0;
                r++;
                continue;
            }
            if (!quoted && *r == ',')
                break;
            *w++ = *r++;
        }
        if (quoted)
            return -1;
        int more = *r == ',';
        *w++ = '\0';
        if (!more)
            return n;
        r++;
    }
    return -1; /* too many fields */
}

int api_auth_parse(const char *buf, const char *path, struct api_auth **out,
                   struct bosun_err *err)
{
    struct api_auth *a = NULL;
    char *copy = strdup(buf);
    int rc = 0;
    if (!copy)
        return err_set(err, -ENOMEM, "out of memory");
    if ((rc = api_auth_new(&a, err)))
        goto out;
    int lineno = 0;
    char *save = NULL;
    for (char *line = copy;; line = NULL) {
        char *l = strtok_r(line, "\n", &save);
        if (!l)
            break;
        lineno++; /* counts non-empty lines; blank lines are skipped by strtok */
        size_t len = strlen(l);
        while (len && (l[len - 1] == '\r' || l[len - 1] == ' '))
            l[--len] = '\0';
        while (*l == ' ' || *l == '\t')
            l++;
        if (!*l || *l == '#')
            continue;
        char *f[4] = {0};
        int nf = csv_split(l, f, 4);
        if (nf < 2) {
            rc = err_set(err, -EINVAL, "%s: entry %d: want token,user,uid,\"groups\"", path,
                         lineno);
            goto out;
        }
        if ((rc = api_auth_add(a, f[0], f[1], nf > 2 ? f[2] : "", nf > 3 ? f[3] : NULL, err))) {
            err_wrap(err, "%s: entry %d", path, lineno);
            goto out;
        }
    }
    *out = a;
    a = NULL;
out:
    api_auth_free(a);
    free(copy);
    return rc;
}

int api_auth_load(const char *path, struct api_auth **out, struct bosun_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return err_errno(err, -errno, "open %s", path);
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = 0;
    while (1) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > 16u << 20) {
                rc = err_set(err, -EFBIG, "%s: too large", path);
                goto out;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        rc = err_errno(err, -EIO, "read %s", path);
        goto out;
    }
    buf[len] = '\0';
    rc = api_auth_parse(buf, path, out, err);
out:
    free(buf);
    fclose(f);
    return rc;
}

const char *api_auth_bearer(const char *h)
{
    if (!h)
        return NULL;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    return *h ? h : NULL;
}
