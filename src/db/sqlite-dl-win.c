/* SPDX-License-Identifier: Apache-2.0 */
/* On Windows SQLite is linked statically (scripts/cross-deps): there is
 * nothing to load. */
#include "db/sqlite-dl.h"

int cairn_sqlite_load(struct cairn_error **err)
{
        (void) err;
        return 0;
}
