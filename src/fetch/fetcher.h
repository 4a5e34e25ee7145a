/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fetchers: turn a (from IMAGE) into a base root filesystem and its
 * environment.  One ops table per source; the engine picks one in
 * cairn_engine_open.
 */
#ifndef CAIRN_FETCH_FETCHER_H
#define CAIRN_FETCH_FETCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct cairn_registry_options;

/* When a fetcher asks the registry (cairn build --pull=...). */
enum cairn_pull_policy {
        CAIRN_PULL_MISSING,       /* only for an image not at hand (the default) */
        CAIRN_PULL_ALWAYS,        /* every build: a tag that moved is followed */
        CAIRN_PULL_NEVER,         /* never: an image not at hand is an error */
};

/* "missing", "always", "never" to a policy; -1 for anything else. */
int cairn_pull_policy_parse(const char *s);

struct cairn_fetch_request {
        const char *store_root;   /* the store's directory, beside which images are kept */
        const char *from;         /* the (from ...) string */
        const char *rootfs;       /* an empty directory to fill */
        const struct cairn_registry_options *registry;   /* may be NULL */
        void (*log)(const char *line, void *ud);         /* progress lines */
        void *userdata;
        void *backend;            /* the store's state, for a fetcher that is part of it (containerd) */
        /* rootfs already holds these layers (a base built on another base
         * that shares them), the image's first ones: only the rest are
         * unpacked.  The fetch fails if the image no longer starts with
         * them.  NULL-terminated, or NULL. */
        const char *const *have_layers;
        enum cairn_pull_policy pull;
};

/* What a fetch found: the image's environment and which image it was. */
struct cairn_fetch_result {
        char **env;               /* NULL-terminated "K=V" */
        char *image;              /* the image's name in the local store */
        char *digest;             /* its manifest digest, "sha256:HEX" */
        char *config;             /* its config digest: what the image is */
        char **layers;            /* NULL-terminated layer digests, bottom first */
};

void cairn_fetch_result_clear(struct cairn_fetch_result *res);

/* What an image is: its config digest (Docker's image ID: environment,
 * user, workdir and, through rootfs.diff_ids, the layers) and the digest it
 * was found by (its manifest's, or a rootfs tarball's layer's).  Either may
 * be NULL where unknown (a record from before configs were kept). */
struct cairn_image_identity {
        char *config;
        char *digest;
};

void cairn_image_identity_clear(struct cairn_image_identity *id);
/* Whether a and b are known to differ: by config when both have one, else
 * by digest; false when neither can say. */
bool cairn_image_identity_differs(const struct cairn_image_identity *a, const struct cairn_image_identity *b);

struct cairn_fetcher_ops {
        const char *kind;
        /* Unpack image req->from into req->rootfs and fill *res (the caller
         * clears it with cairn_fetch_result_clear). */
        int (*fetch)(const struct cairn_fetch_request *req, struct cairn_fetch_result *res, struct cairn_error **err);
        /* Optional: the layer digests (bottom first) req->from would be
         * unpacked from, without unpacking: from the images at hand, or with
         * `remote` from the registry's manifest.  Returns 1 and *ret_layers
         * (NULL-terminated), or 0 when not known. */
        int (*resolve)(const struct cairn_fetch_request *req, bool remote, char ***ret_layers);
        /* Optional: what the image req->from names now is (*ret, cleared
         * by the caller), without unpacking it, from the images at hand.
         * With req->pull CAIRN_PULL_ALWAYS the image at hand is first
         * brought up to date with its registry (by a pull, so a fetch after
         * needs no registry); an image the default fetcher did not pull but
         * imported has no registry to follow and is kept as it is.  Returns
         * 1, or 0 when the image is not at hand. */
        int (*identify)(const struct cairn_fetch_request *req, struct cairn_image_identity *ret,
                        struct cairn_error **err);
        /* Optional, for a fetcher that keeps images outside the store's
         * blob store (containerd): copy blob digest (a layer or config of an
         * image it fetched) into the blob store at blob_root, verified
         * against its digest.  Returns 1, or 0 when it does not have it. */
        int (*export_blob)(const struct cairn_fetch_request *req, const char *digest, const char *blob_root,
                           struct cairn_error **err);
};

/* Images imported with `cairn image import`, else pulled from their
 * registry (and kept) on first use. */
extern const struct cairn_fetcher_ops cairn_fetcher_default_ops;

/* Images pulled (or imported) into containerd, and a base snapshot
 * prepared from the image's chain ID: the containerd store's fetcher. */
extern const struct cairn_fetcher_ops cairn_fetcher_containerd_ops;

#endif
