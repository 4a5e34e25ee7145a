/* SPDX-License-Identifier: Apache-2.0 */
/* Copy manifests and copy step IDs against OBuilder's manifest test cases
 * and the values published in the OBuilder reference (section 2). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _WIN32
#include <windows.h>
#endif

#include "base/alloc.h"
#include "base/compat.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/tar.h"
#include "manifest/copy.h"
#include "engine/ids.h"
#include "manifest/manifest.h"
#include "manifest/stat-cache.h"
#include "tap.h"

static char tmpdir[] = "cairn-test-manifest-XXXXXX";
/* The symlink and FIFO cases need POSIX; built for Windows (and run under
 * wine) the rest runs, with the same expected manifests minus the link. */
#ifdef _WIN32
static const char *link_node = "";
#else
static const char *link_node = "(Symlink(link /root))";
#endif

static void write_file(const char *rel, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
        FILE *f = fopen(path, "w");
        fputs(content, f);
        fclose(f);
}

/* A file whose name is UTF-8 (through UTF-16 on Windows, where fopen
 * would take the bytes in the ANSI code page). */
static void write_file_utf8(const char *rel, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
#ifdef _WIN32
        wchar_t wpath[512];
        MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 512);
        FILE *f = _wfopen(wpath, L"wb");
#else
        FILE *f = fopen(path, "w");
#endif
        fputs(content, f);
        fclose(f);
}

/* memmem, which mingw lacks. */
static bool contains(const char *data, size_t n, const char *needle)
{
        size_t k = strlen(needle);
        for (size_t i = 0; i + k <= n; i++)
                if (memcmp(data + i, needle, k) == 0)
                        return true;
        return false;
}

static void mk(const char *rel)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
        mkdir(path, 0755);
}

static struct cairn_manifest *manifest(struct cairn_hasher *h, struct cairn_arena *a, const char *src,
                                       const char *const *exclude, size_t n_exclude, char **ret_sexp,
                                       char **ret_err)
{
        struct cairn_manifest *m = NULL;
        struct cairn_error *err = NULL;
        *ret_sexp = *ret_err = NULL;
        if (cairn_manifest_generate(h, a, tmpdir, src, exclude, n_exclude, &m, &err) < 0) {
                *ret_err = strdup(err->message);
                cairn_error_free(err);
                return NULL;
        }
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_sexp_writer w = CAIRN_SEXP_WRITER_INIT(&b);
        cairn_manifest_write(&w, m);
        *ret_sexp = cairn_buf_steal(&b, NULL);
        return m;
}

static void manifest_is(struct cairn_hasher *h, const char *src, const char *const *exclude, size_t n,
                        const char *expected, const char *name)
{
        struct cairn_arena *a = cairn_arena_new();
        char *s, *e;
        manifest(h, a, src, exclude, n, &s, &e);
        if (!is_str(s, expected, "manifest: %s", name) && e)
                tap_diag("error: %s", e);
        free(s);
        free(e);
        cairn_arena_free(a);
}

static void manifest_fails(struct cairn_hasher *h, const char *src, const char *expected, const char *name)
{
        struct cairn_arena *a = cairn_arena_new();
        char *s, *e;
        manifest(h, a, src, NULL, 0, &s, &e);
        is_str(e, expected, "manifest error: %s", name);
        free(s);
        free(e);
        cairn_arena_free(a);
}

