/* libFuzzer target: the CLI's kubeconfig parser (cli/kubeconfig.h). A kubeconfig is a
 * user-supplied file; any bytes must parse or be refused with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cli_kubeconfig kc = {0};
    struct bosun_err err = {0};
    int r = cli_kubeconfig_parse((const char *)data, size, "fuzz-kubeconfig", &kc, &err);
    if (r == 0 && !kc.server)
        abort(); /* a kubeconfig that parses names a server */
    if (r != 0 && !err.msg[0])
        abort(); /* a refusal says why */
    cli_kubeconfig_free(&kc);
    return 0;
}
