/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step's seccomp filter (libseccomp), Docker's default profile as the
 * reference for what to refuse: everything is allowed but what a build has
 * no use for and a kernel exploit often does.  Refused with EPERM: new user
 * namespaces (unshare and clone with CLONE_NEWUSER), setns, the keyrings
 * (keyctl, add_key, request_key), bpf, perf_event_open, userfaultfd,
 * io_uring, kexec, module loading, open_by_handle_at, mounting (mount,
 * umount2, pivot_root and the new mount API), swapon/swapoff, reboot,
 * acct, syslog, setting the clock, iopl/ioperm, quotactl; clone3 fails
 * with ENOSYS, as in Docker, so libc falls back to clone, whose flags the
 * filter can see.  Only this machine's architectures (x86-64 with i386 and
 * x32; aarch64 with arm) may make system calls; a foreign one gets EPERM.
 */
#ifndef CAIRN_SANDBOX_SECCOMP_H
#define CAIRN_SANDBOX_SECCOMP_H

/* Build the filter (once a process; libseccomp takes milliseconds), before
 * the step's processes fork.  Returns 0 or -errno. */
int cairn_seccomp_prepare(void);

/* Load the filter into the calling process: the last step before exec, in
 * a process that still has CAP_SYS_ADMIN, so no_new_privs is not needed
 * (and setuid programs such as sudo keep working).  One system call when
 * cairn_seccomp_prepare ran before the fork.  Returns 0 or -errno. */
int cairn_seccomp_apply(void);

#endif
