/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trees as tar layers: the layers `cairn export` writes (engine_tar_tree)
 * and a step's diff layer for the step cache (engine_diff_layer).
 *
 * One walk does all of it.  It goes through a tree and, when it has one,
 * the tree it is compared with (the parent's), side by side, each
 * directory's names in byte order, and writes what the extractor
 * (fetch/extract.h) needs to turn the parent into the tree: every entry
 * without a parent it writes; one only in the parent becomes an OCI
 * whiteout.  Without a parent it writes the whole tree, which is also what
 * an overlayfs layer needs: there, its whiteouts (0/0 character devices)
 * and opaque directories become OCI ".wh." entries.
 *
 * Entries are pax with nanosecond mtimes and without atime, ctime or
 * names of owners, so that the same tree gives the same tar.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/tar.h"
#include "engine/engine-internal.h"
#include "fetch/image.h"

#define BTRFS_MAGIC 0x9123683E

/* The paths of one multiply-linked regular file. */
struct link_group {
        dev_t dev;
        ino_t ino;
        struct stat st;
        char *written;       /* the path written with the file's data, or NULL */
        char **paths;        /* in walk order: paths[0] stands for the group */
        bool *emitted;
        size_t n;
};

/* Groups by inode, open addressing over group pointers. */
struct link_map {
        struct link_group **slots;
        size_t cap, n;
};

static size_t inode_hash(dev_t dev, ino_t ino, size_t cap)
{
        uint64_t h = ((uint64_t) ino * 0x9E3779B97F4A7C15ull) ^ ((uint64_t) dev * 0xC2B2AE3D27D4EB4Full);
        return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

static struct link_group *link_group(struct link_map *m, const struct stat *st)
{
        if ((m->n + 1) * 2 > m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 256;
                struct link_group **slots = cairn_xzalloc(cap * sizeof(*slots));
                for (size_t i = 0; i < m->cap; i++)
                        if (m->slots[i]) {
                                size_t k = inode_hash(m->slots[i]->dev, m->slots[i]->ino, cap);
                                while (slots[k])
                                        k = (k + 1) & (cap - 1);
                                slots[k] = m->slots[i];
                        }
                free(m->slots);
                m->slots = slots;
                m->cap = cap;
        }
        size_t k = inode_hash(st->st_dev, st->st_ino, m->cap);
        for (; m->slots[k]; k = (k + 1) & (m->cap - 1))
                if (m->slots[k]->dev == st->st_dev && m->slots[k]->ino == st->st_ino)
                        return m->slots[k];
        struct link_group *g = cairn_xzalloc(sizeof(*g));
        g->dev = st->st_dev;
        g->ino = st->st_ino;
        g->st = *st;
        m->slots[k] = g;
        m->n++;
        return g;
}

static void link_add(struct link_group *g, const char *path)
{
        g->paths = cairn_xreallocarray(g->paths, g->n + 1, sizeof(char *));
        g->emitted = cairn_xreallocarray(g->emitted, g->n + 1, sizeof(bool));
        g->paths[g->n] = cairn_xstrdup(path);
        g->emitted[g->n++] = false;
}

static void link_map_free(struct link_map *m)
{
        for (size_t i = 0; i < m->cap; i++) {
                struct link_group *g = m->slots[i];
                if (!g)
                        continue;
                for (size_t k = 0; k < g->n; k++)
                        free(g->paths[k]);
                free(g->paths);
                free(g->emitted);
                free(g->written);
                free(g);
        }
        free(m->slots);
}

struct walker {
        struct archive *a;
        struct cairn_error **err;
        int r;
        /* The tree is an overlayfs layer: translate its whiteouts. */
        bool overlay;
        /* It uses redirects or metacopy, which no tar can say: the walk
         * stops, with r = 1. */
        bool redirects;
        /* Both trees are btrfs subvolumes, where a snapshot keeps each
         * inode's number and ctime and any change moves the ctime on. */
        bool btrfs;
        struct link_map links;     /* the tree's */
        struct link_map plinks;    /* the parent's: paths[0] only */
        char *buf[2];              /* 64 KiB each: file data */
        char *names;               /* XATTR_LIST_MAX: attribute names */
        char *value;               /* XATTR_SIZE_MAX: one attribute's value */
};

#define BUF_SIZE (1 << 16)

static int walk_fail(struct walker *w, int errnum, const char *what, const char *path)
{
        if (w->r == 0)
                w->r = cairn_error_set_errno(w->err, errnum, "cannot %s \"/%s\"", what, path);
        return w->r;
}

static bool is_overlay_xattr(const char *name)
{
        return strncmp(name, "trusted.overlay.", 16) == 0;
}

/*
 * fd's extended attributes, sorted by name, as one comparable string
 * (name, NUL, 4-byte length, value), or only added to entry e when it is
 * not NULL.  overlayfs' own (trusted.overlay.*) are left out; a redirect or
 * a metacopy among them is noted.
 */
static int read_xattrs(struct walker *w, int fd, const char *path, struct archive_entry *e, struct cairn_buf *out)
{
        ssize_t n = flistxattr(fd, w->names, XATTR_LIST_MAX);
        if (n < 0)
                return errno == ENOTSUP ? 0 : walk_fail(w, errno, "list the extended attributes of", path);
        const char *sorted[256];
        size_t k = 0;
        for (ssize_t off = 0; off < n; off += (ssize_t) strlen(w->names + off) + 1) {
                const char *name = w->names + off;
                if (is_overlay_xattr(name)) {
                        if (w->overlay && (strcmp(name + 16, "redirect") == 0 || strcmp(name + 16, "metacopy") == 0))
                                w->redirects = true;
                        continue;
                }
                if (k == CAIRN_ARRAY_SIZE(sorted))
                        return w->r = cairn_error_set(w->err, -E2BIG, "\"/%s\" has too many extended attributes", path);
                size_t i = k++;
                for (; i > 0 && strcmp(sorted[i - 1], name) > 0; i--)
                        sorted[i] = sorted[i - 1];
                sorted[i] = name;
        }
        for (size_t i = 0; i < k; i++) {
                ssize_t v = fgetxattr(fd, sorted[i], w->value, XATTR_SIZE_MAX);
                if (v < 0) {
                        if (errno == ENODATA)
                                continue;
                        return walk_fail(w, errno, "read the extended attributes of", path);
                }
                if (e)
                        archive_entry_xattr_add_entry(e, sorted[i], w->value, (size_t) v);
                if (out) {
                        uint32_t len = (uint32_t) v;
                        cairn_buf_add(out, sorted[i], strlen(sorted[i]) + 1);
                        cairn_buf_add(out, &len, sizeof(len));
                        cairn_buf_add(out, w->value, (size_t) v);
                }
        }
        return 0;
}

static int same_xattrs(struct walker *w, int fd, int pfd, const char *path)
{
        struct cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
        int r = read_xattrs(w, fd, path, NULL, &a);
        if (r == 0)
                r = read_xattrs(w, pfd, path, NULL, &b);
        if (r == 0)
                r = a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
        cairn_buf_release(&a);
        cairn_buf_release(&b);
        return r;
}

/* A new entry for st at path: its stat without what would make the same
 * tree give another tar. */
static struct archive_entry *new_entry(const char *path, const struct stat *st)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_copy_stat(e, st);
        archive_entry_unset_atime(e);
        archive_entry_unset_ctime(e);
        archive_entry_set_pathname(e, path);
        return e;
}

static int put_header(struct walker *w, struct archive_entry *e)
{
        if (cairn_tar_write_header(w->a, e) != ARCHIVE_OK && w->r == 0)
                w->r = cairn_error_set(w->err, -EIO, "%s", archive_error_string(w->a));
        return w->r;
}

/* An OCI marker file: DIR/.wh.NAME, or DIR/.wh..wh..opq. */
static int put_marker(struct walker *w, const char *rel, const char *name)
{
        _cleanup_free_ char *path = *rel ? cairn_xasprintf("%s/%s", rel, name) : cairn_xstrdup(name);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        put_header(w, e);
        archive_entry_free(e);
        return w->r;
}

static int put_whiteout(struct walker *w, const char *rel, const char *name)
{
        _cleanup_free_ char *wh = cairn_xasprintf(".wh.%s", name);
        return put_marker(w, rel, wh);
}

static int put_hardlink(struct walker *w, const char *path, const struct stat *st, const char *target)
{
        struct archive_entry *e = new_entry(path, st);
        archive_entry_set_hardlink(e, target);
        archive_entry_set_size(e, 0);
        put_header(w, e);
        archive_entry_free(e);
        return w->r;
}

/* The regular file at path (open as fd), with its data; or a hard link to
 * where its group was written. */
static int put_file(struct walker *w, const char *path, const struct stat *st, int fd, struct link_group *g)
{
        if (g && g->written) {
                for (size_t k = 0; k < g->n; k++)
                        if (strcmp(g->paths[k], path) == 0)
                                g->emitted[k] = true;
                return put_hardlink(w, path, st, g->written);
        }
        struct archive_entry *e = new_entry(path, st);
        if (read_xattrs(w, fd, path, e, NULL) < 0) {
                archive_entry_free(e);
                return w->r;
        }
        if (lseek(fd, 0, SEEK_SET) < 0 || put_header(w, e) < 0) {
                archive_entry_free(e);
                return walk_fail(w, errno, "read", path);
        }
        archive_entry_free(e);
        /* Exactly the size in the header: libarchive pads a file that
         * shrank meanwhile and the view is read-only, so none grows. */
        uint64_t left = (uint64_t) st->st_size;
        while (left > 0) {
                ssize_t n = read(fd, w->buf[0], left < BUF_SIZE ? (size_t) left : BUF_SIZE);
                if (n < 0)
                        return walk_fail(w, errno, "read", path);
                if (n == 0)
                        break;
                if (archive_write_data(w->a, w->buf[0], (size_t) n) != n)
                        return w->r = cairn_error_set(w->err, -EIO, "%s", archive_error_string(w->a));
                left -= (uint64_t) n;
        }
        if (g) {
                g->written = cairn_xstrdup(path);
                for (size_t k = 0; k < g->n; k++)
                        if (strcmp(g->paths[k], path) == 0)
                                g->emitted[k] = true;
        }
        return w->r;
}

/* Whether two files' data are the same, reading both to the first
 * difference: 1 same, 0 not, < 0 error. */
static int same_data(struct walker *w, int fd, int pfd, const char *path)
{
        for (;;) {
                ssize_t n = read(fd, w->buf[0], BUF_SIZE);
                if (n < 0)
                        return walk_fail(w, errno, "read", path);
                size_t got = 0;
                while (got < (size_t) n) {
                        ssize_t m = read(pfd, w->buf[1] + got, (size_t) n - got);
                        if (m < 0)
                                return walk_fail(w, errno, "read the parent's", path);
                        if (m == 0)
                                return 0;
                        got += (size_t) m;
                }
                if (memcmp(w->buf[0], w->buf[1], (size_t) n) != 0)
                        return 0;
                if (n == 0) {
                        char c;
                        return read(pfd, &c, 1) == 0;
                }
        }
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* What both entries share whatever their type. */
static bool same_meta(const struct stat *a, const struct stat *b)
{
        return a->st_mode == b->st_mode && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
               same_time(&a->st_mtim, &b->st_mtim);
}

/* Open name in dirfd, never through a symlink, and check it is still what
 * was stat'ed. */
static int open_entry(struct walker *w, int dirfd, const char *name, const struct stat *st, const char *path)
{
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st->st_mode) ? O_DIRECTORY : O_NONBLOCK);
        int fd = openat(dirfd, name, flags);
        if (fd < 0)
                return walk_fail(w, errno, "open", path);
        struct stat now;
        if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev ||
            (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
                close(fd);
                return walk_fail(w, ESTALE, "open", path);
        }
        return fd;
}

