/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The containerd store's fetcher (reference 10.2, done better): the image
 * is pulled with ctr only when containerd does not have it (OBuilder
 * always pulls, which needs the registry even for a cached image), its
 * config is read by content digest for Docker and OCI media types and the
 * right platform of an index, and the chain ID is computed from the
 * config's diff_ids (ctr's --print-chainid needs flags that differ across
 * 1.6, 1.7 and 2.x).  The base snapshot obuilder-base-ID is then prepared
 * from the chain ID and recorded in rootfs/layerinfo, as OBuilder does.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/process.h"
#include "base/strbuf.h"
#include "containerd/ctr.h"
#include "fetch/fetcher.h"
#include "fetch/image.h"
#include "fetch/reference.h"
#include "fetch/registry.h"

static void say(const struct cairn_fetch_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct cairn_fetch_request *req, const char *fmt, ...)
{
        if (!req->log)
                return;
        /* A line of the build log. */
        struct cairn_buf line = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&line, fmt, ap);
        va_end(ap);
        cairn_buf_addc(&line, '\n');
        req->log(cairn_buf_str(&line), req->userdata);
        cairn_buf_release(&line);
}

/* The digest `ctr images ls` gives for ref (its manifest or index), or
 * NULL when containerd does not have the image. */
static int image_digest(const struct cairn_ctr *c, const char *ref, char **ret, struct cairn_error **err)
{
        _cleanup_free_ char *filter = cairn_xasprintf("name==%s", ref);
        _cleanup_free_ char *out = NULL;
        int r = cairn_ctr(c, &out, err, "images", "ls", filter, NULL);
        if (r < 0)
                return r;
        *ret = NULL;
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *fs = NULL, *name = strtok_r(line, " \t", &fs);
                strtok_r(NULL, " \t", &fs);   /* media type */
                char *digest = strtok_r(NULL, " \t", &fs);
                if (name && digest && strcmp(name, ref) == 0 && cairn_digest_valid(digest)) {
                        *ret = cairn_xstrdup(digest);
                        break;
                }
        }
        return 0;
}

static json_t *content(const struct cairn_ctr *c, const char *digest, const char *what, struct cairn_error **err)
{
        if (!cairn_digest_valid(digest)) {
                cairn_error_set(err, -EINVAL, "the image's %s digest \"%s\" is not valid", what, digest ? digest : "");
                return NULL;
        }
        _cleanup_free_ char *out = NULL;
        if (cairn_ctr(c, &out, err, "content", "get", digest, NULL) < 0)
                return NULL;
        /* What ctr printed is the blob; check it is the one named. */
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(out, strlen(out), hex);
        if (strcmp(hex, digest + 7) != 0) {
                cairn_error_set(err, -EIO, "the image's %s %s does not match its digest", what, digest);
                return NULL;
        }
        json_error_t je;
        json_t *j = json_loads(out, 0, &je);
        if (!json_is_object(j)) {
                json_decref(j);
                cairn_error_set(err, -EINVAL, "the image's %s %s is not a JSON object", what, digest);
                return NULL;
        }
        return j;
}

/* From an index (OCI or Docker list), the manifest for os/arch[/variant]. */
static const char *pick_platform(json_t *index, const char *platform, struct cairn_error **err)
{
        _cleanup_free_ char *want = cairn_xstrdup(platform);
        char *save = NULL;
        const char *os = strtok_r(want, "/", &save), *arch = strtok_r(NULL, "/", &save),
                   *variant = strtok_r(NULL, "/", &save);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(index, "manifests"), i, m) {
                json_t *p = json_object_get(m, "platform");
                const char *mos = json_string_value(json_object_get(p, "os"));
                const char *march = json_string_value(json_object_get(p, "architecture"));
                const char *mvar = json_string_value(json_object_get(p, "variant"));
                if (mos && march && os && arch && strcmp(mos, os) == 0 && strcmp(march, arch) == 0 &&
                    (!variant || (mvar && strcmp(mvar, variant) == 0))) {
                        const char *d = json_string_value(json_object_get(m, "digest"));
                        if (!cairn_digest_valid(d))
                                cairn_error_set(err, -EINVAL, "the image's index has no valid digest for platform %s",
                                                platform);
                        return cairn_digest_valid(d) ? d : NULL;
                }
        }
        cairn_error_set(err, -ENOENT, "the image has no manifest for platform %s", platform);
        return NULL;
}

