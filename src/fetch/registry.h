/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for OCI / Docker registries (HTTP API v2), on libcurl.
 *
 * It pings /v2/, answers the registry's challenge (anonymous or Bearer
 * tokens from the realm it names, Basic with credentials), negotiates the
 * manifest (OCI index, Docker manifest list, Docker schema 2, OCI manifest)
 * and picks this machine's platform from an index, then downloads the
 * config and the layers -- several at once -- into the blob store, each
 * verified against its digest and size.  Transient failures are retried
 * with back-off, and an interrupted download resumes where it stopped.
 * Plain HTTP is used only for loopback registries and the ones named as
 * insecure.
 */
#ifndef CAIRN_FETCH_REGISTRY_H
#define CAIRN_FETCH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "fetch/blob-stream.h"
#include "fetch/image.h"

struct cairn_registry_options {
        const char *platform;              /* "os/arch[/variant]"; NULL for this machine */
        const char *const *insecure;       /* registries allowed over plain HTTP */
        size_t n_insecure;
        const char *credentials;           /* "USER:PASSWORD" for the registry, or NULL */
        const char *docker_config;         /* NULL: $DOCKER_CONFIG/config.json or ~/.docker/config.json */
        unsigned parallel;                 /* layers downloaded at once; 0 for 4 */
        unsigned tags_page;                /* tags asked for per page (fetch/repo.h); 0: the registry's default */
        void (*log)(const char *line, void *ud);
        void *userdata;
        /* log goes to a terminal: a progress line (bytes and rate of each
         * layer) is redrawn in place while layers download. */
        bool tty;
        /* Called (on the pulling thread) as each layer is verified and in
         * the blob store, or found there already: layer index of n_layers,
         * bottom first, in whatever order downloads finish.  Lets a caller
         * unpack lower layers while the upper ones still download. */
        void (*layer_ready)(size_t index, size_t n_layers, const char *digest, void *ud);
        /* Called (on the pulling thread) as a layer's download starts, with
         * its bytes as they arrive (blob-stream.h; take a reference to keep
         * it): lets a caller unpack the layer it needs next while it
         * downloads.  Its verdict comes before layer_ready. */
        void (*layer_started)(size_t index, size_t n_layers, struct cairn_blob_stream *stream, void *ud);
        void *layer_userdata;
};

/*
 * Pull the image reference `ref` into the image store under ROOT, recorded
 * as `name` (what (from NAME) says).  *ret is the record; may be NULL.
 */
int cairn_registry_pull(const char *root, const char *name, const char *ref, const struct cairn_registry_options *o,
                        struct cairn_image **ret, struct cairn_error **err);

/*
 * Only the config digest and the layer digests (bottom first) of the image
 * `ref` on this platform: the manifest, without downloading anything else.
 * *ret_layers is NULL-terminated; either out-parameter may be NULL.
 */
int cairn_registry_resolve(const char *ref, const struct cairn_registry_options *o, char **ret_config,
                           char ***ret_layers, struct cairn_error **err);

#endif
