/* pki — see pki.h.
 *
 * Validity of an existing server certificate is decided by the same check a client
 * makes: X509_verify_cert against the CA with the sslserver purpose, plus
 * X509_check_ip_asc / X509_check_host for every requested name. What passes here is
 * what curl and kubectl will accept. */
#include "lib/pki.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/fileutil.h"

#define PKI_DAY_S (24L * 60 * 60)
#define PKI_CA_DAYS 3650
#define PKI_SERVER_DAYS 365
#define PKI_RENEW_DAYS 30
/* Certificates are backdated this much: a client whose clock runs a little behind must
 * not see a certificate that is "not yet valid". */
#define PKI_BACKDATE_S (60L * 60)
#define PKI_PEM_MAX (256u * 1024)

/* Sets err from the oldest queued OpenSSL error (or "unknown error") and clears the
 * queue. Returns code. */
static int ssl_err(struct bosun_err *err, int code, const char *what, const char *path)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return err_set(err, code, "pki: %s: %s: %s", path, what, buf);
}

/* A PEM pass phrase callback that refuses: an encrypted key fails instead of prompting
 * on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

/* ---- loading ------------------------------------------------------------------------- */

/* Loads a PEM certificate. -ENOENT when the file is missing, -EINVAL when unparsable. */
static int load_cert(const char *path, X509 **out, struct bosun_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    struct bosun_err rerr = {0};
    int r = fileutil_read_all(path, PKI_PEM_MAX, &pem, &len, &rerr);
    if (r == -ENOENT)
        return r; /* not an error to the caller: err stays untouched */
    if (r < 0)
        return err_set(err, r, "pki: %s", rerr.msg);
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    free(pem);
    if (!x)
        return ssl_err(err, -EINVAL, "not a PEM certificate", path);
    *out = x;
    return 0;
}

/* Loads a PEM private key (unencrypted). -ENOENT when missing, -EINVAL when unparsable. */
static int load_key(const char *path, EVP_PKEY **out, struct bosun_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    struct bosun_err rerr = {0};
    int r = fileutil_read_all(path, PKI_PEM_MAX, &pem, &len, &rerr);
    if (r == -ENOENT)
        return r; /* not an error to the caller: err stays untouched */
    if (r < 0)
        return err_set(err, r, "pki: %s", rerr.msg);
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (!k)
        return ssl_err(err, -EINVAL, "not an unencrypted PEM private key", path);
    *out = k;
    return 0;
}

/* ---- writing ------------------------------------------------------------------------- */

static int write_pem(const char *path, bool is_key, X509 *x, EVP_PKEY *k, struct bosun_err *err)
{
    /* Key material goes through the secure heap's BIO, which wipes it when freed. */
    BIO *b = BIO_new(is_key ? BIO_s_secmem() : BIO_s_mem());
    if (!b)
        return ssl_err(err, -ENOMEM, "BIO_new", path);
    int ok = is_key ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                    : PEM_write_bio_X509(b, x);
    int r = 0;
    if (!ok) {
        r = ssl_err(err, -EIO, "PEM encoding", path);
        goto out;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || !data) {
        r = ssl_err(err, -EIO, "PEM encoding", path);
        goto out;
    }
    r = fileutil_write_atomic(path, data, (size_t)len, is_key ? 0600 : 0644, err);
    if (r < 0)
        err_wrap(err, "pki");
out:
    BIO_free(b);
    return r;
}

/* ---- issuing ------------------------------------------------------------------------- */

static EVP_PKEY *gen_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && !(c == '*' && i == 0))
            return false;
    }
    return true;
}

static int check_sans(const char *const *ips, const char *const *dns, struct bosun_err *err)
{
    for (size_t i = 0; ips && ips[i]; i++) {
        ASN1_OCTET_STRING *os = a2i_IPADDRESS(ips[i]);
        if (!os)
            return err_set(err, -EINVAL, "pki: %s is not an IP address", ips[i]);
        ASN1_OCTET_STRING_free(os);
    }
    for (size_t i = 0; dns && dns[i]; i++)
        if (!dns_name_ok(dns[i]))
            return err_set(err, -EINVAL, "pki: \"%s\" is not a DNS name", dns[i]);
    return 0;
}

