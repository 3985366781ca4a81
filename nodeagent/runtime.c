#include "nodeagent/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"
#include "nodeagent/nodefs.h"
#include "nodeagent/spawn.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const runc_paths[] = {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc",
                                         "/usr/local/bin/runc", NULL};
static const char *const crun_paths[] = {"/usr/bin/crun", "/usr/local/bin/crun", NULL};
static const char *const conmon_paths[] = {"/usr/bin/conmon", "/usr/libexec/podman/conmon",
                                           "/usr/local/bin/conmon", NULL};

static const char *first_executable(const char *const *paths)
{
    for (; *paths; paths++) {
        if (access(*paths, X_OK) == 0)
            return *paths;
    }
    return NULL;
}

int runtime_cgroup_v2_only(void)
{
    struct statfs sf;
    return statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

int runtime_kind_parse(const char *s, enum runtime_kind *out, struct bosun_err *err)
{
    if (!s || !*s) {
        *out = (runtime_cgroup_v2_only() && first_executable(crun_paths)) ? RUNTIME_CRUN
                                                                          : RUNTIME_RUNC;
        return 0;
    }
    if (strcmp(s, "runc") == 0)
        *out = RUNTIME_RUNC;
    else if (strcmp(s, "crun") == 0)
        *out = RUNTIME_CRUN;
    else if (strcmp(s, "fake") == 0)
        *out = RUNTIME_FAKE;
    else
        return err_set(err, -EINVAL, "--runtime: want runc, crun or fake, not \"%s\"", s);
    return 0;
}

const char *runtime_kind_name(enum runtime_kind k)
{
    return k == RUNTIME_RUNC ? "runc" : k == RUNTIME_CRUN ? "crun" : "fake";
}

int runtime_init(struct runtime *rt, enum runtime_kind kind, const char *root_dir,
                 struct bosun_err *err)
{
    memset(rt, 0, sizeof(*rt));
    rt->kind = kind;
    const char *name = runtime_kind_name(kind);
    if (kind != RUNTIME_FAKE) {
        const char *bin = first_executable(kind == RUNTIME_RUNC ? runc_paths : crun_paths);
        if (!bin)
            return err_set(err, -ENOENT, "runtime: %s not found (apt-get install %s)", name, name);
        if (kind == RUNTIME_CRUN && !runtime_cgroup_v2_only())
            return err_set(err, -ENOTSUP,
                           "runtime: crun needs a pure cgroup v2 host (this one is hybrid or "
                           "v1); use --runtime runc");
        const char *conmon = first_executable(conmon_paths);
        if (!conmon)
            return err_set(err, -ENOENT, "runtime: conmon not found (apt-get install conmon)");
        snprintf(rt->bin, sizeof(rt->bin), "%s", bin);
        snprintf(rt->conmon, sizeof(rt->conmon), "%s", conmon);
    }
    if (nodefs_path(rt->state_dir, sizeof(rt->state_dir), "%s/runtime/%s", root_dir, name) < 0 ||
        nodefs_path(rt->exit_dir, sizeof(rt->exit_dir), "%s/runtime/exits", root_dir) < 0 ||
        nodefs_path(rt->conmon_dir, sizeof(rt->conmon_dir), "%s/runtime/conmon", root_dir) < 0)
        return err_set(err, -ENAMETOOLONG, "runtime: --root-dir too long");
    int rc;
    if ((rc = nodefs_mkdir_p(rt->state_dir, 0700, err)) < 0 ||
        (rc = nodefs_mkdir_p(rt->exit_dir, 0700, err)) < 0 ||
        (rc = nodefs_mkdir_p(rt->conmon_dir, 0700, err)) < 0)
        return err_wrap(err, "runtime");
    return 0;
}

/* Runs the runtime binary with --root and the given arguments. */
static int run_rt(const struct runtime *rt, const char *a1, const char *a2, const char *a3,
                  struct spawn_result *res, struct bosun_err *err)
{
    char root_arg[PATH_MAX + 8];
    nodefs_path(root_arg, sizeof(root_arg), "--root=%s", rt->state_dir);
    char *argv[] = {(char *)rt->bin, root_arg, (char *)a1, (char *)a2, (char *)a3, NULL};
    return spawn_run(argv, NULL, NULL, 30000, 0, res, err);
}

static int rt_failed(const char *what, const char *id, struct spawn_result *res,
                     struct bosun_err *err)
{
    char line[512];
    spawn_last_line(res->errout[0] ? res->errout : res->out, line, sizeof(line));
    int rc = err_set(err, -EIO, "%s %s: exit %d: %s", what, id, res->status, line);
    spawn_result_free(res);
    return rc;
}

static void fake_path(const struct runtime *rt, const char *id, char *p, size_t len)
{
    nodefs_path(p, len, "%s/%s", rt->state_dir, id);
}

static int fake_write(const struct runtime *rt, const char *id, const char *state, int code,
                      struct bosun_err *err)
{
    char p[PATH_MAX], buf[64];
    fake_path(rt, id, p, sizeof(p));
    int n = snprintf(buf, sizeof(buf), "%s %d\n", state, code);
    return fileutil_write_atomic(p, buf, (size_t)n, 0644, err);
}

/* conmon's --cuuid names its attach socket directory, so it stays short whatever the id. */
static void short_uuid(const char *id, char *out, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(out, len, "%016llx", (unsigned long long)h);
}

int runtime_create(const struct runtime *rt, const char *id, const char *bundle,
                   const char *log_path, struct bosun_err *err)
{
    if (rt->kind == RUNTIME_FAKE)
        return fake_write(rt, id, "created", -1, err);
    char cuuid[32], log_arg[PATH_MAX + 16], pidfile[PATH_MAX], cpidfile[PATH_MAX],
        root_arg[PATH_MAX + 8], exit_file[PATH_MAX];
    short_uuid(id, cuuid, sizeof(cuuid));
    nodefs_path(log_arg, sizeof(log_arg), "k8s-file:%s", log_path);
    nodefs_path(pidfile, sizeof(pidfile), "%s/%s.pid", rt->conmon_dir, id);
    nodefs_path(cpidfile, sizeof(cpidfile), "%s/%s.conmon.pid", rt->conmon_dir, id);
    nodefs_path(root_arg, sizeof(root_arg), "--root=%s", rt->state_dir);
    nodefs_path(exit_file, sizeof(exit_file), "%s/%s", rt->exit_dir, id);
    unlink(exit_file);
    char *argv[] = {(char *)rt->conmon,
                    "--cid",
                    (char *)id,
                    "--cuuid",
                    cuuid,
                    "--name",
                    (char *)id,
                    "--runtime",
                    (char *)rt->bin,
                    "--bundle",
                    (char *)bundle,
                    "--log-path",
                    log_arg,
                    "--exit-dir",
                    (char *)rt->exit_dir,
                    "--container-pidfile",
                    pidfile,
                    "--conmon-pidfile",
                    cpidfile,
                    "--socket-dir-path",
                    (char *)rt->conmon_dir,
                    "--runtime-arg",
                    root_arg,
                    "--log-level",
                    "warn",
                    NULL};
    /* conmon reports on a "sync pipe" once the runtime created the container (or
     * failed to): {"data": <pid>} or {"data": -1, "message": "..."}. Without waiting for
     * it, a start could race the create. */
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0)
        return err_errno(err, -errno, "create %s: pipe", id);
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "_OCI_SYNCPIPE=3", NULL};
    struct spawn_result res;
    /* A session of its own: ^C on the agent's terminal must not reach the containers. */
    int rc = spawn_run_fd(argv, envp, NULL, 30000, 1, sync[1], &res, err);
    close(sync[1]);
    if (rc < 0) {
        close(sync[0]);
        return err_wrap(err, "create %s", id);
    }
    if (res.status != 0) {
        close(sync[0]);
        return rt_failed("conmon: create", id, &res, err);
    }
    spawn_result_free(&res);
    char buf[4096];
    size_t n = 0;
    int64_t deadline = time_mono_ms() + 30000;
    while (n < sizeof(buf) - 1) {
        struct pollfd pf = {.fd = sync[0], .events = POLLIN};
        int64_t left = deadline - time_mono_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
            close(sync[0]);
            return err_set(err, -ETIMEDOUT, "create %s: conmon did not report", id);
        }
        ssize_t r = read(sync[0], buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '}', n))
            break;
    }
    close(sync[0]);
    buf[n] = '\0';
    json_t *msg = n ? jsonx_loadb(buf, strcspn(buf, "\n"), NULL) : NULL;
    json_t *pid = json_object_get(msg, "data");
    if (!pid)
        pid = json_object_get(msg, "pid");
    if (!json_is_integer(pid) || json_integer_value(pid) <= 0) {
        const char *m = jsonx_get_str(msg, "message");
        rc = err_set(err, -EIO, "create %s: %s", id,
                     m   ? m
                     : n ? buf
                         : "conmon exited without reporting");
        json_decref(msg);
        runtime_delete(rt, id, NULL);
        return rc;
    }
    json_decref(msg);
    return 0;
}

