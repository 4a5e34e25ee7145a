/* SPDX-License-Identifier: Apache-2.0 */
/* Checking the store against its database, and repairing it. */
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "manifest/manifest.h"

struct fsck {
        struct cairn_engine *e;
        bool repair;
        void (*report)(const char *line, void *ud);
        void *ud;
        long problems;
        char **missing;          /* rows whose result is gone */
        size_t n_missing;
};

static void finding(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finding(struct fsck *f, const char *fmt, ...)
{
        f->problems++;
        if (!f->report)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        f->report(cairn_buf_str(&b), f->ud);
        cairn_buf_release(&b);
}

static int check_row(const struct cairn_db_row *row, void *ud)
{
        struct fsck *f = ud;
        char *dir = NULL;
        if (cairn_store_result(f->e->store, row->id, &dir, NULL) > 0) {
                free(dir);
                return 0;
        }
        f->missing = cairn_xreallocarray(f->missing, f->n_missing + 1, sizeof(char *));
        f->missing[f->n_missing++] = cairn_xstrdup(row->id);
        return 0;
}

long cairn_engine_fsck(struct cairn_engine *e, bool repair, void (*report)(const char *line, void *ud), void *ud,
                       struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        struct fsck f = { .e = e, .repair = repair, .report = report, .ud = ud };
        /* What a crash left: temporary results and mounts.  Opening an idle
         * store already removed them; say so. */
        if (e->store->recovered)
                finding(&f, "%u temporary item%s left by an interrupted build: removed when the store was opened",
                        e->store->recovered, e->store->recovered == 1 ? "" : "s");
        unsigned left = cairn_store_count_leftovers(e->store);
        if (left) {
                if (repair) {
                        unsigned removed = 0;
                        if (cairn_store_recover(e->store, &removed, err) < 0)
                                return cairn_error_prefix(err, "fsck: cannot repair while the store is in use");
                }
                finding(&f, "%u temporary item%s left by an interrupted build%s", left, left == 1 ? "" : "s",
                        repair ? ": removed" : "");
        }
        /* Rows whose result is gone. */
        int r = cairn_db_foreach(db, check_row, &f, err);
        for (size_t i = 0; i < f.n_missing; i++) {
                if (r >= 0 && cairn_db_exists(db, f.missing[i], NULL) == 1) {
                        finding(&f, "%s: in the database but not in the store%s", f.missing[i],
                                repair ? ": removed with what was built on it" : "");
                        if (repair)
                                r = engine_delete_rec(e, f.missing[i], NULL, NULL, err);
                }
                free(f.missing[i]);
        }
        free(f.missing);
        if (r < 0)
                return r;
        /* Results the store can no longer use: an overlay whose parent is
         * gone (a crash in the middle of a prune), a containerd result whose
         * snapshot is gone. */
        char **all = cairn_store_list_results(e->store);
        size_t n_all = cairn_strv_length((const char *const *) all);
        bool *bad = cairn_xzalloc((n_all + 1) * sizeof(bool));
        if (n_all)
                r = cairn_store_verify(e->store, all, n_all, bad, err);
        for (size_t i = 0; i < n_all && r >= 0; i++) {
                if (!bad[i])
                        continue;
                char *dir = NULL;
                if (cairn_store_result(e->store, all[i], &dir, NULL) <= 0)
                        continue;   /* already removed with its parent */
                free(dir);
                finding(&f, "%s: cannot be used (what it is built on is gone)%s", all[i], repair ? ": removed" : "");
                if (repair) {
                        r = cairn_store_delete(e->store, all[i], false, err);
                        if (r >= 0 && cairn_db_exists(db, all[i], NULL) == 1)
                                r = engine_delete_rec(e, all[i], NULL, NULL, err);
                }
        }
        free(bad);
        cairn_strv_free(all);
        if (r < 0)
                return r;
        /* Results the database does not know (a crash between publishing and
         * recording, or a database lost). */
        char **ids = cairn_store_list_results(e->store);
        for (char **p = ids; *p && r >= 0; p++) {
                if (cairn_db_exists(db, *p, NULL) == 1)
                        continue;
                _cleanup_free_ char *link = cairn_xasprintf("%s/result/%s/parent", e->store->root, *p);
                _cleanup_free_ char *target = cairn_read_link(link);
                const char *parent = target ? strrchr(target, '/') : NULL;
                parent = parent ? parent + 1 : NULL;
                finding(&f, "%s: in the store but not in the database%s", *p, repair ? ": recorded" : "");
                if (repair)
                        r = cairn_db_add(db, *p, parent && cairn_is_sha256_hex(parent) ? parent : NULL, err);
        }
        cairn_strv_free(ids);
        if (r < 0)
                return r;
        /* Reference counts (OBuilder's rc) that do not match the children. */
        long wrong = cairn_db_recount(db, repair, err);
        if (wrong < 0)
                return wrong;
        if (wrong)
                finding(&f, "%ld result%s with a wrong count of children%s", wrong, wrong == 1 ? "" : "s",
                        repair ? ": corrected" : "");
        return f.problems;
}
