/* SPDX-License-Identifier: Apache-2.0 */
#include "base/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strbuf.h"

static int pidfd_open_(pid_t pid)
{
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static void write_all(int fd, const char *s)
{
        size_t n = strlen(s);
        while (n) {
                ssize_t w = write(fd, s, n);
                if (w <= 0)
                        return;
                s += w;
                n -= (size_t) w;
        }
}

struct spawn {
        const struct cairn_process *p;
        int outfd, errfd;
        sigset_t mask;      /* the parent's, restored before exec */
};

/*
 * The child, sharing the parent's memory until it execs (CLONE_VM |
 * CLONE_VFORK, as posix_spawn does: a fork of a large process copies its
 * page tables, which cost milliseconds a step).  So: no allocation, only
 * system calls, and the parent's signal handlers are reset first.
 */
static int child(void *arg)
{
        const struct spawn *s = arg;
        const struct cairn_process *p = s->p;
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;
                if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
                        continue;
                if (sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) {
                        sa.sa_handler = SIG_DFL;
                        sa.sa_flags = 0;
                        sigaction(sig, &sa, NULL);
                }
        }
        sigprocmask(SIG_SETMASK, &s->mask, NULL);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(s->outfd, 1) < 0 || dup2(s->errfd, 2) < 0)
                _exit(127);
        /* dup2 onto itself (cairn started with 0-2 closed) keeps
         * O_CLOEXEC; the child must keep its standard descriptors. */
        for (int fd = 0; fd < 3; fd++)
                fcntl(fd, F_SETFD, 0);
        if (p->child_setup) {
                int r = p->child_setup(p->setup_userdata);
                if (r) {
                        write_all(2, "cannot set up the environment of ");
                        write_all(2, p->argv[0]);
                        write_all(2, ": ");
                        write_all(2, strerrordesc_np(r) ? strerrordesc_np(r) : "error");
                        write_all(2, "\n");
                        _exit(127);
                }
        }
        execvp(p->argv[0], (char *const *) p->argv);
        int e = errno;
        write_all(2, p->argv[0]);
        write_all(2, ": ");
        write_all(2, strerrordesc_np(e) ? strerrordesc_np(e) : "cannot run");
        write_all(2, "\n");
        _exit(127);
}

static pid_t spawn(const struct cairn_process *p, int outfd, int errfd)
{
        struct spawn s = { .p = p, .outfd = outfd, .errfd = errfd };
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &s.mask);
#if defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer cannot follow instrumented code running on a
         * stack of our own in the parent's memory: fork there. */
        pid_t pid = fork();
        if (pid == 0)
                _exit(child(&s));
        int e = errno;
#else
        enum { STACK = 256 * 1024 };
        void *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        pid_t pid = -1;
        int e = errno;
        if (stack != MAP_FAILED) {
                pid = clone(child, (char *) stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &s);
                e = errno;
                munmap(stack, STACK);
        }
#endif
        pthread_sigmask(SIG_SETMASK, &s.mask, NULL);
        errno = e;
        return pid;
}


int cairn_process_run(const struct cairn_process *p, int *ret_status, struct cairn_error **err)
{
        int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
        if (pipe2(outp, O_CLOEXEC) < 0)
                return cairn_error_set_errno(err, errno, "cannot run \"%s\": pipe", p->argv[0]);
        if (!p->merge_stderr && pipe2(errp, O_CLOEXEC) < 0) {
                int e = errno;
                close(outp[0]);
                close(outp[1]);
                return cairn_error_set_errno(err, e, "cannot run \"%s\": pipe", p->argv[0]);
        }
        pid_t pid = spawn(p, outp[1], p->merge_stderr ? outp[1] : errp[1]);
        if (pid < 0) {
                int e = errno;
                close(outp[0]);
                close(outp[1]);
                if (errp[0] >= 0) {
                        close(errp[0]);
                        close(errp[1]);
                }
                return cairn_error_set_errno(err, e, "cannot run \"%s\": fork", p->argv[0]);
        }
        close(outp[1]);
        if (errp[1] >= 0)
                close(errp[1]);
        _cleanup_close_ int pidfd = pidfd_open_(pid);
        struct pollfd fds[3] = {
                { outp[0], POLLIN, 0 },
                { errp[0], POLLIN, 0 },
                { pidfd, POLLIN, 0 },
        };
        bool exited = false, reaped = false;
        int status = 0;
        struct timespec last_cancel = { 0, 0 }, start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        bool timed_out = false;
        char chunk[65536];
        for (;;) {
                if (p->timeout_ms > 0 && !timed_out && !exited) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        long long ms = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
                        if (ms >= p->timeout_ms) {
                                timed_out = true;
                                if (p->ret_timed_out)
                                        *p->ret_timed_out = true;
                                if (!p->on_cancel)
                                        kill(pid, SIGKILL);
                        }
                }
                /* Asked again every second until the child is gone: the
                 * first request can come too early to take (a container
                 * whose task does not exist yet). */
                if (((p->cancel && *p->cancel) || timed_out) && p->on_cancel && !exited) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        if (last_cancel.tv_sec == 0 || now.tv_sec - last_cancel.tv_sec >= 1) {
                                last_cancel = now;
                                p->on_cancel(p->cancel_userdata);
                        }
                }
                if (fds[0].fd < 0 && fds[1].fd < 0)
                        break;
                /* Once the child is gone, take what is buffered and stop:
                 * a grandchild may hold the pipes open for ever. */
                int n = poll(fds, 3, exited ? 0 : (p->cancel || p->timeout_ms > 0 || pidfd < 0 ? 100 : -1));
                if (n < 0 && errno != EINTR)
                        break;
                if (n == 0 && exited)
                        break;
                for (int i = 0; i < 2; i++) {
                        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t r = read(fds[i].fd, chunk, sizeof(chunk));
                        if (r > 0) {
                                cairn_process_deliver(p, i == 1, chunk, (size_t) r);
                        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                                close(fds[i].fd);
                                fds[i].fd = -1;
                        }
                }
                if (fds[2].fd >= 0 && (fds[2].revents & POLLIN)) {
                        exited = true;
                        fds[2].fd = -1;
                }
                /* Without a pidfd (an old kernel, a seccomp filter), look
                 * for the exit ten times a second instead. */
                if (pidfd < 0 && !exited && waitpid(pid, &status, WNOHANG) == pid) {
                        exited = true;
                        reaped = true;
                }
        }
        for (int i = 0; i < 2; i++)
                if (fds[i].fd >= 0)
                        close(fds[i].fd);
        while (!reaped && waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return cairn_error_set_errno(err, errno, "waiting for \"%s\"", p->argv[0]);
        }
        *ret_status = status;
        return 0;
}

unsigned cairn_windows_build(void)
{
        return 0;
}

unsigned cairn_cpu_count(void)
{
        /* Read from /sys once a process. */
        static unsigned count;
        unsigned c = __atomic_load_n(&count, __ATOMIC_RELAXED);
        if (c == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                c = n < 1 ? 1 : (unsigned) n;
                __atomic_store_n(&count, c, __ATOMIC_RELAXED);
        }
        return c;
}

bool cairn_process_alive(int pid)
{
        return kill((pid_t) pid, 0) == 0 || errno != ESRCH;
}

int cairn_process_exit_code(int status)
{
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *cairn_process_status_string(int status, char *buf, size_t size)
{
        if (WIFEXITED(status))
                snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "signal SIG%s", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
        else
                snprintf(buf, size, "status %d", status);
        return buf;
}
