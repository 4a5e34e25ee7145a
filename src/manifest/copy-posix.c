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
        struct cairn_copy_file f = {
                .has_meta = true, .size = m->st.size, .mode = (m->st.mode & 0111) ? 0755 : 0644,
                .uid = c->uid, .gid = c->gid, .mtime = m->st.mtime,
        };
        memcpy(f.hash, m->hash, sizeof(f.hash));
        cairn_copy_files_add(&c->reuse->record, rel, &f);
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
 * Clone file m, to be created as name in parent (rel in the root), from the
 * earlier copy (manifest/copy.h): 1 when done, 0 when it must be copied
 * from the source.
 */
static int reuse_file(struct copier *c, const struct cairn_manifest *m, const char *rel, int parent, const char *name)
{
        struct cairn_copy_reuse *u = c->reuse;
        struct cairn_copy_file was;
        if (!u->from_files || !cairn_copy_files_get(u->from_files, rel, &was) || strcmp(was.hash, m->hash) != 0)
                return 0;
        _cleanup_close_ int from = cairn_open_beneath(c->fromfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
        struct stat fs;
        if (from < 0 || fstat(from, &fs) < 0 || !S_ISREG(fs.st_mode) || fs.st_size != m->st.size)
                return 0;
        _cleanup_close_ int out = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cairn_error_set_errno(c->err, errno, "cannot create \"/%s\"", rel);
        if (ioctl(out, FICLONE, from) < 0) {
                /* Not on this filesystem: copy the rest from the source
                 * without trying again. */
                if (errno == EOPNOTSUPP || errno == EXDEV || errno == EINVAL || errno == ENOTTY) {
                        close(c->fromfd);
                        c->fromfd = -1;
                }
                unlinkat(parent, name, 0);
                return 0;
        }
        mode_t mode = (m->st.mode & 0111) ? 0755 : 0644;
        if (fchown(out, c->uid, c->gid) < 0 || fchmod(out, mode) < 0)
                return cairn_error_set_errno(c->err, errno, "cannot set the owner and mode of \"/%s\"", rel);
        struct timespec t[2] = { m->st.mtime, m->st.mtime };
        futimens(out, t);
        u->reused++;
        return 1;
}

static int cmp_node(const void *key, const void *elem)
{
        uintptr_t x = (uintptr_t) key, y = (uintptr_t) * (const void *const *) elem;
        return x < y ? -1 : x > y;
}

/* Whether the store has linked m into the root already. */
static bool linked(const struct copier *c, const struct cairn_manifest *m)
{
        const struct cairn_copy_reuse *u = c->reuse;
        return u && u->n_linked && bsearch(m, u->linked, u->n_linked, sizeof(*u->linked), cmp_node);
}

/* Copy m to name in the directory parent, rel in the root; is_direct: that
 * directory is reached through no symlink. */
static int copy_file(struct copier *c, const struct cairn_manifest *m, const char *rel, int parent, const char *name,
                     bool is_direct)
{
        int r = 0;
        _cleanup_close_ int in = -1, out = -1;
        struct stat st;
        if (linked(c, m)) {
                c->reuse->reused++;
                record_file(c, m, rel, is_direct);
                return 0;
        }
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
        if (c->reuse && c->fromfd >= 0 && !c->reuse->link && m->st.size > 0) {
                if ((r = reuse_file(c, m, rel, parent, name)) < 0)
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
        close(c.srcfd);
        close(c.rootfd);
        if (c.fromfd >= 0)
                close(c.fromfd);
        return r;
}

/* --- planning the links ------------------------------------------------------- */

struct planner {
        int fromfd;
        uid_t uid;
        gid_t gid;
        const struct cairn_copy_reuse *reuse;
        struct cairn_copy_link *links;
        size_t n, cap;
};

/* Whether from_root's file at rel, as its record or (version 1) fstatat of
 * name in dirfd says, is what the copy would make of m. */
static bool plan_same(const struct planner *p, const struct cairn_manifest *m, const char *rel, int dirfd,
                      const char *name)
{
        struct cairn_copy_file was;
        mode_t mode = (m->st.mode & 0111) ? 0755 : 0644;
        if (!cairn_copy_files_get(p->reuse->from_files, rel, &was) || strcmp(was.hash, m->hash) != 0)
                return false;
        if (was.has_meta)
                return was.size == m->st.size && was.uid == p->uid && was.gid == p->gid && was.mode == mode &&
                       was.mtime.tv_sec == m->st.mtime.tv_sec && was.mtime.tv_nsec == m->st.mtime.tv_nsec;
        struct stat fs;
        return dirfd >= 0 && fstatat(dirfd, name, &fs, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(fs.st_mode) &&
               fs.st_size == m->st.size && fs.st_uid == p->uid && fs.st_gid == p->gid && (fs.st_mode & 07777) == mode &&
               fs.st_mtim.tv_sec == m->st.mtime.tv_sec && fs.st_mtim.tv_nsec == m->st.mtime.tv_nsec;
}

static void plan_file(struct planner *p, const struct cairn_manifest *m, const char *rel, int dirfd, const char *name)
{
        /* A hard link shares the inode: it must already be what the copy
         * would make. */
        if (m->kind != CAIRN_MANIFEST_FILE || m->st.size == 0 || !plan_same(p, m, rel, dirfd, name))
                return;
        if (p->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 256;
                p->links = cairn_xreallocarray(p->links, p->cap, sizeof(*p->links));
        }
        p->links[p->n++] = (struct cairn_copy_link) { m, cairn_xstrdup(rel) };
}

static void plan_node(struct planner *p, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind != CAIRN_MANIFEST_DIR) {
                const char *slash = strrchr(rel, '/');
                _cleanup_free_ char *dir = slash ? cairn_xstrndup(rel, (size_t) (slash - rel)) : NULL;
                _cleanup_close_ int d = dir ? cairn_open_beneath(p->fromfd, dir, O_PATH | O_DIRECTORY)
                                            : fcntl(p->fromfd, F_DUPFD_CLOEXEC, 3);
                plan_file(p, m, rel, d, slash ? slash + 1 : rel);
                return;
        }
        _cleanup_close_ int d = *rel ? cairn_open_beneath(p->fromfd, rel, O_PATH | O_DIRECTORY)
                                     : fcntl(p->fromfd, F_DUPFD_CLOEXEC, 3);
        if (d < 0)
                return;
        for (size_t i = 0; i < m->n_children; i++) {
                const struct cairn_manifest *child = m->children[i];
                _cleanup_free_ char *sub = cairn_manifest_item_dest(child, rel);
                if (child->kind == CAIRN_MANIFEST_DIR) {
                        plan_node(p, child, sub);
                } else {
                        const char *slash = strrchr(sub, '/');
                        plan_file(p, child, sub, d, slash ? slash + 1 : sub);
                }
        }
}

void cairn_copy_plan_links(struct cairn_manifest *const *items, size_t n_items, bool copy_items, const char *dst,
                           uid_t uid, gid_t gid, const struct cairn_copy_reuse *reuse, struct cairn_copy_link **ret,
                           size_t *ret_n)
{
        *ret = NULL;
        *ret_n = 0;
        _cleanup_free_ char *target = cairn_path_normalise(dst);
        if (!target || !reuse->from_root || !reuse->from_files || n_items == 0)
                return;
        struct planner p = { .uid = uid, .gid = gid, .reuse = reuse };
        p.fromfd = open(reuse->from_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p.fromfd < 0)
                return;
        if (copy_items) {
                char **rels = cairn_xreallocarray(NULL, n_items, sizeof(*rels));
                bool clash = false;
                for (size_t i = 0; i < n_items; i++) {
                        rels[i] = cairn_manifest_item_dest(items[i], target);
                        for (size_t k = 0; k < i && !clash; k++)
                                clash = strcmp(rels[k], rels[i]) == 0;
                }
                for (size_t i = 0; i < n_items && !clash; i++)
                        plan_node(&p, items[i], rels[i]);
                for (size_t i = 0; i < n_items; i++)
                        free(rels[i]);
                free(rels);
        } else if (*target || items[0]->kind == CAIRN_MANIFEST_DIR) {
                plan_node(&p, items[0], target);
        }
        close(p.fromfd);
        *ret = p.links;
        *ret_n = p.n;
}
