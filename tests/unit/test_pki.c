/* Unit tests for lib/pki and lib/fileutil: a real CA in a temporary directory, checked
 * with OpenSSL the way a TLS client checks it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/pki.h"

static const char *const IPS[] = {"127.0.0.1", NULL};
static const char *const DNS[] = {"localhost", NULL};

struct fx {
    char root[64];
    char dir[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/bosun-pki-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/pki", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->root);
    free(f);
    return 0;
}

static char *path_of(const struct fx *f, const char *name)
{
    static char p[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", f->dir, name);
    return p[i];
}

static char *slurp(const char *path)
{
    char *s = NULL;
    if (fileutil_read_all(path, 0, &s, NULL, NULL) != 0)
        return NULL;
    return s;
}

static X509 *load_cert(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return NULL;
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    return k;
}

/* X509_verify_cert of server.crt against ca.crt as a TLS server certificate. */
static int verify_server(const struct fx *f)
{
    X509 *ca = load_cert(path_of(f, PKI_CA_CERT));
    X509 *srv = load_cert(path_of(f, PKI_SERVER_CERT));
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ca && srv && st && ctx && X509_STORE_add_cert(st, ca) &&
             X509_STORE_CTX_init(ctx, st, srv, NULL);
    if (ok) {
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), "localhost", 0);
        ok = X509_verify_cert(ctx) == 1;
        if (!ok)
            fprintf(stderr, "verify: %s\n",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(ca);
    X509_free(srv);
    return ok;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return (mode_t)-1;
    return st.st_mode & 07777;
}

static void test_pki_creates_ca_and_server_files_with_private_keys_0600(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, &err), 0);
    assert_int_equal(mode_of(f->dir), 0700);
    assert_int_equal(mode_of(path_of(f, PKI_CA_KEY)), 0600);
    assert_int_equal(mode_of(path_of(f, PKI_SERVER_KEY)), 0600);
    assert_int_equal(mode_of(path_of(f, PKI_CA_CERT)), 0644);
    assert_int_equal(mode_of(path_of(f, PKI_SERVER_CERT)), 0644);
    /* Nothing else: no temporaries left behind. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 4", f->dir);
    assert_int_equal(system(cmd), 0);
    /* Keys match their certificates. */
    X509 *ca = load_cert(path_of(f, PKI_CA_CERT));
    EVP_PKEY *cak = load_key(path_of(f, PKI_CA_KEY));
    X509 *srv = load_cert(path_of(f, PKI_SERVER_CERT));
    EVP_PKEY *sk = load_key(path_of(f, PKI_SERVER_KEY));
    assert_non_null(ca);
    assert_non_null(srv);
    assert_int_equal(X509_check_private_key(ca, cak), 1);
    assert_int_equal(X509_check_private_key(srv, sk), 1);
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
}

static void test_pki_server_cert_verifies_against_ca_with_requested_sans(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    assert_true(verify_server(f));
    X509 *ca = load_cert(path_of(f, PKI_CA_CERT));
    X509 *srv = load_cert(path_of(f, PKI_SERVER_CERT));
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(srv), 0);
    assert_int_equal(X509_check_purpose(srv, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    assert_int_not_equal(X509_check_ip_asc(srv, "10.0.0.1", 0), 1);
    assert_int_not_equal(X509_check_host(srv, "example.com", 0, 0, NULL), 1);
    /* About ten years and one year. */
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(ca)), 1);
    assert_true(days > 3640 && days <= 3650);
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(srv)), 1);
    assert_true(days > 360 && days <= 365);
    X509_free(ca);
    X509_free(srv);
}

static void test_pki_rerun_reuses_every_file(void **state)
{
    struct fx *f = *state;
    const char *names[] = {PKI_CA_CERT, PKI_CA_KEY, PKI_SERVER_CERT, PKI_SERVER_KEY};
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *before[4];
    for (int i = 0; i < 4; i++)
        assert_non_null(before[i] = slurp(path_of(f, names[i])));
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    for (int i = 0; i < 4; i++) {
        char *after = slurp(path_of(f, names[i]));
        assert_string_equal(before[i], after);
        free(after);
        free(before[i]);
    }
}