static int pull(const struct cairn_fetch_request *req, const struct cairn_ctr *c, const struct cairn_image_ref *ref,
                const char *refstr, const char *platform, struct cairn_error **err)
{
        const struct cairn_registry_options *o = req->registry;
        const char *args[16];
        size_t k = 0;
        args[k++] = "images";
        args[k++] = "pull";
        if (cairn_image_ref_allows_http(ref, o ? o->insecure : NULL, o ? o->n_insecure : 0))
                args[k++] = "--plain-http";
        _cleanup_free_ char *user = o && o->credentials ? cairn_xasprintf("--user=%s", o->credentials) : NULL;
        if (user)
                args[k++] = user;
        _cleanup_free_ char *snap = c->snapshotter ? cairn_xasprintf("--snapshotter=%s", c->snapshotter) : NULL;
        if (snap)
                args[k++] = snap;
        _cleanup_free_ char *plat = cairn_xasprintf("--platform=%s", platform);
        args[k++] = plat;
        args[k++] = refstr;
        args[k] = NULL;
        say(req, "Pulling %s with ctr", refstr);
        int r = cairn_ctr_run(c, args, NULL, err);
        if (r < 0)
                return cairn_error_prefix(err, "cannot pull %s", refstr);
        return 0;
}

static char *platform_of(const struct cairn_fetch_request *req, const struct cairn_ctr *c)
{
        if (req->registry && req->registry->platform)
                return cairn_xstrdup(req->registry->platform);
        if (c->platform)
                return cairn_xstrdup(c->platform);
        return cairn_xasprintf("%s/%s", c->windows ? "windows" : "linux", cairn_host_arch());
}

/* The image manifest for platform that digest (ctr images ls) names:
 * itself, or its pick from an index. */
static json_t *platform_manifest(const struct cairn_ctr *c, const char *digest, const char *platform,
                                 struct cairn_error **err)
{
        json_t *top = content(c, digest, "manifest", err);
        if (!top || !json_object_get(top, "manifests"))
                return top;
        const char *m = pick_platform(top, platform, err);
        json_t *manifest = m ? content(c, m, "manifest", err) : NULL;
        json_decref(top);
        return manifest;
}

/* req->from as containerd names it, and the platform to use. */
static int parse_from(const struct cairn_fetch_request *req, struct cairn_image_ref **ret_ref, char **ret_refstr,
                      char **ret_platform, struct cairn_error **err)
{
        const struct cairn_ctr *c = req->backend;
        if (!c)
                return cairn_error_set(err, -EINVAL, "the containerd fetcher needs the containerd store");
        int r = cairn_image_ref_parse(req->from, ret_ref, err);
        if (r < 0)
                return r;
        *ret_refstr = cairn_image_ref_string(*ret_ref);
        *ret_platform = platform_of(req, c);
        return 0;
}

