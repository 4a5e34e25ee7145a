/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The containerd store (`containerd:PATH` on Linux, `hcs:PATH` for Windows
 * containers), in the layout of OBuilder's HCS store (reference 10):
 *
 *   result/ID/          log, layerinfo (env and rootfs/layerinfo for bases)
 *   result-tmp/ID/      a result being built; rootfs/ is where its snapshot
 *                       is mounted on Linux
 *   cache/c-NAME/       persistent caches, copied to cache-tmp/ per step
 *   state/              db/db.sqlite
 *
 * The files live in containerd's snapshotter.  A step's snapshot is
 * prepared as obuilder-ID from its parent's obuilder-PARENT-committed, and
 * committed as obuilder-ID-committed; a base is obuilder-base-ID prepared
 * from the image's chain ID by the fetcher.  layerinfo records the key and
 * the layer directories (reference 10.1).
 *
 * On Linux the store mounts each prepared snapshot itself (ctr passes no
 * rootfs to a `run --config`), so the engine reads and writes a step's root
 * as with the other stores.  On Windows the root is only visible inside
 * the container.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/process.h"
#include "containerd/ctr.h"
#include "containerd/snapshot-mount.h"
#include "store/store-backend.h"

struct ctd_store {
        struct cairn_store pub;
        struct cairn_ctr ctr;
        unsigned long next_view;
};

struct ctd_build {
        char *key;          /* NULL for a base until the fetcher prepared it */
        bool mounted;
};

static const char *const dirs[] = { "state", "cache", "cache-tmp", "result", "result-tmp" };
static const char *const temp_dirs[] = { "result-tmp", "cache-tmp" };

static void snapshot_rm_quiet(const struct cairn_ctr *c, const char *key)
{
        struct cairn_error *e = NULL;
        if (cairn_ctr_snapshot_rm(c, key, &e) < 0) {
                cairn_warn("%s", e->message);
                cairn_error_free(e);
        }
}

/* The key of a result's snapshot: from its layerinfo, else OBuilder's
 * default obuilder-ID. */
static char *result_key(struct cairn_store *pub, const char *dir, const char *id)
{
        struct cairn_layerinfo li = { 0 };
        struct cairn_error *e = NULL;
        int r = cairn_layerinfo_load(dir, &li, &e);
        if (r > 0) {
                char *key = TAKE_PTR(li.snapshot_key);
                cairn_layerinfo_clear(&li);
                return key;
        }
        if (r < 0) {
                cairn_warn("%s", e->message);
                cairn_error_free(e);
        }
        (void) pub;
        return cairn_xasprintf("obuilder-%s", id);
}

/*
 * Prepare snapshot key from parent, record it in dir/layerinfo, and on
 * Linux mount it at rootfs.
 */
static int prepare(struct ctd_store *s, const char *key, const char *parent, const char *dir, const char *rootfs,
                   bool *ret_mounted, struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_path_join(dir, "layerinfo");
        struct cairn_ctr_mount *m = NULL;
        size_t n = 0;
        int r = cairn_ctr_prepare(&s->ctr, key, parent, path, &m, &n, err);
        if (r < 0)
                return r;
        if (!s->ctr.windows && rootfs) {
                _cleanup_free_ char *linkdir = cairn_xasprintf("%s/.l", dir);
                if ((r = cairn_mkdir_p(rootfs, 0755, err)) >= 0 && (r = cairn_snapshot_mount(m, n, linkdir, rootfs, err)) >= 0)
                        *ret_mounted = true;
        }
        cairn_ctr_mounts_free(m, n);
        return r;
}

static void build_free(struct cairn_store_build *b)
{
        struct ctd_build *cb = b->priv;
        free(cb->key);
        free(cb);
        cairn_store_build_free(b);
}

static void discard(struct ctd_store *s, struct cairn_store_build *b)
{
        struct ctd_build *cb = b->priv;
        if (cb->mounted)
                cairn_snapshot_unmount_quiet(b->rootfs);
        cb->mounted = false;
        /* A base's key is known only from what the fetcher wrote. */
        _cleanup_free_ char *key = cb->key ? cairn_xstrdup(cb->key) : NULL;
        struct cairn_layerinfo li = { 0 };
        if (!key && cairn_layerinfo_load(b->dir, &li, NULL) > 0)
                key = TAKE_PTR(li.snapshot_key);
        cairn_layerinfo_clear(&li);
        if (key)
                snapshot_rm_quiet(&s->ctr, key);
        struct cairn_error *e = NULL;
        if (cairn_rm_rf(b->dir, &e) < 0) {
                cairn_warn("%s", e->message);
                cairn_error_free(e);
        }
}

