/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Caches as plain directories (store/store.h), for the stores that bind
 * them into the sandbox as they are (copy, containerd): a step gets its own
 * clone of the cache, and the first step to release its clone after taking
 * it makes it the cache (the generation number in the lock file says
 * whether someone else has released since).
 */
#include "store/store-backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/compat.h"
#include "base/fs.h"

struct copy_cache {
        unsigned long generation;
};

int cairn_store_dir_cache_get(struct cairn_store *pub, const char *name, uid_t uid, gid_t gid,
                              struct cairn_store_cache **ret, struct cairn_error **err)
{
        static unsigned long next_tmp;
        _cleanup_free_ char *dirname = cairn_store_cache_dirname(pub, name);
        _cleanup_free_ char *master = cairn_store_cache_master(pub, name);
        int lock = cairn_store_cache_lock(pub, name, err);
        if (lock < 0)
                return lock;
        struct stat st;
        if (stat(master, &st) < 0 && (mkdir(master, 0755) < 0 || chown(master, uid, gid) < 0)) {
                cairn_store_cache_unlock(lock);
                return cairn_error_set_errno(err, errno, "cannot create the cache \"%s\"", master);
        }
        /* Unique across the processes sharing the store. */
        _cleanup_free_ char *leaf = cairn_xasprintf("%d-%lu-%s", (int) getpid(), __atomic_fetch_add(&next_tmp, 1, __ATOMIC_RELAXED), dirname);
        char *copy = cairn_store_path(pub, "cache-tmp", leaf);
        unsigned long generation = cairn_store_cache_read_generation(lock);
        int r = cairn_clone_tree(master, copy, err);
        cairn_store_cache_unlock(lock);
        if (r == 0 && chown(copy, uid, gid) < 0)
                r = cairn_error_set_errno(err, errno, "cannot set the owner of \"%s\"", copy);
        if (r < 0) {
                cairn_rm_rf(copy, NULL);
                free(copy);
                return r;
        }
        struct copy_cache *cc = cairn_xzalloc(sizeof(*cc));
        cc->generation = generation;
        struct cairn_store_cache *c = cairn_xzalloc(sizeof(*c));
        c->name = cairn_xstrdup(name);
        c->path = copy;
        c->priv = cc;
        *ret = c;
        return 0;
}

int cairn_store_dir_cache_release(struct cairn_store *pub, struct cairn_store_cache *c, struct cairn_error **err)
{
        struct copy_cache *cc = c->priv;
        int r = 0;
        /* First releaser wins: the copy becomes the cache. */
        int lock = cairn_store_cache_lock(pub, c->name, err);
        if (lock < 0)
                r = lock;
        else if (cairn_store_cache_read_generation(lock) == cc->generation) {
                _cleanup_free_ char *master = cairn_store_cache_master(pub, c->name);
                _cleanup_free_ char *old = cairn_xasprintf("%s.old", c->path);
                if (rename(master, old) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot update the cache \"%s\"", master);
                } else if (rename(c->path, master) < 0) {
                        /* The cache stays as it was. */
                        r = cairn_error_set_errno(err, errno, "cannot update the cache \"%s\"", master);
                        (void) !rename(old, master);
                } else {
                        cairn_store_cache_write_generation(lock, cc->generation + 1);
                        cairn_rm_rf(old, NULL);
                }
        }
        cairn_store_cache_unlock(lock);
        cairn_rm_rf(c->path, NULL);
        free(cc);
        free(c->name);
        free(c->path);
        free(c);
        return r;
}
