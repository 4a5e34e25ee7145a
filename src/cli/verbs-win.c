/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs of cairn.exe: the spec language, the engine's (on the HCS
 * backend), and the HCN tool.  Not here: the image store's (image, images,
 * pull, export), which belong to the Linux stores, and du. */
#include <stddef.h>

#include "cli/cli.h"

const struct cairn_verb *const cairn_verbs[] = {
        &cairn_build_verb,
        &cairn_check_verb,
        &cairn_clean_verb,
        &cairn_delete_verb,
        &cairn_dockerfile_verb,
        &cairn_fmt_verb,
        &cairn_fsck_verb,
        &cairn_hcn_verb,
        &cairn_healthcheck_verb,
        &cairn_inspect_verb,
        &cairn_ls_verb,
};

const size_t cairn_n_verbs = sizeof(cairn_verbs) / sizeof(cairn_verbs[0]);
