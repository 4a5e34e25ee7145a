/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step's device allow-list (sandbox/cgroup.h), each hierarchy on its
 * own: a process in the step's cgroup cannot open a node of a host block
 * device made on a filesystem that allows devices (so nodev, the other
 * means, plays no part here), but can open /dev/null, and can make nodes.
 * Needs root and the hierarchies; skips without them unless
 * CAIRN_TEST_MUST_WORK=1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "sandbox/sandbox.h"
#include "sandbox/cgroup.h"
#include "tap.h"

static unsigned blk_major, blk_minor;

/* What a child in cg sees: a bit per check. */
enum { OPENED_BLOCK = 1, OPENED_NULL = 2, MADE_NODE = 4 };

static int probe(const struct cairn_step_cgroup *cg, const char *dir)
{
        pid_t pid = fork();
        if (pid == 0) {
                if (cairn_step_cgroup_join(cg, false) < 0)
                        _exit(100);
                int seen = 0;
                char node[512];
                snprintf(node, sizeof(node), "%s/made-inside", dir);
                if (mknod(node, S_IFBLK | 0600, makedev(blk_major, blk_minor)) == 0)
                        seen |= MADE_NODE;
                snprintf(node, sizeof(node), "%s/block", dir);
                int fd = open(node, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        seen |= OPENED_BLOCK;
                        close(fd);
                }
                fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        seen |= OPENED_NULL;
                        close(fd);
                }
                _exit(seen);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check(unsigned which, const char *name, const char *dir)
{
        struct cairn_step_cgroup cg;
        struct cairn_error *err = NULL;
        int r = cairn_step_cgroup_create(which, NULL, &cg, &err);
        is_int(r, 0, "%s: a step cgroup with the allow-list (%s)", name, err ? err->message : "");
        cairn_error_free(err);
        if (r < 0)
                return;
        char made[512];
        snprintf(made, sizeof(made), "%s/made-inside", dir);
        unlink(made);
        int seen = probe(&cg, dir);
        ok(seen >= 0 && seen != 100, "%s: the child joins it (%d)", name, seen);
        ok(!(seen & OPENED_BLOCK), "%s: a host block device's node cannot be opened", name);
        ok(seen & OPENED_NULL, "%s: /dev/null can", name);
        ok(seen & MADE_NODE, "%s: a node can still be made", name);
        char path[4096];
        snprintf(path, sizeof(path), "%s", which == CAIRN_CGROUP_V1 ? cg.v1_devices : cg.v2);
        cairn_step_cgroup_remove(&cg);
        struct stat st;
        ok(stat(path, &st) < 0 && errno == ENOENT, "%s: the cgroup is removed after", name);
}

/* A process tree that forks as fast as it can, in cg, and kill: nothing
 * of it is left, and the cgroup can be removed. */
static void check_kill(unsigned which, const char *what)
{
        struct cairn_step_cgroup cg;
        struct cairn_error *err = NULL;
        struct cairn_step_limits l = { .pids = 256, .set = CAIRN_LIMIT_PIDS };
        if (cairn_step_cgroup_create(which, &l, &cg, &err) < 0) {
                ok(0, "%s: a step cgroup for the kill test: %s", what, err->message);
                cairn_error_free(err);
                return;
        }
        if (which == CAIRN_CGROUP_V1)
                ok(cg.v1_freezer != NULL, "%s: the step has a freezer cgroup", what);
        int pipefd[2];
        ok(pipe(pipefd) == 0, "a pipe");
        pid_t pid = fork();
        if (pid == 0) {
                if (cairn_step_cgroup_join(&cg, false) < 0)
                        _exit(1);
                /* A forking tree: every process forks again and again
                 * (bounded by the pids limit), and orphans reparent to
                 * init, out of this test's reach but not the cgroup's. */
                (void) !write(pipefd[1], "x", 1);
                for (;;) {
                        if (fork() == 0)
                                setsid();
                        struct timespec t = { 0, 1000 * 1000 };
                        nanosleep(&t, NULL);
                }
        }
        close(pipefd[1]);
        char c;
        ok(read(pipefd[0], &c, 1) == 1, "%s: the tree started", what);
        close(pipefd[0]);
        struct timespec t = { 0, 100 * 1000 * 1000 };
        nanosleep(&t, NULL);
        char procs[4096];
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", which == CAIRN_CGROUP_V1 ? cg.v1_pids : cg.v2);
        int before = 0, after = -1;
        FILE *f = fopen(procs, "re");
        long p;
        while (f && fscanf(f, "%ld", &p) == 1)
                before++;
        if (f)
                fclose(f);
        ok(before > 1, "%s: it forked (%d processes)", what, before);
        cairn_step_cgroup_kill(&cg);
        waitpid(pid, NULL, 0);
        for (int i = 0; i < 1000 && after != 0; i++) {
                after = 0;
                f = fopen(procs, "re");
                while (f && fscanf(f, "%ld", &p) == 1)
                        after++;
                if (f)
                        fclose(f);
                nanosleep(&(struct timespec) { 0, 1000 * 1000 }, NULL);
        }
        is_int(after, 0, "%s: kill leaves no process of it", what);
        char *dir = cairn_xstrdup(which == CAIRN_CGROUP_V1 ? cg.v1_pids : cg.v2);
        cairn_step_cgroup_remove(&cg);
        ok(access(dir, F_OK) < 0, "%s: and its cgroup is removed", what);
        free(dir);
}

int main(void)
{
        const char *must = getenv("CAIRN_TEST_MUST_WORK");
        bool strict = must && strcmp(must, "1") == 0;
        if (geteuid() != 0 && !strict) {
                tap_skip("needs root", "device allow-list");
                return tap_done();
        }
        /* A block device of this host, and a node for it where devices
         * are allowed (the current directory: the build tree). */
        DIR *d = opendir("/sys/dev/block");
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (sscanf(de->d_name, "%u:%u", &blk_major, &blk_minor) == 2)
                        break;
        if (d)
                closedir(d);
        char dir[] = "cairn-test-cgroup-XXXXXX";
        ok(mkdtemp(dir) != NULL, "a scratch directory");
        char node[512];
        snprintf(node, sizeof(node), "%s/block", dir);
        ok(mknod(node, S_IFBLK | 0600, makedev(blk_major, blk_minor)) == 0, "a node for block device %u:%u",
           blk_major, blk_minor);
        int fd = open(node, O_RDONLY | O_CLOEXEC);
        ok(fd >= 0, "which this test, outside any step cgroup, can open (%s)", fd < 0 ? strerror(errno) : "");
        if (fd >= 0)
                close(fd);
        if (cairn_cgroup_has_v1_devices()) {
                check(CAIRN_CGROUP_V1, "cgroup v1 devices", dir);
                check_kill(CAIRN_CGROUP_V1, "cgroup v1 (freezer)");
        }
        else if (strict)
                ok(0, "this host has cgroup v1's devices controller");
        else
                tap_skip("no cgroup v1 devices controller", "cgroup v1");
        if (cairn_cgroup_has_v2()) {
                check(CAIRN_CGROUP_V2, "cgroup v2 BPF", dir);
                check_kill(CAIRN_CGROUP_V2, "cgroup v2 (cgroup.kill)");
        }
        else if (strict)
                ok(0, "this host has cgroup v2");
        else
                tap_skip("no cgroup v2", "cgroup v2");
        char made[512];
        snprintf(made, sizeof(made), "%s/made-inside", dir);
        unlink(made);
        unlink(node);
        rmdir(dir);
        return tap_done();
}
