/* libFuzzer target: the API's request body decoder (reconcilerd/api/body.h): JSON, YAML
 * and the Kubernetes protobuf envelope, plus Content-Type classification.
 *
 * Input: [media byte][body]. The media byte picks the decoder (every enum api_media
 * value); the body also goes through the protobuf decoder directly and, up to its first
 * NUL or newline, through api_media_of as a Content-Type header. A decode never gives
 * both an object and a Status, and always gives one of them (a Status message quoting
 * bytes that are not UTF-8 once made the decoder return neither: seeds/ keeps that
 * input). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reconcilerd/api/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum api_media media = (enum api_media)(data[0] % (API_MEDIA_OTHER + 1));
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    json_t *status = NULL;
    json_t *obj = api_body_decode(body, len, media, &status);
    if ((obj != NULL) == (status != NULL))
        abort();
    json_decref(obj);
    json_decref(status);

    char msg[256];
    memset(msg, 'x', sizeof msg);
    json_t *pb = api_protobuf_decode((const unsigned char *)body, len, msg, sizeof msg);
    if (!pb && !memchr(msg, '\0', sizeof msg))
        abort(); /* a refusal fills msg with a string */
    json_decref(pb);

    char ct[128];
    size_t n = 0;
    while (n < len && n < sizeof(ct) - 1 && body[n] != '\0' && body[n] != '\n') {
        ct[n] = body[n];
        n++;
    }
    ct[n] = '\0';
    api_media_of(ct);
    return 0;
}
