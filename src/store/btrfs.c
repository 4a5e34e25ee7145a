/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The btrfs store, in OBuilder's layout (reference 4.3), so that a store
 * OBuilder wrote is used as it is and the reverse:
 *
 *   result/ID/        a read-only subvolume: rootfs/, log, env
 *   result-tmp/ID/    a writable subvolume while ID is being built
 *   cache/c-NAME/     persistent caches, each a subvolume
 *   cache-tmp/        a writable snapshot of a cache for each step using it
 *   state/            db/db.sqlite
 *
 * A step starts from a writable snapshot of its parent's result (nothing
 * is copied) and is published, as OBuilder does, by a read-only snapshot of
 * it at result/ID; the temporary subvolume is then destroyed.  Every
 * operation is one ioctl of <linux/btrfs.h>: no `btrfs` program is run.
 *
 * Destroying a subvolume only unlinks it: the kernel's cleaner thread frees
 * its extents later.  cairn never waits for that (`btrfs subvolume sync`,
 * which OBuilder runs after a prune, can block for a very long time on a
 * busy filesystem); `cairn du` says how many deletions the filesystem still
 * has to finish.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "store/store-backend.h"

/* Subvolumes nested in one another deeper than this are not followed
 * (each level is one recursion; a step could make millions). */
#define NESTED_MAX_DEPTH 256

/* Where the next version of a cache is made, beside it in cache/: a
 * read-only subvolume cannot move to another directory (its ".." would
 * change), only be renamed within one.  No cache is named so: their names
 * start with "c-". */
#define NEXT_PREFIX ".cairn-next-"

struct btrfs_store {
        struct cairn_store pub;
        unsigned long next_cache;
};

struct btrfs_cache {
        unsigned long generation;
};

/* --- subvolumes --------------------------------------------------------------- */

static int name_arg(char *dst, size_t size, const char *name)
{
        size_t len = strlen(name);
        if (len == 0 || len >= size || strchr(name, '/'))
                return -ENAMETOOLONG;
        memcpy(dst, name, len + 1);
        return 0;
}

