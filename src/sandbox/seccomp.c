/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* The filter, built by libseccomp and exported as BPF. */
static int build(struct sock_fprog *ret)
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
        /* Exported once, through a pipe (libseccomp 2.5 exports to an fd),
         * then loaded in each step with one system call. */
        int p[2] = { -1, -1 };
        if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
                r = -errno;
        if (r == 0) {
                fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
                r = seccomp_export_bpf(ctx, p[1]);
        }
        if (p[1] >= 0)
                close(p[1]);
        size_t len = 0, cap = 1 << 16;
        char *buf = r == 0 ? malloc(cap) : NULL;
        for (ssize_t n; r == 0 && buf && (n = read(p[0], buf + len, cap - len)) != 0;) {
                if (n < 0) {
                        r = -errno;
                        break;
                }
                len += (size_t) n;
                if (len == cap && !(buf = realloc(buf, cap *= 2)))
                        r = -ENOMEM;
        }
        if (p[0] >= 0)
                close(p[0]);
        seccomp_release(ctx);
        if (r == 0 && (!buf || len == 0 || len % sizeof(struct sock_filter)))
                r = -EINVAL;
        if (r < 0) {
                free(buf);
                return r;
        }
        ret->filter = (struct sock_filter *) buf;
        ret->len = (unsigned short) (len / sizeof(struct sock_filter));
        return 0;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sock_fprog program;
static int built;

static void build_once(void)
{
        built = build(&program);
}

int cairn_seccomp_prepare(void)
{
        pthread_once(&once, build_once);
        return built;
}

int cairn_seccomp_apply(void)
{
        int r = cairn_seccomp_prepare();
        if (r < 0)
                return r;
        return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0 ? -errno : 0;
}
