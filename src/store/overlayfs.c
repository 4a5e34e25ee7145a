/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The overlayfs store, in OBuilder's layout (reference 4.3):
 *
 *   result/ID/          a published result: rootfs/, log, env (base images),
 *                       and `parent`, a symlink to the parent's result dir
 *   in-progress/ID/     the upper directory while ID is being built
 *   merged/ID/          the overlay mount while ID is being built
 *   work/ID/            overlayfs's work directory
 *   cache/NAME/         persistent caches (OBuilder's names); cache-{result,work,merged}/ for
 *                       the per-step copies
 *   state/              db/db.sqlite
 *
 * A result holds only its own changes; its full root is the overlay of its
 * ancestors, found by following `parent` links.  So that deep chains mount,
 * the lower directories are given to the kernel through a directory of
 * one-character-ish symlinks and relative names (the mount data is limited
 * to one page: absolute paths would stop at about 45 layers).  The kernel
 * itself stacks at most 500 layers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/threads.h"
#include "store/store-backend.h"

struct overlay_store {
        struct cairn_store pub;
        unsigned long next_cache;
};

struct overlay_cache {
        unsigned long generation;
        char *upper, *work, *merged;
};

static const char *const dirs[] = {
        "state", "cache", "cache-result", "cache-work", "cache-merged", "result", "in-progress", "merged", "work",
};

/* What a crash can leave behind, wiped at start-up. */
static const char *const temp_dirs[] = {
        "in-progress", "merged", "cache-result", "cache-work", "cache-merged", "work",
};

static void recover(struct cairn_store *s)
{
        cairn_store_unmount_below(s->root);
}

static int overlay_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        (void) options;
        struct overlay_store *s = cairn_xzalloc(sizeof(*s));
        s->pub.ops = &cairn_store_overlayfs_ops;
        s->pub.root = cairn_xstrdup(root);
        s->pub.raw_cache_names = true;
        s->pub.layered = true;
        int r = cairn_store_prepare(&s->pub, dirs, CAIRN_ARRAY_SIZE(dirs), temp_dirs, CAIRN_ARRAY_SIZE(temp_dirs),
                                    recover, err);
        if (r < 0) {
                cairn_store_overlayfs_ops.close(&s->pub);
                return r;
        }
        *ret = &s->pub;
        return 0;
}

static void overlay_close(struct cairn_store *pub)
{
        cairn_store_release(pub);
        free(pub);
}

/* The ID of the parent of the result in dir, from its parent link, or
 * NULL for a base.  OBuilder's links are absolute, to where the store was
 * when it wrote them: a parent is found by its ID, in this store, wherever
 * the store is now. */
static char *parent_id(const char *dir)
{
        _cleanup_free_ char *link = cairn_xasprintf("%s/parent", dir);
        _cleanup_free_ char *target = cairn_read_link(link);
        if (!target)
                return NULL;
        const char *slash = strrchr(target, '/');
        const char *id = slash ? slash + 1 : target;
        return cairn_is_sha256_hex(id) ? cairn_xstrdup(id) : NULL;
}

/* result/ID and its ancestors, nearest first, by their parent links. */
static char **ancestors(struct overlay_store *s, const char *id, size_t *ret_n)
{
        char **v = NULL;
        size_t n = 0;
        for (char *dir = cairn_store_path(&s->pub, "result", id); dir;) {
                v = cairn_xreallocarray(v, n + 1, sizeof(*v));
                v[n++] = dir;
                if (n > CAIRN_OVERLAY_MAX_LAYERS + 1)
                        break;
                _cleanup_free_ char *parent = parent_id(dir);
                dir = parent ? cairn_store_path(&s->pub, "result", parent) : NULL;
        }
        *ret_n = n;
        return v;
}

