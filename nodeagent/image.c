#include "nodeagent/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "nodeagent/nodefs.h"

#define IMAGE_JSON_MAX (4 << 20)

struct image_store {
    char dir[PATH_MAX];    /* <root>/images */
    char import[PATH_MAX]; /* "" when none */
};

int image_ref_parse(const char *ref, struct image_ref *out, struct bosun_err *err)
{
    struct image_ref r = {0};
    char name[512];
    if (!ref || !*ref || strlen(ref) >= sizeof(name))
        return err_set(err, -EINVAL, "image: invalid reference \"%s\"", ref ? ref : "");
    snprintf(name, sizeof(name), "%s", ref);
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        const char *d = at + 1;
        if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64 ||
            strspn(d + 7, "0123456789abcdef") != 64)
            return err_set(err, -EINVAL, "image: invalid digest in \"%s\"", ref);
        snprintf(r.digest, sizeof(r.digest), "%s", d);
    }
    char *slash = strrchr(name, '/');
    char *colon = strrchr(name, ':');
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        snprintf(r.tag, sizeof(r.tag), "%s", colon + 1);
        if (!r.tag[0])
            return err_set(err, -EINVAL, "image: empty tag in \"%s\"", ref);
    } else if (!r.digest[0]) {
        snprintf(r.tag, sizeof(r.tag), "latest");
    }
    if (!name[0])
        return err_set(err, -EINVAL, "image: invalid reference \"%s\"", ref);
    for (const char *p = name; *p; p++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-/:", *p))
            return err_set(err, -EINVAL, "image: invalid reference \"%s\"", ref);
    }
    if (strstr(name, "..") || strstr(name, "//") || name[0] == '/')
        return err_set(err, -EINVAL, "image: invalid reference \"%s\"", ref);
    /* Docker's normalisation: a first component without '.' or ':' (and not
     * "localhost") is a Docker Hub path; one-component names live in library/. */
    const char *first_end = strchr(name, '/');
    int has_domain = 0;
    if (first_end) {
        size_t n = (size_t)(first_end - name);
        has_domain = memchr(name, '.', n) || memchr(name, ':', n) ||
                     (n == 9 && strncmp(name, "localhost", 9) == 0);
    }
    int w;
    if (has_domain)
        w = snprintf(r.repo, sizeof(r.repo), "%s", name);
    else if (first_end)
        w = snprintf(r.repo, sizeof(r.repo), "docker.io/%s", name);
    else
        w = snprintf(r.repo, sizeof(r.repo), "docker.io/library/%s", name);
    if (w >= (int)sizeof(r.repo))
        return err_set(err, -EINVAL, "image: reference too long \"%s\"", ref);
    *out = r;
    return 0;
}

int image_store_open(const char *root_dir, const char *import_dir, struct image_store **out,
                     struct bosun_err *err)
{
    struct image_store *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, -ENOMEM, "image: out of memory");
    nodefs_path(s->dir, sizeof(s->dir), "%s/images", root_dir);
    snprintf(s->import, sizeof(s->import), "%s", import_dir ? import_dir : "");
    char p[PATH_MAX + 16];
    nodefs_path(p, sizeof(p), "%s/sha256", s->dir);
    int rc = nodefs_mkdir_p(p, 0755, err);
    if (rc < 0) {
        free(s);
        return err_wrap(err, "image: store");
    }
    *out = s;
    return 0;
}

void image_store_free(struct image_store *s)
{
    free(s);
}

void image_free(struct image *img)
{
    if (!img)
        return;
    free(img->rootfs);
    json_decref(img->config);
    img->rootfs = NULL;
    img->config = NULL;
}

/* sha256 of a file, as "sha256:<hex>". */
static int file_digest(const char *path, char *out, size_t len, struct bosun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, -errno, "open %s", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = err_set(err, -ENOMEM, "sha256: init failed");
        goto out;
    }
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_errno(err, -errno, "read %s", path);
            goto out;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    int n = snprintf(out, len, "sha256:");
    for (unsigned i = 0; i < mdlen && (size_t)n + 2 < len; i++)
        n += snprintf(out + n, len - (size_t)n, "%02x", md[i]);
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

