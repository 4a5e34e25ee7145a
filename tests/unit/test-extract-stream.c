/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A layer unpacked as it downloads (fetch/blob-stream.h and
 * cairn_extract_layer_stream): a producer thread plays the download,
 * writing a gzip'd tar into a file bit by bit, and the test checks that
 * entries appear before the download ends, that a download starting over in
 * a new file is followed, and that a failed verdict, a download that stops,
 * or an entry escaping the root each fail the layer, without hanging.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/hash.h"
#include "fetch/blob-stream.h"
#include "fetch/extract.h"
#include "tap.h"

#define BIG (1 << 20)

static char big[BIG];

struct layer {
        char *data;
        size_t len;
};

static void add(struct archive *a, const char *name, mode_t type, const void *data, size_t len)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t) len : 0);
        archive_write_header(a, e);
        if (len)
                archive_write_data(a, data, len);
        archive_entry_free(e);
}

/* A gzip'd tar: d/, d/first, d/big (1 MiB that does not compress), d/last
 * (d/first says "two" in the variant); or, when evil, one entry named
 * ../escape. */
static struct layer make_layer(bool evil, bool variant)
{
        struct layer l = { malloc(2 * BIG), 0 };
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_add_filter_gzip(a);
        archive_write_open_memory(a, l.data, 2 * BIG, &l.len);
        if (evil) {
                add(a, "d/", AE_IFDIR, NULL, 0);
                add(a, "../escape", AE_IFREG, "x", 1);
        } else {
                add(a, "d/", AE_IFDIR, NULL, 0);
                add(a, "d/first", AE_IFREG, variant ? "two\n" : "one\n", 4);
                add(a, "d/big", AE_IFREG, big, BIG);
                add(a, "d/last", AE_IFREG, "last\n", 5);
        }
        archive_write_close(a);
        archive_write_free(a);
        return l;
}

enum plan { WHOLE, WAIT_FOR_FIRST, RESTART, RESTART_OTHER, BAD_VERDICT, STOPS };

struct producer {
        struct cairn_blob_stream *s;
        struct layer layer;
        struct layer other;       /* RESTART_OTHER: what the first attempt gives */
        enum plan plan;
        const char *dir;          /* the scratch directory for the files */
        const char *root;         /* where the consumer unpacks */
        bool saw_first;           /* d/first was there before the download ended */
};

static void sleep_ms(long ms)
{
        struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
        nanosleep(&t, NULL);
}

static bool wait_for_first(const char *root)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s/d/first", root);
        for (int i = 0; i < 1000; i++) {
                if (access(p, F_OK) == 0)
                        return true;
                sleep_ms(10);
        }
        return false;
}

static int new_file(const char *dir, int n)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s/blob.%d", dir, n);
        return open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Write data[from..to) into fd in 16 KiB pieces, saying so each time. */
static void feed(struct cairn_blob_stream *s, int fd, const struct layer *l, size_t from, size_t to)
{
        for (size_t off = from; off < to;) {
                size_t n = to - off < 16384 ? to - off : 16384;
                if (pwrite(fd, l->data + off, n, (off_t) off) != (ssize_t) n)
                        abort();
                off += n;
                cairn_blob_stream_grew(s, off);
        }
}

static void *produce(void *arg)
{
        struct producer *p = arg;
        const struct layer *l = &p->layer;
        int fd = new_file(p->dir, 1);
        cairn_blob_stream_set_file(p->s, fd, 0);
        size_t part = 64 * 1024;
        switch (p->plan) {
        case WHOLE:
                feed(p->s, fd, l, 0, l->len);
                cairn_blob_stream_finish(p->s, 0);
                break;
        case WAIT_FOR_FIRST:
                feed(p->s, fd, l, 0, part);
                p->saw_first = wait_for_first(p->root);
                feed(p->s, fd, l, part, l->len);
                cairn_blob_stream_finish(p->s, 0);
                break;
        case RESTART:
        case RESTART_OTHER: {
                /* The server ignored Range: the blob again, in a new file.
                 * With RESTART_OTHER the first attempt gave other bytes (the
                 * download checks the second's digest): what was read from
                 * the first must not count. */
                feed(p->s, fd, p->plan == RESTART_OTHER ? &p->other : l, 0, part);
                p->saw_first = wait_for_first(p->root);
                int fd2 = new_file(p->dir, 2);
                cairn_blob_stream_set_file(p->s, fd2, 0);
                feed(p->s, fd2, l, 0, l->len);
                close(fd2);
                cairn_blob_stream_finish(p->s, 0);
                break;
        }
        case BAD_VERDICT:
                feed(p->s, fd, l, 0, l->len);
                sleep_ms(50);
                cairn_blob_stream_finish(p->s, -EINVAL);
                break;
        case STOPS:
                feed(p->s, fd, l, 0, part);
                sleep_ms(50);
                cairn_blob_stream_finish(p->s, -EIO);
                break;
        }
        close(fd);
        return NULL;
}

