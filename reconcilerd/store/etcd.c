/* etcd — the store on etcd v3 through its JSON gateway (grpc-gateway: int64 fields are
 * decimal strings, bytes are base64, zero values are left out). */
#include "reconcilerd/store/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "reconcilerd/store/record.h"

#define ETCD_MAX_ENDPOINTS 16
#define ETCD_TIMEOUT_MS 15000L
#define ETCD_LIST_PAGE 5000
#define ETCD_MAX_RESPONSE (256u << 20)

struct store_etcd {
    char *endpoints[ETCD_MAX_ENDPOINTS];
    size_t n_ep;
    atomic_size_t cur_ep; /* the endpoint that answered last */
    char *prefix;
    size_t prefix_len;
    _Atomic uint64_t last_rev;

    pthread_mutex_t mu; /* pool and watches */
    pthread_cond_t cv;
    CURL **pool;
    size_t npool, cappool;
    struct store_etcd_watch *watches;
    size_t async_live; /* detached watches whose threads have not exited yet */
};

/* ---- base64 ------------------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes a NUL-terminated base64 string; *out is NUL-terminated, the caller's. */
static int b64_decode(const char *in, char **out, size_t *out_len)
{
    size_t len = strlen(in);
    char *buf = malloc(len / 4 * 3 + 4);
    if (!buf)
        return -ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=')
            break;
        int v = b64_val(in[i]);
        if (v < 0) {
            free(buf);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)(acc >> bits);
        }
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- HTTP --------------------------------------------------------------------------- */

struct membuf {
    char *p;
    size_t len, cap;
};

static size_t membuf_write(char *data, size_t sz, size_t nm, void *ud)
{
    struct membuf *b = ud;
    size_t n = sz * nm;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > ETCD_MAX_RESPONSE)
            return 0;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static CURL *pool_get(struct store_etcd *e)
{
    CURL *c = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->npool)
        c = e->pool[--e->npool];
    pthread_mutex_unlock(&e->mu);
    return c ? c : curl_easy_init();
}

static void pool_put(struct store_etcd *e, CURL *c)
{
    pthread_mutex_lock(&e->mu);
    if (e->npool == e->cappool) {
        size_t cap = e->cappool ? e->cappool * 2 : 16;
        CURL **p = realloc(e->pool, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&e->mu);
            curl_easy_cleanup(c);
            return;
        }
        e->pool = p;
        e->cappool = cap;
    }
    e->pool[e->npool++] = c;
    pthread_mutex_unlock(&e->mu);
}

/* POSTs req (borrowed) to path on the first endpoint that answers; *resp = the parsed
 * answer (new reference). A gRPC error in the answer is returned as -EIO with etcd's
 * message; *grpc_code (may be NULL) gets its code. */
static int etcd_call(struct store_etcd *e, const char *path, const json_t *req, json_t **resp,
                     int *grpc_code, struct bosun_err *err)
{
    char *body = jsonx_dumps(req);
    if (!body)
        return err_errno(err, -ENOMEM, "etcd %s", path);
    CURL *c = pool_get(e);
    if (!c) {
        free(body);
        return err_errno(err, -ENOMEM, "etcd %s", path);
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    struct membuf b = {0};
    int r = -ECONNREFUSED;
    char cause[CURL_ERROR_SIZE + 256] = "no endpoint";
    size_t start = atomic_load(&e->cur_ep);
    for (size_t k = 0; k < e->n_ep; k++) {
        size_t ep = (start + k) % e->n_ep;
        char url[512];
        char ebuf[CURL_ERROR_SIZE] = "";
        snprintf(url, sizeof(url), "%s%s", e->endpoints[ep], path);
        b.len = 0;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ETCD_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        CURLcode cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
            snprintf(cause, sizeof(cause), "%s: %s", e->endpoints[ep],
                     ebuf[0] ? ebuf : curl_easy_strerror(cc));
            r = cc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
                : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                                                 : -EIO;
            continue;
        }
        atomic_store(&e->cur_ep, ep);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        json_error_t je;
        json_t *v = b.p ? json_loadb(b.p, b.len, 0, &je) : NULL;
        if (!v) {
            r = -EIO;
            snprintf(cause, sizeof(cause), "%s: HTTP %ld: unreadable answer", e->endpoints[ep],
                     status);
            break;
        }
        json_t *code = json_object_get(v, "code");
        if (status != 200 || code) {
            const char *msg = json_string_value(json_object_get(v, "message"));
            if (!msg)
                msg = json_string_value(json_object_get(v, "error"));
            if (grpc_code)
                *grpc_code = (int)json_integer_value(code);
            snprintf(cause, sizeof(cause), "%s: HTTP %ld: %s", e->endpoints[ep], status,
                     msg ? msg : "error");
            json_decref(v);
            r = -EIO;
            break;
        }
        json_t *hdr_rev = json_object_get(json_object_get(v, "header"), "revision");
        if (json_is_string(hdr_rev)) {
            uint64_t rv = strtoull(json_string_value(hdr_rev), NULL, 10);
            uint64_t seen = atomic_load(&e->last_rev);
            while (rv > seen && !atomic_compare_exchange_weak(&e->last_rev, &seen, rv))
                ;
        }
        *resp = v;
        r = 0;
        break;
    }
    curl_slist_free_all(hdrs);
    pool_put(e, c);
    free(b.p);
    free(body);
    if (r)
        return err_set(err, r, "etcd %s: %s", path, cause);
    return 0;
}

