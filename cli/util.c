#include "cli/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/httpc.h"
#include "lib/timeutil.h"

#define CLI_FILE_MAX (64u << 20)

int cli_read_file(const char *path, char **out, size_t *len, struct bosun_err *err)
{
    if (strcmp(path, "-") == 0)
        return fileutil_read_fd(STDIN_FILENO, "stdin", CLI_FILE_MAX, out, len, err);
    return fileutil_read_all(path, CLI_FILE_MAX, out, len, err);
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