static bool file_is(const char *root, const char *rel, const void *want, size_t len)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        FILE *f = fopen(p, "rb");
        if (!f)
                return false;
        char *got = malloc(len + 1);
        size_t n = fread(got, 1, len + 1, f);
        fclose(f);
        bool same = n == len && memcmp(got, want, len) == 0;
        free(got);
        return same;
}

/* Unpack a layer from a stream fed by plan; returns the extraction's result
 * and its message (or "") in msg. */
static int unpack(const char *top, const char *name, enum plan plan, bool evil, char *msg, size_t msgsize,
                  bool *saw_first, char *root, size_t rootsize)
{
        snprintf(root, rootsize, "%s/%s/root", top, name);
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", top, name);
        struct cairn_error *err = NULL;
        if (cairn_mkdir_p(root, 0755, &err) < 0)
                abort();
        int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct layer layer = make_layer(evil, false);
        char hex[65], digest[80];
        cairn_sha256_hex(layer.data, layer.len, hex);
        snprintf(digest, sizeof(digest), "sha256:%s", hex);
        struct producer p = { cairn_blob_stream_new(digest), layer, make_layer(evil, true), plan, dir, root, false };
        pthread_t t;
        pthread_create(&t, NULL, produce, &p);
        int r = cairn_extract_layer_stream(rootfd, p.s, digest, NULL, NULL, &err);
        pthread_join(t, NULL);
        snprintf(msg, msgsize, "%s", err ? err->message : "");
        cairn_error_free(err);
        cairn_blob_stream_unref(p.s);
        free(p.layer.data);
        free(p.other.data);
        close(rootfd);
        if (saw_first)
                *saw_first = p.saw_first;
        return r;
}

int main(void)
{
        char top[] = "/tmp/cairn-test-extract-stream-XXXXXX";
        if (!mkdtemp(top))
                return 1;
        unsigned x = 12345;
        for (size_t i = 0; i < BIG; i++) {
                x = x * 1103515245 + 12345;
                big[i] = (char) (x >> 16);
        }
        char msg[1024], root[4096];
        bool saw = false;

        int r = unpack(top, "whole", WHOLE, false, msg, sizeof(msg), NULL, root, sizeof(root));
        is_int(r, 0, "a layer streamed as it is written unpacks (%s)", msg);
        ok(file_is(root, "d/first", "one\n", 4) && file_is(root, "d/big", big, BIG) &&
                   file_is(root, "d/last", "last\n", 5),
           "every file whole");

        r = unpack(top, "early", WAIT_FOR_FIRST, false, msg, sizeof(msg), &saw, root, sizeof(root));
        ok(saw, "its first entry is on disk while most of the layer has not arrived");
        is_int(r, 0, "and the rest follows (%s)", msg);
        ok(file_is(root, "d/big", big, BIG) && file_is(root, "d/last", "last\n", 5), "every file whole");

        r = unpack(top, "restart", RESTART, false, msg, sizeof(msg), &saw, root, sizeof(root));
        ok(saw, "a download starting over in a new file, after entries were applied from the first");
        is_int(r, 0, "is followed from where the reader was (%s)", msg);
        ok(file_is(root, "d/big", big, BIG) && file_is(root, "d/last", "last\n", 5), "every file whole");

        r = unpack(top, "other", RESTART_OTHER, false, msg, sizeof(msg), &saw, root, sizeof(root));
        ok(saw && r < 0, "a download starting over with other bytes than the reader had: the layer fails");
        has_str(msg, "was not downloaded whole and verified", "as what was applied is not the blob");

        r = unpack(top, "bad", BAD_VERDICT, false, msg, sizeof(msg), NULL, root, sizeof(root));
        ok(r < 0, "a layer whose blob then fails its digest check fails");
        has_str(msg, "was not downloaded whole and verified", "saying so");

        r = unpack(top, "stops", STOPS, false, msg, sizeof(msg), NULL, root, sizeof(root));
        ok(r < 0, "a download that stops half way fails the layer, without hanging");
        has_str(msg, "was not downloaded whole and verified", "saying so");

        r = unpack(top, "evil", WHOLE, true, msg, sizeof(msg), NULL, root, sizeof(root));
        ok(r < 0, "an entry escaping the root is refused when streamed too");
        has_str(msg, "escapes the root", "saying so");
        char outside[4096];
        snprintf(outside, sizeof(outside), "%s/evil/escape", top);
        ok(access(outside, F_OK) < 0, "and nothing is written outside the root");

        /* Read after finish: the end, or the failure. */
        struct cairn_blob_stream *s = cairn_blob_stream_new("sha256:x");
        char buf[16];
        cairn_blob_stream_finish(s, 0);
        is_int(cairn_blob_stream_read(s, 0, buf, sizeof(buf)), 0, "an empty finished blob reads as its end");
        cairn_blob_stream_finish(s, -EIO);
        is_int(cairn_blob_stream_verdict(s), 0, "only the first verdict counts");
        cairn_blob_stream_unref(s);

        struct cairn_error *err = NULL;
        cairn_rm_rf(top, &err);
        return tap_done();
}
