/* cli — what the `bosun` subcommands share: the connection to the cluster, argument
 * handling with kubectl's short flags, and error printing.
 *
 * Every subcommand is `int cli_cmd_<verb>(int argc, char **argv)` with argv[0] the verb;
 * it returns the process exit status (0 ok, 1 failed, 2 usage). */
#ifndef BOSUN_CLI_CLI_H
#define BOSUN_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/kubeconfig.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/httpc.h"
#include "schema/kinds.h"

struct cli {
    const char *kubeconfig_flag; /* --kubeconfig */
    const char *kubeconfig_path; /* the file actually used */
    struct cli_kubeconfig kc;
    struct httpc *http;
};

/* A kubectl short flag: "-n X" is "--namespace X". */
struct cli_short {
    char c;
    const char *long_name;
    bool takes_value;
};

/* Rewrites argv's short flags (-n X, -nX, -n=X, -A) into their long forms. Returns a new
 * argv (NULL-terminated; caller frees the array, not the strings, with cli_args_free) and
 * its count in *nargc, or NULL on ENOMEM. Unknown short flags are left as they are (and
 * then taken as positional arguments by flags_parse, so commands reject them). */
char **cli_args_expand(int argc, char **argv, const struct cli_short *shorts, int *nargc);
void cli_args_free(char **argv);

/* Parses a subcommand's flags after expanding shorts. Prints usage and returns 2 for bad
 * flags, -1 after --help (exit 0), 0 otherwise; positional arguments are left in
 * (*argv_out)[0..*npos-1]; free *argv_out with cli_args_free. */
int cli_parse(const char *usage, const struct flag_def *defs, const struct cli_short *shorts,
              int argc, char **argv, char ***argv_out, int *npos);

/* Reads the kubeconfig and creates the HTTP client. Prints the error itself ("error: ...")
 * and returns 1 on failure, 0 on success. */
int cli_connect(struct cli *c);
void cli_close(struct cli *c);

/* The namespace to use: the -n flag, else the kubeconfig context's, else "default". */
const char *cli_namespace(const struct cli *c, const char *flag);

/* Sends a JSON request; on a transport failure prints "error: ..." and returns -1;
 * otherwise returns the HTTP status and *out (new reference, may be NULL). */
long cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
                 const json_t *body, json_t **out);

/* Prints a non-2xx reply as kubectl does: "Error from server (NotFound): <message>". */
void cli_print_server_error(long status, const json_t *body);

/* stderr "error: ..." */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cli_cmd_get(int argc, char **argv);
int cli_cmd_apply(int argc, char **argv);
int cli_cmd_delete(int argc, char **argv);
int cli_cmd_logs(int argc, char **argv);
int cli_cmd_sync(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_up(int argc, char **argv);
/* bosun store check DIR: reconcilerd's file store, offline (cmd_store.c). */
int cli_cmd_store(int argc, char **argv);

#endif
