/* Unit tests for gitsync/hook: signature parsing, HMAC checks, the secret file, and the
 * receiver over real HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <curl/curl.h>

#include "gitsync/hook.h"
#include "lib/httpc.h"

/* HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's documentation
 * on validating webhook deliveries. */
static const char gh_secret[] = "It's a Secret to Everybody";
static const char gh_body[] = "Hello, World!";
static const char gh_sig[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static void test_hook_verify_github_example(void **state)
{
    (void)state;
    const unsigned char *s = (const unsigned char *)gh_secret;
    assert_int_equal(gitsync_hook_verify(s, strlen(gh_secret), gh_body, strlen(gh_body), gh_sig),
                     0);
    /* Upper-case hex and prefix are accepted. */
    char upper[sizeof(gh_sig)];
    for (size_t i = 0; i < sizeof(gh_sig); i++)
        upper[i] = (char)(gh_sig[i] >= 'a' && gh_sig[i] <= 'z' ? gh_sig[i] - 32 : gh_sig[i]);
    assert_int_equal(gitsync_hook_verify(s, strlen(gh_secret), gh_body, strlen(gh_body), upper),
                     0);
}

static void test_hook_verify_rejects(void **state)
{
    (void)state;
    const unsigned char *s = (const unsigned char *)gh_secret;
    size_t sl = strlen(gh_secret);
    char bad[sizeof(gh_sig)];
    memcpy(bad, gh_sig, sizeof(gh_sig));
    bad[sizeof(gh_sig) - 2] = bad[sizeof(gh_sig) - 2] == '7' ? '8' : '7';
    assert_int_equal(gitsync_hook_verify(s, sl, gh_body, strlen(gh_body), bad), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl, "Hello, World?", 13, gh_sig), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl - 1, gh_body, strlen(gh_body), gh_sig), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl, gh_body, strlen(gh_body), NULL), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl, gh_body, strlen(gh_body), ""), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl, gh_body, strlen(gh_body), gh_sig + 7), -EACCES);
    assert_int_equal(gitsync_hook_verify(s, sl, gh_body, strlen(gh_body),
                                         "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
                     -EACCES);
}

static void test_hook_parse_signature_shapes(void **state)
{
    (void)state;
    unsigned char mac[32];
    assert_int_equal(gitsync_hook_parse_signature(gh_sig, strlen(gh_sig), mac), 0);
    assert_int_equal(mac[0], 0x75);
    assert_int_equal(mac[31], 0x17);
    assert_int_equal(gitsync_hook_parse_signature(gh_sig, strlen(gh_sig) - 1, mac), -EINVAL);
    char sp[80];
    snprintf(sp, sizeof(sp), " %s", gh_sig);
    assert_int_equal(gitsync_hook_parse_signature(sp, strlen(sp), mac), -EINVAL);
    char nonhex[sizeof(gh_sig)];
    memcpy(nonhex, gh_sig, sizeof(gh_sig));
    nonhex[10] = 'g';
    assert_int_equal(gitsync_hook_parse_signature(nonhex, strlen(nonhex), mac), -EINVAL);
}

static void test_hook_secret_file_strips_newline(void **state)
{
    (void)state;
    char path[] = "/tmp/gitsync-secret.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\r\n", 8), 8);
    close(fd);
    unsigned char *s = NULL;
    size_t n = 0;
    struct bosun_err err = {0};
    assert_int_equal(gitsync_hook_read_secret(path, &s, &n, &err), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "s3cret", 6);
    free(s);
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(gitsync_hook_read_secret(path, &s, &n, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    unlink(path);
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

/* POSTs body to url with header (may be NULL) through libcurl; returns the status. */
static long post_with_header(const char *url, const char *body, const char *header)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    long code = 0;
    assert_non_null(h);
    if (header)
        hdrs = curl_slist_append(hdrs, header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return code;
}

static void count_hook(void *userdata)
{
    (*(int *)userdata)++;
}

static void test_hook_server_checks_signature(void **state)
{
    (void)state;
    struct gitsync_hook *h = NULL;
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    struct httpc_resp resp = {0};
    int hits = 0;
    char url[64];
    assert_int_equal(gitsync_hook_start("127.0.0.1:0", (const unsigned char *)gh_secret,
                                        strlen(gh_secret), count_hook, &hits, &h, &err),
                     0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", gitsync_hook_port(h));
    assert_int_equal(httpc_new_token(url, NULL, &c, &err), 0);

    /* No signature: 401 and no sync. */
    assert_int_equal(httpc_request(c, "POST", "/hook", "application/json", gh_body,
                                   strlen(gh_body), 0, &resp, &err),
                     0);
    assert_int_equal(resp.status, 401);
    httpc_resp_free(&resp);
    assert_int_equal(hits, 0);

    /* Wrong path and method. */
    assert_int_equal(httpc_request(c, "GET", "/hook", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 405);
    httpc_resp_free(&resp);
    assert_int_equal(httpc_request(c, "POST", "/nope", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 404);
    httpc_resp_free(&resp);
    assert_int_equal(hits, 0);

    /* Signed: 202 and one trigger; a wrong signature: 401. */
    char hook_url[96], hdr[160];
    snprintf(hook_url, sizeof(hook_url), "%s/hook", url);
    snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: %s", gh_sig);
    assert_int_equal(post_with_header(hook_url, gh_body, hdr), 202);
    assert_int_equal(hits, 1);
    assert_int_equal(post_with_header(hook_url, "Hello, World?", hdr), 401);
    assert_int_equal(hits, 1);

    gitsync_hook_stop(h);
    httpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_verify_github_example),
        cmocka_unit_test(test_hook_verify_rejects),
        cmocka_unit_test(test_hook_parse_signature_shapes),
        cmocka_unit_test(test_hook_secret_file_strips_newline),
        cmocka_unit_test(test_hook_server_checks_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
