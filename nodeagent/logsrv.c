#include "nodeagent/logsrv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "nodeagent/nodefs.h"

#define LOGSRV_READ_MAX (64 << 20) /* a non-follow answer holds at most this much */
#define LOGSRV_POLL_MS 200

struct logsrv {
    struct httpd *srv;
    char dir[PATH_MAX];
};

int logsrv_cri_parse(const char *line, size_t len, const char **text, size_t *text_len,
                     bool *partial)
{
    /* <timestamp> SP <stream> SP <tag> SP <text> */
    const char *p = line, *end = line + len;
    const char *fields[3];
    for (int i = 0; i < 3; i++) {
        fields[i] = p;
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp) {
            if (i == 2) { /* an empty text has no trailing space */
                p = end;
                break;
            }
            return -EINVAL;
        }
        p = sp + 1;
    }
    size_t stream_len = (size_t)(fields[2] - fields[1]) - 1;
    if (!((stream_len == 6 && !memcmp(fields[1], "stdout", 6)) ||
          (stream_len == 6 && !memcmp(fields[1], "stderr", 6))))
        return -EINVAL;
    *partial = fields[2][0] == 'P';
    *text = p;
    *text_len = (size_t)(end - p);
    return 0;
}

/* Raw text of CRI log data: lines joined, prefixes dropped. Appends to *out. */
static int cri_to_raw(const char *data, size_t len, char **out, size_t *out_len, size_t *cap)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* an unfinished line: the caller reads it again later */
        const char *text;
        size_t tl;
        bool partial;
        if (logsrv_cri_parse(p, (size_t)(nl - p), &text, &tl, &partial) < 0) {
            text = p;
            tl = (size_t)(nl - p);
            partial = false;
        }
        if (*out_len + tl + 2 > *cap) {
            size_t ncap = *cap ? *cap * 2 : 8192;
            while (ncap < *out_len + tl + 2)
                ncap *= 2;
            char *np = realloc(*out, ncap);
            if (!np)
                return -ENOMEM;
            *out = np;
            *cap = ncap;
        }
        memcpy(*out + *out_len, text, tl);
        *out_len += tl;
        if (!partial)
            (*out)[(*out_len)++] = '\n';
        p = nl + 1;
    }
    return (int)(p - data); /* bytes consumed */
}

/* The newest <ns>_<pod>_<uid> directory's container dir, and the restart file wanted. */
static int find_log(const struct logsrv *ls, const char *ns, const char *pod, const char *container,
                    bool previous, char *path, size_t len)
{
    char prefix[600];
    snprintf(prefix, sizeof(prefix), "%s_%s_", ns, pod);
    DIR *d = opendir(ls->dir);
    if (!d)
        return -ENOENT;
    struct dirent *e;
    char best[NAME_MAX + 1] = "";
    struct timespec best_t = {0};
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        /* uids have no '_': what follows the prefix must be the uid alone */
        if (strchr(e->d_name + strlen(prefix), '_'))
            continue;
        char p[PATH_MAX];
        struct stat st;
        nodefs_path(p, sizeof(p), "%s/%s/%s", ls->dir, e->d_name, container);
        if (stat(p, &st) < 0)
            continue;
        if (!best[0] || st.st_mtim.tv_sec > best_t.tv_sec ||
            (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec)) {
            snprintf(best, sizeof(best), "%s", e->d_name);
            best_t = st.st_mtim;
        }
    }
    closedir(d);
    if (!best[0])
        return -ENOENT;
    char cdir[PATH_MAX];
    nodefs_path(cdir, sizeof(cdir), "%s/%s/%s", ls->dir, best, container);
    d = opendir(cdir);
    if (!d)
        return -ENOENT;
    long hi = -1, second = -1;
    while ((e = readdir(d))) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (end == e->d_name || strcmp(end, ".log") != 0)
            continue;
        if (n > hi) {
            second = hi;
            hi = n;
        } else if (n > second) {
            second = n;
        }
    }
    closedir(d);
    long want = previous ? second : hi;
    if (want < 0)
        return -ENOENT;
    return nodefs_path(path, len, "%s/%ld.log", cdir, want);
}

/* Keeps the last n lines of buf (in place). */
static void keep_tail(char *buf, size_t *len, long n)
{
    if (n < 0)
        return;
    size_t i = *len;
    if (i > 0 && buf[i - 1] == '\n')
        i--;
    long lines = 0;
    while (i > 0) {
        if (buf[i - 1] == '\n' && ++lines == n)
            break;
        i--;
    }
    if (n == 0)
        i = *len;
    memmove(buf, buf + i, *len - i);
    *len -= i;
}

struct follow {
    pthread_mutex_t mu;
    int refs;
    bool closed;
    struct httpd_stream *s;
    char path[PATH_MAX];
    char cdir[PATH_MAX];
    off_t off;
    long tail;
};