/* ---- keys and values ---------------------------------------------------------------- */

static char *full_key(struct store_etcd *e, const char *key)
{
    size_t kl = strlen(key);
    char *k = malloc(e->prefix_len + kl + 1);
    if (k) {
        memcpy(k, e->prefix, e->prefix_len);
        memcpy(k + e->prefix_len, key, kl + 1);
    }
    return k;
}

/* etcd's range_end for "every key starting with p": p with its last byte incremented. */
static char *range_end(const char *p)
{
    size_t n = strlen(p);
    char *r = strdup(p);
    if (!r)
        return NULL;
    while (n > 0) {
        if ((unsigned char)r[n - 1] < 0xff) {
            r[n - 1]++;
            r[n] = '\0';
            return r;
        }
        n--;
    }
    r[0] = '\0'; /* "\0": every key */
    return r;
}

static json_t *b64_json(const char *s, size_t len)
{
    char *b = b64_encode(s, len);
    json_t *j = b ? json_string_nocheck(b) : NULL; /* copies */
    free(b);
    return j;
}

static json_t *b64_json_str(const char *s)
{
    char *b = b64_encode(s, strlen(s));
    json_t *j = b ? json_string(b) : NULL;
    free(b);
    return j;
}

static uint64_t jint(const json_t *o, const char *field)
{
    const char *s = json_string_value(json_object_get(o, field));
    return s ? strtoull(s, NULL, 10) : (uint64_t)json_integer_value(json_object_get(o, field));
}

/* A decoded kv: key without the prefix, value with rev spliced in as resourceVersion. */
struct kv {
    char *key;       /* full key, decoded */
    const char *rel; /* key after the prefix */
    char *json;      /* value with resourceVersion */
    size_t json_len;
    uint64_t mod_rev;
    uint64_t create_rev;
};

static void kv_done(struct kv *kv)
{
    free(kv->key);
    free(kv->json);
    memset(kv, 0, sizeof(*kv));
}

/* Decodes kv; stamps its value with stamp_rev (0: its own mod_revision). */
static int kv_decode(struct store_etcd *e, const json_t *o, uint64_t stamp_rev, struct kv *out,
                     struct bosun_err *err)
{
    char *val = NULL;
    size_t kl = 0, vl = 0;
    memset(out, 0, sizeof(*out));
    const char *kb = json_string_value(json_object_get(o, "key"));
    const char *vb = json_string_value(json_object_get(o, "value"));
    if (!kb || b64_decode(kb, &out->key, &kl) < 0)
        return err_set(err, -EIO, "etcd: undecodable key in an answer");
    out->rel = kl >= e->prefix_len ? out->key + e->prefix_len : out->key;
    out->mod_rev = jint(o, "mod_revision");
    out->create_rev = jint(o, "create_revision");
    if (b64_decode(vb ? vb : "", &val, &vl) < 0) {
        int r = err_set(err, -EIO, "etcd: %s: undecodable value", out->rel);
        kv_done(out);
        return r;
    }
    size_t meta_off;
    if (store_json_meta_off(val, vl, &meta_off) < 0) {
        free(val);
        int r =
            err_set(err, -EUCLEAN, "etcd: %s: value is not a JSON object with metadata", out->rel);
        kv_done(out);
        return r;
    }
    out->json = malloc(vl + STORE_RV_SPLICE_MAX + 1);
    if (!out->json) {
        free(val);
        kv_done(out);
        return err_errno(err, -ENOMEM, "etcd");
    }
    uint32_t rv_off;
    uint8_t rv_len;
    out->json_len = store_rv_splice(out->json, val, vl, meta_off,
                                    stamp_rev ? stamp_rev : out->mod_rev, &rv_off, &rv_len);
    out->json[out->json_len] = '\0';
    free(val);
    return 0;
}

