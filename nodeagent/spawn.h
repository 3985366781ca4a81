/* spawn — run a helper program (runc, conmon, CNI plugins, ip) and collect its output.
 *
 * The nodeagent drives every external tool through here: fork + execve with the
 * environment given (never the agent's own), stdin fed from a buffer, stdout and
 * stderr captured (bounded), and a timeout after which the child is SIGKILLed. */
#ifndef BOSUN_NODEAGENT_SPAWN_H
#define BOSUN_NODEAGENT_SPAWN_H

#include <stddef.h>

#include "lib/err.h"

#define SPAWN_OUTPUT_MAX (1 << 20) /* bytes kept of stdout and of stderr each */

struct spawn_result {
    int status;   /* exit code, or 128+signal when killed */
    char *out;    /* NUL-terminated stdout (owned; never NULL after a successful run) */
    char *errout; /* NUL-terminated stderr (owned; never NULL after a successful run) */
};

/* Runs argv[0] (an absolute path) with argv and envp (NULL: an empty environment plus
 * PATH=/usr/sbin:/usr/bin:/sbin:/bin). stdin_data (may be NULL) is written to its stdin.
 * timeout_ms <= 0 means 60 s. With setsid the child starts a new session (for conmon,
 * whose containers must outlive the agent and not see its terminal signals).
 * Returns 0 when the program ran (whatever its exit status; see res->status), or a
 * negative errno with err set when it could not be run or timed out. res is filled
 * only on 0; free it with spawn_result_free. */
int spawn_run(char *const argv[], char *const envp[], const char *stdin_data, int timeout_ms,
              int setsid_child, struct spawn_result *res, struct bosun_err *err);

/* spawn_run, and pass_fd (>= 0) is handed to the child as its fd 3 (conmon's sync pipe). */
int spawn_run_fd(char *const argv[], char *const envp[], const char *stdin_data, int timeout_ms,
                 int setsid_child, int pass_fd, struct spawn_result *res, struct bosun_err *err);

void spawn_result_free(struct spawn_result *res);

/* The last line of text that is not empty (trimmed), for error messages: borrowed
 * pointer into a static-free copy written to buf. */
const char *spawn_last_line(const char *text, char *buf, size_t len);

#endif
