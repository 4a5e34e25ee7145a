/* SPDX-License-Identifier: Apache-2.0 */
/* manifest/copy.h on Windows. */
#include "manifest/copy.h"

#include <errno.h>

/* Copies go into a Windows container as a tar (cairn_copy_to_tar); its root
 * cannot be written from the host. */
int cairn_copy_into_root(const char *src_dir, struct cairn_manifest *const *items, size_t n_items, bool copy_items,
                         const char *dst, const char *rootfs, uid_t uid, gid_t gid, struct cairn_copy_reuse *reuse,
                         struct cairn_error **err)
{
        return cairn_error_set(err, -ENOTSUP, "copy to \"%s\": a Windows container's root is written from inside it",
                               dst);
}

void cairn_copy_plan_links(struct cairn_manifest *const *items, size_t n_items, bool copy_items, const char *dst,
                           uid_t uid, gid_t gid, const struct cairn_copy_reuse *reuse, struct cairn_copy_link **ret,
                           size_t *ret_n)
{
        *ret = NULL;
        *ret_n = 0;
}
