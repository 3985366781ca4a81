#include "lib/flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int flags_parse_duration(const char *s, int64_t *ms_out)
{
    if (!s || !*s)
        return -EINVAL;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno)
            return -EINVAL;
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1;
            end += 2;
        } else if (*end == 's') {
            unit = 1000;
            end++;
        } else if (*end == 'm') {
            unit = 60000;
            end++;
        } else if (*end == 'h') {
            unit = 3600000;
            end++;
        } else if (*end == '\0' && v == 0) {
            unit = 0;
        } else {
            return -EINVAL;
        }
        if (v < 0)
            return -EINVAL;
        total += (int64_t)(v * (double)unit);
        p = end;
    }
    *ms_out = total;
    return 0;
}

static const struct flag_def *find_flag(const struct flag_def *defs, const char *name, size_t n)
{
    for (; defs->name; defs++) {
        if (strlen(defs->name) == n && strncmp(defs->name, name, n) == 0)
            return defs;
    }
    return NULL;
}

static int set_flag(const struct flag_def *f, const char *val, struct bosun_err *err)
{
    char *end;
    switch (f->type) {
    case FLAG_STR:
        *(const char **)f->ptr = val;
        return 0;
    case FLAG_INT:
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || *end || end == val)
            return err_set(err, -EINVAL, "--%s: not an integer: %s", f->name, val);
        *(long long *)f->ptr = v;
        return 0;
    case FLAG_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "1"))
            *(int *)f->ptr = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0"))
            *(int *)f->ptr = 0;
        else
            return err_set(err, -EINVAL, "--%s: not a boolean: %s", f->name, val);
        return 0;
    case FLAG_DURATION:
        if (flags_parse_duration(val, (int64_t *)f->ptr) != 0)
            return err_set(err, -EINVAL, "--%s: not a duration (like 30s, 5m): %s", f->name,
                           val);
        return 0;
    }
    return -EINVAL;
}

int flags_parse(const struct flag_def *defs, int argc, char **argv, int *nargs,
                struct bosun_err *err)
{
    int npos = 0;
    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[npos++] = a;
            continue;
        }
        if (strcmp(a, "--help") == 0)
            return -ECANCELED;
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag_def *f = find_flag(defs, name, n);
        if (!f)
            return err_set(err, -EINVAL, "unknown flag: --%.*s", (int)n, name);
        const char *val = eq ? eq + 1 : NULL;
        if (!val && f->type == FLAG_BOOL)
            val = "true";
        if (!val) {
            if (i + 1 >= argc)
                return err_set(err, -EINVAL, "--%s needs a value", f->name);
            val = argv[++i];
        }
        int r = set_flag(f, val, err);
        if (r < 0)
            return r;
    }
    for (; i < argc; i++)
        argv[npos++] = argv[i];
    *nargs = npos;
    return 0;
}

void flags_usage(FILE *out, const char *prog, const struct flag_def *defs)
{
    fprintf(out, "usage: %s [flags]\n", prog);
    for (; defs->name; defs++)
        fprintf(out, "  --%-28s %s\n", defs->name, defs->help ? defs->help : "");
}