static void free_strv_n(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

struct overlay_build {
        char *in_progress, *merged, *work;
        bool mounted;
        char *base;          /* the parent's ID (NULL for a base) */
};

static void build_free(struct cairn_store_build *b)
{
        struct overlay_build *ob = b->priv;
        free(ob->base);
        free(ob->in_progress);
        free(ob->merged);
        free(ob->work);
        free(ob);
        cairn_store_build_free(b);
}

static void discard(struct overlay_build *ob)
{
        struct cairn_error *err = NULL;
        if (ob->mounted && umount2(ob->merged, MNT_DETACH) < 0)
                cairn_warn("cannot unmount \"%s\": %s", ob->merged, strerror(errno));
        ob->mounted = false;
        const char *paths[] = { ob->merged, ob->work, ob->in_progress };
        for (size_t i = 0; i < 3; i++)
                if (cairn_rm_rf(paths[i], &err) < 0) {
                        cairn_warn("%s", err->message);
                        cairn_error_free(err);
                        err = NULL;
                }
}

static int overlay_begin(struct cairn_store *pub, const char *base, const char *id, struct cairn_store_build **ret,
                         struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        _cleanup_free_ char *parent = NULL, *parent_link = NULL, *env_target = NULL, *env_link = NULL;
        _cleanup_free_ char *leaf = NULL, *linkdir = NULL;
        struct cairn_store_build *b = cairn_xzalloc(sizeof(*b));
        struct overlay_build *ob = cairn_xzalloc(sizeof(*ob));
        b->priv = ob;
        snprintf(b->id, sizeof(b->id), "%s", id);
        ob->in_progress = cairn_store_path(&s->pub, "in-progress", id);
        ob->merged = cairn_store_path(&s->pub, "merged", id);
        ob->work = cairn_store_path(&s->pub, "work", id);
        b->log_path = cairn_xasprintf("%s/log", ob->in_progress);
        char **lowers = NULL;
        size_t n = 0;
        int r = 0;
        discard(ob);
        if ((r = cairn_mkdir_p(ob->in_progress, 0755, err)) < 0)
                goto fail;
        if (!base) {
                b->dir = cairn_xstrdup(ob->in_progress);
                b->rootfs = cairn_xasprintf("%s/rootfs", b->dir);
                if (mkdir(b->rootfs, 0755) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot create \"%s\"", b->rootfs);
                        goto fail;
                }
                *ret = b;
                return 0;
        }
        if ((r = cairn_mkdir_p(ob->merged, 0755, err)) < 0 || (r = cairn_mkdir_p(ob->work, 0755, err)) < 0)
                goto fail;
        parent = cairn_store_path(&s->pub, "result", base);
        parent_link = cairn_xasprintf("%s/parent", ob->in_progress);
        env_target = cairn_xasprintf("%s/env", parent);
        env_link = cairn_xasprintf("%s/env", ob->in_progress);
        if (symlink(parent, parent_link) < 0 || symlink(env_target, env_link) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot link \"%s\" to its parent", ob->in_progress);
                goto fail;
        }
        ob->base = cairn_xstrdup(base);
        lowers = ancestors(s, base, &n);
        leaf = cairn_xasprintf(".l-%s", id);
        linkdir = cairn_store_path(&s->pub, "merged", leaf);
        r = cairn_store_mount_overlay(linkdir, lowers, n, ob->in_progress, ob->work, ob->merged, err);
        if (r < 0)
                goto fail;
        ob->mounted = true;
        b->dir = cairn_xstrdup(ob->merged);
        b->rootfs = cairn_xasprintf("%s/rootfs", b->dir);
        free_strv_n(lowers, n);
        *ret = b;
        return 0;
fail:
        free_strv_n(lowers, n);
        discard(ob);
        build_free(b);
        return r;
}

static int overlay_reuse_from(struct cairn_store *pub, const char *id, char **ret_root, bool *ret_link,
                              struct cairn_error **err)
{
        char *dir = NULL;
        int r = cairn_store_find_result(pub, id, &dir, err);
        if (r <= 0)
                return r;
        *ret_root = cairn_xasprintf("%s/rootfs", dir);
        *ret_link = true;
        free(dir);
        return 1;
}

/* Copy dir's extended attributes (overlayfs's own among them: an opaque
 * directory stays opaque) from the directory open at from to the one at to. */
