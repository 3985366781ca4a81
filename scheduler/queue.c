#include "scheduler/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/backoff.h"
#include "lib/timeutil.h"

struct entry {
    char *key;
    int64_t due_ms;
    uint64_t seq; /* FIFO order among ready entries */
    struct backoff bo;
    bool inflight;
    bool dirty;   /* added again while in flight */
    bool removed; /* removed while in flight */
};

struct scheduler_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *e;
    size_t n, cap;
    uint64_t seq;
    bool closed;
};

int scheduler_queue_new(struct scheduler_queue **out, struct bosun_err *err)
{
    struct scheduler_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return err_set(err, -ENOMEM, "scheduler queue: out of memory");
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    return 0;
}

void scheduler_queue_free(struct scheduler_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->e[i].key);
    free(q->e);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

static struct entry *find(struct scheduler_queue *q, const char *key, size_t *idx)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->e[i].key, key) == 0) {
            if (idx)
                *idx = i;
            return &q->e[i];
        }
    return NULL;
}

static void drop(struct scheduler_queue *q, size_t i)
{
    free(q->e[i].key);
    q->e[i] = q->e[--q->n];
}

void scheduler_queue_add(struct scheduler_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    struct entry *e = find(q, key, NULL);
    if (e) {
        if (e->inflight) {
            e->dirty = true;
            e->removed = false;
        }
        goto out;
    }
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        struct entry *p = realloc(q->e, ncap * sizeof(*p));
        if (!p)
            goto out;
        q->e = p;
        q->cap = ncap;
    }
    e = &q->e[q->n];
    memset(e, 0, sizeof(*e));
    if (!(e->key = strdup(key)))
        goto out;
    backoff_init(&e->bo, SCHEDULER_BACKOFF_INITIAL_MS, SCHEDULER_BACKOFF_MAX_MS);
    e->due_ms = time_mono_ms();
    e->seq = q->seq++;
    q->n++;
    pthread_cond_signal(&q->cv);
out:
    pthread_mutex_unlock(&q->mu);
}

void scheduler_queue_remove(struct scheduler_queue *q, const char *key)
{
    size_t idx;
    pthread_mutex_lock(&q->mu);
    struct entry *e = find(q, key, &idx);
    if (e) {
        if (e->inflight) {
            e->removed = true;
            e->dirty = false;
        } else {
            drop(q, idx);
        }
    }
    pthread_mutex_unlock(&q->mu);
}

void scheduler_queue_retry_all(struct scheduler_queue *q)
{
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n; i++) {
        if (q->e[i].inflight)
            q->e[i].dirty = true;
        else if (q->e[i].due_ms > now)
            q->e[i].due_ms = now;
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int scheduler_queue_pop(struct scheduler_queue *q, int64_t timeout_ms, char **key)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    int r = -ETIMEDOUT;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->closed) {
            r = -ECANCELED;
            break;
        }
        int64_t now = time_mono_ms(), next = deadline;
        struct entry *best = NULL;
        for (size_t i = 0; i < q->n; i++) {
            struct entry *e = &q->e[i];
            if (e->inflight)
                continue;
            if (e->due_ms <= now) {
                if (!best || e->due_ms < best->due_ms ||
                    (e->due_ms == best->due_ms && e->seq < best->seq))
                    best = e;
            } else if (e->due_ms < next) {
                next = e->due_ms;
            }
        }
        if (best) {
            char *k = strdup(best->key);
            if (!k) {
                r = -ENOMEM;
                break;
            }
            best->inflight = true;
            best->dirty = false;
            *key = k;
            r = 0;
            break;
        }
        if (now >= deadline)
            break;
        int64_t wait = next - now;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return r;
}

void scheduler_queue_done(struct scheduler_queue *q, const char *key, bool scheduled)
{
    size_t idx;
    pthread_mutex_lock(&q->mu);
    struct entry *e = find(q, key, &idx);
    if (!e)
        goto out;
    e->inflight = false;
    if (e->removed || scheduled) {
        drop(q, idx);
        goto out;
    }
    int64_t delay = backoff_next(&e->bo);
    /* changed while we looked: try again soon, but still not in a tight loop */
    e->due_ms = time_mono_ms() + (e->dirty ? SCHEDULER_BACKOFF_INITIAL_MS / 10 : delay);
    e->seq = q->seq++;
    e->dirty = false;
    pthread_cond_signal(&q->cv);
out:
    pthread_mutex_unlock(&q->mu);
}

void scheduler_queue_close(struct scheduler_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t scheduler_queue_len(struct scheduler_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}