static json_t *kv_tree(const struct kv *kv)
{
    return json_loadb(kv->json, kv->json_len, 0, NULL);
}

/* ---- open / close ------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int store_etcd_open(const struct store_opts *opts, struct store_etcd **out, struct bosun_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    struct store_etcd *e = calloc(1, sizeof(*e));
    if (!e)
        return err_errno(err, -ENOMEM, "store: etcd");
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int r = 0;
    const char *p = opts->etcd_endpoints;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n) {
            if (e->n_ep == ETCD_MAX_ENDPOINTS) {
                r = err_set(err, -EINVAL, "store: etcd: more than %d endpoints",
                            ETCD_MAX_ENDPOINTS);
                goto out;
            }
            while (n > 1 && p[n - 1] == '/')
                n--; /* "http://h:2379/" */
            e->endpoints[e->n_ep] = strndup(p, n);
            if (!e->endpoints[e->n_ep++]) {
                r = err_errno(err, -ENOMEM, "store: etcd");
                goto out;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!e->n_ep) {
        r = err_set(err, -EINVAL, "store: etcd: no endpoint in \"%s\"", opts->etcd_endpoints);
        goto out;
    }
    e->prefix = strdup(opts->etcd_prefix && *opts->etcd_prefix ? opts->etcd_prefix : "/bosun/");
    if (!e->prefix) {
        r = err_errno(err, -ENOMEM, "store: etcd");
        goto out;
    }
    e->prefix_len = strlen(e->prefix);
    json_t *req = json_object();
    json_t *resp = NULL;
    r = etcd_call(e, "/v3/maintenance/status", req, &resp, NULL, err);
    json_decref(req);
    json_decref(resp);
    if (r) {
        err_wrap(err, "store: open etcd %s", opts->etcd_endpoints);
        goto out;
    }
    store_etcd_revision(e);
    *out = e;
    e = NULL;
out:
    store_etcd_close(e);
    return r;
}

/* ---- reads -------------------------------------------------------------------------- */

uint64_t store_etcd_revision(struct store_etcd *e)
{
    json_t *req = json_pack("{s:o,s:b}", "key", b64_json_str(e->prefix), "count_only", 1);
    json_t *resp = NULL;
    if (req && etcd_call(e, "/v3/kv/range", req, &resp, NULL, NULL) == 0)
        json_decref(resp); /* etcd_call recorded header.revision */
    json_decref(req);
    return atomic_load(&e->last_rev);
}

int store_etcd_get(struct store_etcd *e, const char *key, json_t **out, char **out_json,
                   size_t *out_len, uint64_t *out_rev, struct bosun_err *err)
{
    char *fk = full_key(e, key);
    json_t *req = fk ? json_pack("{s:o}", "key", b64_json_str(fk)) : NULL;
    json_t *resp = NULL;
    struct kv kv = {0};
    int r;
    if (!req) {
        r = err_errno(err, -ENOMEM, "store: get %s", key);
        goto out;
    }
    r = etcd_call(e, "/v3/kv/range", req, &resp, NULL, err);
    if (r) {
        err_wrap(err, "store: get %s", key);
        goto out;
    }
    json_t *kvs = json_object_get(resp, "kvs");
    if (json_array_size(kvs) == 0) {
        r = err_set(err, -ENOENT, "store: get %s: not found", key);
        goto out;
    }
    r = kv_decode(e, json_array_get(kvs, 0), 0, &kv, err);
    if (r) {
        err_wrap(err, "store: get %s", key);
        goto out;
    }
    if (out) {
        json_t *v = kv_tree(&kv);
        if (!v) {
            r = err_set(err, -EUCLEAN, "store: get %s: value is not valid JSON", key);
            goto out;
        }
        *out = v;
    }
    if (out_json) {
        *out_json = kv.json;
        kv.json = NULL;
    }
    if (out_len)
        *out_len = kv.json_len;
    if (out_rev)
        *out_rev = kv.mod_rev;
out:
    kv_done(&kv);
    json_decref(req);
    json_decref(resp);
    free(fk);
    return r;
}

