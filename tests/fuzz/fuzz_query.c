/* libFuzzer target: httpd's query-string form decoding. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_pair(const char *k, size_t klen, const char *v, size_t vlen, void *userdata)
{
    size_t *total = userdata;
    /* Decoding never grows a string, and the copies are NUL-terminated at their length. */
    if (k[klen] != '\0' || v[vlen] != '\0')
        __builtin_trap();
    *total += klen + vlen;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    httpd_query_decode((const char *)data, size, check_pair, &total);
    if (total > size)
        __builtin_trap();
    return 0;
}
