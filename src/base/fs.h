/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem helpers.  None of them follows a symbolic link it did not ask
 * for: deletion never leaves the tree it was given, and the *_in_root
 * functions resolve every path as if `rootfd` were "/", so a symlink inside
 * an untrusted image (an absolute one, or one full of "..") cannot lead a
 * write outside it (openat2 with RESOLVE_IN_ROOT).
 */
#ifndef CAIRN_BASE_FS_H
#define CAIRN_BASE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "base/compat.h"
#include "base/error.h"
#include "base/path.h"

/* mkdir -p; existing directories are fine. */
int cairn_mkdir_p(const char *path, mode_t mode, struct cairn_error **err);

/* rm -rf of dirfd/name (dirfd may be AT_FDCWD); missing is fine.  Does not
 * follow symlinks and does not cross into other mounts' contents. */
int cairn_rm_rf_at(int dirfd, const char *name, struct cairn_error **err);
int cairn_rm_rf(const char *path, struct cairn_error **err);
/* A copy of the tree src at dst (which must not exist), as alike as the
 * platform allows: on Linux reflinks where the filesystem has them, with
 * owners, modes, times, xattrs, hard links and special files kept
 * (base/clone.c); on Windows files copied with their attributes. */
int cairn_clone_tree(const char *src, const char *dst, struct cairn_error **err);

/* rm -rf of everything inside dir, keeping dir. */
int cairn_remove_contents(const char *dir, struct cairn_error **err);

/* Flush the filesystem holding path (syncfs), and a directory's entries
 * (fsync), so a rename is durable.  Negative errno on failure.  Windows
 * has neither for a plain user; there they do nothing, and renames rely on
 * NTFS's journal. */
int cairn_fs_sync(const char *path);
int cairn_fs_sync_dir(const char *dir);

/* Write a whole file (created or truncated) with mode. */
int cairn_write_file(const char *path, const void *data, size_t len, mode_t mode, struct cairn_error **err);

/* Bytes a directory tree takes on disk (its blocks, not following links
 * nor leaving the tree); 0 if it cannot be read. */
unsigned long long cairn_disk_usage(const char *dir);

/* Space left for unprivileged users, and the size, of the filesystem
 * holding path. */
int cairn_fs_space(const char *path, unsigned long long *ret_avail, unsigned long long *ret_total);

/*
 * Whether path is on the volume Windows runs from: 1, or 0 with the
 * volumes' roots ("D:\\", "C:\\") in *ret_volume and *ret_system (the
 * caller frees).  Elsewhere, and when Windows cannot say, 1.
 */
int cairn_fs_on_system_volume(const char *path, char **ret_volume, char **ret_system);

/* When path was last modified. */
int cairn_file_mtime(const char *path, struct timespec *ret);

/*
 * A regular file of at most max bytes, read-only, for a file that is only
 * ever replaced (by rename), never written in place: mapped on Linux
 * (MAP_POPULATE: no copy, no page fault per 4 KiB, which costs more than
 * reading), read into memory on Windows.  An empty file gives a non-NULL
 * pointer and len 0.  Returns 0 or -errno (-EFBIG past max, -EINVAL for
 * not a regular file).  cairn_unmap_file releases it.
 */
int cairn_map_file(const char *path, size_t max, const char **ret_data, size_t *ret_len);
void cairn_unmap_file(const char *data, size_t len);

/* readlink into a new string; NULL if path is not a symlink. */
char *cairn_read_link(const char *path);


/* Open path inside the tree at rootfd, resolving it as if rootfd were "/". */
int cairn_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

#ifndef _WIN32
/* Open path below dirfd through no symlink (the last component included)
 * and never above it (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); -1
 * and errno on failure. */
int cairn_open_beneath(int dirfd, const char *path, int flags);
/* Copy size bytes from in to out: a reflink where the filesystem shares
 * blocks, copy_file_range, or read and write (base/clone-posix.c); 0 or
 * -errno. */
int cairn_clone_file_data(int in, int out, off_t size);
#endif

/*
 * Create directory path inside the root (and its missing parents, each with
 * mode and owned by uid:gid when uid != -1), and return an O_PATH|O_DIRECTORY
 * fd on it.  Existing components are left as they are; an existing component
 * that is not a directory is an error (-ENOTDIR).
 */
int cairn_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, int *ret_fd,
                          struct cairn_error **err);

/*
 * Open the parent directory of path inside the root (which must exist) and
 * return its fd and the last component (pointing into path).  For the
 * directory and file-creation calls that take (dirfd, name).
 */
int cairn_open_parent_in_root(int rootfd, const char *path, int *ret_dirfd, const char **ret_name,
                              struct cairn_error **err);

#endif
