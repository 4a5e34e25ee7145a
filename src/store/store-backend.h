/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a store backend implements (its ops table) and the helpers backends
 * share.  The engine does not include this: it uses store/store.h.
 */
#ifndef CAIRN_STORE_STORE_BACKEND_H
#define CAIRN_STORE_STORE_BACKEND_H

#include "store/store.h"

struct cairn_store_ops {
        const char *kind;
        bool takes_options;
        /* options: NULL-terminated "KEY=VALUE" (--store-opt), NULL for none;
         * a backend without options rejects any. */
        int (*open)(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err);
        void (*close)(struct cairn_store *s);
        /* The directory of result id: returns 1 and sets *ret_dir, or 0. */
        int (*result)(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err);
        int (*begin)(struct cairn_store *s, const char *base, const char *id, struct cairn_store_build **ret,
                     struct cairn_error **err);
        int (*commit)(struct cairn_store *s, struct cairn_store_build *b, struct cairn_error **err);
        void (*abort)(struct cairn_store *s, struct cairn_store_build *b);
        /* Delete result id and, where results depend on each other on disk,
         * every result built on it.  leaf: the caller knows nothing is built
         * on it (a leaf of the database), so no search is needed. */
        int (*delete)(struct cairn_store *s, const char *id, bool leaf, struct cairn_error **err);
        /* A writable copy of cache `name` (created empty, owned by uid:gid,
         * if missing). */
        int (*cache_get)(struct cairn_store *s, const char *name, uid_t uid, gid_t gid, struct cairn_store_cache **ret,
                         struct cairn_error **err);
        /* A read-only view of result id's complete root filesystem (for
         * copying out of a stage): *ret_rootfs until view_release. */
        int (*view)(struct cairn_store *s, const char *id, char **ret_rootfs, void **ret_handle,
                    struct cairn_error **err);
        void (*view_release)(struct cairn_store *s, void *handle);
        /* The directories that, applied in order, make result id's root
         * (for `cairn export`): overlayfs gives each ancestor's own changes,
         * base first, with *ret_overlay_diffs set (whiteouts are overlayfs
         * whiteouts); the copy store gives the one complete root.  *ret is
         * a NULL-terminated array the caller frees. */
        int (*layers)(struct cairn_store *s, const char *id, char ***ret, bool *ret_overlay_diffs,
                      struct cairn_error **err);
        /* Optional, for fsck: which of the results ids (n of them) cannot
         * be used any more -- an overlay whose parent is gone, a containerd
         * result whose snapshot is gone.  Sets bad[i]; returns < 0 only
         * when the check itself failed. */
        int (*verify)(struct cairn_store *s, char *const *ids, size_t n, bool *bad, struct cairn_error **err);
        /* Done with a cache copy: its changes become the cache unless another
         * copy was released since this one was taken (first releaser wins). */
        int (*cache_release)(struct cairn_store *s, struct cairn_store_cache *c, struct cairn_error **err);
        /* Optional, for du: how many deleted results the filesystem is
         * still freeing in the background (btrfs), or -1 when unknown. */
        long (*pending_deletes)(struct cairn_store *s);
        /* Optional, for incremental copies (store.h). */
        int (*reuse_from)(struct cairn_store *s, const char *id, char **ret_root, bool *ret_link,
                          struct cairn_error **err);
        int (*prelink)(struct cairn_store *s, struct cairn_store_build *b, const char *from_root, char *const *paths,
                       size_t n, bool *ret_done, struct cairn_error **err);
};

/* For backends whose results are whole roots at result/ID/rootfs: their
 * reuse_from (files cloned, not linked). */
int cairn_store_reuse_whole_root(struct cairn_store *s, const char *id, char **ret_root, bool *ret_link,
                                 struct cairn_error **err);

/*
 * For backends: rename the finished temporary result tmp to result/ID,
 * durably -- flushing the filesystem first unless `flushed` says the data is
 * already on disk, and the result directory after.
 */
int cairn_store_publish(struct cairn_store *s, const char *tmp, const char *id, bool flushed, struct cairn_error **err);

/*
 * For backends: create root and its dirs, take the store lock, and, if no
 * other process has the store open, call recover and empty temp_dirs (what
 * a crash leaves).  Sets root (trailing '/' removed), state_dir, lock_fd.
 */
int cairn_store_prepare(struct cairn_store *s, const char *const *dirs, size_t n_dirs, const char *const *temp_dirs,
                        size_t n_temp, void (*recover)(struct cairn_store *s), struct cairn_error **err);
/* For backends whose steps are built in result-tmp/ID: a build of id there
 * (dir, dir/rootfs, dir/log; nothing made on disk yet). */
struct cairn_store_build *cairn_store_build_in_tmp(struct cairn_store *s, const char *id);
/* For backends: free b and its paths (a backend frees its priv first). */
void cairn_store_build_free(struct cairn_store_build *b);

/* For backends: ROOT/cache/ + cairn_store_cache_dirname (store/store.h). */
char *cairn_store_cache_master(const struct cairn_store *s, const char *name);

/* For backends: ROOT/dir, or ROOT/dir/name when name is not NULL. */
char *cairn_store_path(const struct cairn_store *s, const char *dir, const char *name);

/* result/ID, for backends whose results live there: 1 and *ret_dir, or 0. */
int cairn_store_find_result(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err);

/* For backends: unmount everything mounted below root, deepest first
 * (what a crash left). */
void cairn_store_unmount_below(const char *root);

/* overlayfs stacks at most this many lower layers. */
#define CAIRN_OVERLAY_MAX_LAYERS 500

/*
 * For backends: mount an overlay of `lowers` (n of them, top first) at
 * merged, with upper and work (both NULL for a read-only overlay).  So that
 * deep chains fit in the one page of mount data, the lower directories are
 * named through short symlinks in linkdir (created, then removed).
 */
int cairn_store_mount_overlay(const char *linkdir, char *const *lowers, size_t n, const char *upper, const char *work,
                              const char *merged, struct cairn_error **err);

/* Free what cairn_store_prepare set up and the cache generations. */
void cairn_store_release(struct cairn_store *s);

/*
 * Caches, shared by every process on the store.  Each cache has a lock file
 * (state/cache-locks/c-NAME) holding its generation, for "first releaser
 * wins": a copy remembers the generation it was taken at; on release, under
 * the lock, it becomes the cache only if the generation is unchanged, and the
 * generation moves on.  Backends hold the lock while they take a copy or
 * update the cache.
 */
int cairn_store_cache_lock(struct cairn_store *s, const char *name, struct cairn_error **err);
void cairn_store_cache_unlock(int fd);
unsigned long cairn_store_cache_read_generation(int lock_fd);
void cairn_store_cache_write_generation(int lock_fd, unsigned long generation);

/*
 * For backends with OBuilder's rsync layout of caches (cache/NAME or c-NAME, and a
 * full copy of it in cache-tmp/ for each step): the copy store's cache_get
 * and cache_release.
 */
int cairn_store_dir_cache_get(struct cairn_store *s, const char *name, uid_t uid, gid_t gid,
                              struct cairn_store_cache **ret, struct cairn_error **err);
int cairn_store_dir_cache_release(struct cairn_store *s, struct cairn_store_cache *c, struct cairn_error **err);

/* The btrfs store: whether kernel release (uname -r) is one it runs on
 * (5.8 or later, as OBuilder's). */
bool cairn_store_btrfs_kernel_ok(const char *release);

#endif