static int ctd_begin(struct cairn_store *pub, const char *base, const char *id, struct cairn_store_build **ret,
                     struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        _cleanup_free_ char *parent_dir = NULL, *parent_key = NULL, *parent = NULL;
        struct cairn_store_build *b = cairn_store_build_in_tmp(pub, id);
        struct ctd_build *cb = cairn_xzalloc(sizeof(*cb));
        b->priv = cb;
        b->opaque_rootfs = s->ctr.windows;
        b->copy_in_container = s->ctr.windows || s->ctr.copy_in_container;
        int r = cairn_rm_rf(b->dir, err);
        if (r < 0 || (r = cairn_mkdir_p(b->dir, 0755, err)) < 0)
                goto fail;
        if (!base) {
                /* The fetcher prepares the base's snapshot from the image
                 * and writes rootfs/layerinfo, as OBuilder's does. */
                if ((r = cairn_mkdir_p(b->rootfs, 0755, err)) < 0)
                        goto fail;
                *ret = b;
                return 0;
        }
        parent_dir = cairn_store_path(pub, "result", base);
        parent_key = result_key(pub, parent_dir, base);
        parent = cairn_xasprintf("%s-committed", parent_key);
        cb->key = cairn_xasprintf("obuilder-%s", id);
        if ((r = prepare(s, cb->key, parent, b->dir, b->rootfs, &cb->mounted, err)) < 0)
                goto fail;
        *ret = b;
        return 0;
fail:
        discard(s, b);
        build_free(b);
        return r;
}

static int ctd_commit(struct cairn_store *pub, struct cairn_store_build *b, struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        struct ctd_build *cb = b->priv;
        _cleanup_free_ char *committed = NULL;
        int r = 0;
        if (cb->mounted) {
                if ((r = cairn_snapshot_unmount(b->rootfs)) < 0) {
                        r = cairn_error_set_errno(err, -r, "cannot unmount \"%s\"", b->rootfs);
                        goto fail;
                }
                cb->mounted = false;
                rmdir(b->rootfs);
        }
        if (!cb->key) {
                struct cairn_layerinfo li = { 0 };
                if ((r = cairn_layerinfo_load(b->dir, &li, err)) < 0)
                        goto fail;
                if (r == 0) {
                        r = cairn_error_set(err, -ENOENT, "No layerinfo found in %s", b->dir);
                        goto fail;
                }
                cb->key = TAKE_PTR(li.snapshot_key);
                cairn_layerinfo_clear(&li);
        }
        committed = cairn_xasprintf("%s-committed", cb->key);
        struct cairn_error *e = NULL;
        r = cairn_ctr(&s->ctr, NULL, &e, "snapshot", "commit", committed, cb->key, NULL);
        if (r == -EEXIST) {
                /* Left by a result deleted from the store but not from
                 * containerd. */
                cairn_error_free(e);
                e = NULL;
                if ((r = cairn_ctr_snapshot_rm(&s->ctr, committed, err)) < 0)
                        goto fail;
                r = cairn_ctr(&s->ctr, NULL, &e, "snapshot", "commit", committed, cb->key, NULL);
        }
        if (r < 0) {
                cairn_error_append(err, &e);
                goto fail;
        }
        /* The snapshot's data is containerd's to keep; the directory only
         * holds the log and layerinfo. */
        if ((r = cairn_store_publish(pub, b->dir, b->id, true, err)) < 0) {
                snapshot_rm_quiet(&s->ctr, committed);
                goto fail;
        }
        build_free(b);
        return 0;
fail:
        discard(s, b);
        build_free(b);
        return r;
}

static void ctd_abort(struct cairn_store *pub, struct cairn_store_build *b)
{
        discard((struct ctd_store *) pub, b);
        build_free(b);
}

/* "obuilder-ID-committed" -> ID, or NULL. */
static char *id_of_committed(const char *key)
{
        size_t n = strlen(key);
        const char *suffix = "-committed";
        size_t sl = strlen(suffix);
        if (n <= sl || strcmp(key + n - sl, suffix) != 0)
                return NULL;
        const char *p = key;
        if (strncmp(p, "obuilder-base-", 14) == 0)
                p += 14;
        else if (strncmp(p, "obuilder-", 9) == 0)
                p += 9;
        else
                return NULL;
        return cairn_xstrndup(p, (size_t) (key + n - sl - p));
}