int runtime_start(const struct runtime *rt, const char *id, struct bosun_err *err)
{
    if (rt->kind == RUNTIME_FAKE)
        return fake_write(rt, id, "running", -1, err);
    struct spawn_result res;
    int rc = run_rt(rt, "start", id, NULL, &res, err);
    if (rc < 0)
        return err_wrap(err, "start %s", id);
    if (res.status != 0)
        return rt_failed("start", id, &res, err);
    spawn_result_free(&res);
    return 0;
}

static void read_exit(const struct runtime *rt, const char *id, struct runtime_state *st)
{
    char p[PATH_MAX];
    nodefs_path(p, sizeof(p), "%s/%s", rt->exit_dir, id);
    char *buf = NULL;
    struct stat sb;
    if (fileutil_read_all(p, 64, &buf, NULL, NULL) == 0 && buf[0]) {
        st->exit_code = atoi(buf);
        if (stat(p, &sb) == 0)
            st->finished_at = sb.st_mtime;
    }
    free(buf);
}

int runtime_state(const struct runtime *rt, const char *id, struct runtime_state *out,
                  struct bosun_err *err)
{
    struct runtime_state st = {.status = RUNTIME_ABSENT, .exit_code = -1};
    if (rt->kind == RUNTIME_FAKE) {
        char p[PATH_MAX], *buf = NULL;
        fake_path(rt, id, p, sizeof(p));
        if (fileutil_read_all(p, 64, &buf, NULL, NULL) == 0) {
            char state[16] = "";
            int code = -1;
            sscanf(buf, "%15s %d", state, &code);
            st.status = !strcmp(state, "created")   ? RUNTIME_CREATED
                        : !strcmp(state, "running") ? RUNTIME_RUNNING
                                                    : RUNTIME_STOPPED;
            st.exit_code = code;
            st.finished_at = st.status == RUNTIME_STOPPED ? time(NULL) : 0;
        }
        free(buf);
        *out = st;
        return 0;
    }
    struct spawn_result res;
    int rc = run_rt(rt, "state", id, NULL, &res, err);
    if (rc < 0)
        return err_wrap(err, "state %s", id);
    if (res.status != 0) {
        if (strstr(res.errout, "does not exist")) {
            spawn_result_free(&res);
            read_exit(rt, id, &st);
            *out = st;
            return 0;
        }
        return rt_failed("state", id, &res, err);
    }
    json_t *j = jsonx_loadb(res.out, strlen(res.out), err);
    spawn_result_free(&res);
    if (!j)
        return err_wrap(err, "state %s", id);
    const char *s = jsonx_get_str(j, "status");
    if (s && !strcmp(s, "created"))
        st.status = RUNTIME_CREATED;
    else if (s && (!strcmp(s, "running") || !strcmp(s, "paused")))
        st.status = RUNTIME_RUNNING;
    else
        st.status = RUNTIME_STOPPED;
    st.pid = (int)jsonx_get_int(j, "pid", 0);
    json_decref(j);
    if (st.status == RUNTIME_STOPPED) {
        st.pid = 0;
        read_exit(rt, id, &st);
    }
    *out = st;
    return 0;
}

