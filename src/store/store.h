/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stores: where step results (snapshots) live, as the engine sees them.
 * One ops table per backend (store/store-backend.h says what a backend
 * implements and the helpers backends share), chosen in one place
 * (engine/backends-posix.c, engine/backends-win.c) from a "KIND:PATH"
 * string.  The engine calls a store through the cairn_store_* functions
 * below, never through its ops directly.
 *
 * A result is a directory holding rootfs/ (the container root), log (the
 * step's output) and, for base images, env.  Building a result:
 *
 *   begin(base, id)  a writable temporary result, empty or a clone of base
 *   commit(build)    publish it atomically as id
 *   abort(build)     throw it away (also what start-up recovery does to any
 *                    temporary left by a crash)
 *
 * The engine never calls begin for an id that exists or twice at once for
 * one id.  Persistent caches ((run (cache ...))) are directories a step
 * mounts read-write; see cache_get / cache_release.
 */
#ifndef CAIRN_STORE_STORE_H
#define CAIRN_STORE_STORE_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/compat.h"
#include "base/error.h"

struct cairn_store;

struct cairn_store_build {
        char id[65];
        char *dir;          /* the temporary result: rootfs/ and log live here */
        char *rootfs;       /* dir/rootfs, the container root */
        char *log_path;     /* where the step's output goes */
        /* The root is not visible from the host (Windows containers): the
         * sandbox resolves user names, and copies are made by a command
         * inside the container. */
        bool opaque_rootfs;
        /* Copies are extracted from a tar by `tar -xf` in the container
         * (always with an opaque root). */
        bool copy_in_container;
        void *priv;
};

struct cairn_store_cache {
        char *name;
        char *path;         /* what the step mounts */
        void *priv;
};

struct cairn_store_ops;

struct cairn_store {
        const struct cairn_store_ops *ops;
        char *root;         /* absolute */
        char *state_dir;    /* root/state: db/db.sqlite lives here */
        int lock_fd;        /* shared lock held while the store is open */
        /* Set by cairn_store_prepare, for cairn_store_recover. */
        const char *const *temp_dirs;
        size_t n_temp;
        void (*recover)(struct cairn_store *s);
        unsigned recovered;  /* temporary items removed when the store was opened */
        bool sync;           /* flush results before publishing (CAIRN_STORE_SYNC=0 turns it off) */
        bool windows;        /* steps run in Windows containers (hcs) */
        bool raw_cache_names;   /* caches at cache/NAME, as OBuilder's overlayfs, rsync and xfs stores */
        bool layered;        /* a result holds only its own changes (overlayfs), not a whole root */
        /* A backend that is also the sandbox and the fetcher (containerd)
         * shares its state with them through this; NULL for the others. */
        void *backend;
};

/* The directory of result id: returns 1 and sets *ret_dir, or 0. */
int cairn_store_result(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err);

/* A writable temporary result for id, empty or a clone of base. */
int cairn_store_begin(struct cairn_store *s, const char *base, const char *id,
                      struct cairn_store_build **ret, struct cairn_error **err);

/* Publish b atomically as its id. */
int cairn_store_commit(struct cairn_store *s, struct cairn_store_build *b, struct cairn_error **err);

/* Throw b away. */
void cairn_store_abort(struct cairn_store *s, struct cairn_store_build *b);

/* Delete result id (and, where results depend on each other on disk, what
 * is built on it); leaf: nothing is built on it. */
int cairn_store_delete(struct cairn_store *s, const char *id, bool leaf, struct cairn_error **err);

/* A writable copy of cache name, and done with it (first releaser wins). */
int cairn_store_cache_get(struct cairn_store *s, const char *name, uid_t uid, gid_t gid,
                          struct cairn_store_cache **ret, struct cairn_error **err);

int cairn_store_cache_release(struct cairn_store *s, struct cairn_store_cache *c, struct cairn_error **err);

/* A read-only view of result id's whole root, until cairn_store_view_release. */
int cairn_store_view(struct cairn_store *s, const char *id, char **ret_rootfs, void **ret_handle,
                     struct cairn_error **err);

void cairn_store_view_release(struct cairn_store *s, void *handle);

/* The directories that, applied in order, make result id's root (export). */
int cairn_store_layers(struct cairn_store *s, const char *id, char ***ret, bool *ret_overlay_diffs,
                       struct cairn_error **err);

/*
 * Incremental copies (manifest/copy.h): the files of published result id
 * laid out as the root (its own layer on overlayfs, its whole root
 * elsewhere) in *ret_root, and in *ret_link how a copy takes them without
 * copying bytes: by hard link (overlayfs: a published layer is never
 * written again, and a later step that writes to a file copies it up into
 * its own layer first, so the shared inode never changes), or by cloning
 * blocks (FICLONE, where the filesystem can).  Returns 1, or 0 where the
 * store cannot (containerd, hcs).
 */
int cairn_store_reuse_from(struct cairn_store *s, const char *id, char **ret_root, bool *ret_link,
                           struct cairn_error **err);

/*
 * Where cairn_store_reuse_from said link, before anything is written in b's
 * root: hard-link the file at each of paths (in the root, no leading "/")
 * under from_root into b's own layer, making the directories on the way as
 * from_root has them (owner, mode, extended attributes, times), while no
 * mount shows the layer.  ret_done[i] says which are in place; the others
 * (a link the filesystem refuses) are left to the copy.  The caller has
 * checked that each is a regular file in from_root (a published result,
 * which never changes); no path is followed through a symlink.
 */
int cairn_store_prelink(struct cairn_store *s, struct cairn_store_build *b, const char *from_root, char *const *paths,
                        size_t n, bool *ret_done, struct cairn_error **err);

/* How many deleted results the filesystem is still freeing in the
 * background (btrfs destroys subvolumes asynchronously), or -1 where the
 * store cannot tell or frees space at once. */
long cairn_store_pending_deletes(struct cairn_store *s);

/* Which of the results ids cannot be used any more (fsck); leaves bad[]
 * alone where the backend cannot tell. */
int cairn_store_verify(struct cairn_store *s, char *const *ids, size_t n, bool *bad,
                       struct cairn_error **err);

/*
 * Remove what a crash left (mounts, temporary results) now, as start-up
 * does when the store is idle.  Fails with -EBUSY when another process has
 * the store open.  *ret_removed counts the temporary items removed.
 */
int cairn_store_recover(struct cairn_store *s, unsigned *ret_removed, struct cairn_error **err);
/* Count what a crash left, without removing anything. */
unsigned cairn_store_count_leftovers(struct cairn_store *s);
/* The IDs in result/ (NULL-terminated; the caller frees each and the array). */
char **cairn_store_list_results(struct cairn_store *s);

/* Open the store of kind ops at path (absolute); spec, "KIND:PATH", is
 * for messages.  options: NULL-terminated "KEY=VALUE", or NULL.  Recovers
 * from a crash: temporary results and stale mounts are removed.  Which
 * kinds a build has is said in one place, engine/backends-posix.c. */
int cairn_store_open(const struct cairn_store_ops *ops, const char *spec, const char *path,
                     const char *const *options, struct cairn_store **ret, struct cairn_error **err);
void cairn_store_close(struct cairn_store *s);


/*
 * The directory name of cache `name` under cache/, as OBuilder names it on
 * the same kind of store (reference 4.4), so each sees the other's caches:
 *
 *  - btrfs, zfs, containerd/hcs: "c-" + the name with every byte outside
 *    [-._A-Za-z0-9] written as %XX (OBuilder writes one hex digit for
 *    bytes under 0x10, which makes its scheme collide; cairn writes two);
 *  - overlayfs, rsync/copy, xfs (s->raw_cache_names): the name itself,
 *    except where OBuilder's raw name would be a path or no name ("",
 *    ".", "..", anything with "/") or where it starts with "%": those are
 *    "%" + the escaped name, a spelling no raw name has, so no two names
 *    collide and none leaves cache/.
 */
char *cairn_store_cache_dirname(const struct cairn_store *s, const char *name);

extern const struct cairn_store_ops cairn_store_overlayfs_ops;
extern const struct cairn_store_ops cairn_store_copy_ops;
extern const struct cairn_store_ops cairn_store_xfs_ops;
extern const struct cairn_store_ops cairn_store_btrfs_ops;
extern const struct cairn_store_ops cairn_store_containerd_ops;
extern const struct cairn_store_ops cairn_store_hcs_ops;

#endif
