/* SPDX-License-Identifier: Apache-2.0 */
#include "store/store-backend.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/compat.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/strbuf.h"

int cairn_store_open(const struct cairn_store_ops *ops, const char *spec, const char *path,
                     const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        if (!cairn_path_is_absolute(path))
                return cairn_error_set(err, -EINVAL, "invalid store \"%s\": the path must be absolute", spec);
        if (options && options[0] && !ops->takes_options)
                return cairn_error_set(err, -EINVAL, "store \"%s\": the %s store takes no options (got \"%s\")", spec,
                                       ops->kind, options[0]);
        int r = ops->open(path, options, ret, err);
        if (r < 0)
                return cairn_error_prefix(err, "store \"%s\"", spec);
        return r;
}

char *cairn_store_path(const struct cairn_store *s, const char *dir, const char *name)
{
        /* With the root's separator: a Windows path handed to HCS as a
         * mount's source is then all backslashes. */
        char *d = cairn_path_join(s->root, dir);
        if (!name)
                return d;
        char *p = cairn_path_join(d, name);
        free(d);
        return p;
}

void cairn_store_close(struct cairn_store *s)
{
        if (s)
                s->ops->close(s);
}

char *cairn_store_cache_dirname(const struct cairn_store *s, const char *name)
{
        if (s->raw_cache_names) {
                bool is_path = !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/') ||
                               name[0] == '%';
                return is_path ? cairn_escape_filename("%", name) : cairn_xstrdup(name);
        }
        /* The "c-" prefix also keeps "." and ".." from being names. */
        return cairn_escape_filename("c-", name);
}

struct cairn_store_build *cairn_store_build_in_tmp(struct cairn_store *s, const char *id)
{
        struct cairn_store_build *b = cairn_xzalloc(sizeof(*b));
        snprintf(b->id, sizeof(b->id), "%s", id);
        b->dir = cairn_store_path(s, "result-tmp", id);
        b->rootfs = cairn_xasprintf("%s/rootfs", b->dir);
        b->log_path = cairn_xasprintf("%s/log", b->dir);
        return b;
}

void cairn_store_build_free(struct cairn_store_build *b)
{
        free(b->dir);
        free(b->rootfs);
        free(b->log_path);
        free(b);
}

char *cairn_store_cache_master(const struct cairn_store *s, const char *name)
{
        _cleanup_free_ char *dirname = cairn_store_cache_dirname(s, name);
        char *master = cairn_store_path(s, "cache", dirname);
        if (s->raw_cache_names) {
                /* Earlier versions of cairn named every cache c-NAME: such a
                 * cache moves to OBuilder's name the first time it is used. */
                _cleanup_free_ char *old_name = cairn_escape_filename("c-", name);
                _cleanup_free_ char *old = cairn_store_path(s, "cache", old_name);
                struct stat st;
                if (strcmp(old_name, dirname) != 0 && stat(master, &st) < 0 && errno == ENOENT &&
                    stat(old, &st) == 0 && S_ISDIR(st.st_mode))
                        (void) rename(old, master);
        }
        return master;
}

int cairn_store_cache_lock(struct cairn_store *s, const char *name, struct cairn_error **err)
{
        _cleanup_free_ char *dir = cairn_path_join(s->state_dir, "cache-locks");
        int r = cairn_mkdir_p(dir, 0700, err);
        if (r < 0)
                return r;
        /* Lock files are cairn's alone: always the escaped name. */
        _cleanup_free_ char *leaf = cairn_escape_filename("c-", name);
        _cleanup_free_ char *path = cairn_path_join(dir, leaf);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
        if ((r = cairn_lock_file(fd, CAIRN_LOCK_EXCLUSIVE, true)) < 0) {
                r = cairn_error_set_errno(err, -r, "cannot lock \"%s\"", path);
                close(fd);
                return r;
        }
        return fd;
}

void cairn_store_cache_unlock(int fd)
{
        if (fd >= 0)
                close(fd);
}

unsigned long cairn_store_cache_read_generation(int fd)
{
        unsigned long long g = 0;
        if (pread(fd, &g, sizeof(g), 0) != (ssize_t) sizeof(g))
                g = 0;
        return (unsigned long) g;
}

void cairn_store_cache_write_generation(int fd, unsigned long generation)
{
        unsigned long long g = generation;
        if (pwrite(fd, &g, sizeof(g), 0) != (ssize_t) sizeof(g))
                cairn_warn("cannot record a cache generation: %s", strerror(errno));
}


unsigned cairn_store_count_leftovers(struct cairn_store *s);

/* Whether a directory's link count on the filesystem of path is 2 plus
 * its subdirectories (ext2/3/4, xfs, tmpfs; on ZFS, 2 plus its entries).
 * Not btrfs (always 1), nor network filesystems, whose counts vary. */
static bool links_count_subdirs(const char *path)
{
#ifdef __linux__
        struct statfs sf;
        if (statfs(path, &sf) < 0)
                return false;
        switch ((unsigned long) sf.f_type) {
        case 0xEF53:       /* ext2, ext3, ext4 */
        case 0x58465342:   /* xfs */
        case 0x01021994:   /* tmpfs */
        case 0x2FC12FC1:   /* ZFS */
                return true;
        }
#else
        (void) path;
#endif
        return false;
}