static bool same_symlink(int dirfd, int pdirfd, const char *name)
{
        char a[PATH_MAX + 1], b[PATH_MAX + 1];
        ssize_t n = readlinkat(dirfd, name, a, sizeof(a));
        ssize_t m = readlinkat(pdirfd, name, b, sizeof(b));
        return n >= 0 && n == m && memcmp(a, b, (size_t) n) == 0;
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The sorted names in dirfd (without "." and ".."); *ret NULL-terminated. */
static int list_dir(struct walker *w, int dirfd, const char *rel, char ***ret, size_t *ret_n)
{
        int fd = dirfd < 0 ? -1 : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (dirfd >= 0 && !d) {
                if (fd >= 0)
                        close(fd);
                return walk_fail(w, errno, "list", rel);
        }
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *de; d && (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                names = cairn_xreallocarray(names, n + 2, sizeof(char *));
                names[n++] = cairn_xstrdup(de->d_name);
        }
        if (d)
                closedir(d);
        if (names) {
                names[n] = NULL;
                qsort(names, n, sizeof(char *), compare_names);
        }
        *ret = names;
        *ret_n = n;
        return 0;
}

static void walk(struct walker *w, int pdir, int dir, const char *rel);

/*
 * Entry name of dir (at path; pdir's entry of the same name, if any, was
 * stat'ed into *pst): written, or not, and walked into.
 */
static void visit(struct walker *w, int pdir, const struct stat *pst, int dir, const char *name, const char *path)
{
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                walk_fail(w, errno, "stat", path);
                return;
        }
        if (pst && (pst->st_mode & S_IFMT) != (st.st_mode & S_IFMT))
                pst = NULL;   /* another type: the extractor replaces it */
        if (w->overlay && !pst && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                const char *slash = strrchr(path, '/');
                _cleanup_free_ char *parent = slash ? cairn_xstrndup(path, (size_t) (slash - path)) : cairn_xstrdup("");
                put_whiteout(w, parent, name);
                return;
        }
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = open_entry(w, dir, name, &st, path);
                _cleanup_close_ int pfd = pst ? open_entry(w, pdir, name, pst, path) : -1;
                if (fd < 0 || (pst && pfd < 0))
                        return;
                int same = pst && same_meta(&st, pst) ? same_xattrs(w, fd, pfd, path) : 0;
                if (same < 0)
                        return;
                if (!same) {
                        struct archive_entry *e = new_entry(path, &st);
                        if (read_xattrs(w, fd, path, e, NULL) == 0)
                                put_header(w, e);
                        archive_entry_free(e);
                }
                char v[2];
                if (w->overlay && !pst && fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y')
                        put_marker(w, path, ".wh..wh..opq");
                if (w->r == 0 && !w->redirects)
                        walk(w, pfd, fd, path);
                return;
        }
        if (S_ISREG(st.st_mode)) {
                struct link_group *g = NULL;
                bool group_moved = false;
                if (st.st_nlink > 1) {
                        g = link_group(&w->links, &st);
                        link_add(g, path);
                }
                if (pst && pst->st_nlink > 1) {
                        struct link_group *pg = link_group(&w->plinks, pst);
                        if (!pg->n)
                                link_add(pg, path);
                        /* Its links are to other paths than before. */
                        group_moved = !g || strcmp(g->paths[0], pg->paths[0]) != 0;
                }
                bool changed = !pst || group_moved || (g && g->written) || !same_meta(&st, pst) ||
                               st.st_size != pst->st_size || st.st_nlink != pst->st_nlink;
                if (!changed && st.st_dev == pst->st_dev && st.st_ino == pst->st_ino)
                        return;
                if (!changed && w->btrfs && st.st_ino == pst->st_ino && same_time(&st.st_ctim, &pst->st_ctim))
                        return;
                _cleanup_close_ int fd = open_entry(w, dir, name, &st, path);
                if (fd < 0)
                        return;
                if (!changed) {
                        _cleanup_close_ int pfd = open_entry(w, pdir, name, pst, path);
                        if (pfd < 0)
                                return;
                        int same = same_xattrs(w, fd, pfd, path);
                        if (same > 0)
                                same = same_data(w, fd, pfd, path);
                        if (same != 0)
                                return;
                }
                put_file(w, path, &st, fd, g);
                return;
        }
        if (pst && same_meta(&st, pst) && st.st_rdev == pst->st_rdev &&
            (!S_ISLNK(st.st_mode) || same_symlink(dir, pdir, name)))
                return;
        struct archive_entry *e = new_entry(path, &st);
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t len = readlinkat(dir, name, target, sizeof(target) - 1);
                if (len < 0) {
                        archive_entry_free(e);
                        walk_fail(w, errno, "read the symlink", path);
                        return;
                }
                target[len] = '\0';
                archive_entry_set_symlink(e, target);
        } else if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
                archive_entry_free(e);
                return;   /* a socket: no tar holds one */
        }
        put_header(w, e);
        archive_entry_free(e);
}