static int add_sans(X509 *x, const char *const *ips, const char *const *dns)
{
    int r = -1;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (!gens)
        return -1;
    for (size_t i = 0; ips && ips[i]; i++) {
        ASN1_OCTET_STRING *os = a2i_IPADDRESS(ips[i]);
        GENERAL_NAME *g = os ? GENERAL_NAME_new() : NULL;
        if (!g) {
            ASN1_OCTET_STRING_free(os);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_IPADD, os);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    for (size_t i = 0; dns && dns[i]; i++) {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        GENERAL_NAME *g = s ? GENERAL_NAME_new() : NULL;
        if (!g || !ASN1_STRING_set(s, dns[i], (int)strlen(dns[i]))) {
            ASN1_IA5STRING_free(s);
            GENERAL_NAME_free(g);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    if (sk_GENERAL_NAME_num(gens) == 0) {
        r = 0;
        goto out;
    }
    r = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
out:
    GENERAL_NAMES_free(gens);
    return r;
}

/* Issues a certificate for key's public half named cn, signed by issuer/issuer_key, or
 * self-signed by key when issuer is NULL. A CA when is_ca, else a TLS server certificate
 * for the given SANs. */
static int issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days,
                 bool is_ca, const char *const *ips, const char *const *dns, X509 **out,
                 const char *path, struct bosun_err *err)
{
    int r = 0;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *serial = NULL;
    if (!x || !name || !bn) {
        r = ssl_err(err, -ENOMEM, "allocating a certificate", path);
        goto out;
    }
    /* A random positive serial: RFC 5280 wants it unique per CA, at most 20 octets. */
    if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) || !BN_add_word(bn, 1) ||
        !(serial = BN_to_ASN1_INTEGER(bn, NULL))) {
        r = ssl_err(err, -EIO, "serial number", path);
        goto out;
    }
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"bosun", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0)) {
        r = ssl_err(err, -EIO, "subject name", path);
        goto out;
    }
    if (!X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_S) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) || !X509_set_pubkey(x, key) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name)) {
        r = ssl_err(err, -EIO, "certificate fields", path);
        goto out;
    }
    bool ok;
    if (is_ca) {
        ok =
            add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
            add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") == 0 &&
            add_ext(x, NULL, NID_subject_key_identifier, "hash") == 0;
    } else {
        ok = add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             /* An EC key signs the handshake; keyEncipherment is for RSA key transport. */
             add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, issuer, NID_ext_key_usage, "serverAuth") == 0 &&
             add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0 &&
             add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0 &&
             add_sans(x, ips, dns) == 0;
    }
    if (!ok) {
        r = ssl_err(err, -EIO, "certificate extensions", path);
        goto out;
    }
    if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
        r = ssl_err(err, -EIO, "signing the certificate", path);
        goto out;
    }
    *out = x;
    x = NULL;
out:
    X509_free(x);
    X509_NAME_free(name);
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    return r;
}

/* ---- checks -------------------------------------------------------------------------- */

static bool expires_within(X509 *x, long seconds)
{
    time_t t = time(NULL) + seconds;
    /* 1: notAfter is later than t. -1 earlier, 0 on error: renew in both cases. */
    return X509_cmp_time(X509_get0_notAfter(x), &t) != 1;
}

/* 1 when srv verifies against ca as a TLS server certificate valid for every SAN. */
static bool server_cert_ok(X509 *ca, X509 *srv, EVP_PKEY *srv_key, const char *const *ips,
                           const char *const *dns)
{
    bool ok = false;
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!st || !ctx || !X509_STORE_add_cert(st, ca) || !X509_STORE_CTX_init(ctx, st, srv, NULL))
        goto out;
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1)
        goto out;
    if (X509_check_private_key(srv, srv_key) != 1)
        goto out;
    if (expires_within(srv, PKI_RENEW_DAYS * PKI_DAY_S))
        goto out;
    for (size_t i = 0; ips && ips[i]; i++)
        if (X509_check_ip_asc(srv, ips[i], 0) != 1)
            goto out;
    for (size_t i = 0; dns && dns[i]; i++)
        if (X509_check_host(srv, dns[i], 0, 0, NULL) != 1)
            goto out;
    ok = true;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok;
}

/* ---- the CA and the server pair ------------------------------------------------------ */