int runtime_kill(const struct runtime *rt, const char *id, int sig, struct bosun_err *err)
{
    if (rt->kind == RUNTIME_FAKE) {
        struct runtime_state st;
        runtime_state(rt, id, &st, NULL);
        if (st.status == RUNTIME_ABSENT || st.status == RUNTIME_STOPPED)
            return 0;
        return fake_write(rt, id, "stopped", 128 + sig, err);
    }
    char signum[16];
    snprintf(signum, sizeof(signum), "%d", sig);
    struct spawn_result res;
    int rc = run_rt(rt, "kill", id, signum, &res, err);
    if (rc < 0)
        return err_wrap(err, "kill %s", id);
    if (res.status != 0) {
        if (strstr(res.errout, "does not exist") || strstr(res.errout, "not running") ||
            strstr(res.errout, "process already finished")) {
            spawn_result_free(&res);
            return 0;
        }
        return rt_failed("kill", id, &res, err);
    }
    spawn_result_free(&res);
    return 0;
}

int runtime_delete(const struct runtime *rt, const char *id, struct bosun_err *err)
{
    char p[PATH_MAX];
    if (rt->kind == RUNTIME_FAKE) {
        fake_path(rt, id, p, sizeof(p));
        unlink(p);
        return 0;
    }
    struct spawn_result res;
    int rc = run_rt(rt, "delete", "--force", id, &res, err);
    if (rc < 0)
        return err_wrap(err, "delete %s", id);
    if (res.status != 0 && !strstr(res.errout, "does not exist"))
        return rt_failed("delete", id, &res, err);
    spawn_result_free(&res);
    static const char *const suffixes[] = {".pid", ".conmon.pid", NULL};
    for (int i = 0; suffixes[i]; i++) {
        nodefs_path(p, sizeof(p), "%s/%s%s", rt->conmon_dir, id, suffixes[i]);
        unlink(p);
    }
    char cuuid[32];
    short_uuid(id, cuuid, sizeof(cuuid));
    nodefs_path(p, sizeof(p), "%s/%s", rt->conmon_dir, cuuid);
    nodefs_rm_rf(p, NULL);
    nodefs_path(p, sizeof(p), "%s/%s", rt->exit_dir, id);
    unlink(p);
    return 0;
}

int runtime_list(const struct runtime *rt, char ***ids, size_t *n, struct bosun_err *err)
{
    DIR *d = opendir(rt->state_dir);
    if (!d)
        return err_errno(err, -errno, "runtime: list %s", rt->state_dir);
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                rc = err_set(err, -ENOMEM, "runtime: out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = strdup(e->d_name))) {
            rc = err_set(err, -ENOMEM, "runtime: out of memory");
            break;
        }
        cnt++;
    }
    closedir(d);
    if (rc < 0) {
        runtime_list_free(v, cnt);
        return rc;
    }
    *ids = v;
    *n = cnt;
    return 0;
}

void runtime_list_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