/* What differs between pdir (the parent's directory at rel, or -1 where
 * it has none) and dir (-1: an empty one). */
static void walk(struct walker *w, int pdir, int dir, const char *rel)
{
        char **names = NULL, **pnames = NULL;
        size_t n = 0, pn = 0;
        if (list_dir(w, dir, rel, &names, &n) < 0 || list_dir(w, pdir, rel, &pnames, &pn) < 0)
                goto out;
        for (size_t i = 0, j = 0; (i < n || j < pn) && w->r == 0 && !w->redirects;) {
                int c = i == n ? 1 : j == pn ? -1 : strcmp(names[i], pnames[j]);
                if (c > 0) {
                        put_whiteout(w, rel, pnames[j++]);
                        continue;
                }
                const char *name = names[i++];
                _cleanup_free_ char *path = *rel ? cairn_xasprintf("%s/%s", rel, name) : cairn_xstrdup(name);
                struct stat pst;
                bool in_parent = false;
                if (c == 0) {
                        j++;
                        if (fstatat(pdir, name, &pst, AT_SYMLINK_NOFOLLOW) < 0) {
                                walk_fail(w, errno, "stat the parent's", path);
                                break;
                        }
                        in_parent = true;
                }
                visit(w, pdir, in_parent ? &pst : NULL, dir, name, path);
        }
out:
        if (names)
                cairn_strv_free(names);
        if (pnames)
                cairn_strv_free(pnames);
}

