#include "reconcilerd/api/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_alloc {
    pthread_mutex_t mu;
    uint32_t net;       /* host order */
    uint32_t size;      /* addresses in the CIDR */
    unsigned char *ips; /* bitmap, size bits */
    uint32_t ip_next;
    int port_lo, port_hi;
    unsigned char *ports;
    int port_next;
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

int api_alloc_new(const char *cidr, const char *ports, struct api_alloc **out,
                  struct bosun_err *err)
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
    a->size = 1u << (32 - prefix);
    a->net = ntohl(in.s_addr) & ~(a->size - 1);
    a->ips = calloc(a->size / 8 + 1, 1);
    a->port_lo = lo;
    a->port_hi = hi;
    a->ports = calloc((size_t)(hi - lo + 1) / 8 + 1, 1);
    if (!a->ips || !a->ports) {
        api_alloc_free(a);
        return err_set(err, -ENOMEM, "out of memory");
    }
    a->ip_next = 1;
    a->port_next = lo;
    pthread_mutex_init(&a->mu, NULL);
    snprintf(a->cidr_s, sizeof(a->cidr_s), "%s", cidr);
    snprintf(a->ports_s, sizeof(a->ports_s), "%d-%d", lo, hi);
    *out = a;
    return 0;
}

void api_alloc_free(struct api_alloc *a)
{
    if (!a)
        return;
    free(a->ips);
    free(a->ports);
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
    if ((h & ~(a->size - 1)) != a->net)
        return -ERANGE;
    uint32_t o = h - a->net;
    if (o == 0 || o == a->size - 1)
        return -ERANGE;
    *off = o;
    return 0;
}

int api_alloc_ip_claim(struct api_alloc *a, const char *ip)
{
    uint32_t o;
    int rc = ip_offset(a, ip, &o);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->mu);
    if (bit_get(a->ips, o))
        rc = -EEXIST;
    else
        bit_set(a->ips, o, 1);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int api_alloc_ip_next(struct api_alloc *a, char *buf, size_t len)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&a->mu);
    for (uint32_t n = 0; n < a->size; n++) {
        uint32_t o = a->ip_next;
        a->ip_next = a->ip_next + 1 >= a->size - 1 ? 1 : a->ip_next + 1;
        if (o == 0 || o >= a->size - 1 || bit_get(a->ips, o))
            continue;
        bit_set(a->ips, o, 1);
        struct in_addr in = {.s_addr = htonl(a->net + o)};
        inet_ntop(AF_INET, &in, buf, (socklen_t)len);
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void api_alloc_ip_release(struct api_alloc *a, const char *ip)
{
    uint32_t o;
    if (ip_offset(a, ip, &o))
        return;
    pthread_mutex_lock(&a->mu);
    bit_set(a->ips, o, 0);
    pthread_mutex_unlock(&a->mu);
}

int api_alloc_port_claim(struct api_alloc *a, int port)
{
    if (port < a->port_lo || port > a->port_hi)
        return -ERANGE;
    int rc = 0;
    pthread_mutex_lock(&a->mu);
    if (bit_get(a->ports, (uint32_t)(port - a->port_lo)))
        rc = -EEXIST;
    else
        bit_set(a->ports, (uint32_t)(port - a->port_lo), 1);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int api_alloc_port_next(struct api_alloc *a, int *port)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&a->mu);
    for (int n = 0; n <= a->port_hi - a->port_lo; n++) {
        int p = a->port_next;
        a->port_next = p >= a->port_hi ? a->port_lo : p + 1;
        if (bit_get(a->ports, (uint32_t)(p - a->port_lo)))
            continue;
        bit_set(a->ports, (uint32_t)(p - a->port_lo), 1);
        *port = p;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void api_alloc_port_release(struct api_alloc *a, int port)
{
    if (port < a->port_lo || port > a->port_hi)
        return;
    pthread_mutex_lock(&a->mu);
    bit_set(a->ports, (uint32_t)(port - a->port_lo), 0);
    pthread_mutex_unlock(&a->mu);
}
