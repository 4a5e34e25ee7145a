/* SPDX-License-Identifier: Apache-2.0 */
/* The Windows build's backends (see engine/backends.h): containerd and HCS,
 * which is store, sandbox and fetcher at once. */
#include "engine/backends.h"

#include "fetch/fetcher.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

const struct cairn_backend cairn_backends[] = {
        { "hcs", &cairn_store_hcs_ops, &cairn_sandbox_containerd_ops, &cairn_fetcher_containerd_ops },
};

const size_t cairn_n_backends = sizeof(cairn_backends) / sizeof(cairn_backends[0]);

const char cairn_default_store[] = "hcs:C:\\ProgramData\\cairn";
const char cairn_default_workdir[] = "C:/";
const char *const cairn_default_user_name = "ContainerAdministrator";
