/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>

static const char *const refused[] = {
        "setns",
        "keyctl", "add_key", "request_key",
        "bpf", "perf_event_open", "userfaultfd",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "create_module",
        "open_by_handle_at",
        "mount", "umount", "umount2", "pivot_root",
        "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        "swapon", "swapoff", "reboot", "acct", "syslog",
        "settimeofday", "clock_settime", "clock_adjtime", "stime",
        "iopl", "ioperm", "quotactl", "lookup_dcookie", "vhangup", "uselib", "nfsservctl",
};

int cairn_seccomp_apply(void)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r == 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
#if defined(__x86_64__)
        if (r == 0)
                r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
        if (r == 0)
                r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
#elif defined(__aarch64__)
        if (r == 0)
                r = seccomp_arch_add(ctx, SCMP_ARCH_ARM);
#endif
        for (size_t i = 0; r == 0 && i < sizeof(refused) / sizeof(refused[0]); i++) {
                int nr = seccomp_syscall_resolve_name(refused[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue;   /* not a call of these architectures */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                /* A call some architecture lacks (a pseudo number there). */
                if (r == -EDOM || r == -EINVAL)
                        r = 0;
        }
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}
