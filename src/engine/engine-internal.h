/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the engine's own files share; not part of the library's interface.
 *
 *   engine.c        opening and closing; the JSON files beside a result
 *   step-context.c  the build context a step runs in
 *   step.c          the step protocol: reuse, build once under a lock,
 *                   publish, follow another process's build; the log
 *   op-from.c, op-run.c, op-copy.c   one file per operation that makes a result
 *   build.c         the spec walk; the healthcheck
 *   prune.c, inspect.c, fsck.c       the store's upkeep
 *   layer.c         trees as tar layers: export's, and a step's diff layer
 */
#ifndef CAIRN_ENGINE_ENGINE_INTERNAL_H
#define CAIRN_ENGINE_ENGINE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compat.h"
#include "base/lock.h"
#include "engine/engine.h"
#include "spec/spec.h"
#include "store/store.h"

struct cairn_engine {
        /* What it was opened with: a process building a stage of a parallel
         * build opens its own engine on the same store (stages-posix.c). */
        char *store_spec;
        char **store_options;        /* NULL-terminated, or NULL */
        int lock_fd;                 /* state/steps.lock: one byte-range lock per step ID */
        char *live_dir;              /* state/live: logs of steps being built, for other processes */
        char *failed_dir;            /* state/failed: why a step last failed, for other processes */
        struct cairn_store *store;
        char *db_path;               /* state/db/db.sqlite */
        struct cairn_db *db;         /* opened on first use (engine_db); under db_lock */
        pthread_mutex_t db_lock;
        const struct cairn_sandbox_ops *sandbox;
        const struct cairn_fetcher_ops *fetcher;
        struct cairn_hasher *hasher;
        struct cairn_engine_config config;   /* cairn.conf */
        /* Cache hits not yet marked used in the database (engine_note_hit):
         * ids and their parents, owned; under hits_lock. */
        pthread_mutex_t hits_lock;
        char **hit_ids;
        char **hit_parents;
        size_t n_hits;
};

/* Remember that result id (on base, or NULL) was reused: marked used, and
 * counted, by the next engine_flush_hits, for the lot at once (in one
 * transaction, or one append to the hits noted beside the database). */
void engine_note_hit(struct cairn_engine *e, const char *id, const char *base);
/* Mark the hits noted so far used; a failure is only warned about (a mark
 * is a hint for prune, and a missing row is added by the next use). */
void engine_flush_hits(struct cairn_engine *e);

/* Read the store's cairn.conf into e->config (config.c). */
int engine_config_load(struct cairn_engine *e, struct cairn_error **err);
void engine_config_clear(struct cairn_engine_config *c);

struct cairn_store *cairn_engine_store(struct cairn_engine *e);

/*
 * e's database, opened on first use, when it folds in the hits earlier
 * processes noted without it (db.h).  A fully cached build never opens
 * it: its hits go to that file instead (engine_flush_hits).  NULL, with
 * *err set, when it cannot be opened.
 */
struct cairn_db *engine_db(struct cairn_engine *e, struct cairn_error **err);
/* Fold in the hits noted beside the database since (a prune does before
 * each choice of what to delete: builds that ran meanwhile may have used
 * it).  A failure is only warned about. */
void engine_db_fold(struct cairn_engine *e, struct cairn_db *db);
/*
 * Close e's database connection (the hits noted are written first); the
 * next engine_db opens it again.  Before a fork: SQLite keeps per-process
 * state about each database file (its locks, its shared-memory map) that
 * a forked child would inherit, and reuse for a connection of its own,
 * with locks the kernel never gave it.
 */
void engine_db_close(struct cairn_engine *e);

/*
 * The JSON files kept beside a result's log (context.json, image.json):
 * they describe a result and are never part of its ID.  Saving takes j
 * (it is released either way).  Loading returns NULL when the file is
 * missing or unreadable (a result OBuilder made has none).
 */
int cairn_result_json_save(const char *dir, const char *name, json_t *j, struct cairn_error **err);
json_t *cairn_result_json_load(const char *dir, const char *name);

/* --- the build context (step-context.c) ------------------------------------ */