static void test_pki_reissues_server_cert_for_new_sans_keeping_the_ca(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *ca_before = slurp(path_of(f, PKI_CA_CERT));
    char *srv_before = slurp(path_of(f, PKI_SERVER_CERT));
    const char *const more_ips[] = {"127.0.0.1", "10.1.2.3", "::1", NULL};
    assert_int_equal(pki_ensure(f->dir, more_ips, DNS, NULL), 0);
    char *ca_after = slurp(path_of(f, PKI_CA_CERT));
    char *srv_after = slurp(path_of(f, PKI_SERVER_CERT));
    assert_string_equal(ca_before, ca_after);
    assert_string_not_equal(srv_before, srv_after);
    assert_true(verify_server(f));
    X509 *srv = load_cert(path_of(f, PKI_SERVER_CERT));
    assert_int_equal(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
    X509_free(srv);
    /* A subset of what the certificate carries is covered: nothing changes. */
    assert_int_equal(pki_ensure(f->dir, IPS, NULL, NULL), 0);
    char *srv_again = slurp(path_of(f, PKI_SERVER_CERT));
    assert_string_equal(srv_after, srv_again);
    free(ca_before);
    free(srv_before);
    free(ca_after);
    free(srv_after);
    free(srv_again);
}

static void test_pki_replaces_missing_server_key_keeping_the_ca(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *ca_before = slurp(path_of(f, PKI_CA_CERT));
    char *srv_before = slurp(path_of(f, PKI_SERVER_CERT));
    assert_int_equal(unlink(path_of(f, PKI_SERVER_KEY)), 0);
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *ca_after = slurp(path_of(f, PKI_CA_CERT));
    char *srv_after = slurp(path_of(f, PKI_SERVER_CERT));
    assert_string_equal(ca_before, ca_after);
    assert_string_not_equal(srv_before, srv_after);
    assert_true(verify_server(f));
    free(ca_before);
    free(srv_before);
    free(ca_after);
    free(srv_after);
}

/* Writes a server certificate for the existing server key, signed by the CA, valid for
 * `days` only. */
static void write_short_lived_server_cert(const struct fx *f, int days)
{
    X509 *ca = load_cert(path_of(f, PKI_CA_CERT));
    EVP_PKEY *cak = load_key(path_of(f, PKI_CA_KEY));
    EVP_PKEY *sk = load_key(path_of(f, PKI_SERVER_KEY));
    X509 *old = load_cert(path_of(f, PKI_SERVER_CERT));
    assert_non_null(ca);
    assert_non_null(old);
    X509 *x = X509_dup(old);
    assert_non_null(x);
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL));
    assert_true(X509_sign(x, cak, EVP_sha256()) > 0);
    FILE *fp = fopen(path_of(f, PKI_SERVER_CERT), "we");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
    X509_free(x);
    X509_free(old);
    X509_free(ca);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
}

static void test_pki_renews_server_cert_expiring_within_30_days(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    /* 40 days left: still good. */
    write_short_lived_server_cert(f, 40);
    char *kept = slurp(path_of(f, PKI_SERVER_CERT));
    assert_true(verify_server(f));
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *after = slurp(path_of(f, PKI_SERVER_CERT));
    assert_string_equal(kept, after);
    free(after);
    /* 10 days left: renewed for a year. */
    write_short_lived_server_cert(f, 10);
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    X509 *srv = load_cert(path_of(f, PKI_SERVER_CERT));
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(srv)), 1);
    assert_true(days > 360);
    assert_true(verify_server(f));
    X509_free(srv);
    free(kept);
}

static void test_pki_refuses_ca_cert_without_its_key(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *ca_before = slurp(path_of(f, PKI_CA_CERT));
    assert_int_equal(unlink(path_of(f, PKI_CA_KEY)), 0);
    struct bosun_err err = {0};
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "ca.key"));
    char *ca_after = slurp(path_of(f, PKI_CA_CERT));
    assert_string_equal(ca_before, ca_after);
    free(ca_before);
    free(ca_after);
}

