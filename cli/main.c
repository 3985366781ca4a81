/* bosun — the command-line client and the all-in-one `bosun up`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"up", cli_cmd_up, "start a whole cluster on this machine (reconcilerd, gitsync, ...)"},
    {"get", cli_cmd_get, "list or show objects: bosun get pods [-n NS] [-o yaml]"},
    {"apply", cli_cmd_apply, "create or update objects from manifests: bosun apply -f FILE"},
    {"delete", cli_cmd_delete, "delete objects: bosun delete KIND NAME | -f FILE"},
    {"logs", cli_cmd_logs, "print a container's log: bosun logs POD [-f]"},
    {"sync", cli_cmd_sync, "make gitsync apply the repository's head now and wait for it"},
    {"status", cli_cmd_status, "sync state (applied commit, errors) and workload readiness"},
    {"store", cli_cmd_store, "check reconcilerd's store offline: bosun store check DIR"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bosun COMMAND [flags]   (bosun COMMAND --help for its flags)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nThe cluster is found through --kubeconfig F, then $KUBECONFIG, then "
                 "/var/lib/bosun/kubeconfig.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "error: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
