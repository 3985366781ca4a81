/* store_bench — reconcilerd/store measured through its in-process API, for the file
 * backend and (the same calls, --etcd) for etcd through its JSON gateway. Not built by
 * default; tests/bench/store.sh builds and runs it:
 *
 *   make build/release/libbosun.a build/release/reconcilerd-body.a
 *   cc -std=c11 -D_GNU_SOURCE -O2 -I. -o build/store_bench tests/bench/store_bench.c \
 *      build/release/reconcilerd-body.a build/release/libbosun.a \
 *      $(pkg-config --libs jansson libcurl) -lpthread
 *
 *   store_bench puts  (--dir DIR | --etcd URLS) [--secs S]      durable creates at 1/16/256
 *   store_bench reads (--dir DIR | --etcd URLS) [--objects N,N]  fill, then get and list
 *   store_bench storm --dir DIR [--secs S]                      update storm, disk use
 *   store_bench fill  --dir DIR --objects N [--snapshot]         N small objects, then close
 *   store_bench gen   --dir DIR --objects N,M      write a snapshot of N + a log of M updates
 *   store_bench open  --dir DIR                                  start-up time and memory
 *
 * Every figure is printed as "RESULT <name> <value>" (for scripts) after a human line.
 * DIR must not exist or be empty; it is left behind for inspection. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reconcilerd/store/record.h"
#include "reconcilerd/store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *g_tag = "file"; /* "file" or "etcd": prefixes every RESULT name */

static void result(const char *name, double v)
{
    printf("RESULT %s_%s %.3f\n", g_tag, name, v);
    fflush(stdout);
}

/* A small Pod, about 230 bytes of JSON: the "small object" of the targets. */
static json_t *pod(const char *name, long long i)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:I}]}}", "apiVersion",
                     "v1", "kind", "Pod", "metadata", "name", name, "namespace", "default",
                     "labels", "app", "web", "spec", "containers", "name", "web", "image",
                     "busybox:1.35", "n", (json_int_t)i);
}

/* ---- durable puts at several concurrencies ---------------------------------------------- */

struct worker {
    struct store *st;
    int id;
    double until;
    const char *prefix;
    int update_only; /* update one of `keys` keys in a loop instead of creating */
    int keys;
    double *lat;
    size_t nlat, cap;
    int errors;
    char first_err[256];
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    char key[128];
    for (long long i = 0; now_s() < w->until; i++) {
        if (w->update_only)
            snprintf(key, sizeof(key), "%s/k%d", w->prefix, (int)((i * 7919 + w->id) % w->keys));
        else
            snprintf(key, sizeof(key), "%s/w%d-%lld", w->prefix, w->id, i);
        json_t *o = pod(key, i);
        struct bosun_err err = {0};
        double t0 = now_s();
        int r = w->update_only ? store_update(w->st, key, o, 0, NULL, &err)
                               : store_create(w->st, key, o, NULL, &err);
        double dt = now_s() - t0;
        json_decref(o);
        if (r) {
            if (!w->errors++)
                snprintf(w->first_err, sizeof(w->first_err), "%.200s", err.msg);
            continue;
        }
        if (w->nlat == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof(double));
        }
        w->lat[w->nlat++] = dt;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(struct store *st, int threads, double secs, const char *prefix, int update_only,
                int keys)
{
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){.st = st,
                               .id = i,
                               .until = t0 + secs,
                               .prefix = prefix,
                               .update_only = update_only,
                               .keys = keys};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    size_t total = 0;
    int errors = 0;
    const char *first_err = "";
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].nlat;
        errors += w[i].errors;
        if (w[i].errors && !*first_err)
            first_err = w[i].first_err;
    }
    double dt = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, w[i].lat, w[i].nlat * sizeof(double));
        k += w[i].nlat;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), cmp_d);
    double rate = (double)total / dt;
    double p50 = total ? all[total / 2] * 1e3 : 0;
    double p99 = total ? all[total * 99 / 100] * 1e3 : 0;
    printf("%s %-6s %4d clients: %8.0f durable writes/s  p50 %6.2f ms  p99 %6.2f ms  (%zu ok, "
           "%d errors%s%s)\n",
           g_tag, update_only ? "update" : "create", threads, rate, p50, p99, total, errors,
           errors ? ": " : "", first_err);
    if (!update_only) {
        char name[64];
        snprintf(name, sizeof(name), "puts_%d", threads);
        result(name, rate);
        snprintf(name, sizeof(name), "p50_%d", threads);
        result(name, p50);
        snprintf(name, sizeof(name), "p99_%d", threads);
        result(name, p99);
    }
    free(all);
    free(w);
    free(th);
}