static int delete_result(struct ctd_store *s, const char *id, const struct cairn_ctr_snapshot *snaps, size_t n_snaps,
                         unsigned depth, struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_store_path(&s->pub, "result", id);
        _cleanup_free_ char *key = result_key(&s->pub, dir, id);
        _cleanup_free_ char *committed = cairn_xasprintf("%s-committed", key);
        int r = 0;
        /* containerd refuses to remove a snapshot with children: the
         * results built on this one go first. */
        for (size_t i = 0; snaps && i < n_snaps && r >= 0 && depth < 10000; i++) {
                if (strcmp(snaps[i].parent, committed) != 0)
                        continue;
                _cleanup_free_ char *child = id_of_committed(snaps[i].key);
                if (child)
                        r = delete_result(s, child, snaps, n_snaps, depth + 1, err);
                else
                        r = cairn_ctr_snapshot_rm(&s->ctr, snaps[i].key, err);
        }
        if (r < 0)
                return r;
        /* The directory goes out of result/ first: a crash from here on
         * leaves a temporary result, whose layerinfo tells recovery which
         * snapshot to remove, never a result without its snapshot. */
        _cleanup_free_ char *leaf = cairn_xasprintf("deleting-%s", id);
        _cleanup_free_ char *tmp = cairn_store_path(&s->pub, "result-tmp", leaf);
        cairn_rm_rf(tmp, NULL);
        bool moved = rename(dir, tmp) == 0;
        if (!moved && errno != ENOENT)
                return cairn_error_set_errno(err, errno, "cannot move \"%s\" out of the results", dir);
        if ((r = cairn_ctr_snapshot_rm(&s->ctr, committed, err)) < 0)
                return r;
        return moved ? cairn_rm_rf(tmp, err) : 0;
}

static int ctd_delete(struct cairn_store *pub, const char *id, bool leaf, struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        struct cairn_ctr_snapshot *snaps = NULL;
        size_t n = 0;
        int r = 0;
        if (!leaf && (r = cairn_ctr_snapshots(&s->ctr, &snaps, &n, err)) < 0)
                return r;
        r = delete_result(s, id, snaps, n, 0, err);
        cairn_ctr_snapshots_free(snaps, n);
        return r;
}

struct ctd_view {
        char *dir, *rootfs, *key;
        bool mounted;
};

static void view_free(struct ctd_store *s, struct ctd_view *v)
{
        if (v->mounted)
                cairn_snapshot_unmount_quiet(v->rootfs);
        if (v->key)
                snapshot_rm_quiet(&s->ctr, v->key);
        cairn_rm_rf(v->dir, NULL);
        free(v->dir);
        free(v->rootfs);
        free(v->key);
        free(v);
}

/* A copy from a build stage reads the stage's root through a temporary
 * snapshot: `prepare`, not `view`, since containerd's garbage collector
 * takes views (they carry no gc.root label). */
static int ctd_view(struct cairn_store *pub, const char *id, char **ret_rootfs, void **ret_handle,
                    struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        if (s->ctr.windows)
                return cairn_error_set(err, -ENOTSUP,
                                       "copying from a build stage is not supported by the hcs store: the stage's "
                                       "files are only visible inside a Windows container");
        struct ctd_view *v = cairn_xzalloc(sizeof(*v));
        _cleanup_free_ char *leaf = cairn_xasprintf("view-%d-%lu", (int) getpid(), s->next_view++);
        v->dir = cairn_store_path(pub, "result-tmp", leaf);
        v->rootfs = cairn_xasprintf("%s/rootfs", v->dir);
        v->key = cairn_xasprintf("cairn-%s", leaf);
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        _cleanup_free_ char *key = result_key(pub, dir, id);
        _cleanup_free_ char *parent = cairn_xasprintf("%s-committed", key);
        int r = cairn_mkdir_p(v->dir, 0755, err);
        if (r >= 0)
                r = prepare(s, v->key, parent, v->dir, v->rootfs, &v->mounted, err);
        if (r < 0) {
                view_free(s, v);
                return r;
        }
        *ret_rootfs = cairn_xstrdup(v->rootfs);
        *ret_handle = v;
        return 0;
}

static void ctd_view_release(struct cairn_store *pub, void *handle)
{
        if (handle)
                view_free((struct ctd_store *) pub, handle);
}

