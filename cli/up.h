/* up — pieces of `bosun up` that are worth testing on their own: the auth files, the
 * kubeconfig text and the seeding of the bare repository. The supervisor itself lives in
 * cmd_up.c. */
#ifndef BOSUN_CLI_UP_H
#define BOSUN_CLI_UP_H

#include <stddef.h>

#include "lib/err.h"

/* The clients `bosun up` makes tokens for, in tokens.csv order. */
enum cli_up_client { UP_ADMIN, UP_GITSYNC, UP_SCHEDULER, UP_PROXY, UP_NODE, UP_NCLIENTS };

struct cli_up_auth {
    char token[UP_NCLIENTS][65]; /* 64 hex chars */
};

/* Makes sure DIR/auth/tokens.csv and one token file per client (DIR/auth/<client>.token,
 * mode 0600) exist: reads them when they do (re-running reuses them), else generates
 * random tokens and writes them. node_name names the node's user (system:node:<name>). */
int cli_up_auth_ensure(const char *auth_dir, const char *node_name, struct cli_up_auth *out,
                       struct bosun_err *err);

/* The token file path of a client: DIR/auth/<name>.token. Writes into buf. */
const char *cli_up_token_file(const char *auth_dir, enum cli_up_client c, char *buf, size_t len);

/* The kubeconfig YAML for the admin (server, token inline; ca_data, when not NULL, is the
 * base64 CA certificate for certificate-authority-data). Caller frees. */
char *cli_up_kubeconfig(const char *server, const char *token, const char *ca_data);

/* Creates the bare repository at path with branch main (HEAD -> main), committing every
 * regular file under seed_dir (recursively, hidden entries skipped) as the first commit,
 * unless refs/heads/main already exists (then nothing changes). Writes (every time) the
 * hooks/post-receive script that POSTs http://127.0.0.1:<webhook_port>/hook with curl.
 * *created is set to 1 when the repository was seeded now. */
int cli_up_repo_ensure(const char *path, const char *seed_dir, int webhook_port, int *created,
                       struct bosun_err *err);

#endif
