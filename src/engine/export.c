/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cairn export ID --oci DIR|FILE`: a result as an OCI image layout, so it
 * can be run with podman or pushed with skopeo.  One uncompressed tar layer
 * per store layer (overlayfs whiteouts become OCI ".wh." entries), and a
 * config with the env, working directory and user of the step that made the
 * result.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/tar.h"
#include "engine/engine-internal.h"
#include "db/db.h"
#include "fetch/image.h"

struct layer_writer {
        struct cairn_blob_writer *blob;
};

static la_ssize_t on_write(struct archive *a, void *ud, const void *buf, size_t len)
{
        struct layer_writer *w = ud;
        if (cairn_blob_writer_write(w->blob, buf, len) < 0) {
                archive_set_error(a, EIO, "cannot write the layer");
                return -1;
        }
        return (la_ssize_t) len;
}

/* One layer blob: an uncompressed tar of dir, so its digest is its diff_id. */
static int write_layer(const char *out, const char *dir, bool overlay, char **ret_digest, uint64_t *ret_size,
                       struct cairn_error **err)
{
        struct layer_writer w = { 0 };
        int r = cairn_blob_writer_open(out, NULL, &w.blob, err);
        if (r < 0)
                return r;
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_in_last_block(a, 1);
        if (archive_write_open2(a, &w, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EIO, "export: %s", archive_error_string(a));
        } else {
                /* An overlayfs layer of a step that wrote nothing in the
                 * root has no root: an empty layer. */
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 && !(overlay && errno == ENOENT)) {
                        r = cairn_error_set_errno(err, errno, "export: cannot open \"%s\"", dir);
                } else if ((r = engine_tar_tree(a, fd, overlay, err)) < 0) {
                        cairn_error_prefix(err, "export");
                }
                if (archive_write_close(a) != ARCHIVE_OK && r == 0)
                        r = cairn_error_set(err, -EIO, "export: %s", archive_error_string(a));
        }
        archive_write_free(a);
        if (r < 0) {
                cairn_blob_writer_abort(w.blob);
                return r;
        }
        *ret_size = w.blob->size;
        return cairn_blob_writer_commit(w.blob, "a layer", ret_digest, err);
}

/* A JSON document as a blob; returns its descriptor. */
static json_t *json_blob(const char *out, json_t *doc, const char *media_type, struct cairn_error **err)
{
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        struct cairn_blob_writer *w;
        char *digest = NULL;
        int r = cairn_blob_writer_open(out, NULL, &w, err);
        if (r == 0) {
                cairn_blob_writer_write(w, text, strlen(text));
                r = cairn_blob_writer_commit(w, media_type, &digest, err);
        }
        json_t *desc = NULL;
        if (r == 0)
                desc = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
                                 (json_int_t) strlen(text));
        free(text);
        free(digest);
        return desc;
}

int cairn_engine_export_oci(struct cairn_engine *e, const char *id, const char *target, const char *tag,
                            struct cairn_error **err)
{
        int lr = cairn_tar_load(err);
        if (lr < 0)
                return lr;
        struct cairn_store *store = cairn_engine_store(e);
        char *dir = NULL;
        int r = cairn_store_result(store, id, &dir, err);
        if (r <= 0)
                return r < 0 ? r : cairn_error_set(err, -ENOENT, "no result \"%s\" in the store", id);
        bool to_file = strlen(target) > 4 && strcmp(target + strlen(target) - 4, ".tar") == 0;
        _cleanup_free_ char *out = NULL, *index_path = NULL, *layout_path = NULL;
        if (to_file) {
                out = cairn_xasprintf("%s.tmp-XXXXXX", target);
                if (!mkdtemp(out)) {
                        free(dir);
                        return cairn_error_set_errno(err, errno, "cannot create a directory beside \"%s\"", target);
                }
        } else {
                out = cairn_xstrdup(target);
                if (mkdir(out, 0755) < 0 && errno != EEXIST) {
                        free(dir);
                        return cairn_error_set_errno(err, errno, "cannot create \"%s\"", out);
                }
        }
        /* Blobs go in OUT/blobs/sha256, as in the store's own layout. */
        char **layers = NULL;
        bool overlay = false;
        json_t *descs = json_array(), *diff_ids = json_array();
        if ((r = cairn_store_layers(store, id, &layers, &overlay, err)) < 0)
                goto out;
        for (char **l = layers; *l && r == 0; l++) {
                char *digest = NULL;
                uint64_t size = 0;
                if ((r = write_layer(out, *l, overlay, &digest, &size, err)) < 0)
                        break;
                json_array_append_new(descs, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                       "application/vnd.oci.image.layer.v1.tar", "digest", digest,
                                                       "size", (json_int_t) size));
                json_array_append_new(diff_ids, json_string(digest));
                free(digest);
        }
        if (r < 0)
                goto out;
        /* The step's context, or the base image's environment. */
        json_t *cfg = json_object();
        json_t *ctx = cairn_result_json_load(dir, "context.json");
        if (ctx) {
                json_object_set(cfg, "Env", json_object_get(ctx, "env"));
                json_object_set(cfg, "WorkingDir", json_object_get(ctx, "workdir"));
                json_object_set(cfg, "User", json_object_get(ctx, "user"));
                json_decref(ctx);
        }
        json_t *config = json_pack("{s:s, s:s, s:o, s:{s:s, s:o}}", "architecture", cairn_host_arch(), "os", "linux",
                                   "config", cfg, "rootfs", "type", "layers", "diff_ids", diff_ids);
        diff_ids = NULL;
        json_t *cdesc = json_blob(out, config, "application/vnd.oci.image.config.v1+json", err);
        json_decref(config);
        if (!cdesc) {
                r = -EIO;
                goto out;
        }
        json_t *manifest = json_pack("{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType",
                                     "application/vnd.oci.image.manifest.v1+json", "config", cdesc, "layers", descs);
        json_t *mdesc = json_blob(out, manifest, "application/vnd.oci.image.manifest.v1+json", err);
        json_decref(manifest);
        if (!mdesc) {
                r = -EIO;
                goto out;
        }
        json_object_set_new(mdesc, "annotations",
                            json_pack("{s:s}", "org.opencontainers.image.ref.name", tag ? tag : "latest"));
        json_t *index = json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", mdesc);
        char *text = json_dumps(index, JSON_INDENT(2));
        json_decref(index);
        index_path = cairn_path_join(out, "index.json");
        layout_path = cairn_path_join(out, "oci-layout");
        r = cairn_write_file(index_path, text, strlen(text), 0644, err);
        free(text);
        if (r == 0)
                r = cairn_write_file(layout_path, "{\"imageLayoutVersion\": \"1.0.0\"}", 31, 0644, err);
        if (r == 0 && to_file) {
                struct archive *a = archive_write_new();
                archive_write_set_format_pax_restricted(a);
                if (archive_write_open_filename(a, target) != ARCHIVE_OK) {
                        r = cairn_error_set(err, -EIO, "cannot write \"%s\": %s", target, archive_error_string(a));
                } else {
                        _cleanup_close_ int fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        r = fd < 0 ? cairn_error_set_errno(err, errno, "export: cannot open \"%s\"", out)
                                   : engine_tar_tree(a, fd, false, err);
                        if (archive_write_close(a) != ARCHIVE_OK && r == 0)
                                r = cairn_error_set(err, -EIO, "cannot write \"%s\": %s", target,
                                                    archive_error_string(a));
                }
                archive_write_free(a);
        }
out:
        if (layers)
                cairn_strv_free(layers);
        json_decref(descs);
        json_decref(diff_ids);
        if (to_file)
                cairn_rm_rf(out, NULL);
        free(dir);
        return r;
}