static int digest_valid(const char *d)
{
    return d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 &&
           strspn(d + 7, "0123456789abcdef") == 64;
}

/* The path of blob digest in layout and a check that its content matches. */
static int blob_verified(const char *layout, const char *digest, char *path, size_t len,
                         struct bosun_err *err)
{
    if (!digest_valid(digest))
        return err_set(err, -EBADMSG, "invalid digest \"%s\"", digest ? digest : "");
    nodefs_path(path, len, "%s/blobs/sha256/%s", layout, digest + 7);
    char got[80];
    int rc = file_digest(path, got, sizeof(got), err);
    if (rc < 0)
        return rc;
    if (strcmp(got, digest) != 0)
        return err_set(err, -EBADMSG, "blob %s: content has digest %s", digest, got);
    return 0;
}

static json_t *blob_json(const char *layout, const char *digest, struct bosun_err *err)
{
    char path[PATH_MAX + 128];
    if (blob_verified(layout, digest, path, sizeof(path), err) < 0)
        return NULL;
    return jsonx_load_file(path, err);
}

/* Finds the manifest digest for ref in the layout's index.json. */
static int index_lookup(const char *layout, const struct image_ref *ref, const char *short_name,
                        char *digest, size_t len, struct bosun_err *err)
{
    char path[PATH_MAX + 16];
    nodefs_path(path, sizeof(path), "%s/index.json", layout);
    json_t *idx = jsonx_load_file(path, err);
    if (!idx)
        return err->code ? err->code : -EIO;
    json_t *ms = json_object_get(idx, "manifests");
    size_t i;
    json_t *m;
    int rc = -ENOENT;
    char full[512], short_full[512];
    snprintf(full, sizeof(full), "%s:%s", ref->repo, ref->tag);
    snprintf(short_full, sizeof(short_full), "%s:%s", short_name, ref->tag);
    json_array_foreach(ms, i, m)
    {
        const char *d = jsonx_get_str(m, "digest");
        const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                             "org.opencontainers.image.ref.name"));
        int match;
        if (ref->digest[0])
            match = d && strcmp(d, ref->digest) == 0;
        else
            match = name && (strcmp(name, ref->tag) == 0 || strcmp(name, full) == 0 ||
                             strcmp(name, short_full) == 0);
        if (match && d) {
            snprintf(digest, len, "%s", d);
            rc = 0;
            break;
        }
    }
    json_decref(idx);
    return rc;
}

/* Applies an OCI whiteout entry (".wh.name" or ".wh..wh..opq") under rootfs. */
static int apply_whiteout(const char *rootfs, const char *entry_path, struct bosun_err *err)
{
    /* The whiteout names a path to delete: it must stay inside rootfs. */
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", entry_path);
    for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, "..") == 0)
            return err_set(err, -EINVAL, "whiteout %s: path leaves the rootfs", entry_path);
    }
    char dir[PATH_MAX], name[NAME_MAX + 1];
    const char *slash = strrchr(entry_path, '/');
    snprintf(name, sizeof(name), "%s", slash ? slash + 1 : entry_path);
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - entry_path) : 0, entry_path);
    char target[PATH_MAX];
    if (strcmp(name, ".wh..wh..opq") == 0) {
        /* Opaque directory: drop what lower layers put there. */
        if (nodefs_path(target, sizeof(target), "%s/%s", rootfs, dir) < 0)
            return err_set(err, -ENAMETOOLONG, "whiteout %s: path too long", entry_path);
        int rc = nodefs_rm_rf(target, err);
        if (rc < 0)
            return rc;
        return nodefs_mkdir_p(target, 0755, err);
    }
    if (nodefs_path(target, sizeof(target), "%s/%s/%s", rootfs, dir, name + 4) < 0)
        return err_set(err, -ENAMETOOLONG, "whiteout %s: path too long", entry_path);
    return nodefs_rm_rf(target, err);
}