/* Write what differs between the trees at pdir (-1: none) and dir into
 * a; returns 1, writing nothing useful, when overlay and the layer uses
 * overlayfs redirects or metacopy. */
static int write_tree(struct archive *a, int pdir, int dir, bool overlay, bool btrfs, struct cairn_error **err)
{
        struct walker w = { .a = a, .err = err, .overlay = overlay, .btrfs = btrfs };
        w.buf[0] = cairn_xmalloc(BUF_SIZE);
        w.buf[1] = cairn_xmalloc(BUF_SIZE);
        w.names = cairn_xmalloc(XATTR_LIST_MAX);
        w.value = cairn_xmalloc(XATTR_SIZE_MAX);
        walk(&w, pdir, dir, "");
        /* The paths of written files' inodes seen before the first was
         * written, unchanged themselves: as links, or the link is lost. */
        for (size_t i = 0; i < w.links.cap && w.r == 0 && !w.redirects; i++) {
                struct link_group *g = w.links.slots[i];
                for (size_t k = 0; g && g->written && k < g->n && w.r == 0; k++)
                        if (!g->emitted[k])
                                put_hardlink(&w, g->paths[k], &g->st, g->written);
        }
        link_map_free(&w.links);
        link_map_free(&w.plinks);
        free(w.buf[0]);
        free(w.buf[1]);
        free(w.names);
        free(w.value);
        if (w.r == 0 && w.redirects)
                return 1;
        return w.r;
}

