/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite's functions as db.c calls them, forwarded to libsqlite3 loaded on
 * first use (db/sqlite-dl.h, base/dl.h).
 */
#include <sqlite3.h>
#include <stdarg.h>

#include "base/dl.h"
#include "db/sqlite-dl.h"

/* X(return type, name, (parameters), (arguments)); XV for void functions;
 * XX for the variadic ones, whose stubs are written out below (base/dl.h). */
#define SQLITE_FUNCTIONS(X, XV, XX)                                                                              \
        X(int, sqlite3_bind_int64, (sqlite3_stmt * s, int i, sqlite3_int64 v), (s, i, v))                       \
        X(int, sqlite3_bind_null, (sqlite3_stmt * s, int i), (s, i))                                             \
        X(int, sqlite3_bind_text, (sqlite3_stmt * s, int i, const char *v, int n, void (*d)(void *)),            \
          (s, i, v, n, d))                                                                                       \
        X(int, sqlite3_busy_timeout, (sqlite3 * db, int ms), (db, ms))                                           \
        X(int, sqlite3_changes, (sqlite3 * db), (db))                                                            \
        X(int, sqlite3_close, (sqlite3 * db), (db))                                                              \
        X(int, sqlite3_column_int, (sqlite3_stmt * s, int i), (s, i))                                            \
        X(sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * s, int i), (s, i))                                \
        X(const unsigned char *, sqlite3_column_text, (sqlite3_stmt * s, int i), (s, i))                         \
        X(const char *, sqlite3_errmsg, (sqlite3 * db), (db))                                                    \
        X(const char *, sqlite3_errstr, (int rc), (rc))                                                          \
        X(int, sqlite3_exec,                                                                                     \
          (sqlite3 * db, const char *sql, int (*cb)(void *, int, char **, char **), void *ud, char **msg),       \
          (db, sql, cb, ud, msg))                                                                                \
        X(int, sqlite3_file_control, (sqlite3 * db, const char *name, int op, void *arg), (db, name, op, arg))   \
        X(int, sqlite3_finalize, (sqlite3_stmt * s), (s))                                                        \
        XV(sqlite3_free, (void *p), (p))                                                                         \
        X(int, sqlite3_open_v2, (const char *path, sqlite3 **db, int flags, const char *vfs),                    \
          (path, db, flags, vfs))                                                                                \
        X(int, sqlite3_prepare_v2, (sqlite3 * db, const char *sql, int n, sqlite3_stmt **s, const char **tail), \
          (db, sql, n, s, tail))                                                                                 \
        X(int, sqlite3_reset, (sqlite3_stmt * s), (s))                                                           \
        X(int, sqlite3_step, (sqlite3_stmt * s), (s))                                                            \
        X(int, sqlite3_wal_checkpoint_v2, (sqlite3 * db, const char *name, int mode, int *log, int *ckpt),      \
          (db, name, mode, log, ckpt))                                                                           \
        X(void *, sqlite3_wal_hook, (sqlite3 * db, int (*f)(void *, sqlite3 *, const char *, int), void *ud),   \
          (db, f, ud))                                                                                           \
        XX(sqlite3_db_config)

CAIRN_DL_LIBRARY(SQLITE_FUNCTIONS, .name = "SQLite",
                 .sonames = (const char *const[]) { "libsqlite3.so.0", NULL },
                 .hint = "libsqlite3-0 (Debian, Ubuntu) or sqlite-libs (Fedora, Alpine)")

/* db.c sets only options that take an int and an int * (the
 * SQLITE_DBCONFIG_ENABLE_* and _NO_CKPT_ON_CLOSE kind). */
int sqlite3_db_config(sqlite3 *db, int op, ...)
{
        int (*f)(sqlite3 *, int, ...) = CAIRN_DL_FN(sqlite3_db_config);
        va_list ap;
        va_start(ap, op);
        int value = va_arg(ap, int);
        int *ret = va_arg(ap, int *);
        va_end(ap);
        return f(db, op, value, ret);
}

int cairn_sqlite_load(struct cairn_error **err)
{
        return cairn_dl_load(&dl_library, err);
}