/* With the overlayfs snapshotter each layer directory holds that layer's
 * changes, as an overlayfs upper directory. */
static int ctd_layers(struct cairn_store *pub, const char *id, char ***ret, bool *ret_overlay_diffs,
                      struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        if (s->ctr.windows)
                return cairn_error_set(err, -ENOTSUP, "the hcs store cannot export results (Windows layers)");
        if (s->ctr.snapshotter && strcmp(s->ctr.snapshotter, "overlayfs") != 0)
                return cairn_error_set(err, -ENOTSUP, "exporting needs the overlayfs snapshotter, not \"%s\"",
                                       s->ctr.snapshotter);
        _cleanup_free_ char *dir = cairn_store_path(pub, "result", id);
        struct cairn_layerinfo li = { 0 };
        int r = cairn_layerinfo_load(dir, &li, err);
        if (r < 0)
                return r;
        if (r == 0)
                return cairn_error_set(err, -ENOENT, "No layerinfo found in %s", dir);
        size_t n = cairn_strv_length((const char *const *) li.parents);
        char **v = cairn_xzalloc((n + 2) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                v[i] = cairn_xstrdup(li.parents[n - 1 - i]);
        v[n] = cairn_xstrdup(li.source);
        cairn_layerinfo_clear(&li);
        *ret = v;
        *ret_overlay_diffs = true;
        return 0;
}

/*
 * Base snapshots whose result is gone (OBuilder PR 209's orphaned bases):
 * obuilder-base-ID-committed with no result/ID and nothing built on it.
 * Other keys are left alone: a namespace shared with another store (which
 * it should not be) keeps that store's steps.
 */
static void reclaim_orphans(struct ctd_store *s)
{
        struct cairn_ctr_snapshot *v = NULL;
        size_t n = 0;
        if (cairn_ctr_snapshots(&s->ctr, &v, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                const char *key = v[i].key;
                if (strncmp(key, "obuilder-base-", 14) != 0)
                        continue;
                bool has_child = false;
                for (size_t j = 0; j < n && !has_child; j++)
                        has_child = strcmp(v[j].parent, key) == 0;
                _cleanup_free_ char *id = id_of_committed(key);
                if (has_child || !id)
                        continue;
                _cleanup_free_ char *dir = cairn_store_path(&s->pub, "result", id);
                if (access(dir, F_OK) == 0)
                        continue;
                cairn_warn("removing snapshot \"%s\": its base result is gone", key);
                cairn_ctr_snapshot_rm(&s->ctr, key, NULL);
        }
        cairn_ctr_snapshots_free(v, n);
}

/* Whether container id is one of this store's runs: cairn-run-TAG-...
 * (sandbox.c).  Recovery runs only when no other cairn process has the
 * store open (it holds the store's lock exclusively), so every such
 * container is one a gone process left.  Nothing else is touched: not
 * OBuilder's obuilder-run-N, which an OBuilder sharing containerd's
 * default namespace may be running, nor another store's. */
static bool our_run(const struct ctd_store *s, const char *id)
{
        size_t n = strlen(s->ctr.run_prefix);
        return strncmp(id, s->ctr.run_prefix, n) == 0 && id[n] == '-';
}

/* After a crash (the store idle): containers of runs that never finished,
 * the snapshots of temporary results, and their mounts. */
static void recover(struct cairn_store *pub)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        _cleanup_free_ char *out = NULL;
        struct cairn_error *e = NULL;
        if (cairn_ctr(&s->ctr, &out, &e, "containers", "ls", "-q", NULL) < 0) {
                cairn_warn("cannot list containerd's containers: %s", e->message);
                cairn_error_free(e);
                e = NULL;
        }
        char *save = NULL;
        for (char *id = out ? strtok_r(out, "\n", &save) : NULL; id; id = strtok_r(NULL, "\n", &save)) {
                if (!our_run(s, id))
                        continue;
                cairn_warn("removing container \"%s\", left over from an earlier run", id);
                cairn_ctr_remove_container(&s->ctr, id);
        }
        /* Once no container runs on them. */
        cairn_store_unmount_below(pub->root);
        _cleanup_free_ char *tmp = cairn_store_path(pub, "result-tmp", NULL);
        DIR *d = opendir(tmp);
        for (struct dirent *de; d && (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dir = cairn_path_join(tmp, de->d_name);
                struct cairn_layerinfo li = { 0 };
                if (cairn_layerinfo_load(dir, &li, NULL) > 0) {
                        /* A step committed but not published, or a result
                         * being deleted: its committed snapshot goes too,
                         * unless a published result stands for it. */
                        _cleanup_free_ char *committed = cairn_xasprintf("%s-committed", li.snapshot_key);
                        _cleanup_free_ char *id = id_of_committed(committed);
                        _cleanup_free_ char *published = id ? cairn_store_path(pub, "result", id) : NULL;
                        if (!published || access(published, F_OK) < 0)
                                snapshot_rm_quiet(&s->ctr, committed);
                        snapshot_rm_quiet(&s->ctr, li.snapshot_key);
                }
                cairn_layerinfo_clear(&li);
        }
        if (d)
                closedir(d);
        reclaim_orphans(s);
}

static int open_kind(const char *root, const char *const *options, bool windows, struct cairn_store **ret,
                     struct cairn_error **err)
{
        struct ctd_store *s = cairn_xzalloc(sizeof(*s));
        s->pub.ops = windows ? &cairn_store_hcs_ops : &cairn_store_containerd_ops;
        s->pub.root = cairn_xstrdup(root);
        s->pub.lock_fd = -1;
        s->pub.backend = &s->ctr;
        s->ctr.windows = windows;
        s->pub.windows = windows;
        int r = 0;
        for (size_t i = 0; options && options[i] && r >= 0; i++)
                r = cairn_ctr_set_option(&s->ctr, options[i], err);
        s->ctr.run_prefix = cairn_ctr_run_prefix(root);
        if (r >= 0) {
                /* Check containerd answers before anything relies on it. */
                struct cairn_error *e = NULL;
                if ((r = cairn_ctr(&s->ctr, NULL, &e, "version", NULL)) < 0) {
                        cairn_error_append(err, &e);
                        cairn_error_prefix(err, "containerd is not reachable%s%s", s->ctr.address ? " at " : "",
                                           s->ctr.address ? s->ctr.address : "");
                }
        }
        if (r >= 0)
                r = cairn_store_prepare(&s->pub, dirs, CAIRN_ARRAY_SIZE(dirs), temp_dirs, CAIRN_ARRAY_SIZE(temp_dirs),
                                        recover, err);
        /* One IPAM state for every run of the store, so that two steps at
         * once are not given the same address. */
        if (r >= 0)
                s->ctr.cni_state_dir = cairn_path_join(s->pub.state_dir, "cni");
        if (r < 0) {
                s->pub.ops->close(&s->pub);
                return r;
        }
        *ret = &s->pub;
        return 0;
}

static int ctd_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        return open_kind(root, options, false, ret, err);
}

static int hcs_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        return open_kind(root, options, true, ret, err);
}

