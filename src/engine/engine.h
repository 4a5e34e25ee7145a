/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build engine: runs a spec step by step in a store and a sandbox, and
 * reuses every step whose ID is already in the store.
 *
 *   struct cairn_engine *e;
 *   cairn_engine_open("overlayfs:/var/lib/cairn", NULL, &e, &err);
 *   cairn_engine_build(e, &request, id, &err);   // id of the final result
 *   cairn_engine_close(e);
 *
 * The engine sees the store, the sandbox and the fetcher only through their
 * ops tables; which ones is decided in cairn_engine_open.  What the user sees
 * goes through request.log, tagged heading/note/output, in the format of
 * OBuilder's build log (reference section 9).
 */
#ifndef CAIRN_ENGINE_ENGINE_H
#define CAIRN_ENGINE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/error.h"
#include "sandbox/sandbox.h"
#include "spec/spec.h"

struct cairn_engine;

enum cairn_log_kind {
        CAIRN_LOG_HEADING,   /* "WORKDIR: (op ...)", "(from IMAGE)" */
        CAIRN_LOG_NOTE,      /* "---> saved as ..." */
        CAIRN_LOG_OUTPUT,    /* raw step output */
        CAIRN_LOG_USAGE,     /* "---> used ... of CPU, ... of memory at peak": not in OBuilder's log */
};

typedef void cairn_log_fn(enum cairn_log_kind kind, const char *data, size_t len, void *userdata);

struct cairn_secret {
        const char *id;
        const char *value;
        size_t len;
};

struct cairn_registry_options;

struct cairn_build_request {
        const struct cairn_spec *spec;
        const char *context_dir;           /* source of (copy (src ...)) */
        const struct cairn_secret *secrets;
        size_t n_secrets;
        cairn_log_fn *log;
        void *log_userdata;
        volatile sig_atomic_t *cancel;     /* set non-zero to stop */
        const struct cairn_registry_options *registry;   /* for pulls; may be NULL */
        int pull;                          /* enum cairn_pull_policy (fetch/fetcher.h) */
        bool seccomp_unconfined;           /* steps run without the seccomp filter */
        const struct cairn_step_limits *limits;   /* over the store's config; NULL: the config's */
        /* The registry step cache (docs/step-cache.md): repositories
         * ("HOST/PATH") looked up on a local miss, in order, and the one
         * each step built is pushed to; the store's config gives them when
         * these are empty.  Credentials and TLS are `registry`'s. */
        const char *const *cache_from;
        size_t n_cache_from;
        const char *cache_to;
        bool share_secret_steps;           /* push steps that mounted secrets, and what is built on them */
        bool no_remote_cache;              /* ignore the config's cache-from and cache-to */
        /* (build ...) stages that do not need each other are built at once,
         * this many at most, each in a forked process of its own (not on
         * Windows; not with a step cache or CAIRN_PULL_ALWAYS); the log and
         * the outcome are those of the sequential build.  0 or 1: one after
         * another.  With more, the log callback is still called only in
         * this process; base/log.h's sink gets the children's warnings
         * here too. */
        unsigned jobs;
};

/* store_options: NULL-terminated "KEY=VALUE" for the store (--store-opt),
 * or NULL. */
int cairn_engine_open(const char *store_spec, const char *const *store_options, struct cairn_engine **ret,
                      struct cairn_error **err);
void cairn_engine_close(struct cairn_engine *e);
const char *cairn_engine_store_root(const struct cairn_engine *e);
/* Deleted results whose space the store's filesystem is still freeing in
 * the background, or -1 where the store cannot tell or frees it at once. */
long cairn_engine_pending_deletes(struct cairn_engine *e);

/* The store's config file, read by cairn_engine_open (a bad one fails it):
 * defaults for each build's limits and seccomp, which a build request's
 * own settings override. */
#define CAIRN_ENGINE_CONFIG_FILE "cairn.conf"
struct cairn_engine_config {
        char *path;                        /* the file read, or NULL when there is none */
        struct cairn_step_limits limits;
        bool seccomp_unconfined;
        char **cache_from;                 /* NULL-terminated, or NULL */
        char *cache_to;
        bool share_secret_steps;
        unsigned jobs;                     /* `jobs`: the command line's default for --jobs; 0: not set */
};
const struct cairn_engine_config *cairn_engine_config(const struct cairn_engine *e);

/* A build's jobs (--jobs, the config's `jobs`): a decimal number from 1
 * to CAIRN_MAX_JOBS. */
