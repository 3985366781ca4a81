#include "reconcilerd/api/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* One range: IPs (index = offset in the CIDR) or node ports (index = port - low). */
struct range {
    unsigned char *bits; /* taken (private) or believed taken (shared: the hint) */
    uint32_t n;          /* indexes 0..n-1 */
    uint32_t first, last;/* the indexes that may be handed out */
    uint32_t next;       /* where the next search starts */
    const char *prefix;  /* claim keys */
    const char *kind;    /* claim kind */
    bool is_ip;
};

struct api_alloc {
    pthread_mutex_t mu; /* bits and next of both ranges */
    struct store *shared;
    uint32_t net; /* host order */
    int port_lo, port_hi;
    struct range ips, ports;
    char cidr_s[64], ports_s[32];
};

static int bit_get(const unsigned char *m, uint32_t i)
{
    return (m[i / 8] >> (i % 8)) & 1;
}
static void bit_set(unsigned char *m, uint32_t i, int v)
{
    if (v)
        m[i / 8] |= (unsigned char)(1u << (i % 8));
    else
        m[i / 8] &= (unsigned char)~(1u << (i % 8));
}

int api_alloc_new(const char *cidr, const char *ports, struct store *shared,
                  struct api_alloc **out, struct bosun_err *err)
{
    char ip[64];
    int prefix;
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
        return err_set(err, -EINVAL, "service CIDR %s: want A.B.C.D/N", cidr);
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    char *end;
    prefix = (int)strtol(slash + 1, &end, 10);
    struct in_addr in;
    if (*end || inet_pton(AF_INET, ip, &in) != 1 || prefix < 8 || prefix > 30)
        return err_set(err, -EINVAL, "service CIDR %s: want A.B.C.D/N with N in 8..30", cidr);
    int lo, hi;
    char tail;
    if (sscanf(ports, "%d-%d%c", &lo, &hi, &tail) != 2 || lo < 1 || hi > 65535 || lo > hi)
        return err_set(err, -EINVAL, "node port range %s: want LOW-HIGH within 1-65535", ports);
    struct api_alloc *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(err, -ENOMEM, "out of memory");
    a->shared = shared;
    uint32_t size = 1u << (32 - prefix);
    a->net = ntohl(in.s_addr) & ~(size - 1);
    a->ips = (struct range){.n = size, .first = 1, .last = size - 2, .next = 1,
                            .prefix = "/ranges/serviceips/", .kind = "ServiceIPClaim",
                            .is_ip = true};
    a->port_lo = lo;
    a->port_hi = hi;
    a->ports = (struct range){.n = (uint32_t)(hi - lo + 1), .first = 0,
                              .last = (uint32_t)(hi - lo), .next = 0,
                              .prefix = "/ranges/servicenodeports/",
                              .kind = "ServiceNodePortClaim"};
    a->ips.bits = calloc(a->ips.n / 8 + 1, 1);
    a->ports.bits = calloc(a->ports.n / 8 + 1, 1);
    pthread_mutex_init(&a->mu, NULL);
    if (!a->ips.bits || !a->ports.bits) {
        api_alloc_free(a);
        return err_set(err, -ENOMEM, "out of memory");
    }
    snprintf(a->cidr_s, sizeof(a->cidr_s), "%s", cidr);
    snprintf(a->ports_s, sizeof(a->ports_s), "%d-%d", lo, hi);
    *out = a;
    return 0;
}