int store_etcd_list(struct store_etcd *e, const char *prefix, store_list_fn fn,
                    store_list_raw_fn rfn, void *userdata, uint64_t *out_rev, struct bosun_err *err)
{
    char *fp = full_key(e, prefix);
    char *end = fp ? range_end(fp) : NULL;
    char *from = fp ? b64_encode(fp, strlen(fp)) : NULL; /* base64 of the next page's key */
    char *endb = end ? b64_encode(end, strlen(end)) : NULL;
    uint64_t rev = 0;
    int r = 0;
    bool stop = false;
    if (!from || !endb) {
        r = err_errno(err, -ENOMEM, "store: list %s", prefix);
        goto out;
    }
    /* Pages of ETCD_LIST_PAGE keys, all read at the first page's revision: one
     * consistent view without one huge answer. */
    for (;;) {
        json_t *req = json_pack("{s:s,s:s,s:I}", "key", from, "range_end", endb, "limit",
                                (json_int_t)ETCD_LIST_PAGE);
        if (req && rev) {
            char rs[24];
            snprintf(rs, sizeof(rs), "%" PRIu64, rev);
            json_object_set_new(req, "revision", json_string(rs));
        }
        json_t *resp = NULL;
        r = req ? etcd_call(e, "/v3/kv/range", req, &resp, NULL, err)
                : err_errno(err, -ENOMEM, "store: list");
        json_decref(req);
        if (r) {
            err_wrap(err, "store: list %s", prefix);
            goto out;
        }
        if (!rev)
            rev = jint(json_object_get(resp, "header"), "revision");
        json_t *kvs = json_object_get(resp, "kvs");
        size_t i;
        json_t *o;
        char *last = NULL;
        size_t last_len = 0;
        json_array_foreach(kvs, i, o)
        {
            struct kv kv;
            r = kv_decode(e, o, 0, &kv, err);
            if (r) {
                err_wrap(err, "store: list %s", prefix);
                break;
            }
            int stop_now;
            if (rfn) {
                stop_now = rfn(kv.rel, kv.json, kv.json_len, kv.mod_rev, userdata);
            } else {
                json_t *v = kv_tree(&kv);
                if (!v) {
                    r = err_set(err, -EUCLEAN, "store: list %s: %s is not valid JSON", prefix,
                                kv.rel);
                    kv_done(&kv);
                    break;
                }
                stop_now = fn(kv.rel, v, kv.mod_rev, userdata);
                json_decref(v);
            }
            free(last);
            last = kv.key;
            last_len = strlen(kv.key);
            kv.key = NULL;
            kv_done(&kv);
            if (stop_now) {
                stop = true;
                break;
            }
        }
        bool more = json_is_true(json_object_get(resp, "more"));
        json_decref(resp);
        if (r || stop || !more || !last) {
            free(last);
            break;
        }
        /* The next page starts at the smallest key after `last`: last + "\0" (the NUL is
         * one of the encoded bytes). */
        free(from);
        from = b64_encode(last, last_len + 1);
        free(last);
        if (!from) {
            r = err_errno(err, -ENOMEM, "store: list %s", prefix);
            goto out;
        }
    }
    if (r == 0 && out_rev)
        *out_rev = rev;
out:
    free(fp);
    free(end);
    free(from);
    free(endb);
    return r;
}

/* ---- writes ------------------------------------------------------------------------- */

static const char *op_verb(enum store_etcd_op op)
{
    return op == STORE_ETCD_CREATE ? "create" : op == STORE_ETCD_UPDATE ? "update" : "delete";
}

static json_t *rev_str(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRIu64, v);
    return json_string(b);
}