static void test_manifest(void)
{
        if (!mkdtemp(tmpdir)) {
                ok(0, "mkdtemp");
                return;
        }
        char hf[65], h2[65];
        cairn_sha256_hex("file-data", 9, hf);
        cairn_sha256_hex("file2-data", 10, h2);
        write_file("file", "file-data");
#ifndef _WIN32
        char link[600];
        snprintf(link, sizeof(link), "%s/link", tmpdir);
        symlink("/root", link);
#endif
        mk("dir1");
        mk("dir1/dir2");
        write_file("dir1/dir2/file2", "file2-data");
        struct cairn_hasher *h = cairn_hasher_new(4);

        char exp[1024];
        snprintf(exp, sizeof(exp), "(File(file %s))", hf);
        manifest_is(h, "file", NULL, 0, exp, "file");
        manifest_is(h, "./file", NULL, 0, exp, "./file");
        manifest_is(h, "/file", NULL, 0, exp, "/file");
        manifest_fails(h, "file2", "Source path \"file2\" not found", "missing");
        manifest_fails(h, "file/file2", "Not a directory: file (in \"file/file2\")", "a file used as a directory");
        manifest_fails(h, "../file", "Can't use .. in source paths! (in \"../file\")", "..");
        manifest_fails(h, "dir1/../file", "Can't use .. in source paths! (in \"dir1/../file\")", ".. in the middle");
#ifndef _WIN32
        manifest_is(h, "link", NULL, 0, "(Symlink(link /root))", "a symlink is not followed");
        manifest_fails(h, "link/file", "Not a regular file: link (in \"link/file\")", "a path through a symlink");
#endif
        snprintf(exp, sizeof(exp), "(File(dir1/dir2/file2 %s))", h2);
        manifest_is(h, "dir1/dir2/file2", NULL, 0, exp, "a nested file keeps its path");
        manifest_is(h, "dir1//./dir2/file2", NULL, 0, exp, "empty and . components are dropped");
        snprintf(exp, sizeof(exp), "(Dir(dir1((Dir(dir1/dir2((File(dir1/dir2/file2 %s))))))))", h2);
        manifest_is(h, "dir1", NULL, 0, exp, "a directory");
        snprintf(exp, sizeof(exp),
                 "(Dir(\"\"((Dir(dir1((Dir(dir1/dir2((File(dir1/dir2/file2 %s))))))))(File(file %s))%s)))", h2, hf,
                 link_node);
        manifest_is(h, ".", NULL, 0, exp, ". is the whole source root, children sorted");
        manifest_is(h, "", NULL, 0, exp, "\"\" is the whole source root");
        const char *ex[] = { "file", "dir1" };
        snprintf(exp, sizeof(exp), "(Dir(\"\"(%s)))", link_node);
        manifest_is(h, "", ex, 2, exp, "excludes apply to children");

#ifndef _WIN32
        char fifo[600];
        snprintf(fifo, sizeof(fifo), "%s/dir1/fifo", tmpdir);
        mkfifo(fifo, 0644);
        manifest_fails(h, "dir1", "Unsupported file type for \"dir1/fifo\"", "a fifo inside a directory");
        manifest_fails(h, "dir1/fifo", "Not a regular file: dir1/fifo (in \"dir1/fifo\")", "a fifo as the source");
        unlink(fifo);
#endif
        cairn_hasher_free(h);
}

static void test_hash_cache(void)
{
        mk("many");
        for (int i = 0; i < 300; i++) {
                char rel[64], content[64];
                snprintf(rel, sizeof(rel), "many/f%03d", i);
                snprintf(content, sizeof(content), "content %d", i);
                write_file(rel, content);
        }
        struct cairn_hasher *h = cairn_hasher_new(4);
        struct cairn_arena *a = cairn_arena_new();
        char *s1, *s2, *e;
        manifest(h, a, "many", NULL, 0, &s1, &e);
        is_int(cairn_hasher_files_hashed(h), 300, "300 files hashed (in parallel)");
        manifest(h, a, "many", NULL, 0, &s2, &e);
        is_int(cairn_hasher_files_hashed(h), 300, "the second manifest of the same tree reads no file again");
        is_str(s2, s1, "and gives the same manifest");
        char want[65];
        cairn_sha256_hex("content 7", 9, want);
        char needle[128];
        snprintf(needle, sizeof(needle), "(File(many/f007 %s))", want);
        has_str(s1, needle, "a file's hash is the hash of its contents");
        /* A changed file is hashed again. */
        write_file("many/f007", "changed!!");
        free(s2);
        manifest(h, a, "many", NULL, 0, &s2, &e);
        is_int(cairn_hasher_files_hashed(h), 301, "a changed file is hashed again");
        ok(strcmp(s1, s2) != 0, "and the manifest changes");
        free(s1);
        free(s2);
        cairn_arena_free(a);
        cairn_hasher_free(h);
}