/* The build context (reference 1.5). */
struct ctx {
        struct cairn_env_var *env;     /* newest first; strings owned */
        size_t n_env;
        struct cairn_spec_user user;
        char *user_name;               /* owned copy for user.name */
        char *workdir;
        char **shell;
        size_t n_shell;
        /* Stages in scope: name -> result ID. */
        char **scope_names;
        char **scope_ids;
        size_t n_scope;
};

/* The first context of a build or stage (reference 1.5): this platform's
 * workdir and user, and the sandbox's shell (HCS's is OBuilder's Cygwin
 * bash). */
void engine_ctx_init(struct ctx *c, const struct cairn_engine *e);
void engine_ctx_clear(struct ctx *c);
/* A stage's result in scope, by name; later bindings shadow earlier ones. */
void engine_ctx_bind(struct ctx *c, const char *name, const char *id);
const char *engine_ctx_lookup(const struct ctx *c, const char *name);
/* (env K V): remove K, put (K, V) at the front. */
void engine_ctx_setenv(struct ctx *c, const char *name, const char *value);
/* The context a step ran in, beside its log (context.json); secret: the
 * step mounted secrets or is built on one that did. */
int engine_save_context(const struct ctx *c, bool secret, const char *dir, struct cairn_error **err);
/* A copy of c, to walk ahead of the build (build.c's plan). */
void engine_ctx_copy(struct ctx *dst, const struct ctx *src);
/* The uid and gid a step runs as: the context's, or its user name's in the
 * step's root. */
int engine_user_ids(const struct ctx *c, const struct cairn_store_build *b, uid_t *uid, gid_t *gid,
                    struct cairn_error **err);

/* --- the step protocol (step.c) --------------------------------------------- */

/* One build: the engine and what was asked. */
struct run {
        struct cairn_engine *e;
        const struct cairn_build_request *req;
        /* The request's over the store's config. */
        struct cairn_step_limits limits;
        bool seccomp_unconfined;
        bool *volume_warned;   /* engine_check_volume has warned in this build */
        /* The build context's stat cache, loaded by the first copy from the
         * context (engine_context_stat_cache), saved when the build ends. */
        struct cairn_stat_cache **stat_cache;
        /* The registry step cache of this build, or NULL (remote.c). */
        struct engine_remote *remote;
        /* Stages of one level built at once, at most (stages-posix.c);
         * 1: one after another. */
        unsigned jobs;
        /* In the process that builds one stage of a parallel build: what
         * it shares with its parent (stages-posix.c); NULL otherwise. */
        struct engine_stage_shared *stage_shared;
        /* Not NULL: build nothing; a step missing from the store sets
         * *missing and fails the build (build.c's try of cached stages). */
        bool *missing;
};

/* The reused results noted so far (a mark), and forgetting those noted
 * after a mark (step.c). */
size_t engine_hits_mark(struct cairn_engine *e);
void engine_hits_forget(struct cairn_engine *e, size_t mark);

/* The end of a build, in the process that ran it: the reused results
 * marked used, the build context's stat cache saved and let go. */
void engine_run_end(const struct run *R);

/* --- the spec walk (build.c, stages-posix.c) ---------------------------------- */

/*
 * Stage st: its heading, the stage built in a fresh context that sees the
 * stages bound in scope, its "finished" note.  out_id: its result.
 */
int engine_build_stage(const struct run *R, const struct cairn_spec_stage *st, const struct ctx *scope,
                       char out_id[65], struct cairn_error **err);
/* The stages of spec, one after another, each bound in c when done. */
int engine_build_stages_sequential(const struct run *R, const struct cairn_spec *spec, struct ctx *c,
                                   struct cairn_error **err);
/*
 * The same, with the stages that do not need each other (spec's
 * cairn_spec_stage_needs) built at once, up to R->jobs, each in a process
 * of its own with its own engine; their logs are given to the user in spec
 * order, each whole, and read as the sequential walk's would; the first
 * stage that fails in spec order fails the build with its error.  On
 * Windows (stages-win.c): the sequential walk.
 */
int engine_build_stages_parallel(const struct run *R, const struct cairn_spec *spec, struct ctx *c,
                                 struct cairn_error **err);
/* Step id is about to be published by this process: with R->stage_shared,
 * tell the parent, which reads the log as the sequential build's. */
void engine_stage_note_built(const struct run *R, const char *id);

