/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctr's CNI on Linux: it reads only the fixed /etc/cni/net.d, so ctr runs
 * in a private mount namespace where the store's CNI config directory (and
 * the plugins' state) is mounted there.  Not used on Windows.
 */
#ifndef CAIRN_CONTAINERD_CNI_H
#define CAIRN_CONTAINERD_CNI_H

#define CAIRN_CNI_CONF_DIR "/etc/cni/net.d"
#define CAIRN_CNI_STATE_DIR "/var/lib/cni"

struct cairn_cni_setup {
        const char *conf_dir;
        const char *state_dir;
};

/* A child_setup for base/process.h (ud: struct cairn_cni_setup): 0, or an
 * errno value. */
int cairn_cni_child_setup(void *ud);

#endif