static int identify(const struct cairn_fetch_request *req, struct cairn_image_identity *ret, struct cairn_error **err)
{
        const struct cairn_ctr *c = req->backend;
        struct cairn_image_ref *ref = NULL;
        _cleanup_free_ char *refstr = NULL, *platform = NULL;
        int r = parse_from(req, &ref, &refstr, &platform, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *digest = NULL;
        if (req->pull == CAIRN_PULL_ALWAYS && (r = pull(req, c, ref, refstr, platform, err)) < 0)
                cairn_error_prefix(err, "--pull=always");
        if (r >= 0)
                r = image_digest(c, refstr, &digest, err);
        cairn_image_ref_free(ref);
        if (r < 0 || !digest)
                return r;
        json_t *manifest = platform_manifest(c, digest, platform, err);
        if (!manifest)
                return -EIO;
        const char *config = json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
        if (!cairn_digest_valid(config)) {
                r = cairn_error_set(err, -EINVAL, "the image %s has no valid config digest", refstr);
        } else {
                ret->config = cairn_xstrdup(config);
                ret->digest = TAKE_PTR(digest);
        }
        json_decref(manifest);
        return r < 0 ? r : 1;
}

static int fetch(const struct cairn_fetch_request *req, struct cairn_fetch_result *res, struct cairn_error **err)
{
        const struct cairn_ctr *c = req->backend;
        struct cairn_image_ref *ref = NULL;
        _cleanup_free_ char *refstr = NULL, *platform = NULL;
        int r = parse_from(req, &ref, &refstr, &platform, err);
        if (r < 0)
                return r;
        char *digest = NULL;
        _cleanup_free_ char *key = NULL, *committed = NULL, *layerinfo = NULL;
        json_t *manifest = NULL, *config = NULL;
        bool pulled = false;
        if (req->pull == CAIRN_PULL_ALWAYS) {
                if ((r = pull(req, c, ref, refstr, platform, err)) < 0)
                        goto out;
                pulled = true;
        }
        if ((r = image_digest(c, refstr, &digest, err)) < 0)
                goto out;
        if (!digest && req->pull == CAIRN_PULL_NEVER) {
                r = cairn_error_set(err, -ENOENT, "containerd has no image %s and --pull=never forbids pulling it",
                                    refstr);
                goto out;
        }
        if (!digest) {
                if ((r = pull(req, c, ref, refstr, platform, err)) < 0 || (r = image_digest(c, refstr, &digest, err)) < 0)
                        goto out;
                pulled = true;
                if (!digest) {
                        r = cairn_error_set(err, -ENOENT, "containerd has no image %s after pulling it", refstr);
                        goto out;
                }
        }
        if (!(manifest = platform_manifest(c, digest, platform, err))) {
                r = -EIO;
                goto out;
        }
        const char *config_digest = json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
        if (!(config = content(c, config_digest, "config", err))) {
                r = -EIO;
                goto out;
        }
        json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
        size_t n = json_array_size(diff_ids);
        const char **ids = cairn_xzalloc((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                ids[i] = json_string_value(json_array_get(diff_ids, i)) ? json_string_value(json_array_get(diff_ids, i))
                                                                         : "";
        char chain[72];
        r = cairn_chain_id(ids, n, chain, err);
        free(ids);
        if (r < 0)
                goto out;
        /* The key OBuilder gives a base: obuilder-base-sha256(from). */
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(req->from, strlen(req->from), hex);
        key = cairn_xasprintf("obuilder-base-%s", hex);
        committed = cairn_xasprintf("%s-committed", key);
        layerinfo = cairn_path_join(req->rootfs, "layerinfo");
        if ((r = cairn_ctr_snapshot_rm(c, committed, err)) < 0) {
                /* This store has no such base, yet containerd has one with
                 * results built on it. */
                cairn_error_prefix(err, "%s: is another store using containerd namespace \"%s\"? Give each store its "
                                   "own (--store-opt namespace=NAME)", key,
                                   cairn_ctr_namespace(c));
                goto out;
        }
        struct cairn_error *e = NULL;
        r = cairn_ctr_prepare(c, key, chain, layerinfo, NULL, NULL, &e);
        if (r == -ENOENT && !pulled && req->pull != CAIRN_PULL_NEVER) {
                /* The image is there but not unpacked in this snapshotter:
                 * a pull unpacks it. */
                cairn_error_free(e);
                e = NULL;
                if ((r = pull(req, c, ref, refstr, platform, err)) < 0)
                        goto out;
                r = cairn_ctr_prepare(c, key, chain, layerinfo, NULL, NULL, &e);
        }
        if (r == -ENOENT && !pulled && req->pull == CAIRN_PULL_NEVER) {
                cairn_error_free(e);
                r = cairn_error_set(err, -ENOENT, "containerd has image %s but not unpacked for this store's snapshotter, "
                                                  "and --pull=never forbids the pull that would unpack it", refstr);
                goto out;
        }
        if (r < 0) {
                cairn_error_append(err, &e);
                goto out;
        }
        say(req, "Using %s (%s, chain ID %s)", refstr, digest, chain);
        json_t *env = json_object_get(json_object_get(config, "config"), "Env");
        res->env = cairn_xzalloc((json_array_size(env) + 1) * sizeof(char *));
        size_t ne = 0;
        for (size_t i = 0; i < json_array_size(env); i++) {
                const char *kv = json_string_value(json_array_get(env, i));
                if (!kv || !strchr(kv, '=')) {
                        r = cairn_error_set(err, -EINVAL, "Invalid environment in image \"%s\" (should be 'K=V')",
                                            refstr);
                        goto out;
                }
                res->env[ne++] = cairn_xstrdup(kv);
        }
        json_t *layers = json_object_get(manifest, "layers");
        res->layers = cairn_xzalloc((json_array_size(layers) + 1) * sizeof(char *));
        for (size_t i = 0; i < json_array_size(layers); i++) {
                const char *d = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
                res->layers[i] = cairn_xstrdup(d ? d : "");
        }
        res->image = cairn_xstrdup(refstr);
        res->digest = TAKE_PTR(digest);
        res->config = cairn_xstrdup(config_digest);
out:
        free(digest);
        json_decref(manifest);
        json_decref(config);
        cairn_image_ref_free(ref);
        return r;
}

#ifndef _WIN32
/* The step cache (Linux only, engine/remote.c) reads a base's blobs. */
struct blob_sink {
        struct cairn_blob_writer *w;
        bool failed;
};

static void on_blob(const char *data, size_t len, void *ud)
{
        struct blob_sink *s = ud;
        if (!s->failed && cairn_blob_writer_write(s->w, data, len) < 0)
                s->failed = true;
}

/* `ctr content get DIGEST` streamed into the blob store, verified there. */
static int export_blob(const struct cairn_fetch_request *req, const char *digest, const char *blob_root,
                       struct cairn_error **err)
{
        const struct cairn_ctr *c = req->backend;
        if (!cairn_digest_valid(digest))
                return cairn_error_set(err, -EINVAL, "\"%s\" is not a digest", digest);
        struct blob_sink s = { 0 };
        int r = cairn_blob_writer_open(blob_root, digest, &s.w, err);
        if (r < 0)
                return r;
        char **argv = cairn_ctr_argv(c, (const char *const[]) { "content", "get", digest, NULL });
        struct cairn_buf errout = CAIRN_BUF_INIT_CAP(1 << 20);
        struct cairn_process p = { .argv = (const char *const *) argv, .output = on_blob, .userdata = &s,
                                   .errout = &errout };
        int status = 0;
        r = cairn_process_run(&p, &status, err);
        cairn_strv_free(argv);
        if (r >= 0 && (status != 0 || s.failed)) {
                bool missing = strstr(cairn_buf_str(&errout), "not found") != NULL;
                cairn_blob_writer_abort(s.w);
                cairn_buf_release(&errout);
                if (missing)
                        return 0;
                return cairn_error_set(err, -EIO, "`ctr content get %s` failed: %s", digest,
                                       s.failed ? "cannot write the blob" : cairn_buf_str(&errout));
        }
        cairn_buf_release(&errout);
        if (r < 0) {
                cairn_blob_writer_abort(s.w);
                return r;
        }
        r = cairn_blob_writer_commit(s.w, "a blob from containerd", NULL, err);
        return r < 0 ? r : 1;
}
#endif

const struct cairn_fetcher_ops cairn_fetcher_containerd_ops = {
        .kind = "containerd",
        .fetch = fetch,
        .identify = identify,
#ifndef _WIN32
        .export_blob = export_blob,
#endif
};