/* Whether the temporary directories hold nothing.  What cairn leaves in
 * them is directories (temporary results, mount points, work dirs), so
 * where link counts say so, a directory with no subdirectory is taken as
 * empty without reading it. */
static bool temp_dirs_empty(struct cairn_store *s, const char *const *temp_dirs, size_t n_temp)
{
        bool counted = links_count_subdirs(s->root);
        for (size_t i = 0; i < n_temp; i++) {
                _cleanup_free_ char *d = cairn_path_join(s->root, temp_dirs[i]);
                struct stat st;
                if (counted && stat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 2)
                        continue;
                DIR *dir = opendir(d);
                if (!dir)
                        return false;
                bool empty = true;
                for (struct dirent *de; empty && (de = readdir(dir));)
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                empty = false;
                closedir(dir);
                if (!empty)
                        return false;
        }
        return true;
}

/* chmod 0700, unless it is so already: a chmod writes the inode (its
 * ctime), at every start. */
static int make_private(const char *dir)
{
        struct stat st;
        if (stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700)
                return 0;
        return chmod(dir, 0700);
}

int cairn_store_prepare(struct cairn_store *s, const char *const *dirs, size_t n_dirs, const char *const *temp_dirs,
                        size_t n_temp, void (*recover)(struct cairn_store *s), struct cairn_error **err)
{
        size_t len = strlen(s->root);
        while (len > 1 && s->root[len - 1] == '/')
                s->root[--len] = '\0';
        s->state_dir = cairn_xasprintf("%s/state", s->root);
        s->lock_fd = -1;
        s->temp_dirs = temp_dirs;
        s->n_temp = n_temp;
        s->recover = recover;
        const char *sync = getenv("CAIRN_STORE_SYNC");
        s->sync = !(sync && strcmp(sync, "0") == 0);
        int r = cairn_mkdir_p(s->root, 0700, err);
        for (size_t i = 0; r >= 0 && i < n_dirs; i++) {
                _cleanup_free_ char *d = cairn_path_join(s->root, dirs[i]);
                r = cairn_mkdir_p(d, 0755, err);
        }
        if (r < 0)
                return r;
        /* The store is private: what steps built, their logs and the
         * database are root's (a store made before is made so). */
        if (make_private(s->root) < 0 || make_private(s->state_dir) < 0)
                return cairn_error_set_errno(err, errno, "cannot make \"%s\" private", s->root);
        /* Every cairn process using the store holds a shared lock; start-up
         * recovery runs only when it can take the lock exclusively, so it
         * never wipes the temporary results of a running build. */
        _cleanup_free_ char *lock = cairn_path_join(s->state_dir, "lock");
        s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", lock);
        if (cairn_lock_file(s->lock_fd, CAIRN_LOCK_EXCLUSIVE, false) == 0 && !temp_dirs_empty(s, temp_dirs, n_temp)) {
                /* Every mount and temporary result lives in a temp dir, so
                 * empty ones mean a clean store: the common case, kept cheap. */
                s->recovered = cairn_store_count_leftovers(s);
                if (recover)
                        recover(s);
                for (size_t i = 0; r >= 0 && i < n_temp; i++) {
                        _cleanup_free_ char *d = cairn_path_join(s->root, temp_dirs[i]);
                        r = cairn_remove_contents(d, err);
                }
                if (r < 0)
                        return r;
        }
        if ((r = cairn_lock_file(s->lock_fd, CAIRN_LOCK_SHARED, true)) < 0)
                return cairn_error_set_errno(err, -r, "cannot lock \"%s\"", lock);
        return 0;
}

int cairn_store_publish(struct cairn_store *s, const char *tmp, const char *id, bool flushed, struct cairn_error **err)
{
        /* Durable before visible: the data first (one syncfs for the whole
         * tree, unless the caller's unmount already flushed it), then the
         * rename, then the directory that holds it.  After a power loss a
         * result is complete or absent. */
        int r;
        if (!flushed && s->sync && (r = cairn_fs_sync(s->root)) < 0)
                return cairn_error_set_errno(err, -r, "cannot flush \"%s\"", s->root);
        _cleanup_free_ char *dir = cairn_path_join(s->root, "result");
        _cleanup_free_ char *result = cairn_path_join(dir, id);
        if (rename(tmp, result) < 0)
                return cairn_error_set_errno(err, errno, "cannot publish \"%s\"", result);
        if (s->sync && (r = cairn_fs_sync_dir(dir)) < 0)
                return cairn_error_set_errno(err, -r, "cannot flush \"%s\"", dir);
        return 0;
}

int cairn_store_find_result(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err)
{
        (void) err;
        char *dir = cairn_store_path(s, "result", id);
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_dir = dir;
                return 1;
        }
        free(dir);
        return 0;
}

