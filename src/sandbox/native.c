/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native Linux sandbox: what runc does for OBuilder (reference 5.1),
 * done in-process with no helper binary.
 *
 * Read top to bottom, the child:
 *   1. starts in new mount, PID, IPC, UTS and (unless network host) network
 *      namespaces, and dies with cairn (PR_SET_PDEATHSIG);
 *   2. takes detached copies of every host path it will mount (open_tree),
 *      while the host's tree is still visible;
 *   3. makes the rootfs a mount point and pivots into it, detaching the host;
 *   4. builds /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and a read-only
 *      /sys, then attaches the host copies at their targets, which are
 *      resolved inside the new root without magic links (openat2), so a
 *      symlink in the image cannot redirect a mount;
 *   5. masks and write-protects the /proc and /sys paths runc does, sets the
 *      hostname, brings up lo, caps NOFILE at 1024, creates the cwd;
 *   6. stays as PID 1 (reaping orphans) and forks the command, which drops
 *      to the capability set of reference 5.1 and the step's uid/gid, with
 *      stdin at EOF and stdout+stderr on the output pipe.
 * When the command exits, PID 1 reports its status and exits, and the kernel
 * kills whatever the command left running.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <linux/keyctl.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/units.h"
#include "sandbox/cgroup.h"
#include "sandbox/seccomp.h"
#include "sandbox/sandbox.h"

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

static int sys_open_tree(int dfd, const char *path, unsigned flags)
{
        return (int) syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags)
{
        return (int) syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

static int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr)
{
        return (int) syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}

