/* SPDX-License-Identifier: Apache-2.0 */
/* The Linux stores' mount helpers (store/store-mount-posix.c) on Windows:
 * nothing is mounted on the host there. */
#include "store/store-backend.h"

#include <errno.h>

void cairn_store_unmount_below(const char *root)
{
        (void) root;
}

int cairn_store_mount_overlay(const char *linkdir, char *const *lowers, size_t n, const char *upper, const char *work,
                              const char *merged, struct cairn_error **err)
{
        return cairn_error_set(err, -ENOTSUP, "overlayfs is Linux's");
}
