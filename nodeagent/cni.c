#include "nodeagent/cni.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "nodeagent/nodefs.h"
#include "nodeagent/spawn.h"

static const char *ip_bin(void)
{
    static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", NULL};
    for (int i = 0; paths[i]; i++) {
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    }
    return "/usr/sbin/ip";
}

static int valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return 0;
    for (; *s; s++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *s))
            return 0;
    }
    return 1;
}

int cni_init(struct cni *c, const char *bin_dir, const char *bridge, const char *subnet,
             const char *root_dir, struct bosun_err *err)
{
    memset(c, 0, sizeof(*c));
    if (!valid_ifname(bridge))
        return err_set(err, -EINVAL, "--bridge: \"%s\" is not a valid interface name", bridge);
    snprintf(c->bin_dir, sizeof(c->bin_dir), "%s", bin_dir);
    snprintf(c->bridge, sizeof(c->bridge), "%s", bridge);
    snprintf(c->subnet, sizeof(c->subnet), "%s", subnet ? subnet : "");
    if (nodefs_path(c->data_dir, sizeof(c->data_dir), "%s/cni/ipam", root_dir) < 0)
        return err_set(err, -ENAMETOOLONG, "cni: --root-dir too long");
    int rc = nodefs_mkdir_p(c->data_dir, 0700, err);
    return rc < 0 ? err_wrap(err, "cni") : 0;
}

json_t *cni_bridge_config(const struct cni *c)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:{s:s,s:s,s:s}}", "cniVersion", "1.0.0", "name",
                     "bosun", "type", "bridge", "bridge", c->bridge, "isGateway", 1, "ipMasq", 0,
                     "hairpinMode", 1, "ipam", "type", "host-local", "subnet", c->subnet, "dataDir",
                     c->data_dir);
}

static int run_ip(char *const argv[], const char *what, struct bosun_err *err)
{
    struct spawn_result res;
    int rc = spawn_run(argv, NULL, NULL, 10000, 0, &res, err);
    if (rc < 0)
        return err_wrap(err, "%s", what);
    if (res.status != 0) {
        char line[512];
        spawn_last_line(res.errout, line, sizeof(line));
        rc = err_set(err, strstr(line, "File exists") ? -EEXIST : -EIO, "%s: %s", what, line);
    }
    spawn_result_free(&res);
    return rc;
}

int cni_netns_exists(const char *name)
{
    char p[PATH_MAX];
    nodefs_path(p, sizeof(p), "%s/%s", CNI_NETNS_DIR, name);
    return nodefs_exists(p);
}

int cni_netns_add(const char *name, struct bosun_err *err)
{
    if (!valid_ifname(name))
        return err_set(err, -EINVAL, "netns add: invalid name \"%s\"", name);
    char *argv[] = {(char *)ip_bin(), "netns", "add", (char *)name, NULL};
    char what[64];
    snprintf(what, sizeof(what), "netns add %s", name);
    return run_ip(argv, what, err);
}

int cni_netns_del(const char *name, struct bosun_err *err)
{
    if (!cni_netns_exists(name))
        return 0;
    char *argv[] = {(char *)ip_bin(), "netns", "delete", (char *)name, NULL};
    char what[64];
    snprintf(what, sizeof(what), "netns delete %s", name);
    return run_ip(argv, what, err);
}

int cni_bridge_exists(const char *bridge)
{
    char p[PATH_MAX];
    nodefs_path(p, sizeof(p), "/sys/class/net/%s/bridge", bridge);
    return nodefs_exists(p);
}

int cni_bridge_delete(const char *bridge, struct bosun_err *err)
{
    if (!cni_bridge_exists(bridge))
        return 0;
    char *argv[] = {(char *)ip_bin(), "link", "delete", (char *)bridge, "type", "bridge", NULL};
    char what[64];
    snprintf(what, sizeof(what), "bridge delete %s", bridge);
    return run_ip(argv, what, err);
}

