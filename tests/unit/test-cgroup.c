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
#include <unistd.h>

#include "base/error.h"
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
        if (cairn_cgroup_has_v1_devices())
                check(CAIRN_CGROUP_V1, "cgroup v1 devices", dir);
        else if (strict)
                ok(0, "this host has cgroup v1's devices controller");
        else
                tap_skip("no cgroup v1 devices controller", "cgroup v1");
        if (cairn_cgroup_has_v2())
                check(CAIRN_CGROUP_V2, "cgroup v2 BPF", dir);
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