static void test_copy_ids(void)
{
        struct cairn_hasher *h = cairn_hasher_new(2);
        struct cairn_arena *a = cairn_arena_new();
        char *s, *e;
        struct cairn_manifest *items[2];
        items[0] = manifest(h, a, "file", NULL, 0, &s, &e);
        free(s);
        items[1] = manifest(h, a, "dir1", NULL, 0, &s, &e);
        free(s);
        struct cairn_spec_user u = { .uid = 1000, .gid = 1000 };
        char id[65], id2[65];
        struct cairn_buf mach = CAIRN_BUF_INIT;
        cairn_copy_id("BASEID", &u, true, items, 2, "/src/", id, &mach);
        char hf[65], h2[65], exp[1024];
        cairn_sha256_hex("file-data", 9, hf);
        cairn_sha256_hex("file2-data", 10, h2);
        snprintf(exp, sizeof(exp),
                 "((base BASEID)(user((uid 1000)(gid 1000)))(op(Copy_items(((File(file %s))"
                 "(Dir(dir1((Dir(dir1/dir2((File(dir1/dir2/file2 %s)))))))))/src/))))",
                 hf, h2);
        is_str(cairn_buf_str(&mach), exp, "reference 2.3: the copy-items key serialisation");
        char want[65];
        cairn_sha256_hex(mach.data, mach.len, want);
        is_str(id, want, "the copy ID is the hash of that text");
        cairn_buf_reset(&mach);
        cairn_copy_id("BASEID", &u, false, items, 1, "/src/./x", id2, &mach);
        snprintf(exp, sizeof(exp), "((base BASEID)(user((uid 1000)(gid 1000)))(op(Copy_item((File(file %s))/src/./x))))",
                 hf);
        is_str(cairn_buf_str(&mach), exp, "a single item keeps the unnormalised destination");
        cairn_buf_release(&mach);
        cairn_arena_free(a);
        cairn_hasher_free(h);
}

/* A copy as a tar (manifest/copy-tar.c, Windows' way and copy=container's):
 * each file's bytes must be the ones hashed, even when its times say it is
 * unchanged (Windows can set them back). */
