/* SPDX-License-Identifier: Apache-2.0 */
#include "build/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strbuf.h"

struct copier {
        int srcfd;       /* the source root */
        int rootfd;      /* the destination root */
        uid_t uid;
        gid_t gid;
        struct cairn_error **err;
};

/* Make sure directory rel exists in the destination; new ones are 0755 and
 * owned by the user, existing ones are left alone. */
static int ensure_dir(struct copier *c, const char *rel)
{
        if (!*rel)
                return 0;
        return cairn_mkdir_p_in_root(c->rootfd, rel, 0755, c->uid, c->gid, NULL, c->err);
}

static int open_parent(struct copier *c, const char *rel, int *ret_fd, const char **ret_name)
{
        const char *slash = strrchr(rel, '/');
        if (!slash) {
                *ret_fd = fcntl(c->rootfd, F_DUPFD_CLOEXEC, 3);
                *ret_name = rel;
                return *ret_fd < 0 ? cairn_error_set_errno(c->err, errno, "dup") : 0;
        }
        _cleanup_free_ char *dir = cairn_xstrndup(rel, (size_t) (slash - rel));
        *ret_name = slash + 1;
        return cairn_mkdir_p_in_root(c->rootfd, dir, 0755, c->uid, c->gid, ret_fd, c->err);
}

/* Whether fd is still the file the manifest hashed: same inode, size,
 * modification and change times.  Any write to a file updates its change
 * time, which cannot be set back. */
static bool same_version(int fd, const struct cairn_manifest *m)
{
        struct stat st;
        return fstat(fd, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino && st.st_size == m->size &&
               st.st_mtim.tv_sec == m->mtime.tv_sec && st.st_mtim.tv_nsec == m->mtime.tv_nsec &&
               st.st_ctim.tv_sec == m->ctime.tv_sec && st.st_ctim.tv_nsec == m->ctime.tv_nsec;
}

static int changed(struct copier *c, const struct cairn_manifest *m)
{
        return cairn_error_set(c->err, -EAGAIN,
                               "\"%s\" changed while the build was copying it; the source files must not change "
                               "during a build",
                               m->path);
}

/* Copy size bytes in the kernel: a reflink where the filesystem shares
 * blocks, copy_file_range otherwise, read/write as the last resort. */
static int copy_data(int in, int out, off_t size)
{
        if (size > 0 && ioctl(out, FICLONE, in) == 0)
                return 0;
        off_t left = size;
        while (left > 0) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t) left, 0);
                if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
                        break;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EAGAIN;   /* the file shrank */
                left -= n;
        }
        char buf[1 << 16];
        while (left > 0) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EAGAIN;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t) (n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        off += w;
                }
                left -= n;
        }
        return 0;
}

static int copy_file(struct copier *c, const struct cairn_manifest *m, const char *rel)
{
        int dirfd;
        const char *name;
        int r = open_parent(c, rel, &dirfd, &name);
        if (r < 0)
                return r;
        _cleanup_close_ int parent = dirfd;
        _cleanup_close_ int in = -1, out = -1;
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISDIR(st.st_mode))
                        return cairn_error_set(c->err, -EISDIR, "cannot copy \"%s\" over the directory \"/%s\"", m->path,
                                               rel);
                if (unlinkat(parent, name, 0) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot replace \"/%s\"", rel);
        }
        if (m->kind == CAIRN_MANIFEST_SYMLINK) {
                if (symlinkat(m->target, parent, name) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot create the symlink \"/%s\"", rel);
                if (fchownat(parent, name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot set the owner of \"/%s\"", rel);
                struct timespec t[2] = { m->mtime, m->mtime };
                utimensat(parent, name, t, AT_SYMLINK_NOFOLLOW);
                return 0;
        }
        in = cairn_open_in_root(c->srcfd, *m->path ? m->path : ".", O_RDONLY | O_NOFOLLOW, 0);
        if (in < 0)
                return cairn_error_set(c->err, -ENOENT, "File \"%s\" not found in source directory", m->path);
        if (!same_version(in, m))
                return changed(c, m);
        mode_t mode = (m->mode & 0111) ? 0755 : 0644;
        out = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cairn_error_set_errno(c->err, errno, "cannot create \"/%s\"", rel);
        if ((r = copy_data(in, out, m->size)) < 0)
                return cairn_error_set_errno(c->err, -r, "cannot copy \"%s\" to \"/%s\"", m->path, rel);
        /* The copy is of the hashed contents only if the file did not change
         * while it was copied either: its change time says so. */
        if (!same_version(in, m))
                return changed(c, m);
        if (fchown(out, c->uid, c->gid) < 0 || fchmod(out, mode) < 0)
                return cairn_error_set_errno(c->err, errno, "cannot set the owner and mode of \"/%s\"", rel);
        struct timespec t[2] = { m->mtime, m->mtime };
        futimens(out, t);
        return 0;
}

