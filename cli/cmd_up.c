/* bosun up — the whole cluster on this machine, as supervised child processes.
 *
 * Layout under --data-dir (see docs/cli.md): store/, repo.git/, manifests/, node/,
 * gitsync/ (gitsync's clone cache), auth/, pki/ (the API's CA and serving certificate:
 * reconcilerd serves HTTPS, every client verifies it with pki/ca.crt), kubeconfig,
 * logs/<daemon>.log.
 *
 * The supervisor is one thread around a signalfd (SIGCHLD, SIGINT, SIGTERM) and poll:
 * a child that exits is logged with its status and restarted after a back-off (1 s,
 * doubling to 30 s; reset once it has run for a minute). Each child runs in its own
 * process group (a terminal's Ctrl-C reaches only us, so we decide the stop order) with
 * PR_SET_PDEATHSIG so that none outlives us. On SIGINT/SIGTERM the children get SIGTERM
 * one at a time in reverse start order (the proxy first, reconcilerd last, so the
 * nodeagent can still report while it stops its pods), within ~30 s in total; whoever is
 * left then gets SIGKILL. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/up.h"
#include "cli/util.h"
#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/pki.h"
#include "lib/timeutil.h"

#define UP_MAX_ARGS 40
#define UP_BACKOFF_MIN_MS 1000
#define UP_BACKOFF_MAX_MS 30000
#define UP_STABLE_MS 60000
#define UP_STOP_GRACE_MS 30000

static const char up_usage[] = "bosun up [--data-dir /var/lib/bosun] [--repo PATH|URL] "
                               "[--api-port 6443] [--webhook-port 9292] [--agent-port 10250] "
                               "[--bridge bosun0] [--cluster-cidr CIDR] [--service-cidr CIDR] "
                               "[--node-port-range 30000-32767]";

struct up_opts {
    const char *data_dir;
    const char *repo;
    long long api_port, webhook_port, agent_port;
    const char *bridge;
    const char *cluster_cidr;
    const char *service_cidr;
    const char *node_port_range;
    const char *examples;
    const char *image_dir;
    const char *log_level;
    const char *example_ns, *example_name;
};

struct child {
    const char *name;
    char *argv[UP_MAX_ARGS];
    int argc;
    pid_t pid;
    int64_t started_ms;
    int64_t restart_at_ms; /* 0 = not waiting to restart */
    int64_t backoff_ms;
    int restarts;
};

enum { C_RECONCILERD, C_GITSYNC, C_SCHEDULER, C_NODEAGENT, C_PROXY, C_N };

struct up_ctx {
    struct up_opts o;
    char exe_dir[PATH_MAX];
    char top[PATH_MAX]; /* the source tree, when found (examples, images) */
    char dir[PATH_MAX];
    char node_name[256];
    char server[128];
    char pki[PATH_MAX + 8]; /* DIR/pki: the API's CA and serving certificate */
    char ca_file[PATH_MAX + 16];
    char repo_path[PATH_MAX + 32];
    struct cli_up_auth auth;
    struct child ch[C_N];
    int sigfd;
    bool example_printed;
    struct httpc *http;
};

/* ---- set-up ------------------------------------------------------------------------ */

static int mkdir_p(const char *path, int mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The source tree: the first ancestor of the executable's directory (up to three
 * levels: bin/, build/asan/bin/) that has manifests-example/. */
static void find_top(struct up_ctx *u)
{
    char cand[2 * PATH_MAX + 64];
    const char *ups[] = {"..", "../..", "../../..", NULL};
    for (int i = 0; ups[i]; i++) {
        snprintf(cand, sizeof(cand), "%s/%s/manifests-example", u->exe_dir, ups[i]);
        if (is_dir(cand)) {
            char real[PATH_MAX];
            snprintf(cand, sizeof(cand), "%s/%s", u->exe_dir, ups[i]);
            if (realpath(cand, real))
                snprintf(u->top, sizeof(u->top), "%s", real);
            return;
        }
    }
}