/* An empty subvolume dirfd/name.  Returns 0 or -errno. */
static int subvol_create(int dirfd, const char *name)
{
        struct btrfs_ioctl_vol_args args = { 0 };
        int r = name_arg(args.name, sizeof(args.name), name);
        if (r < 0)
                return r;
        return ioctl(dirfd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0 ? -errno : 0;
}

/* A snapshot of the subvolume open at srcfd as dirfd/name.  The kernel
 * flushes the source's dirty data into the snapshot and commits the
 * transaction before it returns, so the snapshot is on disk, whole. */
static int subvol_snapshot(int srcfd, int dirfd, const char *name, bool readonly)
{
        struct btrfs_ioctl_vol_args_v2 args = { 0 };
        int r = name_arg(args.name, sizeof(args.name), name);
        if (r < 0)
                return r;
        args.fd = srcfd;
        args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
        return ioctl(dirfd, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0 ? -errno : 0;
}

static bool is_subvol_at(int dirfd, const char *name)
{
        struct stat st;
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
               st.st_ino == BTRFS_FIRST_FREE_OBJECTID;
}

/* The ID of the subvolume holding the file open at fd. */
static int subvol_id(int fd, uint64_t *ret)
{
        struct btrfs_ioctl_ino_lookup_args args = { .treeid = 0, .objectid = BTRFS_FIRST_FREE_OBJECTID };
        if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
                return -errno;
        *ret = args.treeid;
        return 0;
}

/*
 * Call fn with the offset of every item of type `type` and objectid
 * `objectid` in the root tree (BTRFS_IOC_TREE_SEARCH; needs CAP_SYS_ADMIN).
 * Returns 0 or -errno.
 */
static int root_tree_offsets(int fd, uint64_t objectid, uint32_t type, int (*fn)(uint64_t offset, void *ud), void *ud)
{
        struct btrfs_ioctl_search_args args;
        uint64_t min_offset = 0;
        for (;;) {
                memset(&args, 0, sizeof(args));
                args.key.tree_id = BTRFS_ROOT_TREE_OBJECTID;
                args.key.min_objectid = args.key.max_objectid = objectid;
                args.key.min_type = args.key.max_type = type;
                args.key.min_offset = min_offset;
                args.key.max_offset = UINT64_MAX;
                args.key.max_transid = UINT64_MAX;
                args.key.nr_items = 4096;
                if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
                        return -errno;
                if (args.key.nr_items == 0)
                        return 0;
                size_t pos = 0;
                uint64_t last = 0;
                for (uint32_t i = 0; i < args.key.nr_items; i++) {
                        struct btrfs_ioctl_search_header h;
                        if (pos + sizeof(h) > sizeof(args.buf))
                                return -EIO;
                        /* Headers are packed after items of any length:
                         * not aligned. */
                        memcpy(&h, args.buf + pos, sizeof(h));
                        pos += sizeof(h) + h.len;
                        if (h.objectid != objectid || h.type != type)
                                continue;
                        int r = fn(h.offset, ud);
                        if (r < 0)
                                return r;
                        last = h.offset;
                }
                if (last == UINT64_MAX)
                        return 0;
                min_offset = last + 1;
        }
}

struct id_list {
        uint64_t *v;
        size_t n;
};

static int add_id(uint64_t id, void *ud)
{
        struct id_list *l = ud;
        l->v = cairn_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
        l->v[l->n++] = id;
        return 0;
}

static int destroy_by_id(int fsfd, uint64_t id, unsigned depth);

/* Destroy the subvolumes directly inside subvolume id (and theirs). */
static int destroy_children(int fsfd, uint64_t id, unsigned depth)
{
        if (depth > NESTED_MAX_DEPTH)
                return -ELOOP;
        struct id_list children = { 0 };
        /* A ROOT_REF item (parent, child) for each subvolume linked
         * inside another. */
        int r = root_tree_offsets(fsfd, id, BTRFS_ROOT_REF_KEY, add_id, &children);
        for (size_t i = 0; r >= 0 && i < children.n; i++)
                r = destroy_by_id(fsfd, children.v[i], depth + 1);
        free(children.v);
        return r;
}

static int destroy_by_id(int fsfd, uint64_t id, unsigned depth)
{
        struct btrfs_ioctl_vol_args_v2 args = { 0 };
        args.flags = BTRFS_SUBVOL_SPEC_BY_ID;
        args.subvolid = id;
        if (ioctl(fsfd, BTRFS_IOC_SNAP_DESTROY_V2, &args) == 0)
                return 0;
        if (errno != ENOTEMPTY)
                return -errno;
        int r = destroy_children(fsfd, id, depth);
        if (r < 0)
                return r;
        return ioctl(fsfd, BTRFS_IOC_SNAP_DESTROY_V2, &args) < 0 ? -errno : 0;
}

/*
 * Destroy the subvolume dirfd/name, read-only or not, and any subvolume a
 * step created inside it (the kernel refuses, ENOTEMPTY, to destroy a
 * subvolume that holds others; a snapshot never does: nested subvolumes
 * appear in it as empty directories).  The common case is one ioctl; the
 * space is freed in the background.  Returns 0 or -errno.
 */
static int subvol_destroy(int dirfd, const char *name)
{
        struct btrfs_ioctl_vol_args args = { 0 };
        int r = name_arg(args.name, sizeof(args.name), name);
        if (r < 0)
                return r;
        if (ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args) == 0)
                return 0;
        if (errno != ENOTEMPTY)
                return -errno;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        uint64_t id = 0;
        if (fd < 0)
                return -errno;
        if ((r = subvol_id(fd, &id)) < 0 || (r = destroy_children(fd, id, 0)) < 0)
                return r;
        return ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args) < 0 ? -errno : 0;
}

/* Remove dirfd/name, a subvolume or (what a crash or a hand may leave) a
 * plain directory.  Missing is not an error. */
static int remove_at(int dirfd, const char *name, const char *what, struct cairn_error **err)
{
        if (is_subvol_at(dirfd, name)) {
                int r = subvol_destroy(dirfd, name);
                if (r < 0 && r != -ENOENT)
                        return cairn_error_set_errno(err, -r, "cannot delete the subvolume \"%s\"", what);
                return 0;
        }
        return cairn_rm_rf_at(dirfd, name, err);
}