int store_etcd_write(struct store_etcd *e, enum store_etcd_op op, const char *key,
                     const json_t *value, uint64_t expected_rev, json_t **out,
                     struct bosun_err *err)
{
    const char *verb = op_verb(op);
    json_t *copy = NULL;
    json_t *txn = NULL;
    json_t *resp = NULL;
    char *js = NULL;
    char *fk = NULL;
    struct kv kv = {0};
    int r = 0;
    size_t key_len = key ? strlen(key) : 0;
    if (key_len == 0 || key_len > STORE_MAX_KEY)
        return err_set(err, -EINVAL, "store: %s: key must be 1 to %d bytes", verb, STORE_MAX_KEY);
    if (op != STORE_ETCD_DELETE) {
        if (!json_is_object(value))
            return err_set(err, -EINVAL, "store: %s %s: value is not a JSON object", verb, key);
        copy = json_deep_copy(value);
        json_t *meta = copy ? jsonx_ensure_obj(copy, "metadata") : NULL;
        if (!meta) {
            r = copy ? err_set(err, -EINVAL, "store: %s %s: metadata is not an object", verb, key)
                     : err_errno(err, -ENOMEM, "store: %s %s", verb, key);
            goto out;
        }
        /* Stored without resourceVersion: it is the key's mod_revision, known after. */
        json_object_del(meta, "resourceVersion");
        js = jsonx_dumps(copy);
        if (!js) {
            r = err_errno(err, -ENOMEM, "store: %s %s", verb, key);
            goto out;
        }
        if (strlen(js) > STORE_MAX_VALUE) {
            r = err_set(err, -EFBIG, "store: %s %s: value is %zu bytes, the limit is %u", verb, key,
                        strlen(js), STORE_MAX_VALUE);
            goto out;
        }
    }
    fk = full_key(e, key);
    json_t *kb = fk ? b64_json_str(fk) : NULL;
    if (!kb) {
        r = err_errno(err, -ENOMEM, "store: %s %s", verb, key);
        goto out;
    }
    json_t *cmp;
    if (op == STORE_ETCD_CREATE)
        cmp = json_pack("{s:O,s:s,s:s,s:s}", "key", kb, "target", "CREATE", "result", "EQUAL",
                        "create_revision", "0");
    else if (expected_rev)
        cmp = json_pack("{s:O,s:s,s:s,s:o}", "key", kb, "target", "MOD", "result", "EQUAL",
                        "mod_revision", rev_str(expected_rev));
    else
        cmp = json_pack("{s:O,s:s,s:s,s:s}", "key", kb, "target", "CREATE", "result", "GREATER",
                        "create_revision", "0");
    json_t *success;
    if (op == STORE_ETCD_DELETE)
        success = json_pack("{s:{s:O,s:b}}", "request_delete_range", "key", kb, "prev_kv", 1);
    else
        success =
            json_pack("{s:{s:O,s:o}}", "request_put", "key", kb, "value", b64_json(js, strlen(js)));
    json_t *failure = op == STORE_ETCD_CREATE
                          ? json_array()
                          : json_pack("[{s:{s:O}}]", "request_range", "key", kb);
    txn = json_pack("{s:[o],s:[o],s:o}", "compare", cmp, "success", success, "failure", failure);
    json_decref(kb);
    if (!txn) {
        r = err_errno(err, -ENOMEM, "store: %s %s", verb, key);
        goto out;
    }
    r = etcd_call(e, "/v3/kv/txn", txn, &resp, NULL, err);
    if (r) {
        err_wrap(err, "store: %s %s", verb, key);
        goto out;
    }
    uint64_t rev = jint(json_object_get(resp, "header"), "revision");
    json_t *responses = json_object_get(resp, "responses");
    if (!json_is_true(json_object_get(resp, "succeeded"))) {
        if (op == STORE_ETCD_CREATE) {
            r = err_set(err, -EEXIST, "store: create %s: already exists", key);
            goto out;
        }
        json_t *kvs =
            json_object_get(json_object_get(json_array_get(responses, 0), "response_range"), "kvs");
        if (json_array_size(kvs) == 0) {
            r = err_set(err, -ENOENT, "store: %s %s: not found", verb, key);
            goto out;
        }
        r = err_set(err, -ESTALE,
                    "store: %s %s: resourceVersion %" PRIu64 " is stale, the object is at %" PRIu64,
                    verb, key, expected_rev, jint(json_array_get(kvs, 0), "mod_revision"));
        goto out;
    }
    if (!out)
        goto out;
    if (op == STORE_ETCD_DELETE) {
        json_t *prev = json_array_get(
            json_object_get(json_object_get(json_array_get(responses, 0), "response_delete_range"),
                            "prev_kvs"),
            0);
        if (!prev) {
            /* deleted between our compare and... cannot happen in one txn; be safe */
            r = err_set(err, -ENOENT, "store: delete %s: not found", key);
            goto out;
        }
        r = kv_decode(e, prev, rev, &kv, err);
        if (r) {
            err_wrap(err, "store: delete %s", key);
            goto out;
        }
        json_t *v = kv_tree(&kv);
        if (!v) {
            r = err_set(err, -EUCLEAN, "store: delete %s: value is not valid JSON", key);
            goto out;
        }
        *out = v;
    } else {
        json_t *meta = json_object_get(copy, "metadata");
        if (json_object_set_new(meta, "resourceVersion", rev_str(rev)) < 0) {
            r = err_errno(err, -ENOMEM, "store: %s %s: copying the result", verb, key);
            goto out;
        }
        *out = copy;
        copy = NULL;
    }
out:
    kv_done(&kv);
    json_decref(copy);
    json_decref(txn);
    json_decref(resp);
    free(js);
    free(fk);
    return r;
}

/* ---- watch -------------------------------------------------------------------------- */

struct store_etcd_watch {
    struct store_etcd *e;
    char *prefix; /* the caller's, without the etcd prefix */
    char *key_b64, *end_b64;
    bool raw;
    store_watch_fn fn;
    void *userdata;
    uint64_t next_rev; /* start_revision for the next (re)connection */
    pthread_t thread;
    /* under e->mu */
    bool cancelled, async, done;
    curl_socket_t sock;
    struct store_etcd_watch *next;
    /* the stream parser */
    struct membuf buf;
    bool probe;    /* watch_probe's: reads the first answers only, with a timeout */
    int compacted; /* the stream said the start revision is compacted */
    uint64_t compact_rev;
};