static int copy_xattrs(int from, int to)
{
        char names[4096];
        ssize_t n = flistxattr(from, names, sizeof(names));
        if (n < 0)
                return errno == ENOTSUP ? 0 : -errno;
        for (ssize_t off = 0; off < n; off += (ssize_t) strlen(names + off) + 1) {
                char value[4096];
                ssize_t v = fgetxattr(from, names + off, value, sizeof(value));
                if (v < 0 || fsetxattr(to, names + off, value, (size_t) v, 0) < 0)
                        return -errno;
        }
        return 0;
}

/* The directories made in the layer, to give their times at the end. */
struct made_dirs {
        char **paths;
        size_t n;
        char *last;          /* the last directory known to exist */
};

/* Make dir (and its parents) in the layer at up as they are at from. */
static int ensure_dir(struct made_dirs *md, int up, int from, const char *dir)
{
        if (!*dir || (md->last && strcmp(md->last, dir) == 0))
                return 0;
        _cleanup_free_ char *p = cairn_xstrdup(dir);
        for (char *slash = p;; slash++) {
                slash = strchr(slash, '/');
                if (slash)
                        *slash = '\0';
                struct stat st;
                if (fstatat(up, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        struct stat fs;
                        _cleanup_close_ int fd = cairn_open_beneath(from, p, O_RDONLY | O_DIRECTORY);
                        if (fd < 0 || fstat(fd, &fs) < 0 || mkdirat(up, p, 0700) < 0)
                                return -errno;
                        _cleanup_close_ int nd = cairn_open_beneath(up, p, O_RDONLY | O_DIRECTORY);
                        int r = nd < 0 ? -errno : 0;
                        if (r == 0 && (fchown(nd, fs.st_uid, fs.st_gid) < 0 || fchmod(nd, fs.st_mode & 07777) < 0))
                                r = -errno;
                        if (r == 0)
                                r = copy_xattrs(fd, nd);
                        if (r < 0)
                                return r;
                        md->paths = cairn_xreallocarray(md->paths, md->n + 1, sizeof(*md->paths));
                        md->paths[md->n++] = cairn_xstrdup(p);
                } else if (!S_ISDIR(st.st_mode)) {
                        return -ENOTDIR;
                }
                if (!slash)
                        break;
                *slash = '/';
        }
        free(md->last);
        md->last = cairn_xstrdup(dir);
        return 0;
}

/* Files of one directory to link, paths[begin..end) of a prelink. */
struct link_group {
        size_t begin, end;
        int updir, fromdir;
};

struct link_job {
        char *const *paths;
        bool *done;
        struct link_group *groups;
        size_t n_groups;
        atomic_size_t next;
};

static void close_group(struct link_group *g)
{
        if (g->updir >= 0)
                close(g->updir);
        if (g->fromdir >= 0)
                close(g->fromdir);
}

/* Link groups until none is left; only system calls, no allocation, so
 * it may run on a thread. */
static void *link_worker(void *arg)
{
        struct link_job *j = arg;
        for (;;) {
                size_t k = atomic_fetch_add(&j->next, 1);
                if (k >= j->n_groups)
                        return NULL;
                const struct link_group *g = &j->groups[k];
                for (size_t i = g->begin; i < g->end; i++) {
                        const char *slash = strrchr(j->paths[i], '/');
                        const char *name = slash ? slash + 1 : j->paths[i];
                        j->done[i] = linkat(g->fromdir, name, g->updir, name, 0) == 0;
                }
        }
}

/* One thread a core, at most 8, and no more than there are groups. */
static void link_groups(struct link_job *j)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t want = cpus < 1 ? 1 : cpus > 8 ? 8 : (size_t) cpus;
        if (want > j->n_groups)
                want = j->n_groups;
        cairn_run_threads((unsigned) want, link_worker, j);
}

