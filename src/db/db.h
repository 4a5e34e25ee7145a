/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's SQLite database, in OBuilder's schema so that either program
 * can open a store the other wrote (reference section 7):
 *
 *   builds (id TEXT PRIMARY KEY, created DATETIME, used DATETIME,
 *           rc INTEGER, parent TEXT)      rc = number of child rows
 *   INDEX lru ON builds (rc, used)
 *
 * Timestamps are UTC text "YYYY-MM-DD HH:MM:SS".  WAL journal,
 * synchronous=NORMAL, and a busy timeout so several cairn processes can share
 * one store.
 */
#ifndef CAIRN_DB_DB_H
#define CAIRN_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/alloc.h"   /* cairn_strv_free, for the arrays returned here */
#include "base/error.h"

struct cairn_db;

struct cairn_db_row {
        char id[65];
        char parent[65];         /* "" when none */
        char created[20];
        char used[20];
        long rc;
};

int cairn_db_open(const char *path, struct cairn_db **ret, struct cairn_error **err);
void cairn_db_close(struct cairn_db *db);

/* 1 if id has a row, 0 if not. */
int cairn_db_exists(struct cairn_db *db, const char *id, struct cairn_error **err);
/* Record a new result (parent may be NULL) and count it in its parent's rc,
 * in one transaction. */
int cairn_db_add(struct cairn_db *db, const char *id, const char *parent, struct cairn_error **err);
/* cairn_db_add for n results (ids[i] on parents[i], which may be NULL), and
 * stat_delta added to the counter stat (unless NULL), in one transaction:
 * a cached build marks all its steps used with one commit. */
int cairn_db_add_many(struct cairn_db *db, const char *const *ids, const char *const *parents, size_t n,
                      const char *stat, long stat_delta, struct cairn_error **err);
/* Mark id as used now (a cache hit). */
int cairn_db_touch(struct cairn_db *db, const char *id, struct cairn_error **err);
/* Delete id's row and uncount it from its parent. */
int cairn_db_delete(struct cairn_db *db, const char *id, struct cairn_error **err);
/* The ids whose parent is id. *ret is a NULL-terminated array owned by the caller
 * (free each and the array). */
int cairn_db_children(struct cairn_db *db, const char *id, char ***ret, struct cairn_error **err);
/* Leaves (rc = 0) used before `before`, least recently used first, at most limit. */
int cairn_db_lru(struct cairn_db *db, time_t before, size_t limit, char ***ret, struct cairn_error **err);
/* Call fn for every row, oldest use first; stops early if fn returns < 0. */
int cairn_db_foreach(struct cairn_db *db, int (*fn)(const struct cairn_db_row *row, void *userdata), void *userdata,
                     struct cairn_error **err);
/* Get one row; returns 0 if there is none. */
int cairn_db_get(struct cairn_db *db, const char *id, struct cairn_db_row *ret, struct cairn_error **err);
long cairn_db_count(struct cairn_db *db);

/* Rows whose rc is not their number of children; with fix, correct them. */
long cairn_db_recount(struct cairn_db *db, bool fix, struct cairn_error **err);

/* cairn's counters (cache hits and misses), kept across runs. */
int cairn_db_stat_add(struct cairn_db *db, const char *name, long delta, struct cairn_error **err);
long cairn_db_stat_get(struct cairn_db *db, const char *name);

/*
 * The registry step cache's record of a result's layers (table cairn_layers,
 * which OBuilder ignores): the blobs that, applied in order on its parent's
 * root, make its root -- one for a step, the image's for a base.  A pulled
 * result is applied on a local parent only when the manifest names the
 * parent's recorded layers (engine/remote.c).  Deleting a row of builds
 * deletes its layers.
 */
struct cairn_db_layer {
        char digest[72];        /* "sha256:HEX" of the blob */
        char diff_id[72];       /* of the uncompressed tar */
        uint64_t size;          /* of the blob */
        char media_type[96];
};
/* 1 and *ret (n of them, in order; the caller frees the array), or 0 when
 * id has none recorded. */
int cairn_db_layers_get(struct cairn_db *db, const char *id, struct cairn_db_layer **ret, size_t *ret_n,
                        struct cairn_error **err);
/* Replace id's record with l (n layers). */
int cairn_db_layers_set(struct cairn_db *db, const char *id, const struct cairn_db_layer *l, size_t n,
                        struct cairn_error **err);
int cairn_db_layers_clear(struct cairn_db *db, const char *id, struct cairn_error **err);

/*
 * Cache hits marked without opening the database.  A fully cached build
 * reads nothing from the database, and opening it (SQLite's start, the
 * WAL's index rebuilt from its file, the schema) cost such a build more
 * than the rest of its work.  Its hits are appended instead to cairn-hits,
 * beside the database ("ID PARENT|- SECONDS" a line, under an exclusive
 * lock), and folded in by the next process that opens the database for
 * anything (cairn_db_fold_hits): `used` set to the hit's time (never moved
 * back), a missing row added, the counter "hits" counted.  Until then
 * OBuilder, reading the same store, sees older `used` times.
 */
/* The file's size past which the writer should open the database, which
 * folds it: about 40 fully cached builds of 10 steps. */
#define CAIRN_DB_HITS_FOLD (64 * 1024)
/* Append n hits (ids[i] on parents[i], which may be NULL) for the database
 * at db_path.  Returns 1 when the file has grown past CAIRN_DB_HITS_FOLD,
 * else 0. */
int cairn_db_defer_hits(const char *db_path, const char *const *ids, const char *const *parents, size_t n,
                        struct cairn_error **err);
/* Fold the deferred hits into db in one transaction, and empty the file.
 * A hit on a result without a row adds the row only when exists (if given)
 * says the result is still in the store.  Damaged lines are skipped with a
 * warning.  Returns the number of hits folded. */
int cairn_db_fold_hits(struct cairn_db *db, bool (*exists)(const char *id, void *ud), void *ud,
                       struct cairn_error **err);

/* "YYYY-MM-DD HH:MM:SS" in UTC. */
void cairn_db_format_time(time_t t, char out[20]);

#endif
