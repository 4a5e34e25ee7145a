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

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct cairn_image {
        char *name;
        char *digest;        /* manifest digest, or the single layer's for a rootfs tarball */
        char *format;        /* "oci", "docker-archive", "rootfs" */
        char **layers;       /* "sha256:HEX", bottom first */
        size_t n_layers;
        char **env;          /* "K=V" */
        size_t n_env;
        uint64_t size;       /* bytes of layer blobs */
        char *created;       /* when it was imported, "YYYY-MM-DD HH:MM:SS" UTC */
};

void cairn_image_free(struct cairn_image *img);

/* Import the image at path as name.  extra_env ("K=V") is appended to the
 * image's environment (a rootfs tarball has none of its own). */
int cairn_image_import(const char *root, const char *name, const char *path, const char *const *extra_env,
                       size_t n_extra_env, struct cairn_image **ret, struct cairn_error **err);

/* Find an image by name (trying NAME:latest for a name without a tag).
 * Returns 1 and *ret, or 0 when there is none. */
int cairn_image_lookup(const char *root, const char *name, struct cairn_image **ret, struct cairn_error **err);

/* Unpack every layer of img, in order, into the directory rootfs. */
int cairn_image_unpack(const char *root, const struct cairn_image *img, const char *rootfs, struct cairn_error **err);

/* All images, sorted by name.  *ret is an array of n images. */
int cairn_image_list(const char *root, struct cairn_image ***ret, size_t *ret_n, struct cairn_error **err);

/* Forget an image (its blobs stay while another image uses them). */
int cairn_image_remove(const char *root, const char *name, struct cairn_error **err);

#endif