static void test_copy_tar(void)
{
        struct cairn_hasher *h = cairn_hasher_new(1);
        struct cairn_arena *a = cairn_arena_new();
        char *s, *e;
        struct cairn_manifest *m = manifest(h, a, "file", NULL, 0, &s, &e);
        free(s);
        char tar[600];
        snprintf(tar, sizeof(tar), "%s.tar", tmpdir);
        struct cairn_error *err = NULL;
        int fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | CAIRN_O_BINARY, 0644);
        int r = m ? cairn_copy_to_tar(tmpdir, &m, 1, true, "C:/dst/", 0, 0, "ContainerAdministrator", fd, &err) : -1;
        close(fd);
        is_int(r, 0, "a file copied as a tar (%s)", err ? err->message : "");
        cairn_error_free(err);
        err = NULL;
        struct stat st;
        ok(stat(tar, &st) == 0 && st.st_size >= 3 * 512, "the tar has its entries");
        if (m) {
                m->hash[0] = m->hash[0] == '0' ? '1' : '0';   /* as if the file changed, its times put back */
                fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | CAIRN_O_BINARY, 0644);
                r = cairn_copy_to_tar(tmpdir, &m, 1, true, "C:/dst/", 0, 0, "ContainerAdministrator", fd, &err);
                close(fd);
        }
        ok(r < 0, "a file whose bytes are not the ones hashed fails the copy");
        has_str(err ? err->message : "", "changed while the build was copying it", "saying so");
        cairn_error_free(err);
        err = NULL;

        /* A UTF-8 name travels as a PAX path record of its bytes, not
         * re-encoded from a code page: a standard UTF-8 one, or on Windows
         * (base/tar.h) one marked hdrcharset=BINARY. */
        static const char utf8_name[] = "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem";
        char rel[128];
        mk("utf8");
        snprintf(rel, sizeof(rel), "utf8/%s", utf8_name);
        write_file_utf8(rel, "certificate\n");
        m = manifest(h, a, "utf8", NULL, 0, &s, &e);
        free(s);
        free(e);
        fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | CAIRN_O_BINARY, 0644);
        r = m ? cairn_copy_to_tar(tmpdir, &m, 1, true, "C:/dst/", 0, 0, "ContainerAdministrator", fd, &err) : -1;
        close(fd);
        is_int(r, 0, "a file with a UTF-8 name copied as a tar (%s)", err ? err->message : "");
        cairn_error_free(err);
        char data[8192] = "";
        FILE *f = fopen(tar, "rb");
        size_t n = f ? fread(data, 1, sizeof(data), f) : 0;
        if (f)
                fclose(f);
        char record[160];
        snprintf(record, sizeof(record), "path=dst/utf8/%s\n", utf8_name);
        ok(contains(data, n, record), "its name is a UTF-8 PAX path record");
#ifdef _WIN32
        ok(contains(data, n, "hdrcharset=BINARY"), "marked as bytes");
#else
        ok(n > 0 && !contains(data, n, "hdrcharset"), "with no hdrcharset");
#endif
        unlink(tar);
        cairn_arena_free(a);
        cairn_hasher_free(h);
}


/* --- the stat cache ----------------------------------------------------------- */

struct sc_run {
        char *sexp;          /* the manifest of sc/, and its copy ID */
        unsigned long hashed;
        size_t hits;
        unsigned mode_a;     /* sc/a's permission bits, as the walk saw them */
};

/* The manifest of tmpdir/sc as a new cairn process makes it: a fresh hasher,
 * with the stat cache in cache_path (saved after) or without one. */
static struct sc_run sc_manifest(const char *cache_path, bool use_cache)
{
        struct sc_run run = { 0 };
        struct cairn_hasher *h = cairn_hasher_new(2);
        struct cairn_stat_cache *c = use_cache ? cairn_stat_cache_load(cache_path, tmpdir) : NULL;
        cairn_hasher_set_stat_cache(h, c);
        struct cairn_arena *a = cairn_arena_new();
        char *s = NULL, *e = NULL;
        struct cairn_manifest *m = manifest(h, a, "sc", NULL, 0, &s, &e);
        if (m) {
                struct cairn_spec_user u = { .uid = 0, .gid = 0 };
                char id[65];
                cairn_copy_id("BASEID", &u, false, &m, 1, "/dst", id, NULL);
                run.sexp = cairn_xasprintf("%s %s", id, s);
                for (size_t i = 0; i < m->n_children; i++)
                        if (strcmp(m->children[i]->path, "sc/a") == 0)
                                run.mode_a = m->children[i]->st.mode;
        } else {
                run.sexp = cairn_xasprintf("error: %s", e);
        }
        free(s);
        free(e);
        run.hashed = cairn_hasher_files_hashed(h);
        if (c) {
                run.hits = cairn_stat_cache_hits(c);
                struct cairn_error *err = NULL;
                if (cairn_stat_cache_save(c, &err) < 0) {
                        tap_diag("save: %s", err->message);
                        cairn_error_free(err);
                }
        }
        cairn_stat_cache_free(c);
        cairn_arena_free(a);
        cairn_hasher_free(h);
        return run;
}

/* After a change: the cached manifest (and ID) is the uncached one, and the
 * changed file was read again. */
