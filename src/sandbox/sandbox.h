/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sandboxes: run one command in a root filesystem, isolated.  One ops table
 * per backend: the native Linux sandbox (namespaces, no helper process)
 * and containerd (through ctr, Linux or Windows containers).  The engine prepares everything host-side (secret files, cache
 * copies, the rootfs) and describes the run with struct cairn_sandbox_config.
 */
#ifndef CAIRN_SANDBOX_SANDBOX_H
#define CAIRN_SANDBOX_SANDBOX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/compat.h"
#include "base/error.h"

struct cairn_sandbox_mount {
        const char *src;          /* host path (file or directory) */
        const char *dst;          /* absolute path inside the container */
        bool readonly;
};

/* What a step may use; 0 for no limit (pids: 0 for the default, -1 for
 * none).  set says which fields were given (CAIRN_LIMIT_*), so that a
 * command line can override a config file's value, "none" included. */
struct cairn_step_limits {
        unsigned long long memory;     /* bytes, swap included where the host accounts it */
        long pids;                     /* processes and threads */
        double cpus;                   /* CPUs' worth of time per period */
        long long timeout_ms;          /* wall-clock time */
        unsigned set;
};

enum {
        CAIRN_LIMIT_MEMORY = 1 << 0,
        CAIRN_LIMIT_PIDS = 1 << 1,
        CAIRN_LIMIT_CPUS = 1 << 2,
        CAIRN_LIMIT_TIMEOUT = 1 << 3,
};

/*
 * Set the limit called name ("memory", "pids-limit", "cpus",
 * "step-timeout": the options of `build`, and the keys of the store's
 * config file) from its text, or "none" for no limit.  Returns 0;
 * -ENOENT when name is not a limit; -EINVAL with *ret_expected saying
 * what the value should look like.
 */
int cairn_step_limit_set(struct cairn_step_limits *l, const char *name, const char *value,
                         const char **ret_expected);

/* Each limit of over that was set, else base's. */
void cairn_step_limits_merge(struct cairn_step_limits *ret, const struct cairn_step_limits *base,
                             const struct cairn_step_limits *over);

/* What a step used. */
struct cairn_step_usage {
        unsigned long long peak_memory;   /* bytes: the step's memory cgroup's peak, else its largest process's */
        long long cpu_us;                 /* user and system time of all its processes */
};

/* A fork bomb stops here. */
#define CAIRN_DEFAULT_PIDS_LIMIT 8192

struct cairn_sandbox_config {
        const char *rootfs;
        const char *const *argv;  /* NULL-terminated; argv[0] searched in the container's PATH */
        const char *const *env;   /* NULL-terminated "K=V" */
        const char *cwd;          /* created if missing */
        uid_t uid;
        gid_t gid;
        const char *hostname;
        bool network_host;        /* share the host's network (and its resolv.conf) */
        const struct cairn_sandbox_mount *mounts;
        size_t n_mounts;
        /* Each chunk of the command's output (stdout and stderr merged). */
        void (*output)(const char *data, size_t len, void *userdata);
        void *userdata;
        /* The step's limits, or NULL for the defaults. */
        const struct cairn_step_limits *limits;
        /* Filled with what the step used, when the command ran (may be NULL). */
        struct cairn_step_usage *usage;
        /* No seccomp filter (--security-opt seccomp=unconfined). */
        bool seccomp_unconfined;
        /* Set to non-zero (from a signal handler, say) to kill the step. */
        volatile sig_atomic_t *cancel;
        /* For backends that are also the store (containerd): the store's
         * state, the step's temporary result directory (its layerinfo),
         * and the user by name when the root is opaque (Windows). */
        void *backend;
        const char *result_dir;
        const char *user_name;
};

struct cairn_sandbox_ops {
        const char *kind;
        /*
         * Run the command and wait for it and everything it started.  Returns
         * 0 with *ret_status set to a wait(2) status, or < 0 when the sandbox
         * could not be set up (the command did not run).  A cancelled run
         * returns -ECANCELED.
         */
        int (*run)(const struct cairn_sandbox_config *c, int *ret_status, struct cairn_error **err);
};

extern const struct cairn_sandbox_ops cairn_sandbox_native_ops;
/* ctr run --config, on the containerd store's snapshots (Linux or HCS). */
extern const struct cairn_sandbox_ops cairn_sandbox_containerd_ops;

#endif
