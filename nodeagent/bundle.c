#include "nodeagent/bundle.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "nodeagent/nodefs.h"
#include "schema/quantity.h"

/* Docker's default capability set: what a container may do as root without being
 * privileged. */
static const char *const default_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    NULL,
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static json_t *str_array(const char *const *v)
{
    json_t *a = json_array();
    for (; a && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* Looks name up in an /etc/passwd-style file; returns the numeric field idx (2 = uid,
 * 3 = gid for passwd; 2 = gid for group) or -1. */
static long lookup_id(const char *file, const char *name, int idx, long *gid_out)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return -1;
    char line[1024];
    long found = -1;
    while (fgets(line, sizeof(line), f)) {
        char *save = NULL;
        char *fields[7] = {0};
        int n = 0;
        for (char *t = strtok_r(line, ":\n", &save); t && n < 7; t = strtok_r(NULL, ":\n", &save))
            fields[n++] = t;
        if (n > idx && fields[0] && strcmp(fields[0], name) == 0) {
            found = strtol(fields[idx], NULL, 10);
            if (gid_out && n > 3)
                *gid_out = strtol(fields[3], NULL, 10);
            break;
        }
    }
    fclose(f);
    return found;
}

static int parse_id(const char *s, const char *rootfs, int is_group, long *out, long *gid_out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end && !errno && v >= 0) {
        *out = v;
        return 0;
    }
    if (!rootfs)
        return -EINVAL;
    char path[PATH_MAX];
    if (nodefs_path(path, sizeof(path), "%s/etc/%s", rootfs, is_group ? "group" : "passwd") < 0)
        return -EINVAL;
    v = lookup_id(path, s, 2, is_group ? NULL : gid_out);
    if (v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int bundle_resolve_user(const json_t *pod, const json_t *container, const json_t *image_config,
                        const char *rootfs, unsigned *uid, unsigned *gid, struct bosun_err *err)
{
    long u = 0, g = 0;
    int have_g = 0;
    const char *img_user = jsonx_get_str(image_config, "User");
    if (img_user && *img_user) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", img_user);
        char *colon = strchr(buf, ':');
        if (colon)
            *colon++ = '\0';
        long pw_gid = -1;
        if (parse_id(buf, rootfs, 0, &u, &pw_gid) < 0)
            return err_set(err, -EINVAL, "image user \"%s\": no such user in the image", img_user);
        if (colon) {
            if (parse_id(colon, rootfs, 1, &g, NULL) < 0)
                return err_set(err, -EINVAL, "image user \"%s\": no such group in the image",
                               img_user);
            have_g = 1;
        } else if (pw_gid >= 0) {
            g = pw_gid;
            have_g = 1;
        }
    }
    const json_t *pod_sc = jsonx_get(pod, "spec.securityContext");
    const json_t *c_sc = json_object_get(container, "securityContext");
    long long v;
    if ((v = jsonx_get_int(pod_sc, "runAsUser", -1)) >= 0)
        u = (long)v;
    if ((v = jsonx_get_int(c_sc, "runAsUser", -1)) >= 0)
        u = (long)v;
    if ((v = jsonx_get_int(pod_sc, "runAsGroup", -1)) >= 0) {
        g = (long)v;
        have_g = 1;
    }
    if ((v = jsonx_get_int(c_sc, "runAsGroup", -1)) >= 0) {
        g = (long)v;
        have_g = 1;
    }
    if (!have_g)
        g = 0;
    *uid = (unsigned)u;
    *gid = (unsigned)g;
    return 0;
}

static int append_strings(json_t *dst, const json_t *src)
{
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v)
    {
        if (!json_is_string(v))
            return -EINVAL;
        json_array_append(dst, v);
    }
    return 0;
}

json_t *bundle_process_args(const json_t *container, const json_t *image_config,
                            struct bosun_err *err)
{
    json_t *args = json_array();
    const json_t *command = json_object_get(container, "command");
    const json_t *cargs = json_object_get(container, "args");
    int rc = 0;
    if (json_array_size(command) > 0) {
        rc = append_strings(args, command);
        if (rc == 0 && cargs)
            rc = append_strings(args, cargs);
    } else {
        rc = append_strings(args, json_object_get(image_config, "Entrypoint"));
        if (rc == 0)
            rc = append_strings(args, cargs ? cargs : json_object_get(image_config, "Cmd"));
    }
    if (rc < 0 || json_array_size(args) == 0) {
        json_decref(args);
        err_set(err, -EINVAL,
                rc < 0 ? "command/args: not a list of strings"
                       : "no command: the container gives none and the image has neither "
                         "Entrypoint nor Cmd");
        return NULL;
    }
    return args;
}

