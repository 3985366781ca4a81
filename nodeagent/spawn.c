#include "nodeagent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/timeutil.h"

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_append(struct buf *b, const char *data, size_t n)
{
    if (b->n + n > SPAWN_OUTPUT_MAX)
        n = SPAWN_OUTPUT_MAX - b->n;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Reads what is available from *fd into b; closes it and sets -1 on EOF. */
static void drain(int *fd, struct buf *b)
{
    char chunk[8192];
    for (;;) {
        ssize_t r = read(*fd, chunk, sizeof(chunk));
        if (r > 0) {
            if (buf_append(b, chunk, (size_t)r) < 0)
                return;
            continue;
        }
        if (r < 0 && (errno == EINTR))
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        close(*fd);
        *fd = -1;
        return;
    }
}

static void child_exec(char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
                       int setsid_child, int pass_fd)
{
    /* The agent blocks its termination signals for signalfd; a child must not inherit
     * that mask nor ignored dispositions. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++) {
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    }
    if (setsid_child)
        setsid();
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    if (pass_fd == 3)
        fcntl(3, F_SETFD, 0);
    else if (pass_fd >= 0 && dup2(pass_fd, 3) < 0) /* dup2 clears O_CLOEXEC on fd 3 */
        _exit(127);
    static char *const default_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    execve(argv[0], argv, envp ? envp : default_env);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int spawn_run(char *const argv[], char *const envp[], const char *stdin_data, int timeout_ms,
              int setsid_child, struct spawn_result *res, struct bosun_err *err)
{
    return spawn_run_fd(argv, envp, stdin_data, timeout_ms, setsid_child, -1, res, err);
}

int spawn_run_fd(char *const argv[], char *const envp[], const char *stdin_data, int timeout_ms,
                 int setsid_child, int pass_fd, struct spawn_result *res, struct bosun_err *err)
{
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    struct buf out = {0}, errb = {0};
    int rc = 0;
    pid_t pid = -1;

    if (timeout_ms <= 0)
        timeout_ms = 60000;
    if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
        rc = err_errno(err, -errno, "%s: pipe", argv[0]);
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = err_errno(err, -errno, "%s: fork", argv[0]);
        goto out;
    }
    if (pid == 0)
        child_exec(argv, envp, in_p[0], out_p[1], err_p[1], setsid_child, pass_fd);

    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    in_p[0] = out_p[1] = err_p[1] = -1;
    fcntl(out_p[0], F_SETFL, O_NONBLOCK);
    fcntl(err_p[0], F_SETFL, O_NONBLOCK);
    fcntl(in_p[1], F_SETFL, O_NONBLOCK);

    const char *in_left = stdin_data;
    size_t in_n = stdin_data ? strlen(stdin_data) : 0;
    if (in_n == 0) {
        close(in_p[1]);
        in_p[1] = -1;
    }
    int64_t deadline = time_mono_ms() + timeout_ms;
    int status = 0, exited = 0;
    /* Stop at the child's exit rather than at EOF: a program that daemonizes (conmon)
     * leaves a grandchild holding the pipes open. */
    while (!exited) {
        struct pollfd pf[3];
        int n = 0;
        if (out_p[0] >= 0)
            pf[n++] = (struct pollfd){.fd = out_p[0], .events = POLLIN};
        if (err_p[0] >= 0)
            pf[n++] = (struct pollfd){.fd = err_p[0], .events = POLLIN};
        if (in_p[1] >= 0)
            pf[n++] = (struct pollfd){.fd = in_p[1], .events = POLLOUT};
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            pid = -1;
            rc = err_set(err, -ETIMEDOUT, "%s: timed out after %d ms", argv[0], timeout_ms);
            goto out;
        }
        int pr = poll(pf, (nfds_t)n, left < 20 ? (int)left : 20);
        if (pr < 0 && errno != EINTR) {
            rc = err_errno(err, -errno, "%s: poll", argv[0]);
            goto out;
        }
        for (int i = 0; pr > 0 && i < n; i++) {
            if (!pf[i].revents)
                continue;
            if (pf[i].fd == out_p[0])
                drain(&out_p[0], &out);
            else if (pf[i].fd == err_p[0])
                drain(&err_p[0], &errb);
            else if (pf[i].fd == in_p[1]) {
                ssize_t w = write(in_p[1], in_left, in_n);
                if (w > 0) {
                    in_left += w;
                    in_n -= (size_t)w;
                }
                if (in_n == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                    close(in_p[1]);
                    in_p[1] = -1;
                }
            }
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            exited = 1;
        else if (w < 0 && errno != EINTR) {
            rc = err_errno(err, -errno, "%s: waitpid", argv[0]);
            goto out;
        }
    }
    pid = -1;
    if (out_p[0] >= 0)
        drain(&out_p[0], &out);
    if (err_p[0] >= 0)
        drain(&err_p[0], &errb);
    if (buf_append(&out, "", 0) < 0 || buf_append(&errb, "", 0) < 0) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", argv[0]);
        goto out;
    }
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res->out = out.p;
    res->errout = errb.p;
    out.p = errb.p = NULL;
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (in_p[i] >= 0)
            close(in_p[i]);
        if (out_p[i] >= 0)
            close(out_p[i]);
        if (err_p[i] >= 0)
            close(err_p[i]);
    }
    free(out.p);
    free(errb.p);
    return rc;
}

void spawn_result_free(struct spawn_result *res)
{
    if (!res)
        return;
    free(res->out);
    free(res->errout);
    res->out = res->errout = NULL;
}

const char *spawn_last_line(const char *text, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!text || len == 0)
        return buf;
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    size_t n = (size_t)(end - start);
    if (n >= len)
        n = len - 1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    return buf;
}
