/* SPDX-License-Identifier: Apache-2.0 */
/* A copy step as a tar file (manifest/copy.h), for roots only the container
 * sees: portable, the sources read through manifest/context.h. */
#include "manifest/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/path.h"
#include "base/tar.h"
#include "manifest/context.h"

struct tarrer {
        struct cairn_context_dir *src;
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
        int r = cairn_tar_write_header(t->a, e) == ARCHIVE_OK
                        ? 0
                        : cairn_error_set(t->err, -EIO, "cannot write \"%s\" to the copy's tar: %s", rel,
                                          archive_error_string(t->a));
        archive_entry_free(e);
        return r;
}

static int tar_file(struct tarrer *t, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind == CAIRN_MANIFEST_SYMLINK) {
                struct archive_entry *e = tar_entry(t, rel, AE_IFLNK, 0777, &m->st.mtime);
                archive_entry_set_symlink(e, m->target);
                return tar_header(t, e, rel);
        }
        _cleanup_close_ int in = cairn_context_open_path(t->src, *m->path ? m->path : ".", &m->st);
        if (in < 0)
                return cairn_error_set(t->err, -ENOENT, "File \"%s\" not found in source directory", m->path);
        if (!cairn_manifest_unchanged(in, m))
                return cairn_manifest_changed(m, t->err);
        struct archive_entry *e = tar_entry(t, rel, AE_IFREG, (m->st.mode & 0111) ? 0755 : 0644, &m->st.mtime);
        archive_entry_set_size(e, m->st.size);
        int r = tar_header(t, e, rel);
        if (r < 0)
                return r;
        /* The bytes are read here anyway: they must be the ones hashed,
         * which holds even where a file's times can be set back. */
        struct cairn_sha256 sha;
        cairn_sha256_init(&sha);
        char buf[1 << 16];
        for (off_t left = m->st.size; r >= 0 && left > 0;) {
                ssize_t n = read(in, buf, left < (off_t) sizeof(buf) ? (size_t) left : sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        r = cairn_manifest_changed(m, t->err);
                else if (archive_write_data(t->a, buf, (size_t) n) != n)
                        r = cairn_error_set(t->err, -EIO, "cannot write \"%s\" to the copy's tar: %s", rel,
                                            archive_error_string(t->a));
                else
                        cairn_sha256_update(&sha, buf, (size_t) n);
                left -= n > 0 ? n : 0;
        }
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&sha, hex);
        if (r >= 0 && (strcmp(hex, m->hash) != 0 || !cairn_manifest_unchanged(in, m)))
                r = cairn_manifest_changed(m, t->err);
        return r;
}

static int tar_node(struct tarrer *t, const struct cairn_manifest *m, const char *rel)
{
        if (m->kind != CAIRN_MANIFEST_DIR)
                return tar_file(t, m, rel);
        int r = 0;
        if (*rel)
                r = tar_header(t, tar_entry(t, rel, AE_IFDIR, 0755, &m->st.mtime), rel);
        for (size_t i = 0; i < m->n_children && r >= 0; i++) {
                _cleanup_free_ char *sub = cairn_manifest_item_dest(m->children[i], rel);
                r = tar_node(t, m->children[i], sub);
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
        int lr = cairn_tar_load(err);
        if (lr < 0)
                return lr;
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
        int r = cairn_context_open_root(src_dir, &t.src);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot open the source directory \"%s\"", src_dir);
        t.a = archive_write_new();
        archive_write_set_format_pax_restricted(t.a);
        cairn_tar_writer_names(t.a);
        int fd = out_fd;
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
                        _cleanup_free_ char *rel = cairn_manifest_item_dest(items[i], target);
                        r = tar_node(&t, items[i], rel);
                }
        } else if (r >= 0 && !*target && items[0]->kind != CAIRN_MANIFEST_DIR) {
                r = cairn_error_set(err, -EINVAL, "cannot copy a file onto \"/\"");
        } else if (r >= 0) {
                r = tar_node(&t, items[0], target);
        }
        if (archive_write_close(t.a) != ARCHIVE_OK && r >= 0)
                r = cairn_error_set(err, -EIO, "cannot finish the copy's tar: %s", archive_error_string(t.a));
        archive_write_free(t.a);
        cairn_context_close(t.src);
        return r;
}