static int seed_static(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    if (!d)
        return -errno;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' ||
            !((l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
              (l > 4 && !strcmp(de->d_name + l - 4, ".yml"))))
            continue;
        char from[3 * PATH_MAX], to[3 * PATH_MAX];
        snprintf(from, sizeof(from), "%s/%s", src, de->d_name);
        snprintf(to, sizeof(to), "%s/%s", dst, de->d_name);
        char *buf = NULL;
        size_t len = 0;
        struct bosun_err err = {0};
        if (cli_read_file(from, &buf, &len, &err) < 0 ||
            fileutil_write_atomic(to, buf, len, 0644, &err) < 0) {
            fprintf(stderr, "bosun: seeding static pods: %s\n", err.msg);
            r = err.code;
        }
        free(buf);
    }
    closedir(d);
    return r;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -EADDRNOTAVAIL;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void add_arg(struct child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_arg(struct child *c, const char *fmt, ...)
{
    if (c->argc + 1 >= UP_MAX_ARGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s)
        c->argv[c->argc++] = s;
}

static void child_init(struct up_ctx *u, int idx, const char *name, const char *token_client)
{
    struct child *c = &u->ch[idx];
    c->name = name;
    c->backoff_ms = UP_BACKOFF_MIN_MS;
    add_arg(c, "%s/%s", u->exe_dir, name);
    int hp = free_port();
    add_arg(c, "--healthz-listen");
    add_arg(c, "127.0.0.1:%d", hp > 0 ? hp : 0);
    add_arg(c, "--log-level");
    add_arg(c, "%s", u->o.log_level);
    if (token_client) {
        add_arg(c, "--server");
        add_arg(c, "%s", u->server);
        add_arg(c, "--token-file");
        add_arg(c, "%s/auth/%s.token", u->dir, token_client);
        add_arg(c, "--certificate-authority");
        add_arg(c, "%s", u->ca_file);
    }
}

static void children_init(struct up_ctx *u)
{
    struct up_opts *o = &u->o;
    struct child *c;

    child_init(u, C_RECONCILERD, "reconcilerd", NULL);
    c = &u->ch[C_RECONCILERD];
    add_arg(c, "--listen");
    add_arg(c, "127.0.0.1:%lld", o->api_port);
    add_arg(c, "--tls-cert-file");
    add_arg(c, "%s/%s", u->pki, PKI_SERVER_CERT);
    add_arg(c, "--tls-private-key-file");
    add_arg(c, "%s/%s", u->pki, PKI_SERVER_KEY);
    add_arg(c, "--data-dir");
    add_arg(c, "%s/store", u->dir);
    add_arg(c, "--token-auth-file");
    add_arg(c, "%s/auth/tokens.csv", u->dir);
    add_arg(c, "--service-cidr");
    add_arg(c, "%s", o->service_cidr);
    add_arg(c, "--service-node-port-range");
    add_arg(c, "%s", o->node_port_range);
    add_arg(c, "--cluster-cidr");
    add_arg(c, "%s", o->cluster_cidr);

    child_init(u, C_GITSYNC, "gitsync", "gitsync");
    c = &u->ch[C_GITSYNC];
    add_arg(c, "--repo");
    add_arg(c, "%s", u->repo_path);
    if (!o->repo) {
        add_arg(c, "--branch");
        add_arg(c, "main");
    }
    add_arg(c, "--webhook-listen");
    add_arg(c, "127.0.0.1:%lld", o->webhook_port);
    add_arg(c, "--cache-dir");
    add_arg(c, "%s/gitsync", u->dir);

    child_init(u, C_SCHEDULER, "scheduler", "scheduler");

    child_init(u, C_NODEAGENT, "nodeagent", "node");
    c = &u->ch[C_NODEAGENT];
    add_arg(c, "--node-name");
    add_arg(c, "%s", u->node_name);
    add_arg(c, "--node-ip");
    add_arg(c, "127.0.0.1");
    add_arg(c, "--listen");
    add_arg(c, "127.0.0.1:%lld", o->agent_port);
    add_arg(c, "--manifest-dir");
    add_arg(c, "%s/manifests", u->dir);
    add_arg(c, "--root-dir");
    add_arg(c, "%s/node", u->dir);
    add_arg(c, "--bridge");
    add_arg(c, "%s", o->bridge);
    char images[2 * PATH_MAX + 64];
    if (o->image_dir)
        snprintf(images, sizeof(images), "%s", o->image_dir);
    else
        snprintf(images, sizeof(images), "%s/build/images", u->top);
    if ((o->image_dir || u->top[0]) && is_dir(images)) {
        add_arg(c, "--image-dir");
        add_arg(c, "%s", images);
    }

    child_init(u, C_PROXY, "proxy", "proxy");
    c = &u->ch[C_PROXY];
    add_arg(c, "--node-name");
    add_arg(c, "%s", u->node_name);
    /* the node IP is 127.0.0.1: NodePorts on loopback only */
    add_arg(c, "--nodeport-addresses");
    add_arg(c, "127.0.0.1");
}

/* ---- supervision ------------------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char ts[32];
    time_rfc3339(time(NULL), ts, sizeof(ts));
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s bosun: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int child_start(struct up_ctx *u, struct child *c)
{
    char log[2 * PATH_MAX + 64];
    snprintf(log, sizeof(log), "%s/logs/%s.log", u->dir, c->name);
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lfd < 0) {
        say("%s: cannot open %s: %s", c->name, log, strerror(errno));
        return -errno;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(lfd);
        say("%s: fork: %s", c->name, strerror(e));
        return -e;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1); /* we died before prctl took effect */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0)
            dup2(nullfd, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        execv(c->argv[0], c->argv);
        dprintf(2, "bosun: exec %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    close(lfd);
    c->pid = pid;
    c->started_ms = time_mono_ms();
    c->restart_at_ms = 0;
    return 0;
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "ended (status 0x%x)", status);
}

