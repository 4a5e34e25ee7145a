/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "cli/cli.h"
#include "sandbox/sandbox.h"

int cairn_cli_limit_option(const char *verb, int opt, const char *arg, struct cairn_step_limits *l)
{
        const char *name = opt == CAIRN_OPT_MEMORY       ? "memory"
                         : opt == CAIRN_OPT_PIDS_LIMIT   ? "pids-limit"
                         : opt == CAIRN_OPT_CPUS         ? "cpus"
                         : opt == CAIRN_OPT_STEP_TIMEOUT ? "step-timeout"
                                                         : NULL;
        if (!name)
                return 0;
        const char *expected = NULL;
        if (cairn_step_limit_set(l, name, arg, &expected) < 0) {
                cairn_cli_usage_error(verb, "--%s takes %s, not \"%s\"", name, expected, arg);
                return -1;
        }
        return 1;
}
