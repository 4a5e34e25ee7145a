/* SPDX-License-Identifier: Apache-2.0 */
/* Deleting results: one and its dependents, and pruning by policy. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/fs.h"
#include "base/log.h"
#include "db/db.h"
#include "engine/engine-internal.h"

int engine_delete_rec(struct cairn_engine *e, const char *id, void (*removed)(const char *, void *), void *ud,
                      struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        char **children = NULL;
        int r = cairn_db_children(db, id, &children, err);
        if (r < 0)
                return r;
        for (char **p = children; *p && r >= 0; p++)
                r = engine_delete_rec(e, *p, removed, ud, err);
        cairn_strv_free(children);
        if (r < 0)
                return r;
        if (removed)
                removed(id, ud);
        if ((r = cairn_store_delete(e->store, id, false, err)) < 0)
                return r;
        return cairn_db_delete(db, id, err);
}

int cairn_engine_delete(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud), void *ud,
                        struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        int r = db ? cairn_db_exists(db, id, err) : -EIO;
        if (r < 0)
                return r;
        if (r == 0)
                cairn_warn("ID \"%s\" not in database!", id);
        return engine_delete_rec(e, id, removed, ud, err);
}

int engine_delete_locked_leaf(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud),
                              void *ud, struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db) {
                engine_step_unlock(e, id);
                return -EIO;
        }
        if (removed)
                removed(id, ud);
        int r = cairn_store_delete(e->store, id, true, err);
        /* Between the two: the window a crash during prune leaves. */
        engine_test_pause("prune");
        if (r >= 0)
                r = cairn_db_delete(db, id, err);
        engine_step_unlock(e, id);
        return r;
}

long cairn_engine_prune(struct cairn_engine *e, time_t before, long limit, void (*removed)(const char *id, void *ud),
                        void *ud, struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        long done = 0;
        while (done < limit) {
                char **ids = NULL;
                size_t batch = (size_t) (limit - done < 1000 ? limit - done : 1000);
                engine_db_fold(e, db);
                int n = cairn_db_lru(db, before, batch, &ids, err);
                if (n < 0)
                        return n;
                if (n == 0) {
                        cairn_strv_free(ids);
                        break;
                }
                long before_done = done;
                for (char **p = ids; *p && done < limit; p++) {
                        /* Never a result a running build is using. */
                        if (engine_step_lock(e, *p, CAIRN_LOCK_EXCLUSIVE, false) < 0)
                                continue;
                        int r = engine_delete_locked_leaf(e, *p, removed, ud, err);
                        if (r < 0) {
                                cairn_strv_free(ids);
                                return r;
                        }
                        done++;
                }
                if (done == before_done) {
                        cairn_strv_free(ids);
                        break;
                }
                cairn_strv_free(ids);
        }
        return done;
}

unsigned long long engine_result_bytes(struct cairn_engine *e, const char *id)
{
        char *dir = NULL;
        unsigned long long bytes = 0;
        if (cairn_store_result(e->store, id, &dir, NULL) > 0)
                bytes = cairn_disk_usage(dir);
        free(dir);
        return bytes;
}

/* freeing: bytes deleted whose space the filesystem has not given back yet,
 * counted as free. */
static int free_space(struct cairn_engine *e, unsigned long long freeing, unsigned long long *ret_free,
                      double *ret_percent)
{
        unsigned long long total = 0;
        int r = cairn_fs_space(e->store->root, ret_free, &total);
        if (r < 0)
                return r;
        *ret_free += freeing;
        if (*ret_free > total)
                *ret_free = total;
        *ret_percent = total ? 100.0 * (double) *ret_free / (double) total : 100.0;
        return 0;
}

static int sum_bytes(const struct cairn_result_info *r, void *ud)
{
        *(unsigned long long *) ud += r->bytes;
        return 0;
}

long cairn_engine_prune_policy(struct cairn_engine *e, const struct cairn_prune_policy *p,
                               void (*removed)(const char *id, void *ud), void *ud, struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        long count = cairn_db_count(db);
        unsigned long long used = 0;
        if (p->max_bytes)
                cairn_engine_list(e, sum_bytes, &used, NULL);
        bool keep_free = p->keep_free_bytes || p->keep_free_percent > 0;
        /* A store that frees deleted results' space in the background
         * (btrfs) would show no gain after each delete, and every result
         * would go: each one's size is counted as freed instead.  That
         * overstates (snapshots share their data), so such a prune may stop
         * short, never past, what was asked; a later one sees the space. */
        bool async_free = keep_free && cairn_store_pending_deletes(e->store) >= 0;
        unsigned long long freeing = 0;
        long done = 0;
        for (;;) {
                unsigned long long free_b = 0;
                double free_pct = 100;
                if (keep_free && free_space(e, freeing, &free_b, &free_pct) < 0)
                        return cairn_error_set_errno(err, errno, "cannot read the free space of \"%s\"", e->store->root);
                bool over = (p->max_items >= 0 && count > p->max_items) || (p->max_bytes && used > p->max_bytes) ||
                            (p->keep_free_bytes && free_b < p->keep_free_bytes) ||
                            (p->keep_free_percent > 0 && free_pct < p->keep_free_percent);
                time_t before;
                if (over)
                        before = time(NULL) + 1;
                else if (p->older_than >= 0)
                        before = time(NULL) - p->older_than;
                else
                        break;
                char **ids = NULL;
                engine_db_fold(e, db);
                int n = cairn_db_lru(db, before, 64, &ids, err);
                if (n < 0)
                        return n;
                /* The least recently used leaf no running build is using. */
                const char *victim = NULL;
                for (int i = 0; i < n && !victim; i++)
                        if (engine_step_lock(e, ids[i], CAIRN_LOCK_EXCLUSIVE, false) == 0)
                                victim = ids[i];
                if (!victim) {
                        cairn_strv_free(ids);
                        break;
                }
                unsigned long long bytes = p->max_bytes || async_free ? engine_result_bytes(e, victim) : 0;
                int r = engine_delete_locked_leaf(e, victim, removed, ud, err);
                cairn_strv_free(ids);
                if (r < 0)
                        return r;
                done++;
                count--;
                used = used > bytes ? used - bytes : 0;
                if (async_free)
                        freeing += bytes;
        }
        return done;
}