/* Reaps every exited child; schedules restarts unless stopping. */
static void reap(struct up_ctx *u, bool stopping)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (int i = 0; i < C_N; i++) {
            struct child *c = &u->ch[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            if (stopping)
                break;
            char what[96];
            describe_status(status, what, sizeof(what));
            int64_t now = time_mono_ms();
            if (now - c->started_ms >= UP_STABLE_MS)
                c->backoff_ms = UP_BACKOFF_MIN_MS;
            c->restart_at_ms = now + c->backoff_ms;
            c->restarts++;
            say("%s %s; restarting in %llds (see %s/logs/%s.log)", c->name, what,
                (long long)(c->backoff_ms / 1000), u->dir, c->name);
            c->backoff_ms *= 2;
            if (c->backoff_ms > UP_BACKOFF_MAX_MS)
                c->backoff_ms = UP_BACKOFF_MAX_MS;
        }
    }
}

/* SIGTERM in reverse order, each waited for; SIGKILL what is left at the deadline. */
static void stop_all(struct up_ctx *u)
{
    int64_t deadline = time_mono_ms() + UP_STOP_GRACE_MS;
    bool hurry = false;
    for (int i = C_N - 1; i >= 0; i--) {
        struct child *c = &u->ch[i];
        if (c->pid <= 0)
            continue;
        say("stopping %s (pid %d)", c->name, (int)c->pid);
        kill(c->pid, SIGTERM);
        while (c->pid > 0 && !hurry && time_mono_ms() < deadline) {
            struct pollfd p = {.fd = u->sigfd, .events = POLLIN};
            poll(&p, 1, 100);
            struct signalfd_siginfo si;
            while (read(u->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
                    say("second signal: killing everything now");
                    hurry = true;
                }
            }
            reap(u, true);
        }
    }
    for (int i = C_N - 1; i >= 0; i--) {
        struct child *c = &u->ch[i];
        if (c->pid > 0) {
            say("%s did not stop in time; SIGKILL", c->name);
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
        }
    }
    for (int i = 0; i < C_N; i++) {
        struct child *c = &u->ch[i];
        if (c->pid > 0) {
            waitpid(c->pid, NULL, 0);
            c->pid = 0;
        }
    }
}

