/* SPDX-License-Identifier: Apache-2.0 */
/* The default fetcher: the local image store, filled by `cairn image import`
 * or, on a miss, by pulling the image from its registry. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/tar.h"
#include "fetch/fetcher.h"
#include "fetch/image.h"
#include "fetch/registry.h"


static char **strv_dup(char *const *v, size_t n)
{
        char **out = cairn_xzalloc((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                out[i] = cairn_xstrdup(v[i]);
        return out;
}

/*
 * Unpacking while pulling: a thread applies the layers in order (whiteouts
 * must see what they delete), each as soon as layers 0..k-1 are applied:
 * from the blob store if it is already there and verified, else from its
 * download as the bytes arrive.  A streamed layer counts as applied only
 * once its blob is whole and matches its digest; if it does not, the pull
 * fails and the caller throws the root away, so nothing unverified is ever
 * kept (and every entry, verified or not, stays inside the root).
 */
struct unpacker {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        const char *store_root;
        int rootfd;
        char **ready;             /* digest of each layer in the store, by index */
        struct cairn_blob_stream **streams;   /* each layer downloading, by index */
        size_t n_layers;          /* known once the first layer starts or is ready */
        size_t applied;
        size_t streamed;          /* of those applied, unpacked as they downloaded */
        const char *const *have;  /* layers already in the root: checked, not unpacked */
        size_t n_have;
        bool pull_over;           /* no more layers will come */
        uint64_t dropped;         /* extended attributes left out */
        struct cairn_error *err;  /* the first extraction failure */
};

static int changed_image(size_t k, struct cairn_error **err)
{
        return cairn_error_set(err, -EAGAIN, "layer %zu of the image changed while it was being fetched; build again", k);
}

/* What the pull says of layer index (its download started, or its blob
 * verified), recorded for the unpacking thread, which is woken. */
static void note_layer(struct unpacker *u, size_t index, size_t n_layers, struct cairn_blob_stream *stream,
                       const char *digest)
{
        pthread_mutex_lock(&u->lock);
        if (!u->ready) {
                u->ready = cairn_xzalloc(n_layers * sizeof(char *));
                u->streams = cairn_xzalloc(n_layers * sizeof(*u->streams));
                u->n_layers = n_layers;
        }
        if (index < u->n_layers && stream && !u->streams[index])
                u->streams[index] = cairn_blob_stream_ref(stream);
        if (index < u->n_layers && digest && !u->ready[index])
                u->ready[index] = cairn_xstrdup(digest);
        pthread_cond_signal(&u->changed);
        pthread_mutex_unlock(&u->lock);
}

static void layer_started(size_t index, size_t n_layers, struct cairn_blob_stream *stream, void *ud)
{
        note_layer(ud, index, n_layers, stream, NULL);
}

static void layer_ready(size_t index, size_t n_layers, const char *digest, void *ud)
{
        note_layer(ud, index, n_layers, NULL, digest);
}

static void *unpack_thread(void *arg)
{
        struct unpacker *u = arg;
        pthread_mutex_lock(&u->lock);
        for (;;) {
                if (u->err || (u->ready && u->applied == u->n_layers))
                        break;
                size_t k = u->applied;
                /* A layer the root already has is checked once verified;
                 * the others are unpacked from the store or as they come. */
                struct cairn_blob_stream *stream = u->ready && !u->ready[k] && k >= u->n_have ? u->streams[k] : NULL;
                if (!stream && (!u->ready || !u->ready[k])) {
                        if (u->pull_over)
                                break;
                        pthread_cond_wait(&u->changed, &u->lock);
                        continue;
                }
                const char *digest = u->ready[k];
                pthread_mutex_unlock(&u->lock);
                struct cairn_error *e = NULL;
                uint64_t dropped = 0;
                int r = 0;
                if (stream)
                        r = cairn_image_unpack_layer_stream(u->rootfd, k, stream, &dropped, &e);
                else if (k < u->n_have)
                        r = strcmp(u->have[k], digest) == 0 ? 0 : changed_image(k, &e);
                else
                        r = cairn_image_unpack_layer(u->store_root, u->rootfd, k, digest, &dropped, &e);
                pthread_mutex_lock(&u->lock);
                u->dropped += dropped;
                if (r < 0) {
                        u->err = e;
                } else {
                        u->applied++;
                        u->streamed += stream != NULL;
                }
        }
        pthread_mutex_unlock(&u->lock);
        return NULL;
}

/* Pull `from` while a thread unpacks its layers into rootfs.  *pulled says
 * whether the pull itself succeeded (a failure after it is the unpacking's). */