/* Give the hasher the stat cache of the build context (state/context-cache/
 * SHA-256 of the context's path), loading it once a build; not with
 * CAIRN_CONTEXT_CACHE=0 in the environment. */
void engine_context_stat_cache(const struct run *R);

/*
 * On Windows, warn (once a build) when path, the store or a cache (what),
 * is not on the system volume: tools in containers have failed on caches
 * mounted from another volume (docs/windows.md, the D: drive pitfall).
 */
void engine_check_volume(const struct run *R, const char *what, const char *path);

/* Where a step's output goes: its own log, and the live copy other
 * processes may follow (-1 if none). */
struct step_log {
        int log_fd;
        int live_fd;
};

/* What a step does once it has its temporary result b. */
typedef int step_fn(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                    struct cairn_error **err);

/* A sink for a step's output (engine_sink_output's userdata): its logs and
 * the user's. */
struct output_sink {
        const struct run *R;
        int log_fd;
        int live_fd;
};

void engine_sink_output(const char *data, size_t len, void *ud);

/* A line of the build log (a newline is added). */
void engine_emit(const struct run *R, enum cairn_log_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same to any log (nothing when log is NULL). */
void engine_vlog(cairn_log_fn *log, void *ud, enum cairn_log_kind kind, const char *fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));
/* A cached result's log, to the user. */
void engine_replay_log(const struct run *R, const char *dir);

/*
 * Log calls kept to be given later, as records: this header, then len
 * bytes.  A build's held log (build.c) and a stage process's log and
 * outcome (stages-posix.c, in a memfd) are so.
 */
struct engine_record {
        uint32_t kind;   /* an enum cairn_log_kind, or the keeper's own */
        uint32_t len;
};
/* Append a record of kind: a (alen bytes) then b (blen). */
void engine_record_add(struct cairn_buf *buf, unsigned kind, const void *a, size_t alen, const void *b, size_t blen);
/* Each whole record of data (len bytes) to fn, in order (a torn one at the
 * end is not given). */
void engine_records_each(const char *data, size_t len,
                         void (*fn)(unsigned kind, const char *data, size_t len, void *ud), void *ud);

/*
 * Step locks, shared by every cairn process on the store: an open-file-
 * description lock on one byte of state/steps.lock, at an offset taken from
 * the ID.  Held exclusively while a step is built (so it is built once, and
 * other processes wait for it), shared on a base while a step is built on it
 * (so prune leaves it alone).  The kernel drops them when a process dies.
 */
int engine_step_lock(struct cairn_engine *e, const char *id, enum cairn_lock_kind kind, bool wait);
/* The same lock through another descriptor of state/steps.lock (the
 * step cache's pusher opens its own: such locks belong to the open file). */
int engine_step_lock_fd(int fd, const char *id, enum cairn_lock_kind kind, bool wait);
void engine_step_unlock(struct cairn_engine *e, const char *id);
/* The exclusive lock, waiting (and saying so, once) while another process
 * holds it; a cancel stops the wait. */
int engine_lock_waiting(const struct run *R, const char *id, struct cairn_error **err);

/*
 * Reuse result id if the store has it; otherwise build it on base with fn
 * and publish it, with the context it was built in (for `cairn export`).
 * A failed step is never published.  Across processes, each step is built
 * once: the others attach to it.
 */
int engine_get_or_build(const struct run *R, const char *base, const char *id, step_fn *fn, void *arg,
                        const struct ctx *c, bool secret, struct cairn_error **err);
/* Whether result id (in dir) mounted secrets or is built on one that did
 * (its context.json says "secret"): never pushed to a step cache unless
 * asked. */
bool engine_result_secret(const char *dir);

/* Delete id and everything built on it, each under its exclusive step lock
 * (waiting for builds that use them), children first; *count counts them. */
int engine_delete_tree(const struct run *R, const char *id, long *count, struct cairn_error **err);
/* Delete id and everything built on it, children first, without locks
 * (cairn delete, fsck); removed(id) is called for each. */
int engine_delete_rec(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud), void *ud,
                      struct cairn_error **err);
/* The bytes result id takes on disk (0 if it is not there). */
unsigned long long engine_result_bytes(struct cairn_engine *e, const char *id);
/* Delete leaf id, whose step lock the caller holds (and which this
 * releases): the result, then its row. */
