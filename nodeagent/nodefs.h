/* nodefs — small file-system helpers of the nodeagent (directories, paths; whole files are lib/fileutil). */
#ifndef BOSUN_NODEAGENT_NODEFS_H
#define BOSUN_NODEAGENT_NODEFS_H

#include <stddef.h>

#include "lib/err.h"

/* mkdir -p with mode for the directories it creates. 0 or negative errno (err set). */
int nodefs_mkdir_p(const char *path, unsigned mode, struct bosun_err *err);

/* rm -rf that stays on its file system (never crosses a mount point, so a still-mounted
 * rootfs is refused rather than emptied). Missing path is 0. */
int nodefs_rm_rf(const char *path, struct bosun_err *err);

/* snprintf for paths: returns 0, or -ENAMETOOLONG when buf was too small (buf then
 * holds a truncated, still NUL-terminated string). Not a builtin, so callers need not
 * oversize every buffer to please -Wformat-truncation. */
int nodefs_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 if path exists (any type), else 0. */
int nodefs_exists(const char *path);

#endif