/* Sets NAME=value in env (an array of "K=V"), replacing an earlier entry. */
static void env_set(json_t *env, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    size_t i;
    json_t *v;
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", name, value) < 0)
        return;
    json_array_foreach(env, i, v)
    {
        const char *s = json_string_value(v);
        if (s && strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
            json_array_set_new(env, i, json_string(kv));
            free(kv);
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
    free(kv);
}

static int env_has(const json_t *env, const char *name)
{
    size_t nlen = strlen(name), i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *s = json_string_value(v);
        if (s && strncmp(s, name, nlen) == 0 && s[nlen] == '=')
            return 1;
    }
    return 0;
}

static json_t *mount_new(const char *dest, const char *type, const char *source,
                         const char *const *options)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", type, "source", source,
                     "options", str_array(options));
}

static json_t *build_mounts(const struct bundle_spec *b)
{
    json_t *m = json_array();
    json_array_append_new(m, mount_new("/proc", "proc", "proc", (const char *const[]){NULL}));
    json_array_append_new(m, mount_new("/dev", "tmpfs", "tmpfs",
                                       (const char *const[]){"nosuid", "strictatime", "mode=755",
                                                             "size=65536k", NULL}));
    json_array_append_new(
        m, mount_new("/dev/pts", "devpts", "devpts",
                     (const char *const[]){"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                           "mode=0620", "gid=5", NULL}));
    json_array_append_new(m, mount_new("/dev/shm", "tmpfs", "shm",
                                       (const char *const[]){"nosuid", "noexec", "nodev",
                                                             "mode=1777", "size=65536k", NULL}));
    json_array_append_new(m, mount_new("/dev/mqueue", "mqueue", "mqueue",
                                       (const char *const[]){"nosuid", "noexec", "nodev", NULL}));
    if (b->netns_path) {
        json_array_append_new(
            m, mount_new("/sys", "sysfs", "sysfs",
                         (const char *const[]){"nosuid", "noexec", "nodev", "ro", NULL}));
    } else {
        /* Without a network namespace of its own the container may not mount sysfs. */
        json_array_append_new(
            m, mount_new("/sys", "bind", "/sys",
                         (const char *const[]){"rbind", "nosuid", "noexec", "nodev", "ro", NULL}));
    }
    json_array_append_new(
        m, mount_new("/sys/fs/cgroup", "cgroup", "cgroup",
                     (const char *const[]){"nosuid", "noexec", "nodev", "relatime", "ro", NULL}));
    if (b->etc_dir) {
        static const char *const files[] = {"resolv.conf", "hosts", "hostname", NULL};
        for (int i = 0; files[i]; i++) {
            char src[PATH_MAX], dst[64];
            nodefs_path(src, sizeof(src), "%s/%s", b->etc_dir, files[i]);
            snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
            json_array_append_new(m, mount_new(dst, "bind", src,
                                               (const char *const[]){"rbind", "rprivate", "nosuid",
                                                                     "nodev", "ro", NULL}));
        }
    }
    return m;
}

/* Capabilities: the default set with securityContext.capabilities add/drop applied
 * ("NET_ADMIN" or "CAP_NET_ADMIN"; drop "ALL" empties the set first). */
static json_t *build_caps(const json_t *container)
{
    json_t *caps = str_array(default_caps);
    const json_t *sc_caps = jsonx_get(container, "securityContext.capabilities");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(sc_caps, "drop"), i, v)
    {
        const char *d = json_string_value(v);
        if (!d)
            continue;
        if (strcasecmp(d, "ALL") == 0) {
            json_array_clear(caps);
            continue;
        }
        char name[64];
        snprintf(name, sizeof(name), "%s%s", strncasecmp(d, "CAP_", 4) ? "CAP_" : "", d);
        for (size_t j = 0; j < json_array_size(caps); j++) {
            if (strcasecmp(json_string_value(json_array_get(caps, j)), name) == 0) {
                json_array_remove(caps, j);
                break;
            }
        }
    }
    json_array_foreach(json_object_get(sc_caps, "add"), i, v)
    {
        const char *a = json_string_value(v);
        if (!a)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%s%s", strncasecmp(a, "CAP_", 4) ? "CAP_" : "", a);
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        int have = 0;
        for (size_t j = 0; j < json_array_size(caps); j++)
            have |= strcmp(json_string_value(json_array_get(caps, j)), name) == 0;
        if (!have)
            json_array_append_new(caps, json_string(name));
    }
    json_t *out = json_pack("{s:O,s:O,s:O,s:o}", "bounding", caps, "effective", caps, "permitted",
                            caps, "ambient", json_array());
    json_decref(caps);
    return out;
}

static int build_resources(const json_t *container, json_t **out, struct bosun_err *err)
{
    json_t *res = json_pack("{s:[{s:b,s:s}]}", "devices", "allow", 0, "access", "rwm");
    const json_t *limits = jsonx_get(container, "resources.limits");
    const json_t *requests = jsonx_get(container, "resources.requests");
    const json_t *q;
    int64_t v;
    if ((q = json_object_get(limits, "memory"))) {
        if (schema_quantity_parse_json(q, NULL, &v) < 0 || v <= 0) {
            json_decref(res);
            return err_set(err, -EINVAL, "resources.limits.memory: not a valid quantity");
        }
        jsonx_set_new(res, "memory.limit", json_integer(v));
    }
    if ((q = json_object_get(limits, "cpu"))) {
        if (schema_quantity_parse_json(q, &v, NULL) < 0 || v <= 0) {
            json_decref(res);
            return err_set(err, -EINVAL, "resources.limits.cpu: not a valid quantity");
        }
        /* CFS: quota per 100 ms period; the kernel's floor is 1 ms. */
        int64_t quota = v * 100;
        if (quota < 1000)
            quota = 1000;
        jsonx_set_new(res, "cpu.quota", json_integer(quota));
        jsonx_set_new(res, "cpu.period", json_integer(100000));
    }
    const json_t *req_cpu = json_object_get(requests, "cpu");
    if (!req_cpu)
        req_cpu = json_object_get(limits, "cpu");
    if (req_cpu) {
        if (schema_quantity_parse_json(req_cpu, &v, NULL) < 0) {
            json_decref(res);
            return err_set(err, -EINVAL, "resources.requests.cpu: not a valid quantity");
        }
        int64_t shares = v * 1024 / 1000;
        jsonx_set_new(res, "cpu.shares", json_integer(shares < 2 ? 2 : shares));
    }
    *out = res;
    return 0;
}

json_t *bundle_config(const struct bundle_spec *b, struct bosun_err *err)
{
    const json_t *c = b->container;
    json_t *cfg = NULL, *args = NULL, *env = NULL, *resources = NULL;

    args = bundle_process_args(c, b->image_config, err);
    if (!args)
        goto fail;
    if (build_resources(c, &resources, err) < 0)
        goto fail;

    env = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(b->image_config, "Env"), i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = s ? strchr(s, '=') : NULL;
        if (eq) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - s), s);
            env_set(env, name, eq + 1);
        }
    }
    if (!env_has(env, "PATH"))
        env_set(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (b->hostname)
        env_set(env, "HOSTNAME", b->hostname);
    json_array_foreach(json_object_get(c, "env"), i, v)
    {
        const char *name = jsonx_get_str(v, "name");
        const char *value = jsonx_get_str(v, "value");
        if (name)
            env_set(env, name, value ? value : ""); /* valueFrom: not resolved yet */
    }

    const char *cwd = jsonx_get_str(c, "workingDir");
    if (!cwd || !*cwd)
        cwd = jsonx_get_str(b->image_config, "WorkingDir");
    if (!cwd || !*cwd)
        cwd = "/";

    json_t *gids = json_array();
    json_array_foreach(jsonx_get(b->pod, "spec.securityContext.supplementalGroups"), i, v)
    {
        if (json_is_integer(v))
            json_array_append(gids, v);
    }
    long long fs_group = jsonx_get_int(b->pod, "spec.securityContext.fsGroup", -1);
    if (fs_group >= 0)
        json_array_append_new(gids, json_integer(fs_group));

    json_t *ns = json_pack("[{s:s},{s:s},{s:s}]", "type", "pid", "type", "ipc", "type", "mount");
    if (b->netns_path) {
        json_array_append_new(ns, json_pack("{s:s,s:s}", "type", "network", "path", b->netns_path));
        json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
    }

    int ro_root = jsonx_get(c, "securityContext.readOnlyRootFilesystem") == json_true();
    cfg = json_pack("{s:s, s:{s:b, s:{s:i, s:i, s:o}, s:o, s:o, s:s, s:o, s:b},"
                    " s:{s:s, s:b}, s:s, s:o,"
                    " s:{s:o, s:s, s:o, s:o, s:o}}",
                    "ociVersion", "1.0.2", "process", "terminal", 0, "user", "uid", (int)b->uid,
                    "gid", (int)b->gid, "additionalGids", gids, "args", args, "env", env, "cwd",
                    cwd, "capabilities", build_caps(c), "noNewPrivileges", 1, "root", "path",
                    b->rootfs, "readonly", ro_root, "hostname", b->hostname ? b->hostname : "",
                    "mounts", build_mounts(b), "linux", "resources", resources, "cgroupsPath",
                    b->cgroups_path ? b->cgroups_path : "", "namespaces", ns, "maskedPaths",
                    str_array(masked_paths), "readonlyPaths", str_array(readonly_paths));
    args = env = resources = NULL; /* stolen by "o" */
    if (!cfg) {
        err_set(err, -ENOMEM, "config.json: out of memory");
        goto fail;
    }
    if (!b->netns_path)
        json_object_del(cfg, "hostname"); /* the host's UTS namespace: keep its name */
    return cfg;
fail:
    json_decref(args);
    json_decref(env);
    json_decref(resources);
    return NULL;
}

