/* SPDX-License-Identifier: Apache-2.0 */
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/compat.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "db/sqlite-dl.h"

struct cairn_db {
        sqlite3 *db;
        char *path;
};

static int db_error(struct cairn_db *db, struct cairn_error **err, const char *what)
{
        return cairn_error_set(err, -EIO, "database \"%s\": %s: %s", db->path, what, sqlite3_errmsg(db->db));
}

void cairn_db_format_time(time_t t, char out[20])
{
        struct tm tm;
        if (!gmtime_r(&t, &tm)) {
                time_t zero = 0;
                gmtime_r(&zero, &tm);
        }
        char buf[64];
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        memcpy(out, buf, 19);
        out[19] = '\0';
}

#define BUSY_MS 30000
/* WAL frames (pages) after which a commit checkpoints and empties it. */
#define WAL_CHECKPOINT_FRAMES 64

/* After each commit.  The checkpoint needs no other process to be reading
 * the WAL: one that is makes it give up at once, and a later commit tries
 * again. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
        (void) ud;
        if (frames < WAL_CHECKPOINT_FRAMES)
                return SQLITE_OK;
        sqlite3_busy_timeout(db, 0);
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_busy_timeout(db, BUSY_MS);
        return SQLITE_OK;
}

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS builds ("
        "  id       TEXT PRIMARY KEY,"
        "  created  DATETIME NOT NULL,"
        "  used     DATETIME NOT NULL,"
        "  rc       INTEGER NOT NULL,"
        "  parent   TEXT,"
        "  FOREIGN KEY (parent) REFERENCES builds (id) ON DELETE RESTRICT"
        ");"
        "CREATE INDEX IF NOT EXISTS lru ON builds (rc, used);"
        /* cairn's own counters; OBuilder ignores tables it does not know. */
        "CREATE TABLE IF NOT EXISTS cairn_stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        /* The registry step cache's record of each result's layers. */
        "CREATE TABLE IF NOT EXISTS cairn_layers ("
        "  id         TEXT NOT NULL,"
        "  idx        INTEGER NOT NULL,"
        "  digest     TEXT NOT NULL,"
        "  diff_id    TEXT NOT NULL,"
        "  size       INTEGER NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  PRIMARY KEY (id, idx)"
        ");";

int cairn_db_open(const char *path, struct cairn_db **ret, struct cairn_error **err)
{
        int loaded = cairn_sqlite_load(err);
        if (loaded < 0)
                return loaded;
        struct cairn_db *db = cairn_xzalloc(sizeof(*db));
        db->path = cairn_xstrdup(path);
        int rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int r = cairn_error_set(err, -EIO, "cannot open the database \"%s\": %s", path,
                                        db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
                cairn_db_close(db);
                return r;
        }
        /* Root's alone (the WAL and shared-memory files SQLite makes
         * beside it take the database file's mode). */
        (void) chmod(path, 0600);
        /* Several cairn processes may share the store; wait for each other
         * instead of failing with SQLITE_BUSY. */
        sqlite3_busy_timeout(db->db, BUSY_MS);
        /* Each cairn command is a short-lived process: checkpointing (and
         * fsyncing) the WAL every time one exits would cost more than the
         * build of a cached step.  SQLite checkpoints as the WAL grows. */
        sqlite3_db_config(db->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        int persist = 1;
        sqlite3_file_control(db->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        /* But far sooner than SQLite's 1000 pages, and emptying it: a
         * process that opens the database alone (the usual cairn command)
         * reads every valid frame of the WAL to rebuild its index, which at
         * 1000 frames (4 MB) cost a cached build more than the rest of its
         * work.  SQLite's own checkpoint would not help: it rewinds the WAL
         * only at the next write of the same connection, and a cached
         * build writes once. */
        sqlite3_wal_hook(db->db, wal_hook, NULL);
        char *msg = NULL;
        if (sqlite3_exec(db->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
                int r = cairn_error_set(err, -EIO, "cannot set up the database \"%s\": %s", path, msg ? msg : "?");
                sqlite3_free(msg);
                cairn_db_close(db);
                return r;
        }
        *ret = db;
        return 0;
}

void cairn_db_close(struct cairn_db *db)
{
        if (!db)
                return;
        sqlite3_close(db->db);
        free(db->path);
        free(db);
}

static int prepare(struct cairn_db *db, const char *sql, sqlite3_stmt **st, struct cairn_error **err)
{
        if (sqlite3_prepare_v2(db->db, sql, -1, st, NULL) != SQLITE_OK)
                return db_error(db, err, "prepare");
        return 0;
}

static int exec_simple(struct cairn_db *db, const char *sql, struct cairn_error **err)
{
        char *msg = NULL;
        if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
                int r = cairn_error_set(err, -EIO, "database \"%s\": %s: %s", db->path, sql, msg ? msg : "?");
                sqlite3_free(msg);
                return r;
        }
        return 0;
}

int cairn_db_exists(struct cairn_db *db, const char *id, struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT EXISTS(SELECT 1 FROM builds WHERE id = ?)", &st, err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_error(db, err, "exists");
        sqlite3_finalize(st);
        return r;
}

static int exec_bound(struct cairn_db *db, const char *sql, const char *a, const char *b, long n,
                      struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, sql, &st, err) < 0)
                return -EIO;
        int i = 1;
        if (a)
                sqlite3_bind_text(st, i++, a, -1, SQLITE_STATIC);
        if (b)
                sqlite3_bind_text(st, i++, b, -1, SQLITE_STATIC);
        if (n)
                sqlite3_bind_int64(st, i++, n);
        int r = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(db, err, sql);
        sqlite3_finalize(st);
        return r;
}