int engine_tar_tree(struct archive *a, int dirfd, bool overlay, struct cairn_error **err)
{
        int r = write_tree(a, -1, dirfd, overlay, false, err);
        if (r > 0)
                return cairn_error_set(err, -EXDEV, "the layer uses overlayfs redirects or metacopy, which a tar "
                                       "layer cannot hold");
        return r;
}

/* --- diff layers ---------------------------------------------------------------------- */

/*
 * The tar is written uncompressed by one writer, whose output is hashed
 * (the diff_id) and handed as the data of one raw entry to a second
 * writer, which gzips it into the blob writer (hashing it: the digest).
 * Both stages are libarchive's own, in one pass; the second only adds the
 * filter, so nothing but the gzip stream reaches the blob.
 */
struct diff_out {
        struct archive *gz;
        struct cairn_blob_writer *blob;
        struct cairn_sha256 tar_hash;
};

static la_ssize_t to_gzip(struct archive *a, void *ud, const void *buf, size_t len)
{
        struct diff_out *o = ud;
        cairn_sha256_update(&o->tar_hash, buf, len);
        if (archive_write_data(o->gz, buf, len) != (la_ssize_t) len) {
                archive_set_error(a, EIO, "%s", archive_error_string(o->gz));
                return -1;
        }
        return (la_ssize_t) len;
}

