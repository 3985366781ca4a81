/* fetch — keeps a bare mirror of --repo in the cache directory and resolves the head.
 *
 * The repository (a local path, file:// or https:// URL) is fetched with libgit2 into
 * `<cache_dir>/<basename>-<12 hex of sha1(url)>.git`, created on first use and reused
 * after a restart. Only the followed branch is fetched (`+refs/heads/B:refs/heads/B`);
 * without a branch, the remote's default branch (the target of its HEAD) is followed.
 * A failure (no such repository, not a repository, branch missing, network) leaves the
 * mirror as it was. Not thread-safe per mirror: one sync at a time. */
#ifndef BOSUN_GITSYNC_FETCH_H
#define BOSUN_GITSYNC_FETCH_H

#include <git2.h>

#include "lib/err.h"

struct gitsync_fetch_result {
    git_repository *repo; /* owned: the bare mirror; git_repository_free */
    char branch[256];     /* the branch followed ("main") */
    git_oid commit;       /* its head commit */
    char commit_hex[GIT_OID_HEXSZ + 1];
};

/* url: what --repo said (a relative path is made absolute). branch: NULL or "" for the
 * remote's default. Returns 0 and fills *out, or a negative code with err saying what
 * failed ("fetch /srv/nope: repository does not exist"). Calls git_libgit2_init itself
 * (balanced by gitsync_fetch_result_free). */
int gitsync_fetch(const char *url, const char *branch, const char *cache_dir,
                  struct gitsync_fetch_result *out, struct bosun_err *err);

void gitsync_fetch_result_free(struct gitsync_fetch_result *res);

/* The URL libgit2 is given for --repo: absolute paths and URLs unchanged, a relative
 * path made absolute. Writes into buf; returns 0 or -ENAMETOOLONG/-errno. */
int gitsync_fetch_normalize_url(const char *repo, char *buf, size_t len);

#endif
