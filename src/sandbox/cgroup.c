/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "sandbox/sandbox.h"

#define V1_DEVICES "/sys/fs/cgroup/devices"

/* runc's default allow-list, without tun: any node may be made; these may
 * be opened.  minor -1: any. */
static const struct {
        char type;
        int major, minor;
} allowed[] = {
        { 'c', 1, 3 }, { 'c', 1, 5 }, { 'c', 1, 7 }, { 'c', 1, 8 }, { 'c', 1, 9 },   /* null zero full random urandom */
        { 'c', 5, 0 }, { 'c', 5, 2 },                                                 /* tty ptmx */
        { 'c', 136, -1 },                                                             /* the step's ptys */
};

static bool is_fs(const char *path, long magic)
{
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && (long) sfs.f_type == magic;
}

/* A v1 hierarchy of controller name with file, at /sys/fs/cgroup/NAME. */
static bool has_v1(const char *name, const char *file)
{
        char dir[128], path[256];
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s", name);
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        return is_fs(dir, CGROUP_SUPER_MAGIC) && access(path, W_OK) == 0;
}

bool cairn_cgroup_has_v1_devices(void)
{
        return has_v1("devices", "devices.allow");
}

/* Where the v2 hierarchy is mounted: /sys/fs/cgroup on a unified host,
 * /sys/fs/cgroup/unified on a hybrid one. */
static const char *v2_root(void)
{
        if (is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
                return "/sys/fs/cgroup";
        if (is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
                return "/sys/fs/cgroup/unified";
        return NULL;
}

bool cairn_cgroup_has_v2(void)
{
        return v2_root() != NULL;
}

/* This process's cgroup in the hierarchy whose /proc/self/cgroup line has
 * controllers `want` ("devices", or "" for v2's "0::"). */
static char *own_cgroup(const char *want)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file("/proc/self/cgroup", 1 << 16, &data, &len, &ignored) < 0) {
                cairn_error_free(ignored);
                return cairn_xstrdup("/");
        }
        for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = '\0';
                const char *controllers = c1 + 1;
                bool match = *want ? strcmp(controllers, want) == 0 || strstr(controllers, want) != NULL
                                   : strcmp(line, "0") == 0 && !*controllers;
                if (match)
                        return cairn_xstrdup(c2 + 1);
        }
        return cairn_xstrdup("/");
}

static int write_string(const char *dir, const char *file, const char *value)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, value, strlen(value));
        int r = n == (ssize_t) strlen(value) ? 0 : n < 0 ? -errno : -EIO;
        close(fd);
        return r;
}

/* Step cgroups a killed cairn left in parent (cairn-PID-N with PID gone):
 * empty once their processes died, removed. */
static void sweep(const char *parent)
{
        DIR *d = opendir(parent);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                long pid;
                unsigned n;
                if (sscanf(de->d_name, "cairn-%ld-%u", &pid, &n) != 2 || pid == (long) getpid())
                        continue;
                if (kill((pid_t) pid, 0) == 0 || errno != ESRCH)
                        continue;
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
                (void) rmdir(path);
        }
        closedir(d);
}

/* The directory of this process's cgroup in the hierarchy mounted at root,
 * whose /proc/self/cgroup line names `want`: read once a process, and the
 * first time swept of what a killed cairn left there. */
static const char *parent_dir(const char *root, const char *want)
{
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static struct {
                char *root, *dir;
        } known[8];
        static size_t n_known;
        pthread_mutex_lock(&lock);
        const char *dir = NULL;
        for (size_t i = 0; i < n_known && !dir; i++)
                if (strcmp(known[i].root, root) == 0)
                        dir = known[i].dir;
        if (!dir && n_known < sizeof(known) / sizeof(known[0])) {
                _cleanup_free_ char *own = own_cgroup(want);
                known[n_known].root = cairn_xstrdup(root);
                known[n_known].dir = cairn_xasprintf("%s%s", root, strcmp(own, "/") == 0 ? "" : own);
                dir = known[n_known++].dir;
                sweep(dir);
        }
        pthread_mutex_unlock(&lock);
        return dir ? dir : root;
}