static la_ssize_t to_blob(struct archive *a, void *ud, const void *buf, size_t len)
{
        struct diff_out *o = ud;
        if (cairn_blob_writer_write(o->blob, buf, len) < 0) {
                archive_set_error(a, errno ? errno : EIO, "cannot write the blob");
                return -1;
        }
        return (la_ssize_t) len;
}

/* The diff of dir against pdir (-1: none) as a layer blob; 1 as
 * write_tree. */
static int write_diff(const char *blob_root, int pdir, int dir, bool overlay, bool btrfs, struct engine_layer *ret,
                      struct cairn_error **err)
{
        struct diff_out o = { 0 };
        cairn_sha256_init(&o.tar_hash);
        int r = cairn_blob_writer_open(blob_root, NULL, &o.blob, err);
        if (r < 0)
                return r;
        struct archive *tar = archive_write_new();
        o.gz = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_pathname(e, "layer.tar");
        /* No time in the gzip header: the same tar gives the same blob.
         * The fastest level: compressing is what a push costs the builder's
         * processors (level 6 took 4x as long on a 200 MB layer for a few
         * per cent less), and the registry is usually near. */
        if (archive_write_set_format_raw(o.gz) != ARCHIVE_OK || archive_write_add_filter_gzip(o.gz) != ARCHIVE_OK ||
            archive_write_set_filter_option(o.gz, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
            archive_write_set_filter_option(o.gz, "gzip", "compression-level", "1") != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(o.gz, 1) != ARCHIVE_OK ||
            archive_write_open2(o.gz, &o, NULL, to_blob, NULL, NULL) != ARCHIVE_OK ||
            archive_write_header(o.gz, e) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EIO, "cannot start the layer: %s", archive_error_string(o.gz));
                goto out;
        }
        if (archive_write_set_format_pax(tar) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(tar, 1) != ARCHIVE_OK ||
            archive_write_open2(tar, &o, NULL, to_gzip, NULL, NULL) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EIO, "cannot start the layer: %s", archive_error_string(tar));
                goto out;
        }
        cairn_tar_writer_names(tar);
        r = write_tree(tar, pdir, dir, overlay, btrfs, err);
        if (r == 0 && archive_write_close(tar) != ARCHIVE_OK)
                r = cairn_error_set(err, -EIO, "cannot write the layer: %s", archive_error_string(tar));
        if (r == 0 && archive_write_close(o.gz) != ARCHIVE_OK)
                r = cairn_error_set(err, -EIO, "cannot write the layer: %s", archive_error_string(o.gz));