int bundle_write_config(const char *dir, const json_t *config, struct bosun_err *err)
{
    char path[PATH_MAX];
    if (nodefs_path(path, sizeof(path), "%s/config.json", dir) < 0)
        return err_set(err, -ENAMETOOLONG, "bundle %s: path too long", dir);
    char *s = json_dumps(config, JSON_INDENT(1));
    if (!s)
        return err_set(err, -ENOMEM, "bundle: out of memory");
    int rc = fileutil_write_atomic(path, s, strlen(s), 0644, err);
    free(s);
    return rc;
}

int bundle_rootfs_mount(const char *dir, const char *lower, struct bosun_err *err)
{
    char upper[PATH_MAX], work[PATH_MAX], rootfs[PATH_MAX];
    char opts[PATH_MAX * 3 + 64];
    int rc;
    if (nodefs_path(upper, sizeof(upper), "%s/upper", dir) < 0 ||
        nodefs_path(work, sizeof(work), "%s/work", dir) < 0 ||
        nodefs_path(rootfs, sizeof(rootfs), "%s/rootfs", dir) < 0 ||
        nodefs_path(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work) <
            0)
        return err_set(err, -ENAMETOOLONG, "rootfs %s: path too long", dir);
    if ((rc = nodefs_mkdir_p(upper, 0755, err)) < 0 || (rc = nodefs_mkdir_p(work, 0700, err)) < 0 ||
        (rc = nodefs_mkdir_p(rootfs, 0755, err)) < 0)
        goto fail;
    if (mount("overlay", rootfs, "overlay", 0, opts) < 0) {
        rc = err_errno(err, -errno, "mount overlay on %s", rootfs);
        goto fail;
    }
    return 0;
fail:
    nodefs_rm_rf(upper, NULL);
    nodefs_rm_rf(work, NULL);
    rmdir(rootfs);
    return rc;
}

int bundle_remove(const char *dir, struct bosun_err *err)
{
    char rootfs[PATH_MAX];
    if (nodefs_path(rootfs, sizeof(rootfs), "%s/rootfs", dir) < 0)
        return err_set(err, -ENAMETOOLONG, "bundle %s: path too long", dir);
    if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return err_errno(err, -errno, "umount %s", rootfs);
    return nodefs_rm_rf(dir, err);
}