/* Record ids[i] (or mark it used) inside one writer transaction, each
 * statement prepared once for all.  Idempotent: when two processes record
 * the same result (one built it, the other found it before its row
 * existed), the parent is counted once.  OBuilder's INSERT OR REPLACE
 * would count it twice and reset the row's own count.  whens[i] is when
 * ids[i] was used (NULL: now for all); exists, when given, says
 * whether a result without a row is still in the store, and so worth a
 * row. */
static int add_in_transaction(struct cairn_db *db, const char *const *ids, const char *const *parents,
                              const char (*whens)[20], size_t n, const char *now, bool (*exists)(const char *, void *),
                              void *ud, struct cairn_error **err)
{
        sqlite3_stmt *touch = NULL, *insert = NULL, *count = NULL;
        int r = 0;
        /* A hit folded in late never moves `used` back; a use now sets it,
         * as OBuilder's does (so a time once set ahead by a wrong clock is
         * mended by the next use). */
        if ((r = prepare(db, whens ? "UPDATE builds SET used = MAX(used, ?1) WHERE id = ?2"
                                   : "UPDATE builds SET used = ?1 WHERE id = ?2",
                         &touch, err)) < 0 ||
            (r = prepare(db, "INSERT INTO builds (id, created, used, rc, parent) VALUES (?1, ?2, ?2, 0, ?3)", &insert,
                         err)) < 0 ||
            (r = prepare(db, "UPDATE builds SET rc = rc + 1 WHERE id = ?1", &count, err)) < 0)
                goto out;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *when = whens ? whens[i] : now;
                sqlite3_reset(touch);
                sqlite3_bind_text(touch, 1, when, -1, SQLITE_STATIC);
                sqlite3_bind_text(touch, 2, ids[i], -1, SQLITE_STATIC);
                if (sqlite3_step(touch) != SQLITE_DONE) {
                        r = db_error(db, err, "add");
                        break;
                }
                if (sqlite3_changes(db->db) > 0 || (exists && !exists(ids[i], ud)))
                        continue;
                sqlite3_reset(insert);
                sqlite3_bind_text(insert, 1, ids[i], -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, 2, when, -1, SQLITE_STATIC);
                if (parents[i])
                        sqlite3_bind_text(insert, 3, parents[i], -1, SQLITE_STATIC);
                else
                        sqlite3_bind_null(insert, 3);
                if (sqlite3_step(insert) != SQLITE_DONE) {
                        r = db_error(db, err, "add");
                        break;
                }
                if (parents[i]) {
                        sqlite3_reset(count);
                        sqlite3_bind_text(count, 1, parents[i], -1, SQLITE_STATIC);
                        if (sqlite3_step(count) != SQLITE_DONE)
                                r = db_error(db, err, "add");
                }
        }