static int overlay_prelink(struct cairn_store *pub, struct cairn_store_build *b, const char *from_root,
                           char *const *paths, size_t n, bool *ret_done, struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        struct overlay_build *ob = b->priv;
        for (size_t i = 0; i < n; i++)
                ret_done[i] = false;
        if (!ob->mounted || !n)
                return 0;
        /* The layer is changed only while no mount shows it. */
        if (umount2(ob->merged, 0) < 0)
                return cairn_error_set_errno(err, errno, "cannot unmount \"%s\"", ob->merged);
        ob->mounted = false;
        /* Paths from the layer's top, whose rootfs/ (a copy-up of the
         * parent's) is not there yet before anything is written. */
        const char *root = ob->in_progress;
        size_t flen = strlen(from_root);
        _cleanup_free_ char *from_dir = flen > 7 && strcmp(from_root + flen - 7, "/rootfs") == 0
                                                ? cairn_xstrndup(from_root, flen - 7)
                                                : NULL;
        _cleanup_close_ int up = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int from = from_dir ? open(from_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        struct made_dirs md = { NULL, 0, NULL };
        if (up >= 0 && from >= 0) {
                struct link_job job = { .paths = paths, .done = ret_done };
                /* The directories first, one after another (a directory's
                 * parents come before it); then the links, directory by
                 * directory, on every core: ext4 links in separate
                 * directories at once. */
                for (size_t i = 0, end; i < n; i = end) {
                        const char *slash = strrchr(paths[i], '/');
                        size_t dlen = slash ? (size_t) (slash - paths[i]) : 0;
                        for (end = i + 1; end < n; end++) {
                                const char *s2 = strrchr(paths[end], '/');
                                if ((s2 ? (size_t) (s2 - paths[end]) : 0) != dlen ||
                                    strncmp(paths[end], paths[i], dlen) != 0)
                                        break;
                        }
                        _cleanup_free_ char *dir = dlen ? cairn_xasprintf("rootfs/%.*s", (int) dlen, paths[i])
                                                        : cairn_xstrdup("rootfs");
                        if (ensure_dir(&md, up, from, dir) < 0)
                                continue;
                        struct link_group g = { i, end, cairn_open_beneath(up, dir, O_PATH | O_DIRECTORY),
                                                cairn_open_beneath(from, dir, O_PATH | O_DIRECTORY) };
                        if (g.updir < 0 || g.fromdir < 0) {
                                close_group(&g);
                                continue;
                        }
                        job.groups = cairn_xreallocarray(job.groups, job.n_groups + 1, sizeof(*job.groups));
                        job.groups[job.n_groups++] = g;
                }
                link_groups(&job);
                for (size_t i = 0; i < job.n_groups; i++)
                        close_group(&job.groups[i]);
                free(job.groups);
                /* The directories as from_root has them (the copy sets its
                 * own directories' times again). */
                for (size_t i = 0; i < md.n; i++) {
                        _cleanup_close_ int fd = cairn_open_beneath(from, md.paths[i], O_PATH | O_DIRECTORY);
                        struct stat fs;
                        if (fd >= 0 && fstat(fd, &fs) == 0)
                                utimensat(up, md.paths[i], (struct timespec[2]) { fs.st_atim, fs.st_mtim },
                                          AT_SYMLINK_NOFOLLOW);
                }
        }
        for (size_t i = 0; i < md.n; i++)
                free(md.paths[i]);
        free(md.paths);
        free(md.last);
        /* Mounted again, whatever happened: the step goes on. */
        size_t nl = 0;
        char **lowers = ancestors(s, ob->base, &nl);
        _cleanup_free_ char *leaf = cairn_xasprintf(".l-%s", b->id);
        _cleanup_free_ char *linkdir = cairn_store_path(&s->pub, "merged", leaf);
        int r = cairn_store_mount_overlay(linkdir, lowers, nl, ob->in_progress, ob->work, ob->merged, err);
        free_strv_n(lowers, nl);
        if (r < 0)
                return r;
        ob->mounted = true;
        if (up < 0 || from < 0)
                return cairn_error_set(err, -ENOENT, "cannot open \"%s\" or \"%s\"", root, from_root);
        return 0;
}

static int overlay_commit(struct cairn_store *pub, struct cairn_store_build *b, struct cairn_error **err)
{
        struct overlay_build *ob = b->priv;
        bool base_mounted = ob->mounted;
        int r = 0;
        if (ob->mounted) {
                if (umount2(ob->merged, 0) < 0 && umount2(ob->merged, MNT_DETACH) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot unmount \"%s\"", ob->merged);
                        goto out;
                }
                ob->mounted = false;
        }
        /* Unmounting an overlay flushes its upper directory; a base result
         * was written straight into it and is flushed here. */
        r = cairn_store_publish(pub, ob->in_progress, b->id, base_mounted, err);
out:
        discard(ob);
        build_free(b);
        return r;
}