static int unpack_layer(const char *blob, const char *rootfs, struct bosun_err *err)
{
    struct archive *a = archive_read_new();
    struct archive *w = archive_write_disk_new();
    int rc = 0;
    if (!a || !w) {
        rc = err_set(err, -ENOMEM, "archive: out of memory");
        goto out;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                                          ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK);
    archive_write_disk_set_standard_lookup(w);
    if (archive_read_open_filename(a, blob, 65536) != ARCHIVE_OK) {
        rc = err_set(err, -EIO, "open %s: %s", blob, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = err_set(err, -EIO, "read %s: %s", blob, archive_error_string(a));
            goto out;
        }
        const char *p = archive_entry_pathname(e);
        while (p && p[0] == '.' && p[1] == '/')
            p += 2;
        while (p && p[0] == '/')
            p++;
        if (!p || !*p || strcmp(p, ".") == 0)
            continue;
        const char *base = strrchr(p, '/');
        base = base ? base + 1 : p;
        if (strncmp(base, ".wh.", 4) == 0) {
            rc = apply_whiteout(rootfs, p, err);
            if (rc < 0)
                goto out;
            continue;
        }
        char full[PATH_MAX * 2];
        if (nodefs_path(full, sizeof(full), "%s/%s", rootfs, p) < 0) {
            rc = err_set(err, -ENAMETOOLONG, "unpack %s: path too long", p);
            goto out;
        }
        archive_entry_copy_pathname(e, full);
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            while (hl[0] == '.' && hl[1] == '/')
                hl += 2;
            char hfull[PATH_MAX * 2];
            if (nodefs_path(hfull, sizeof(hfull), "%s/%s", rootfs, hl) < 0) {
                rc = err_set(err, -ENAMETOOLONG, "unpack %s: link target too long", p);
                goto out;
            }
            archive_entry_copy_hardlink(e, hfull);
        }
        r = archive_write_header(w, e);
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = err_set(err, -EIO, "unpack %s: %s", p, archive_error_string(w));
            goto out;
        }
        if (archive_entry_size(e) > 0) {
            const void *buf;
            size_t size;
            la_int64_t off;
            while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
                if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
                    rc = err_set(err, -EIO, "unpack %s: %s", p, archive_error_string(w));
                    goto out;
                }
            }
            if (r != ARCHIVE_EOF) {
                rc = err_set(err, -EIO, "read %s: %s", p, archive_error_string(a));
                goto out;
            }
        }
        if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
            rc = err_set(err, -EIO, "unpack %s: %s", p, archive_error_string(w));
            goto out;
        }
    }
out:
    if (a)
        archive_read_free(a);
    if (w)
        archive_write_free(w);
    return rc;
}

/* Verifies manifest, config and layers of digest in layout and unpacks them into dir. */
static int import_image(const char *layout, const char *digest, const char *dir,
                        struct bosun_err *err)
{
    json_t *manifest = NULL, *config = NULL;
    char tmp[PATH_MAX + 64], final[PATH_MAX + 64];
    int rc = 0;
    nodefs_path(tmp, sizeof(tmp), "%s/rootfs.tmp-%d", dir, (int)getpid());
    nodefs_path(final, sizeof(final), "%s/rootfs", dir);

    manifest = blob_json(layout, digest, err);
    if (!manifest) {
        rc = err_wrap(err, "manifest");
        goto out;
    }
    const char *cfg_digest = jsonx_get_str(manifest, "config.digest");
    config = blob_json(layout, cfg_digest, err);
    if (!config) {
        rc = err_wrap(err, "config");
        goto out;
    }
    if ((rc = nodefs_rm_rf(tmp, err)) < 0 || (rc = nodefs_mkdir_p(tmp, 0755, err)) < 0)
        goto out;
    json_t *layers = json_object_get(manifest, "layers");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        char blob[PATH_MAX + 128];
        const char *ld = jsonx_get_str(l, "digest");
        if ((rc = blob_verified(layout, ld, blob, sizeof(blob), err)) < 0 ||
            (rc = unpack_layer(blob, tmp, err)) < 0) {
            err_wrap(err, "layer %zu", i);
            goto out;
        }
    }
    char cfg_path[PATH_MAX + 64];
    nodefs_path(cfg_path, sizeof(cfg_path), "%s/config.json", dir);
    char *s = json_dumps(config, JSON_COMPACT);
    if (!s) {
        rc = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    rc = fileutil_write_atomic(cfg_path, s, strlen(s), 0644, err);
    free(s);
    if (rc < 0)
        goto out;
    if (rename(tmp, final) < 0) {
        rc = err_errno(err, -errno, "rename %s", tmp);
        goto out;
    }
out:
    if (rc < 0)
        nodefs_rm_rf(tmp, NULL);
    json_decref(manifest);
    json_decref(config);
    return rc;
}