static int open_store_dir(struct cairn_store *s, const char *dir, struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_store_path(s, dir, NULL);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
        return fd;
}

static int remove_in(struct cairn_store *s, const char *dir, const char *name, struct cairn_error **err)
{
        _cleanup_close_ int fd = open_store_dir(s, dir, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *what = cairn_store_path(s, dir, name);
        return remove_at(fd, name, what, err);
}

/* --- opening -------------------------------------------------------------------- */

bool cairn_store_btrfs_kernel_ok(const char *release)
{
        char *end = NULL;
        errno = 0;
        unsigned long major = strtoul(release, &end, 10);
        if (errno || end == release || *end != '.')
                return false;
        const char *p = end + 1;
        unsigned long minor = strtoul(p, &end, 10);
        if (errno || end == p)
                return false;
        return major > 5 || (major == 5 && minor >= 8);
}

/* The statfs of path or, when it does not exist yet, of its nearest
 * existing ancestor (where it will be made). */
static int statfs_nearest(const char *path, struct statfs *ret)
{
        _cleanup_free_ char *p = cairn_xstrdup(path);
        for (;;) {
                if (statfs(p, ret) == 0)
                        return 0;
                if (errno != ENOENT)
                        return -errno;
                char *slash = strrchr(p, '/');
                if (!slash)
                        return -ENOENT;
                if (slash == p)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        }
}

/* Crash recovery: destroy the subvolumes a crash left in the temp dirs
 * and beside the caches; cairn_store_prepare then removes whatever plain
 * directories remain. */
static void recover(struct cairn_store *s)
{
        static const char *const dirs[] = { "result-tmp", "cache-tmp", "cache" };
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(dirs); i++) {
                bool in_cache = strcmp(dirs[i], "cache") == 0;
                _cleanup_close_ int fd = open_store_dir(s, dirs[i], NULL);
                if (fd < 0)
                        continue;
                DIR *d = fdopendir(dup(fd));
                if (!d)
                        continue;
                for (struct dirent *de; (de = readdir(d));) {
                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                            (in_cache && strncmp(de->d_name, NEXT_PREFIX, strlen(NEXT_PREFIX)) != 0) ||
                            !is_subvol_at(fd, de->d_name))
                                continue;
                        int r = subvol_destroy(fd, de->d_name);
                        if (r < 0)
                                cairn_warn("cannot delete the subvolume \"%s/%s/%s\": %s", s->root, dirs[i],
                                           de->d_name, strerror(-r));
                }
                closedir(d);
        }
}

static int btrfs_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        (void) options;
        static const char *const dirs[] = { "state", "cache", "cache-tmp", "result", "result-tmp" };
        static const char *const temp_dirs[] = { "result-tmp", "cache-tmp" };
        struct utsname u;
        if (uname(&u) < 0)
                return cairn_error_set_errno(err, errno, "cannot read the kernel's version");
        /* OBuilder's btrfs store refuses older kernels (btrfs bugs its
         * workers hit); cairn keeps the same floor, which also gives it
         * deletion by subvolume ID (5.7). */
        if (!cairn_store_btrfs_kernel_ok(u.release))
                return cairn_error_set(err, -ENOTSUP, "the btrfs store needs Linux 5.8 or later (this kernel is %s)",
                                       u.release);
        /* Checked before anything is made, so that a mistyped path does
         * not leave a store on another filesystem. */
        struct statfs sf;
        int r = statfs_nearest(root, &sf);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot read the filesystem of \"%s\"", root);
        if ((unsigned long) sf.f_type != (unsigned long) BTRFS_SUPER_MAGIC)
                return cairn_error_set(err, -ENOTSUP,
                                       "\"%s\" is not on a btrfs filesystem (filesystem type 0x%lx); make one with "
                                       "mkfs.btrfs and mount it there",
                                       root, (unsigned long) sf.f_type);
        struct btrfs_store *s = cairn_xzalloc(sizeof(*s));
        s->pub.ops = &cairn_store_btrfs_ops;
        s->pub.root = cairn_xstrdup(root);
        r = cairn_store_prepare(&s->pub, dirs, CAIRN_ARRAY_SIZE(dirs), temp_dirs, CAIRN_ARRAY_SIZE(temp_dirs), recover,
                                err);
        if (r < 0) {
                cairn_store_btrfs_ops.close(&s->pub);
                return r;
        }
        *ret = &s->pub;
        return 0;
}

