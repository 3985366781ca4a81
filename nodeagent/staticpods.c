#include "nodeagent/staticpods.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "nodeagent/nodefs.h"
#include "schema/validate.h"
#include "schema/yaml.h"

#define STATICPODS_FILES_MAX 1000
#define STATICPODS_FILE_MAX (1 << 20)
#define STATICPODS_QUIET_MS 100

struct sp_file {
    char name[NAME_MAX + 1];
    ino_t ino;
    off_t size;
    struct timespec mtime;
    json_t *pods; /* array: the last good version's pods (owned); empty if never valid */
    bool seen;
};

struct staticpods {
    char dir[PATH_MAX];
    char node[256];
    int fd;
    int64_t dirty_at; /* mono ms of the first unprocessed event, or -1 */
    struct sp_file *files;
    size_t nfiles;
    json_t *pods; /* the union, in file-name order (owned) */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool staticpods_name_wanted(const char *name)
{
    if (!name || !*name || name[0] == '.' || name[0] == '#')
        return false;
    if (strcmp(name, "4913") == 0 || ends_with(name, "~") || ends_with(name, ".swp") ||
        ends_with(name, ".swx") || ends_with(name, ".tmp") || ends_with(name, "#"))
        return false;
    return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json");
}

static int sha256_hex(const char *data, size_t len, char *hex, size_t hexlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        return -EIO;
    size_t o = 0;
    for (unsigned i = 0; i < n && o + 3 <= hexlen; i++)
        o += (size_t)snprintf(hex + o, hexlen - o, "%02x", md[i]);
    return 0;
}

int staticpods_finish(json_t *pod, const char *node_name, const char *file)
{
    char *canon = json_dumps(pod, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon)
        return -ENOMEM;
    size_t clen = strlen(canon), nlen = strlen(node_name);
    char *buf = malloc(clen + nlen + 2);
    if (!buf) {
        free(canon);
        return -ENOMEM;
    }
    memcpy(buf, canon, clen);
    buf[clen] = '\n';
    memcpy(buf + clen + 1, node_name, nlen + 1);
    char hex[65] = "";
    int rc = sha256_hex(buf, clen + nlen + 1, hex, sizeof(hex));
    free(buf);
    free(canon);
    if (rc < 0)
        return rc;
    char uid[40];
    snprintf(uid, sizeof(uid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    const char *name = jsonx_get_str(pod, "metadata.name");
    char *full = NULL;
    if (asprintf(&full, "%s-%s", name ? name : "static", node_name) < 0)
        return -ENOMEM;
    json_t *md = jsonx_ensure_obj(pod, "metadata");
    json_t *ann = jsonx_ensure_obj(pod, "metadata.annotations");
    if (!md || !ann) {
        free(full);
        return -ENOMEM;
    }
    json_object_set_new(md, "name", json_string(full));
    free(full);
    if (!json_is_string(json_object_get(md, "namespace")))
        json_object_set_new(md, "namespace", json_string("default"));
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(ann, "kubernetes.io/config.source", json_string("file"));
    json_object_set_new(ann, "kubernetes.io/config.hash", json_string(uid));
    json_object_set_new(ann, "kubernetes.io/config.mirror", json_string(uid));
    json_object_set_new(ann, "bosun.io/static-file", json_string(file));
    jsonx_set_new(pod, "spec.nodeName", json_string(node_name));
    return 0;
}

int staticpods_open(const char *dir, const char *node_name, struct staticpods **out,
                    struct bosun_err *err)
{
    int rc = nodefs_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return err_wrap(err, "--manifest-dir");
    struct staticpods *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return err_set(err, -ENOMEM, "staticpods: out of memory");
    snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
    snprintf(sp->node, sizeof(sp->node), "%s", node_name);
    sp->pods = json_array();
    sp->dirty_at = time_mono_ms();
    sp->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (sp->fd < 0) {
        rc = err_errno(err, -errno, "inotify");
        goto fail;
    }
    if (inotify_add_watch(sp->fd, dir,
                          IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM |
                              IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        rc = err_errno(err, -errno, "inotify watch %s", dir);
        goto fail;
    }
    *out = sp;
    return 0;
fail:
    staticpods_free(sp);
    return rc;
}

void staticpods_free(struct staticpods *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    for (size_t i = 0; i < sp->nfiles; i++)
        json_decref(sp->files[i].pods);
    free(sp->files);
    json_decref(sp->pods);
    free(sp);
}

int staticpods_fd(const struct staticpods *sp)
{
    return sp->fd;
}

void staticpods_handle_events(struct staticpods *sp)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(sp->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                any = true;
            else if (ev->len == 0 || staticpods_name_wanted(ev->name))
                any = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    if (any && sp->dirty_at < 0)
        sp->dirty_at = time_mono_ms();
}

int64_t staticpods_rescan_in(const struct staticpods *sp)
{
    if (sp->dirty_at < 0)
        return -1;
    int64_t left = sp->dirty_at + STATICPODS_QUIET_MS - time_mono_ms();
    return left < 0 ? 0 : left;
}

/* Parses one file into an array of finished pods, or NULL after logging why. */
static json_t *load_file(struct staticpods *sp, const char *name)
{
    char path[PATH_MAX];
    nodefs_path(path, sizeof(path), "%s/%s", sp->dir, name);
    char *buf = NULL;
    size_t len = 0;
    struct bosun_err err = {0};
    struct schema_docs docs = {0};
    json_t *pods = NULL;
    if (fileutil_read_all(path, STATICPODS_FILE_MAX, &buf, &len, &err) < 0) {
        log_error("static pod %s: %s", name, err.msg);
        return NULL;
    }
    if (schema_yaml_parse(buf, len, name, &docs, &err) < 0) {
        log_error("static pod %s (last good version keeps running)", err.msg);
        goto out;
    }
    pods = json_array();
    bool bad = false;
    for (size_t i = 0; i < docs.n; i++) {
        json_t *obj = docs.v[i].obj;
        const char *kind = jsonx_get_str(obj, "kind");
        if (!kind || strcmp(kind, "Pod") != 0) {
            log_error("static pod %s:%d: kind: want Pod, not %s (last good version keeps "
                      "running)",
                      name, docs.v[i].line, kind ? kind : "(none)");
            bad = true;
            continue;
        }
        schema_default(obj);
        struct schema_issues issues = {0};
        schema_validate(obj, &docs.v[i], &issues);
        for (size_t k = 0; k < issues.n; k++) {
            char line[1024];
            schema_issue_format(&issues.v[k], name, line, sizeof(line));
            if (issues.v[k].severity == SCHEMA_ERROR)
                log_error("static pod %s (last good version keeps running)", line);
            else
                log_warn("static pod %s", line);
        }
        if (issues.errors > 0)
            bad = true;
        schema_issues_free(&issues);
        if (bad)
            continue;
        json_t *pod = json_deep_copy(obj);
        if (!pod || staticpods_finish(pod, sp->node, path) < 0) {
            json_decref(pod);
            bad = true;
            continue;
        }
        json_array_append_new(pods, pod);
    }
    if (bad) {
        json_decref(pods);
        pods = NULL;
    }
out:
    schema_docs_free(&docs);
    free(buf);
    return pods;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct sp_file *)a)->name, ((const struct sp_file *)b)->name);
}

int staticpods_rescan(struct staticpods *sp, bool force)
{
    if (!force && (sp->dirty_at < 0 || staticpods_rescan_in(sp) > 0))
        return 0;
    sp->dirty_at = -1;
    DIR *d = opendir(sp->dir);
    if (!d) {
        log_error("static pods: open %s: %s", sp->dir, strerror(errno));
        return 0;
    }
    for (size_t i = 0; i < sp->nfiles; i++)
        sp->files[i].seen = false;
    bool changed = false;
    struct dirent *e;
    int fd = dirfd(d);
    while ((e = readdir(d))) {
        if (!staticpods_name_wanted(e->d_name))
            continue;
        struct stat st;
        if (fstatat(fd, e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
            continue;
        struct sp_file *f = NULL;
        for (size_t i = 0; i < sp->nfiles; i++) {
            if (strcmp(sp->files[i].name, e->d_name) == 0)
                f = &sp->files[i];
        }
        if (!f) {
            if (sp->nfiles >= STATICPODS_FILES_MAX) {
                log_error("static pods: more than %d files in %s; %s ignored", STATICPODS_FILES_MAX,
                          sp->dir, e->d_name);
                continue;
            }
            struct sp_file *nf = realloc(sp->files, (sp->nfiles + 1) * sizeof(*nf));
            if (!nf)
                continue;
            sp->files = nf;
            f = &sp->files[sp->nfiles++];
            memset(f, 0, sizeof(*f));
            snprintf(f->name, sizeof(f->name), "%s", e->d_name);
            f->pods = json_array();
            f->size = -1;
        }
        f->seen = true;
        if (f->ino == st.st_ino && f->size == st.st_size && f->mtime.tv_sec == st.st_mtim.tv_sec &&
            f->mtime.tv_nsec == st.st_mtim.tv_nsec)
            continue;
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime = st.st_mtim;
        json_t *pods = load_file(sp, f->name);
        if (!pods)
            continue; /* keep the last good version */
        if (!json_equal(pods, f->pods)) {
            json_decref(f->pods);
            f->pods = pods;
            changed = true;
            log_info("static pod file %s: %zu pod(s)", f->name, json_array_size(pods));
        } else {
            json_decref(pods);
        }
    }
    closedir(d);
    for (size_t i = 0; i < sp->nfiles;) {
        if (sp->files[i].seen) {
            i++;
            continue;
        }
        if (json_array_size(sp->files[i].pods) > 0) {
            log_info("static pod file %s removed", sp->files[i].name);
            changed = true;
        }
        json_decref(sp->files[i].pods);
        sp->files[i] = sp->files[--sp->nfiles];
    }
    if (!changed)
        return 0;
    qsort(sp->files, sp->nfiles, sizeof(*sp->files), cmp_files);
    /* The union; a namespace/name defined twice is taken from the first file only. */
    json_t *all = json_array();
    for (size_t i = 0; i < sp->nfiles; i++) {
        size_t k;
        json_t *p;
        json_array_foreach(sp->files[i].pods, k, p)
        {
            const char *ns = jsonx_get_str(p, "metadata.namespace");
            const char *nm = jsonx_get_str(p, "metadata.name");
            bool dup = false;
            size_t j;
            json_t *q;
            json_array_foreach(all, j, q)
            {
                if (!strcmp(ns, jsonx_get_str(q, "metadata.namespace")) &&
                    !strcmp(nm, jsonx_get_str(q, "metadata.name")))
                    dup = true;
            }
            if (dup) {
                log_error("static pod %s: pod %s/%s is already defined by another file; "
                          "ignored",
                          sp->files[i].name, ns, nm);
                continue;
            }
            json_array_append(all, p);
        }
    }
    json_decref(sp->pods);
    sp->pods = all;
    return 1;
}

const json_t *staticpods_pods(const struct staticpods *sp)
{
    return sp->pods;
}
