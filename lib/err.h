/* err — error values carried up to the caller.
 *
 * Every fallible function returns 0 on success or a negative errno-style code, and
 * fills a caller-supplied struct bosun_err with a message a user can act on. Callers
 * add context on the way up (err_wrap) and never overwrite a message. A NULL err is
 * allowed everywhere: the message is then dropped, the code still returned. */
#ifndef BOSUN_ERR_H
#define BOSUN_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 1024

struct bosun_err {
    int code;              /* negative errno-style code, 0 when unset */
    char msg[ERR_MSG_MAX]; /* "store: put /pods/default/web: fdatasync: no space left" */
};

/* Sets err to code and the formatted message. Returns code (so `return err_set(...)`). */
int err_set(struct bosun_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strerror(-code) (or of code) into buf with its first letter in lower case — Go's wording,
 * which Kubernetes clients show: "no space left on device". Returns buf. */
const char *err_text(int code, char *buf, size_t len);

/* Like err_set, appending ": " and err_text(code). */
int err_errno(struct bosun_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message already in err. Returns err->code (or -EIO if
 * err is NULL or was never set). */
int err_wrap(struct bosun_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears err. */
void err_clear(struct bosun_err *err);

#endif