static void overlay_abort(struct cairn_store *pub, struct cairn_store_build *b)
{
        discard(b->priv);
        build_free(b);
}

/* Delete result `id` and every result whose parent chain reaches it. */
static int overlay_delete(struct cairn_store *pub, const char *id, bool leaf, struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        _cleanup_free_ char *results = cairn_store_path(&s->pub, "result", NULL);
        _cleanup_free_ char *target = cairn_store_path(&s->pub, "result", id);
        if (leaf)
                return cairn_rm_rf(target, err);
        DIR *d = opendir(results);
        if (!d)
                return cairn_error_set_errno(err, errno, "cannot list \"%s\"", results);
        char **children = NULL;
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dir = cairn_xasprintf("%s/%s", results, de->d_name);
                _cleanup_free_ char *p = parent_id(dir);
                if (p && strcmp(p, id) == 0) {
                        children = cairn_xreallocarray(children, n + 1, sizeof(*children));
                        children[n++] = cairn_xstrdup(de->d_name);
                }
        }
        closedir(d);
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = overlay_delete(pub, children[i], false, err);
                free(children[i]);
        }
        free(children);
        if (r < 0)
                return r;
        return cairn_rm_rf(target, err);
}

static int overlay_cache_get(struct cairn_store *pub, const char *name, uid_t uid, gid_t gid,
                             struct cairn_store_cache **ret, struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        _cleanup_free_ char *dirname = cairn_store_cache_dirname(pub, name);
        _cleanup_free_ char *master = cairn_store_cache_master(pub, name);
        struct stat st;
        if (stat(master, &st) < 0) {
                if (mkdir(master, 0755) < 0 && errno != EEXIST)
                        return cairn_error_set_errno(err, errno, "cannot create the cache \"%s\"", master);
                if (chown(master, uid, gid) < 0)
                        return cairn_error_set_errno(err, errno, "cannot set the owner of \"%s\"", master);
        }
        struct overlay_cache *oc = cairn_xzalloc(sizeof(*oc));
        int lock = cairn_store_cache_lock(pub, name, err);
        if (lock < 0) {
                free(oc);
                return lock;
        }
        oc->generation = cairn_store_cache_read_generation(lock);
        cairn_store_cache_unlock(lock);
        unsigned long n = s->next_cache++;
        /* Unique across the processes sharing the store. */
        _cleanup_free_ char *leaf = cairn_xasprintf("%d-%lu-%s", (int) getpid(), n, dirname);
        oc->upper = cairn_store_path(&s->pub, "cache-result", leaf);
        oc->work = cairn_store_path(&s->pub, "cache-work", leaf);
        oc->merged = cairn_store_path(&s->pub, "cache-merged", leaf);
        int r;
        if ((r = cairn_mkdir_p(oc->upper, 0755, err)) < 0 || (r = cairn_mkdir_p(oc->work, 0755, err)) < 0 ||
            (r = cairn_mkdir_p(oc->merged, 0755, err)) < 0)
                goto fail;
        /* The root of the overlay takes the upper directory's owner: the
         * step's user can always write at the top of its cache. */
        if (chown(oc->upper, uid, gid) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot set the owner of \"%s\"", oc->upper);
                goto fail;
        }
        {
                _cleanup_free_ char *l = cairn_xasprintf(".l-%s", leaf);
                _cleanup_free_ char *linkdir = cairn_store_path(&s->pub, "cache-merged", l);
                char *lowers[] = { master };
                r = cairn_store_mount_overlay(linkdir, lowers, 1, oc->upper, oc->work, oc->merged, err);
        }
        if (r < 0)
                goto fail;
        struct cairn_store_cache *c = cairn_xzalloc(sizeof(*c));
        c->name = cairn_xstrdup(name);
        c->path = cairn_xstrdup(oc->merged);
        c->priv = oc;
        *ret = c;
        return 0;
