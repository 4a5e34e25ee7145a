/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A step's root file system seen from the host, for the stores whose root
 * the host can see (Linux).  A Windows container's root is only visible
 * inside it: engine/rootfs-win.c answers "not there" and does nothing.
 */
#ifndef CAIRN_ENGINE_ROOTFS_H
#define CAIRN_ENGINE_ROOTFS_H

#include <stdbool.h>

#include "base/compat.h"
#include "base/error.h"

/* A user name's uid and gid from the image's /etc/passwd. */
int cairn_root_resolve_user(const char *rootfs, const char *name, uid_t *uid, gid_t *gid, struct cairn_error **err);
/* Whether path exists in the root (before a run mounts over it). */
bool cairn_root_exists(const char *rootfs, const char *path);
/* Remove path if it is an empty file, or an empty directory: the mount
 * points a run had to create, so that none stays in the result. */
void cairn_root_remove_empty_file(const char *rootfs, const char *path);
void cairn_root_remove_empty_dir(const char *rootfs, const char *path);

#endif