/* ---- filling, reading --------------------------------------------------------------------- */

struct filler {
    struct store *st;
    const char *prefix;
    int from, to;
};

static void *fill_main(void *p)
{
    struct filler *f = p;
    char key[96];
    for (int i = f->from; i < f->to; i++) {
        snprintf(key, sizeof(key), "%s%08d", f->prefix, i);
        json_t *o = pod(key, i);
        store_create(f->st, key, o, NULL, NULL); /* -EEXIST on a rerun is fine */
        json_decref(o);
    }
    return NULL;
}

static void fill(struct store *st, const char *prefix, int n, int threads)
{
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    struct filler *f = calloc((size_t)threads, sizeof(*f));
    for (int t = 0; t < threads; t++) {
        f[t] = (struct filler){.st = st,
                               .prefix = prefix,
                               .from = n / threads * t,
                               .to = t == threads - 1 ? n : n / threads * (t + 1)};
        pthread_create(&th[t], NULL, fill_main, &f[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    free(th);
    free(f);
}

static int count_cb(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)value;
    (void)mod_rev;
    (*(size_t *)ud)++;
    return 0;
}

static int count_raw_cb(const char *key, const char *json, size_t len, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)json;
    (void)len;
    (void)mod_rev;
    (*(size_t *)ud)++;
    return 0;
}

struct getter {
    struct store *st;
    const char *prefix;
    int n;
    int count;
    int id;
};

static void *get_main(void *p)
{
    struct getter *g = p;
    char key[96];
    for (int i = 0; i < g->count; i++) {
        snprintf(key, sizeof(key), "%s%08d", g->prefix,
                 (int)(((long long)i * 7919 + g->id) % g->n));
        char *js = NULL;
        if (store_get_raw(g->st, key, &js, NULL, NULL, NULL) == 0)
            free(js);
    }
    return NULL;
}

static void reads(struct store *st, int n, int threads)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "/pods/r%d/p", n);
    double t0 = now_s();
    fill(st, prefix, n, threads);
    printf("%s filled %d objects in %.2f s\n", g_tag, n, now_s() - t0);

    enum { G = 16 };
    pthread_t th[G];
    struct getter gs[G];
    int per = n / G;
    t0 = now_s();
    for (int t = 0; t < G; t++) {
        gs[t] = (struct getter){.st = st, .prefix = prefix, .n = n, .count = per, .id = t};
        pthread_create(&th[t], NULL, get_main, &gs[t]);
    }
    for (int t = 0; t < G; t++)
        pthread_join(th[t], NULL);
    double dt = now_s() - t0;
    char name[64];
    printf("%s gets among %d objects, %d clients: %.0f gets/s\n", g_tag, n, G,
           (double)(per * G) / dt);
    snprintf(name, sizeof(name), "gets_%d", n);
    result(name, (double)(per * G) / dt);

    double best_raw = 1e9, best_tree = 1e9;
    size_t cnt = 0;
    for (int i = 0; i < 3; i++) {
        cnt = 0;
        t0 = now_s();
        store_list_raw(st, prefix, count_raw_cb, &cnt, NULL, NULL);
        dt = now_s() - t0;
        if (dt < best_raw)
            best_raw = dt;
    }
    printf("%s list of %zu objects (raw bytes): %.1f ms\n", g_tag, cnt, best_raw * 1e3);
    snprintf(name, sizeof(name), "list_%d_ms", n);
    result(name, best_raw * 1e3);
    for (int i = 0; i < 2; i++) {
        cnt = 0;
        t0 = now_s();
        store_list(st, prefix, count_cb, &cnt, NULL, NULL);
        dt = now_s() - t0;
        if (dt < best_tree)
            best_tree = dt;
    }
    printf("%s list of %zu objects (json trees; first list parses, later ones reuse): %.1f ms\n",
           g_tag, cnt, best_tree * 1e3);
}

