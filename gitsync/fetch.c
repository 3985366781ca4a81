#include "gitsync/fetch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

/* The last libgit2 error as text (never NULL). */
static const char *git_msg(void)
{
    const git_error *e = git_error_last();
    return e && e->message ? e->message : "unknown libgit2 error";
}

static int is_url(const char *s)
{
    return strstr(s, "://") != NULL || (strchr(s, '@') && strchr(s, ':') && s[0] != '/');
}

int gitsync_fetch_normalize_url(const char *repo, char *buf, size_t len)
{
    int n;
    if (is_url(repo) || repo[0] == '/') {
        n = snprintf(buf, len, "%s", repo);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return -errno;
        n = snprintf(buf, len, "%s/%s", cwd, repo);
    }
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    /* "/srv/repo.git/" and "/srv/repo.git" are the same repository. */
    while (n > 1 && buf[n - 1] == '/' && buf[n - 2] != '/')
        buf[--n] = '\0';
    return 0;
}

/* A local repository that is missing or not a repository gets a plainer message than
 * libgit2's. Returns 0 when the path looks usable (or is a URL). */
static int check_local(const char *url, struct bosun_err *err)
{
    const char *path = url;
    struct stat st;
    if (strncmp(url, "file://", 7) == 0)
        path = url + 7;
    else if (is_url(url))
        return 0;
    if (stat(path, &st) != 0)
        return err_errno(err, -errno, "repository %s does not exist", path);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "repository %s is not a directory", path);
    git_repository *r = NULL;
    if (git_repository_open_ext(&r, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0)
        return err_set(err, -EINVAL, "%s is not a git repository", path);
    git_repository_free(r);
    return 0;
}

static int mirror_path(const char *url, const char *cache_dir, char *buf, size_t len)
{
    git_oid h;
    char hex[GIT_OID_HEXSZ + 1];
    char base[64];
    const char *b = strrchr(url, '/');
    size_t n = 0;
    git_odb_hash(&h, url, strlen(url), GIT_OBJECT_BLOB);
    git_oid_tostr(hex, sizeof(hex), &h);
    b = b && b[1] ? b + 1 : url;
    /* A readable name for people looking at the cache; the hash makes it unique. */
    for (; *b && n < 40; b++) {
        char c = *b;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            c = '_';
        base[n++] = c;
    }
    base[n] = '\0';
    n = (size_t)snprintf(buf, len, "%s/%s-%.12s.git", cache_dir, base, hex);
    return n < len ? 0 : -ENAMETOOLONG;
}

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    size_t n = (size_t)snprintf(tmp, sizeof(tmp), "%s", dir);
    if (n >= sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int gitsync_fetch(const char *repo_flag, const char *branch, const char *cache_dir,
                  struct gitsync_fetch_result *out, struct bosun_err *err)
{
    char url[PATH_MAX + 64], mpath[PATH_MAX];
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_buf defbranch = {0};
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    char want_ref[300];
    char refspec[700];
    const git_oid *head_oid = NULL;
    git_remote_callbacks cbs;
    git_remote_create_options co;
    git_fetch_options fo;
    git_commit *c = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    git_libgit2_init();
    r = gitsync_fetch_normalize_url(repo_flag, url, sizeof(url));
    if (r < 0) {
        err_errno(err, r, "fetch %s", repo_flag);
        goto fail;
    }
    r = check_local(url, err);
    if (r < 0) {
        err_wrap(err, "fetch %s", url);
        goto fail;
    }
    r = mkdir_p(cache_dir);
    if (r < 0) {
        err_errno(err, r, "fetch %s: cache directory %s", url, cache_dir);
        goto fail;
    }
    r = mirror_path(url, cache_dir, mpath, sizeof(mpath));
    if (r < 0) {
        err_errno(err, r, "fetch %s: cache path", url);
        goto fail;
    }
    if (git_repository_open_bare(&repo, mpath) != 0) {
        if (git_repository_init(&repo, mpath, 1) != 0) {
            r = err_set(err, -EIO, "fetch %s: create mirror %s: %s", url, mpath, git_msg());
            goto fail;
        }
        log_debug("fetch: created mirror %s for %s", mpath, url);
    }
    /* Skipping url.*.insteadOf also avoids a leak in libgit2 1.5's regex config lookup
     * (pcre2 match data is never freed); the mirror's config has no such rules anyway. */
    git_remote_create_options_init(&co, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    co.repository = repo;
    co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, url, &co) != 0) {
        r = err_set(err, -EINVAL, "fetch %s: %s", url, git_msg());
        goto fail;
    }
    git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
    if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, NULL, NULL) != 0) {
        r = err_set(err, -EIO, "fetch %s: connect: %s", url, git_msg());
        goto fail;
    }
    if (git_remote_ls(&heads, &nheads, remote) != 0) {
        r = err_set(err, -EIO, "fetch %s: list references: %s", url, git_msg());
        goto fail;
    }
    if (!branch || !*branch) {
        if (git_remote_default_branch(&defbranch, remote) != 0 || !defbranch.ptr ||
            strncmp(defbranch.ptr, "refs/heads/", 11) != 0) {
            r = err_set(err, -ENOENT,
                        "fetch %s: cannot resolve the default branch (the repository has no "
                        "commits?); name one with --branch",
                        url);
            goto fail;
        }
        branch = defbranch.ptr + 11;
    }
    if ((size_t)snprintf(out->branch, sizeof(out->branch), "%s", branch) >= sizeof(out->branch)) {
        r = err_set(err, -ENAMETOOLONG, "fetch %s: branch name too long", url);
        goto fail;
    }
    snprintf(want_ref, sizeof(want_ref), "refs/heads/%s", branch);
    for (size_t i = 0; i < nheads; i++) {
        if (strcmp(heads[i]->name, want_ref) == 0)
            head_oid = &heads[i]->oid;
    }
    if (!head_oid) {
        r = err_set(err, -ENOENT, "fetch %s: branch %s not found", url, branch);
        goto fail;
    }
    git_oid_cpy(&out->commit, head_oid);
    snprintf(refspec, sizeof(refspec), "+%s:%s", want_ref, want_ref);
    char *specs[] = {refspec};
    git_strarray refspecs = {specs, 1};
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.update_fetchhead = 0;
    if (git_remote_download(remote, &refspecs, &fo) != 0) {
        r = err_set(err, -EIO, "fetch %s: download %s: %s", url, branch, git_msg());
        goto fail;
    }
    if (git_remote_update_tips(remote, &cbs, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, "gitsync") != 0) {
        r = err_set(err, -EIO, "fetch %s: update %s: %s", url, branch, git_msg());
        goto fail;
    }
    if (git_commit_lookup(&c, repo, &out->commit) != 0) {
        r = err_set(err, -EIO, "fetch %s: head of %s: %s", url, branch, git_msg());
        goto fail;
    }
    git_commit_free(c);
    git_oid_tostr(out->commit_hex, sizeof(out->commit_hex), &out->commit);
    git_remote_disconnect(remote);
    git_remote_free(remote);
    git_buf_dispose(&defbranch);
    out->repo = repo;
    return 0;
fail:
    if (remote) {
        git_remote_disconnect(remote);
        git_remote_free(remote);
    }
    git_buf_dispose(&defbranch);
    git_repository_free(repo);
    memset(out, 0, sizeof(*out));
    git_libgit2_shutdown();
    return r;
}

void gitsync_fetch_result_free(struct gitsync_fetch_result *res)
{
    if (!res || !res->repo)
        return;
    git_repository_free(res->repo);
    res->repo = NULL;
    git_libgit2_shutdown();
}
