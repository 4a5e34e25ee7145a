/* SPDX-License-Identifier: Apache-2.0 */
/* The results database in OBuilder's schema (reference section 7).
 * Portable: also built for Windows (SQLite cross-built from Debian's
 * source) and run under wine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compat.h"
#include "base/fs.h"
#include "db/db.h"
#include "tap.h"

static char tmpdir[] = "cairn-test-db-XXXXXX";

static const char *id(char c)
{
        static char ids[4][65];
        static int k;
        char *s = ids[k++ % 4];
        memset(s, c, 64);
        s[64] = '\0';
        return s;
}

static int count_rows(const struct cairn_db_row *row, void *ud)
{
        (*(int *) ud)++;
        return 0;
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        char *path = cairn_path_join(tmpdir, "db.sqlite");
        struct cairn_db *db = NULL;
        struct cairn_error *err = NULL;
        ok(cairn_db_open(path, &db, &err) == 0, "the database opens (and is created)");
        ok(cairn_db_add(db, id('a'), NULL, &err) == 0, "a base is recorded");
        ok(cairn_db_add(db, id('b'), id('a'), &err) == 0, "a step built on it");
        ok(cairn_db_add(db, id('c'), id('a'), &err) == 0, "and another");
        struct cairn_db_row row;
        ok(cairn_db_get(db, id('a'), &row, &err) == 1, "the base's row");
        is_int(row.rc, 2, "rc counts its children, as OBuilder's");
        is_str(row.parent, "", "a base has no parent");
        ok(cairn_db_add(db, id('b'), id('a'), &err) == 0, "recording a result twice");
        cairn_db_get(db, id('a'), &row, &err);
        is_int(row.rc, 2, "does not count it twice (OBuilder's INSERT OR REPLACE would)");
        ok(cairn_db_get(db, id('b'), &row, &err) == 1 && strcmp(row.parent, id('a')) == 0, "a step's parent");
        is_int(strlen(row.created), 19, "times are YYYY-MM-DD HH:MM:SS");
        char **kids = NULL;
        ok(cairn_db_children(db, id('a'), &kids, &err) == 2 && kids[0] && kids[1] && !kids[2], "children (their number)");
        cairn_strv_free(kids);
        char **lru = NULL;
        ok(cairn_db_lru(db, time(NULL) + 60, 10, &lru, &err) >= 0, "least recently used leaves");
        int n = 0;
        while (lru && lru[n])
                n++;
        is_int(n, 2, "are the two steps, not the base they stand on");
        cairn_strv_free(lru);
        ok(cairn_db_delete(db, id('b'), &err) == 0, "delete a step");
        cairn_db_get(db, id('a'), &row, &err);
        is_int(row.rc, 1, "its parent counts one child less");
        is_int(cairn_db_count(db), 2, "two rows left");
        int rows = 0;
        cairn_db_foreach(db, count_rows, &rows, &err);
        is_int(rows, 2, "foreach sees them");
        is_int(cairn_db_recount(db, false, &err), 0, "every rc is right");
        cairn_db_stat_add(db, "hits", 3, &err);
        cairn_db_stat_add(db, "hits", 2, &err);
        is_int(cairn_db_stat_get(db, "hits"), 5, "counters add up");
        /* The step cache's record of a result's layers. */
        struct cairn_db_layer l[2] = { { "sha256:aa", "sha256:ab", 10, "application/vnd.oci.image.layer.v1.tar" },
                                       { "sha256:ba", "sha256:bb", 20, "application/vnd.oci.image.layer.v1.tar+gzip" } };
        struct cairn_db_layer *got = NULL;
        size_t n_got = 0;
        is_int(cairn_db_layers_get(db, id('c'), &got, &n_got, &err), 0, "no layers are recorded at first");
        ok(cairn_db_layers_set(db, id('c'), l, 2, &err) == 0, "recording two layers");
        ok(cairn_db_layers_get(db, id('c'), &got, &n_got, &err) == 1 && n_got == 2, "they are read back");
        ok(got && strcmp(got[0].digest, "sha256:aa") == 0 && strcmp(got[1].diff_id, "sha256:bb") == 0 &&
                   got[1].size == 20 && strcmp(got[1].media_type, l[1].media_type) == 0,
           "in order, every field");
        free(got);
        ok(cairn_db_layers_set(db, id('c'), &l[1], 1, &err) == 0 &&
                   cairn_db_layers_get(db, id('c'), &got, &n_got, &err) == 1 && n_got == 1 &&
                   strcmp(got[0].digest, "sha256:ba") == 0,
           "setting them again replaces them");
        free(got);
        ok(cairn_db_delete(db, id('c'), &err) == 0, "deleting the result");
        is_int(cairn_db_layers_get(db, id('c'), &got, &n_got, &err), 0, "deletes its layers (a step built again here must not claim them)");
        ok(cairn_db_add(db, id('c'), id('a'), &err) == 0, "(recorded again)");
        char t[20];
        cairn_db_format_time(0, t);
        is_str(t, "1970-01-01 00:00:00", "time 0 in UTC");
        cairn_db_close(db);
        db = NULL;
        ok(cairn_db_open(path, &db, &err) == 0 && cairn_db_count(db) == 2, "reopened, the rows are still there");
        cairn_db_close(db);
        cairn_error_free(err);
        err = NULL;
        if (cairn_rm_rf(tmpdir, &err) < 0) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
        }
        free(path);
        return tap_done();
}
