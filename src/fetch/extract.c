/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/tar.h"
#include "fetch/blob-stream.h"

/* Paths this layer has written, for opaque whiteouts. */
struct strset {
        char **slots;
        size_t cap, n;
};

static size_t str_hash(const char *s)
{
        size_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return h;
}

static void strset_add(struct strset *set, const char *s)
{
        if ((set->n + 1) * 2 > set->cap) {
                struct strset bigger = { cairn_xzalloc((set->cap ? set->cap * 2 : 1024) * sizeof(char *)),
                                         set->cap ? set->cap * 2 : 1024, 0 };
                for (size_t i = 0; i < set->cap; i++)
                        if (set->slots[i]) {
                                size_t k = str_hash(set->slots[i]) & (bigger.cap - 1);
                                while (bigger.slots[k])
                                        k = (k + 1) & (bigger.cap - 1);
                                bigger.slots[k] = set->slots[i];
                                bigger.n++;
                        }
                free(set->slots);
                *set = bigger;
        }
        size_t k = str_hash(s) & (set->cap - 1);
        for (; set->slots[k]; k = (k + 1) & (set->cap - 1))
                if (strcmp(set->slots[k], s) == 0)
                        return;
        set->slots[k] = cairn_xstrdup(s);
        set->n++;
}

static bool strset_has(const struct strset *set, const char *s)
{
        if (!set->cap)
                return false;
        for (size_t k = str_hash(s) & (set->cap - 1); set->slots[k]; k = (k + 1) & (set->cap - 1))
                if (strcmp(set->slots[k], s) == 0)
                        return true;
        return false;
}

static void strset_free(struct strset *set)
{
        for (size_t i = 0; i < set->cap; i++)
                free(set->slots[i]);
        free(set->slots);
}

struct layer {
        int rootfd;
        const char *path;
        struct strset written;
        char **opaque;       /* directories with an opaque whiteout */
        size_t n_opaque;
        uint64_t dropped_xattrs;
        struct cairn_error **err;
};

/* An entry's name in a message: escaped, for it comes from the layer. */
static int fail(struct layer *l, const char *entry, int errnum, const char *what)
{
        _cleanup_free_ char *shown = cairn_name_for_message(entry);
        if (errnum)
                return cairn_error_set(l->err, -errnum, "layer \"%s\": entry \"%s\": %s: %s", l->path, shown, what,
                                       strerror(errnum));
        return cairn_error_set(l->err, -EINVAL, "layer \"%s\": entry \"%s\": %s", l->path, shown, what);
}

/* Open the parent directory of rel inside the root, creating it. */
static int parent_of(struct layer *l, const char *rel, int *ret_dirfd, const char **ret_name)
{
        const char *slash = strrchr(rel, '/');
        if (slash) {
                _cleanup_free_ char *dir = cairn_xstrndup(rel, (size_t) (slash - rel));
                struct cairn_error *raw = NULL;   /* its message has the name unescaped */
                int r = cairn_mkdir_p_in_root(l->rootfd, dir, 0755, (uid_t) -1, (gid_t) -1, ret_dirfd, &raw);
                cairn_error_free(raw);
                if (r < 0)
                        return fail(l, rel, -r, "cannot create the directories it is in");
                *ret_name = slash + 1;
                return 0;
        }
        *ret_dirfd = fcntl(l->rootfd, F_DUPFD_CLOEXEC, 3);
        *ret_name = rel;
        return *ret_dirfd < 0 ? -errno : 0;
}

/* Remove whatever is at name in dirfd unless it is a directory we keep. */
static int clear_slot(struct layer *l, int dirfd, const char *name, bool keep_dir, const char *rel)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (keep_dir && S_ISDIR(st.st_mode))
                return 1;
        struct cairn_error *raw = NULL;   /* its message has the name unescaped */
        int r = cairn_rm_rf_at(dirfd, name, &raw);
        cairn_error_free(raw);
        if (r < 0)
                return fail(l, rel, -r, "cannot remove what was there");
        return 0;
}

/* Only what an image may say of a file: its own user.* attributes and its
 * capabilities.  Not trusted.* (which overlayfs reads as its own: an
 * opaque flag or a redirect a layer must not forge), nor security.* labels
 * (SELinux, IMA, ...). */
static bool xattr_allowed(const char *name)
{
        return strncmp(name, "user.", 5) == 0 || strcmp(name, "security.capability") == 0;
}

