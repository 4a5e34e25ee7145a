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
        struct cairn_copy_reuse *reuse;   /* or NULL */
        int fromfd;      /* reuse->from_root, or -1 */
        struct cairn_error **err;
};

/* Whether the directory open at dirfd is rel in the root reached through
 * no symlink, so that what is written in it is at rel/NAME in the root's
 * own tree (an overlay's upper directory, say). */
static bool direct(const struct copier *c, int dirfd, const char *rel)
{
        if (!*rel)
                return true;
        _cleanup_close_ int fd = cairn_open_beneath(c->rootfd, rel, O_PATH | O_DIRECTORY);
        struct stat a, b;
        return fd >= 0 && fstat(fd, &a) == 0 && fstat(dirfd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* What this copy wrote at rel, for its record. */
static void record_file(struct copier *c, const struct cairn_manifest *m, const char *rel, bool is_direct)
{
        if (!c->reuse)
                return;
        if (!is_direct) {
                c->reuse->record_ok = false;
                return;
        }
        cairn_buf_printf(&c->reuse->record, "%s %s", m->hash, rel);
        cairn_buf_addc(&c->reuse->record, '\0');
}

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

/*
 * Take file m, to be created as name in parent (rel in the root), from the
 * earlier copy (manifest/copy.h): 1 when done, 0 when it must be copied
 * from the source.
 */
static int reuse_file(struct copier *c, const struct cairn_manifest *m, const char *rel, int parent, const char *name,
                      bool is_direct)
{
        struct cairn_copy_reuse *u = c->reuse;
        const char *hash = u->from_files ? cairn_copy_files_hash(u->from_files, rel) : NULL;
        if (!hash || strcmp(hash, m->hash) != 0 || (u->link && !is_direct))
                return 0;
        _cleanup_close_ int from = cairn_open_beneath(c->fromfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
        struct stat fs;
        if (from < 0 || fstat(from, &fs) < 0 || !S_ISREG(fs.st_mode) || fs.st_size != m->st.size)
                return 0;
        mode_t mode = (m->st.mode & 0111) ? 0755 : 0644;
        /* A hard link shares the inode: it must already be what the copy
         * would make. */
        if (u->link && (fs.st_uid != c->uid || fs.st_gid != c->gid || (fs.st_mode & 07777) != mode ||
                        fs.st_mtim.tv_sec != m->st.mtime.tv_sec || fs.st_mtim.tv_nsec != m->st.mtime.tv_nsec))
                return 0;
        _cleanup_close_ int out = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cairn_error_set_errno(c->err, errno, "cannot create \"/%s\"", rel);
        if (!u->link && ioctl(out, FICLONE, from) < 0) {
                /* Not on this filesystem: copy the rest from the source
                 * without trying again. */
                if (errno == EOPNOTSUPP || errno == EXDEV || errno == EINVAL || errno == ENOTTY) {
                        close(c->fromfd);
                        c->fromfd = -1;
                }
                unlinkat(parent, name, 0);
                return 0;
        }
        if (fchown(out, c->uid, c->gid) < 0 || fchmod(out, mode) < 0)
                return cairn_error_set_errno(c->err, errno, "cannot set the owner and mode of \"/%s\"", rel);
        struct timespec t[2] = { m->st.mtime, m->st.mtime };
        futimens(out, t);
        if (u->link) {
                struct stat ps;
                if (fstat(out, &ps) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot stat \"/%s\"", rel);
                u->placeholders = cairn_xreallocarray(u->placeholders, u->n_placeholders + 1, sizeof(*u->placeholders));
                u->placeholders[u->n_placeholders++] =
                        (struct cairn_copy_placeholder) { cairn_xstrdup(rel), (uint64_t) ps.st_ino };
        }
        u->reused++;
        return 1;
}

/* Copy m to name in the directory parent, rel in the root; is_direct: that
 * directory is reached through no symlink. */
static int copy_file(struct copier *c, const struct cairn_manifest *m, const char *rel, int parent, const char *name,
                     bool is_direct)
{
        int r = 0;
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
                if (c->reuse && !is_direct)
                        c->reuse->record_ok = false;
                if (symlinkat(m->target, parent, name) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot create the symlink \"/%s\"", rel);
                if (fchownat(parent, name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot set the owner of \"/%s\"", rel);
                struct timespec t[2] = { m->st.mtime, m->st.mtime };
                utimensat(parent, name, t, AT_SYMLINK_NOFOLLOW);
                return 0;
        }
        if (c->reuse && c->fromfd >= 0 && m->st.size > 0) {
                if ((r = reuse_file(c, m, rel, parent, name, is_direct)) < 0)
                        return r;
                if (r > 0) {
                        record_file(c, m, rel, is_direct);
                        return 0;
                }
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
        record_file(c, m, rel, is_direct);
        return 0;
}

/* A file or symlink item at rel: its parent directory is made as needed. */
static int copy_item_file(struct copier *c, const struct cairn_manifest *m, const char *rel)
{
        int dirfd;
        const char *name;
        int r = open_parent(c, rel, &dirfd, &name);
        if (r < 0)
                return r;
        _cleanup_close_ int parent = dirfd;
        bool is_direct = true;
        if (c->reuse) {
                _cleanup_free_ char *dir = cairn_xstrndup(rel, (size_t) (name - rel));
                if (*dir)
                        dir[strlen(dir) - 1] = '\0';
                is_direct = direct(c, parent, dir);
        }
        return copy_file(c, m, rel, parent, name, is_direct);
}

/* Copy manifest node m to rel in the destination. */
static int copy_node(struct copier *c, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind != CAIRN_MANIFEST_DIR)
                return copy_item_file(c, m, rel);
        int r = 0;
        _cleanup_close_ int d = -1;
        if (*rel) {
                int fd;
                if ((r = cairn_mkdir_p_in_root(c->rootfd, rel, 0755, c->uid, c->gid, &fd, c->err)) < 0)
                        return r;
                /* A copied directory takes the copy's owner and mode, as a
                 * tar entry extracted by root would. */
                d = cairn_open_in_root(c->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
                close(fd);
                if (d < 0 || fchown(d, c->uid, c->gid) < 0 || fchmod(d, 0755) < 0)
                        return cairn_error_set_errno(c->err, errno, "cannot set up the directory \"/%s\"", rel);
        } else {
                d = fcntl(c->rootfd, F_DUPFD_CLOEXEC, 3);
                if (d < 0)
                        return cairn_error_set_errno(c->err, errno, "dup");
        }
        /* The directory's files are made in it, opened once (resolved in
         * the root, as every path). */
        bool is_direct = c->reuse ? direct(c, d, rel) : true;
        for (size_t i = 0; i < m->n_children && r >= 0; i++) {
                const struct cairn_manifest *child = m->children[i];
                _cleanup_free_ char *sub = cairn_manifest_item_dest(child, rel);
                if (child->kind == CAIRN_MANIFEST_DIR) {
                        r = copy_node(c, child, sub);
                } else {
                        const char *slash = strrchr(sub, '/');
                        r = copy_file(c, child, sub, d, slash ? slash + 1 : sub, is_direct);
                }
        }
        if (r >= 0 && *rel) {
                struct timespec t[2] = { m->st.mtime, m->st.mtime };
                futimens(d, t);
        }
        return r;
}

/*
 * The end of a copy with placeholders: drop those a later write replaced;
 * if the record is incomplete (something was written through a symlink),
 * fill the others with their bytes now.
 */
static int finish_placeholders(struct copier *c)
{
        struct cairn_copy_reuse *u = c->reuse;
        size_t kept = 0;
        int r = 0;
        for (size_t i = 0; i < u->n_placeholders; i++) {
                struct cairn_copy_placeholder *p = &u->placeholders[i];
                _cleanup_close_ int fd = r < 0 ? -1 : cairn_open_beneath(c->rootfd, p->path, O_RDONLY | O_NONBLOCK);
                struct stat st;
                bool ours = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t) st.st_ino == p->ino &&
                            st.st_size == 0;
                if (ours && u->record_ok) {
                        u->placeholders[kept++] = *p;
                        continue;
                }
                if (ours) {
                        _cleanup_close_ int from = cairn_open_beneath(c->fromfd, p->path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
                        _cleanup_close_ int out = cairn_open_beneath(c->rootfd, p->path, O_WRONLY);
                        struct stat fs;
                        if (from < 0 || out < 0 || fstat(from, &fs) < 0)
                                r = cairn_error_set_errno(c->err, errno, "cannot copy \"/%s\"", p->path);
                        else if ((r = copy_data(from, out, fs.st_size)) < 0)
                                r = cairn_error_set_errno(c->err, -r, "cannot copy \"/%s\"", p->path);
                        else
                                futimens(out, (struct timespec[2]) { fs.st_mtim, fs.st_mtim });
                }
                free(p->path);
        }
        u->n_placeholders = kept;
        return r;
}

int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_copy_reuse *reuse,
                         struct cairn_error **err)
{
        struct copier c = { .uid = uid, .gid = gid, .reuse = reuse, .fromfd = -1, .err = err };
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
        /* Without the earlier result, every file is copied. */
        if (reuse && reuse->from_root)
                c.fromfd = open(reuse->from_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
        if (r >= 0 && reuse && reuse->n_placeholders)
                r = finish_placeholders(&c);
        close(c.srcfd);
        close(c.rootfd);
        if (c.fromfd >= 0)
                close(c.fromfd);
        return r;
}