/* Docker's default set minus NET_RAW and NET_BIND_SERVICE, as OBuilder. */
static const int kept_caps[] = {
        CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_SETGID, CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

static const char *const masked_paths[] = {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* Report a setup failure to the parent and exit. */
static _Noreturn void die(int errfd, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static _Noreturn void die(int errfd, int errnum, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if (errnum && (size_t) n < sizeof(msg))
                snprintf(msg + n, sizeof(msg) - (size_t) n, ": %s", strerror(errnum));
        (void) !write(errfd, msg, strlen(msg));
        _exit(126);
}

static void mount_or_die(int errfd, const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data)
{
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
                die(errfd, errno, "sandbox: cannot create \"%s\"", dst);
        if (mount(src, dst, type, flags, data) < 0)
                die(errfd, errno, "sandbox: cannot mount %s on \"%s\"", type ? type : src, dst);
}

/* The only device nodes a step can open: the host's own, bind-mounted on a
 * nodev /dev, so a node made anywhere else (by mknod in the step, or
 * shipped in a layer) opens nothing. */
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* Clones of the host's nodes (dev_nodes), taken while the host's /dev is
 * reachable: nosuid and noexec, but not nodev. */
static void clone_dev_nodes(int errfd, int trees[])
{
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(dev_nodes); i++) {
                char path[32];
                snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
                trees[i] = sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (trees[i] < 0)
                        die(errfd, errno, "sandbox: cannot clone the host's %s", path);
                struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC };
                if (sys_mount_setattr(trees[i], "", AT_EMPTY_PATH, &attr) < 0)
                        die(errfd, errno, "sandbox: cannot set the options of %s", path);
        }
}

static void make_dev(int errfd, const int node_trees[])
{
        mount_or_die(errfd, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_STRICTATIME,
                     "mode=755,size=65536k");
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(dev_nodes); i++) {
                char path[32];
                snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
                int f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
                if (f < 0)
                        die(errfd, errno, "sandbox: cannot create %s", path);
                close(f);
                if (sys_move_mount(node_trees[i], "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        die(errfd, errno, "sandbox: cannot mount the host's node on %s", path);
                close(node_trees[i]);
        }
        static const char *const links[][2] = {
                { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
                { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
                { "pts/ptmx", "/dev/ptmx" }, { "/proc/kcore", "/dev/core" },
        };
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(links); i++)
                if (symlink(links[i][0], links[i][1]) < 0)
                        die(errfd, errno, "sandbox: cannot create %s", links[i][1]);
        mount_or_die(errfd, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620,gid=5");
        mount_or_die(errfd, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
        mount_or_die(errfd, "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
}

/*
 * /etc/hosts naming the builder: written in the step's own /dev (a tmpfs of
 * its mount namespace) and cloned from there, so nothing of it is ever on
 * the host -- a file in the host's /tmp was left behind whenever cairn was
 * killed.  The name is removed once the clone is mounted.
 */
#define HOSTS_SOURCE "/dev/.cairn-hosts"

static int make_hosts(int errfd, const char *hostname)
{
        int f = open(HOSTS_SOURCE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0)
                die(errfd, errno, "sandbox: cannot create %s", HOSTS_SOURCE);
        if (dprintf(f, "127.0.0.1 localhost %s\n::1 localhost ip6-localhost ip6-loopback\n", hostname) < 0 ||
            fchmod(f, 0644) < 0)
                die(errfd, errno, "sandbox: cannot write %s", HOSTS_SOURCE);
        close(f);
        int t = sys_open_tree(AT_FDCWD, HOSTS_SOURCE, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (t < 0)
                die(errfd, errno, "sandbox: cannot clone %s", HOSTS_SOURCE);
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY };
        if (sys_mount_setattr(t, "", AT_EMPTY_PATH, &attr) < 0)
                die(errfd, errno, "sandbox: cannot make %s read-only", HOSTS_SOURCE);
        return t;
}

/* Create the mount target inside the new root (directory or empty file, as
 * the source is) and return an O_PATH fd on it. */
static int mount_target(int errfd, int rootfd, const char *dst, bool dir)
{
        int fd = -1;
        struct cairn_error *err = NULL;
        if (dir) {
                if (cairn_mkdir_p_in_root(rootfd, dst, 0755, (uid_t) -1, (gid_t) -1, &fd, &err) < 0)
                        die(errfd, 0, "sandbox: mount target %s: %s", dst, err->message);
                return fd;
        }
        int dirfd;
        const char *name;
        _cleanup_free_ char *parent = NULL;
        const char *slash = strrchr(dst, '/');
        parent = cairn_xstrndup(dst, slash ? (size_t) (slash - dst) : 0);
        if (*parent && cairn_mkdir_p_in_root(rootfd, parent, 0755, (uid_t) -1, (gid_t) -1, NULL, &err) < 0)
                die(errfd, 0, "sandbox: mount target %s: %s", dst, err->message);
        if (cairn_open_parent_in_root(rootfd, dst, &dirfd, &name, &err) < 0)
                die(errfd, 0, "sandbox: mount target %s: %s", dst, err->message);
        int f = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0)
                close(f);
        else if (errno != EISDIR && errno != ELOOP)
                die(errfd, errno, "sandbox: cannot create the mount target %s", dst);
        close(dirfd);
        fd = cairn_open_in_root(rootfd, dst, O_PATH | O_NOFOLLOW, 0);
        if (fd < 0)
                die(errfd, errno, "sandbox: cannot open the mount target %s", dst);
        return fd;
}

static void bring_up_lo(int errfd)
{
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                die(errfd, errno, "sandbox: socket");
        struct ifreq ifr = { 0 };
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                die(errfd, errno, "sandbox: cannot read the flags of lo");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                die(errfd, errno, "sandbox: cannot bring up lo");
        close(s);
}

static void drop_privileges(int errfd, uid_t uid, gid_t gid)
{
        uint64_t keep = 0;
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(kept_caps); i++)
                keep |= UINT64_C(1) << kept_caps[i];
        for (int cap = 0; cap <= 63; cap++) {
                if (keep & (UINT64_C(1) << cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        die(errfd, errno, "sandbox: cannot drop capability %d", cap);
        }
        /* As runc: the kept capabilities stay in effect across the switch of
         * uid and until execve, for every uid.  So the exec itself runs with
         * them (a user's command is found and started even where the root
         * directory is 0700, as OBuilder's bases are), and execve then
         * clears them for a uid other than 0 (no ambient set), so what runs
         * as the user has none. */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                die(errfd, errno, "sandbox: cannot keep capabilities across the switch of uid");
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0)
                die(errfd, errno, "sandbox: cannot switch to gid %u", (unsigned) gid);
        if (setresuid(uid, uid, uid) < 0)
                die(errfd, errno, "sandbox: cannot switch to uid %u", (unsigned) uid);
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        for (int i = 0; i < 2; i++) {
                uint32_t bits = (uint32_t) (keep >> (32 * i));
                data[i].effective = data[i].permitted = data[i].inheritable = bits;
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                die(errfd, errno, "sandbox: cannot set capabilities");
}

/* execve with argv[0] looked up in the container's PATH, as runc does. */
static void exec_command(int errfd, const char *const *argv, const char *const *env)
{
        const char *file = argv[0];
        if (strchr(file, '/')) {
                execve(file, (char *const *) argv, (char *const *) env);
                die(errfd, errno, "cannot run \"%s\"", file);
        }
        const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (const char *const *e = env; *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        int saved = ENOENT;
        for (const char *p = path;;) {
                const char *colon = strchr(p, ':');
                size_t n = colon ? (size_t) (colon - p) : strlen(p);
                char full[4096];
                snprintf(full, sizeof(full), "%.*s%s%s", (int) n, p, n ? "/" : "", file);
                execve(full, (char *const *) argv, (char *const *) env);
                if (errno != ENOENT && errno != ENOTDIR)
                        saved = errno;
                if (!colon)
                        break;
                p = colon + 1;
        }
        die(errfd, saved, "cannot run \"%s\"", file);
}

struct child_args {
        const struct cairn_sandbox_config *c;
        int out_w, err_w, status_w;
        const struct cairn_step_cgroup *cg;
        bool in_v2;               /* CLONE_INTO_CGROUP put it in cg's v2 cgroup */
};

static _Noreturn void child_main(const struct child_args *a)
{
        const struct cairn_sandbox_config *c = a->c;
        int errfd = a->err_w;
        /* First, before anything of the step runs: its cgroups (the device
         * allow-list), which every process it starts inherits. */
        int cr = cairn_step_cgroup_join(a->cg, a->in_v2);
        if (cr < 0)
                die(errfd, -cr, "sandbox: cannot join the step's cgroup");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                die(errfd, errno, "sandbox: PR_SET_PDEATHSIG");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die(errfd, errno, "sandbox: cannot make the mounts private");

        /* Host paths to attach later, cloned while they are reachable. */
        size_t n = c->n_mounts + 2;
        int *trees = cairn_xzalloc(n * sizeof(int));
        const char **targets = cairn_xzalloc(n * sizeof(char *));
        bool *dirs = cairn_xzalloc(n * sizeof(bool));
        bool *ro = cairn_xzalloc(n * sizeof(bool));
        size_t k = 0;
        for (size_t i = 0; i < c->n_mounts; i++, k++) {
                targets[k] = c->mounts[i].dst;
                ro[k] = c->mounts[i].readonly;
        }
        targets[k] = "/etc/hosts", ro[k++] = true;
        if (c->network_host)
                targets[k] = "/etc/resolv.conf", ro[k++] = true;
        for (size_t i = 0; i < k; i++) {
                if (i == c->n_mounts)
                        continue;       /* /etc/hosts: made in /dev, below */
                const char *src = i < c->n_mounts ? c->mounts[i].src : "/etc/resolv.conf";
                struct stat st;
                if (stat(src, &st) < 0)
                        die(errfd, errno, "sandbox: cannot use \"%s\" as a mount", src);
                dirs[i] = S_ISDIR(st.st_mode);
                trees[i] = sys_open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (trees[i] < 0)
                        die(errfd, errno, "sandbox: cannot clone the mount \"%s\"", src);
                struct mount_attr attr = {
                        .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (ro[i] ? MOUNT_ATTR_RDONLY : 0),
                };
                if (sys_mount_setattr(trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
                        die(errfd, errno, "sandbox: cannot set the options of the mount \"%s\"", src);
        }

        int node_trees[CAIRN_ARRAY_SIZE(dev_nodes)];
        clone_dev_nodes(errfd, node_trees);

        if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                die(errfd, errno, "sandbox: cannot bind \"%s\"", c->rootfs);
        /* nodev: a node the step makes (a package build making a chroot
         * does), or one a layer ships, can be created but never opened. */
        struct mount_attr nodev = { .attr_set = MOUNT_ATTR_NODEV };
        if (sys_mount_setattr(AT_FDCWD, c->rootfs, AT_RECURSIVE, &nodev) < 0)
                die(errfd, errno, "sandbox: cannot make \"%s\" nodev", c->rootfs);
        if (chdir(c->rootfs) < 0)
                die(errfd, errno, "sandbox: cannot enter \"%s\"", c->rootfs);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                die(errfd, errno, "sandbox: pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                die(errfd, errno, "sandbox: cannot detach the host's root");
        if (chdir("/") < 0)
                die(errfd, errno, "sandbox: chdir /");

        mount_or_die(errfd, "proc", "/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
        make_dev(errfd, node_trees);
        const char *hostname = c->hostname ? c->hostname : "builder";
        trees[c->n_mounts] = make_hosts(errfd, hostname);
        mount_or_die(errfd, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);

        int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                die(errfd, errno, "sandbox: open /");
        for (size_t i = 0; i < k; i++) {
                int t = mount_target(errfd, rootfd, targets[i], dirs[i]);
                if (sys_move_mount(trees[i], "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                        die(errfd, errno, "sandbox: cannot mount on \"%s\"", targets[i]);
                close(t);
                close(trees[i]);
        }
        /* The mount holds the file; its name goes. */
        if (unlink(HOSTS_SOURCE) < 0)
                die(errfd, errno, "sandbox: cannot remove %s", HOSTS_SOURCE);

        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(masked_paths); i++) {
                struct stat st;
                if (lstat(masked_paths[i], &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode))
                        mount("tmpfs", masked_paths[i], "tmpfs", MS_RDONLY, NULL);
                else
                        mount("/dev/null", masked_paths[i], NULL, MS_BIND, NULL);
        }
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(readonly_paths); i++) {
                if (mount(readonly_paths[i], readonly_paths[i], NULL, MS_BIND | MS_REC, NULL) == 0)
                        mount(NULL, readonly_paths[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
        }

        if (sethostname(hostname, strlen(hostname)) < 0)
                die(errfd, errno, "sandbox: sethostname");
        if (!c->network_host)
                bring_up_lo(errfd);
        struct rlimit nofile = { 1024, 1024 };
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                die(errfd, errno, "sandbox: setrlimit NOFILE");
        struct cairn_error *err = NULL;
        int cwd_fd;
        if (cairn_mkdir_p_in_root(rootfd, c->cwd, 0755, (uid_t) -1, (gid_t) -1, &cwd_fd, &err) < 0)
                die(errfd, 0, "sandbox: working directory: %s", err->message);
        close(cwd_fd);
        if (chdir(c->cwd) < 0)
                die(errfd, errno, "sandbox: cannot enter the working directory \"%s\"", c->cwd);

        pid_t cmd = fork();
        if (cmd < 0)
                die(errfd, errno, "sandbox: fork");
        if (cmd == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(a->out_w, 1) < 0 || dup2(a->out_w, 2) < 0)
                        die(errfd, errno, "sandbox: cannot set up standard input and output");
                setsid();
                signal(SIGPIPE, SIG_DFL);
                /* A session keyring of its own: nothing of the host's. */
                if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0)
                        die(errfd, errno, "sandbox: cannot make a session keyring");
                /* Nothing cairn was given (an fd its caller left open)
                 * reaches the command. */
                if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                        for (int fd = 3; fd < 1024; fd++)
                                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                /* Last, while CAP_SYS_ADMIN still spares the need for
                 * no_new_privs (which would break sudo). */
                if (!c->seccomp_unconfined) {
                        int sr = cairn_seccomp_apply();
                        if (sr < 0)
                                die(errfd, -sr, "sandbox: cannot load the seccomp filter");
                }
                drop_privileges(errfd, c->uid, c->gid);
                exec_command(errfd, c->argv, c->env);
        }
        close(a->out_w);
        close(errfd);
        /* PID 1: reap everything until the command itself exits. */
        int status = 0;
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0)
                        break;
                if (p == cmd) {
                        status = st;
                        break;
                }
        }
        (void) !write(a->status_w, &status, sizeof(status));
        _exit(0);
}

static int native_run(const struct cairn_sandbox_config *c, int *ret_status, struct cairn_error **err)
{
        int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, st[2] = { -1, -1 };
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0)
                return cairn_error_set_errno(err, errno, "sandbox: pipe");
        struct cairn_step_cgroup cg = { .v2_fd = -1 };
        int r = 0;
        static const struct cairn_step_limits defaults = { 0 };
        const struct cairn_step_limits *limits = c->limits ? c->limits : &defaults;
        if ((r = cairn_step_cgroup_create(CAIRN_CGROUP_ALL, limits, &cg, err)) < 0)
                goto out;
        if (!c->seccomp_unconfined && (r = cairn_seccomp_prepare()) < 0) {
                r = cairn_error_set_errno(err, -r, "sandbox: cannot build the seccomp filter");
                goto out;
        }
        struct timespec started;
        clock_gettime(CLOCK_MONOTONIC, &started);
        struct clone_args ca = {
                .flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                         (c->network_host ? 0 : CLONE_NEWNET),
                .exit_signal = SIGCHLD,
        };
        /* The step starts in its v2 cgroup (Linux 5.7); before that, its
         * first process joins it itself, before anything else. */
        if (cg.v2_fd >= 0) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t) cg.v2_fd;
        }
        pid_t pid = (pid_t) syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid < 0 && (ca.flags & CLONE_INTO_CGROUP) && (errno == EINVAL || errno == E2BIG)) {
                ca.flags &= ~(uint64_t) CLONE_INTO_CGROUP;
                pid = (pid_t) syscall(SYS_clone3, &ca, sizeof(ca));
        }
        if (pid < 0) {
                r = cairn_error_set_errno(err, errno, "sandbox: cannot create the namespaces");
                goto out;
        }
        if (pid == 0) {
                close(out[0]);
                close(errp[0]);
                close(st[0]);
                struct child_args a = { c, out[1], errp[1], st[1], &cg, (ca.flags & CLONE_INTO_CGROUP) != 0 };
                child_main(&a);
        }
        close(out[1]);
        out[1] = -1;
        close(errp[1]);
        errp[1] = -1;
        close(st[1]);
        st[1] = -1;

        char setup_error[1024] = "";
        size_t setup_len = 0;
        bool out_open = true, err_open = true, killed = false;
        char limit_hit = 0;   /* 't': the timeout, 'p': the pids limit */
        char buf[65536];
        while (out_open || err_open) {
                struct pollfd pfd[2] = { { out[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
                if (!out_open)
                        pfd[0].fd = -1;
                if (!err_open)
                        pfd[1].fd = -1;
                int pr = poll(pfd, 2, 100);
                if (c->cancel && *c->cancel && !killed) {
                        kill(pid, SIGKILL);
                        cairn_step_cgroup_kill(&cg);
                        killed = true;
                }
                if (!killed && !limit_hit) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        long long ms = (now.tv_sec - started.tv_sec) * 1000LL + (now.tv_nsec - started.tv_nsec) / 1000000;
                        /* A step stops at a limit: a fork bomb never ends by itself. */
                        if (limits->timeout_ms > 0 && ms >= limits->timeout_ms)
                                limit_hit = 't';
                        else if (cairn_step_cgroup_pids_exhausted(&cg))
                                limit_hit = 'p';
                        if (limit_hit) {
                                kill(pid, SIGKILL);
                                cairn_step_cgroup_kill(&cg);
                        }
                }
                if (pr < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents) {
                        ssize_t n = read(out[0], buf, sizeof(buf));
                        if (n > 0) {
                                if (c->output)
                                        c->output(buf, (size_t) n, c->userdata);
                        } else if (n == 0 || errno != EINTR) {
                                out_open = false;
                        }
                }
                if (pfd[1].revents) {
                        ssize_t n = read(errp[0], setup_error + setup_len, sizeof(setup_error) - 1 - setup_len);
                        if (n > 0)
                                setup_len += (size_t) n;
                        else if (n == 0 || errno != EINTR)
                                err_open = false;
                }
        }
        int status = 0;
        bool have_status = read(st[0], &status, sizeof(status)) == (ssize_t) sizeof(status);
        int ws;
        struct rusage ru = { 0 };
        while (wait4(pid, &ws, 0, &ru) < 0 && errno == EINTR)
                ;
        if (c->usage) {
                /* The init's usage counts every process it reaped: the
                 * whole step. */
                c->usage->cpu_us = (long long) ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                                   (long long) ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
                c->usage->peak_memory = cairn_step_cgroup_peak_memory(&cg);
                if (!c->usage->peak_memory)
                        c->usage->peak_memory = (unsigned long long) ru.ru_maxrss * 1024;
        }
        setup_error[setup_len] = '\0';
        long oom = cairn_step_cgroup_oom_kills(&cg);
        char shown[64];
        if (killed)
                r = cairn_error_set(err, -ECANCELED, "cancelled");
        else if (limit_hit == 't')
                r = cairn_error_set(err, -ETIMEDOUT, "killed: timed out after %s",
                                    cairn_format_duration_ms(limits->timeout_ms, shown, sizeof(shown)));
        else if (limit_hit == 'p')
                r = cairn_error_set(err, -EAGAIN, "killed: pids limit %ld reached",
                                    limits->pids > 0 ? limits->pids : CAIRN_DEFAULT_PIDS_LIMIT);
        else if (oom > 0 && have_status && status != 0)
                r = cairn_error_set(err, -ENOMEM, "killed: out of memory (limit %s)",
                                    cairn_format_size(limits->memory, shown, sizeof(shown)));
        else if (setup_len)
                r = cairn_error_set(err, -EIO, "%s", setup_error);
        else if (!have_status)
                r = cairn_error_set(err, -EIO, "sandbox: the sandbox's init exited without a status (wait status %d)", ws);
        else
                *ret_status = status;
out:
        for (int i = 0; i < 2; i++) {
                if (out[i] >= 0)
                        close(out[i]);
                if (errp[i] >= 0)
                        close(errp[i]);
                if (st[i] >= 0)
                        close(st[i]);
        }
        cairn_step_cgroup_remove(&cg);
        return r;
}

const struct cairn_sandbox_ops cairn_sandbox_native_ops = {
        .kind = "native",
        .run = native_run,
};