int engine_delete_locked_leaf(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud),
                              void *ud, struct cairn_error **err);

/* Fault injection for the tests: with CAIRN_TEST_PAUSE=STAGE in the
 * environment, stop at that stage (saying so on stderr) long enough to be
 * killed there.  Stages: fetch, run, copy, publish, prune. */
void engine_test_pause(const char *stage);
void engine_sleep_ms(long ms);

/* --- the operations (op-*.c) -------------------------------------------------- */

/* (from IMAGE): the base's ID in out_id, and its environment into c. */
int engine_get_base(const struct run *R, const char *from, struct ctx *c, char out_id[65], struct cairn_error **err);
/* Whether result id (in dir) is a base: its image.json names the
 * (from ...) whose ID is id. */
bool engine_is_base_result(const char *dir, const char *id);
/* (run ...) on base: the new result's ID in out_id. */
int engine_do_run(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_run *op,
                  char out_id[65], struct cairn_error **err);
/* (copy ...) on base: the new result's ID in out_id. */
int engine_do_copy(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_copy *op,
                   char out_id[65], struct cairn_error **err);

/* --- the registry step cache (remote.c, layer.c; docs/step-cache.md) ------- */

/* A step's diff layer as a blob in a blob store. */
struct engine_layer {
        char digest[72];     /* "sha256:HEX" of the gzip'ed tar blob */
        char diff_id[72];    /* "sha256:HEX" of the uncompressed tar */
        uint64_t size;       /* bytes of the blob */
};
/*
 * Write result id's changes against result parent (NULL: id's whole root,
 * as for a base) as a gzip'ed tar (OCI whiteouts) into the blob store at
 * blob_root (fetch/image.h), computing both digests in one pass.  The caller
 * holds (at least shared) step locks on id and parent, so neither is deleted meanwhile.
 * Applied with the hardened extractor (fetch/extract.h) on parent's root,
 * it gives id's root: names, types, modes (setuid/setgid/sticky),
 * owners, sizes, contents, symlink targets, hard links, device nodes, FIFOs,
 * mtimes, and the extended attributes the extractor keeps (user.*, security.capability).
 */
int engine_diff_layer(struct cairn_engine *e, const char *parent, const char *id, const char *blob_root,
                      struct engine_layer *ret, struct cairn_error **err);

/*
 * Write the tree at dirfd (never followed through a symlink; -1: an empty
 * tree) into the tar writer a, names in byte order, without the root
 * itself; overlay: it is
 * an overlayfs layer, whose whiteouts and opaque directories become OCI
 * ".wh." entries (a layer with overlayfs redirects or metacopy, which no
 * tar can hold, fails with -EXDEV).  For `cairn export`.
 */
struct archive;
int engine_tar_tree(struct archive *a, int dirfd, bool overlay, struct cairn_error **err);

struct engine_remote;
struct engine_planned;
/* Set up R->remote from the request and the store's config (NULL when
 * neither names a step cache). */
int engine_remote_open(struct run *R, struct cairn_error **err);
/* Wait for the pushes still running, say what they did, and free it. */
void engine_remote_close(struct run *R);
/* While set, engine_do_run and engine_do_copy compute their step's ID and
 * do nothing else (build.c walks ahead with it). */
bool engine_remote_planning(const struct run *R);
/* Whether the build looks steps up in a step cache (--cache-from). */
bool engine_remote_pulls(const struct run *R);
void engine_remote_set_planning(const struct run *R, bool on);
/*
 * The steps ids (n of them, in order, the first built on base, which is in
 * the store) are about to be built: look them all up in the step caches,
 * and from the deepest one found, download the layers of those that are
 * not in the store.  engine_get_or_build then takes them from there.  A
 * failure is a warning, and a miss.
 */
void engine_remote_plan(const struct run *R, const char *base, char (*ids)[65], size_t n);
/* The pulled layer of step id, if the plan has one. */
struct engine_planned *engine_remote_planned(const struct run *R, const char *id);
/* The step_fn that makes a result from its pulled layer (arg: the planned). */
int engine_remote_pull_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                            struct cairn_error **err);
/* Result id is in the store: pulled (p), or built here or reused (p NULL),
 * which queues it for the push. */
void engine_remote_done(const struct run *R, const char *id, struct engine_planned *p);

#endif
