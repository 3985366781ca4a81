#include "cli/up.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/util.h"
#include "lib/fileutil.h"
#include "lib/hex.h"

static const struct {
    const char *file; /* DIR/auth/<file>.token */
    const char *user;
    const char *uid;
    const char *groups;
} clients[UP_NCLIENTS] = {
    {"admin", "admin", "bosun-admin", "system:masters"},
    {"gitsync", "bosun:gitsync", "bosun-gitsync", "bosun:gitsync"},
    {"scheduler", "bosun:scheduler", "bosun-scheduler", "bosun:scheduler"},
    {"proxy", "bosun:proxy", "bosun-proxy", "bosun:proxy"},
    {"node", NULL /* system:node:<name> */, "bosun-node", "system:nodes"},
};

const char *cli_up_token_file(const char *auth_dir, enum cli_up_client c, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.token", auth_dir, clients[c].file);
    return buf;
}

static int random_token(char out[65], struct bosun_err *err)
{
    unsigned char b[32];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, -errno, "getrandom");
        got += (size_t)n;
    }
    hex_encode(b, sizeof(b), out);
    return 0;
}

static int read_token(const char *path, char out[65], struct bosun_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int r = cli_read_file(path, &buf, &len, err);
    if (r < 0)
        return r;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    if (len == 0 || len > 64) {
        free(buf);
        return err_set(err, -EINVAL, "%s: not a token", path);
    }
    memcpy(out, buf, len + 1);
    free(buf);
    return 0;
}

int cli_up_auth_ensure(const char *auth_dir, const char *node_name, struct cli_up_auth *out,
                       struct bosun_err *err)
{
    char csv[4096], path[4096];
    struct cli_up_auth a = {0};
    if (mkdir(auth_dir, 0700) < 0 && errno != EEXIST)
        return err_errno(err, -errno, "mkdir %s", auth_dir);
    snprintf(csv, sizeof(csv), "%s/tokens.csv", auth_dir);
    int have = access(csv, F_OK) == 0;
    for (int c = 0; c < UP_NCLIENTS && have; c++) {
        cli_up_token_file(auth_dir, (enum cli_up_client)c, path, sizeof(path));
        if (access(path, F_OK) != 0)
            have = 0;
    }
    if (have) {
        for (int c = 0; c < UP_NCLIENTS; c++) {
            cli_up_token_file(auth_dir, (enum cli_up_client)c, path, sizeof(path));
            int r = read_token(path, a.token[c], err);
            if (r < 0)
                return err_wrap(err, "auth");
        }
        *out = a;
        return 0;
    }
    char *table = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&table, &tlen);
    if (!f)
        return err_set(err, -ENOMEM, "out of memory");
    for (int c = 0; c < UP_NCLIENTS; c++) {
        int r = random_token(a.token[c], err);
        if (r < 0) {
            fclose(f);
            free(table);
            return r;
        }
        if (c == UP_NODE)
            fprintf(f, "%s,system:node:%s,%s,\"%s\"\n", a.token[c], node_name, clients[c].uid,
                    clients[c].groups);
        else
            fprintf(f, "%s,%s,%s,\"%s\"\n", a.token[c], clients[c].user, clients[c].uid,
                    clients[c].groups);
    }
    fclose(f);
    int r = 0;
    for (int c = 0; c < UP_NCLIENTS && r == 0; c++) {
        char line[80];
        int n = snprintf(line, sizeof(line), "%s\n", a.token[c]);
        cli_up_token_file(auth_dir, (enum cli_up_client)c, path, sizeof(path));
        r = fileutil_write_atomic(path, line, (size_t)n, 0600, err);
    }
    /* the table last: its presence means the token files are complete */
    if (r == 0)
        r = fileutil_write_atomic(csv, table, tlen, 0600, err);
    free(table);
    if (r < 0)
        return err_wrap(err, "auth");
    *out = a;
    return 0;
}

char *cli_up_kubeconfig(const char *server, const char *token, const char *ca_data)
{
    char *s = NULL;
    if (asprintf(&s,
                 "apiVersion: v1\n"
                 "kind: Config\n"
                 "clusters:\n"
                 "- name: bosun\n"
                 "  cluster:\n"
                 "    server: %s\n"
                 "%s%s%s"
                 "users:\n"
                 "- name: admin\n"
                 "  user:\n"
                 "    token: %s\n"
                 "contexts:\n"
                 "- name: bosun\n"
                 "  context:\n"
                 "    cluster: bosun\n"
                 "    user: admin\n"
                 "current-context: bosun\n",
                 server, ca_data ? "    certificate-authority-data: " : "",
                 ca_data ? ca_data : "", ca_data ? "\n" : "", token) < 0)
        return NULL;
    return s;
}

