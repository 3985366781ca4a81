#include "nodeagent/nodefs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nodefs_mkdir_p(const char *path, unsigned mode, struct bosun_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return err_set(err, -ENAMETOOLONG, "mkdir %s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return err_errno(err, -errno, "mkdir %s", tmp);
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return err_errno(err, -errno, "mkdir %s", tmp);
    return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(p) : unlink(p);
    if (r < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int nodefs_rm_rf(const char *path, struct bosun_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : err_errno(err, -errno, "rm %s", path);
    int r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (r != 0)
        return err_errno(err, r < 0 ? r : -EIO, "rm -rf %s", path);
    /* FTW_MOUNT skips other file systems silently; say so when something stayed. */
    if (lstat(path, &st) == 0)
        return err_set(err, -EBUSY, "rm -rf %s: not empty (a mount inside?)", path);
    return 0;
}

int nodefs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int nodefs_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}
