/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run inside a step (statically linked, so any root can run it): says how
 * the kernel answers calls a step should not be able to make, one line
 * each, "NAME=ok" or "NAME=ERRNO-NAME", and what the step inherited:
 * "session-keyring=ID" and "open-fds-above-2=N".  The build tests compare
 * it with the same program run outside cairn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void say(const char *name, long r)
{
        if (r >= 0)
                printf("%s=ok\n", name);
        else
                printf("%s=%s\n", name, errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : strerrorname_np(errno));
}

int main(void)
{
        say("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
        say("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
        say("add_key", syscall(SYS_add_key, "user", "cairn-probe", "x", 1, KEY_SPEC_SESSION_KEYRING));
        say("bpf", syscall(SYS_bpf, 0, NULL, 0));
        say("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
        say("userfaultfd", syscall(SYS_userfaultfd, 0));
        say("clone3", syscall(SYS_clone3, NULL, 0));
        say("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
        say("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
        say("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
        long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
        printf("session-keyring=%ld\n", id);
        int open_fds = 0;
        for (int fd = 3; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        open_fds++;
        printf("open-fds-above-2=%d\n", open_fds);
        return 0;
}
