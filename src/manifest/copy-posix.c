/* SPDX-License-Identifier: Apache-2.0 */
#include "manifest/copy.h"

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
                struct timespec t[2] = { m->st.mtime, m->st.mtime };
                utimensat(parent, name, t, AT_SYMLINK_NOFOLLOW);
                return 0;
        }
        in = cairn_open_in_root(c->srcfd, *m->path ? m->path : ".", O_RDONLY | O_NOFOLLOW, 0);
        if (in < 0)
                return cairn_error_set(c->err, -ENOENT, "File \"%s\" not found in source directory", m->path);
        if (!cairn_manifest_unchanged(in, m))
                return cairn_manifest_changed(m, c->err);
        mode_t mode = (m->st.mode & 0111) ? 0755 : 0644;
        out = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cairn_error_set_errno(c->err, errno, "cannot create \"/%s\"", rel);
        if ((r = copy_data(in, out, m->st.size)) < 0)
                return cairn_error_set_errno(c->err, -r, "cannot copy \"%s\" to \"/%s\"", m->path, rel);
        /* The copy is of the hashed contents only if the file did not change
         * while it was copied either: its change time says so. */
        if (!cairn_manifest_unchanged(in, m))
                return cairn_manifest_changed(m, c->err);
        if (fchown(out, c->uid, c->gid) < 0 || fchmod(out, mode) < 0)
                return cairn_error_set_errno(c->err, errno, "cannot set the owner and mode of \"/%s\"", rel);
        struct timespec t[2] = { m->st.mtime, m->st.mtime };
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
                _cleanup_free_ char *sub = cairn_manifest_item_dest(m->children[i], rel);
                r = copy_node(c, m->children[i], sub);
        }
        if (r >= 0 && *rel) {
                struct timespec t[2] = { m->st.mtime, m->st.mtime };
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
                        _cleanup_free_ char *rel = cairn_manifest_item_dest(items[i], target);
                        r = copy_node(&c, items[i], rel);
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
