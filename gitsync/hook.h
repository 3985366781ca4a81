/* hook — the webhook receiver: `POST /hook` at --webhook-listen.
 *
 * The body is ignored (any push means "look at the repository now"); the server answers
 * 202 at once and the sync runs in the background, bursts coalescing into one sync
 * (the trigger callback only raises a flag). With a secret, the request must carry
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (GitHub's header; Gitea
 * sends the same), checked in constant time, else 401. */
#ifndef BOSUN_GITSYNC_HOOK_H
#define BOSUN_GITSYNC_HOOK_H

#include <stddef.h>

#include "lib/err.h"

#define GITSYNC_HOOK_SIG_HEADER "X-Hub-Signature-256"
#define GITSYNC_HOOK_MAX_SECRET 4096

/* Parses "sha256=<64 hex digits>" (the prefix and the hex digits in any case, no
 * surrounding space) into mac. Returns 0, or -EINVAL for anything else (header NULL,
 * other algorithm, wrong length, non-hex). */
int gitsync_hook_parse_signature(const char *header, size_t header_len, unsigned char mac[32]);

/* Checks the signature header against HMAC-SHA256(secret, body). Returns 0 when it
 * matches, -EACCES when it is missing, malformed or wrong. */
int gitsync_hook_verify(const unsigned char *secret, size_t secret_len, const char *body,
                        size_t body_len, const char *header);

/* Reads a secret file: its contents without trailing CR/LF. An empty secret is an error.
 * *out is malloc'd (caller frees), *len its length. */
int gitsync_hook_read_secret(const char *path, unsigned char **out, size_t *len,
                             struct bosun_err *err);

struct gitsync_hook;

/* Called (on a server thread) for every accepted hook. Must not block. */
typedef void (*gitsync_hook_fn)(void *userdata);

/* Starts the receiver on listen ("127.0.0.1:9292"). secret may be NULL (no signature
 * required); it is copied. */
int gitsync_hook_start(const char *listen, const unsigned char *secret, size_t secret_len,
                       gitsync_hook_fn on_hook, void *userdata, struct gitsync_hook **out,
                       struct bosun_err *err);
/* The port bound (for a listen address with port 0). */
int gitsync_hook_port(const struct gitsync_hook *h);
/* Stops the server and frees. NULL allowed. */
void gitsync_hook_stop(struct gitsync_hook *h);

#endif