/* Prints the example's URL once its Deployment is Ready. Quiet until then. */
static void check_example(struct up_ctx *u)
{
    if (u->example_printed || !u->http)
        return;
    char path[512];
    json_t *d = NULL, *s = NULL;
    long st = 0;
    struct bosun_err err = {0};
    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", u->o.example_ns,
             u->o.example_name);
    if (httpc_json(u->http, "GET", path, NULL, NULL, &st, &d, &err) < 0 || st != 200)
        goto out;
    long long want = jsonx_get_int(d, "spec.replicas", 1);
    long long ready = jsonx_get_int(d, "status.readyReplicas", 0);
    if (want <= 0 || ready < want)
        goto out;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", u->o.example_ns,
             u->o.example_name);
    if (httpc_json(u->http, "GET", path, NULL, NULL, &st, &s, &err) < 0 || st != 200)
        goto out;
    const json_t *ports = jsonx_get(s, "spec");
    ports = ports ? json_object_get(ports, "ports") : NULL;
    long long np = jsonx_get_int(json_array_get(ports, 0), "nodePort", 0);
    if (np <= 0)
        goto out;
    printf("%s: http://127.0.0.1:%lld/\n", u->o.example_name, np);
    fflush(stdout);
    u->example_printed = true;
out:
    json_decref(d);
    json_decref(s);
}

static int supervise(struct up_ctx *u)
{
    int64_t next_check = 0;
    for (;;) {
        int64_t now = time_mono_ms();
        int timeout = 1000;
        for (int i = 0; i < C_N; i++) {
            struct child *c = &u->ch[i];
            if (c->pid == 0 && c->restart_at_ms && c->restart_at_ms <= now) {
                if (child_start(u, c) < 0)
                    c->restart_at_ms = now + c->backoff_ms;
                else
                    say("restarted %s (pid %d, restart #%d)", c->name, (int)c->pid,
                        c->restarts);
            }
            if (c->pid == 0 && c->restart_at_ms) {
                int64_t d = c->restart_at_ms - now;
                if (d < timeout)
                    timeout = d < 0 ? 0 : (int)d;
            }
        }
        struct pollfd p = {.fd = u->sigfd, .events = POLLIN};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR)
            return 1;
        struct signalfd_siginfo si;
        while (read(u->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
                say("%s: shutting down", strsignal((int)si.ssi_signo));
                stop_all(u);
                say("stopped");
                return 0;
            }
        }
        reap(u, false);
        if (time_mono_ms() >= next_check) {
            check_example(u);
            next_check = time_mono_ms() + 1000;
        }
    }
}

/* ---- the command ------------------------------------------------------------------- */

