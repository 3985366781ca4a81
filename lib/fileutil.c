/* fileutil — see fileutil.h. */
#include "lib/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileutil_read_fd(int fd, const char *name, size_t max, char **out, size_t *len,
                     struct bosun_err *err)
{
    if (max == 0)
        max = FILEUTIL_READ_MAX;
    int r = 0;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return err_set(err, -ENOMEM, "%s: out of memory", name);
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                r = err_set(err, -ENOMEM, "%s: out of memory", name);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = err_errno(err, -errno, "%s: read", name);
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            r = err_set(err, -EFBIG, "%s: larger than %zu bytes", name, max);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
out:
    free(buf);
    return r;
}

int fileutil_read_all(const char *path, size_t max, char **out, size_t *len, struct bosun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, -errno, "%s", path);
    int r = fileutil_read_fd(fd, path, max, out, len, err);
    close(fd);
    return r;
}

int fileutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct bosun_err *err)
{
    int r = 0;
    int fd = -1, dfd = -1;
    char *tmp = NULL, *dcopy = NULL;
    if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
        tmp = NULL;
        return err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = err_errno(err, -errno, "%s: create a temporary file", path);
        free(tmp);
        return r;
    }
    /* mkostemp made it 0600; fchmod sets the exact mode whatever the umask. */
    if (fchmod(fd, mode) != 0) {
        r = err_errno(err, -errno, "%s: chmod", tmp);
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            r = err_errno(err, -errno, "%s: write", tmp);
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        r = err_errno(err, -errno, "%s: fsync", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        r = err_errno(err, -errno, "%s: close", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        r = err_errno(err, -errno, "%s: rename into place", path);
        goto out;
    }
    free(tmp);
    tmp = NULL; /* in place: nothing to remove */
    /* The rename is durable once the directory is synced. */
    dcopy = strdup(path);
    if (!dcopy) {
        r = err_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    const char *dir = dirname(dcopy);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        r = err_errno(err, -errno, "%s: fsync directory %s", path, dir);
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dcopy);
    return r;
}