/* Copy manifest node m to rel in the destination. */
static int copy_node(struct copier *c, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind != CAIRN_MANIFEST_DIR)
                return copy_file(c, m, rel);
        int r = 0;
        if (*rel) {
                int fd;
                if ((r = cairn_mkdir_p_in_root(c->rootfd, rel, 0755, c->uid, c->gid, &fd, c->err)) < 0)
                        return r;
                /* A copied directory takes the copy's owner and mode, as a
                 * tar entry extracted by root would. */
                _cleanup_close_ int d = cairn_open_in_root(c->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
                close(fd);
                if (d < 0 || fchown(d, c->uid, c->gid) < 0 || fchmod(d, 0755) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot set up the directory \"/%s\"", rel);
        }
        for (size_t i = 0; i < m->n_children && r >= 0; i++) {
                const struct cairn_manifest *child = m->children[i];
                const char *base = strrchr(child->path, '/');
                base = base ? base + 1 : child->path;
                _cleanup_free_ char *sub = *rel ? cairn_xasprintf("%s/%s", rel, base) : cairn_xstrdup(base);
                r = copy_node(c, child, sub);
        }
        if (r >= 0 && *rel) {
                struct timespec t[2] = { m->mtime, m->mtime };
                _cleanup_close_ int d = cairn_open_in_root(c->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
                if (d >= 0)
                        futimens(d, t);
        }
        return r;
}

int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_error **err)
{
        struct copier c = { .uid = uid, .gid = gid, .err = err };
        c.srcfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c.srcfd < 0)
                return cairn_error_set_errno(err, errno, "cannot open the source directory \"%s\"", src_dir);
        c.rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c.rootfd < 0) {
                close(c.srcfd);
                return cairn_error_set_errno(err, errno, "cannot open the root \"%s\"", rootfs);
        }
        _cleanup_free_ char *target = cairn_path_normalise(dst);
        int r = 0;
        if (!target) {
                close(c.srcfd);
                close(c.rootfd);
                return cairn_error_set(err, -EINVAL, "the destination \"%s\" has a \"..\" component", dst);
        }
        if (copy_items) {
                r = ensure_dir(&c, target);
                for (size_t i = 0; i < n_items && r >= 0; i++) {
                        const struct cairn_manifest *m = items[i];
                        if (!*m->path) {
                                /* "." copies the contents of the source. */
                                r = copy_node(&c, m, target);
                                continue;
                        }
                        const char *base = strrchr(m->path, '/');
                        base = base ? base + 1 : m->path;
                        _cleanup_free_ char *rel = *target ? cairn_xasprintf("%s/%s", target, base) : cairn_xstrdup(base);
                        r = copy_node(&c, m, rel);
                }
        } else if (!*target && items[0]->kind != CAIRN_MANIFEST_DIR) {
                r = cairn_error_set(err, -EINVAL, "cannot copy a file onto \"/\"");
        } else {
                r = copy_node(&c, items[0], target);
        }
        close(c.srcfd);
        close(c.rootfd);
        return r;
}

/* --- as a tar file ------------------------------------------------------------ */

struct tarrer {
        int srcfd;
        struct archive *a;
        uid_t uid;
        gid_t gid;
        const char *owner;
        struct cairn_error **err;
};

static struct archive_entry *tar_entry(const struct tarrer *t, const char *rel, mode_t type, mode_t perm,
                                       const struct timespec *mtime)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, rel);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        if (t->owner) {
                /* OBuilder's numbers for Windows' ContainerAdministrator. */
                archive_entry_set_uid(e, 380929);
                archive_entry_set_gid(e, 380929);
                archive_entry_set_uname(e, t->owner);
                archive_entry_set_gname(e, t->owner);
        } else {
                archive_entry_set_uid(e, t->uid);
                archive_entry_set_gid(e, t->gid);
        }
        if (mtime)
                archive_entry_set_mtime(e, mtime->tv_sec, mtime->tv_nsec);
        return e;
}

static int tar_header(struct tarrer *t, struct archive_entry *e, const char *rel)
{
        int r = archive_write_header(t->a, e) == ARCHIVE_OK
                        ? 0
                        : cairn_error_set(t->err, -EIO, "cannot write \"%s\" to the copy's tar: %s", rel,
                                          archive_error_string(t->a));
        archive_entry_free(e);
        return r;
}

static int tar_file(struct tarrer *t, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind == CAIRN_MANIFEST_SYMLINK) {
                struct archive_entry *e = tar_entry(t, rel, AE_IFLNK, 0777, &m->mtime);
                archive_entry_set_symlink(e, m->target);
                return tar_header(t, e, rel);
        }
        _cleanup_close_ int in = cairn_open_in_root(t->srcfd, *m->path ? m->path : ".", O_RDONLY | O_NOFOLLOW, 0);
        if (in < 0)
                return cairn_error_set(t->err, -ENOENT, "File \"%s\" not found in source directory", m->path);
        struct copier c = { .err = t->err };
        if (!same_version(in, m))
                return changed(&c, m);
        struct archive_entry *e = tar_entry(t, rel, AE_IFREG, (m->mode & 0111) ? 0755 : 0644, &m->mtime);
        archive_entry_set_size(e, m->size);
        int r = tar_header(t, e, rel);
        char buf[1 << 16];
        for (off_t left = m->size; r >= 0 && left > 0;) {
                ssize_t n = read(in, buf, left < (off_t) sizeof(buf) ? (size_t) left : sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return changed(&c, m);
                if (archive_write_data(t->a, buf, (size_t) n) != n)
                        return cairn_error_set(t->err, -EIO, "cannot write \"%s\" to the copy's tar: %s", rel,
                                               archive_error_string(t->a));
                left -= n;
        }
        if (r >= 0 && !same_version(in, m))
                return changed(&c, m);
        return r;
}

