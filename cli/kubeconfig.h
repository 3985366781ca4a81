/* kubeconfig — finds and reads the cluster credentials of the `bosun` command.
 *
 * Only the parts bosun needs: current-context → context.cluster → cluster.server, and
 * context.user → user.token (or user.tokenFile), plus context.namespace, and the cluster's
 * CA: cluster.certificate-authority-data (base64 PEM) or cluster.certificate-authority (a
 * file, relative to the kubeconfig's directory). */
#ifndef BOSUN_CLI_KUBECONFIG_H
#define BOSUN_CLI_KUBECONFIG_H

#include <stddef.h>

#include "lib/err.h"

struct cli_kubeconfig {
    char *server;    /* "http://127.0.0.1:6443" (owned) */
    char *token;     /* bearer token or NULL (owned) */
    char *namespace; /* the context's namespace or NULL (owned) */
    char *ca_pem;    /* decoded certificate-authority-data, or NULL (owned) */
    char *ca_file;   /* certificate-authority as a path, or NULL (owned) */
};

/* Parses kubeconfig YAML (buf, len); filename is for messages. Fills *out on success
 * (free with cli_kubeconfig_free). Errors name the missing piece:
 * "kubeconfig K: context \"x\" not found". */
int cli_kubeconfig_parse(const char *buf, size_t len, const char *filename,
                         struct cli_kubeconfig *out, struct bosun_err *err);

/* Which file to read: flag (--kubeconfig) if set, then $KUBECONFIG (its first entry when
 * it is a ':'-separated list), then /var/lib/bosun/kubeconfig. Borrowed or static. */
const char *cli_kubeconfig_path(const char *flag);

/* Reads and parses path. */
int cli_kubeconfig_load(const char *path, struct cli_kubeconfig *out, struct bosun_err *err);

void cli_kubeconfig_free(struct cli_kubeconfig *kc);

#endif
