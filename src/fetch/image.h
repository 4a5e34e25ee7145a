/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local image store, beside the results of a store:
 *
 *   ROOT/blobs/sha256/HEX     content-addressed blobs (layers, configs),
 *                             shared by every image
 *   ROOT/images/NAME.json     one record per image name: its layers (in
 *                             order), its environment, where it came from
 *
 * `cairn image import` fills it from an OCI image layout (directory or
 * tarball), a docker-archive tarball (`docker save`), or a plain root
 * filesystem tarball; `(from NAME)` unpacks the named image into a base
 * result.
 */
#ifndef CAIRN_FETCH_IMAGE_H
#define CAIRN_FETCH_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct cairn_image {
        char *name;
        char *digest;        /* manifest digest, or the single layer's for a rootfs tarball */
        /* The image config's digest: what the image is (its environment,
         * user, workdir and, through rootfs.diff_ids, its layers), as
         * Docker's image ID.  Every import and pull records one (a rootfs
         * tarball gets a config made for it); "" in a record written before
         * cairn kept it. */
        char *config;
        char *format;        /* "oci", "docker-archive", "rootfs" */
        char **layers;       /* "sha256:HEX", bottom first */
        size_t n_layers;
        char **env;          /* "K=V" */
        size_t n_env;
        uint64_t size;       /* bytes of layer blobs */
        char *created;       /* when it was imported, "YYYY-MM-DD HH:MM:SS" UTC */
};

void cairn_image_free(struct cairn_image *img);

/* Whether a and b are the same image: the same config (so the same
 * environment and layers), or for records without one the same digest. */
bool cairn_image_same(const struct cairn_image *a, const struct cairn_image *b);

/* The PATH Docker gives an image whose config sets none: a rootfs
 * tarball's config starts with it. */
#define CAIRN_IMAGE_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Import the image at path as name.  extra_env ("K=V") sets variables in
 * the image's environment (replacing one of the same name, else added at
 * the end), recorded as a new config, so the image's identity (config)
 * covers them. */
int cairn_image_import(const char *root, const char *name, const char *path, const char *const *extra_env,
                       size_t n_extra_env, struct cairn_image **ret, struct cairn_error **err);

/* Find an image by name (trying NAME:latest for a name without a tag).
 * Returns 1 and *ret, or 0 when there is none. */
int cairn_image_lookup(const char *root, const char *name, struct cairn_image **ret, struct cairn_error **err);

/* Unpack every layer of img, in order, into the directory rootfs. */
int cairn_image_unpack(const char *root, const struct cairn_image *img, const char *rootfs, uint64_t *dropped,
                       struct cairn_error **err);
/* Apply layer `index` (0 is the bottom), blob `digest`, on the tree at
 * rootfd; errors name the layer.  *dropped counts the extended attributes
 * left out (fetch/extract.h); may be NULL. */
int cairn_image_unpack_layer(const char *root, int rootfd, size_t index, const char *digest, uint64_t *dropped,
                             struct cairn_error **err);
/* The same, from the layer's download as it arrives (blob-stream.h). */
struct cairn_blob_stream;
int cairn_image_unpack_layer_stream(int rootfd, size_t index, struct cairn_blob_stream *stream, uint64_t *dropped,
                                    struct cairn_error **err);

/* All images, sorted by name.  *ret is an array of n images. */
int cairn_image_list(const char *root, struct cairn_image ***ret, size_t *ret_n, struct cairn_error **err);

/* Forget an image (its blobs stay while another image uses them). */
int cairn_image_remove(const char *root, const char *name, struct cairn_error **err);

/* --- for the importers and the registry client --------------------------- */

#include <jansson.h>
#include <stdbool.h>

#include "base/hash.h"
#include "fetch/reference.h"

/* ROOT/blobs/sha256/HEX for "sha256:HEX". */
char *cairn_blob_path(const char *root, const char *digest);
/* Take the image config blob `digest` as img's: img->config, and its Env
 * as img->env. */
int cairn_image_set_config(const char *root, const char *digest, struct cairn_image *img, struct cairn_error **err);
/* Store data as a blob; *ret_digest is its digest. */
int cairn_blob_put(const char *root, const void *data, size_t len, char **ret_digest, struct cairn_error **err);
/* Append a layer (takes digest). */
void cairn_image_add_layer(struct cairn_image *img, char *digest, uint64_t size);
/* Write img's record (atomically). */
int cairn_image_save(const char *root, const struct cairn_image *img, struct cairn_error **err);

/* A blob being written: hashed as it goes, published under its digest by
 * commit only if it matches `expected` (when given: -EBADMSG otherwise,
 * and nothing is left). */
struct cairn_blob_writer {
        char *dir, *tmp, *expected;
        int fd;
        struct cairn_sha256 hash;
        uint64_t size;
};

int cairn_blob_writer_open(const char *root, const char *expected, struct cairn_blob_writer **ret,
                           struct cairn_error **err);
int cairn_blob_writer_write(struct cairn_blob_writer *w, const void *data, size_t len);
int cairn_blob_writer_commit(struct cairn_blob_writer *w, const char *what, char **ret_digest,
                             struct cairn_error **err);
void cairn_blob_writer_abort(struct cairn_blob_writer *w);

#endif