/* Loads or makes the CA. *regenerated tells the caller the server pair is now stale. */
static int ensure_ca(const char *crt_path, const char *key_path, X509 **ca_out, EVP_PKEY **key_out,
                     bool *regenerated, struct bosun_err *err)
{
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    int rc = load_cert(crt_path, &ca, err);
    if (rc < 0 && rc != -ENOENT)
        goto out; /* unreadable: never clobber a CA someone may trust */
    int rk = load_key(key_path, &key, err);
    if (rk < 0 && rk != -ENOENT) {
        rc = rk;
        goto out;
    }
    if (ca && !key) {
        rc = err_set(err, -ENOENT,
                     "pki: %s exists but its key %s does not: remove both to make a new CA",
                     crt_path, key_path);
        goto out;
    }
    if (ca) {
        bool matches = X509_check_private_key(ca, key) == 1;
        ERR_clear_error();
        bool renew = expires_within(ca, PKI_RENEW_DAYS * PKI_DAY_S);
        if (matches && !renew) {
            rc = 0;
            goto done;
        }
        /* A key that does not match an expiring CA is a renewal cut short: redo it. */
        if (!matches && !renew) {
            rc = err_set(err, -EINVAL,
                         "pki: %s does not match the key %s: remove both to make a new CA",
                         crt_path, key_path);
            goto out;
        }
        X509_free(ca);
        ca = NULL;
    }
    /* A key without a certificate is a first run cut short (the key is written first):
     * nobody can trust a CA whose certificate never existed, so start over. */
    EVP_PKEY_free(key);
    key = gen_key();
    if (!key) {
        rc = ssl_err(err, -EIO, "generating the CA key", key_path);
        goto out;
    }
    rc = issue(key, "bosun-ca", NULL, NULL, PKI_CA_DAYS, true, NULL, NULL, &ca, crt_path, err);
    if (rc < 0)
        goto out;
    rc = write_pem(key_path, true, NULL, key, err);
    if (rc < 0)
        goto out;
    rc = write_pem(crt_path, false, ca, NULL, err);
    if (rc < 0)
        goto out;
    *regenerated = true;
done:
    *ca_out = ca;
    *key_out = key;
    return 0;
out:
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

static int ensure_server(const char *crt_path, const char *key_path, X509 *ca, EVP_PKEY *ca_key,
                         bool force, const char *const *ips, const char *const *dns,
                         struct bosun_err *err)
{
    X509 *srv = NULL;
    EVP_PKEY *key = NULL;
    int r = 0;
    if (!force) {
        /* Anything unreadable here is simply replaced: clients trust the CA, not this. */
        bool loaded = load_cert(crt_path, &srv, NULL) == 0 && load_key(key_path, &key, NULL) == 0;
        if (loaded && server_cert_ok(ca, srv, key, ips, dns))
            goto out;
        X509_free(srv);
        srv = NULL;
        EVP_PKEY_free(key);
        key = NULL;
    }
    key = gen_key();
    if (!key) {
        r = ssl_err(err, -EIO, "generating the server key", key_path);
        goto out;
    }
    r = issue(key, "bosun-apiserver", ca, ca_key, PKI_SERVER_DAYS, false, ips, dns, &srv, crt_path,
              err);
    if (r < 0)
        goto out;
    /* Key first: a crash between the two leaves a mismatched pair, which the next run
     * detects (X509_check_private_key) and replaces. */
    r = write_pem(key_path, true, NULL, key, err);
    if (r < 0)
        goto out;
    r = write_pem(crt_path, false, srv, NULL, err);
out:
    X509_free(srv);
    EVP_PKEY_free(key);
    return r;
}

int pki_ensure(const char *dir, const char *const *ip_sans, const char *const *dns_sans,
               struct bosun_err *err)
{
    int r = check_sans(ip_sans, dns_sans, err);
    if (r < 0)
        return r;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_errno(err, -errno, "pki: mkdir %s", dir);
    struct stat st;
    if (stat(dir, &st) != 0)
        return err_errno(err, -errno, "pki: %s", dir);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "pki: %s is not a directory", dir);

    char *ca_crt = path_join(dir, PKI_CA_CERT);
    char *ca_key_path = path_join(dir, PKI_CA_KEY);
    char *srv_crt = path_join(dir, PKI_SERVER_CERT);
    char *srv_key = path_join(dir, PKI_SERVER_KEY);
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    bool fresh_ca = false;
    if (!ca_crt || !ca_key_path || !srv_crt || !srv_key) {
        r = err_set(err, -ENOMEM, "pki: out of memory");
        goto out;
    }
    r = ensure_ca(ca_crt, ca_key_path, &ca, &ca_key, &fresh_ca, err);
    if (r < 0)
        goto out;
    r = ensure_server(srv_crt, srv_key, ca, ca_key, fresh_ca, ip_sans, dns_sans, err);
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    free(ca_crt);
    free(ca_key_path);
    free(srv_crt);
    free(srv_key);
    return r;
}

int pki_base64_file(const char *path, char **out, struct bosun_err *err)
{
    char *data = NULL;
    size_t len = 0;
    int r = fileutil_read_all(path, PKI_PEM_MAX, &data, &len, err);
    if (r < 0)
        return err_wrap(err, "pki");
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!b64) {
        free(data);
        return err_set(err, -ENOMEM, "pki: out of memory");
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)len);
    free(data);
    *out = b64;
    return 0;
}

int pki_base64_decode(const char *b64, char **out, size_t *len, struct bosun_err *err)
{
    size_t n = strlen(b64);
    if (n > INT_MAX)
        return err_set(err, -EINVAL, "pki: base64 data too large");
    /* The streaming decoder accepts line breaks, which EVP_DecodeBlock does not. */
    unsigned char *buf = malloc(n / 4 * 3 + 80);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int r = 0;
    if (!buf || !ctx) {
        r = err_set(err, -ENOMEM, "pki: out of memory");
        goto out;
    }
    int got = 0, tail = 0;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &got, (const unsigned char *)b64, (int)n) < 0 ||
        EVP_DecodeFinal(ctx, buf + got, &tail) != 1) {
        r = err_set(err, -EINVAL, "pki: not valid base64");
        goto out;
    }
    buf[got + tail] = '\0';
    if (len)
        *len = (size_t)(got + tail);
    *out = (char *)buf;
    buf = NULL;
out:
    free(buf);
    EVP_ENCODE_CTX_free(ctx);
    return r;
}