static void apply_xattrs(struct layer *l, int fd, struct archive_entry *e)
{
        const char *name;
        const void *value;
        size_t size;
        /* An archive may name one attribute twice (libarchive's pax
         * writer puts it in SCHILY.xattr and LIBARCHIVE.xattr records): a
         * name is counted once. */
        const char *seen[32];
        size_t n_seen = 0;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (xattr_allowed(name)) {
                        (void) fsetxattr(fd, name, value, size, 0);
                        continue;
                }
                bool again = false;
                for (size_t i = 0; i < n_seen && !again; i++)
                        again = strcmp(seen[i], name) == 0;
                if (!again) {
                        l->dropped_xattrs++;
                        if (n_seen < 32)
                                seen[n_seen++] = name;
                }
        }
}

static int write_entry(struct layer *l, struct archive *a, struct archive_entry *e, const char *rel,
                       uint64_t *bytes, uint64_t max_bytes)
{
        int dirfd = -1;
        const char *name = NULL;
        int r = parent_of(l, rel, &dirfd, &name);
        if (r < 0)
                return r;
        mode_t mode = archive_entry_perm(e);
        uid_t uid = (uid_t) archive_entry_uid(e);
        gid_t gid = (gid_t) archive_entry_gid(e);
        struct timespec times[2] = {
                { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
                { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
        };
        const char *hardlink = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (hardlink) {
                _cleanup_free_ char *target = cairn_path_normalise(hardlink);
                if (!target || !*target) {
                        r = fail(l, rel, 0, "hard link target escapes the root");
                        goto out;
                }
                int tdir;
                const char *tname;
                struct cairn_error *raw = NULL;   /* its message has the name unescaped */
                r = cairn_open_parent_in_root(l->rootfd, target, &tdir, &tname, &raw);
                cairn_error_free(raw);
                if (r < 0) {
                        r = fail(l, rel, -r, "cannot open the hard link's target");
                        goto out;
                }
                clear_slot(l, dirfd, name, false, rel);
                if (linkat(tdir, tname, dirfd, name, 0) < 0)
                        r = fail(l, rel, errno, "cannot create the hard link");
                close(tdir);
                goto out;
        }
        if (type == AE_IFDIR) {
                int kept = clear_slot(l, dirfd, name, true, rel);
                if (kept < 0) {
                        r = kept;
                        goto out;
                }
                if (!kept && mkdirat(dirfd, name, 0700) < 0) {
                        r = fail(l, rel, errno, "cannot create the directory");
                        goto out;
                }
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = fail(l, rel, errno, "cannot open the directory");
                        goto out;
                }
                (void) !fchown(fd, uid, gid);
                (void) !fchmod(fd, mode);
                apply_xattrs(l, fd, e);
                futimens(fd, times);
                close(fd);
                goto out;
        }
        if ((r = clear_slot(l, dirfd, name, false, rel)) < 0)
                goto out;
        if (type == AE_IFREG) {
                int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0) {
                        r = fail(l, rel, errno, "cannot create the file");
                        goto out;
                }
                const void *buf;
                size_t size;
                la_int64_t offset;
                int ar;
                while ((ar = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
                        *bytes += size;
                        if (*bytes > max_bytes) {
                                close(fd);
                                r = fail(l, rel, 0, "the layer holds more data than the limit");
                                goto out;
                        }
                        if (pwrite(fd, buf, size, offset) != (ssize_t) size) {
                                int en = errno;
                                close(fd);
                                r = fail(l, rel, en ? en : EIO, "cannot write the file");
                                goto out;
                        }
                }
                if (ar != ARCHIVE_EOF) {
                        close(fd);
                        _cleanup_free_ char *shown = cairn_name_for_message(rel);
                        r = cairn_error_set(l->err, -EIO, "layer \"%s\": entry \"%s\": %s", l->path, shown,
                                            archive_error_string(a));
                        goto out;
                }
                /* Sparse files end in a hole. */
                if (ftruncate(fd, archive_entry_size(e)) < 0) {
                        int en = errno;
                        close(fd);
                        r = fail(l, rel, en, "cannot size the file");
                        goto out;
                }
                (void) !fchown(fd, uid, gid);
                (void) !fchmod(fd, mode);   /* after chown, which clears setuid */
                apply_xattrs(l, fd, e);
                futimens(fd, times);
                close(fd);
        } else if (type == AE_IFLNK) {
                const char *target = archive_entry_symlink(e);
                if (!target || strlen(target) > 4096) {
                        r = fail(l, rel, 0, "bad symlink target");
                        goto out;
                }
                if (symlinkat(target, dirfd, name) < 0) {
                        r = fail(l, rel, errno, "cannot create the symlink");
                        goto out;
                }
                (void) !fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
                utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW);
        } else if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO) {
                dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
                if (mknodat(dirfd, name, type | mode, dev) < 0) {
                        /* Devices cannot be created everywhere (user
                         * namespaces); an image rarely needs them. */
                        if (errno != EPERM)
                                r = fail(l, rel, errno, "cannot create the special file");
                        goto out;
                }
                (void) !fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
                /* After chown, and whatever the umask took from mknod's mode. */
                (void) !fchmodat(dirfd, name, mode, 0);
                utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW);
        } else {
                r = fail(l, rel, 0, "unsupported entry type");
        }