static char *new_dir(const char *root, const char *want, struct cairn_error **err)
{
        static atomic_uint counter;
        char *dir = cairn_xasprintf("%s/cairn-%ld-%u", parent_dir(root, want), (long) getpid(),
                                    atomic_fetch_add(&counter, 1));
        if (mkdir(dir, 0755) < 0) {
                cairn_error_set_errno(err, errno, "cannot create the step's cgroup \"%s\"", dir);
                free(dir);
                return NULL;
        }
        return dir;
}

static int v1_create(struct cairn_step_cgroup *cg, struct cairn_error **err)
{
        if (!(cg->v1_devices = new_dir(V1_DEVICES, "devices", err)))
                return -EIO;
        int r = write_string(cg->v1_devices, "devices.deny", "a");
        for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                char rule[64];
                if (allowed[i].minor < 0)
                        snprintf(rule, sizeof(rule), "%c %d:* rwm", allowed[i].type, allowed[i].major);
                else
                        snprintf(rule, sizeof(rule), "%c %d:%d rwm", allowed[i].type, allowed[i].major,
                                 allowed[i].minor);
                r = write_string(cg->v1_devices, "devices.allow", rule);
        }
        if (r == 0)
                r = write_string(cg->v1_devices, "devices.allow", "c *:* m");
        if (r == 0)
                r = write_string(cg->v1_devices, "devices.allow", "b *:* m");
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot set the device allow-list of \"%s\"", cg->v1_devices);
        return 0;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn) { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* The allow-list as a BPF_PROG_TYPE_CGROUP_DEVICE program: 1 allows, 0
 * denies.  ctx is struct bpf_cgroup_dev_ctx: access_type ((access << 16) |
 * type), major, minor. */
static size_t device_program(struct bpf_insn *p)
{
        size_t n = 0, deny_jumps[32], allow_jumps[32], n_deny = 0, n_allow = 0;
        p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);   /* r2 = access_type */
        p[n++] = INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);   /* r3 = r2 */
        p[n++] = INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_3, 0, 0, 0xffff);      /* r3: the type */
        p[n++] = INSN(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_2, 0, 0, 16);          /* r2: the access */
        p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);   /* r4 = major */
        p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);   /* r5 = minor */
        /* Making a node of any kind, and nothing else. */
        allow_jumps[n_allow++] = n;
        p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_2, 0, 0, BPF_DEVCG_ACC_MKNOD);
        deny_jumps[n_deny++] = n;
        p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 0, BPF_DEVCG_DEV_CHAR);
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                if (allowed[i].minor < 0) {
                        allow_jumps[n_allow++] = n;
                        p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_4, 0, 0, allowed[i].major);
                        continue;
                }
                p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 1, allowed[i].major);
                allow_jumps[n_allow++] = n;
                p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_5, 0, 0, allowed[i].minor);
        }
        size_t deny = n;
        p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
        p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        size_t allow = n;
        p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
        p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        for (size_t i = 0; i < n_deny; i++)
                p[deny_jumps[i]].off = (short) (deny - deny_jumps[i] - 1);
        for (size_t i = 0; i < n_allow; i++)
                p[allow_jumps[i]].off = (short) (allow - allow_jumps[i] - 1);
        return n;
}

/* The program, loaded (and verified) once a process, attached to each
 * step's cgroup. */
static pthread_once_t prog_once = PTHREAD_ONCE_INIT;
static int prog_fd_loaded = -1, prog_errno;
static char prog_log[4096];

static void load_program(void)
{
        struct bpf_insn prog[64];
        size_t n = device_program(prog);
        union bpf_attr load;
        memset(&load, 0, sizeof(load));
        load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        load.insns = (uint64_t) (uintptr_t) prog;
        load.insn_cnt = (uint32_t) n;
        load.license = (uint64_t) (uintptr_t) "Apache-2.0";
        load.log_buf = (uint64_t) (uintptr_t) prog_log;
        load.log_size = sizeof(prog_log);
        load.log_level = 1;
        prog_fd_loaded = (int) syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
        prog_errno = errno;
}

static int device_program_fd(struct cairn_error **err)
{
        pthread_once(&prog_once, load_program);
        if (prog_fd_loaded < 0)
                return cairn_error_set_errno(err, prog_errno, "cannot load the device allow-list (BPF): %.200s",
                                             prog_log);
        return prog_fd_loaded;
}

