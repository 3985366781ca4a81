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

int nodefs_write_atomic(const char *path, const char *data, size_t len, struct bosun_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return err_set(err, -ENAMETOOLONG, "write %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_errno(err, -errno, "open %s", tmp);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            unlink(tmp);
            return err_errno(err, e, "write %s", tmp);
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = -errno;
        unlink(tmp);
        return err_errno(err, e, "fsync %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return err_errno(err, e, "rename %s", tmp);
    }
    return 0;
}

int nodefs_read_file(const char *path, size_t max, char **out, size_t *len, struct bosun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, -errno, "open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    if (!buf) {
        rc = err_set(err, -ENOMEM, "read %s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                rc = err_set(err, -EFBIG, "read %s: larger than %zu bytes", path, max);
                goto out;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                rc = err_set(err, -ENOMEM, "read %s: out of memory", path);
                goto out;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = err_errno(err, -errno, "read %s", path);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        rc = err_set(err, -EFBIG, "read %s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
out:
    free(buf);
    close(fd);
    return rc;
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