out:
        close(dirfd);
        return r;
}

/* Hide what lower layers put in dir: delete every child this layer did not
 * write. */
static int apply_opaque(struct layer *l, const char *dir)
{
        int fd;
        if (*dir) {
                fd = cairn_open_in_root(l->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        } else {
                fd = fcntl(l->rootfd, F_DUPFD_CLOEXEC, 3);
        }
        if (fd < 0)
                return 0;
        _cleanup_close_ int dfd = fd;
        int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
        if (!d)
                return 0;
        int r = 0;
        for (struct dirent *de; (de = readdir(d)) && r >= 0;) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                _cleanup_free_ char *child = *dir ? cairn_xasprintf("%s/%s", dir, de->d_name) : cairn_xstrdup(de->d_name);
                if (!strset_has(&l->written, child))
                        r = clear_slot(l, dfd, de->d_name, false, child);
        }
        closedir(d);
        return r;
}

static struct archive *reader(void)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        return a;
}

/* Apply the opened archive a (the layer `path`, for messages); frees a. */
static int extract(int rootfd, struct archive *a, const char *path, const struct cairn_extract_limits *limits,
                   uint64_t *dropped, struct cairn_error **err)
{
        struct cairn_extract_limits def = CAIRN_EXTRACT_DEFAULT_LIMITS;
        if (!limits)
                limits = &def;
        struct layer l = { .rootfd = rootfd, .path = path, .err = err };
        uint64_t entries = 0, bytes = 0;
        int r = 0;
        struct archive_entry *e;
        int ar;
        while ((ar = cairn_tar_next_header(a, &e)) == ARCHIVE_OK) {
                if (++entries > limits->max_entries) {
                        r = cairn_error_set(err, -E2BIG, "layer \"%s\" has more than %llu entries", path,
                                            (unsigned long long) limits->max_entries);
                        break;
                }
                const char *name = archive_entry_pathname(e);
                if (!name || !*name || strlen(name) > 4096) {
                        r = cairn_error_set(err, -EINVAL, "layer \"%s\": an entry has no name or too long a name", path);
                        break;
                }
                _cleanup_free_ char *rel = cairn_path_normalise(name);
                if (!rel) {
                        _cleanup_free_ char *shown = cairn_name_for_message(name);
                        r = cairn_error_set(err, -EINVAL, "layer \"%s\": entry \"%s\" escapes the root (\"..\")", path,
                                            shown);
                        break;
                }
                if (!*rel)
                        continue;   /* the root itself */
                const char *base = strrchr(rel, '/');
                base = base ? base + 1 : rel;
                if (strncmp(base, ".wh.", 4) == 0) {
                        _cleanup_free_ char *dir = cairn_xstrndup(rel, (size_t) (base - rel - (base > rel ? 1 : 0)));
                        if (strcmp(base, ".wh..wh..opq") == 0) {
                                l.opaque = cairn_xreallocarray(l.opaque, l.n_opaque + 1, sizeof(char *));
                                l.opaque[l.n_opaque++] = cairn_xstrdup(dir);
                                continue;
                        }
                        _cleanup_free_ char *victim = *dir ? cairn_xasprintf("%s/%s", dir, base + 4)
                                                           : cairn_xstrdup(base + 4);
                        if (strcmp(base + 4, "..") == 0 || strcmp(base + 4, ".") == 0 || !base[4]) {
                                _cleanup_free_ char *shown = cairn_name_for_message(name);
                                r = cairn_error_set(err, -EINVAL, "layer \"%s\": bad whiteout \"%s\"", path, shown);
                                break;
                        }
                        int dirfd;
                        const char *vname;
                        struct cairn_error *ignored = NULL;
                        if (cairn_open_parent_in_root(rootfd, victim, &dirfd, &vname, &ignored) == 0) {
                                r = clear_slot(&l, dirfd, vname, false, victim);
                                close(dirfd);
                        }
                        cairn_error_free(ignored);
                        if (r < 0)
                                break;
                        continue;
                }
                /* The entry and the directories leading to it belong to this layer. */
                for (char *slash = rel; (slash = strchr(slash, '/')); slash++) {
                        *slash = '\0';
                        strset_add(&l.written, rel);
                        *slash = '/';
                }
                strset_add(&l.written, rel);
                if ((r = write_entry(&l, a, e, rel, &bytes, limits->max_bytes)) < 0)
                        break;
        }
        if (r == 0 && ar != ARCHIVE_EOF)
                r = cairn_error_set(err, -EIO, "cannot read the layer \"%s\": %s", path, archive_error_string(a));
        for (size_t i = 0; i < l.n_opaque; i++) {
                if (r == 0)
                        r = apply_opaque(&l, l.opaque[i]);
                free(l.opaque[i]);
        }
        free(l.opaque);
        strset_free(&l.written);
        archive_read_free(a);
        if (dropped)
                *dropped += l.dropped_xattrs;
        return r;
}

