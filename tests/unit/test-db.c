/* SPDX-License-Identifier: Apache-2.0 */
/* The results database in OBuilder's schema (reference section 7).
 * Portable: also built for Windows (SQLite cross-built from Debian's
 * source) and run under wine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/compat.h"
#include "base/file.h"
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

static bool only_d_exists(const char *s, void *ud)
{
        (void) ud;
        return s[0] == 'd';
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
        /* Hits noted without opening the database, folded in later. */
        ok(cairn_db_defer_hits(path, (const char *const[]) { id('a'), id('c') },
                               (const char *const[]) { NULL, id('a') }, 2, &err) == 0,
           "two hits noted beside the database");
        char *hits = cairn_path_join(tmpdir, "cairn-hits");
        char *data = NULL;
        size_t len = 0;
        ok(cairn_read_file(hits, 1 << 20, &data, &len, &err) == 0, "(the file is read)");
        size_t lines = 0;
        for (size_t i = 0; data && i < len; i++)
                lines += data[i] == '\n';
        ok(data && lines == 2 && strncmp(data, id('a'), 64) == 0 && strncmp(data + 64, " - ", 3) == 0 &&
                   strstr(data, id('c')) && strstr(strstr(data, id('c')) + 64, id('a')),
           "one line each, a base's parent written \"-\"");
        free(data);
        long hits_before = cairn_db_stat_get(db, "hits");
        is_int(cairn_db_fold_hits(db, NULL, NULL, &err), 2, "folding takes both");
        is_int(cairn_db_stat_get(db, "hits"), hits_before + 2, "and counts them");
        ok(cairn_read_file(hits, 1 << 20, &data, &len, &err) == 0 && len == 0, "the file is emptied");
        free(data);
        is_int(cairn_db_fold_hits(db, NULL, NULL, &err), 0, "a second fold finds nothing");
        /* By hand: a hit in the future is taken as now, one in 1970 does
         * not move `used` back; a hit on a result without a row adds the
         * row when the store still has the result; damaged lines are
         * skipped. */
        char line[512], now_before[20], now_after[20], future[20];
        time_t later = time(NULL) + 3600;
        cairn_db_format_time(later, future);
        char *text = cairn_xasprintf("%s - %lld\n%s - 0\n"      /* a: in the future, then 1970 */
                                     "%s %s 5\n"                 /* d: exists, on a */
                                     "%s %s 5\n"                 /* e: gone */
                                     "not a line\n%s x 5\n%s - -1\n%s - 12junk\n%s - +5\n%s -  5\n"
                                     "%s - 1234567890123456789\n"
                                     "%s - 7",                    /* torn: no newline */
                                     id('a'), (long long) later, id('a'), id('d'), id('a'), id('e'), id('a'), id('a'),
                                     id('a'), id('a'), id('a'), id('a'), id('a'), id('a'));
        ok(cairn_write_file(hits, text, strlen(text), 0600, &err) == 0, "(a file of hits written by hand)");
        free(text);
        struct cairn_db_row before_a;
        cairn_db_get(db, id('a'), &before_a, &err);
        hits_before = cairn_db_stat_get(db, "hits");
        cairn_db_format_time(time(NULL), now_before);
        is_int(cairn_db_fold_hits(db, only_d_exists, NULL, &err), 4, "four sound lines are folded");
        cairn_db_format_time(time(NULL), now_after);
        is_int(cairn_db_stat_get(db, "hits"), hits_before + 4, "and counted");
        cairn_db_get(db, id('a'), &row, &err);
        ok(strcmp(row.used, future) != 0 && strcmp(row.used, now_before) >= 0 && strcmp(row.used, now_after) <= 0,
           "a hit in the future is taken as now (%s), and one of 1970 does not move `used` back", row.used);
        is_int(row.rc, before_a.rc + 1, "a row added on a counts in its rc");
        ok(cairn_db_get(db, id('d'), &row, &err) == 1 && strcmp(row.parent, id('a')) == 0 &&
                   strcmp(row.used, "1970-01-01 00:00:05") == 0,
           "a result the store has and the database lacked gets its row, parent and time");
        is_int(cairn_db_get(db, id('e'), &row, &err), 0, "one the store lost gets none");
        /* A writer killed in the middle of a line: the next one starts on
         * a line of its own. */
        text = cairn_xasprintf("%s - ", id('a'));
        ok(cairn_write_file(hits, text, strlen(text), 0600, &err) == 0, "(a line cut short by a killed writer)");
        free(text);
        ok(cairn_db_defer_hits(path, (const char *const[]) { id('c') }, (const char *const[]) { id('a') }, 1, &err) ==
                   0,
           "a hit noted after it");
        is_int(cairn_db_fold_hits(db, NULL, NULL, &err), 1, "is folded, the cut line skipped");
        cairn_db_delete(db, id('d'), &err);
        /* The writer says when the file is due to be folded. */
        int due = 0, writes = 0;
        while (due == 0 && writes < 10000) {
                due = cairn_db_defer_hits(path, (const char *const[]) { id('a') }, (const char *const[]) { NULL }, 1,
                                          &err);
                writes++;
        }
        snprintf(line, sizeof(line), "due after %d hits of %d bytes", writes, 64 + 3 + 11);
        ok(due == 1 && writes * (64 + 3 + 11) >= CAIRN_DB_HITS_FOLD && (writes - 1) * (64 + 3 + 11) < CAIRN_DB_HITS_FOLD,
           "%s", line);
        is_int(cairn_db_fold_hits(db, NULL, NULL, &err), writes, "and every one of them is folded");
        free(hits);
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