static int tar_node(struct tarrer *t, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind != CAIRN_MANIFEST_DIR)
                return tar_file(t, m, rel);
        int r = 0;
        if (*rel)
                r = tar_header(t, tar_entry(t, rel, AE_IFDIR, 0755, &m->mtime), rel);
        for (size_t i = 0; i < m->n_children && r >= 0; i++) {
                const struct cairn_manifest *child = m->children[i];
                const char *base = strrchr(child->path, '/');
                base = base ? base + 1 : child->path;
                _cleanup_free_ char *sub = *rel ? cairn_xasprintf("%s/%s", rel, base) : cairn_xstrdup(base);
                r = tar_node(t, child, sub);
        }
        return r;
}

static ssize_t tar_write(struct archive *a, void *ud, const void *data, size_t len)
{
        int fd = *(int *) ud;
        size_t done = 0;
        while (done < len) {
                ssize_t n = write(fd, (const char *) data + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        archive_set_error(a, errno, "%s", strerror(errno));
                        return -1;
                }
                done += (size_t) n;
        }
        return (ssize_t) len;
}

int cairn_copy_to_tar(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                      const char *dst, uid_t uid, gid_t gid, const char *owner_name, int out_fd,
                      struct cairn_error **err)
{
        /* Windows' spelling of the destination: C:\a\b or C:/a/b. */
        _cleanup_free_ char *slashed = cairn_xstrdup(dst);
        for (char *p = slashed; *p; p++)
                if (*p == '\\')
                        *p = '/';
        const char *d = slashed;
        if (((d[0] >= 'A' && d[0] <= 'Z') || (d[0] >= 'a' && d[0] <= 'z')) && d[1] == ':')
                d += 2;
        _cleanup_free_ char *target = cairn_path_normalise(d);
        if (!target)
                return cairn_error_set(err, -EINVAL, "the destination \"%s\" has a \"..\" component", dst);
        struct tarrer t = { .uid = uid, .gid = gid, .owner = owner_name, .err = err };
        t.srcfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (t.srcfd < 0)
                return cairn_error_set_errno(err, errno, "cannot open the source directory \"%s\"", src_dir);
        t.a = archive_write_new();
        archive_write_set_format_pax_restricted(t.a);
        int fd = out_fd;
        int r = 0;
        if (archive_write_open2(t.a, &fd, NULL, tar_write, NULL, NULL) != ARCHIVE_OK)
                r = cairn_error_set(err, -EIO, "cannot start the copy's tar: %s", archive_error_string(t.a));
        /* The directories on the way to the destination (the last one is
         * the destination itself when items are copied into it). */
        const char *upto = target + strlen(target);
        if (!copy_items) {
                const char *slash = strrchr(target, '/');
                upto = slash ? slash : target;
        }
        for (const char *p = target; r >= 0 && p < upto;) {
                const char *slash = strchr(p, '/');
                const char *end = slash && slash < upto ? slash : upto;
                _cleanup_free_ char *dir = cairn_xstrndup(target, (size_t) (end - target));
                r = tar_header(&t, tar_entry(&t, dir, AE_IFDIR, 0755, NULL), dir);
                p = end < upto ? end + 1 : upto;
        }
        if (r >= 0 && copy_items) {
                for (size_t i = 0; i < n_items && r >= 0; i++) {
                        const struct cairn_manifest *m = items[i];
                        if (!*m->path) {
                                r = tar_node(&t, m, target);
                                continue;
                        }
                        const char *base = strrchr(m->path, '/');
                        base = base ? base + 1 : m->path;
                        _cleanup_free_ char *rel = *target ? cairn_xasprintf("%s/%s", target, base) : cairn_xstrdup(base);
                        r = tar_node(&t, m, rel);
                }
        } else if (r >= 0 && !*target && items[0]->kind != CAIRN_MANIFEST_DIR) {
                r = cairn_error_set(err, -EINVAL, "cannot copy a file onto \"/\"");
        } else if (r >= 0) {
                r = tar_node(&t, items[0], target);
        }
        if (archive_write_close(t.a) != ARCHIVE_OK && r >= 0)
                r = cairn_error_set(err, -EIO, "cannot finish the copy's tar: %s", archive_error_string(t.a));
        archive_write_free(t.a);
        close(t.srcfd);
        return r;
}