static void ctd_close(struct cairn_store *pub)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        cairn_ctr_clear(&s->ctr);
        cairn_store_release(pub);
        free(s);
}

/* A result is lost with its committed snapshot. */
static int ctd_verify(struct cairn_store *pub, char *const *ids, size_t n, bool *bad, struct cairn_error **err)
{
        struct ctd_store *s = (struct ctd_store *) pub;
        struct cairn_ctr_snapshot *snaps = NULL;
        size_t ns = 0;
        int r = cairn_ctr_snapshots(&s->ctr, &snaps, &ns, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *dir = cairn_store_path(pub, "result", ids[i]);
                _cleanup_free_ char *key = result_key(pub, dir, ids[i]);
                _cleanup_free_ char *committed = cairn_xasprintf("%s-committed", key);
                bad[i] = true;
                for (size_t j = 0; j < ns && bad[i]; j++)
                        bad[i] = strcmp(snaps[j].key, committed) != 0;
        }
        cairn_ctr_snapshots_free(snaps, ns);
        return 0;
}

#define CTD_OPS                                                   \
        .verify = ctd_verify, .takes_options = true, .close = ctd_close, .result = cairn_store_find_result, .begin = ctd_begin, \
        .commit = ctd_commit, .abort = ctd_abort, .delete = ctd_delete, .view = ctd_view,                   \
        .view_release = ctd_view_release, .layers = ctd_layers, .cache_get = cairn_store_dir_cache_get,     \
        .cache_release = cairn_store_dir_cache_release

const struct cairn_store_ops cairn_store_containerd_ops = { .kind = "containerd", .open = ctd_open, CTD_OPS };
const struct cairn_store_ops cairn_store_hcs_ops = { .kind = "hcs", .open = hcs_open, CTD_OPS };