/* ---- disk use under an update storm ------------------------------------------------------ */

static long long dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    long long sum = 0;
    struct dirent *de;
    char path[4096];
    while (d && (de = readdir(d))) {
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            sum += sb.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

static void storm(struct store *st, const char *dir, double secs)
{
    for (int i = 0; i < 1000; i++) {
        char key[64];
        snprintf(key, sizeof(key), "/pods/storm/k%d", i);
        json_t *v = pod(key, 0);
        store_create(st, key, v, NULL, NULL);
        json_decref(v);
    }
    double max_mib = 0;
    for (int r = 0; r < 3; r++) {
        run(st, 64, secs, "/pods/storm", 1, 1000);
        double mib = (double)dir_bytes(dir) / (1 << 20);
        if (mib > max_mib)
            max_mib = mib;
        printf("  store directory: %.1f MiB at revision %" PRIu64 "\n", mib, store_revision(st));
    }
    result("storm_disk_mib", max_mib);
}

/* ---- start-up and memory ------------------------------------------------------------------ */

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(fp);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct sizes {
    size_t n;
    size_t bytes;
};

static int size_cb(const char *key, const char *json, size_t len, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)json;
    (void)mod_rev;
    struct sizes *s = ud;
    s->n++;
    s->bytes += len;
    return 0;
}

