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
#include <sys/types.h>

#include "base/compat.h"
#include "base/error.h"
#include "manifest/manifest.h"

int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_error **err);

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