out:
        archive_entry_free(e);
        archive_write_free(tar);
        archive_write_free(o.gz);
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&o.tar_hash, hex);
        if (r != 0) {
                cairn_blob_writer_abort(o.blob);
                return r;
        }
        uint64_t size = o.blob->size;
        _cleanup_free_ char *digest = NULL;
        if ((r = cairn_blob_writer_commit(o.blob, "a layer", &digest, err)) < 0)
                return r;
        snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
        snprintf(ret->diff_id, sizeof(ret->diff_id), "sha256:%s", hex);
        ret->size = size;
        return 0;
}

static bool on_btrfs(int fd)
{
        struct statfs sfs;
        return fstatfs(fd, &sfs) == 0 && (unsigned long) sfs.f_type == BTRFS_MAGIC;
}

/*
 * The layered store's fast path: id's own layer is the diff when parent is
 * the result right below it (or, for no parent, when id is a base).
 * Returns 1 when it does not apply.
 */
static int diff_own_layer(struct cairn_engine *e, const char *parent, const char *id, const char *blob_root,
                          struct engine_layer *ret, struct cairn_error **err)
{
        char **layers = NULL, **players = NULL;
        bool overlay = false;
        int r = cairn_store_layers(e->store, id, &layers, &overlay, err);
        if (r < 0)
                return r;
        size_t n = cairn_strv_length((const char *const *) layers);
        bool below = n == 1 && !parent;
        if (parent && n > 1 && (r = cairn_store_layers(e->store, parent, &players, &overlay, err)) == 0) {
                size_t pn = cairn_strv_length((const char *const *) players);
                below = pn + 1 == n && strcmp(players[pn - 1], layers[n - 2]) == 0;
        }
        if (r == 0)
                r = 1;
        if (below) {
                /* A step that wrote nothing in the root has no root in its
                 * layer: an empty tree. */
                _cleanup_close_ int fd = open(layers[n - 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = fd < 0 && errno != ENOENT ? cairn_error_set_errno(err, errno, "cannot open \"%s\"", layers[n - 1])
                                              : write_diff(blob_root, -1, fd, overlay, false, ret, err);
        }
        cairn_strv_free(layers);
        if (players)
                cairn_strv_free(players);
        return r;
}

/* Any store: id's whole root against parent's, through views. */
static int diff_views(struct cairn_engine *e, const char *parent, const char *id, const char *blob_root,
                      struct engine_layer *ret, struct cairn_error **err)
{
        char *root = NULL, *proot = NULL;
        void *view = NULL, *pview = NULL;
        int r = cairn_store_view(e->store, id, &root, &view, err);
        if (r < 0)
                return r;
        if (parent && (r = cairn_store_view(e->store, parent, &proot, &pview, err)) < 0) {
                cairn_store_view_release(e->store, view);
                free(root);
                return r;
        }
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int pfd = proot ? open(proot, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd < 0 || (proot && pfd < 0))
                r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", fd < 0 ? root : proot);
        else
                r = write_diff(blob_root, pfd, fd, false, pfd >= 0 && on_btrfs(fd) && on_btrfs(pfd), ret, err);
        if (fd >= 0)
                close(fd);
        if (pfd >= 0)
                close(pfd);
        if (pview)
                cairn_store_view_release(e->store, pview);
        cairn_store_view_release(e->store, view);
        free(root);
        free(proot);
        return r;
}

int engine_diff_layer(struct cairn_engine *e, const char *parent, const char *id, const char *blob_root,
                      struct engine_layer *ret, struct cairn_error **err)
{
        int r = cairn_tar_load(err);
        if (r < 0)
                return r;
        r = e->store->layered ? diff_own_layer(e, parent, id, blob_root, ret, err) : 1;
        if (r > 0)
                r = diff_views(e, parent, id, blob_root, ret, err);
        if (r < 0)
                cairn_error_prefix(err, "diff layer of %s", id);
        return r < 0 ? r : 0;
}