static int open_bench(const char *dir)
{
    struct store_opts o = {.dir = dir};
    struct store *st = NULL;
    struct bosun_err err = {0};
    malloc_trim(0);
    long before = rss_kib();
    double t0 = now_s();
    if (store_open(&o, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double dt = now_s() - t0;
    malloc_trim(0);
    long after = rss_kib();
    struct sizes sz = {0};
    store_list_raw(st, "", size_cb, &sz, NULL, NULL);
    double per_obj = sz.n ? (double)(after - before) * 1024 / (double)sz.n : 0;
    double json_avg = sz.n ? (double)sz.bytes / (double)sz.n : 0;
    printf("start-up with %zu objects at revision %" PRIu64 ": %.2f s\n", sz.n, store_revision(st),
           dt);
    printf("memory: %.1f MiB resident for %zu objects: %.0f B per object, of which %.0f B is "
           "its JSON; overhead %.0f B\n",
           (double)(after - before) / 1024, sz.n, per_obj, json_avg, per_obj - json_avg);
    result("startup_s", dt);
    result("startup_objects", (double)sz.n);
    result("mem_per_object_b", per_obj);
    result("json_per_object_b", json_avg);
    result("overhead_per_object_b", per_obj - json_avg);
    store_close(st);
    return 0;
}

/* Writes a store directly in the on-disk format (reconcilerd/store/record.h): a snapshot
 * of n objects plus a log of m updates after it, what a store looks like after a long run.
 * Going through store_create would measure the write path for minutes instead. */
static int gen_store(const char *dir, int n, int m)
{
    char path[4096];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    char *js = NULL;
    char *raw = malloc(64 << 10);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t base = pass == 0 ? 0 : (uint64_t)n;
        int count = pass == 0 ? n : m;
        if (pass == 0)
            snprintf(path, sizeof(path), "%s/snap-%020d.snap", dir, n);
        else
            snprintf(path, sizeof(path), "%s/wal-%020d.log", dir, n + 1);
        FILE *fp = fopen(path, "wb");
        if (!fp) {
            perror(path);
            return 1;
        }
        char hdr[STORE_FILE_HDR_LEN];
        store_file_hdr_encode(hdr, pass == 0 ? STORE_SNAP_MAGIC : STORE_WAL_MAGIC,
                              pass == 0 ? (uint64_t)n : (uint64_t)n + 1);
        fwrite(hdr, 1, sizeof(hdr), fp);
        for (int i = 0; i < count; i++) {
            char key[96];
            /* snapshot: objects in key order; log: updates of spread-out objects */
            int obj = pass == 0 ? i : (int)(((long long)i * 7919) % n);
            uint64_t rev = base + (uint64_t)i + 1;
            snprintf(key, sizeof(key), "/pods/fill/p%08d", obj);
            json_t *o = pod(key, i);
            js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            size_t jl = strlen(js), moff = 0;
            uint32_t rv_off;
            uint8_t rv_len;
            store_json_meta_off(js, jl, &moff);
            size_t rl = store_rv_splice(raw, js, jl, moff, rev, &rv_off, &rv_len);
            free(js);
            size_t need = store_rec_size(strlen(key), rl);
            if (len + need > cap) {
                fwrite(buf, 1, len, fp);
                len = 0;
            }
            store_rec_encode(buf + len, pass == 0 ? STORE_REC_SNAP_ITEM : STORE_REC_UPDATE, rev,
                             (uint64_t)obj + 1, key, strlen(key), raw, rl);
            len += need;
        }
        if (pass == 0) {
            store_rec_encode(buf + len, STORE_REC_SNAP_END, (uint64_t)n, (uint64_t)n, "", 0, "", 0);
            len += store_rec_size(0, 0);
        }
        fwrite(buf, 1, len, fp);
        len = 0;
        fclose(fp);
    }
    free(buf);
    free(raw);
    printf("wrote a snapshot of %d objects and a log of %d updates to %s\n", n, m, dir);
    return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static int parse_list(const char *s, int *v, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        v[n++] = atoi(s);
        s = strchr(s, ',');
        if (s)
            s++;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s puts|reads|storm|fill|open (--dir DIR | --etcd URLS) "
                "[--secs S] [--objects N[,N]] [--snapshot]\n",
                argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    const char *dir = NULL, *etcd = NULL;
    const char *objects = "10000,100000";
    double secs = 3;
    int snapshot = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--etcd") && i + 1 < argc)
            etcd = argv[++i];
        else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--objects") && i + 1 < argc)
            objects = argv[++i];
        else if (!strcmp(argv[i], "--snapshot"))
            snapshot = 1;
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir && !etcd) {
        fprintf(stderr, "--dir or --etcd is required\n");
        return 2;
    }
    if (etcd)
        g_tag = "etcd";
    if (!strcmp(mode, "open"))
        return open_bench(dir);
    if (!strcmp(mode, "gen")) {
        int ns[2] = {1000000, 0};
        int k = parse_list(objects, ns, 2);
        return gen_store(dir, ns[0], k > 1 ? ns[1] : 0);
    }

    struct store_opts o = {.dir = dir, .etcd_endpoints = etcd};
    struct store *st = NULL;
    struct bosun_err err = {0};
    if (store_open(&o, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (!strcmp(mode, "puts")) {
        int steps[] = {1, 16, 256};
        for (size_t i = 0; i < 3; i++) {
            char prefix[48];
            snprintf(prefix, sizeof(prefix), "/pods/c%d-%ld", steps[i], (long)time(NULL));
            run(st, steps[i], secs, prefix, 0, 0);
        }
    } else if (!strcmp(mode, "reads")) {
        int ns[4];
        int k = parse_list(objects, ns, 4);
        for (int i = 0; i < k; i++)
            reads(st, ns[i], etcd ? 64 : 256);
    } else if (!strcmp(mode, "storm")) {
        storm(st, dir, secs);
    } else if (!strcmp(mode, "fill")) {
        int n = atoi(objects);
        double t0 = now_s();
        fill(st, "/pods/fill/p", n, 64);
        printf("filled %d objects in %.2f s (%.0f creates/s)\n", n, now_s() - t0,
               n / (now_s() - t0));
        if (snapshot && store_snapshot(st, &err))
            fprintf(stderr, "%s\n", err.msg);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        store_close(st);
        return 2;
    }
    store_close(st);
    return 0;
}