static int giterr(struct bosun_err *err, int code, const char *what)
{
    const git_error *e = git_error_last();
    return err_set(err, -EIO, "%s: %s (libgit2 %d)", what, e && e->message ? e->message : "error",
                   code);
}

/* Writes the tree of dir (recursively) into *oid. */
static int build_tree(git_repository *repo, const char *dir, git_oid *oid, size_t *nfiles,
                      struct bosun_err *err)
{
    git_treebuilder *tb = NULL;
    DIR *d = NULL;
    int r = git_treebuilder_new(&tb, repo, NULL);
    if (r < 0)
        return giterr(err, r, "treebuilder");
    d = opendir(dir);
    if (!d) {
        r = err_errno(err, -errno, "%s", dir);
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        git_oid child;
        if (S_ISDIR(st.st_mode)) {
            size_t before = *nfiles;
            if ((r = build_tree(repo, path, &child, nfiles, err)) < 0)
                goto out;
            if (*nfiles == before)
                continue; /* git has no empty directories */
            r = git_treebuilder_insert(NULL, tb, de->d_name, &child, GIT_FILEMODE_TREE);
        } else if (S_ISREG(st.st_mode)) {
            char *buf = NULL;
            size_t len = 0;
            if ((r = cli_read_file(path, &buf, &len, err)) < 0)
                goto out;
            r = git_blob_create_from_buffer(&child, repo, buf, len);
            free(buf);
            if (r < 0) {
                r = giterr(err, r, path);
                goto out;
            }
            r = git_treebuilder_insert(NULL, tb, de->d_name, &child, GIT_FILEMODE_BLOB);
            (*nfiles)++;
        } else {
            continue;
        }
        if (r < 0) {
            r = giterr(err, r, "tree insert");
            goto out;
        }
    }
    r = git_treebuilder_write(oid, tb);
    if (r < 0)
        r = giterr(err, r, "tree write");
out:
    if (d)
        closedir(d);
    git_treebuilder_free(tb);
    return r;
}

static int write_hook(const char *repo_path, int webhook_port, struct bosun_err *err)
{
    char path[4096], script[512];
    snprintf(path, sizeof(path), "%s/hooks", repo_path);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return err_errno(err, -errno, "mkdir %s", path);
    snprintf(path, sizeof(path), "%s/hooks/post-receive", repo_path);
    int n = snprintf(script, sizeof(script),
                     "#!/bin/sh\n"
                     "# Written by `bosun up`: tells gitsync to sync at once after a push.\n"
                     "curl -fsS -m 5 -X POST http://127.0.0.1:%d/hook >/dev/null 2>&1 || "
                     "echo \"bosun: could not reach gitsync's webhook on port %d; it will "
                     "sync on its interval\" >&2\n"
                     "exit 0\n",
                     webhook_port, webhook_port);
    return fileutil_write_atomic(path, script, (size_t)n, 0755, err);
}

int cli_up_repo_ensure(const char *path, const char *seed_dir, int webhook_port, int *created,
                       struct bosun_err *err)
{
    git_repository *repo = NULL;
    git_reference *ref = NULL;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    int r;
    *created = 0;
    git_libgit2_init();
    if (git_repository_open_bare(&repo, path) < 0) {
        git_repository_init_options o;
        git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        o.initial_head = "main";
        r = git_repository_init_ext(&repo, path, &o);
        if (r < 0) {
            r = giterr(err, r, path);
            goto out;
        }
    }
    if (git_reference_lookup(&ref, repo, "refs/heads/main") == 0)
        goto hook; /* already seeded: re-running reuses it */
    if (!seed_dir) {
        r = err_set(err, -ENOENT, "%s: nothing to seed it with (manifests-example not found; "
                                  "pass --examples DIR)",
                    path);
        goto out;
    }
    git_oid tree_oid, commit_oid;
    size_t nfiles = 0;
    if ((r = build_tree(repo, seed_dir, &tree_oid, &nfiles, err)) < 0)
        goto out;
    if ((r = git_tree_lookup(&tree, repo, &tree_oid)) < 0 ||
        (r = git_signature_now(&sig, "bosun", "bosun@localhost")) < 0 ||
        (r = git_commit_create_v(&commit_oid, repo, "refs/heads/main", sig, sig, NULL,
                                 "Seed from manifests-example/apps\n", tree, 0)) < 0) {
        r = giterr(err, r, "seed commit");
        goto out;
    }
    *created = 1;
hook:
    r = write_hook(path, webhook_port, err);
out:
    git_signature_free(sig);
    git_tree_free(tree);
    git_reference_free(ref);
    git_repository_free(repo);
    git_libgit2_shutdown();
    if (r < 0)
        return err_wrap(err, "repository %s", path);
    return 0;
}
