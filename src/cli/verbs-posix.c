/* SPDX-License-Identifier: Apache-2.0 */
/* Every verb of cairn (Linux). */
#include <stddef.h>

#include "cli/cli.h"

const struct cairn_verb *const cairn_verbs[] = {
        &cairn_build_verb,
        &cairn_cache_verb,
        &cairn_check_verb,
        &cairn_clean_verb,
        &cairn_cluster_verb,
        &cairn_delete_verb,
        &cairn_dockerfile_verb,
        &cairn_du_verb,
        &cairn_export_verb,
        &cairn_fmt_verb,
        &cairn_fsck_verb,
        &cairn_healthcheck_verb,
        &cairn_image_verb,
        &cairn_images_verb,
        &cairn_inspect_verb,
        &cairn_job_verb,
        &cairn_ls_verb,
        &cairn_prune_verb,
        &cairn_pull_verb,
        &cairn_submit_verb,
        &cairn_worker_verb,
};

const size_t cairn_n_verbs = sizeof(cairn_verbs) / sizeof(cairn_verbs[0]);
