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
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

static int open_kind(const struct cairn_store_ops *ops, const char *root, struct cairn_store **ret,
                     struct cairn_error **err)
{
        static const char *const dirs[] = { "state", "cache", "cache-tmp", "result", "result-tmp" };
        static const char *const temp_dirs[] = { "result-tmp", "cache-tmp" };
        struct copy_store *s = cairn_xzalloc(sizeof(*s));
        s->pub.ops = ops;
        s->pub.root = cairn_xstrdup(root);
        s->pub.raw_cache_names = true;
        int r = cairn_store_prepare(&s->pub, dirs, CAIRN_ARRAY_SIZE(dirs), temp_dirs, CAIRN_ARRAY_SIZE(temp_dirs), NULL,
                                    err);
        if (r < 0) {
                ops->close(&s->pub);
                return r;
        }
        *ret = &s->pub;
        return 0;
}

static int copy_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        (void) options;
        return open_kind(&cairn_store_copy_ops, root, ret, err);
}

/* Whether files in dir can share blocks (FICLONE): 0, or an error saying
 * what to do instead. */
static int check_reflinks(const char *dir, struct cairn_error **err)
{
        _cleanup_free_ char *a = cairn_xasprintf("%s/reflink-probe-%d", dir, (int) getpid());
        _cleanup_free_ char *b = cairn_xasprintf("%s.clone", a);
        _cleanup_close_ int fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_close_ int fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int r = 0;
        if (fa < 0 || fb < 0)
                r = cairn_error_set_errno(err, errno, "cannot make a file in \"%s\"", dir);
        else if (write(fa, "cairn", 5) != 5)
                r = cairn_error_set_errno(err, errno, "cannot write in \"%s\"", dir);
        else if (ioctl(fb, FICLONE, fa) < 0)
                r = cairn_error_set_errno(err, errno,
                                          "the filesystem of \"%s\" cannot share blocks between files, which an xfs "
                                          "store needs (an xfs made with mkfs.xfs -m reflink=1, or btrfs; use "
                                          "copy:PATH anywhere else): FICLONE",
                                          dir);
        unlink(a);
        unlink(b);
        return r;
}

/* OBuilder's xfs store: the rsync layout, every copy a reflink
 * (cairn_clone_tree makes them where the filesystem can), on a
 * filesystem checked to make them. */
static int xfs_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        (void) options;
        /* Checked before the store's directories are made. */
        int r = cairn_mkdir_p(root, 0700, err);
        if (r < 0 || (r = check_reflinks(root, err)) < 0)
                return r;
        return open_kind(&cairn_store_xfs_ops, root, ret, err);
}

static void copy_close(struct cairn_store *pub)
{
        cairn_store_release(pub);
        free(pub);
}

static int copy_begin(struct cairn_store *pub, const char *base, const char *id, struct cairn_store_build **ret,
                      struct cairn_error **err)
{
        struct cairn_store_build *b = cairn_store_build_in_tmp(pub, id);
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
        cairn_store_build_free(b);
        return r;
}

static int copy_commit(struct cairn_store *pub, struct cairn_store_build *b, struct cairn_error **err)
{
        int r = cairn_store_publish(pub, b->dir, b->id, false, err);
        if (r < 0)
                cairn_rm_rf(b->dir, NULL);
        cairn_store_build_free(b);
        return r;
}

static void copy_abort(struct cairn_store *pub, struct cairn_store_build *b)
{
        struct cairn_error *err = NULL;
        if (cairn_rm_rf(b->dir, &err) < 0) {
                cairn_warn("%s", err->message);
                cairn_error_free(err);
        }
        cairn_store_build_free(b);
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

/* The rsync layout's ops, shared by copy: and xfs:, which differ in how
 * they open. */
#define COPY_LAYOUT_OPS \
        .layers = copy_layers, .close = copy_close, .result = cairn_store_find_result, .begin = copy_begin, \
        .commit = copy_commit, .abort = copy_abort, .delete = copy_delete, .view = copy_view, \
        .view_release = copy_view_release, .cache_get = cairn_store_dir_cache_get, \
        .cache_release = cairn_store_dir_cache_release, .reuse_from = cairn_store_reuse_whole_root

const struct cairn_store_ops cairn_store_copy_ops = {
        .kind = "copy",
        .open = copy_open,
        COPY_LAYOUT_OPS,
};

const struct cairn_store_ops cairn_store_xfs_ops = {
        .kind = "xfs",
        .open = xfs_open,
        COPY_LAYOUT_OPS,
};