void api_alloc_free(struct api_alloc *a)
{
    if (!a)
        return;
    free(a->ips.bits);
    free(a->ports.bits);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const char *api_alloc_cidr(const struct api_alloc *a)
{
    return a->cidr_s;
}
const char *api_alloc_ports(const struct api_alloc *a)
{
    return a->ports_s;
}

/* Offset of ip within the CIDR, or a negative code. */
static int ip_offset(const struct api_alloc *a, const char *ip, uint32_t *off)
{
    struct in_addr in;
    if (!ip || inet_pton(AF_INET, ip, &in) != 1)
        return -EINVAL;
    uint32_t h = ntohl(in.s_addr);
    if ((h & ~(a->ips.n - 1)) != a->net)
        return -ERANGE;
    uint32_t o = h - a->net;
    if (o < a->ips.first || o > a->ips.last)
        return -ERANGE;
    *off = o;
    return 0;
}

static int port_index(const struct api_alloc *a, int port, uint32_t *idx)
{
    if (port < a->port_lo || port > a->port_hi)
        return -ERANGE;
    *idx = (uint32_t)(port - a->port_lo);
    return 0;
}

/* The value at idx as text: "10.96.0.10" or "30080". buf >= 16 bytes. */
static void name_of(const struct api_alloc *a, const struct range *r, uint32_t idx, char *buf,
                    size_t len)
{
    if (r->is_ip) {
        struct in_addr in = {.s_addr = htonl(a->net + idx)};
        inet_ntop(AF_INET, &in, buf, (socklen_t)len);
    } else {
        snprintf(buf, len, "%d", a->port_lo + (int)idx);
    }
}

/* The index of a value given as text; negative when it is not in the range. */
static int index_of(const struct api_alloc *a, const struct range *r, const char *name,
                    uint32_t *idx)
{
    if (r->is_ip)
        return ip_offset(a, name, idx);
    char *end;
    long p = strtol(name, &end, 10);
    if (*end || end == name)
        return -EINVAL;
    return port_index(a, (int)p, idx);
}

static void hint_set(struct api_alloc *a, struct range *r, uint32_t idx, int v)
{
    pthread_mutex_lock(&a->mu);
    bit_set(r->bits, idx, v);
    pthread_mutex_unlock(&a->mu);
}

/* ---- claims in the store (shared mode) ---- */

static void claim_key(const struct range *r, const char *name, char *key, size_t len)
{
    snprintf(key, len, "%s%s", r->prefix, name);
}

/* Creates the claim of name for owner. 0, -EEXIST (whoever holds it), or a store error. */
static int claim_create(struct api_alloc *a, const struct range *r, const char *name,
                        const struct api_alloc_owner *owner, struct bosun_err *err)
{
    char key[128], ts[32];
    claim_key(r, name, key, sizeof(key));
    time_rfc3339(time(NULL), ts, sizeof(ts));
    json_t *v = json_pack("{s:s,s:{s:s,s:s},s:s,s:s}", "kind", r->kind, "metadata", "name",
                          name, "creationTimestamp", ts, "uid",
                          owner && owner->uid ? owner->uid : "", "service",
                          owner && owner->service ? owner->service : "");
    if (!v)
        return err_set(err, -ENOMEM, "out of memory");
    int rc = store_create(a->shared, key, v, NULL, err);
    json_decref(v);
    return rc;
}

/* The owner's uid of name's claim into owner_out; -ENOENT when there is none. */
static int claim_owner(struct api_alloc *a, const struct range *r, const char *name,
                       char *owner_out, size_t len, uint64_t *rev, struct bosun_err *err)
{
    char key[128];
    claim_key(r, name, key, sizeof(key));
    json_t *v = NULL;
    int rc = store_get(a->shared, key, &v, rev, err);
    if (rc)
        return rc;
    const char *o = json_string_value(json_object_get(v, "uid"));
    snprintf(owner_out, len, "%s", o ? o : "");
    json_decref(v);
    return 0;
}

static int hint_fn(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)value;
    (void)mod_rev;
    void **args = ud;
    struct api_alloc *a = args[0];
    struct range *r = args[1];
    uint32_t idx;
    if (!index_of(a, r, key + strlen(r->prefix), &idx))
        bit_set(r->bits, idx, 1);
    return 0;
}

