/* SPDX-License-Identifier: Apache-2.0 */
#include "containerd/cni.h"

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>

/* In the child, before exec'ing ctr: CNI's fixed paths, privately. */
int cairn_cni_child_setup(void *ud)
{
        const struct cairn_cni_setup *c = ud;
        if (unshare(CLONE_NEWNS) < 0)
                return errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return errno;
        if (mount(c->conf_dir, CAIRN_CNI_CONF_DIR, NULL, MS_BIND, NULL) < 0)
                return errno;
        if (mount(c->state_dir, CAIRN_CNI_STATE_DIR, NULL, MS_BIND, NULL) < 0)
                return errno;
        return 0;
}