fail:
        cairn_rm_rf(oc->upper, NULL);
        cairn_rm_rf(oc->work, NULL);
        cairn_rm_rf(oc->merged, NULL);
        free(oc->upper);
        free(oc->work);
        free(oc->merged);
        free(oc);
        return r;
}

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(int dirfd, const char *name)
{
        char v[4];
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
        return n == 1 && v[0] == 'y';
}

/*
 * Apply an overlay upper directory to its lower one, as the overlay showed
 * it: whiteouts delete, opaque directories replace, everything else moves
 * over (upper directories hold full copies: metacopy is off).
 */
static int apply_upper(int upper, int lower, struct cairn_error **err)
{
        DIR *d = fdopendir(dup(upper));
        if (!d)
                return cairn_error_set_errno(err, errno, "cannot list a cache layer");
        int r = 0;
        for (struct dirent *de; (de = readdir(d)) && r >= 0;) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st, lst;
                if (fstatat(upper, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (is_whiteout(&st)) {
                        r = cairn_rm_rf_at(lower, de->d_name, err);
                        continue;
                }
                bool lower_dir = fstatat(lower, de->d_name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(lst.st_mode);
                if (S_ISDIR(st.st_mode) && lower_dir && !is_opaque(upper, de->d_name)) {
                        int u = openat(upper, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        int l = openat(lower, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (u >= 0 && l >= 0) {
                                r = apply_upper(u, l, err);
                                (void) !fchown(l, st.st_uid, st.st_gid);
                                (void) !fchmod(l, st.st_mode & 07777);
                        }
                        if (u >= 0)
                                close(u);
                        if (l >= 0)
                                close(l);
                        continue;
                }
                if ((r = cairn_rm_rf_at(lower, de->d_name, err)) < 0)
                        break;
                if (renameat(upper, de->d_name, lower, de->d_name) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot move \"%s\" into the cache", de->d_name);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int fd = openat(lower, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0) {
                                fremovexattr(fd, "trusted.overlay.opaque");
                                close(fd);
                        }
                }
        }
        closedir(d);
        return r;
}

static int overlay_cache_release(struct cairn_store *pub, struct cairn_store_cache *c, struct cairn_error **err)
{
        struct overlay_cache *oc = c->priv;
        int r = 0;
        if (umount2(oc->merged, 0) < 0 && umount2(oc->merged, MNT_DETACH) < 0)
                r = cairn_error_set_errno(err, errno, "cannot unmount the cache \"%s\"", oc->merged);
        /* First releaser wins: later copies of the same generation are
         * discarded. */
        int lock = r == 0 ? cairn_store_cache_lock(pub, c->name, err) : -1;
        if (lock >= 0 && cairn_store_cache_read_generation(lock) == oc->generation) {
                _cleanup_free_ char *master = cairn_store_cache_master(pub, c->name);
                _cleanup_close_ int u = open(oc->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int l = open(master, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (u < 0 || l < 0)
                        r = cairn_error_set_errno(err, errno, "cannot open the cache \"%s\"", master);
                else
                        r = apply_upper(u, l, err);
                if (r == 0)
                        cairn_store_cache_write_generation(lock, oc->generation + 1);
        } else if (lock < 0 && r == 0) {
                r = lock;
        }
        cairn_store_cache_unlock(lock);
        struct cairn_error *e2 = NULL;
        cairn_rm_rf(oc->upper, &e2);
        cairn_rm_rf(oc->work, &e2);
        cairn_rm_rf(oc->merged, &e2);
        if (e2)
                cairn_warn("%s", e2->message);
        cairn_error_free(e2);
        free(oc->upper);
        free(oc->work);
        free(oc->merged);
        free(oc);
        free(c->name);
        free(c->path);
        free(c);
        return r;
}

struct overlay_view {
        char *mountpoint;    /* NULL when the result is a single layer */
};

static int overlay_view(struct cairn_store *pub, const char *id, char **ret_rootfs, void **ret_handle,
                        struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        size_t n = 0;
        char **lowers = ancestors(s, id, &n);
        struct overlay_view *v = cairn_xzalloc(sizeof(*v));
        int r = 0;
        if (n == 1) {
                /* A base result holds its whole root. */
                *ret_rootfs = cairn_xasprintf("%s/rootfs", lowers[0]);
        } else {
                unsigned long k = s->next_cache++;
                _cleanup_free_ char *leaf = cairn_xasprintf(".view-%d-%lu", (int) getpid(), k);
                _cleanup_free_ char *lleaf = cairn_xasprintf(".l-view-%d-%lu", (int) getpid(), k);
                _cleanup_free_ char *linkdir = cairn_store_path(&s->pub, "merged", lleaf);
                v->mountpoint = cairn_store_path(&s->pub, "merged", leaf);
                if ((r = cairn_mkdir_p(v->mountpoint, 0755, err)) == 0) {
                        /* No upper directory: a read-only overlay. */
                        r = cairn_store_mount_overlay(linkdir, lowers, n, NULL, NULL, v->mountpoint, err);
                }
                if (r == 0)
                        *ret_rootfs = cairn_xasprintf("%s/rootfs", v->mountpoint);
        }
        free_strv_n(lowers, n);
        if (r < 0) {
                if (v->mountpoint)
                        rmdir(v->mountpoint);
                free(v->mountpoint);
                free(v);
                return r;
        }
        *ret_handle = v;
        return 0;
}

static void overlay_view_release(struct cairn_store *pub, void *handle)
{
        struct overlay_view *v = handle;
        if (v->mountpoint) {
                if (umount2(v->mountpoint, MNT_DETACH) < 0)
                        cairn_warn("cannot unmount \"%s\": %s", v->mountpoint, strerror(errno));
                rmdir(v->mountpoint);
                free(v->mountpoint);
        }
        free(v);
}

static int overlay_layers(struct cairn_store *pub, const char *id, char ***ret, bool *ret_overlay_diffs,
                          struct cairn_error **err)
{
        struct overlay_store *s = (struct overlay_store *) pub;
        size_t n = 0;
        char **chain = ancestors(s, id, &n);
        char **v = cairn_xzalloc((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                v[i] = cairn_xasprintf("%s/rootfs", chain[n - 1 - i]);
        free_strv_n(chain, n);
        *ret = v;
        *ret_overlay_diffs = true;
        return 0;
}

/* A result holds only its own changes: it is lost with its parent. */
static int overlay_verify(struct cairn_store *pub, char *const *ids, size_t n, bool *bad, struct cairn_error **err)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *dir = cairn_store_path(pub, "result", ids[i]);
                _cleanup_free_ char *parent = parent_id(dir);
                _cleanup_free_ char *pdir = parent ? cairn_store_path(pub, "result", parent) : NULL;
                struct stat st;
                bad[i] = pdir && stat(pdir, &st) < 0;
        }
        return 0;
}

const struct cairn_store_ops cairn_store_overlayfs_ops = {
        .verify = overlay_verify,
        .reuse_from = overlay_reuse_from,
        .prelink = overlay_prelink,
        .layers = overlay_layers,
        .view = overlay_view,
        .view_release = overlay_view_release,
        .kind = "overlayfs",
        .open = overlay_open,
        .close = overlay_close,
        .result = cairn_store_find_result,
        .begin = overlay_begin,
        .commit = overlay_commit,
        .abort = overlay_abort,
        .delete = overlay_delete,
        .cache_get = overlay_cache_get,
        .cache_release = overlay_cache_release,
};