static int v2_create(struct cairn_step_cgroup *cg, const char *root, struct cairn_error **err)
{
        if (!(cg->v2 = new_dir(root, "", err)))
                return -EIO;
        cg->v2_fd = open(cg->v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->v2_fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open the step's cgroup \"%s\"", cg->v2);
        int prog_fd = device_program_fd(err);
        if (prog_fd < 0)
                return prog_fd;
        union bpf_attr attach;
        memset(&attach, 0, sizeof(attach));
        attach.target_fd = (uint32_t) cg->v2_fd;
        attach.attach_bpf_fd = (uint32_t) prog_fd;
        attach.attach_type = BPF_CGROUP_DEVICE;
        int r = (int) syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach));
        int en = errno;
        if (r < 0)
                return cairn_error_set_errno(err, en, "cannot attach the device allow-list to \"%s\"", cg->v2);
        return 0;
}

static bool exists_in(const char *dir, const char *file)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        return access(path, F_OK) == 0;
}

/* A v1 cgroup of controller name for the step (*dir), or an error. */
static int v1_dir(const char *name, char **dir, struct cairn_error **err)
{
        _cleanup_free_ char *root = cairn_xasprintf("/sys/fs/cgroup/%s", name);
        *dir = new_dir(root, name, err);
        return *dir ? 0 : -EIO;
}

static int set(const char *dir, const char *file, const char *value, struct cairn_error **err)
{
        int r = write_string(dir, file, value);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot write %s to %s/%s", value, dir, file);
        return 0;
}

static int apply_limits(struct cairn_step_cgroup *cg, const struct cairn_step_limits *l, struct cairn_error **err)
{
        char v[64];
        long pids = l->pids ? l->pids : CAIRN_DEFAULT_PIDS_LIMIT;   /* -1: none */
        int r = 0;
        /* pids */
        if (cg->v2 && exists_in(cg->v2, "pids.max")) {
                cg->pids_dir = cg->v2;
                cg->pids_v2 = true;
        } else if (has_v1("pids", "cgroup.procs")) {
                if ((r = v1_dir("pids", &cg->v1_pids, err)) < 0)
                        return r;
                cg->pids_dir = cg->v1_pids;
        } else if (l->pids > 0) {
                return cairn_error_set(err, -ENOTSUP, "cannot limit the step's processes: no pids controller");
        }
        if (cg->pids_dir) {
                if (pids < 0)
                        snprintf(v, sizeof(v), "max");
                else
                        snprintf(v, sizeof(v), "%ld", pids);
                if ((r = set(cg->pids_dir, "pids.max", v, err)) < 0)
                        return r;
        }
        /* memory, swap included; the cgroup also when there is no limit,
         * for the step's peak use */
        snprintf(v, sizeof(v), "%llu", l->memory);
        if (cg->v2 && exists_in(cg->v2, "memory.max")) {
                cg->memory_dir = cg->v2;
                cg->memory_v2 = true;
                if (l->memory && (r = set(cg->v2, "memory.max", v, err)) < 0)
                        return r;
                if (l->memory && exists_in(cg->v2, "memory.swap.max") && (r = set(cg->v2, "memory.swap.max", "0", err)) < 0)
                        return r;
        } else if (has_v1("memory", "memory.limit_in_bytes")) {
                if ((r = v1_dir("memory", &cg->v1_memory, err)) < 0)
                        return r;
                cg->memory_dir = cg->v1_memory;
                if (l->memory && (r = set(cg->v1_memory, "memory.limit_in_bytes", v, err)) < 0)
                        return r;
                if (l->memory && exists_in(cg->v1_memory, "memory.memsw.limit_in_bytes") &&
                    (r = set(cg->v1_memory, "memory.memsw.limit_in_bytes", v, err)) < 0)
                        return r;
        } else if (l->memory) {
                return cairn_error_set(err, -ENOTSUP, "cannot limit the step's memory: no memory controller");
        }
        /* CPU: a quota per 100 ms period */
        if (l->cpus > 0) {
                long quota = (long) (l->cpus * 100000);
                if (quota < 1000)
                        quota = 1000;
                if (cg->v2 && exists_in(cg->v2, "cpu.max")) {
                        snprintf(v, sizeof(v), "%ld 100000", quota);
                        r = set(cg->v2, "cpu.max", v, err);
                } else if (has_v1("cpu", "cpu.cfs_quota_us")) {
                        if ((r = v1_dir("cpu", &cg->v1_cpu, err)) < 0)
                                return r;
                        snprintf(v, sizeof(v), "%ld", quota);
                        r = set(cg->v1_cpu, "cpu.cfs_period_us", "100000", err);
                        if (r == 0)
                                r = set(cg->v1_cpu, "cpu.cfs_quota_us", v, err);
                } else {
                        r = cairn_error_set(err, -ENOTSUP, "cannot limit the step's CPU: no cpu controller");
                }
        }
        return r;
}

