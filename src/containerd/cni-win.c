/* SPDX-License-Identifier: Apache-2.0 */
/* containerd/cni.h on Windows: networking is an HCN namespace there, made by
 * the hcn-namespace tool; ctr is never started in a mount namespace. */
#include "containerd/cni.h"

#include <errno.h>

int cairn_cni_child_setup(void *ud)
{
        (void) ud;
        return ENOSYS;
}