static int prepare(struct up_ctx *u)
{
    struct bosun_err err = {0};
    char p[2 * PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", u->exe_dir, sizeof(u->exe_dir) - 1);
    if (n <= 0) {
        cli_errorf("cannot find my own executable: %s", strerror(errno));
        return 1;
    }
    u->exe_dir[n] = '\0';
    char *slash = strrchr(u->exe_dir, '/');
    if (slash)
        *slash = '\0';
    find_top(u);
    for (int i = 0; i < C_N; i++) {
        static const char *const names[] = {"reconcilerd", "gitsync", "scheduler", "nodeagent",
                                            "proxy"};
        snprintf(p, sizeof(p), "%s/%s", u->exe_dir, names[i]);
        if (access(p, X_OK) != 0) {
            cli_errorf("%s not found next to bosun (build with `make`)", p);
            return 1;
        }
    }
    if (!realpath(u->o.data_dir, u->dir)) {
        if (mkdir_p(u->o.data_dir, 0755) < 0 || !realpath(u->o.data_dir, u->dir)) {
            cli_errorf("--data-dir %s: %s", u->o.data_dir, strerror(errno));
            return 1;
        }
    }
    static const char *const subdirs[] = {"store", "node", "logs", "gitsync"};
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", u->dir, subdirs[i]);
        if (mkdir_p(p, 0755) < 0) {
            cli_errorf("mkdir %s: %s", p, strerror(errno));
            return 1;
        }
    }
    if (gethostname(u->node_name, sizeof(u->node_name) - 1) < 0 || !u->node_name[0])
        snprintf(u->node_name, sizeof(u->node_name), "localhost");
    for (char *c = u->node_name; *c; c++) /* a node name is a DNS-1123 subdomain */
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    /* HTTPS with a CA of our own: kubectl sends the admin token only over TLS. */
    snprintf(u->server, sizeof(u->server), "https://127.0.0.1:%lld", u->o.api_port);
    snprintf(u->pki, sizeof(u->pki), "%s/pki", u->dir);
    snprintf(u->ca_file, sizeof(u->ca_file), "%s/%s", u->pki, PKI_CA_CERT);
    static const char *const ip_sans[] = {"127.0.0.1", NULL};
    static const char *const dns_sans[] = {"localhost", NULL};
    if (pki_ensure(u->pki, ip_sans, dns_sans, &err) < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }

    char examples[PATH_MAX + 32];
    if (u->o.examples)
        snprintf(examples, sizeof(examples), "%s", u->o.examples);
    else if (u->top[0])
        snprintf(examples, sizeof(examples), "%s/manifests-example", u->top);
    else
        examples[0] = '\0';

    /* static pods: seeded once, when the directory is first made */
    snprintf(p, sizeof(p), "%s/manifests", u->dir);
    if (!is_dir(p)) {
        if (mkdir_p(p, 0755) < 0) {
            cli_errorf("mkdir %s: %s", p, strerror(errno));
            return 1;
        }
        char st[2 * PATH_MAX + 64];
        snprintf(st, sizeof(st), "%s/static", examples);
        if (examples[0] && is_dir(st))
            seed_static(st, p);
    }

    char auth[2 * PATH_MAX + 64];
    snprintf(auth, sizeof(auth), "%s/auth", u->dir);
    if (cli_up_auth_ensure(auth, u->node_name, &u->auth, &err) < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }
    char *ca_data = NULL;
    if (pki_base64_file(u->ca_file, &ca_data, &err) < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }
    char *kc = cli_up_kubeconfig(u->server, u->auth.token[UP_ADMIN], ca_data);
    free(ca_data);
    snprintf(p, sizeof(p), "%s/kubeconfig", u->dir);
    if (!kc || fileutil_write_atomic(p, kc, strlen(kc), 0600, &err) < 0) {
        free(kc);
        cli_errorf("%s", kc ? err.msg : "out of memory");
        return 1;
    }
    free(kc);

    if (u->o.repo) {
        snprintf(u->repo_path, sizeof(u->repo_path), "%s", u->o.repo);
    } else {
        snprintf(u->repo_path, sizeof(u->repo_path), "%s/repo.git", u->dir);
        char apps[2 * PATH_MAX + 64];
        snprintf(apps, sizeof(apps), "%s/apps", examples);
        int created = 0;
        if (cli_up_repo_ensure(u->repo_path, examples[0] && is_dir(apps) ? apps : NULL,
                               (int)u->o.webhook_port, &created, &err) < 0) {
            cli_errorf("%s", err.msg);
            return 1;
        }
        if (created)
            say("created %s (branch main) from %s", u->repo_path, apps);
    }
    if (httpc_new_token(u->server, u->auth.token[UP_ADMIN], &u->http, &err) < 0 ||
        httpc_set_ca_file(u->http, u->ca_file, &err) < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }
    return 0;
}

