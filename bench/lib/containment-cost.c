/* SPDX-License-Identifier: Apache-2.0 */
/* What containing a step costs: the step's cgroups (device allow-list and
 * limits) made and removed, and the seccomp filter loaded (in a forked
 * child, as the sandbox does).  Prints microseconds per step for each. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"

static double now_us(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e6 + (double) t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 200;
        struct cairn_step_limits limits = { 0 };
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
                struct cairn_step_cgroup cg;
                struct cairn_error *err = NULL;
                if (cairn_step_cgroup_create(CAIRN_CGROUP_ALL, &limits, &cg, &err) < 0) {
                        fprintf(stderr, "%s\n", err->message);
                        return 1;
                }
                cairn_step_cgroup_remove(&cg);
        }
        double t1 = now_us();
        /* Built once a process, before the fork, as the sandbox does. */
        double b0 = now_us();
        if (cairn_seccomp_prepare() < 0)
                return 1;
        double b1 = now_us();
        double fork_only = 0, with_filter = 0;
        for (int pass = 0; pass < 2; pass++) {
                double s = now_us();
                for (int i = 0; i < n; i++) {
                        pid_t pid = fork();
                        if (pid == 0)
                                _exit(pass ? (cairn_seccomp_apply() < 0) : 0);
                        int st;
                        waitpid(pid, &st, 0);
                }
                double e = now_us();
                if (pass)
                        with_filter = e - s;
                else
                        fork_only = e - s;
        }
        printf("cgroups %.0f\nseccomp %.0f\nseccomp-build %.0f\n", (t1 - t0) / n, (with_filter - fork_only) / n,
               b1 - b0);
        return 0;
}