int image_store_get(struct image_store *s, const char *refstr, struct image *out,
                    struct bosun_err *err)
{
    struct image_ref ref;
    int rc = image_ref_parse(refstr, &ref, err);
    if (rc < 0)
        return rc;
    const char *short_name = strrchr(ref.repo, '/');
    short_name = short_name ? short_name + 1 : ref.repo;

    /* Candidate layouts: by short name, then by the whole repository path. */
    char cands[2][PATH_MAX];
    char flat[256];
    snprintf(flat, sizeof(flat), "%s", ref.repo);
    for (char *p = flat; *p; p++) {
        if (*p == '/' || *p == ':')
            *p = '_';
    }
    snprintf(cands[0], sizeof(cands[0]), "%.2000s/%.200s", s->import, short_name);
    snprintf(cands[1], sizeof(cands[1]), "%.2000s/%.250s", s->import, flat);

    char digest[80] = "";
    const char *layout = NULL;
    for (int i = 0; i < 2 && s->import[0]; i++) {
        struct bosun_err e2 = {0};
        char ip[PATH_MAX + 16];
        nodefs_path(ip, sizeof(ip), "%s/index.json", cands[i]);
        if (!nodefs_exists(ip))
            continue;
        rc = index_lookup(cands[i], &ref, short_name, digest, sizeof(digest), &e2);
        if (rc == 0) {
            layout = cands[i];
            break;
        }
        if (rc != -ENOENT) {
            err_set(err, rc, "%s", e2.msg);
            return err_wrap(err, "image: %s", refstr);
        }
    }
    if (!layout) {
        return err_set(err, -ENOENT,
                       "image: %s: not found in %s (pulling from registries is not supported "
                       "yet)",
                       refstr, s->import[0] ? s->import : "(no --image-dir)");
    }
    if (!digest_valid(digest))
        return err_set(err, -EBADMSG, "image: %s: index names invalid digest \"%s\"", refstr,
                       digest);

    char dir[PATH_MAX + 128], rootfs[PATH_MAX + 160], cfg[PATH_MAX + 160];
    nodefs_path(dir, sizeof(dir), "%s/sha256/%s", s->dir, digest + 7);
    nodefs_path(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    nodefs_path(cfg, sizeof(cfg), "%s/config.json", dir);
    if (!nodefs_exists(rootfs)) {
        log_debug("image: importing %s (%s) from %s", refstr, digest, layout);
        if ((rc = nodefs_mkdir_p(dir, 0755, err)) < 0 ||
            (rc = import_image(layout, digest, dir, err)) < 0)
            return err_wrap(err, "image: %s: import from %s", refstr, layout);
    }
    json_t *full = jsonx_load_file(cfg, err);
    if (!full)
        return err_wrap(err, "image: %s", refstr);
    json_t *c = json_object_get(full, "config");
    struct image img = {0};
    snprintf(img.digest, sizeof(img.digest), "%s", digest);
    img.config = json_is_object(c) ? json_incref(c) : json_object();
    json_decref(full);
    img.rootfs = strdup(rootfs);
    if (!img.rootfs || !img.config) {
        image_free(&img);
        return err_set(err, -ENOMEM, "image: out of memory");
    }
    *out = img;
    return 0;
}
