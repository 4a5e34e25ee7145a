/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a copy step's files into the step's root filesystem.
 *
 * OBuilder streams a tar into `tar -xf -` inside the container; cairn writes
 * the files itself, so the image needs no tar, and every path is resolved
 * inside the root (openat2 RESOLVE_IN_ROOT): a symlink in the image cannot
 * send a write outside it.  The rules are OBuilder's (reference 1.5): files
 * get mode 0755 if any execute bit is set and 0644 otherwise, directories
 * 0755, symlinks are copied as symlinks, times are kept, and everything is
 * owned by the step's user.  Data moves in the kernel (reflink or
 * copy_file_range).  Each file must still be the version that was hashed --
 * same inode, size, modification and change time, before and after it is
 * copied -- so a file changed between hashing and copying fails the step
 * instead of caching the wrong contents.
 *
 * Unlike OBuilder, directories that already exist on the way to the
 * destination keep their owner and mode.
 */
#ifndef CAIRN_MANIFEST_COPY_H
#define CAIRN_MANIFEST_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "base/compat.h"
#include "base/error.h"
#include "base/strbuf.h"
#include "manifest/manifest.h"

/*
 * Incremental copies.  A copy lists what it wrote, its record: a first line
 * "cairn copy-files 2", then for each regular file "HASH SIZE MODE UID GID
 * MTIME-SECONDS MTIME-NANOSECONDS PATH" (its SHA-256, the size, permission
 * bits, owner and modification time the copy gave it, and its path in the
 * root without a leading "/"), in decimal, each line ending in a NUL, in the
 * order written, a later line for a path replacing an earlier one.  A record
 * of version 1 (cairn before 2026-12) has lines "HASH PATH" alone, with no
 * first line.  Given an earlier copy's record and result (from_root: a
 * directory laid out as the root holding what that copy wrote), a file
 * whose path and hash are in the record, and which is there in from_root
 * (a regular file of the same size, reached through no symlink), is not
 * copied from the source:
 *
 *  - link false: it is cloned from from_root's file (FICLONE; where the
 *    filesystem cannot, the copy goes on from the source as usual);
 *  - link true: before the copy, cairn_copy_plan_links lists the files that
 *    from_root has with the owner, mode and times the copy would give them
 *    (as its record says: a published result is never written again; a
 *    record of version 1 is checked against the files);
 *    the store hard-links them into the new root (cairn_store_prelink), and
 *    the copy leaves those in place (reuse->linked).
 *
 * The record is complete only if no file went through a symlink (a write
 * through one could have changed a file written before): record_ok says so,
 * and an incomplete record must not be kept.
 */
struct cairn_copy_files;

/* One file of a record. */
struct cairn_copy_file {
        char hash[CAIRN_SHA256_HEX_LEN + 1];
        bool has_meta;          /* false in a record of version 1 */
        int64_t size;
        uint32_t mode;          /* permission bits */
        uint32_t uid, gid;
        struct timespec mtime;
};

/* A record as written (len bytes), or the file at path (of at most max
 * bytes); NULL if it is missing or malformed. */
struct cairn_copy_files *cairn_copy_files_parse(const char *data, size_t len);
struct cairn_copy_files *cairn_copy_files_load(const char *path, size_t max);
void cairn_copy_files_free(struct cairn_copy_files *f);
/* The file at path into ret; false if there is none. */
bool cairn_copy_files_get(const struct cairn_copy_files *f, const char *path, struct cairn_copy_file *ret);
/* Append the line for path (its hash and meta) to a record in b, with the
 * first line if b is empty. */
void cairn_copy_files_add(struct cairn_buf *b, const char *path, const struct cairn_copy_file *file);

/* A file to hard-link from the earlier copy. */
struct cairn_copy_link {
        const struct cairn_manifest *m;
        char *path;        /* in the root, without a leading "/" */
};

struct cairn_copy_reuse {
        /* In: the earlier copy, or from_root NULL for none. */
        const char *from_root;
        const struct cairn_copy_files *from_files;
        bool link;
        /* In, with link: the files already linked into the root, sorted by
         * node address (cairn_copy_sort_links). */
        const struct cairn_manifest **linked;
        size_t n_linked;
        /* Out. */
        struct cairn_buf record;
        bool record_ok;
        size_t reused;     /* files taken from the earlier copy */
};

#define CAIRN_COPY_REUSE_INIT { .record = CAIRN_BUF_INIT, .record_ok = true }

void cairn_copy_reuse_release(struct cairn_copy_reuse *r);

/*
 * With link: which regular files of the copy (the arguments of
 * cairn_copy_into_root) from_root has at the same path with the same hash,
 * size, owner (uid:gid), mode and modification time as the copy would make
 * them: *ret (malloc'd, as each path), *ret_n.  None when two items land
 * on the same path (a later item could then replace an earlier one's
 * directory).
 */
void cairn_copy_plan_links(struct cairn_manifest *const *items, size_t n_items, bool copy_items, const char *dst,
                           uid_t uid, gid_t gid, const struct cairn_copy_reuse *reuse, struct cairn_copy_link **ret,
                           size_t *ret_n);
void cairn_copy_links_free(struct cairn_copy_link *links, size_t n);
/* Sort nodes (n of them) for reuse->linked. */
void cairn_copy_sort_links(const struct cairn_manifest **nodes, size_t n);

/* reuse: NULL, or the earlier copy and what this one wrote (above). */
int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_copy_reuse *reuse,
                         struct cairn_error **err);

/*
 * The same copy as a tar file written to out_fd, for a root that is only
 * visible inside the container (Windows): extracted there by `tar -xf`
 * from the root directory.  Names are relative to the root (a drive letter
 * and leading "/" are dropped, "\\" becomes "/"), every directory on the
 * way to the destination has its own entry (Windows' bsdtar does not create
 * parents), and entries are owned by uid:gid, or by owner_name (uid and gid
 * 380929, as OBuilder writes ContainerAdministrator's) when it is not NULL.
 * Modes and the same-version checks are cairn_copy_into_root's.
 */
int cairn_copy_to_tar(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                      const char *dst, uid_t uid, gid_t gid, const char *owner_name, int out_fd,
                      struct cairn_error **err);

#endif
