/* SPDX-License-Identifier: Apache-2.0 */
/* engine/rootfs.h on Windows: a container's root is not visible from the
 * host, so users go to the container by name and no mount point is left
 * to tidy from here. */
#include "engine/rootfs.h"

#include <errno.h>

int cairn_root_resolve_user(const char *rootfs, const char *name, uid_t *uid, gid_t *gid, struct cairn_error **err)
{
        return cairn_error_set(err, -ENOTSUP, "user \"%s\": a Windows container's users are resolved inside it", name);
}

bool cairn_root_exists(const char *rootfs, const char *path)
{
        return false;
}

void cairn_root_remove_empty_file(const char *rootfs, const char *path)
{
}

void cairn_root_remove_empty_dir(const char *rootfs, const char *path)
{
}
