/* fileutil — whole-file reads and atomic writes (certificates, keys, tokens, kubeconfigs).
 *
 * Both are bounded and errno-clean: they never leave a partly written file under the
 * final name, and every fd they open is O_CLOEXEC. */
#ifndef BOSUN_FILEUTIL_H
#define BOSUN_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* Default read limit of fileutil_read_all when max is 0. */
#define FILEUTIL_READ_MAX (16u * 1024 * 1024)

/* Reads the whole file at path into *out (owned by the caller, free(); NUL-terminated,
 * so text can be used as a string) and its length into *len (may be NULL). max bounds
 * the size (0 = FILEUTIL_READ_MAX). Returns 0, -EFBIG when the file is larger than max,
 * -ENOMEM, or the negative errno of open/read (-ENOENT for a missing file). Outputs are
 * written only on success. */
int fileutil_read_all(const char *path, size_t max, char **out, size_t *len, struct bosun_err *err);

/* The same for an open fd (read to its end, not closed; name is for messages): stdin. */
int fileutil_read_fd(int fd, const char *name, size_t max, char **out, size_t *len,
                     struct bosun_err *err);

/* Replaces path with len bytes of data atomically: writes a temporary file in the same
 * directory with permissions `mode` (not subject to the umask), fsyncs it, renames it
 * over path and fsyncs the directory. On failure the old file (if any) is untouched and
 * the temporary is removed. Returns 0 or a negative errno. */
int fileutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct bosun_err *err);

#endif
