/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json-file.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/tar.h"
#include "db/db.h"
#include "fetch/blob-stream.h"
#include "fetch/extract.h"


void cairn_image_free(struct cairn_image *img)
{
        if (!img)
                return;
        free(img->name);
        free(img->digest);
        free(img->config);
        free(img->format);
        for (size_t i = 0; i < img->n_layers; i++)
                free(img->layers[i]);
        free(img->layers);
        for (size_t i = 0; i < img->n_env; i++)
                free(img->env[i]);
        free(img->env);
        free(img->created);
        free(img);
}

bool cairn_image_same(const struct cairn_image *a, const struct cairn_image *b)
{
        if (*a->config && *b->config)
                return strcmp(a->config, b->config) == 0;
        return strcmp(a->digest, b->digest) == 0;
}

static char *record_path(const char *root, const char *name)
{
        _cleanup_free_ char *e = cairn_escape_filename("", name);
        return cairn_xasprintf("%s/images/%s.json", root, e);
}

char *cairn_blob_path(const char *root, const char *digest)
{
        return cairn_xasprintf("%s/blobs/sha256/%s", root, digest + strlen("sha256:"));
}

int cairn_blob_writer_open(const char *root, const char *expected, struct cairn_blob_writer **ret,
                           struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_xasprintf("%s/blobs/sha256", root);
        int r = cairn_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        struct cairn_blob_writer *w = cairn_xzalloc(sizeof(*w));
        w->dir = TAKE_PTR(dir);
        w->expected = expected ? cairn_xstrdup(expected) : NULL;
        w->tmp = cairn_xasprintf("%s/.tmp-XXXXXX", w->dir);
        w->fd = mkostemp(w->tmp, O_CLOEXEC);
        if (w->fd < 0) {
                r = cairn_error_set_errno(err, errno, "cannot create a blob in \"%s\"", w->dir);
                free(w->tmp);
                free(w->expected);
                free(w->dir);
                free(w);
                return r;
        }
        cairn_sha256_init(&w->hash);
        *ret = w;
        return 0;
}