/* Rebuilds r's hint from the claims in the store. */
static int hint_reload(struct api_alloc *a, struct range *r, struct bosun_err *err)
{
    unsigned char *fresh = calloc(r->n / 8 + 1, 1);
    if (!fresh)
        return err_set(err, -ENOMEM, "out of memory");
    struct range tmp = *r;
    tmp.bits = fresh;
    void *args[2] = {a, &tmp};
    int rc = store_list(a->shared, r->prefix, hint_fn, args, NULL, err);
    if (rc) {
        free(fresh);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    unsigned char *old = r->bits;
    r->bits = fresh;
    pthread_mutex_unlock(&a->mu);
    free(old);
    return 0;
}

/* ---- one range, both modes ---- */

static int claim_idx(struct api_alloc *a, struct range *r, uint32_t idx,
                     const struct api_alloc_owner *owner, struct bosun_err *err)
{
    if (!a->shared) {
        int rc = 0;
        pthread_mutex_lock(&a->mu);
        if (bit_get(r->bits, idx))
            rc = -EEXIST;
        else
            bit_set(r->bits, idx, 1);
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    /* Taken means taken, even by a claim of the same Service: that claim's write may still
     * be in flight, and a failed one would give it back. */
    char name[32];
    name_of(a, r, idx, name, sizeof(name));
    int rc = claim_create(a, r, name, owner, err);
    if (rc == 0 || rc == -EEXIST)
        hint_set(a, r, idx, 1);
    return rc;
}

/* The next index the hint shows free (marked taken now), or -ENOSPC. */
static int hint_take_next(struct api_alloc *a, struct range *r, uint32_t *idx)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&a->mu);
    uint32_t span = r->last - r->first + 1;
    for (uint32_t n = 0; n < span; n++) {
        uint32_t i = r->next;
        r->next = i >= r->last ? r->first : i + 1;
        if (i < r->first || i > r->last || bit_get(r->bits, i))
            continue;
        bit_set(r->bits, i, 1);
        *idx = i;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int next_idx(struct api_alloc *a, struct range *r, const struct api_alloc_owner *owner,
                    uint32_t *out, struct bosun_err *err)
{
    bool reloaded = false;
    for (;;) {
        uint32_t idx;
        int rc = hint_take_next(a, r, &idx);
        if (rc == -ENOSPC) {
            if (!a->shared || reloaded)
                return -ENOSPC;
            /* others may have given some back since we last looked */
            if ((rc = hint_reload(a, r, err)))
                return rc;
            reloaded = true;
            continue;
        }
        if (!a->shared) {
            *out = idx;
            return 0;
        }
        char name[32];
        name_of(a, r, idx, name, sizeof(name));
        rc = claim_create(a, r, name, owner, err);
        if (rc == 0) {
            *out = idx;
            return 0;
        }
        if (rc != -EEXIST) {
            hint_set(a, r, idx, 0);
            return rc;
        }
        /* another replica holds it (the hint now says so too): look further */
        err_clear(err);
    }
}

static void release_idx(struct api_alloc *a, struct range *r, uint32_t idx,
                        const struct api_alloc_owner *owner)
{
    if (!a->shared) {
        hint_set(a, r, idx, 0);
        return;
    }
    char name[32], holder[512], key[128];
    struct bosun_err err = {0};
    uint64_t rev = 0;
    name_of(a, r, idx, name, sizeof(name));
    int rc = claim_owner(a, r, name, holder, sizeof(holder), &rev, &err);
    if (rc == 0 && owner && owner->uid && strcmp(holder, owner->uid))
        return; /* another Service's */
    if (rc == 0) {
        claim_key(r, name, key, sizeof(key));
        rc = store_delete(a->shared, key, rev, NULL, &err);
    }
    if (rc == 0 || rc == -ENOENT)
        hint_set(a, r, idx, 0);
    else
        log_warn("service allocations: release %s %s of %s: %s (repaired later)", r->kind, name,
                 owner && owner->service ? owner->service : "?", err.msg);
}

/* ---- the API ---- */

int api_alloc_ip_claim(struct api_alloc *a, const char *ip, const struct api_alloc_owner *owner,
                       struct bosun_err *err)
{
    uint32_t o;
    int rc = ip_offset(a, ip, &o);
    if (rc)
        return rc;
    return claim_idx(a, &a->ips, o, owner, err);
}

int api_alloc_ip_next(struct api_alloc *a, const struct api_alloc_owner *owner, char *buf,
                      size_t len, struct bosun_err *err)
{
    uint32_t o;
    int rc = next_idx(a, &a->ips, owner, &o, err);
    if (rc)
        return rc;
    name_of(a, &a->ips, o, buf, len);
    return 0;
}

void api_alloc_ip_release(struct api_alloc *a, const char *ip, const struct api_alloc_owner *owner)
{
    uint32_t o;
    if (ip_offset(a, ip, &o))
        return;
    release_idx(a, &a->ips, o, owner);
}

int api_alloc_port_claim(struct api_alloc *a, int port, const struct api_alloc_owner *owner,
                         struct bosun_err *err)
{
    uint32_t idx;
    int rc = port_index(a, port, &idx);
    if (rc)
        return rc;
    return claim_idx(a, &a->ports, idx, owner, err);
}

int api_alloc_port_next(struct api_alloc *a, const struct api_alloc_owner *owner, int *port,
                        struct bosun_err *err)
{
    uint32_t idx;
    int rc = next_idx(a, &a->ports, owner, &idx, err);
    if (rc)
        return rc;
    *port = a->port_lo + (int)idx;
    return 0;
}

void api_alloc_port_release(struct api_alloc *a, int port, const struct api_alloc_owner *owner)
{
    uint32_t idx;
    if (port_index(a, port, &idx))
        return;
    release_idx(a, &a->ports, idx, owner);
}

/* ---- sync and repair ---- */

static int list_claims_fn(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    void **args = ud;
    const struct range *r = args[0];
    json_t *claims = args[1];
    time_t created = 0;
    const char *ts = jsonx_get_str(value, "metadata.creationTimestamp");
    if (!ts || time_parse_rfc3339(ts, &created))
        created = 0;
    const char *uid = json_string_value(json_object_get(value, "uid"));
    const char *svc = json_string_value(json_object_get(value, "service"));
    json_object_set_new(claims, key + strlen(r->prefix),
                        json_pack("{s:s,s:s,s:I,s:I}", "uid", uid ? uid : "", "service",
                                  svc ? svc : "", "rev", (json_int_t)mod_rev, "created",
                                  (json_int_t)created));
    return 0;
}

static const char *str_at(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int sync_shared(struct api_alloc *a, struct range *r, const json_t *used, int64_t grace_s,
                       struct bosun_err *err)
{
    json_t *claims = json_object();
    void *args[2] = {r, claims};
    int rc = store_list(a->shared, r->prefix, list_claims_fn, args, NULL, err);
    if (rc)
        goto out;
    const char *name;
    json_t *v;
    /* values with no claim (Services written before claims existed, or by a private-mode
     * reconcilerd): claim them now */
    json_object_foreach((json_t *)used, name, v) {
        json_t *c = json_object_get(claims, name);
        uint32_t idx;
        if (index_of(a, r, name, &idx))
            continue; /* outside the range: nothing to claim */
        if (!c) {
            struct api_alloc_owner o = {str_at(v, "uid"), str_at(v, "service")};
            struct bosun_err e = {0};
            int crc = claim_create(a, r, name, &o, &e);
            if (crc && crc != -EEXIST)
                log_warn("service allocations: claim %s %s for %s: %s", r->kind, name,
                         o.service, e.msg);
        } else if (strcmp(str_at(c, "uid"), str_at(v, "uid"))) {
            log_warn("service allocations: %s %s is used by service %s but claimed for %s",
                     r->kind, name, str_at(v, "service"), str_at(c, "service"));
        }
    }
    /* claims no Service of theirs uses: a replica died between its claim and its write, or
     * a release failed */
    time_t now = time(NULL);
    json_object_foreach(claims, name, v) {
        json_t *user = json_object_get(used, name);
        if (user && !strcmp(str_at(user, "uid"), str_at(v, "uid")))
            continue;
        if (now - (time_t)json_integer_value(json_object_get(v, "created")) < grace_s)
            continue;
        char key[128];
        claim_key(r, name, key, sizeof(key));
        struct bosun_err e = {0};
        int drc = store_delete(a->shared, key,
                               (uint64_t)json_integer_value(json_object_get(v, "rev")), NULL, &e);
        if (drc == 0)
            log_info("service allocations: freed %s %s (claimed for %s, which does not use it)",
                     r->kind, name, *str_at(v, "service") ? str_at(v, "service") : "nobody");
        else if (drc != -ESTALE && drc != -ENOENT)
            log_warn("service allocations: free %s %s: %s", r->kind, name, e.msg);
    }
    rc = hint_reload(a, r, err);
    if (rc)
        goto out;
    /* a used value whose claim could not be made is still taken */
    pthread_mutex_lock(&a->mu);
    json_object_foreach((json_t *)used, name, v) {
        uint32_t idx;
        if (!index_of(a, r, name, &idx))
            bit_set(r->bits, idx, 1);
    }
    pthread_mutex_unlock(&a->mu);
out:
    json_decref(claims);
    return rc;
}

static void sync_private(struct api_alloc *a, struct range *r, const json_t *used)
{
    const char *name;
    json_t *v;
    pthread_mutex_lock(&a->mu);
    json_object_foreach((json_t *)used, name, v) {
        uint32_t idx;
        if (!index_of(a, r, name, &idx))
            bit_set(r->bits, idx, 1);
    }
    pthread_mutex_unlock(&a->mu);
}

int api_alloc_sync(struct api_alloc *a, const json_t *used_ips, const json_t *used_ports,
                   int64_t grace_s, struct bosun_err *err)
{
    if (!a->shared) {
        sync_private(a, &a->ips, used_ips);
        sync_private(a, &a->ports, used_ports);
        return 0;
    }
    int rc = sync_shared(a, &a->ips, used_ips, grace_s, err);
    if (!rc)
        rc = sync_shared(a, &a->ports, used_ports, grace_s, err);
    if (rc)
        return err_wrap(err, "service allocations");
    return 0;
}