static void btrfs_close(struct cairn_store *pub)
{
        cairn_store_release(pub);
        free(pub);
}

/* --- building ------------------------------------------------------------------- */

static int btrfs_begin(struct cairn_store *pub, const char *base, const char *id, struct cairn_store_build **ret,
                       struct cairn_error **err)
{
        _cleanup_close_ int tmpfd = open_store_dir(pub, "result-tmp", err);
        if (tmpfd < 0)
                return tmpfd;
        struct cairn_store_build *b = cairn_store_build_in_tmp(pub, id);
        int r = remove_at(tmpfd, id, b->dir, err);
        if (r < 0)
                goto fail;
        if (base) {
                _cleanup_free_ char *src = cairn_store_path(pub, "result", base);
                _cleanup_close_ int srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (srcfd < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", src);
                        goto fail;
                }
                if ((r = subvol_snapshot(srcfd, tmpfd, id, false)) < 0) {
                        r = cairn_error_set_errno(err, -r, "cannot snapshot \"%s\" as \"%s\"", src, b->dir);
                        goto fail;
                }
        } else {
                if ((r = subvol_create(tmpfd, id)) < 0) {
                        r = cairn_error_set_errno(err, -r, "cannot create the subvolume \"%s\"", b->dir);
                        goto fail;
                }
                if (mkdir(b->rootfs, 0755) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot create \"%s\"", b->rootfs);
                        subvol_destroy(tmpfd, id);
                        goto fail;
                }
        }
        *ret = b;
        return 0;
fail:
        cairn_store_build_free(b);
        return r;
}

static void discard(struct cairn_store *pub, struct cairn_store_build *b)
{
        struct cairn_error *err = NULL;
        if (remove_in(pub, "result-tmp", b->id, &err) < 0) {
                cairn_warn("%s", err->message);
                cairn_error_free(err);
        }
}

static int btrfs_commit(struct cairn_store *pub, struct cairn_store_build *b, struct cairn_error **err)
{
        _cleanup_close_ int resfd = open_store_dir(pub, "result", err);
        _cleanup_close_ int srcfd = resfd < 0 ? -1 : open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = resfd;
        if (resfd >= 0 && srcfd < 0)
                r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", b->dir);
        /* The snapshot is durable once it is visible (the kernel commits
         * the transaction that makes it): no syncfs as the copy store. */
        if (srcfd >= 0 && (r = subvol_snapshot(srcfd, resfd, b->id, true)) < 0)
                r = cairn_error_set_errno(err, -r, "cannot publish \"%s\" as a read-only snapshot", b->dir);
        discard(pub, b);
        cairn_store_build_free(b);
        return r < 0 ? r : 0;
}

static void btrfs_abort(struct cairn_store *pub, struct cairn_store_build *b)
{
        discard(pub, b);
        cairn_store_build_free(b);
}

/* Every result is a whole root: nothing depends on another on disk. */
static int btrfs_delete(struct cairn_store *pub, const char *id, bool leaf, struct cairn_error **err)
{
        (void) leaf;
        return remove_in(pub, "result", id, err);
}

/* --- caches ----------------------------------------------------------------------- */

