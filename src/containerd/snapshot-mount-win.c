/* SPDX-License-Identifier: Apache-2.0 */
/* containerd/snapshot-mount.h on Windows: the shim mounts a container's layers
 * (windows.layerFolders); nothing is mounted on the host. */
#include "containerd/snapshot-mount.h"

#include <errno.h>

int cairn_snapshot_mount(const struct cairn_ctr_mount *m, size_t n, const char *linkdir, const char *target,
                         struct cairn_error **err)
{
        return cairn_error_set(err, -ENOTSUP, "snapshots are not mounted on the host on Windows");
}

int cairn_snapshot_unmount(const char *target)
{
        return 0;
}

void cairn_snapshot_unmount_quiet(const char *target)
{
}