static unsigned count_entries(const char *dir)
{
        unsigned n = 0;
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

unsigned cairn_store_count_leftovers(struct cairn_store *s)
{
        unsigned n = 0;
        for (size_t i = 0; i < s->n_temp; i++) {
                _cleanup_free_ char *d = cairn_path_join(s->root, s->temp_dirs[i]);
                n += count_entries(d);
        }
        return n;
}

int cairn_store_recover(struct cairn_store *s, unsigned *ret_removed, struct cairn_error **err)
{
        if (cairn_lock_file(s->lock_fd, CAIRN_LOCK_EXCLUSIVE, false) < 0) {
                cairn_lock_file(s->lock_fd, CAIRN_LOCK_SHARED, true);
                return cairn_error_set(err, -EBUSY, "the store \"%s\" is in use by another cairn process", s->root);
        }
        *ret_removed = cairn_store_count_leftovers(s);
        if (s->recover)
                s->recover(s);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < s->n_temp; i++) {
                _cleanup_free_ char *d = cairn_path_join(s->root, s->temp_dirs[i]);
                r = cairn_remove_contents(d, err);
        }
        cairn_lock_file(s->lock_fd, CAIRN_LOCK_SHARED, true);
        return r;
}

char **cairn_store_list_results(struct cairn_store *s)
{
        _cleanup_free_ char *dir = cairn_path_join(s->root, "result");
        char **v = cairn_xzalloc(sizeof(char *));
        size_t n = 0;
        DIR *d = opendir(dir);
        if (!d)
                return v;
        for (struct dirent *de; (de = readdir(d));) {
                if (!cairn_is_sha256_hex(de->d_name))
                        continue;
                v = cairn_xreallocarray(v, n + 2, sizeof(char *));
                v[n++] = cairn_xstrdup(de->d_name);
                v[n] = NULL;
        }
        closedir(d);
        return v;
}

void cairn_store_release(struct cairn_store *s)
{
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s->root);
        free(s->state_dir);
}

/* --- what the engine calls (store.h) --------------------------------------- */

int cairn_store_result(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err)
{
        return s->ops->result(s, id, ret_dir, err);
}

int cairn_store_begin(struct cairn_store *s, const char *base, const char *id, struct cairn_store_build **ret,
                      struct cairn_error **err)
{
        return s->ops->begin(s, base, id, ret, err);
}

int cairn_store_commit(struct cairn_store *s, struct cairn_store_build *b, struct cairn_error **err)
{
        return s->ops->commit(s, b, err);
}

void cairn_store_abort(struct cairn_store *s, struct cairn_store_build *b)
{
        s->ops->abort(s, b);
}

int cairn_store_delete(struct cairn_store *s, const char *id, bool leaf, struct cairn_error **err)
{
        return s->ops->delete(s, id, leaf, err);
}

int cairn_store_cache_get(struct cairn_store *s, const char *name, uid_t uid, gid_t gid, struct cairn_store_cache **ret,
                          struct cairn_error **err)
{
        return s->ops->cache_get(s, name, uid, gid, ret, err);
}

int cairn_store_cache_release(struct cairn_store *s, struct cairn_store_cache *c, struct cairn_error **err)
{
        return s->ops->cache_release(s, c, err);
}

int cairn_store_view(struct cairn_store *s, const char *id, char **ret_rootfs, void **ret_handle,
                     struct cairn_error **err)
{
        return s->ops->view(s, id, ret_rootfs, ret_handle, err);
}

void cairn_store_view_release(struct cairn_store *s, void *handle)
{
        s->ops->view_release(s, handle);
}

int cairn_store_layers(struct cairn_store *s, const char *id, char ***ret, bool *ret_overlay_diffs,
                       struct cairn_error **err)
{
        return s->ops->layers(s, id, ret, ret_overlay_diffs, err);
}

int cairn_store_verify(struct cairn_store *s, char *const *ids, size_t n, bool *bad, struct cairn_error **err)
{
        return s->ops->verify ? s->ops->verify(s, ids, n, bad, err) : 0;
}

int cairn_store_reuse_from(struct cairn_store *s, const char *id, char **ret_root, bool *ret_link,
                           struct cairn_error **err)
{
        return s->ops->reuse_from ? s->ops->reuse_from(s, id, ret_root, ret_link, err) : 0;
}

int cairn_store_prelink(struct cairn_store *s, struct cairn_store_build *b, const char *from_root, char *const *paths,
                        size_t n, bool *ret_done, struct cairn_error **err)
{
        if (!s->ops->prelink)
                return cairn_error_set(err, -ENOTSUP, "this store does not link files between results");
        return s->ops->prelink(s, b, from_root, paths, n, ret_done, err);
}

int cairn_store_reuse_whole_root(struct cairn_store *s, const char *id, char **ret_root, bool *ret_link,
                                 struct cairn_error **err)
{
        char *dir = NULL;
        int r = cairn_store_find_result(s, id, &dir, err);
        if (r <= 0)
                return r;
        *ret_root = cairn_xasprintf("%s/rootfs", dir);
        *ret_link = false;
        free(dir);
        return 1;
}

long cairn_store_pending_deletes(struct cairn_store *s)
{
        return s->ops->pending_deletes ? s->ops->pending_deletes(s) : -1;
}
