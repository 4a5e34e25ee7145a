/* SPDX-License-Identifier: Apache-2.0 */
/* Linux's backends (see backends.h). */
#include "engine/backends.h"

#include "fetch/fetcher.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

const struct cairn_backend cairn_backends[] = {
        { "overlayfs", &cairn_store_overlayfs_ops, &cairn_sandbox_native_ops, &cairn_fetcher_default_ops },
        { "copy", &cairn_store_copy_ops, &cairn_sandbox_native_ops, &cairn_fetcher_default_ops },
        { "btrfs", &cairn_store_btrfs_ops, &cairn_sandbox_native_ops, &cairn_fetcher_default_ops },
        /* OBuilder's rsync store has the same layout. */
        { "rsync", &cairn_store_copy_ops, &cairn_sandbox_native_ops, &cairn_fetcher_default_ops },
        /* The same layout, on a filesystem that makes reflinks (xfs, btrfs). */
        { "xfs", &cairn_store_xfs_ops, &cairn_sandbox_native_ops, &cairn_fetcher_default_ops },
        /* containerd is store, sandbox and fetcher at once. */
        { "containerd", &cairn_store_containerd_ops, &cairn_sandbox_containerd_ops, &cairn_fetcher_containerd_ops },
        /* OBuilder's name for the same backend driving Windows containers. */
        { "hcs", &cairn_store_hcs_ops, &cairn_sandbox_containerd_ops, &cairn_fetcher_containerd_ops },
};

const size_t cairn_n_backends = sizeof(cairn_backends) / sizeof(cairn_backends[0]);

const char cairn_default_store[] = "overlayfs:/var/lib/cairn";
const char cairn_default_workdir[] = "/";
const char *const cairn_default_user_name = NULL;