static void sc_same(const char *cache_path, const char *what, char **prev)
{
        struct sc_run fresh = sc_manifest(cache_path, false);
        struct sc_run cached = sc_manifest(cache_path, true);
        is_str(cached.sexp, fresh.sexp, "stat cache: %s: the same manifest and ID as without the cache", what);
        ok(strcmp(cached.sexp, *prev) != 0 || strstr(what, "mode"), "stat cache: %s: the manifest changed", what);
        free(*prev);
        *prev = cached.sexp;
        free(fresh.sexp);
}

static void wait_next_second(void)
{
        /* Past the racily-clean window: files made so far are older than
         * the second the next walk starts in. */
        struct timespec now;
        cairn_context_now(&now);
        long ns = 1000000000L - now.tv_nsec + 20000000L;
        struct timespec d = { 0, ns >= 1000000000L ? 999999999L : ns };
        nanosleep(&d, NULL);
}

static void test_stat_cache(void)
{
        char cache_path[600];
        snprintf(cache_path, sizeof(cache_path), "%s/stat-cache", tmpdir);
        mk("sc");
        mk("sc/dir");
        write_file("sc/a", "aaaa");
        write_file("sc/b", "bbbb");
        write_file("sc/dir/x", "xxxx");
        write_file("sc/dir/y", "yyyy");
        wait_next_second();
        struct sc_run r1 = sc_manifest(cache_path, true);
        is_int(r1.hashed, 4, "stat cache: the first build hashes every file");
        struct sc_run r2 = sc_manifest(cache_path, true);
        is_int(r2.hashed, 0, "stat cache: a new process with nothing changed reads no file");
        is_int(r2.hits, 4, "stat cache: every file is known");
        is_str(r2.sexp, r1.sexp, "stat cache: and the manifest and ID are the same");
        struct sc_run r0 = sc_manifest(cache_path, false);
        is_str(r0.sexp, r1.sexp, "stat cache: IDs with and without the cache are identical");
        free(r0.sexp);
        free(r2.sexp);
        char *prev = r1.sexp;

        /* Same size, modification time set back: the change time moved. */
        char path[600];
        snprintf(path, sizeof(path), "%s/sc/a", tmpdir);
        struct stat before;
        stat(path, &before);
        write_file("sc/a", "AAAA");
#ifndef _WIN32
        struct timespec t[2] = { before.st_atim, before.st_mtim };
        utimensat(AT_FDCWD, path, t, 0);
        struct stat after;
        stat(path, &after);
        ok(after.st_size == before.st_size && after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
                   after.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
           "stat cache: touch -d: size and modification time are as before");
#endif
        sc_same(cache_path, "contents changed, size and mtime restored", &prev);
        wait_next_second();
        free(sc_manifest(cache_path, true).sexp);

        /* Two files of one size swap names. */
        char pa[600], pb[600], pt[600];
        snprintf(pa, sizeof(pa), "%s/sc/a", tmpdir);
        snprintf(pb, sizeof(pb), "%s/sc/b", tmpdir);
        snprintf(pt, sizeof(pt), "%s/sc/t", tmpdir);
        rename(pa, pt);
        rename(pb, pa);
        rename(pt, pb);
        sc_same(cache_path, "two files renamed over each other", &prev);
        wait_next_second();
        free(sc_manifest(cache_path, true).sexp);

#ifndef _WIN32
        /* A mode change: the hash stays, the copy sees the new mode. */
        chmod(pa, 0755);
        struct sc_run m = sc_manifest(cache_path, true);
        is_int(m.mode_a & 0111, 0111, "stat cache: a mode change is seen by the copy");
        free(m.sexp);
        sc_same(cache_path, "mode changed", &prev);

        /* A file replaced by a symlink. */
        unlink(pb);
        symlink("a", pb);
        sc_same(cache_path, "a file replaced by a symlink", &prev);
        has_str(prev, "(Symlink(sc/b a))", "stat cache: the symlink is in the manifest");
#endif

        /* A directory deleted, then made again with the same names, sizes
         * and times but other contents. */
        struct cairn_error *err = NULL;
        char pd[600];
        snprintf(pd, sizeof(pd), "%s/sc/dir", tmpdir);
        cairn_rm_rf(pd, &err);
        sc_same(cache_path, "a directory deleted", &prev);
        ok(!strstr(prev, "sc/dir"), "stat cache: the deleted directory is gone from the manifest");
        mk("sc/dir");
        write_file("sc/dir/x", "XXXX");
        write_file("sc/dir/y", "YYYY");
        sc_same(cache_path, "a directory made again with other contents", &prev);
        free(prev);

        /* The racily-clean rule, and a damaged file, on the cache itself. */
        char p2[600];
        snprintf(p2, sizeof(p2), "%s/stat-cache-2", tmpdir);
        struct cairn_stat_cache *c = cairn_stat_cache_load(p2, "root");
        struct cairn_context_stat st = { .kind = CAIRN_CONTEXT_FILE, .mode = 0644, .size = 4,
                                         .mtime = { 1000, 5 }, .ctime = { 1000, 7 }, .dev = 1, .ino = 2 };
        char h[65];
        cairn_sha256_hex("data", 4, h);
        struct timespec same_second = { 1000, 900000000 }, later = { 1001, 0 };
        cairn_stat_cache_record(c, "racy", &st, h, same_second);
        st.ino = 3;
        cairn_stat_cache_record(c, "clean", &st, h, later);
        ok(cairn_stat_cache_save(c, NULL) == 0, "stat cache: saved");
        cairn_stat_cache_free(c);
        c = cairn_stat_cache_load(p2, "root");
        char got[65] = "";
        ok(cairn_stat_cache_lookup(c, "clean", &st, got) && strcmp(got, h) == 0,
           "stat cache: a file older than the walk's second is kept");
        st.ino = 2;
        ok(!cairn_stat_cache_lookup(c, "racy", &st, got), "stat cache: a file changed in the walk's second is not");
        st.ino = 3;
        st.ctime.tv_nsec++;
        ok(!cairn_stat_cache_lookup(c, "clean", &st, got), "stat cache: a nanosecond of change time is a change");
        cairn_stat_cache_free(c);
        c = cairn_stat_cache_load(p2, "another root");
        is_int(cairn_stat_cache_size(c), 0, "stat cache: a cache for another context is empty");
        cairn_stat_cache_free(c);
        FILE *f = fopen(p2, "r+b");
        fseek(f, 40, SEEK_SET);
        fputc('!', f);
        fclose(f);
        c = cairn_stat_cache_load(p2, "root");
        is_int(cairn_stat_cache_size(c), 0, "stat cache: a damaged cache is empty");
        cairn_stat_cache_free(c);
}