out:
        sqlite3_finalize(touch);
        sqlite3_finalize(insert);
        sqlite3_finalize(count);
        return r;
}

int cairn_db_add(struct cairn_db *db, const char *id, const char *parent, struct cairn_error **err)
{
        return cairn_db_add_many(db, &id, &parent, 1, NULL, 0, err);
}

int cairn_db_add_many(struct cairn_db *db, const char *const *ids, const char *const *parents, size_t n,
                      const char *stat, long stat_delta, struct cairn_error **err)
{
        if (n == 0 && !stat)
                return 0;
        char now[20];
        cairn_db_format_time(time(NULL), now);
        if (exec_simple(db, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        int r = add_in_transaction(db, ids, parents, NULL, n, now, NULL, NULL, err);
        if (r >= 0 && stat)
                r = cairn_db_stat_add(db, stat, stat_delta, err);
        if (r < 0) {
                exec_simple(db, "ROLLBACK", NULL);
                return r;
        }
        return exec_simple(db, "COMMIT", err);
}

int cairn_db_touch(struct cairn_db *db, const char *id, struct cairn_error **err)
{
        char now[20];
        cairn_db_format_time(time(NULL), now);
        return exec_bound(db, "UPDATE builds SET used = ? WHERE id = ?", now, id, 0, err);
}

int cairn_db_get(struct cairn_db *db, const char *id, struct cairn_db_row *ret, struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT id, created, used, rc, parent FROM builds WHERE id = ?", &st, err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st), r = 0;
        if (rc == SQLITE_ROW) {
                memset(ret, 0, sizeof(*ret));
                snprintf(ret->id, sizeof(ret->id), "%s", (const char *) sqlite3_column_text(st, 0));
                snprintf(ret->created, sizeof(ret->created), "%s", (const char *) sqlite3_column_text(st, 1));
                snprintf(ret->used, sizeof(ret->used), "%s", (const char *) sqlite3_column_text(st, 2));
                ret->rc = sqlite3_column_int64(st, 3);
                const unsigned char *p = sqlite3_column_text(st, 4);
                snprintf(ret->parent, sizeof(ret->parent), "%s", p ? (const char *) p : "");
                r = 1;
        } else if (rc != SQLITE_DONE) {
                r = db_error(db, err, "get");
        }
        sqlite3_finalize(st);
        return r;
}

int cairn_db_delete(struct cairn_db *db, const char *id, struct cairn_error **err)
{
        if (exec_simple(db, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        struct cairn_db_row row;
        int r = cairn_db_get(db, id, &row, err);
        if (r > 0) {
                r = exec_bound(db, "DELETE FROM builds WHERE id = ?", id, NULL, 0, err);
                if (r == 0)
                        r = exec_bound(db, "DELETE FROM cairn_layers WHERE id = ?", id, NULL, 0, err);
                if (r == 0 && row.parent[0])
                        r = exec_bound(db, "UPDATE builds SET rc = rc - 1 WHERE id = ?", row.parent, NULL, 0, err);
        }
        if (r < 0) {
                exec_simple(db, "ROLLBACK", NULL);
                return r;
        }
        return exec_simple(db, "COMMIT", err);
}

static int collect(struct cairn_db *db, sqlite3_stmt *st, char ***ret, struct cairn_error **err)
{
        char **v = NULL;
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                v = cairn_xreallocarray(v, n + 2, sizeof(*v));
                v[n++] = cairn_xstrdup((const char *) sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                if (v)
                        v[n] = NULL;
                cairn_strv_free(v);
                return db_error(db, err, "query");
        }
        v = cairn_xreallocarray(v, n + 1, sizeof(*v));
        v[n] = NULL;
        *ret = v;
        return (int) n;
}

int cairn_db_children(struct cairn_db *db, const char *id, char ***ret, struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT id FROM builds WHERE parent = ? ORDER BY id", &st, err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        return collect(db, st, ret, err);
}

int cairn_db_lru(struct cairn_db *db, time_t before, size_t limit, char ***ret, struct cairn_error **err)
{
        char b[20];
        cairn_db_format_time(before, b);
        sqlite3_stmt *st;
        if (prepare(db, "SELECT id FROM builds WHERE rc = 0 AND used < ? ORDER BY used ASC LIMIT ?", &st, err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, b, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) limit);
        return collect(db, st, ret, err);
}

int cairn_db_foreach(struct cairn_db *db, int (*fn)(const struct cairn_db_row *row, void *userdata), void *userdata,
                     struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT id, created, used, rc, parent FROM builds ORDER BY used ASC, id", &st, err) < 0)
                return -EIO;
        int rc, r = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct cairn_db_row row = { 0 };
                snprintf(row.id, sizeof(row.id), "%s", (const char *) sqlite3_column_text(st, 0));
                snprintf(row.created, sizeof(row.created), "%s", (const char *) sqlite3_column_text(st, 1));
                snprintf(row.used, sizeof(row.used), "%s", (const char *) sqlite3_column_text(st, 2));
                row.rc = sqlite3_column_int64(st, 3);
                const unsigned char *p = sqlite3_column_text(st, 4);
                snprintf(row.parent, sizeof(row.parent), "%s", p ? (const char *) p : "");
                if ((r = fn(&row, userdata)) < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = db_error(db, err, "list");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

long cairn_db_count(struct cairn_db *db)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db, "SELECT COUNT(*) FROM builds", -1, &st, NULL) != SQLITE_OK)
                return -1;
        long n = sqlite3_step(st) == SQLITE_ROW ? (long) sqlite3_column_int64(st, 0) : -1;
        sqlite3_finalize(st);
        return n;
}

long cairn_db_recount(struct cairn_db *db, bool fix, struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT COUNT(*) FROM builds WHERE rc != (SELECT COUNT(*) FROM builds AS child "
                        "WHERE child.parent = builds.id)",
                    &st, err) < 0)
                return -EIO;
        long n = sqlite3_step(st) == SQLITE_ROW ? (long) sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (fix && n > 0 &&
            exec_simple(db,
                        "UPDATE builds SET rc = (SELECT COUNT(*) FROM builds AS child WHERE child.parent = builds.id)",
                        err) < 0)
                return -EIO;
        return n;
}

int cairn_db_stat_add(struct cairn_db *db, const char *name, long delta, struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db,
                    "INSERT INTO cairn_stats (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    &st, err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, delta);
        int r = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(db, err, "stats");
        sqlite3_finalize(st);
        return r;
}

long cairn_db_stat_get(struct cairn_db *db, const char *name)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db, "SELECT value FROM cairn_stats WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
                return 0;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        long v = sqlite3_step(st) == SQLITE_ROW ? (long) sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        return v;
}

int cairn_db_layers_get(struct cairn_db *db, const char *id, struct cairn_db_layer **ret, size_t *ret_n,
                        struct cairn_error **err)
{
        sqlite3_stmt *st;
        if (prepare(db, "SELECT digest, diff_id, size, media_type FROM cairn_layers WHERE id = ? ORDER BY idx", &st,
                    err) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        struct cairn_db_layer *v = NULL;
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                v = cairn_xreallocarray(v, n + 1, sizeof(*v));
                memset(&v[n], 0, sizeof(v[n]));
                snprintf(v[n].digest, sizeof(v[n].digest), "%s", (const char *) sqlite3_column_text(st, 0));
                snprintf(v[n].diff_id, sizeof(v[n].diff_id), "%s", (const char *) sqlite3_column_text(st, 1));
                v[n].size = (uint64_t) sqlite3_column_int64(st, 2);
                snprintf(v[n].media_type, sizeof(v[n].media_type), "%s", (const char *) sqlite3_column_text(st, 3));
                n++;
        }
        int r = rc == SQLITE_DONE ? 0 : db_error(db, err, "layers");
        sqlite3_finalize(st);
        if (r < 0 || n == 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 1;
}

int cairn_db_layers_set(struct cairn_db *db, const char *id, const struct cairn_db_layer *l, size_t n,
                        struct cairn_error **err)
{
        if (exec_simple(db, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        int r = exec_bound(db, "DELETE FROM cairn_layers WHERE id = ?", id, NULL, 0, err);
        sqlite3_stmt *st = NULL;
        if (r == 0)
                r = prepare(db, "INSERT INTO cairn_layers (id, idx, digest, diff_id, size, media_type) "
                                "VALUES (?, ?, ?, ?, ?, ?)", &st, err);
        for (size_t i = 0; r == 0 && i < n; i++) {
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, (sqlite3_int64) i);
                sqlite3_bind_text(st, 3, l[i].digest, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, l[i].diff_id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, (sqlite3_int64) l[i].size);
                sqlite3_bind_text(st, 6, l[i].media_type, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        r = db_error(db, err, "layers");
        }
        sqlite3_finalize(st);
        if (r < 0) {
                exec_simple(db, "ROLLBACK", NULL);
                return r;
        }
        return exec_simple(db, "COMMIT", err);
}

int cairn_db_layers_clear(struct cairn_db *db, const char *id, struct cairn_error **err)
{
        return exec_bound(db, "DELETE FROM cairn_layers WHERE id = ?", id, NULL, 0, err);
}

/* --- hits marked without opening the database ------------------------------ */

/* Beside the database, in the same directory. */
#define HITS_NAME "cairn-hits"
/* A file larger than this is not read whole: what is past it is dropped
 * (marks are hints), with a warning. */
#define HITS_READ_MAX (64u << 20)

static char *hits_path(const char *db_path)
{
        const char *sep = strrchr(db_path, '/');
#ifdef _WIN32
        const char *bs = strrchr(db_path, '\\');
        if (bs && (!sep || bs > sep))
                sep = bs;
#endif
        if (!sep)
                return cairn_xstrdup(HITS_NAME);
        return cairn_xasprintf("%.*s%s", (int) (sep + 1 - db_path), db_path, HITS_NAME);
}

int cairn_db_defer_hits(const char *db_path, const char *const *ids, const char *const *parents, size_t n,
                        struct cairn_error **err)
{
        if (n == 0)
                return 0;
        _cleanup_free_ char *path = hits_path(db_path);
        int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | CAIRN_O_BINARY, 0600);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
        int r = cairn_lock_file(fd, CAIRN_LOCK_EXCLUSIVE, true);
        struct stat st;
        if (r == 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return cairn_error_set_errno(err, -r, "cannot lock \"%s\"", path);
        }
        _cleanup_buf_ struct cairn_buf b = CAIRN_BUF_INIT;
        /* The end of a line a killed writer left without its newline: a
         * damaged line of its own, not the start of this one. */
        char last = '\n';
        if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
                cairn_buf_addc(&b, '\n');
        long long now = (long long) time(NULL);
        for (size_t i = 0; i < n; i++)
                cairn_buf_printf(&b, "%s %s %lld\n", ids[i], parents[i] ? parents[i] : "-", now);
        size_t done;
        r = cairn_write_all(fd, b.data, b.len, &done);
        /* No torn line for the next writer to append to. */
        if (r < 0 && done > 0 && ftruncate(fd, st.st_size) < 0)
                cairn_warn("cannot cut a torn line from \"%s\": %s", path, strerror(errno));
        close(fd);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot write to \"%s\"", path);
        return st.st_size + (off_t) b.len >= (off_t) CAIRN_DB_HITS_FOLD ? 1 : 0;
}

/* "ID PARENT|- SECONDS": *ret_parent NULL for "-"; the line is cut up in
 * place.  false for anything else.  A time after now (a damaged digit, or
 * a clock set back since) is taken as now: a hit is never in the future,
 * and `used` is never moved back. */
static bool parse_hit(char *line, time_t now, const char **ret_id, const char **ret_parent, char when[20])
{
        char *parent = strchr(line, ' ');
        if (!parent)
                return false;
        *parent++ = '\0';
        char *secs = strchr(parent, ' ');
        if (!secs)
                return false;
        *secs++ = '\0';
        if (!cairn_is_sha256_hex(line) || (strcmp(parent, "-") != 0 && !cairn_is_sha256_hex(parent)))
                return false;
        size_t digits = strspn(secs, "0123456789");
        if (digits == 0 || digits > 18 || secs[digits] != '\0')
                return false;
        long long t = strtoll(secs, NULL, 10);
        *ret_id = line;
        *ret_parent = strcmp(parent, "-") == 0 ? NULL : parent;
        cairn_db_format_time(t > (long long) now ? now : (time_t) t, when);
        return true;
}

int cairn_db_fold_hits(struct cairn_db *db, bool (*exists)(const char *id, void *ud), void *ud,
                       struct cairn_error **err)
{
        _cleanup_free_ char *path = hits_path(db->path);
        struct stat st;
        if (stat(path, &st) < 0 || st.st_size == 0)
                return 0;
        /* The writer lock first, then the file's: a writer holds the
         * file's only while it appends, and never waits for the database
         * then. */
        if (exec_simple(db, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | CAIRN_O_BINARY);
        if (fd < 0) {
                int e = errno;
                exec_simple(db, "ROLLBACK", NULL);
                return e == ENOENT ? 0 : cairn_error_set_errno(err, e, "cannot open \"%s\"", path);
        }
        int r = cairn_lock_file(fd, CAIRN_LOCK_EXCLUSIVE, true);
        if (r < 0) {
                cairn_error_set_errno(err, -r, "cannot lock \"%s\"", path);
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot read \"%s\"", path);
                goto fail;
        }
        size_t size = st.st_size > (off_t) HITS_READ_MAX ? HITS_READ_MAX : (size_t) st.st_size;
        char *data = cairn_xmalloc(size + 1);
        size_t len = 0;
        while (len < size) {
                ssize_t got = pread(fd, data + len, size - len, (off_t) len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {   /* kept for the next fold */
                        r = cairn_error_set_errno(err, errno, "cannot read \"%s\"", path);
                        free(data);
                        goto fail;
                }
                if (got == 0)
                        break;
                len += (size_t) got;
        }
        data[len] = '\0';
        time_t now = time(NULL);
        size_t n = 0, alloc = 0, bad = 0;
        const char **ids = NULL, **parents = NULL;
        char (*whens)[20] = NULL;
        for (char *line = data, *nl; line < data + len; line = nl + 1) {
                nl = memchr(line, '\n', (size_t) (data + len - line));
                if (!nl) {   /* a torn last line, or the cut at HITS_READ_MAX */
                        bad++;
                        break;
                }
                *nl = '\0';
                if (n == alloc) {
                        alloc = alloc ? 2 * alloc : 64;
                        ids = cairn_xreallocarray(ids, alloc, sizeof(*ids));
                        parents = cairn_xreallocarray(parents, alloc, sizeof(*parents));
                        whens = cairn_xreallocarray(whens, alloc, sizeof(*whens));
                }
                if (parse_hit(line, now, &ids[n], &parents[n], whens[n]))
                        n++;
                else
                        bad++;
        }
        r = add_in_transaction(db, ids, parents, (const char(*)[20]) whens, n, NULL, exists, ud, err);
        if (r >= 0 && n)
                r = cairn_db_stat_add(db, "hits", (long) n, err);
        free(whens);
        free(ids);
        free(parents);
        free(data);
        if (r < 0)
                goto fail;
        if ((r = exec_simple(db, "COMMIT", err)) < 0)
                goto fail;
        /* After the commit: a crash between the two folds these hits again,
         * which moves no `used` back and counts them twice, once. */
        if (ftruncate(fd, 0) < 0)
                cairn_warn("cannot empty \"%s\": %s; its hits will be counted again", path, strerror(errno));
        close(fd);
        if (bad)
                cairn_warn("\"%s\": %zu damaged line%s skipped", path, bad, bad == 1 ? "" : "s");
        if (st.st_size > (off_t) HITS_READ_MAX)
                cairn_warn("\"%s\": only its first %u MiB read", path, HITS_READ_MAX >> 20);
        return (int) (n > INT_MAX ? INT_MAX : n);
fail:
        exec_simple(db, "ROLLBACK", NULL);
        close(fd);
        return r;
}