int cairn_blob_writer_write(struct cairn_blob_writer *w, const void *data, size_t len)
{
        cairn_sha256_update(&w->hash, data, len);
        const char *p = data;
        while (len) {
                ssize_t n = write(w->fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        w->size += (uint64_t) (p - (const char *) data);
        return 0;
}

void cairn_blob_writer_abort(struct cairn_blob_writer *w)
{
        if (!w)
                return;
        close(w->fd);
        unlink(w->tmp);
        free(w->tmp);
        free(w->expected);
        free(w->dir);
        free(w);
}

int cairn_blob_writer_commit(struct cairn_blob_writer *w, const char *what, char **ret_digest,
                             struct cairn_error **err)
{
        char hex[65];
        cairn_sha256_final_hex(&w->hash, hex);
        int r = 0;
        if (w->expected && strcmp(w->expected + 7, hex) != 0)
                r = cairn_error_set(err, -EBADMSG, "%s does not match its digest: expected %s, got sha256:%s", what,
                                    w->expected, hex);
        if (r == 0) {
                _cleanup_free_ char *final = cairn_xasprintf("%s/%s", w->dir, hex);
                if (fsync(w->fd) < 0 || rename(w->tmp, final) < 0)
                        r = cairn_error_set_errno(err, errno, "cannot store the blob \"%s\"", final);
        }
        if (r == 0 && ret_digest)
                *ret_digest = cairn_xasprintf("sha256:%s", hex);
        close(w->fd);
        if (r < 0)
                unlink(w->tmp);
        free(w->tmp);
        free(w->expected);
        free(w->dir);
        free(w);
        return r;
}

/*
 * Copy src into the blob store, hashing it; if expected is given, the content
 * must match it.  Returns the digest in *ret_digest.
 */
static int put_blob(const char *root, int srcfd, const char *what, const char *expected, char **ret_digest,
                    uint64_t *ret_size, struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_xasprintf("%s/blobs/sha256", root);
        int r = cairn_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = cairn_xasprintf("%s/.tmp-XXXXXX", dir);
        _cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
        if (out < 0)
                return cairn_error_set_errno(err, errno, "cannot create a blob in \"%s\"", dir);
        struct cairn_sha256 h;
        cairn_sha256_init(&h);
        char buf[1 << 16];
        uint64_t size = 0;
        for (;;) {
                ssize_t n = read(srcfd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot read %s", what);
                        break;
                }
                if (n == 0)
                        break;
                cairn_sha256_update(&h, buf, (size_t) n);
                if (write(out, buf, (size_t) n) != n) {
                        r = cairn_error_set_errno(err, errno, "cannot write a blob");
                        break;
                }
                size += (uint64_t) n;
        }
        char hex[65];
        cairn_sha256_final_hex(&h, hex);
        if (r == 0 && expected && strcmp(expected + 7, hex) != 0)
                r = cairn_error_set(err, -EBADMSG, "%s does not match its digest: expected %s, got sha256:%s", what,
                                    expected, hex);
        if (r == 0) {
                _cleanup_free_ char *final = cairn_xasprintf("%s/%s", dir, hex);
                if (fsync(out) < 0 || rename(tmp, final) < 0)
                        r = cairn_error_set_errno(err, errno, "cannot store the blob \"%s\"", final);
        }
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        *ret_digest = cairn_xasprintf("sha256:%s", hex);
        if (ret_size)
                *ret_size = size;
        return 0;
}

/* Regular files and directories of an archive, copied under dir with their
 * names checked: the staging copy of an image tarball. */
static int stage_archive(const char *path, const char *dir, struct cairn_error **err)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
                int r = cairn_error_set(err, -EINVAL, "cannot read \"%s\": %s", path, archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        _cleanup_close_ int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = rootfd < 0 ? cairn_error_set_errno(err, errno, "cannot open \"%s\"", dir) : 0;
        struct archive_entry *e;
        int ar = ARCHIVE_OK;
        unsigned long entries = 0;
        while (r == 0 && (ar = cairn_tar_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                if (++entries > 100000 || !name || strstr(name, "..")) {
                        _cleanup_free_ char *shown = cairn_name_for_message(name ? name : "");
                        r = cairn_error_set(err, -EINVAL, "\"%s\": unexpected entry \"%s\" in an image archive", path,
                                            shown);
                        break;
                }
                if (archive_entry_filetype(e) != AE_IFREG)
                        continue;
                int dirfd;
                const char *leaf;
                const char *slash = strrchr(name, '/');
                if (slash) {
                        _cleanup_free_ char *parent = cairn_xstrndup(name, (size_t) (slash - name));
                        struct cairn_error *raw = NULL;   /* its message has the name unescaped */
                        r = cairn_mkdir_p_in_root(rootfd, parent, 0755, (uid_t) -1, (gid_t) -1, &dirfd, &raw);
                        cairn_error_free(raw);
                        if (r < 0) {
                                _cleanup_free_ char *shown = cairn_name_for_message(name);
                                r = cairn_error_set(err, r, "\"%s\": cannot stage \"%s\"", path, shown);
                                break;
                        }
                        leaf = slash + 1;
                } else {
                        dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                        leaf = name;
                }
                int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
                close(dirfd);
                if (fd < 0) {
                        _cleanup_free_ char *shown = cairn_name_for_message(name);
                        r = cairn_error_set_errno(err, errno, "\"%s\": cannot stage \"%s\"", path, shown);
                        break;
                }
                if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
                        r = cairn_error_set(err, -EIO, "\"%s\": %s", path, archive_error_string(a));
                close(fd);
        }
        if (r == 0 && ar != ARCHIVE_EOF)
                r = cairn_error_set(err, -EINVAL, "cannot read \"%s\": %s", path, archive_error_string(a));
        archive_read_free(a);
        return r;
}

/* Which kind of tarball this is, from its entry names alone: 'o' for an OCI
 * layout (index.json), 'd' for docker-archive (manifest.json), 'r' for a root
 * filesystem.  Nothing is written. */
static int detect_archive(const char *path, char *ret, struct cairn_error **err)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
                int r = cairn_error_set(err, -EINVAL, "cannot read \"%s\": %s", path, archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        *ret = 'r';
        struct archive_entry *e;
        int ar;
        while ((ar = cairn_tar_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                while (name && name[0] == '.' && name[1] == '/')
                        name += 2;
                if (name && strcmp(name, "index.json") == 0)
                        *ret = 'o';
                else if (name && strcmp(name, "manifest.json") == 0 && *ret != 'o')
                        *ret = 'd';
        }
        int r = 0;
        if (ar != ARCHIVE_EOF)
                r = cairn_error_set(err, -EINVAL, "cannot read \"%s\": %s", path, archive_error_string(a));
        archive_read_free(a);
        return r;
}

static bool exists_in(const char *dir, const char *name)
{
        _cleanup_free_ char *p = cairn_xasprintf("%s/%s", dir, name);
        return access(p, F_OK) == 0;
}

static int import_blob_file(const char *root, const char *dir, const char *rel, const char *expected, char **ret_digest,
                            uint64_t *size, struct cairn_error **err)
{
        _cleanup_free_ char *p = cairn_xasprintf("%s/%s", dir, rel);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", p);
        _cleanup_free_ char *what = cairn_xasprintf("\"%s\"", rel);
        return put_blob(root, fd, what, expected, ret_digest, size, err);
}

int cairn_image_set_config(const char *root, const char *config_digest, struct cairn_image *img,
                           struct cairn_error **err)
{
        _cleanup_free_ char *p = cairn_blob_path(root, config_digest);
        json_t *cfg = cairn_load_json(p, "image config", err);
        if (!cfg)
                return -EINVAL;
        for (size_t i = 0; i < img->n_env; i++)
                free(img->env[i]);
        img->n_env = 0;
        json_t *env = json_object_get(json_object_get(cfg, "config"), "Env");
        size_t i;
        json_t *v;
        json_array_foreach(env, i, v) {
                const char *s = json_string_value(v);
                if (!s || !strchr(s, '=')) {
                        json_decref(cfg);
                        return cairn_error_set(err, -EINVAL,
                                               "Invalid environment in image config %s (should be 'K=V')", config_digest);
                }
                img->env = cairn_xreallocarray(img->env, img->n_env + 1, sizeof(char *));
                img->env[img->n_env++] = cairn_xstrdup(s);
        }
        json_decref(cfg);
        free(img->config);
        img->config = cairn_xstrdup(config_digest);
        return 0;
}

int cairn_blob_put(const char *root, const void *data, size_t len, char **ret_digest, struct cairn_error **err)
{
        struct cairn_blob_writer *w;
        int r = cairn_blob_writer_open(root, NULL, &w, err);
        if (r < 0)
                return r;
        if ((r = cairn_blob_writer_write(w, data, len)) < 0) {
                cairn_blob_writer_abort(w);
                return cairn_error_set_errno(err, -r, "cannot write a blob in \"%s\"", root);
        }
        return cairn_blob_writer_commit(w, "a blob", ret_digest, err);
}

/* The digest of the uncompressed tar in the blob `digest` (the layer's
 * diff_id): the digest itself when the blob is not compressed. */
static int diff_id(const char *root, const char *digest, char **ret, struct cairn_error **err)
{
        _cleanup_free_ char *p = cairn_blob_path(root, digest);
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        struct archive_entry *e;
        int r = 0;
        if (archive_read_open_filename(a, p, 1 << 16) != ARCHIVE_OK || archive_read_next_header(a, &e) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EINVAL, "cannot read the layer %s: %s", digest, archive_error_string(a));
        } else if (archive_filter_count(a) <= 1) {
                *ret = cairn_xstrdup(digest);
        } else {
                struct cairn_sha256 h;
                cairn_sha256_init(&h);
                const void *buf;
                size_t size;
                la_int64_t offset;
                int ar;
                while ((ar = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK)
                        cairn_sha256_update(&h, buf, size);
                char hex[CAIRN_SHA256_HEX_LEN + 1];
                cairn_sha256_final_hex(&h, hex);
                if (ar != ARCHIVE_EOF)
                        r = cairn_error_set(err, -EINVAL, "cannot read the layer %s: %s", digest, archive_error_string(a));
                else
                        *ret = cairn_xasprintf("sha256:%s", hex);
        }
        archive_read_free(a);
        return r;
}

/* Store doc (compact, keys sorted) as img's new config. */
static int put_config(const char *root, json_t *doc, struct cairn_image *img, struct cairn_error **err)
{
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        char *digest = NULL;
        int r = cairn_blob_put(root, text, strlen(text), &digest, err);
        if (r == 0)
                r = cairn_image_set_config(root, digest, img, err);
        free(digest);
        free(text);
        return r;
}

/* A config for a root filesystem tarball (the one layer of img): Docker's
 * default PATH, as Docker gives an image without Env. */
static int rootfs_config(const char *root, struct cairn_image *img, struct cairn_error **err)
{
        char *id = NULL;
        int r = diff_id(root, img->layers[0], &id, err);
        if (r < 0)
                return r;
        json_t *doc = json_pack("{s:s, s:s, s:{s:[s]}, s:{s:s, s:[s]}}", "architecture", cairn_host_arch(), "os",
                                "linux", "config", "Env", CAIRN_IMAGE_DEFAULT_PATH, "rootfs", "type", "layers",
                                "diff_ids", id);
        free(id);
        r = put_config(root, doc, img, err);
        json_decref(doc);
        return r;
}

/* img's config with the variables of env ("K=V") set: a new config. */
static int config_with_env(const char *root, struct cairn_image *img, const char *const *env, size_t n,
                           struct cairn_error **err)
{
        for (size_t i = 0; i < n; i++)
                if (!strchr(env[i], '=') || env[i][0] == '=')
                        return cairn_error_set(err, -EINVAL, "invalid environment \"%s\" (should be 'K=V')", env[i]);
        _cleanup_free_ char *p = cairn_blob_path(root, img->config);
        json_t *doc = cairn_load_json(p, "image config", err);
        if (!doc)
                return -EINVAL;
        json_t *cfg = json_object_get(doc, "config");
        if (!json_is_object(cfg)) {
                cfg = json_object();
                json_object_set_new(doc, "config", cfg);
        }
        json_t *list = json_object_get(cfg, "Env");
        if (!json_is_array(list)) {
                list = json_array();
                json_object_set_new(cfg, "Env", list);
        }
        for (size_t i = 0; i < n; i++) {
                size_t klen = (size_t) (strchr(env[i], '=') - env[i]) + 1;
                size_t k;
                json_t *v;
                bool replaced = false;
                json_array_foreach(list, k, v) {
                        const char *s = json_string_value(v);
                        if (s && strncmp(s, env[i], klen) == 0) {
                                json_array_set_new(list, k, json_string(env[i]));
                                replaced = true;
                                break;
                        }
                }
                if (!replaced)
                        json_array_append_new(list, json_string(env[i]));
        }
        int r = put_config(root, doc, img, err);
        json_decref(doc);
        return r;
}

void cairn_image_add_layer(struct cairn_image *img, char *digest, uint64_t size)
{
        img->layers = cairn_xreallocarray(img->layers, img->n_layers + 1, sizeof(char *));
        img->layers[img->n_layers++] = digest;
        img->size += size;
}

/* A layer blob of an image being imported (checked against expected, a
 * digest, unless NULL), added to img. */
static int import_layer(const char *root, const char *dir, const char *rel, const char *expected,
                        struct cairn_image *img, struct cairn_error **err)
{
        char *got = NULL;
        uint64_t size = 0;
        int r = import_blob_file(root, dir, rel, expected, &got, &size, err);
        if (r == 0)
                cairn_image_add_layer(img, got, size);
        return r;
}

/* OCI image layout: index.json -> (index ->)* manifest -> config + layers. */
static int import_oci(const char *root, const char *dir, struct cairn_image *img, struct cairn_error **err)
{
        _cleanup_free_ char *index_path = cairn_xasprintf("%s/index.json", dir);
        json_t *index = cairn_load_json(index_path, "OCI index", err);
        if (!index)
                return -EINVAL;
        int r = 0;
        json_t *manifest = NULL;
        char *manifest_digest = NULL;
        for (int depth = 0; depth < 4 && !manifest && r == 0; depth++) {
                json_t *list = json_object_get(index, "manifests");
                json_t *pick = NULL, *m;
                size_t i;
                json_array_foreach(list, i, m) {
                        json_t *plat = json_object_get(m, "platform");
                        const char *os = json_string_value(json_object_get(plat, "os"));
                        const char *arch = json_string_value(json_object_get(plat, "architecture"));
                        if (!plat || ((!os || strcmp(os, "linux") == 0) && (!arch || strcmp(arch, cairn_host_arch()) == 0))) {
                                pick = m;
                                break;
                        }
                }
                if (!pick) {
                        r = cairn_error_set(err, -ENOENT, "no image for linux/%s in the OCI index", cairn_host_arch());
                        break;
                }
                const char *digest = json_string_value(json_object_get(pick, "digest"));
                const char *mt = json_string_value(json_object_get(pick, "mediaType"));
                if (!cairn_digest_valid(digest)) {
                        r = cairn_error_set(err, -EINVAL, "invalid digest in the OCI index");
                        break;
                }
                _cleanup_free_ char *rel = cairn_xasprintf("blobs/sha256/%s", digest + 7);
                char *got = NULL;
                if ((r = import_blob_file(root, dir, rel, digest, &got, NULL, err)) < 0)
                        break;
                _cleanup_free_ char *bp = cairn_blob_path(root, got);
                json_t *doc = cairn_load_json(bp, "OCI manifest", err);
                if (!doc) {
                        free(got);
                        r = -EINVAL;
                        break;
                }
                bool is_index = (mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"))) ||
                                json_object_get(doc, "manifests");
                json_decref(index);
                if (is_index) {
                        index = doc;
                        free(got);
                } else {
                        index = NULL;
                        manifest = doc;
                        manifest_digest = got;
                }
        }
        if (index)
                json_decref(index);
        if (r < 0 || !manifest) {
                if (manifest)
                        json_decref(manifest);
                free(manifest_digest);
                return r < 0 ? r : cairn_error_set(err, -EINVAL, "the OCI index leads to no image manifest");
        }
        img->digest = manifest_digest;
        const char *cfg = json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
        if (!cairn_digest_valid(cfg)) {
                json_decref(manifest);
                return cairn_error_set(err, -EINVAL, "the image manifest has no valid config digest");
        }
        _cleanup_free_ char *cfg_rel = cairn_xasprintf("blobs/sha256/%s", cfg + 7);
        char *cfg_digest = NULL;
        if ((r = import_blob_file(root, dir, cfg_rel, cfg, &cfg_digest, NULL, err)) == 0)
                r = cairn_image_set_config(root, cfg_digest, img, err);
        free(cfg_digest);
        json_t *layers = json_object_get(manifest, "layers"), *l;
        size_t i;
        json_array_foreach(layers, i, l) {
                if (r < 0)
                        break;
                const char *d = json_string_value(json_object_get(l, "digest"));
                if (!cairn_digest_valid(d)) {
                        r = cairn_error_set(err, -EINVAL, "the image manifest has an invalid layer digest");
                        break;
                }
                _cleanup_free_ char *rel = cairn_xasprintf("blobs/sha256/%s", d + 7);
                r = import_layer(root, dir, rel, d, img, err);
        }
        json_decref(manifest);
        img->format = cairn_xstrdup("oci");
        return r;
}

/* docker save: manifest.json -> [{Config, Layers}]. */
static int import_docker(const char *root, const char *dir, struct cairn_image *img, struct cairn_error **err)
{
        _cleanup_free_ char *mp = cairn_xasprintf("%s/manifest.json", dir);
        json_t *m = cairn_load_json(mp, "docker-archive manifest", err);
        if (!m)
                return -EINVAL;
        json_t *first = json_array_get(m, 0);
        const char *cfg = json_string_value(json_object_get(first, "Config"));
        int r = 0;
        if (!cfg) {
                json_decref(m);
                return cairn_error_set(err, -EINVAL, "manifest.json names no Config");
        }
        char *cfg_digest = NULL;
        if ((r = import_blob_file(root, dir, cfg, NULL, &cfg_digest, NULL, err)) == 0)
                r = cairn_image_set_config(root, cfg_digest, img, err);
        img->digest = cfg_digest;
        json_t *layers = json_object_get(first, "Layers"), *l;
        size_t i;
        json_array_foreach(layers, i, l) {
                if (r < 0)
                        break;
                const char *rel = json_string_value(l);
                if (!rel || strstr(rel, "..")) {
                        r = cairn_error_set(err, -EINVAL, "manifest.json has an invalid layer path");
                        break;
                }
                r = import_layer(root, dir, rel, NULL, img, err);
        }
        json_decref(m);
        img->format = cairn_xstrdup("docker-archive");
        return r;
}

int cairn_image_save(const char *root, const struct cairn_image *img, struct cairn_error **err)
{
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(img->name));
        json_object_set_new(j, "digest", json_string(img->digest ? img->digest : ""));
        json_object_set_new(j, "config", json_string(img->config ? img->config : ""));
        json_object_set_new(j, "format", json_string(img->format));
        json_object_set_new(j, "created", json_string(img->created));
        json_object_set_new(j, "size", json_integer((json_int_t) img->size));
        json_t *layers = json_array(), *env = json_array();
        for (size_t i = 0; i < img->n_layers; i++)
                json_array_append_new(layers, json_string(img->layers[i]));
        for (size_t i = 0; i < img->n_env; i++)
                json_array_append_new(env, json_string(img->env[i]));
        json_object_set_new(j, "layers", layers);
        json_object_set_new(j, "env", env);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
        _cleanup_free_ char *dir = cairn_xasprintf("%s/images", root);
        _cleanup_free_ char *path = record_path(root, img->name);
        int r = cairn_mkdir_p(dir, 0755, err);
        if (r == 0) {
                _cleanup_free_ char *tmp = cairn_xasprintf("%s.tmp", path);
                r = cairn_write_file(tmp, text, strlen(text), 0644, err);
                if (r == 0 && rename(tmp, path) < 0)
                        r = cairn_error_set_errno(err, errno, "cannot save \"%s\"", path);
        }
        free(text);
        return r;
}

static struct cairn_image *load_record(const char *path, struct cairn_error **err)
{
        json_t *j = cairn_load_json(path, "image record", err);
        if (!j)
                return NULL;
        struct cairn_image *img = cairn_xzalloc(sizeof(*img));
        const char *s;
        img->name = cairn_xstrdup((s = json_string_value(json_object_get(j, "name"))) ? s : "");
        img->digest = cairn_xstrdup((s = json_string_value(json_object_get(j, "digest"))) ? s : "");
        img->config = cairn_xstrdup((s = json_string_value(json_object_get(j, "config"))) ? s : "");
        img->format = cairn_xstrdup((s = json_string_value(json_object_get(j, "format"))) ? s : "");
        img->created = cairn_xstrdup((s = json_string_value(json_object_get(j, "created"))) ? s : "");
        img->size = (uint64_t) json_integer_value(json_object_get(j, "size"));
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(j, "layers"), i, v) {
                if (!cairn_digest_valid(json_string_value(v)))
                        continue;
                cairn_image_add_layer(img, cairn_xstrdup(json_string_value(v)), 0);
        }
        json_array_foreach(json_object_get(j, "env"), i, v) {
                if (!json_string_value(v))
                        continue;
                img->env = cairn_xreallocarray(img->env, img->n_env + 1, sizeof(char *));
                img->env[img->n_env++] = cairn_xstrdup(json_string_value(v));
        }
        json_decref(j);
        return img;
}

int cairn_image_import(const char *root, const char *name, const char *path, const char *const *extra_env,
                       size_t n_extra_env, struct cairn_image **ret, struct cairn_error **err)
{
        int lr = cairn_tar_load(err);
        if (lr < 0)
                return lr;
        if (!*name || strchr(name, '\n'))
                return cairn_error_set(err, -EINVAL, "invalid image name \"%s\"", name);
        struct stat st;
        if (stat(path, &st) < 0)
                return cairn_error_set_errno(err, errno, "cannot import \"%s\"", path);
        struct cairn_image *img = cairn_xzalloc(sizeof(*img));
        img->name = cairn_xstrdup(name);
        char now[20];
        cairn_db_format_time(time(NULL), now);
        img->created = cairn_xstrdup(now);
        _cleanup_free_ char *staging = NULL;
        const char *dir = NULL;
        int r = 0;
        char kind = 'r';
        if (S_ISDIR(st.st_mode)) {
                dir = path;
        } else if ((r = detect_archive(path, &kind, err)) < 0) {
                goto out;
        } else if (kind != 'r') {
                _cleanup_free_ char *tmpdir = cairn_xasprintf("%s/tmp", root);
                if ((r = cairn_mkdir_p(tmpdir, 0700, err)) < 0)
                        goto out;
                staging = cairn_xasprintf("%s/import-XXXXXX", tmpdir);
                if (!mkdtemp(staging)) {
                        r = cairn_error_set_errno(err, errno, "cannot create a staging directory in \"%s\"", tmpdir);
                        goto out;
                }
                if ((r = stage_archive(path, staging, err)) < 0)
                        goto out;
                dir = staging;
        }
        if (exists_in(dir, "index.json")) {
                r = import_oci(root, dir, img, err);
        } else if (exists_in(dir, "manifest.json")) {
                r = import_docker(root, dir, img, err);
        } else if (!S_ISDIR(st.st_mode)) {
                /* A plain root filesystem tarball: the file is the one layer. */
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                char *digest = NULL;
                uint64_t size = 0;
                _cleanup_free_ char *what = cairn_xasprintf("\"%s\"", path);
                if (fd < 0)
                        r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
                else if ((r = put_blob(root, fd, what, NULL, &digest, &size, err)) == 0) {
                        cairn_image_add_layer(img, digest, size);
                        img->digest = cairn_xstrdup(digest);
                        r = rootfs_config(root, img, err);
                }
                img->format = cairn_xstrdup("rootfs");
        } else {
                r = cairn_error_set(err, -EINVAL,
                                    "\"%s\" is a directory but not an OCI image layout (it has no index.json)", path);
        }
        if (r < 0)
                goto out;
        if (n_extra_env && (r = config_with_env(root, img, extra_env, n_extra_env, err)) < 0)
                goto out;
        r = cairn_image_save(root, img, err);
out:
        if (staging) {
                struct cairn_error *e2 = NULL;
                cairn_rm_rf(staging, &e2);
                cairn_error_free(e2);
        }
        if (r < 0) {
                cairn_image_free(img);
                return cairn_error_prefix(err, "importing \"%s\" as \"%s\"", path, name);
        }
        if (ret)
                *ret = img;
        else
                cairn_image_free(img);
        return 0;
}

int cairn_image_lookup(const char *root, const char *name, struct cairn_image **ret, struct cairn_error **err)
{
        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_free_ char *n = NULL;
                if (attempt == 1) {
                        const char *slash = strrchr(name, '/');
                        if (strchr(slash ? slash : name, ':') || strchr(name, '@'))
                                break;
                        n = cairn_xasprintf("%s:latest", name);
                }
                _cleanup_free_ char *p = record_path(root, n ? n : name);
                if (access(p, F_OK) < 0)
                        continue;
                struct cairn_image *img = load_record(p, err);
                if (!img)
                        return -EINVAL;
                *ret = img;
                return 1;
        }
        return 0;
}

int cairn_image_unpack(const char *root, const struct cairn_image *img, const char *rootfs, uint64_t *dropped,
                       struct cairn_error **err)
{
        _cleanup_close_ int fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", rootfs);
        for (size_t i = 0; i < img->n_layers; i++) {
                int r = cairn_image_unpack_layer(root, fd, i, img->layers[i], dropped, err);
                if (r < 0)
                        return cairn_error_prefix(err, "image \"%s\"", img->name);
        }
        return 0;
}

int cairn_image_unpack_layer(const char *root, int rootfd, size_t index, const char *digest, uint64_t *dropped,
                             struct cairn_error **err)
{
        _cleanup_free_ char *p = cairn_blob_path(root, digest);
        int r = cairn_extract_layer(rootfd, p, NULL, dropped, err);
        if (r < 0)
                return cairn_error_prefix(err, "layer %zu (%s)", index + 1, digest);
        return 0;
}

int cairn_image_unpack_layer_stream(int rootfd, size_t index, struct cairn_blob_stream *stream, uint64_t *dropped,
                                    struct cairn_error **err)
{
        const char *digest = cairn_blob_stream_digest(stream);
        int r = cairn_extract_layer_stream(rootfd, stream, digest, dropped, NULL, err);
        if (r < 0)
                return cairn_error_prefix(err, "layer %zu (%s)", index + 1, digest);
        return 0;
}

static int cmp_images(const void *a, const void *b)
{
        return strcmp((*(struct cairn_image *const *) a)->name, (*(struct cairn_image *const *) b)->name);
}

int cairn_image_list(const char *root, struct cairn_image ***ret, size_t *ret_n, struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_xasprintf("%s/images", root);
        struct cairn_image **v = NULL;
        size_t n = 0;
        DIR *d = opendir(dir);
        if (d) {
                for (struct dirent *de; (de = readdir(d));) {
                        size_t len = strlen(de->d_name);
                        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
                                continue;
                        _cleanup_free_ char *p = cairn_xasprintf("%s/%s", dir, de->d_name);
                        struct cairn_error *e2 = NULL;
                        struct cairn_image *img = load_record(p, &e2);
                        cairn_error_free(e2);
                        if (!img)
                                continue;
                        v = cairn_xreallocarray(v, n + 1, sizeof(*v));
                        v[n++] = img;
                }
                closedir(d);
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_images);
        *ret = v;
        *ret_n = n;
        (void) err;
        return 0;
}

int cairn_image_remove(const char *root, const char *name, struct cairn_error **err)
{
        struct cairn_image *img = NULL;
        int r = cairn_image_lookup(root, name, &img, err);
        if (r <= 0)
                return r < 0 ? r : cairn_error_set(err, -ENOENT, "no image named \"%s\"", name);
        _cleanup_free_ char *p = record_path(root, img->name);
        if (unlink(p) < 0) {
                cairn_image_free(img);
                return cairn_error_set_errno(err, errno, "cannot remove \"%s\"", p);
        }
        /* Drop the blobs no other image uses. */
        struct cairn_image **all;
        size_t n;
        cairn_image_list(root, &all, &n, NULL);
        for (size_t i = 0; i < img->n_layers; i++) {
                bool used = false;
                for (size_t k = 0; k < n && !used; k++)
                        for (size_t j = 0; j < all[k]->n_layers && !used; j++)
                                used = strcmp(all[k]->layers[j], img->layers[i]) == 0;
                if (!used) {
                        _cleanup_free_ char *b = cairn_blob_path(root, img->layers[i]);
                        unlink(b);
                }
        }
        for (size_t k = 0; k < n; k++)
                cairn_image_free(all[k]);
        free(all);
        cairn_image_free(img);
        return 1;
}