static int pull_and_unpack(const struct cairn_fetch_request *req, struct cairn_image **ret, bool *pulled,
                           size_t *streamed, uint64_t *dropped, struct cairn_error **err)
{
        struct unpacker u = { .store_root = req->store_root, .have = req->have_layers,
                              .n_have = cairn_strv_length(req->have_layers) };
        u.rootfd = open(req->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (u.rootfd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", req->rootfs);
        pthread_mutex_init(&u.lock, NULL);
        pthread_cond_init(&u.changed, NULL);
        struct cairn_registry_options o = { 0 };
        if (req->registry)
                o = *req->registry;
        o.log = req->log;
        o.userdata = req->userdata;
        o.layer_ready = layer_ready;
        o.layer_started = layer_started;
        o.layer_userdata = &u;
        /* Loaded here, not first in the thread (cairn_tar_locale). */
        int r = cairn_tar_load(err);
        if (r < 0) {
                close(u.rootfd);
                pthread_cond_destroy(&u.changed);
                pthread_mutex_destroy(&u.lock);
                return r;
        }
        pthread_t t;
        r = -pthread_create(&t, NULL, unpack_thread, &u);
        if (r < 0) {
                close(u.rootfd);
                pthread_cond_destroy(&u.changed);
                pthread_mutex_destroy(&u.lock);
                return cairn_error_set(err, r, "cannot start a thread to unpack layers");
        }
        r = cairn_registry_pull(req->store_root, req->from, req->from, &o, ret, err);
        *pulled = r == 0;
        pthread_mutex_lock(&u.lock);
        u.pull_over = true;
        pthread_cond_signal(&u.changed);
        pthread_mutex_unlock(&u.lock);
        pthread_join(t, NULL);
        *streamed = u.streamed;
        *dropped += u.dropped;
        if (r == 0 && u.err) {
                /* The pull succeeded, so *err is empty: the extraction's
                 * failure is the one to report. */
                r = u.err->code < 0 ? u.err->code : -EIO;
                cairn_error_prefix(&u.err, "image \"%s\"", req->from);
                if (err)
                        cairn_error_append(err, &u.err);
        } else if (r == 0 && u.n_have > (*ret)->n_layers) {
                r = changed_image((*ret)->n_layers, err);
        } else if (r == 0 && u.applied != (*ret)->n_layers) {
                r = cairn_error_set(err, -EIO, "image \"%s\": %zu of %zu layers unpacked", req->from, u.applied,
                                    (*ret)->n_layers);
        }
        if (r < 0 && *ret) {
                cairn_image_free(*ret);
                *ret = NULL;
        }
        cairn_error_free(u.err);
        for (size_t i = 0; u.ready && i < u.n_layers; i++) {
                free(u.ready[i]);
                cairn_blob_stream_unref(u.streams[i]);
        }
        free(u.ready);
        free(u.streams);
        close(u.rootfd);
        pthread_cond_destroy(&u.changed);
        pthread_mutex_destroy(&u.lock);
        return r;
}

static int default_fetch(const struct cairn_fetch_request *req, struct cairn_fetch_result *res, struct cairn_error **err)
{
        const char *store_root = req->store_root, *from = req->from, *rootfs = req->rootfs;
        void (*log)(const char *, void *) = req->log;
        void *ud = req->userdata;
        struct cairn_image *img = NULL;
        int r = cairn_image_lookup(store_root, from, &img, err);
        if (r < 0)
                return r;
        if (r == 0 && req->pull == CAIRN_PULL_NEVER)
                return cairn_error_set(err, -ENOENT, "image \"%s\" is not in the store (see cairn image import) and "
                                                     "--pull=never forbids pulling it", from);
        bool had = r > 0;
        if (r > 0 && req->pull == CAIRN_PULL_ALWAYS && strcmp(img->format, "registry") == 0) {
                cairn_image_free(img);
                img = NULL;
                r = 0;
        }
        bool unpacked = false;
        size_t streamed = 0;
        uint64_t dropped = 0;
        if (r == 0) {
                bool pulled = false;
                if ((r = pull_and_unpack(req, &img, &pulled, &streamed, &dropped, err)) < 0)
                        return pulled ? r
                               : had  ? cairn_error_prefix(err, "--pull=always: image \"%s\" could not be pulled", from)
                                      : cairn_error_prefix(err,
                                                           "image \"%s\" is not in the store (see cairn image import) "
                                                           "and could not be pulled",
                                                           from);
                unpacked = true;
        }
        if (log) {
                size_t have = cairn_strv_length(req->have_layers);
                char line[512], reuse[64] = "", stream[64] = "";
                if (have)
                        snprintf(reuse, sizeof(reuse), "; %zu already unpacked", have);
                if (streamed)
                        snprintf(stream, sizeof(stream), "; %zu unpacked as the bytes arrived", streamed);
                snprintf(line, sizeof(line), "%s %s (%zu layer%s%s%s, %s)\n",
                         unpacked ? "Unpacked, as it downloaded," : "Unpacking", img->name, img->n_layers,
                         img->n_layers == 1 ? "" : "s", reuse, stream, img->digest);
                log(line, ud);
        }
        size_t have = cairn_strv_length(req->have_layers);
        if (!unpacked && have == 0) {
                r = cairn_image_unpack(store_root, img, rootfs, &dropped, err);
        } else if (!unpacked) {
                int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (rootfd < 0)
                        r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", rootfs);
                for (size_t i = 0; r >= 0 && i < img->n_layers; i++) {
                        if (i < have)
                                r = strcmp(req->have_layers[i], img->layers[i]) == 0 ? 0 : changed_image(i, err);
                        else
                                r = cairn_image_unpack_layer(store_root, rootfd, i, img->layers[i], &dropped, err);
                }
                if (r >= 0 && have > img->n_layers)
                        r = changed_image(img->n_layers, err);
                if (rootfd >= 0)
                        close(rootfd);
        }
        if (r == 0 && dropped && log) {
                char line[160];
                snprintf(line, sizeof(line),
                         "Dropped %llu extended attribute%s (trusted.*, or security.* other than security.capability)\n",
                         (unsigned long long) dropped, dropped == 1 ? "" : "s");
                log(line, ud);
        }
        if (r == 0) {
                res->env = strv_dup(img->env, img->n_env);
                res->layers = strv_dup(img->layers, img->n_layers);
                res->image = cairn_xstrdup(img->name);
                res->digest = cairn_xstrdup(img->digest);
                res->config = *img->config ? cairn_xstrdup(img->config) : NULL;
        }
        cairn_image_free(img);
        return r;
}

static int default_resolve(const struct cairn_fetch_request *req, bool remote, char ***ret_layers)
{
        struct cairn_image *img = NULL;
        struct cairn_error *ignored = NULL;
        int r = cairn_image_lookup(req->store_root, req->from, &img, &ignored);
        if (r > 0) {
                *ret_layers = strv_dup(img->layers, img->n_layers);
                cairn_image_free(img);
                return 1;
        }
        /* Not at hand: the manifest says, if the registry answers (if not,
         * the pull reports why). */
        if (r == 0 && remote && req->pull != CAIRN_PULL_NEVER &&
            cairn_registry_resolve(req->from, req->registry, NULL, ret_layers, &ignored) >= 0)
                r = 1;
        cairn_error_free(ignored);
        return r > 0 ? 1 : 0;
}

static int default_identify(const struct cairn_fetch_request *req, struct cairn_image_identity *ret,
                            struct cairn_error **err)
{
        struct cairn_image *img = NULL;
        int r = cairn_image_lookup(req->store_root, req->from, &img, err);
        if (r < 0)
                return r;
        if (req->pull == CAIRN_PULL_ALWAYS && !(r > 0 && strcmp(img->format, "registry") != 0)) {
                cairn_image_free(img);
                img = NULL;
                struct cairn_registry_options o = { 0 };
                if (req->registry)
                        o = *req->registry;
                o.log = req->log;
                o.userdata = req->userdata;
                if ((r = cairn_registry_pull(req->store_root, req->from, req->from, &o, &img, err)) < 0)
                        return cairn_error_prefix(err, "--pull=always");
                r = 1;
        } else if (r > 0 && req->pull == CAIRN_PULL_ALWAYS && req->log) {
                char line[512];
                snprintf(line, sizeof(line), "%s was imported (%s), not pulled: it is used as it is\n", req->from,
                         img->format);
                req->log(line, req->userdata);
        }
        if (r > 0) {
                ret->config = *img->config ? cairn_xstrdup(img->config) : NULL;
                ret->digest = *img->digest ? cairn_xstrdup(img->digest) : NULL;
        }
        cairn_image_free(img);
        return r;
}

const struct cairn_fetcher_ops cairn_fetcher_default_ops = {
        .kind = "default",
        .fetch = default_fetch,
        .resolve = default_resolve,
        .identify = default_identify,
};
