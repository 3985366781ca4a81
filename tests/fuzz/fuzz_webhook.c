/* libFuzzer target for the webhook's signature handling (gitsync/hook).
 *
 * Input: [1 byte secret length][secret][header up to '\n'][body]. Every input must be
 * parsed without crashing; a header that verifies must be a well-formed signature, and
 * the correctly computed signature for (secret, body) must always verify. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitsync/hook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t slen = data[0] % 65;
    if (slen > size - 1)
        slen = size - 1;
    const unsigned char *secret = data + 1;
    const uint8_t *rest = data + 1 + slen;
    size_t rlen = size - 1 - slen;
    const uint8_t *nl = memchr(rest, '\n', rlen);
    size_t hlen = nl ? (size_t)(nl - rest) : rlen;
    char *header = malloc(hlen + 1);
    if (!header)
        return 0;
    memcpy(header, rest, hlen);
    header[hlen] = '\0';
    const char *body = (const char *)(nl ? nl + 1 : rest + rlen);
    size_t blen = nl ? rlen - hlen - 1 : 0;

    unsigned char mac[32];
    int parsed = gitsync_hook_parse_signature(header, strlen(header), mac);
    int ok = gitsync_hook_verify(secret, slen, body, blen, header);
    if (ok == 0 && parsed != 0)
        abort(); /* verified something that is not a signature */

    /* The right signature always verifies. */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char good[7 + 64 + 1];
    HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)body, blen, md, &mdlen);
    memcpy(good, "sha256=", 7);
    for (unsigned i = 0; i < 32; i++)
        snprintf(good + 7 + 2 * i, 3, "%02x", md[i]);
    if (gitsync_hook_verify(secret, slen, body, blen, good) != 0)
        abort();
    free(header);
    return 0;
}
