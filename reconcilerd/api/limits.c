#include "reconcilerd/api/limits.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/timeutil.h"

#define NBUCKETS 1024

struct entry {
    struct entry *next;
    double tokens;
    int64_t last_ms;
    long watches;
    char name[];
};

struct api_limits {
    pthread_mutex_t mu;
    double qps, burst;
    long max_watches;
    struct entry *tab[NBUCKETS];
};

int api_limits_new(double qps, double burst, long max_watches, struct api_limits **out,
                   struct bosun_err *err)
{
    struct api_limits *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    l->qps = qps;
    l->burst = burst < 1 ? (qps > 1 ? qps : 1) : burst;
    l->max_watches = max_watches > 0 ? max_watches : 0;
    *out = l;
    return 0;
}

void api_limits_free(struct api_limits *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct entry *e = l->tab[i];
        while (e) {
            struct entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static size_t hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % NBUCKETS;
}

/* The entry of user (created full); l->mu held. NULL on ENOMEM. */
static struct entry *entry_of(struct api_limits *l, const char *user)
{
    size_t h = hash(user);
    for (struct entry *e = l->tab[h]; e; e = e->next)
        if (!strcmp(e->name, user))
            return e;
    size_t n = strlen(user);
    struct entry *e = calloc(1, sizeof(*e) + n + 1);
    if (!e)
        return NULL;
    memcpy(e->name, user, n + 1);
    e->tokens = l->burst;
    e->last_ms = time_mono_ms();
    e->next = l->tab[h];
    l->tab[h] = e;
    return e;
}

int api_limits_take(struct api_limits *l, const char *user)
{
    if (!l || l->qps <= 0)
        return 0;
    int wait = 0;
    pthread_mutex_lock(&l->mu);
    struct entry *e = entry_of(l, user);
    if (e) {
        int64_t now = time_mono_ms();
        e->tokens += (double)(now - e->last_ms) * l->qps / 1000.0;
        if (e->tokens > l->burst)
            e->tokens = l->burst;
        e->last_ms = now;
        if (e->tokens >= 1) {
            e->tokens -= 1;
        } else {
            wait = (int)ceil((1 - e->tokens) / l->qps);
            if (wait < 1)
                wait = 1;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return wait;
}

int api_limits_watch_open(struct api_limits *l, const char *user)
{
    if (!l || !l->max_watches)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    struct entry *e = entry_of(l, user);
    if (!e)
        rc = -ENOMEM;
    else if (e->watches >= l->max_watches)
        rc = -EBUSY;
    else
        e->watches++;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void api_limits_watch_done(struct api_limits *l, const char *user)
{
    if (!l || !l->max_watches)
        return;
    pthread_mutex_lock(&l->mu);
    struct entry *e = entry_of(l, user);
    if (e && e->watches > 0)
        e->watches--;
    pthread_mutex_unlock(&l->mu);
}

long api_limits_max_watches(const struct api_limits *l)
{
    return l ? l->max_watches : 0;
}
