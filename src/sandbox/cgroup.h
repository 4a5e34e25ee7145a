/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A cgroup per step, holding the step's device allow-list: the second of
 * two independent means (the first: every writable mount a step sees is
 * nodev) by which a step can open no device of the host but null, zero,
 * full, random, urandom, tty, ptmx and its own ptys (runc's list, without
 * tun).  Any device node may still be made (package builds make nodes in
 * chroots); it cannot be read or written.
 *
 * Both hierarchies are used where the host has them:
 *   - cgroup v1's devices controller (devices.deny "a", then devices.allow),
 *   - cgroup v2, where a BPF_PROG_TYPE_CGROUP_DEVICE program attached to
 *     the step's cgroup decides (no controller needs enabling for it; on a
 *     hybrid host the v2 hierarchy is the one mounted at
 *     /sys/fs/cgroup/unified).
 * The step's cgroups sit below the ones cairn itself is in, named
 * cairn-PID-N.  A host with neither hierarchy cannot run steps.
 */
#ifndef CAIRN_SANDBOX_CGROUP_H
#define CAIRN_SANDBOX_CGROUP_H

#include <stdbool.h>

#include "base/error.h"

struct cairn_step_limits;

struct cairn_step_cgroup {
        char *v1_devices;      /* the v1 devices cgroup's directory, or NULL */
        char *v1_pids;         /* v1 pids, memory and cpu cgroups holding */
        char *v1_memory;       /* the step's limits, where v2 cannot */
        char *v1_cpu;
        char *v1_freezer;      /* v1 freezer: the step is frozen before it is killed */
        char *v2;              /* the v2 cgroup's directory, or NULL */
        int v2_fd;             /* open on v2 (for CLONE_INTO_CGROUP), or -1 */
        /* Where each limit is: a directory above, or NULL. */
        const char *pids_dir, *memory_dir;
        bool pids_v2, memory_v2;
};

/* Which hierarchies to use: every one the host has (the sandbox), or one
 * alone (tests, which check each means on its own). */
enum {
        CAIRN_CGROUP_V1 = 1,
        CAIRN_CGROUP_V2 = 2,
        CAIRN_CGROUP_ALL = 3,
};

/* Make a step's cgroups in the hierarchies `which` names that the host
 * has, with the allow-list in each; an error when it has none of them.
 * With limits (NULL: none at all, for tests), the step's memory, pids and
 * CPU limits too, each in v2 where its controller is enabled there, else
 * in v1's controller; a limit asked for that no hierarchy can hold is an
 * error, the default pids limit is then left out. */
int cairn_step_cgroup_create(unsigned which, const struct cairn_step_limits *limits, struct cairn_step_cgroup *ret,
                             struct cairn_error **err);

/* Whether a fork failed at the pids limit (pids.events "max"). */
bool cairn_step_cgroup_pids_exhausted(const struct cairn_step_cgroup *cg);
/* How many processes the OOM killer killed at the memory limit. */
long cairn_step_cgroup_oom_kills(const struct cairn_step_cgroup *cg);
/* The peak memory use of the step's memory cgroup, or 0 when unknown. */
unsigned long long cairn_step_cgroup_peak_memory(const struct cairn_step_cgroup *cg);
/* SIGKILL every process in the step's cgroups. */
void cairn_step_cgroup_kill(const struct cairn_step_cgroup *cg);

/* In the step's first process, before anything of the step runs: join the
 * cgroups (those CLONE_INTO_CGROUP did not already put it in: skip_v2).
 * Returns 0 or -errno; only open/write/close, for a process that must not
 * allocate. */
int cairn_step_cgroup_join(const struct cairn_step_cgroup *cg, bool skip_v2);

/* Remove the cgroups, waiting (briefly) for the step's last processes to
 * be gone from them; frees cg's contents. */
void cairn_step_cgroup_remove(struct cairn_step_cgroup *cg);

/* For tests: the hierarchies this host has. */
bool cairn_cgroup_has_v1_devices(void);
bool cairn_cgroup_has_v2(void);

#endif
