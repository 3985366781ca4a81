#include "lib/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *err_text(int code, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(code < 0 ? -code : code));
    /* Lower case, as Go (and so Kubernetes) words errno: "no space left on device". */
    if (len && buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static int err_vset(struct bosun_err *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int err_set(struct bosun_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_errno(struct bosun_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    size_t n = strlen(err->msg);
    char text[128];
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", err_text(code, text, sizeof(text)));
    return code;
}

int err_wrap(struct bosun_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    char prefix[ERR_MSG_MAX];
    char old[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation keeps the outer context, which is what a user reads first. */
    size_t n = strnlen(prefix, sizeof(prefix) - 3);
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    n += 2;
    size_t rest = strnlen(old, sizeof(old));
    if (rest > sizeof(err->msg) - 1 - n)
        rest = sizeof(err->msg) - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = '\0';
    if (err->code == 0)
        err->code = -EIO;
    return err->code;
}

void err_clear(struct bosun_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