/* On v2, the controllers the limits need, for the step's cgroup: enabled
 * in its parent where the kernel lets us (a parent with processes of its
 * own, or without the controllers itself, does not). */
static void enable_v2_controllers(const char *root)
{
        static atomic_bool tried;
        if (atomic_exchange(&tried, true))
                return;   /* once a process: what it can enable stays so */
        static const char *const ctl[] = { "+pids", "+memory", "+cpu" };
        for (size_t i = 0; i < 3; i++)
                (void) write_string(parent_dir(root, ""), "cgroup.subtree_control", ctl[i]);
}

int cairn_step_cgroup_create(unsigned which, const struct cairn_step_limits *limits, struct cairn_step_cgroup *ret,
                             struct cairn_error **err)
{
        *ret = (struct cairn_step_cgroup) { .v2_fd = -1 };
        const char *root = which & CAIRN_CGROUP_V2 ? v2_root() : NULL;
        bool v1 = (which & CAIRN_CGROUP_V1) && cairn_cgroup_has_v1_devices();
        if (!v1 && !root)
                return cairn_error_set(err, -ENOTSUP, "sandbox: this host has no cgroup hierarchy for the step's device "
                                                      "allow-list (neither cgroup2 nor cgroup v1's devices controller "
                                                      "is mounted under /sys/fs/cgroup)");
        int r = 0;
        if (v1)
                r = v1_create(ret, err);
        if (r == 0 && root && limits)
                enable_v2_controllers(root);
        if (r == 0 && root)
                r = v2_create(ret, root, err);
        if (r == 0 && limits)
                r = apply_limits(ret, limits, err);
        /* Without cgroup.kill (v2), a step is frozen so that none of its
         * processes can fork while it is killed. */
        if (r == 0 && v1 && !root && has_v1("freezer", "cgroup.procs"))
                r = v1_dir("freezer", &ret->v1_freezer, err);
        if (r < 0) {
                cairn_step_cgroup_remove(ret);
                return r;
        }
        return 0;
}

static int join(const char *dir)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* "0": the writer itself, in whatever PID namespace it is. */
        int r = write(fd, "0", 1) == 1 ? 0 : -errno;
        close(fd);
        return r;
}

int cairn_step_cgroup_join(const struct cairn_step_cgroup *cg, bool skip_v2)
{
        int r = 0;
        if (cg->v1_devices)
                r = join(cg->v1_devices);
        if (r == 0 && cg->v1_pids)
                r = join(cg->v1_pids);
        if (r == 0 && cg->v1_memory)
                r = join(cg->v1_memory);
        if (r == 0 && cg->v1_cpu)
                r = join(cg->v1_cpu);
        if (r == 0 && cg->v1_freezer)
                r = join(cg->v1_freezer);
        if (r == 0 && cg->v2 && !skip_v2)
                r = join(cg->v2);
        return r;
}

static void remove_dir(const char *dir)
{
        /* The step's PID namespace is gone when its init is reaped, but its
         * other processes may take a moment to leave the cgroup. */
        for (int i = 0; i < 5000 && rmdir(dir) < 0 && errno == EBUSY; i++) {
                struct timespec t = { 0, 1000 * 1000 };
                nanosleep(&t, NULL);
        }
}

