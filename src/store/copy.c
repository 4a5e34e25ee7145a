/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The copy store: the portable fallback where overlayfs cannot be used (or
 * where each result must stand alone).  OBuilder's rsync layout:
 *
 *   result/ID/        a complete result: rootfs/, log, env
 *   result-tmp/ID/    a result being built
 *   cache/NAME/       persistent caches (store.h: cairn_store_cache_dirname);
 *                     cache-tmp/ for the per-step copies
 *   state/            db/db.sqlite
 *
 * A step starts from a clone of its parent (cairn_clone_tree, base/clone.c:
 * reflinks where the filesystem has them, everything kept).  Caches are
 * store/dir-cache.c's.  Publishing is a rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "store/store-backend.h"

struct copy_store {
        struct cairn_store pub;
};

static int copy_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        (void) options;
        static const char *const dirs[] = { "state", "cache", "cache-tmp", "result", "result-tmp" };
        static const char *const temp_dirs[] = { "result-tmp", "cache-tmp" };
        struct copy_store *s = cairn_xzalloc(sizeof(*s));
        s->pub.ops = &cairn_store_copy_ops;
        s->pub.root = cairn_xstrdup(root);
        s->pub.raw_cache_names = true;
        int r = cairn_store_prepare(&s->pub, dirs, CAIRN_ARRAY_SIZE(dirs), temp_dirs, CAIRN_ARRAY_SIZE(temp_dirs), NULL,
                                    err);
        if (r < 0) {
                cairn_store_copy_ops.close(&s->pub);
                return r;
        }
        *ret = &s->pub;
        return 0;
}

static void copy_close(struct cairn_store *pub)
{
        cairn_store_release(pub);
        free(pub);
}

static void build_free(struct cairn_store_build *b)
{
        free(b->dir);
        free(b->rootfs);
        free(b->log_path);
        free(b);
}

static int copy_begin(struct cairn_store *pub, const char *base, const char *id, struct cairn_store_build **ret,
                      struct cairn_error **err)
{
        struct cairn_store_build *b = cairn_xzalloc(sizeof(*b));
        snprintf(b->id, sizeof(b->id), "%s", id);
        b->dir = cairn_store_path(pub, "result-tmp", id);
        b->rootfs = cairn_xasprintf("%s/rootfs", b->dir);
        b->log_path = cairn_xasprintf("%s/log", b->dir);
        int r = cairn_rm_rf(b->dir, err);
        if (r < 0)
                goto fail;
        if (base) {
                _cleanup_free_ char *src = cairn_store_path(pub, "result", base);
                r = cairn_clone_tree(src, b->dir, err);
        } else {
                r = cairn_mkdir_p(b->rootfs, 0755, err);
        }
        if (r < 0)
                goto fail;
        *ret = b;
        return 0;
fail:
        cairn_rm_rf(b->dir, NULL);
        build_free(b);
        return r;
}

static int copy_commit(struct cairn_store *pub, struct cairn_store_build *b, struct cairn_error **err)
{
        int r = cairn_store_publish(pub, b->dir, b->id, false, err);
        if (r < 0)
                cairn_rm_rf(b->dir, NULL);
        build_free(b);
        return r;
}

static void copy_abort(struct cairn_store *pub, struct cairn_store_build *b)
{
        struct cairn_error *err = NULL;
        if (cairn_rm_rf(b->dir, &err) < 0) {
                cairn_warn("%s", err->message);
                cairn_error_free(err);
        }
        build_free(b);
}

static int copy_delete(struct cairn_store *pub, const char *id, bool leaf, struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        return cairn_rm_rf(dir, err);
}

static int copy_view(struct cairn_store *pub, const char *id, char **ret_rootfs, void **ret_handle,
                     struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        *ret_rootfs = cairn_xasprintf("%s/rootfs", dir);
        *ret_handle = NULL;
        return 0;
}

static void copy_view_release(struct cairn_store *pub, void *handle)
{
        (void) pub;
        (void) handle;
}

static int copy_layers(struct cairn_store *pub, const char *id, char ***ret, bool *ret_overlay_diffs,
                       struct cairn_error **err)
{
        char **v = cairn_xzalloc(2 * sizeof(char *));
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        v[0] = cairn_xasprintf("%s/rootfs", dir);
        *ret = v;
        *ret_overlay_diffs = false;
        return 0;
}

const struct cairn_store_ops cairn_store_copy_ops = {
        .layers = copy_layers,
        .kind = "copy",
        .open = copy_open,
        .close = copy_close,
        .result = cairn_store_find_result,
        .begin = copy_begin,
        .commit = copy_commit,
        .abort = copy_abort,
        .delete = copy_delete,
        .view = copy_view,
        .view_release = copy_view_release,
        .cache_get = cairn_store_dir_cache_get,
        .cache_release = cairn_store_dir_cache_release,
};