/* Runs one plugin; *result (may be NULL) gets its parsed stdout on success. */
static int run_plugin(const struct cni *c, const char *type, const char *command, const char *id,
                      const char *netns_name, const char *ifname, const json_t *conf,
                      json_t **result, struct bosun_err *err)
{
    char plugin[PATH_MAX], e_cmd[64], e_id[128], e_ns[PATH_MAX + 16], e_if[64],
        e_path[PATH_MAX + 16];
    if (nodefs_path(plugin, sizeof(plugin), "%s/%s", c->bin_dir, type) < 0)
        return err_set(err, -ENAMETOOLONG, "%s: path too long", type);
    if (access(plugin, X_OK) < 0)
        return err_errno(err, -errno, "%s: %s", type, plugin);
    snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", command);
    snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", id);
    nodefs_path(e_ns, sizeof(e_ns), "CNI_NETNS=%s/%s", CNI_NETNS_DIR, netns_name);
    snprintf(e_if, sizeof(e_if), "CNI_IFNAME=%s", ifname);
    nodefs_path(e_path, sizeof(e_path), "CNI_PATH=%s", c->bin_dir);
    char *envp[] = {e_cmd, e_id, e_ns, e_if, e_path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    char *argv[] = {plugin, NULL};
    char *in = jsonx_dumps(conf);
    if (!in)
        return err_set(err, -ENOMEM, "%s: out of memory", type);
    struct spawn_result res;
    int rc = spawn_run(argv, envp, in, 30000, 0, &res, err);
    free(in);
    if (rc < 0)
        return err_wrap(err, "%s", type);
    json_t *out = res.out[0] ? jsonx_loadb(res.out, strlen(res.out), NULL) : NULL;
    if (res.status != 0) {
        /* CNI errors are {"code": N, "msg": "...", "details": "..."} on stdout. */
        const char *msg = jsonx_get_str(out, "msg");
        const char *details = jsonx_get_str(out, "details");
        char line[512];
        spawn_last_line(res.errout, line, sizeof(line));
        rc = err_set(err, -EIO, "%s: %s%s%s", type, msg ? msg : (line[0] ? line : "failed"),
                     details && *details ? ": " : "", details ? details : "");
        json_decref(out);
    } else if (result) {
        *result = out;
    } else {
        json_decref(out);
    }
    spawn_result_free(&res);
    return rc;
}

int cni_add(const struct cni *c, const char *id, const char *netns_name, char *ip, size_t iplen,
            struct bosun_err *err)
{
    if (!c->subnet[0])
        return err_set(err, -EAGAIN, "cni: no podCIDR yet");
    json_t *lo =
        json_pack("{s:s,s:s,s:s}", "cniVersion", "1.0.0", "name", "lo", "type", "loopback");
    json_t *br = cni_bridge_config(c);
    json_t *result = NULL;
    int rc = run_plugin(c, "loopback", "ADD", id, netns_name, "lo", lo, NULL, err);
    if (rc < 0)
        goto out;
    rc = run_plugin(c, "bridge", "ADD", id, netns_name, "eth0", br, &result, err);
    if (rc < 0)
        goto out;
    const char *addr = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(result, "ips"), i, v)
    {
        addr = jsonx_get_str(v, "address");
        if (addr)
            break;
    }
    if (!addr) {
        rc = err_set(err, -EIO, "bridge: result has no address");
        run_plugin(c, "bridge", "DEL", id, netns_name, "eth0", br, NULL, NULL);
        goto out;
    }
    size_t n = strcspn(addr, "/");
    if (n >= iplen)
        n = iplen - 1;
    memcpy(ip, addr, n);
    ip[n] = '\0';
out:
    json_decref(result);
    json_decref(lo);
    json_decref(br);
    return rc;
}

int cni_del(const struct cni *c, const char *id, const char *netns_name, struct bosun_err *err)
{
    json_t *br = cni_bridge_config(c);
    int rc = run_plugin(c, "bridge", "DEL", id, netns_name, "eth0", br, NULL, err);
    json_decref(br);
    return rc;
}