static curl_socket_t watch_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct store_etcd_watch *w = ud;
    (void)purpose;
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    pthread_mutex_lock(&w->e->mu);
    w->sock = s;
    if (w->cancelled && s != CURL_SOCKET_BAD) {
        close(s);
        s = w->sock = CURL_SOCKET_BAD;
    }
    pthread_mutex_unlock(&w->e->mu);
    return s;
}

static int watch_close_socket(void *ud, curl_socket_t s)
{
    struct store_etcd_watch *w = ud;
    pthread_mutex_lock(&w->e->mu);
    if (w->sock == s)
        w->sock = CURL_SOCKET_BAD;
    pthread_mutex_unlock(&w->e->mu);
    return close(s);
}

static bool watch_cancelled(struct store_etcd_watch *w)
{
    pthread_mutex_lock(&w->e->mu);
    bool c = w->cancelled;
    pthread_mutex_unlock(&w->e->mu);
    return c;
}

static int watch_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return watch_cancelled(ud) ? 1 : 0;
}

static void deliver(struct store_etcd_watch *w, const json_t *ev)
{
    struct store_etcd *e = w->e;
    bool del = json_is_string(json_object_get(ev, "type")) &&
               strcmp(json_string_value(json_object_get(ev, "type")), "DELETE") == 0;
    json_t *kvj = json_object_get(ev, "kv");
    json_t *pkvj = json_object_get(ev, "prev_kv");
    struct kv cur = {0}, prev = {0};
    struct store_event out = {0};
    json_t *vt = NULL, *pt = NULL;
    struct bosun_err err = {0};
    uint64_t rev = jint(kvj, "mod_revision");
    if (del) {
        if (!pkvj || kv_decode(e, pkvj, rev, &cur, &err) < 0 ||
            kv_decode(e, pkvj, 0, &prev, &err) < 0) {
            log_warn("store: etcd watch %s: delete at %" PRIu64 " without its last state: %s",
                     w->prefix, rev, err.msg);
            goto out;
        }
        out.type = STORE_DELETED;
    } else {
        if (kv_decode(e, kvj, 0, &cur, &err) < 0) {
            log_warn("store: etcd watch %s: %s", w->prefix, err.msg);
            goto out;
        }
        if (pkvj && kv_decode(e, pkvj, 0, &prev, &err) < 0)
            prev.json = NULL;
        out.type = cur.create_rev == cur.mod_rev ? STORE_ADDED : STORE_MODIFIED;
    }
    out.key = cur.rel;
    out.rev = rev;
    out.value_json = cur.json;
    out.value_len = cur.json_len;
    if (out.type != STORE_ADDED && prev.json) {
        out.prev_json = prev.json;
        out.prev_len = prev.json_len;
    }
    if (!w->raw) {
        out.value = vt = kv_tree(&cur);
        if (out.prev_json)
            out.prev = pt = kv_tree(&prev);
    }
    if (!watch_cancelled(w))
        w->fn(&out, w->userdata);
out:
    json_decref(vt);
    json_decref(pt);
    kv_done(&cur);
    kv_done(&prev);
}

/* One message of the stream: {"result": WatchResponse} or {"error": ...}. */
static void watch_message(struct store_etcd_watch *w, const json_t *msg)
{
    json_t *res = json_object_get(msg, "result");
    if (!res) {
        const char *m =
            json_string_value(json_object_get(json_object_get(msg, "error"), "message"));
        log_warn("store: etcd watch %s: %s", w->prefix, m ? m : "stream error");
        return;
    }
    uint64_t compact = jint(res, "compact_revision");
    if (compact) {
        w->compacted = 1;
        w->compact_rev = compact;
        return;
    }
    json_t *evs = json_object_get(res, "events");
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        uint64_t rev = jint(json_object_get(ev, "kv"), "mod_revision");
        if (rev < w->next_rev)
            continue; /* already delivered before a reconnection */
        deliver(w, ev);
        w->next_rev = rev + 1;
    }
}

