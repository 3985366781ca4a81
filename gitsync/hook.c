#include "gitsync/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hex.h"
#include "lib/httpd.h"
#include "lib/log.h"

int gitsync_hook_parse_signature(const char *header, size_t header_len, unsigned char mac[32])
{
    static const char prefix[] = "sha256=";
    const size_t plen = sizeof(prefix) - 1;
    if (!header || header_len != plen + 64 || strncasecmp(header, prefix, plen) != 0)
        return -EINVAL;
    return hex_decode(header + plen, 64, mac, 32);
}

int gitsync_hook_verify(const unsigned char *secret, size_t secret_len, const char *body,
                        size_t body_len, const char *header)
{
    unsigned char want[32], got[EVP_MAX_MD_SIZE];
    unsigned int got_len = 0;
    if (!header || gitsync_hook_parse_signature(header, strlen(header), want) != 0)
        return -EACCES;
    if (secret_len > GITSYNC_HOOK_MAX_SECRET)
        return -EACCES;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)body, body_len, got,
              &got_len) ||
        got_len != 32)
        return -EACCES;
    return CRYPTO_memcmp(want, got, 32) == 0 ? 0 : -EACCES;
}

int gitsync_hook_read_secret(const char *path, unsigned char **out, size_t *len,
                             struct bosun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = NULL;
    size_t n = 0;
    int r;
    if (fd < 0)
        return err_errno(err, -errno, "webhook secret %s", path);
    buf = malloc(GITSYNC_HOOK_MAX_SECRET + 1);
    if (!buf) {
        r = err_errno(err, -ENOMEM, "webhook secret %s", path);
        goto out;
    }
    for (;;) {
        ssize_t k = read(fd, buf + n, GITSYNC_HOOK_MAX_SECRET + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = err_errno(err, -errno, "webhook secret %s: read", path);
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > GITSYNC_HOOK_MAX_SECRET) {
            r = err_set(err, -EINVAL, "webhook secret %s: longer than %d bytes", path,
                        GITSYNC_HOOK_MAX_SECRET);
            goto out;
        }
    }
    /* Files written with `echo` end in a newline that is not part of the secret. */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        r = err_set(err, -EINVAL, "webhook secret %s: empty", path);
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    r = 0;
out:
    free(buf);
    close(fd);
    return r;
}

struct gitsync_hook {
    struct httpd *srv;
    unsigned char *secret; /* NULL: no signature required */
    size_t secret_len;
    gitsync_hook_fn on_hook;
    void *userdata;
};

static void hook_reply(struct httpd_req *req, int code, const char *msg)
{
    json_t *b = json_pack("{s:s}", code < 300 ? "status" : "error", msg);
    httpd_respond_json(req, code, b);
    json_decref(b);
}

static void hook_handle(struct httpd_req *req, void *userdata)
{
    struct gitsync_hook *h = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/hook") != 0) {
        hook_reply(req, 404, "not found");
        return;
    }
    if (strcmp(httpd_method(req), "POST") != 0) {
        httpd_add_header(req, "Allow", "POST");
        hook_reply(req, 405, "method not allowed: use POST");
        return;
    }
    if (h->secret) {
        size_t len = 0;
        const char *body = httpd_body(req, &len);
        if (gitsync_hook_verify(h->secret, h->secret_len, body, len,
                                httpd_header(req, GITSYNC_HOOK_SIG_HEADER)) != 0) {
            log_warn("webhook: rejected a request with a missing or wrong %s",
                     GITSYNC_HOOK_SIG_HEADER);
            hook_reply(req, 401, "missing or invalid " GITSYNC_HOOK_SIG_HEADER);
            return;
        }
    }
    h->on_hook(h->userdata);
    hook_reply(req, 202, "sync requested");
}

int gitsync_hook_start(const char *listen, const unsigned char *secret, size_t secret_len,
                       gitsync_hook_fn on_hook, void *userdata, struct gitsync_hook **out,
                       struct bosun_err *err)
{
    struct gitsync_hook *h = calloc(1, sizeof(*h));
    int r;
    if (!h)
        return err_errno(err, -ENOMEM, "webhook");
    h->on_hook = on_hook;
    h->userdata = userdata;
    if (secret) {
        h->secret = malloc(secret_len ? secret_len : 1);
        if (!h->secret) {
            r = err_errno(err, -ENOMEM, "webhook");
            goto fail;
        }
        memcpy(h->secret, secret, secret_len);
        h->secret_len = secret_len;
    }
    /* Push hooks carry a few KiB of JSON; nothing legitimate comes near 1 MiB. */
    struct httpd_opts opts = {.listen = listen, .max_body = 1 << 20, .threads = 2,
                              .max_conns = 64, .conn_timeout_s = 30};
    r = httpd_start(&opts, hook_handle, h, &h->srv, err);
    if (r < 0) {
        err_wrap(err, "webhook: listen %s", listen);
        goto fail;
    }
    *out = h;
    return 0;
fail:
    gitsync_hook_stop(h);
    return r;
}

int gitsync_hook_port(const struct gitsync_hook *h)
{
    return httpd_port(h->srv);
}

void gitsync_hook_stop(struct gitsync_hook *h)
{
    if (!h)
        return;
    httpd_stop(h->srv);
    if (h->secret)
        OPENSSL_cleanse(h->secret, h->secret_len);
    free(h->secret);
    free(h);
}