static void test_pki_rejects_bad_sans(void **state)
{
    struct fx *f = *state;
    struct bosun_err err = {0};
    const char *const bad_ip[] = {"localhost", NULL};
    assert_int_equal(pki_ensure(f->dir, bad_ip, DNS, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not an IP address"));
    const char *const bad_dns[] = {"a,DNS:evil.com", NULL};
    assert_int_equal(pki_ensure(f->dir, IPS, bad_dns, &err), -EINVAL);
    /* Nothing was created. */
    assert_int_not_equal(access(f->dir, F_OK), 0);
}

static void test_pki_base64_file_round_trips(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *pem = slurp(path_of(f, PKI_CA_CERT));
    char *b64 = NULL;
    assert_int_equal(pki_base64_file(path_of(f, PKI_CA_CERT), &b64, NULL), 0);
    assert_null(strchr(b64, '\n'));
    size_t n = strlen(b64);
    unsigned char *dec = malloc(n);
    int dn = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    /* EVP_DecodeBlock counts base64 padding as zero bytes. */
    size_t plen = strlen(pem);
    assert_true(dn >= (int)plen && dn <= (int)plen + 2);
    assert_memory_equal(dec, pem, plen);
    free(dec);
    free(b64);
    free(pem);
    struct bosun_err err = {0};
    assert_int_equal(pki_base64_file("/nonexistent/ca.crt", &b64, &err), -ENOENT);
}

static void test_pki_base64_decode_takes_kubeconfig_data(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pki_ensure(f->dir, IPS, DNS, NULL), 0);
    char *pem = slurp(path_of(f, PKI_CA_CERT));
    char *b64 = NULL;
    assert_int_equal(pki_base64_file(path_of(f, PKI_CA_CERT), &b64, NULL), 0);
    char *dec = NULL;
    size_t len = 0;
    assert_int_equal(pki_base64_decode(b64, &dec, &len, NULL), 0);
    assert_int_equal(len, strlen(pem));
    assert_string_equal(dec, pem);
    free(dec);
    /* Wrapped at 64 columns, as some tools write it. */
    size_t n = strlen(b64);
    char *wrapped = malloc(n + n / 64 + 2);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        wrapped[o++] = b64[i];
        if (i % 64 == 63)
            wrapped[o++] = '\n';
    }
    wrapped[o] = '\0';
    assert_int_equal(pki_base64_decode(wrapped, &dec, NULL, NULL), 0);
    assert_string_equal(dec, pem);
    free(dec);
    free(wrapped);
    assert_int_equal(pki_base64_decode("not*base64!", &dec, NULL, NULL), -EINVAL);
    assert_int_equal(pki_base64_decode("", &dec, &len, NULL), 0);
    assert_int_equal(len, 0);
    free(dec);
    free(b64);
    free(pem);
}

static void test_fileutil_write_atomic_sets_mode_and_read_all_limits(void **state)
{
    struct fx *f = *state;
    char p[128];
    snprintf(p, sizeof(p), "%s/x", f->root);
    umask(077);
    assert_int_equal(fileutil_write_atomic(p, "hello", 5, 0644, NULL), 0);
    umask(022);
    assert_int_equal(mode_of(p), 0644);
    char *s = NULL;
    size_t len = 0;
    assert_int_equal(fileutil_read_all(p, 0, &s, &len, NULL), 0);
    assert_int_equal(len, 5);
    assert_string_equal(s, "hello");
    free(s);
    s = NULL;
    struct bosun_err err = {0};
    assert_int_equal(fileutil_read_all(p, 4, &s, &len, &err), -EFBIG);
    assert_null(s);
    assert_int_equal(fileutil_write_atomic("/nonexistent/dir/x", "a", 1, 0600, &err), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pki_creates_ca_and_server_files_with_private_keys_0600,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pki_server_cert_verifies_against_ca_with_requested_sans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_rerun_reuses_every_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_reissues_server_cert_for_new_sans_keeping_the_ca,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_replaces_missing_server_key_keeping_the_ca, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pki_renews_server_cert_expiring_within_30_days, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pki_refuses_ca_cert_without_its_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_rejects_bad_sans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_base64_file_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_base64_decode_takes_kubeconfig_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fileutil_write_atomic_sets_mode_and_read_all_limits,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