static size_t watch_write(char *data, size_t sz, size_t nm, void *ud)
{
    struct store_etcd_watch *w = ud;
    size_t n = sz * nm;
    if (membuf_write(data, 1, n, &w->buf) != n)
        return 0;
    /* grpc-gateway writes one JSON message per line */
    size_t start = 0;
    for (size_t i = 0; i < w->buf.len; i++) {
        if (w->buf.p[i] != '\n')
            continue;
        if (i > start) {
            json_t *msg = json_loadb(w->buf.p + start, i - start, 0, NULL);
            if (msg) {
                watch_message(w, msg);
                json_decref(msg);
            }
        }
        start = i + 1;
        if (w->compacted || watch_cancelled(w))
            return 0; /* ends the transfer */
    }
    memmove(w->buf.p, w->buf.p + start, w->buf.len - start);
    w->buf.len -= start;
    return n;
}

/* Streams events from w->next_rev until the stream ends; returns 0 when it ended
 * because of cancellation or compaction, -EIO when the connection broke. */
static int watch_stream(struct store_etcd_watch *w)
{
    struct store_etcd *e = w->e;
    char start[24];
    snprintf(start, sizeof(start), "%" PRIu64, w->next_rev);
    json_t *req = json_pack("{s:{s:s,s:s,s:s,s:b}}", "create_request", "key", w->key_b64,
                            "range_end", w->end_b64, "start_revision", start, "prev_kv", 1);
    char *body = req ? jsonx_dumps(req) : NULL;
    json_decref(req);
    if (!body)
        return -ENOMEM;
    CURL *c = curl_easy_init();
    if (!c) {
        free(body);
        return -ENOMEM;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char url[512];
    snprintf(url, sizeof(url), "%s/v3/watch", e->endpoints[atomic_load(&e->cur_ep) % e->n_ep]);
    w->buf.len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, watch_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, w);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, watch_close_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    if (w->probe)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(body);
    if (w->compacted || watch_cancelled(w))
        return 0;
    if (cc != CURLE_OK)
        log_warn("store: etcd watch %s: %s", w->prefix, curl_easy_strerror(cc));
    return -EIO;
}

static void watch_free(struct store_etcd_watch *w)
{
    free(w->prefix);
    free(w->key_b64);
    free(w->end_b64);
    free(w->buf.p);
    free(w);
}