static int btrfs_cache_get(struct cairn_store *pub, const char *name, uid_t uid, gid_t gid,
                           struct cairn_store_cache **ret, struct cairn_error **err)
{
        struct btrfs_store *s = (struct btrfs_store *) pub;
        _cleanup_free_ char *dirname = cairn_store_cache_dirname(pub, name);
        _cleanup_free_ char *master = cairn_store_path(pub, "cache", dirname);
        _cleanup_close_ int cachefd = open_store_dir(pub, "cache", err);
        if (cachefd < 0)
                return cachefd;
        _cleanup_close_ int tmpfd = open_store_dir(pub, "cache-tmp", err);
        if (tmpfd < 0)
                return tmpfd;
        /* Unique across the processes sharing the store. */
        _cleanup_free_ char *leaf = cairn_xasprintf(
                "%d-%lu-%s", (int) getpid(), __atomic_fetch_add(&s->next_cache, 1, __ATOMIC_RELAXED), dirname);
        char *copy = cairn_store_path(pub, "cache-tmp", leaf);
        int lock = cairn_store_cache_lock(pub, name, err);
        if (lock < 0) {
                free(copy);
                return lock;
        }
        int r = 0;
        if (!is_subvol_at(cachefd, dirname)) {
                struct stat st;
                if (fstatat(cachefd, dirname, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        r = cairn_error_set(err, -ENOTDIR, "the cache \"%s\" is not a btrfs subvolume", master);
                else if ((r = subvol_create(cachefd, dirname)) < 0)
                        r = cairn_error_set_errno(err, -r, "cannot create the cache \"%s\"", master);
        }
        unsigned long generation = cairn_store_cache_read_generation(lock);
        if (r >= 0) {
                _cleanup_close_ int mfd = openat(cachefd, dirname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (mfd < 0)
                        r = cairn_error_set_errno(err, errno, "cannot open the cache \"%s\"", master);
                else if ((r = subvol_snapshot(mfd, tmpfd, leaf, false)) < 0)
                        r = cairn_error_set_errno(err, -r, "cannot snapshot the cache \"%s\"", master);
        }
        cairn_store_cache_unlock(lock);
        /* The top of a step's copy is its user's, as OBuilder's chown. */
        if (r >= 0 && chown(copy, uid, gid) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot set the owner of \"%s\"", copy);
                subvol_destroy(tmpfd, leaf);
        }
        if (r < 0) {
                free(copy);
                return r;
        }
        struct btrfs_cache *bc = cairn_xzalloc(sizeof(*bc));
        bc->generation = generation;
        struct cairn_store_cache *c = cairn_xzalloc(sizeof(*c));
        c->name = cairn_xstrdup(name);
        c->path = copy;
        c->priv = bc;
        *ret = c;
        return 0;
}

/*
 * Make the step's copy the cache: a read-only snapshot of it (OBuilder's
 * shape) is exchanged with the cache in one atomic rename, so that a crash
 * leaves the old cache or the new one, never none.  What a crash leaves
 * (the copy in cache-tmp/, the snapshot beside the cache) goes at the next
 * start-up.
 */
static int replace_cache(struct cairn_store *pub, int cachefd, int tmpfd, const char *dirname, const char *leaf,
                         struct cairn_error **err)
{
        _cleanup_free_ char *master = cairn_store_path(pub, "cache", dirname);
        _cleanup_free_ char *next = cairn_xasprintf(NEXT_PREFIX "%s", leaf);
        _cleanup_close_ int copyfd = openat(tmpfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (copyfd < 0)
                return cairn_error_set_errno(err, errno, "cannot open the copy of the cache \"%s\"", master);
        int r = subvol_snapshot(copyfd, cachefd, next, true);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot snapshot the copy of the cache \"%s\"", master);
        if (renameat2(cachefd, next, cachefd, dirname, RENAME_EXCHANGE) < 0) {
                /* ENOENT: the cache was deleted meanwhile; the copy is the
                 * cache. */
                if (errno != ENOENT || renameat(cachefd, next, cachefd, dirname) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot update the cache \"%s\"", master);
                        subvol_destroy(cachefd, next);
                        return r;
                }
                return 0;
        }
        /* next now names the old cache. */
        if ((r = subvol_destroy(cachefd, next)) < 0)
                cairn_warn("cannot delete the old cache \"%s/cache/%s\": %s", pub->root, next, strerror(-r));
        return 0;
}

static int btrfs_cache_release(struct cairn_store *pub, struct cairn_store_cache *c, struct cairn_error **err)
{
        struct btrfs_cache *bc = c->priv;
        _cleanup_free_ char *dirname = cairn_store_cache_dirname(pub, c->name);
        _cleanup_free_ char *leaf = cairn_xstrdup(strrchr(c->path, '/') + 1);
        _cleanup_close_ int cachefd = open_store_dir(pub, "cache", err);
        _cleanup_close_ int tmpfd = cachefd < 0 ? -1 : open_store_dir(pub, "cache-tmp", err);
        int r = cachefd < 0 ? cachefd : tmpfd;
        if (r >= 0) {
                /* First releaser wins: a copy taken before another was
                 * released is dropped. */
                int lock = cairn_store_cache_lock(pub, c->name, err);
                if (lock < 0)
                        r = lock;
                else if (cairn_store_cache_read_generation(lock) == bc->generation &&
                         (r = replace_cache(pub, cachefd, tmpfd, dirname, leaf, err)) >= 0)
                        cairn_store_cache_write_generation(lock, bc->generation + 1);
                cairn_store_cache_unlock(lock);
                int r2 = subvol_destroy(tmpfd, leaf);
                if (r2 < 0 && r2 != -ENOENT)
                        cairn_warn("cannot delete the subvolume \"%s\": %s", c->path, strerror(-r2));
        }
        free(bc);
        free(c->name);
        free(c->path);
        free(c);
        return r < 0 ? r : 0;
}

/* --- reading -------------------------------------------------------------------- */

static int btrfs_view(struct cairn_store *pub, const char *id, char **ret_rootfs, void **ret_handle,
                      struct cairn_error **err)
{
        (void) err;
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        *ret_rootfs = cairn_xasprintf("%s/rootfs", dir);
        *ret_handle = NULL;
        return 0;
}

static void btrfs_view_release(struct cairn_store *pub, void *handle)
{
        (void) pub;
        (void) handle;
}

static int btrfs_layers(struct cairn_store *pub, const char *id, char ***ret, bool *ret_overlay_diffs,
                        struct cairn_error **err)
{
        (void) err;
        char **v = cairn_xzalloc(2 * sizeof(char *));
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        v[0] = cairn_xasprintf("%s/rootfs", dir);
        *ret = v;
        *ret_overlay_diffs = false;
        return 0;
}

/* A result that is not a subvolume was not made by a btrfs store (or was
 * damaged by hand): it could not be snapshotted for the next step. */
static int btrfs_verify(struct cairn_store *pub, char *const *ids, size_t n, bool *bad, struct cairn_error **err)
{
        _cleanup_close_ int fd = open_store_dir(pub, "result", err);
        if (fd < 0)
                return fd;
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                bad[i] = fstatat(fd, ids[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && !is_subvol_at(fd, ids[i]);
        }
        return 0;
}

static int count_one(uint64_t offset, void *ud)
{
        (void) offset;
        (*(long *) ud)++;
        return 0;
}

/* Subvolumes destroyed whose space the kernel's cleaner has not freed yet:
 * each has an orphan item in the root tree until then. */
static long btrfs_pending_deletes(struct cairn_store *pub)
{
        _cleanup_close_ int fd = open(pub->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long n = 0;
        if (fd < 0 || root_tree_offsets(fd, BTRFS_ORPHAN_OBJECTID, BTRFS_ORPHAN_ITEM_KEY, count_one, &n) < 0)
                return -1;
        return n;
}

const struct cairn_store_ops cairn_store_btrfs_ops = {
        .kind = "btrfs",
        .open = btrfs_open,
        .close = btrfs_close,
        .result = cairn_store_find_result,
        .begin = btrfs_begin,
        .commit = btrfs_commit,
        .abort = btrfs_abort,
        .delete = btrfs_delete,
        .cache_get = btrfs_cache_get,
        .cache_release = btrfs_cache_release,
        .view = btrfs_view,
        .view_release = btrfs_view_release,
        .layers = btrfs_layers,
        .verify = btrfs_verify,
        .pending_deletes = btrfs_pending_deletes,
        .reuse_from = cairn_store_reuse_whole_root,
};
