/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs of cairn.exe so far: the spec language and the HCN tool.  The
 * engine's verbs come with the Windows engine (docs/windows.md). */
#include <stddef.h>

#include "cli/cli.h"

extern const struct cairn_verb cairn_hcn_verb;

const struct cairn_verb *const cairn_verbs[] = {
        &cairn_check_verb,
        &cairn_dockerfile_verb,
        &cairn_fmt_verb,
        &cairn_hcn_verb,
};

const size_t cairn_n_verbs = sizeof(cairn_verbs) / sizeof(cairn_verbs[0]);
