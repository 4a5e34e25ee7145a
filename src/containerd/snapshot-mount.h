/* SPDX-License-Identifier: Apache-2.0 */
/* The containerd store's mounts (Linux; no-ops on Windows, where the shim
 * mounts a container's layers itself). */
#ifndef CAIRN_CONTAINERD_SNAPSHOT_MOUNT_H
#define CAIRN_CONTAINERD_SNAPSHOT_MOUNT_H

#include <stddef.h>

#include "base/error.h"
#include "containerd/ctr.h"

/* Mount what `ctr snapshot prepare --mounts` returned at target. */
int cairn_snapshot_mount(const struct cairn_ctr_mount *m, size_t n, const char *linkdir, const char *target,
                         struct cairn_error **err);
/* Unmount target: 0, or a negative errno. */
int cairn_snapshot_unmount(const char *target);
/* Unmount target if something is mounted there, warning on failure. */
void cairn_snapshot_unmount_quiet(const char *target);

#endif