static void *watch_main(void *arg)
{
    struct store_etcd_watch *w = arg;
    struct store_etcd *e = w->e;
    unsigned delay_ms = 100;
    /* A broken stream is resumed from the next undelivered revision, so the caller
     * still sees every event once; it ends only when cancelled, or when etcd compacted
     * past that revision meanwhile: then the caller is told (STORE_EXPIRED), as a watch
     * from a compacted revision is at its start, so an informer relists at once. */
    while (watch_stream(w) < 0 && !watch_cancelled(w)) {
        usleep(delay_ms * 1000);
        if (delay_ms < 5000)
            delay_ms *= 2;
    }
    if (w->compacted && !watch_cancelled(w)) {
        log_warn("store: etcd watch %s: ended: revision %" PRIu64 " was compacted (%" PRIu64 ")",
                 w->prefix, w->next_rev, w->compact_rev);
        struct store_event expired = {.type = STORE_EXPIRED, .rev = w->compact_rev};
        w->fn(&expired, w->userdata);
    }
    pthread_mutex_lock(&e->mu);
    w->done = true;
    bool async = w->async;
    if (async) {
        struct store_etcd_watch **pp = &e->watches;
        while (*pp && *pp != w)
            pp = &(*pp)->next;
        if (*pp)
            *pp = w->next;
        e->async_live--;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    if (async)
        watch_free(w);
    return NULL;
}

/* Reads the start of a watch from from_rev + 1 synchronously to learn whether etcd still
 * has it: 0, or -ERANGE with *compact_rev. */
static int watch_probe(struct store_etcd *e, const char *key_b64, const char *end_b64,
                       uint64_t from_rev, uint64_t *compact_rev, struct bosun_err *err)
{
    /* A range read at that revision fails once it is compacted; cheap and definite. */
    char rs[24];
    snprintf(rs, sizeof(rs), "%" PRIu64, from_rev + 1);
    json_t *req = json_pack("{s:s,s:s,s:s,s:b,s:I}", "key", key_b64, "range_end", end_b64,
                            "revision", rs, "count_only", 1, "limit", (json_int_t)1);
    json_t *resp = NULL;
    int code = 0;
    struct bosun_err e2 = {0};
    int r = req ? etcd_call(e, "/v3/kv/range", req, &resp, &code, &e2) : -ENOMEM;
    json_decref(req);
    json_decref(resp);
    if (r == 0)
        return 0;
    /* OutOfRange (11) is both "compacted" and "future revision" (nothing written after
     * from_rev yet: a watch from now) */
    if (code != 11 || !strstr(e2.msg, "compacted")) {
        if (code == 11)
            return 0;
        return err_set(err, r, "%s", e2.msg);
    }
    /* The compact revision itself comes only with a watch: open one, read its answer. */
    struct store_etcd_watch probe = {
        .e = e, .next_rev = from_rev + 1, .sock = CURL_SOCKET_BAD, .probe = true};
    probe.prefix = strdup("(probe)");
    probe.key_b64 = strdup(key_b64);
    probe.end_b64 = strdup(end_b64);
    if (probe.prefix && probe.key_b64 && probe.end_b64)
        watch_stream(&probe);
    *compact_rev = probe.compact_rev;
    free(probe.prefix);
    free(probe.key_b64);
    free(probe.end_b64);
    free(probe.buf.p);
    return -ERANGE;
}

int store_etcd_watch(struct store_etcd *e, const char *prefix, uint64_t from_rev, bool raw,
                     store_watch_fn fn, void *userdata, struct store_etcd_watch **out,
                     struct bosun_err *err)
{
    struct store_etcd_watch *w = calloc(1, sizeof(*w));
    char *fp = full_key(e, prefix);
    char *end = fp ? range_end(fp) : NULL;
    int r = 0;
    if (!w || !end || !(w->prefix = strdup(prefix)) || !(w->key_b64 = b64_encode(fp, strlen(fp))) ||
        !(w->end_b64 = b64_encode(end, strlen(end)))) {
        r = err_errno(err, -ENOMEM, "store: watch %s", prefix);
        goto out;
    }
    w->e = e;
    w->raw = raw;
    w->fn = fn;
    w->userdata = userdata;
    w->sock = CURL_SOCKET_BAD;
    if (from_rev == 0)
        from_rev = store_etcd_revision(e);
    w->next_rev = from_rev + 1;
    uint64_t compact = 0;
    r = watch_probe(e, w->key_b64, w->end_b64, from_rev, &compact, err);
    if (r == -ERANGE) {
        err_set(err, -ERANGE, "too old resource version: %" PRIu64 " (%" PRIu64 ")", from_rev,
                compact ? compact - 1 : 0);
        goto out;
    }
    if (r) {
        err_wrap(err, "store: watch %s", prefix);
        goto out;
    }
    pthread_mutex_lock(&e->mu);
    r = pthread_create(&w->thread, NULL, watch_main, w);
    if (r == 0) {
        w->next = e->watches;
        e->watches = w;
    }
    pthread_mutex_unlock(&e->mu);
    if (r) {
        r = err_errno(err, -r, "store: watch %s: start thread", prefix);
        goto out;
    }
    *out = w;
    w = NULL;
out:
    if (w)
        watch_free(w);
    free(fp);
    free(end);
    return r;
}

/* With e->mu held: stop w's stream now (its socket is shut down, the transfer ends). */
static void watch_stop_locked(struct store_etcd_watch *w)
{
    w->cancelled = true;
    if (w->sock != CURL_SOCKET_BAD)
        shutdown(w->sock, SHUT_RDWR);
}

void store_etcd_watch_cancel(struct store_etcd_watch *w, bool async)
{
    if (!w)
        return;
    struct store_etcd *e = w->e;
    if (!async && pthread_equal(pthread_self(), w->thread))
        async = true; /* from inside fn: waiting for ourselves would deadlock */
    pthread_mutex_lock(&e->mu);
    watch_stop_locked(w);
    if (async && !w->done) {
        w->async = true;
        e->async_live++;
        pthread_detach(w->thread);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    struct store_etcd_watch **pp = &e->watches;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
        *pp = w->next;
    pthread_mutex_unlock(&e->mu);
    pthread_join(w->thread, NULL);
    watch_free(w);
}

void store_etcd_close(struct store_etcd *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    for (struct store_etcd_watch *w = e->watches; w; w = w->next)
        watch_stop_locked(w);
    /* joinable watches are the caller's to cancel, but a close cancels them too */
    for (;;) {
        struct store_etcd_watch *w = e->watches;
        while (w && w->async)
            w = w->next;
        if (!w)
            break;
        struct store_etcd_watch **pp = &e->watches;
        while (*pp != w)
            pp = &(*pp)->next;
        *pp = w->next;
        pthread_mutex_unlock(&e->mu);
        pthread_join(w->thread, NULL);
        watch_free(w);
        pthread_mutex_lock(&e->mu);
    }
    while (e->async_live)
        pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < e->npool; i++)
        curl_easy_cleanup(e->pool[i]);
    free(e->pool);
    for (size_t i = 0; i < e->n_ep; i++)
        free(e->endpoints[i]);
    free(e->prefix);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
