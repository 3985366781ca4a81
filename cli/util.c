#include "cli/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/httpc.h"
#include "lib/timeutil.h"

#define CLI_FILE_MAX (64u << 20)

int cli_read_file(const char *path, char **out, size_t *len, struct bosun_err *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, -errno, "%s", path);
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    int r = 0;
    if (!buf) {
        r = err_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= CLI_FILE_MAX) {
                r = err_set(err, -EFBIG, "%s: larger than %u MiB", path, CLI_FILE_MAX >> 20);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                r = err_set(err, -ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = err_errno(err, -errno, "%s: read", path);
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    if (fd != STDIN_FILENO)
        close(fd);
    return r;
}

int cli_write_file(const char *path, const char *data, size_t len, int mode,
                   struct bosun_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return err_errno(err, -errno, "%s", tmp);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = -errno;
            close(fd);
            unlink(tmp);
            return err_errno(err, e, "%s: write", tmp);
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = -errno;
        unlink(tmp);
        return err_errno(err, e, "%s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return err_errno(err, e, "rename %s", path);
    }
    return 0;
}

static int kind_matches(const struct schema_kind *k, const char *name, size_t n)
{
    if ((strlen(k->resource) == n && strncmp(k->resource, name, n) == 0) ||
        (strlen(k->singular) == n && strncmp(k->singular, name, n) == 0) ||
        (strlen(k->kind) == n && strncasecmp(k->kind, name, n) == 0))
        return 1;
    for (int i = 0; i < 4 && k->short_names[i]; i++) {
        if (strlen(k->short_names[i]) == n && strncmp(k->short_names[i], name, n) == 0)
            return 1;
    }
    return 0;
}

const struct schema_kind *cli_kind_resolve(const char *name)
{
    if (!name || !*name)
        return NULL;
    size_t nk;
    const struct schema_kind *ks = schema_kinds(&nk);
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    const char *group = dot ? dot + 1 : NULL;
    for (size_t i = 0; i < nk; i++) {
        if (!kind_matches(&ks[i], name, n))
            continue;
        if (group && strcmp(ks[i].group, group) != 0)
            continue;
        return &ks[i];
    }
    return NULL;
}

const char *cli_kind_label(const struct schema_kind *k, char *buf, size_t len)
{
    char lower[64];
    size_t i = 0;
    for (; k->kind[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)((k->kind[i] >= 'A' && k->kind[i] <= 'Z') ? k->kind[i] + 32 : k->kind[i]);
    lower[i] = '\0';
    if (k->group[0])
        snprintf(buf, len, "%s.%s", lower, k->group);
    else
        snprintf(buf, len, "%s", lower);
    return buf;
}

char *cli_api_path(const struct schema_kind *k, const char *ns, const char *name,
                   const char *sub)
{
    char *ens = NULL, *ename = NULL, *out = NULL;
    if (k->namespaced && ns && *ns && !(ens = httpc_escape(ns)))
        goto out;
    if (name && !(ename = httpc_escape(name)))
        goto out;
    char prefix[128];
    if (k->group[0])
        snprintf(prefix, sizeof(prefix), "/apis/%s/%s", k->group, k->version);
    else
        snprintf(prefix, sizeof(prefix), "/api/%s", k->version);
    if (asprintf(&out, "%s%s%s/%s%s%s%s%s", prefix, ens ? "/namespaces/" : "", ens ? ens : "",
                 k->resource, ename ? "/" : "", ename ? ename : "", sub ? "/" : "",
                 sub ? sub : "") < 0)
        out = NULL;
out:
    free(ens);
    free(ename);
    return out;
}

char *cli_now_rfc3339nano(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
    return buf;
}

const char *cli_age(const char *ts, time_t now, char *buf, size_t len)
{
    time_t t;
    if (!ts || time_parse_rfc3339(ts, &t) < 0) {
        snprintf(buf, len, "<unknown>");
        return buf;
    }
    int64_t d = (int64_t)(now - t);
    if (d < 0)
        d = 0;
    return time_human_age(d, buf, len);
}