static void follow_release(struct follow *f)
{
    pthread_mutex_lock(&f->mu);
    int left = --f->refs;
    pthread_mutex_unlock(&f->mu);
    if (left)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void follow_closed(struct httpd_stream *s, void *ud)
{
    (void)s;
    struct follow *f = ud;
    pthread_mutex_lock(&f->mu);
    f->closed = true;
    pthread_mutex_unlock(&f->mu);
    follow_release(f);
}

static int follow_send(struct follow *f, const char *data, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->closed)
        rc = -EPIPE;
    else if (len)
        rc = httpd_stream_write(f->s, data, len);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* The restart file after the current one, if the container restarted. */
static bool next_restart(struct follow *f)
{
    const char *base = strrchr(f->path, '/');
    long cur = base ? strtol(base + 1, NULL, 10) : 0;
    char p[PATH_MAX];
    nodefs_path(p, sizeof(p), "%s/%ld.log", f->cdir, cur + 1);
    if (!nodefs_exists(p))
        return false;
    snprintf(f->path, sizeof(f->path), "%s", p);
    f->off = 0;
    return true;
}

static void *follow_main(void *arg)
{
    struct follow *f = arg;
    char *raw = NULL;
    size_t raw_cap = 0;
    bool first = true;
    for (;;) {
        int fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size > f->off) {
                size_t n = (size_t)(st.st_size - f->off);
                if (n > LOGSRV_READ_MAX)
                    n = LOGSRV_READ_MAX;
                char *buf = malloc(n);
                ssize_t r = buf ? pread(fd, buf, n, f->off) : -1;
                if (r > 0) {
                    size_t raw_len = 0;
                    int used = cri_to_raw(buf, (size_t)r, &raw, &raw_len, &raw_cap);
                    if (used > 0)
                        f->off += used;
                    if (first)
                        keep_tail(raw, &raw_len, f->tail);
                    if (follow_send(f, raw, raw_len) < 0) {
                        free(buf);
                        close(fd);
                        break;
                    }
                }
                free(buf);
            }
            close(fd);
        }
        first = false;
        if (next_restart(f))
            continue;
        if (follow_send(f, NULL, 0) < 0)
            break;
        struct timespec ts = {0, LOGSRV_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(raw);
    follow_release(f);
    return NULL;
}

static bool qbool(struct httpd_req *req, const char *k)
{
    const char *s = httpd_query(req, k);
    return s && (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "True"));
}

static void handle(struct httpd_req *req, void *ud)
{
    struct logsrv *ls = ud;
    const char *path = httpd_path(req);
    if (!strcmp(path, "/healthz")) {
        httpd_respond(req, 200, "text/plain", "ok\n", 3);
        return;
    }
    char ns[256], pod[256], container[256];
    if (strncmp(path, "/containerLogs/", 15) != 0 ||
        sscanf(path + 15, "%255[^/]/%255[^/]/%255[^/]", ns, pod, container) != 3 ||
        strstr(path, "..")) {
        httpd_respond(req, 404, "text/plain", "not found\n", 10);
        return;
    }
    if (strcmp(httpd_method(req), "GET") != 0) {
        httpd_respond(req, 405, "text/plain", "GET only\n", 9);
        return;
    }
    const char *t = httpd_query(req, "tailLines");
    long tail = t && *t ? strtol(t, NULL, 10) : -1;
    char file[PATH_MAX];
    if (find_log(ls, ns, pod, container, qbool(req, "previous"), file, sizeof(file)) < 0) {
        char msg[900];
        int n = snprintf(msg, sizeof(msg), "no logs for container %s of pod %s/%s on this node\n",
                         container, ns, pod);
        httpd_respond(req, 404, "text/plain", msg, (size_t)n);
        return;
    }
    if (qbool(req, "follow")) {
        struct follow *f = calloc(1, sizeof(*f));
        if (!f) {
            httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
            return;
        }
        pthread_mutex_init(&f->mu, NULL);
        f->refs = 2;
        f->tail = tail;
        snprintf(f->path, sizeof(f->path), "%s", file);
        snprintf(f->cdir, sizeof(f->cdir), "%.*s", (int)(strrchr(file, '/') - file), file);
        f->s = httpd_stream_start(req, 200, "text/plain", follow_closed, f);
        if (!f->s) {
            pthread_mutex_destroy(&f->mu);
            free(f);
            return;
        }
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, follow_main, f) != 0) {
            httpd_stream_close(f->s);
            follow_release(f);
        }
        pthread_attr_destroy(&attr);
        return;
    }
    char *data = NULL, *raw = NULL;
    size_t len = 0, raw_len = 0, raw_cap = 0;
    if (fileutil_read_all(file, LOGSRV_READ_MAX, &data, &len, NULL) < 0) {
        httpd_respond(req, 500, "text/plain", "cannot read the log\n", 20);
        return;
    }
    if (cri_to_raw(data, len, &raw, &raw_len, &raw_cap) < 0) {
        free(data);
        httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    keep_tail(raw, &raw_len, tail);
    httpd_respond(req, 200, "text/plain", raw ? raw : "", raw_len);
    free(raw);
    free(data);
}

int logsrv_start(const char *listen, const char *logs_dir, struct logsrv **out,
                 struct bosun_err *err)
{
    struct logsrv *ls = calloc(1, sizeof(*ls));
    if (!ls)
        return err_set(err, -ENOMEM, "logs: out of memory");
    snprintf(ls->dir, sizeof(ls->dir), "%s", logs_dir);
    struct httpd_opts o = {.listen = listen, .threads = 2};
    int rc = httpd_start(&o, handle, ls, &ls->srv, err);
    if (rc < 0) {
        free(ls);
        return err_wrap(err, "--listen %s", listen);
    }
    *out = ls;
    return 0;
}

void logsrv_stop(struct logsrv *ls)
{
    if (!ls)
        return;
    httpd_stop(ls->srv);
    free(ls);
}

int logsrv_port(const struct logsrv *ls)
{
    return httpd_port(ls->srv);
}