#define CAIRN_MAX_JOBS 1024
bool cairn_parse_jobs(const char *s, unsigned *ret);

/* Whether name is a step cache repository, "HOST[:PORT]/PATH" (no tag, no
 * digest); if not, *ret_why says what is wrong. */
bool cairn_cache_repo_valid(const char *name, const char **ret_why);

/*
 * The registry step cache by hand (`cairn cache push|pull`): push result id
 * (and the layers of its chain) to the repository `repo`, or pull step id
 * from it into the store.  Push refuses a step that mounted secrets, or is
 * built on one, unless share_secrets.  log (may be NULL) gets progress.
 */
int cairn_engine_cache_push(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, bool share_secrets, cairn_log_fn *log, void *ud,
                            struct cairn_error **err);
int cairn_engine_cache_pull(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, cairn_log_fn *log, void *ud,
                            struct cairn_error **err);

/* Build the spec; on success out_id holds the ID of the last snapshot. */
int cairn_engine_build(struct cairn_engine *e, const struct cairn_build_request *req, char out_id[65],
                       struct cairn_error **err);

/* Delete id and everything built on it, children first; removed(id) is
 * called for each. */
int cairn_engine_delete(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud), void *ud,
                        struct cairn_error **err);


/* Delete up to limit leaves used before `before`, least recently used first,
 * repeatedly (parents become leaves).  Returns the number deleted. */
long cairn_engine_prune(struct cairn_engine *e, time_t before, long limit, void (*removed)(const char *id, void *ud),
                        void *ud, struct cairn_error **err);

/* What `cairn prune` may delete: least recently used leaves first, until
 * every limit holds.  A field left at its "none" value does not apply. */
struct cairn_prune_policy {
        long long older_than;            /* seconds; also delete leaves unused for this long (-1: none) */
        long max_items;                  /* at most this many results (-1: none) */
        unsigned long long max_bytes;    /* results' disk use at most this (0: none) */
        unsigned long long keep_free_bytes;   /* free space on the store's filesystem (0: none) */
        double keep_free_percent;        /* same, as a percentage (0: none) */
};

long cairn_engine_prune_policy(struct cairn_engine *e, const struct cairn_prune_policy *p,
                               void (*removed)(const char *id, void *ud), void *ud, struct cairn_error **err);

/*
 * Check the store against its database and what a crash can leave: temporary
 * results and mounts, rows whose result is gone, results without rows, wrong
 * child counts.  With repair, fix each (temporary items only when no other
 * process uses the store).  report gets one line per finding.  Returns the
 * number of findings.
 */
long cairn_engine_fsck(struct cairn_engine *e, bool repair, void (*report)(const char *line, void *ud), void *ud,
                       struct cairn_error **err);

/* Counters kept across runs ("hits", "misses"), and the number of results. */
long cairn_engine_stat(struct cairn_engine *e, const char *name);
long cairn_engine_count(struct cairn_engine *e);

/* OBuilder's self-test: on base image `busybox`, run "echo healthcheck" with
 * /bin/sh -c, then delete the result.  The log goes to log; setting *cancel
 * (a timer, say) stops it; limits as a build's (NULL: the config's). */
int cairn_engine_healthcheck(struct cairn_engine *e, const struct cairn_step_limits *limits, cairn_log_fn *log,
                             void *ud, volatile sig_atomic_t *cancel, struct cairn_error **err);

/* Write result id as an OCI image layout: a directory, or a tarball when
 * target ends in ".tar".  tag names the image in the layout's index. */
int cairn_engine_export_oci(struct cairn_engine *e, const char *id, const char *target, const char *tag,
                            struct cairn_error **err);

struct cairn_result_info {
        const char *id;
        const char *parent;      /* "" if none */
        const char *created;
        const char *used;
        long children;
        unsigned long long bytes;   /* on disk, this result only */
};

/* Describe result id as JSON (*ret, free()d by the caller): its row, the
 * context its step ran in, and the image its chain starts from (name,
 * manifest digest and layers, when the base was fetched by cairn). */
int cairn_engine_inspect(struct cairn_engine *e, const char *id, char **ret, struct cairn_error **err);

/* Whether a result's bytes are its own changes only (overlayfs), so that
 * the space its whole chain takes is the sum along it; otherwise each
 * result is a whole root. */
bool cairn_engine_results_layered(const struct cairn_engine *e);

int cairn_engine_list(struct cairn_engine *e, int (*fn)(const struct cairn_result_info *r, void *ud), void *ud,
                      struct cairn_error **err);

#endif