static void print_where(const struct up_ctx *u)
{
    printf("bosun is starting; everything lives in %s\n", u->dir);
    printf("  API:         %s\n", u->server);
    printf("  kubeconfig:  export KUBECONFIG=%s/kubeconfig\n", u->dir);
    printf("  repository:  %s%s\n", u->repo_path, u->o.repo ? "" : " (branch main)");
    if (!u->o.repo)
        printf("               git clone %s work && cd work && edit && git commit -a && "
               "git push   (the push syncs at once)\n",
               u->repo_path);
    printf("  webhook:     http://127.0.0.1:%lld/hook\n", u->o.webhook_port);
    printf("  static pods: %s/manifests\n", u->dir);
    printf("  logs:        %s/logs/{reconcilerd,gitsync,scheduler,nodeagent,proxy}.log\n",
           u->dir);
    printf("  status:      bosun status   (Ctrl-C stops the cluster)\n");
    fflush(stdout);
}

int cli_cmd_up(int argc, char **argv)
{
    struct up_ctx u = {.sigfd = -1};
    u.o = (struct up_opts){.data_dir = "/var/lib/bosun",
                           .api_port = 6443,
                           .webhook_port = 9292,
                           .agent_port = 10250,
                           .bridge = "bosun0",
                           .cluster_cidr = "10.244.0.0/16",
                           .service_cidr = "10.96.0.0/16",
                           .node_port_range = "30000-32767",
                           .log_level = "info",
                           .example_ns = "demo",
                           .example_name = "web"};
    struct flag_def defs[] = {
        {"data-dir", FLAG_STR, &u.o.data_dir, "where everything lives [/var/lib/bosun]"},
        {"repo", FLAG_STR, &u.o.repo, "follow this repository instead of DIR/repo.git"},
        {"api-port", FLAG_INT, &u.o.api_port, "reconcilerd's port on 127.0.0.1 [6443]"},
        {"webhook-port", FLAG_INT, &u.o.webhook_port, "gitsync's webhook port [9292]"},
        {"agent-port", FLAG_INT, &u.o.agent_port, "the nodeagent's port [10250]"},
        {"bridge", FLAG_STR, &u.o.bridge, "the pod bridge [bosun0]"},
        {"cluster-cidr", FLAG_STR, &u.o.cluster_cidr, "pod addresses [10.244.0.0/16]"},
        {"service-cidr", FLAG_STR, &u.o.service_cidr, "ClusterIPs [10.96.0.0/16]"},
        {"node-port-range", FLAG_STR, &u.o.node_port_range, "NodePorts [30000-32767]"},
        {"examples", FLAG_STR, &u.o.examples,
         "the manifests-example directory [found next to the executable]"},
        {"image-dir", FLAG_STR, &u.o.image_dir,
         "OCI image layouts for the nodeagent [<source>/build/images]"},
        {"log-level", FLAG_STR, &u.o.log_level, "the daemons' log level [info]"},
        {0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(up_usage, defs, NULL, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (npos > 0) {
        cli_errorf("up takes no arguments");
        rc = 2;
        goto out;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    u.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (u.sigfd < 0) {
        cli_errorf("signalfd: %s", strerror(errno));
        goto out;
    }
    if (prepare(&u))
        goto out;
    children_init(&u);
    print_where(&u);
    for (int i = 0; i < C_N; i++) {
        if (child_start(&u, &u.ch[i]) < 0)
            u.ch[i].restart_at_ms = time_mono_ms() + u.ch[i].backoff_ms;
        else
            say("started %s (pid %d)", u.ch[i].name, (int)u.ch[i].pid);
        if (i == C_RECONCILERD) {
            /* the others would only log connection errors until the API answers */
            for (int t = 0; t < 50; t++) {
                struct httpc_resp resp = {0};
                if (httpc_request(u.http, "GET", "/healthz", NULL, NULL, 0, 500, &resp, NULL) ==
                        0 &&
                    resp.status > 0) {
                    httpc_resp_free(&resp);
                    break;
                }
                httpc_resp_free(&resp);
                usleep(100 * 1000);
            }
        }
    }
    rc = supervise(&u);
out:
    for (int i = 0; i < C_N; i++) {
        for (int a = 0; a < u.ch[i].argc; a++)
            free(u.ch[i].argv[a]);
    }
    httpc_free(u.http);
    if (u.sigfd >= 0)
        close(u.sigfd);
    cli_args_free(args);
    return rc;
}
