/* SPDX-License-Identifier: Apache-2.0 */
/* A step's limits from text: the options of `build` and `healthcheck`, and
 * the store's config file, read by the same code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/units.h"
#include "sandbox/sandbox.h"

int cairn_step_limit_set(struct cairn_step_limits *l, const char *name, const char *value,
                         const char **ret_expected)
{
        bool none = strcmp(value, "none") == 0;
        char *end;
        if (strcmp(name, "memory") == 0) {
                unsigned long long v = 0;
                if (!none && (cairn_parse_size(value, &v) < 0 || v < 4 * 1024 * 1024)) {
                        *ret_expected = "a size of at least 4M (512M, 2G) or none";
                        return -EINVAL;
                }
                l->memory = v;
                l->set |= CAIRN_LIMIT_MEMORY;
        } else if (strcmp(name, "pids-limit") == 0) {
                long v = -1;
                if (!none) {
                        errno = 0;
                        v = strtol(value, &end, 10);
                        if (errno || *end || end == value || v < 1) {
                                *ret_expected = "a number of processes, at least 1, or none";
                                return -EINVAL;
                        }
                }
                l->pids = v;
                l->set |= CAIRN_LIMIT_PIDS;
        } else if (strcmp(name, "cpus") == 0) {
                double v = 0;
                if (!none) {
                        errno = 0;
                        v = strtod(value, &end);
                        if (errno || *end || end == value || !(v >= 0.01 && v <= 4096)) {
                                *ret_expected = "a number of CPUs (0.5, 2) or none";
                                return -EINVAL;
                        }
                }
                l->cpus = v;
                l->set |= CAIRN_LIMIT_CPUS;
        } else if (strcmp(name, "step-timeout") == 0) {
                long long v = 0;
                if (!none && (cairn_parse_duration_ms(value, &v) < 0 || v <= 0)) {
                        *ret_expected = "a duration (90s, 10m, 2h) or none";
                        return -EINVAL;
                }
                l->timeout_ms = v;
                l->set |= CAIRN_LIMIT_TIMEOUT;
        } else {
                return -ENOENT;
        }
        return 0;
}

void cairn_step_limits_merge(struct cairn_step_limits *ret, const struct cairn_step_limits *base,
                             const struct cairn_step_limits *over)
{
        static const struct cairn_step_limits zero;
        if (!base)
                base = &zero;
        if (!over)
                over = &zero;
        struct cairn_step_limits m = {
                .memory = over->set & CAIRN_LIMIT_MEMORY ? over->memory : base->memory,
                .pids = over->set & CAIRN_LIMIT_PIDS ? over->pids : base->pids,
                .cpus = over->set & CAIRN_LIMIT_CPUS ? over->cpus : base->cpus,
                .timeout_ms = over->set & CAIRN_LIMIT_TIMEOUT ? over->timeout_ms : base->timeout_ms,
                .set = base->set | over->set,
        };
        *ret = m;
}