static const char *record_hash(const struct cairn_copy_files *f, const char *path)
{
        static struct cairn_copy_file e;
        return f && cairn_copy_files_get(f, path, &e) ? e.hash : NULL;
}

static void test_copy_record(void)
{
        char h1[65], h2[65];
        cairn_sha256_hex("one", 3, h1);
        cairn_sha256_hex("two", 3, h2);
        /* Version 1: "HASH PATH" lines alone. */
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "%s a/b", h1);
        cairn_buf_addc(&b, '\0');
        cairn_buf_printf(&b, "%s c d", h1);
        cairn_buf_addc(&b, '\0');
        cairn_buf_printf(&b, "%s a/b", h2);
        cairn_buf_addc(&b, '\0');
        struct cairn_copy_files *f = cairn_copy_files_parse(b.data, b.len);
        ok(f != NULL, "copy record: parsed");
        is_str(record_hash(f, "a/b"), h2, "copy record: a later line for a path wins");
        is_str(record_hash(f, "c d"), h1, "copy record: paths may hold spaces");
        struct cairn_copy_file e;
        ok(f && !cairn_copy_files_get(f, "a", &e), "copy record: an unknown path has no hash");
        ok(f && cairn_copy_files_get(f, "c d", &e) && !e.has_meta,
           "copy record: a version 1 line has no owner, mode or time");
        cairn_copy_files_free(f);
        ok(!cairn_copy_files_parse(b.data, b.len - 1), "copy record: a truncated record is refused");
        ok(!cairn_copy_files_parse("xyz a\0", 6), "copy record: a line without a hash is refused");
        f = cairn_copy_files_parse("", 0);
        ok(f && !cairn_copy_files_get(f, "a/b", &e), "copy record: an empty record is empty");
        cairn_copy_files_free(f);
        cairn_buf_release(&b);

        /* Version 2, as the copy writes it. */
        struct cairn_copy_file one = { .has_meta = true, .size = 12345678901, .mode = 0755,
                                       .uid = 4294967295u, .gid = 7, .mtime = { 1700000000, 999999999 } };
        struct cairn_copy_file two = { .has_meta = true, .size = 0, .mode = 0644, .uid = 0, .gid = 0,
                                       .mtime = { -2, 500000000 } };
        memcpy(one.hash, h1, sizeof(one.hash));
        memcpy(two.hash, h2, sizeof(two.hash));
        cairn_copy_files_add(&b, "a/b", &one);
        cairn_copy_files_add(&b, "caf\xc3\xa9 x", &two);
        cairn_copy_files_add(&b, "a/b", &two);
        cairn_copy_files_add(&b, "d/e", &one);
        f = cairn_copy_files_parse(b.data, b.len);
        ok(f && cairn_copy_files_get(f, "d/e", &e) && e.has_meta && strcmp(e.hash, h1) == 0 &&
                   e.size == 12345678901 && e.mode == 0755 && e.uid == 4294967295u && e.gid == 7 &&
                   e.mtime.tv_sec == 1700000000 && e.mtime.tv_nsec == 999999999,
           "copy record 2: a line reads back as written");
        ok(f && cairn_copy_files_get(f, "caf\xc3\xa9 x", &e) && e.mtime.tv_sec == -2 &&
                   e.mtime.tv_nsec == 500000000 && e.size == 0 && e.mode == 0644,
           "copy record 2: a time before 1970 and a UTF-8 path with a space read back");
        is_str(record_hash(f, "a/b"), h2, "copy record 2: a later line for a path wins");
        cairn_copy_files_free(f);
        /* Damaged lines: each makes the whole record refused. */
        static const char *const bad[] = {
                "  420 0 0 5 0 p",           /* no size */
                " 1 9999 0 0 5 0 p",         /* mode beyond 07777 */
                " 1 420 4294967296 0 5 0 p", /* uid beyond 32 bits */
                " 1 420 0 0 5 1000000000 p", /* nanoseconds beyond a second */
                " 1 420 0 0 5 0 ",           /* no path */
                " 1 420 0 0 5 0",            /* no path, no space */
                " 99999999999999999999 420 0 0 5 0 p", /* size overflows */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                struct cairn_buf d = CAIRN_BUF_INIT;
                cairn_buf_add(&d, "cairn copy-files 2", sizeof("cairn copy-files 2"));
                cairn_buf_printf(&d, "%s%s", h1, bad[i]);
                cairn_buf_addc(&d, '\0');
                char name[96];
                snprintf(name, sizeof(name), "copy record 2: damaged line %zu is refused", i);
                ok(!cairn_copy_files_parse(d.data, d.len), "%s", name);
                cairn_buf_release(&d);
        }
        cairn_buf_release(&b);
}

int main(void)
{
        cairn_tar_locale();   /* as loading libarchive does */
        test_manifest();
        test_hash_cache();
        test_copy_ids();
        test_copy_tar();
        test_stat_cache();
        test_copy_record();
        struct cairn_error *err = NULL;
        if (cairn_rm_rf(tmpdir, &err) < 0) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
        }
        return tap_done();
}
