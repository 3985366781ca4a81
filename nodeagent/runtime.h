/* runtime — the OCI runtime driver: containers created through conmon and driven with
 * runc (or crun), or a fake runtime for hollow nodes.
 *
 * conmon sits between the agent and the container: it holds the container's stdio,
 * writes CRI-format log lines (`<RFC3339Nano> stdout F <line>`) to the log file, and
 * writes the exit code to <exit dir>/<id>. So containers keep running, logging and
 * reporting exit codes while the agent is down or restarting; on start the agent adopts
 * them by listing the runtime's state directory (runtime_list).
 *
 * Everything lives under <root-dir>/runtime: state/ (runc --root), exits/, conmon/
 * (pid files, attach sockets). Container ids are chosen by the caller ([A-Za-z0-9_.-]).
 * All calls are synchronous (tens of milliseconds). */
#ifndef BOSUN_NODEAGENT_RUNTIME_H
#define BOSUN_NODEAGENT_RUNTIME_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum runtime_kind { RUNTIME_RUNC, RUNTIME_CRUN, RUNTIME_FAKE };

enum runtime_status {
    RUNTIME_ABSENT,  /* the runtime does not know the id */
    RUNTIME_CREATED, /* created, not started */
    RUNTIME_RUNNING,
    RUNTIME_STOPPED,
};

struct runtime {
    enum runtime_kind kind;
    char bin[PATH_MAX];        /* /usr/sbin/runc, /usr/bin/crun; "" for fake */
    char conmon[PATH_MAX];     /* the conmon binary */
    char state_dir[PATH_MAX];  /* --root of the runtime */
    char exit_dir[PATH_MAX];   /* conmon --exit-dir */
    char conmon_dir[PATH_MAX]; /* pid files and attach sockets */
};

struct runtime_state {
    enum runtime_status status;
    int pid;             /* the container's init pid while running, else 0 */
    int exit_code;       /* when STOPPED: from the exit file, -1 while conmon has not written it */
    int64_t finished_at; /* unix seconds, when exit_code is known, else 0 */
};

/* "runc" | "crun" | "fake" (NULL or "": the host's default: runc, or crun on a pure
 * cgroup v2 host when installed). -EINVAL for anything else. */
int runtime_kind_parse(const char *s, enum runtime_kind *out, struct bosun_err *err);
const char *runtime_kind_name(enum runtime_kind k);

/* 1 when /sys/fs/cgroup is a pure cgroup v2 mount. */
int runtime_cgroup_v2_only(void);

/* Fills rt and creates its directories under root_dir. Checks the binaries exist
 * (-ENOENT naming the missing one); crun on a host that is not pure cgroup v2 is
 * -ENOTSUP (crun 1.8 refuses hybrid mode). */
int runtime_init(struct runtime *rt, enum runtime_kind kind, const char *root_dir,
                 struct bosun_err *err);

/* Creates container id from bundle through conmon; log_path gets its CRI log. */
int runtime_create(const struct runtime *rt, const char *id, const char *bundle,
                   const char *log_path, struct bosun_err *err);
int runtime_start(const struct runtime *rt, const char *id, struct bosun_err *err);
/* Fills *out. An unknown id is not an error: status RUNTIME_ABSENT. */
int runtime_state(const struct runtime *rt, const char *id, struct runtime_state *out,
                  struct bosun_err *err);
/* Sends sig to the container's init. Stopped or absent containers: 0. */
int runtime_kill(const struct runtime *rt, const char *id, int sig, struct bosun_err *err);
/* Removes the container (force: kills it first) and conmon's files for it. Absent: 0. */
int runtime_delete(const struct runtime *rt, const char *id, struct bosun_err *err);

/* The ids of every container in the state directory. *ids (and each string) are owned
 * by the caller: runtime_list_free. */
int runtime_list(const struct runtime *rt, char ***ids, size_t *n, struct bosun_err *err);
void runtime_list_free(char **ids, size_t n);

#endif