int cairn_extract_layer(int rootfd, const char *path, const struct cairn_extract_limits *limits, uint64_t *dropped,
                        struct cairn_error **err)
{
        int lr = cairn_tar_load(err);
        if (lr < 0)
                return lr;
        struct archive *a = reader();
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
                int r = cairn_error_set(err, -EIO, "cannot read the layer \"%s\": %s", path, archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        return extract(rootfd, a, path, limits, dropped, err);
}

struct stream_reader {
        struct cairn_blob_stream *stream;
        uint64_t offset;
        struct cairn_sha256 hash;   /* of every byte handed to libarchive */
        char buf[1 << 16];
};

static la_ssize_t stream_read(struct archive *a, void *ud, const void **ret)
{
        struct stream_reader *sr = ud;
        ssize_t n = cairn_blob_stream_read(sr->stream, sr->offset, sr->buf, sizeof(sr->buf));
        if (n < 0) {
                archive_set_error(a, (int) -n, "the download stopped: %s", strerror((int) -n));
                return ARCHIVE_FATAL;
        }
        sr->offset += (uint64_t) n;
        cairn_sha256_update(&sr->hash, sr->buf, (size_t) n);
        *ret = sr->buf;
        return n;
}

int cairn_extract_layer_stream(int rootfd, struct cairn_blob_stream *stream, const char *name, uint64_t *dropped,
                               const struct cairn_extract_limits *limits, struct cairn_error **err)
{
        int lr = cairn_tar_load(err);
        if (lr < 0)
                return lr;
        struct stream_reader *sr = cairn_xzalloc(sizeof(*sr));
        sr->stream = stream;
        cairn_sha256_init(&sr->hash);
        struct archive *a = reader();
        int r = 0;
        if (archive_read_open(a, sr, NULL, stream_read, NULL) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EIO, "cannot read the layer \"%s\": %s", name, archive_error_string(a));
                archive_read_free(a);
        } else {
                r = extract(rootfd, a, name, limits, dropped, err);
        }
        /* What was applied counts only if the bytes it came from are the
         * blob: the rest (tar padding, the compressor's trailer) is read and
         * everything read is hashed here, so a download that started over
         * with other bytes cannot slip in what the first attempt gave; and
         * the download itself must have ended verified. */
        ssize_t n;
        while ((n = cairn_blob_stream_read(stream, sr->offset, sr->buf, sizeof(sr->buf))) > 0) {
                cairn_sha256_update(&sr->hash, sr->buf, (size_t) n);
                sr->offset += (uint64_t) n;
        }
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&sr->hash, hex);
        const char *digest = cairn_blob_stream_digest(stream);
        int v = cairn_blob_stream_verdict(stream);
        if (v == 0 && (n < 0 || strncmp(digest, "sha256:", 7) != 0 || strcmp(digest + 7, hex) != 0))
                v = -EINVAL;
        if (v < 0) {
                cairn_error_free(err ? *err : NULL);
                if (err)
                        *err = NULL;
                r = cairn_error_set(err, v, "layer \"%s\" was not downloaded whole and verified", name);
        }
        free(sr);
        return r;
}
