/* bosun store check DIR — verifies reconcilerd's file store offline.
 *
 * The one place the CLI reads another component's files (ARCHITECTURE.md): it calls
 * reconcilerd/store's store_check(), which reads every snapshot and log record, checks
 * checksums, revision continuity and JSON, changes nothing on disk, and refuses (-EBUSY)
 * while reconcilerd holds the directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "reconcilerd/store/store.h"

static const char store_usage[] = "bosun store check DIR";

/* What is on disk: snapshot and log files and their total size. */
struct store_files {
    size_t snapshots, segments, other;
    unsigned long long bytes;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int count_files(const char *dir, struct store_files *out, struct bosun_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return err_errno(err, -errno, "%s", dir);
    while ((de = readdir(d))) {
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
            continue;
        if (strncmp(de->d_name, "snap-", 5) == 0 && has_suffix(de->d_name, ".snap"))
            out->snapshots++;
        else if (strncmp(de->d_name, "wal-", 4) == 0 && has_suffix(de->d_name, ".log"))
            out->segments++;
        else
            continue; /* LOCK and temporary files are not the store's data */
        out->bytes += (unsigned long long)sb.st_size;
    }
    closedir(d);
    return 0;
}

static int store_check_cmd(const char *dir)
{
    struct store_check_report rep = {0};
    struct store_files files = {0};
    struct bosun_err err = {0};
    struct stat sb;
    /* store_check on a path that is not a store directory would create its LOCK file
     * there: refuse anything that is not an existing directory first. */
    if (stat(dir, &sb) < 0) {
        cli_errorf("store check %s: %s", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        cli_errorf("store check %s: not a directory", dir);
        return 1;
    }
    /* a mistyped path must not read as "ok, 0 objects" */
    if (count_files(dir, &files, &err) < 0) {
        cli_errorf("store check %s", err.msg);
        return 1;
    }
    if (files.snapshots + files.segments == 0) {
        cli_errorf("store check %s: no store there (no snap-*.snap or wal-*.log files)", dir);
        return 1;
    }
    int r = store_check(dir, &rep, &err);
    if (r == -EBUSY) {
        cli_errorf("store %s is in use (is reconcilerd running?); stop it and check again: %s", dir,
                   err.msg);
        return 1;
    }
    if (r == -EUCLEAN) {
        /* the store's message repeats the directory: keep the part after it */
        char prefix[4200];
        const char *msg = err.msg;
        snprintf(prefix, sizeof prefix, "store: check %s: ", dir);
        if (strncmp(msg, prefix, strlen(prefix)) == 0)
            msg += strlen(prefix);
        cli_errorf("store %s is corrupt: %s", dir, msg);
        return 1;
    }
    if (r < 0) {
        cli_errorf("%s", err.msg);
        return 1;
    }
    printf("store %s: ok\n", dir);
    printf("  revision   %" PRIu64 "\n", rep.revision);
    printf("  objects    %zu\n", rep.objects);
    if (rep.snapshot_rev)
        printf("  snapshot   at revision %" PRIu64 "\n", rep.snapshot_rev);
    else
        printf("  snapshot   none\n");
    printf("  log        %zu segment(s), %zu record(s) after the snapshot\n", rep.segments,
           rep.records);
    printf("  files      %zu (%zu snapshot, %zu log)\n", files.snapshots + files.segments,
           files.snapshots, files.segments);
    printf("  bytes      %llu\n", files.bytes);
    if (rep.torn_bytes)
        printf("  torn tail  %zu byte(s) of an unfinished last record (a crash during a "
               "write; reconcilerd cuts them off when it opens the store)\n",
               rep.torn_bytes);
    else
        printf("  torn tail  none\n");
    return 0;
}

int cli_cmd_store(int argc, char **argv)
{
    struct flag_def defs[] = {{0}};
    static const struct cli_short shorts[] = {{0}};
    char **args = NULL;
    int npos = 0;
    int rc = cli_parse(store_usage, defs, shorts, argc, argv, &args, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (npos != 2 || strcmp(args[0], "check") != 0) {
        if (npos >= 1 && strcmp(args[0], "check") != 0)
            cli_errorf("unknown store command \"%s\"", args[0]);
        else
            cli_errorf("expected: store check DIR");
        fprintf(stderr, "usage: %s\n", store_usage);
        rc = 2;
        goto out;
    }
    rc = store_check_cmd(args[1]);
out:
    cli_args_free(args);
    return rc;
}
