/* SPDX-License-Identifier: Apache-2.0 */
/* build/rootfs.h on Windows: a container's root is not visible from the
 * host, so users go to the container by name and no mount point is left
 * to tidy from here. */
#include "build/rootfs.h"

#include "build/copy.h"

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

/* Copies go into a Windows container as a tar (cairn_copy_to_tar); its root
 * cannot be written from the host. */
int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_error **err)
{
        return cairn_error_set(err, -ENOTSUP, "copy to \"%s\": a Windows container's root is written from inside it",
                               dst);
}
