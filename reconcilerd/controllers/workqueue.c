#include "reconcilerd/controllers/workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/timeutil.h"

struct delayed {
    char *key;
    int64_t due_ms;
};

struct failure {
    char *key;
    int count;
};

struct ctrl_wq {
    struct ctrl_wq_opts opts;
    char *name;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    char **ready; /* FIFO, deduplicated */
    size_t nready, capready;
    struct delayed *delayed;
    size_t ndelayed, capdelayed;
    struct failure *fails;
    size_t nfails, capfails;

    char *processing; /* key being handled, or NULL */
    bool processing_dirty;

    bool stop;
    bool running;
    pthread_t thread;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static bool in_ready(struct ctrl_wq *q, const char *key)
{
    for (size_t i = 0; i < q->nready; i++)
        if (strcmp(q->ready[i], key) == 0)
            return true;
    return false;
}

/* Called with mu held. */
static void add_locked(struct ctrl_wq *q, const char *key)
{
    if (q->stop)
        return;
    if (q->processing && strcmp(q->processing, key) == 0) {
        q->processing_dirty = true;
        return;
    }
    if (in_ready(q, key))
        return;
    char *k = strdup(key);
    if (!k || !grow((void **)&q->ready, &q->capready, q->nready + 1, sizeof(char *))) {
        free(k);
        log_error("workqueue %s: out of memory, dropping %s", q->name, key);
        return;
    }
    q->ready[q->nready++] = k;
    pthread_cond_signal(&q->cv);
}

void ctrl_wq_add(struct ctrl_wq *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    add_locked(q, key);
    pthread_mutex_unlock(&q->mu);
}

static void add_after_locked(struct ctrl_wq *q, const char *key, int64_t delay_ms)
{
    if (q->stop)
        return;
    int64_t due = time_mono_ms() + delay_ms;
    for (size_t i = 0; i < q->ndelayed; i++) {
        if (strcmp(q->delayed[i].key, key) == 0) {
            /* the earliest wins: at that time the handler reschedules if needed */
            if (due < q->delayed[i].due_ms)
                q->delayed[i].due_ms = due;
            pthread_cond_signal(&q->cv);
            return;
        }
    }
    char *k = strdup(key);
    if (!k ||
        !grow((void **)&q->delayed, &q->capdelayed, q->ndelayed + 1, sizeof(struct delayed))) {
        free(k);
        log_error("workqueue %s: out of memory, dropping %s", q->name, key);
        return;
    }
    q->delayed[q->ndelayed].key = k;
    q->delayed[q->ndelayed].due_ms = due;
    q->ndelayed++;
    pthread_cond_signal(&q->cv);
}

void ctrl_wq_add_after(struct ctrl_wq *q, const char *key, int64_t delay_ms)
{
    if (delay_ms <= 0) {
        ctrl_wq_add(q, key);
        return;
    }
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, delay_ms);
    pthread_mutex_unlock(&q->mu);
}

size_t ctrl_wq_len(struct ctrl_wq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->nready + q->ndelayed;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* Returns the failure count after recording one more (or resetting with ok). */
static int note_result_locked(struct ctrl_wq *q, const char *key, bool ok)
{
    for (size_t i = 0; i < q->nfails; i++) {
        if (strcmp(q->fails[i].key, key) != 0)
            continue;
        if (ok) {
            free(q->fails[i].key);
            q->fails[i] = q->fails[--q->nfails];
            return 0;
        }
        return ++q->fails[i].count;
    }
    if (ok)
        return 0;
    char *k = strdup(key);
    if (!k || !grow((void **)&q->fails, &q->capfails, q->nfails + 1, sizeof(struct failure))) {
        free(k);
        return 1;
    }
    q->fails[q->nfails].key = k;
    q->fails[q->nfails].count = 1;
    q->nfails++;
    return 1;
}

static void promote_due_locked(struct ctrl_wq *q, int64_t now, int64_t *next_due)
{
    *next_due = INT64_MAX;
    size_t i = 0;
    while (i < q->ndelayed) {
        if (q->delayed[i].due_ms <= now) {
            char *k = q->delayed[i].key;
            q->delayed[i] = q->delayed[--q->ndelayed];
            add_locked(q, k);
            free(k);
            continue;
        }
        if (q->delayed[i].due_ms < *next_due)
            *next_due = q->delayed[i].due_ms;
        i++;
    }
}

static void *worker(void *arg)
{
    struct ctrl_wq *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->stop) {
        int64_t next_due;
        promote_due_locked(q, time_mono_ms(), &next_due);
        if (q->nready == 0) {
            if (next_due == INT64_MAX) {
                pthread_cond_wait(&q->cv, &q->mu);
            } else {
                int64_t wait = next_due - time_mono_ms();
                if (wait > 0) {
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
            }
            continue;
        }
        char *key = q->ready[0];
        memmove(q->ready, q->ready + 1, (q->nready - 1) * sizeof(char *));
        q->nready--;
        q->processing = key;
        q->processing_dirty = false;
        pthread_mutex_unlock(&q->mu);

        int r = q->opts.fn(key, q->opts.userdata);

        pthread_mutex_lock(&q->mu);
        q->processing = NULL;
        int fails = note_result_locked(q, key, r == 0);
        if (r != 0) {
            int64_t delay = q->opts.base_delay_ms;
            for (int i = 1; i < fails && delay < q->opts.max_delay_ms; i++)
                delay *= 2;
            if (delay > q->opts.max_delay_ms)
                delay = q->opts.max_delay_ms;
            log_debug("workqueue %s: %s failed (%d), retry in %lld ms", q->name, key, fails,
                      (long long)delay);
            if (q->processing_dirty)
                add_locked(q, key);
            else
                add_after_locked(q, key, delay);
        } else if (q->processing_dirty) {
            add_locked(q, key);
        }
        free(key);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int ctrl_wq_new(const struct ctrl_wq_opts *opts, struct ctrl_wq **out, struct bosun_err *err)
{
    if (!opts->fn)
        return err_set(err, -EINVAL, "workqueue: no handler");
    struct ctrl_wq *q = calloc(1, sizeof(*q));
    if (!q)
        return err_set(err, -ENOMEM, "workqueue: out of memory");
    q->opts = *opts;
    q->name = strdup(opts->name ? opts->name : "queue");
    if (!q->name) {
        free(q);
        return err_set(err, -ENOMEM, "workqueue: out of memory");
    }
    q->opts.name = q->name;
    if (q->opts.base_delay_ms <= 0)
        q->opts.base_delay_ms = 100;
    if (q->opts.max_delay_ms <= 0)
        q->opts.max_delay_ms = 30000;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    return 0;
}

int ctrl_wq_run(struct ctrl_wq *q, struct bosun_err *err)
{
    int r = pthread_create(&q->thread, NULL, worker, q);
    if (r != 0)
        return err_errno(err, -r, "workqueue %s: pthread_create", q->name);
    q->running = true;
    return 0;
}

void ctrl_wq_shutdown(struct ctrl_wq *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->running)
        pthread_join(q->thread, NULL);
    q->running = false;
}

void ctrl_wq_free(struct ctrl_wq *q)
{
    if (!q)
        return;
    ctrl_wq_shutdown(q);
    for (size_t i = 0; i < q->nready; i++)
        free(q->ready[i]);
    for (size_t i = 0; i < q->ndelayed; i++)
        free(q->delayed[i].key);
    for (size_t i = 0; i < q->nfails; i++)
        free(q->fails[i].key);
    free(q->ready);
    free(q->delayed);
    free(q->fails);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->name);
    free(q);
}