/* The number after key in file of dir ("max 3", "oom_kill 1"), or 0. */
static long event_count(const char *dir, const char *file, const char *key)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        char line[256];
        long n = 0;
        size_t klen = strlen(key);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
                        n = atol(line + klen + 1);
        fclose(f);
        return n;
}

bool cairn_step_cgroup_pids_exhausted(const struct cairn_step_cgroup *cg)
{
        return cg->pids_dir && event_count(cg->pids_dir, "pids.events", "max") > 0;
}

unsigned long long cairn_step_cgroup_peak_memory(const struct cairn_step_cgroup *cg)
{
        if (!cg->memory_dir)
                return 0;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", cg->memory_dir, cg->memory_v2 ? "memory.peak" : "memory.max_usage_in_bytes");
        FILE *f = fopen(path, "re");
        unsigned long long v = 0;
        if (f) {
                if (fscanf(f, "%llu", &v) != 1)
                        v = 0;
                fclose(f);
        }
        return v;
}

long cairn_step_cgroup_oom_kills(const struct cairn_step_cgroup *cg)
{
        if (!cg->memory_dir)
                return 0;
        return cg->memory_v2 ? event_count(cg->memory_dir, "memory.events", "oom_kill")
                             : event_count(cg->memory_dir, "memory.oom_control", "oom_kill");
}

/* SIGKILL to each process in dir; returns whether there was any. */
static bool kill_procs_once(const char *dir)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        long pid;
        bool any = false;
        while (fscanf(f, "%ld", &pid) == 1) {
                kill((pid_t) pid, SIGKILL);
                any = true;
        }
        fclose(f);
        return any;
}

static void kill_procs(const char *dir)
{
        /* Until none is left: a process may fork while we kill. */
        for (int round = 0; round < 50 && kill_procs_once(dir); round++) {
                struct timespec t = { 0, 2 * 1000 * 1000 };
                nanosleep(&t, NULL);
        }
}

/* Freeze the v1 freezer cgroup dir, waiting (a second at most) until
 * every process in it is frozen.  Returns whether it is. */
static bool freeze(const char *dir)
{
        if (write_string(dir, "freezer.state", "FROZEN") < 0)
                return false;
        for (int i = 0; i < 1000; i++) {
                char path[4096], state[32] = "";
                snprintf(path, sizeof(path), "%s/freezer.state", dir);
                FILE *f = fopen(path, "re");
                if (!f)
                        return false;
                bool frozen = fgets(state, sizeof(state), f) && strncmp(state, "FROZEN", 6) == 0;
                fclose(f);
                if (frozen)
                        return true;
                struct timespec t = { 0, 1000 * 1000 };
                nanosleep(&t, NULL);
        }
        return false;
}

void cairn_step_cgroup_kill(const struct cairn_step_cgroup *cg)
{
        if (cg->v2 && write_string(cg->v2, "cgroup.kill", "1") == 0)
                return;
        /* v1: frozen, no process can fork or exit; each gets SIGKILL,
         * which takes effect when the cgroup thaws. */
        if (cg->v1_freezer && freeze(cg->v1_freezer)) {
                kill_procs_once(cg->v1_freezer);
                (void) write_string(cg->v1_freezer, "freezer.state", "THAWED");
        }
        const char *dirs[] = { cg->v2, cg->v1_pids, cg->v1_devices };
        for (size_t i = 0; i < 3; i++)
                if (dirs[i])
                        kill_procs(dirs[i]);
}

void cairn_step_cgroup_remove(struct cairn_step_cgroup *cg)
{
        if (cg->v2_fd >= 0)
                close(cg->v2_fd);
        if (cg->v2)
                remove_dir(cg->v2);
        if (cg->v1_devices)
                remove_dir(cg->v1_devices);
        const char *v1[] = { cg->v1_pids, cg->v1_memory, cg->v1_cpu, cg->v1_freezer };
        for (size_t i = 0; i < 4; i++)
                if (v1[i])
                        remove_dir(v1[i]);
        free(cg->v1_freezer);
        free(cg->v1_pids);
        free(cg->v1_memory);
        free(cg->v1_cpu);
        free(cg->v2);
        free(cg->v1_devices);
        *cg = (struct cairn_step_cgroup) { .v2_fd = -1 };
}
