/* image — the node's image store: OCI image layouts imported from a directory and
 * unpacked into per-image root filesystems under <root-dir>/images.
 *
 * Layout on disk: <root-dir>/images/sha256/<manifest hex>/{config.json,rootfs/} — one
 * directory per image manifest, shared read-only by every container of that image (each
 * container gets its own writable overlay on top, see bundle.h). A rootfs is unpacked
 * once (into a temporary directory, then renamed) and reused afterwards.
 *
 * Where images come from: --image-dir holds OCI layouts, one per repository, named by
 * the repository's last path component (build/images/busybox for
 * docker.io/library/busybox) or by the whole repository path with '/' turned into '_'.
 * A tag is found through the index's org.opencontainers.image.ref.name annotation
 * ("1.35" or "busybox:1.35"). Every blob read is checked against its sha256 digest.
 * Pulling from registries is not implemented yet. */
#ifndef BOSUN_NODEAGENT_IMAGE_H
#define BOSUN_NODEAGENT_IMAGE_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"

struct image_store;

/* A parsed image reference: "busybox:1.35" and "docker.io/library/busybox:1.35" both
 * give repo "docker.io/library/busybox", tag "1.35". A missing tag is "latest";
 * "name@sha256:<hex>" fills digest (and leaves tag empty). */
struct image_ref {
    char repo[256];
    char tag[128];
    char digest[80];
};

/* An image ready for containers. rootfs and config are owned; free with image_free. */
struct image {
    char digest[80]; /* "sha256:<manifest hex>" */
    char *rootfs;    /* absolute path of the unpacked, shared root filesystem */
    json_t *config;  /* the image config's "config" object (Env, Entrypoint, Cmd, User,
                      * WorkingDir); an empty object when the image has none */
};

/* Returns 0 or -EINVAL with err set ("image: invalid reference ..."). */
int image_ref_parse(const char *ref, struct image_ref *out, struct bosun_err *err);

/* Opens (creating) <root_dir>/images. import_dir (may be NULL) is where OCI layouts are
 * imported from. *out is owned by the caller (image_store_free). */
int image_store_open(const char *root_dir, const char *import_dir, struct image_store **out,
                     struct bosun_err *err);
void image_store_free(struct image_store *s);

/* Resolves ref, verifying and unpacking the image on first use. -ENOENT when no layout
 * holds it ("image: busybox:9: not found in /x/build/images (pulling from registries is
 * not supported yet)"), -EBADMSG on a digest mismatch, other negative errno on I/O. */
int image_store_get(struct image_store *s, const char *ref, struct image *out,
                    struct bosun_err *err);

void image_free(struct image *img);

#endif
