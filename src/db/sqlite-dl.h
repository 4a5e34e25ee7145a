/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite, loaded on first use (base/dl.h) on POSIX: only a command that
 * opens the database needs it, and a fully cached build does not (db.h:
 * its hits are noted beside the database).  Linked in, SQLite's 1,600
 * pointers to relocate and libm cost every cairn start, `--version`
 * included, about 16 page faults.  sqlite-dl-posix.c defines the SQLite
 * functions db.c calls as stubs that forward to the library's; Windows
 * links SQLite statically (sqlite-dl-win.c).
 */
#ifndef CAIRN_DB_SQLITE_DL_H
#define CAIRN_DB_SQLITE_DL_H

#include "base/error.h"

/* Load SQLite if it is not yet: called before the first sqlite3_* call,
 * for a clear error when the library is missing. */
int cairn_sqlite_load(struct cairn_error **err);

#endif
