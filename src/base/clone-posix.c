/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cairn_clone_tree (base/fs.h) on Linux: files are cloned with reflinks
 * (FICLONE) where the filesystem has them (btrfs, xfs, bcachefs), and copied
 * with copy_file_range otherwise; owners, modes, times, extended
 * attributes, hard links inside the tree, devices and FIFOs are kept.
 */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"

/* Hard links seen while cloning: source inode -> path in the copy. */
struct link_map {
        dev_t *dev;
        ino_t *ino;
        char **path;
        size_t n;
};

struct cloner {
        struct link_map links;
        struct cairn_error **err;
};

static void copy_xattrs(int from, int to)
{
        char names[65536];
        ssize_t n = flistxattr(from, names, sizeof(names));
        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen(names + off) + 1) {
                char value[65536];
                ssize_t v = fgetxattr(from, names + off, value, sizeof(value));
                if (v >= 0)
                        (void) fsetxattr(to, names + off, value, (size_t) v, 0);
        }
}

int cairn_clone_file_data(int in, int out, off_t size)
{
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        off_t left = size;
        while (left > 0) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t) left, 0);
                if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP))
                        break;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                left -= n;
        }
        if (left > 0) {
                char buf[1 << 16];
                ssize_t n;
                while ((n = read(in, buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t) n) != n)
                                return -EIO;
                if (n < 0)
                        return -errno;
        }
        return 0;
}

static int clone_entry(struct cloner *c, int sdir, int ddir, const char *name, const char *path);

static int clone_children(struct cloner *c, int sfd, int dfd, const char *path)
{
        int dup_fd = dup(sfd);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d)
                return cairn_error_set_errno(c->err, errno, "cannot list \"%s\"", path);
        int r = 0;
        for (struct dirent *de; (de = readdir(d)) && r >= 0;) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                _cleanup_free_ char *p = cairn_xasprintf("%s/%s", path, de->d_name);
                r = clone_entry(c, sfd, dfd, de->d_name, p);
        }
        closedir(d);
        return r;
}

static int clone_entry(struct cloner *c, int sdir, int ddir, const char *name, const char *path)
{
        struct stat st;
        if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cairn_error_set_errno(c->err, errno, "cannot read \"%s\"", path);
        struct timespec times[2] = { st.st_atim, st.st_mtim };
        if (S_ISDIR(st.st_mode)) {
                if (mkdirat(ddir, name, 0700) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot create \"%s\"", path);
                _cleanup_close_ int sfd = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0 || dfd < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot open \"%s\"", path);
                int r = clone_children(c, sfd, dfd, path);
                if (r < 0)
                        return r;
                (void) !fchown(dfd, st.st_uid, st.st_gid);
                (void) !fchmod(dfd, st.st_mode & 07777);
                copy_xattrs(sfd, dfd);
                futimens(dfd, times);
                return 0;
        }
        if (st.st_nlink > 1 && !S_ISDIR(st.st_mode)) {
                for (size_t i = 0; i < c->links.n; i++)
                        if (c->links.dev[i] == st.st_dev && c->links.ino[i] == st.st_ino) {
                                if (linkat(AT_FDCWD, c->links.path[i], ddir, name, 0) == 0)
                                        return 0;
                                break;
                        }
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (in < 0 || out < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot copy \"%s\"", path);
                int r = cairn_clone_file_data(in, out, st.st_size);
                if (r < 0)
                        return cairn_error_set_errno(c->err, -r, "cannot copy \"%s\"", path);
                /* chown drops setuid bits and file capabilities
                 * (security.capability): both are set after it. */
                (void) !fchown(out, st.st_uid, st.st_gid);
                (void) !fchmod(out, st.st_mode & 07777);
                copy_xattrs(in, out);
                futimens(out, times);
        } else if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
                if (n < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot read the link \"%s\"", path);
                target[n] = '\0';
                if (symlinkat(target, ddir, name) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot create \"%s\"", path);
                (void) !fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
                utimensat(ddir, name, times, AT_SYMLINK_NOFOLLOW);
        } else {
                if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot create \"%s\"", path);
                (void) !fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
                /* What the umask took from mknod's mode. */
                (void) !fchmodat(ddir, name, st.st_mode & 07777, 0);
                utimensat(ddir, name, times, AT_SYMLINK_NOFOLLOW);
        }
        if (st.st_nlink > 1) {
                struct link_map *m = &c->links;
                m->dev = cairn_xreallocarray(m->dev, m->n + 1, sizeof(*m->dev));
                m->ino = cairn_xreallocarray(m->ino, m->n + 1, sizeof(*m->ino));
                m->path = cairn_xreallocarray(m->path, m->n + 1, sizeof(*m->path));
                m->dev[m->n] = st.st_dev;
                m->ino[m->n] = st.st_ino;
                /* Recorded as an absolute path of the copy. */
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", ddir);
                char *dirpath = cairn_read_link(proc);
                m->path[m->n] = cairn_xasprintf("%s/%s", dirpath ? dirpath : ".", name);
                free(dirpath);
                m->n++;
        }
        return 0;
}

/* Clone directory src to dst (which must not exist). */
int cairn_clone_tree(const char *src, const char *dst, struct cairn_error **err)
{
        _cleanup_free_ char *parent = NULL;
        const char *slash = strrchr(dst, '/');
        parent = cairn_xstrndup(dst, (size_t) (slash - dst));
        _cleanup_free_ char *sparent = NULL;
        const char *sslash = strrchr(src, '/');
        sparent = cairn_xstrndup(src, (size_t) (sslash - src));
        _cleanup_close_ int sdir = open(sparent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int ddir = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sdir < 0 || ddir < 0)
                return cairn_error_set_errno(err, errno, "cannot clone \"%s\"", src);
        struct cloner c = { .err = err };
        int r;
        if (strcmp(sslash + 1, slash + 1) == 0) {
                r = clone_entry(&c, sdir, ddir, sslash + 1, src);
        } else {
                /* Different leaf names: clone into place by creating the
                 * top directory here and cloning its children. */
                struct stat st;
                if (stat(src, &st) < 0)
                        return cairn_error_set_errno(err, errno, "cannot read \"%s\"", src);
                if (mkdir(dst, st.st_mode & 07777) < 0)
                        return cairn_error_set_errno(err, errno, "cannot create \"%s\"", dst);
                _cleanup_close_ int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return cairn_error_set_errno(err, errno, "cannot open \"%s\"", dst);
                r = clone_children(&c, s, d, src);
                (void) !fchown(d, st.st_uid, st.st_gid);
                (void) !fchmod(d, st.st_mode & 07777);
        }
        for (size_t i = 0; i < c.links.n; i++)
                free(c.links.path[i]);
        free(c.links.path);
        free(c.links.dev);
        free(c.links.ino);
        return r;
}
