/* SPDX-License-Identifier: Apache-2.0 */
/* The spec walk (stages and operations), and the healthcheck's spec. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/process.h"
#include "containerd/ctr.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "fetch/fetcher.h"
#include "manifest/manifest.h"
#include "manifest/stat-cache.h"

static int build_spec(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char out_id[65],
                      struct cairn_error **err);

/* One operation: a step (base becomes its result) or a change of context. */
static int apply_op(const struct run *R, const struct cairn_spec_op *op, struct ctx *c, char base[65],
                    struct cairn_error **err)
{
        char id[65];
        int r = 0;
        switch (op->kind) {
        case CAIRN_SPEC_COMMENT:
                break;
        case CAIRN_SPEC_WORKDIR: {
                char *w = !cairn_ocaml_is_relative(op->workdir) ? cairn_xstrdup(op->workdir)
                                                               : cairn_ocaml_concat(c->workdir, op->workdir);
                free(c->workdir);
                c->workdir = w;
                break;
        }
        case CAIRN_SPEC_USER:
                free(c->user_name);
                c->user = op->user;
                c->user_name = op->user.by_name ? cairn_xstrdup(op->user.name) : NULL;
                c->user.name = c->user_name;
                break;
        case CAIRN_SPEC_ENV:
                engine_ctx_setenv(c, op->env.name, op->env.value);
                break;
        case CAIRN_SPEC_SHELL:
                for (size_t k = 0; k < c->n_shell; k++)
                        free(c->shell[k]);
                free(c->shell);
                c->n_shell = op->shell.n;
                c->shell = cairn_xzalloc((op->shell.n + 1) * sizeof(char *));
                for (size_t k = 0; k < op->shell.n; k++)
                        c->shell[k] = cairn_xstrdup(op->shell.args[k]);
                break;
        case CAIRN_SPEC_RUN:
                r = engine_do_run(R, c, base, &op->run, id, err);
                if (r >= 0)
                        memcpy(base, id, 65);
                break;
        case CAIRN_SPEC_COPY:
                r = engine_do_copy(R, c, base, &op->copy, id, err);
                if (r >= 0)
                        memcpy(base, id, 65);
                break;
        }
        return r;
}

/*
 * Walk ahead from op `from` (on base) with a copy of the context, computing
 * each step's ID, and have the step caches looked up for those from the
 * first one the store lacks: the deepest found is pulled, and the walk then
 * takes the steps from there.  A step whose ID cannot be computed yet ends
 * the walk ahead (the build reports it when it gets there).
 */
static void plan_remote(const struct run *R, const struct cairn_spec *spec, size_t from, const struct ctx *c,
                        const char *base)
{
        struct ctx pc;
        engine_ctx_copy(&pc, c);
        char(*ids)[65] = cairn_xzalloc((spec->n_ops + 1) * sizeof(*ids));
        size_t n = 0;
        char cur[65], on[65];
        memcpy(cur, base, 65);
        memcpy(on, base, 65);
        engine_remote_set_planning(R, true);
        for (size_t i = from; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                struct cairn_error *ignored = NULL;
                if (apply_op(R, op, &pc, cur, &ignored) < 0) {
                        cairn_error_free(ignored);
                        break;
                }
                if (op->kind != CAIRN_SPEC_RUN && op->kind != CAIRN_SPEC_COPY)
                        continue;
                char *dir = NULL;
                if (n == 0 && cairn_store_result(R->e->store, cur, &dir, NULL) > 0) {
                        free(dir);
                        memcpy(on, cur, 65);
                        continue;
                }
                memcpy(ids[n++], cur, 65);
        }
        engine_remote_set_planning(R, false);
        engine_ctx_clear(&pc);
        if (n)
                engine_remote_plan(R, on, ids, n);
        free(ids);
}

static int run_ops(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char base[65],
                   struct cairn_error **err)
{
        /* Only a build that can pull walks ahead (a copy's ID hashes its
         * sources). */
        bool planned = !engine_remote_pulls(R);
        for (size_t i = 0; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                if (R->req->cancel && *R->req->cancel)
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                if (!planned && (op->kind == CAIRN_SPEC_RUN || op->kind == CAIRN_SPEC_COPY)) {
                        plan_remote(R, spec, i, c, base);
                        planned = true;
                }
                struct cairn_buf h = CAIRN_BUF_INIT;
                struct cairn_pp pp = { &h, 0 };
                cairn_pp_str(&pp, c->workdir);
                cairn_pp_str(&pp, ": ");
                cairn_spec_print_op(&pp, op);
                engine_emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
                cairn_buf_release(&h);
                int r = apply_op(R, op, c, base, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int engine_build_stage(const struct run *R, const struct cairn_spec_stage *st, const struct ctx *scope,
                       char out_id[65], struct cairn_error **err)
{
        struct cairn_buf h = CAIRN_BUF_INIT;
        cairn_buf_adds(&h, "(build ");
        cairn_sexp_print_quoted(&h, st->name, strlen(st->name));
        cairn_buf_adds(&h, " \xe2\x80\xa6)");
        engine_emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
        cairn_buf_release(&h);
        /* A stage starts from a fresh context that sees the stages bound
         * so far. */
        struct ctx child;
        engine_ctx_init(&child, R->e);
        for (size_t k = 0; k < scope->n_scope; k++)
                engine_ctx_bind(&child, scope->scope_names[k], scope->scope_ids[k]);
        int r = build_spec(R, st->spec, &child, out_id, err);
        engine_ctx_clear(&child);
        if (r < 0)
                return r;
        struct cairn_buf n = CAIRN_BUF_INIT;
        cairn_sexp_print_quoted(&n, st->name, strlen(st->name));
        engine_emit(R, CAIRN_LOG_NOTE, "--> finished %s", cairn_buf_str(&n));
        cairn_buf_release(&n);
        return 0;
}

int engine_build_stages_sequential(const struct run *R, const struct cairn_spec *spec, struct ctx *c,
                                   struct cairn_error **err)
{
        for (size_t i = 0; i < spec->n_stages; i++) {
                char id[65];
                int r = engine_build_stage(R, &spec->stages[i], c, id, err);
                if (r < 0)
                        return r;
                engine_ctx_bind(c, spec->stages[i].name, id);
        }
        return 0;
}

/*
 * Whether the stages of spec are worth building at once: more than one job,
 * and two stages that do not need each other (stage i not needing i - 1:
 * what it needs comes before i - 1, so it never needs i - 1 through another
 * stage either).  Not with the step cache (its plan and its pusher are the
 * build's, in one process), nor with --pull=always (each stage would ask
 * whether its image changed, and act on it, at the same time), nor for
 * Windows containers (stages-win.c; an hcs store driven from Linux, as the
 * tests do, stays as it is on Windows).
 */
static bool stages_parallel(const struct run *R, const struct cairn_spec *spec)
{
        if (R->jobs <= 1 || spec->n_stages < 2 || R->remote || R->req->pull == CAIRN_PULL_ALWAYS ||
            R->e->store->windows)
                return false;
        for (size_t i = 1; i < spec->n_stages; i++)
                if (!cairn_spec_stage_needs(spec, i, i - 1))
                        return true;
        return false;
}

/* A log held back, as records (engine_record_add). */
static void hold_log(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        engine_record_add(ud, (unsigned) kind, data, len, NULL, 0);
}

static void give_record(unsigned kind, const char *data, size_t len, void *ud)
{
        const struct run *R = ud;
        R->req->log((enum cairn_log_kind) kind, data, len, R->req->log_userdata);
}

static void give_held_log(const struct run *R, const struct cairn_buf *b)
{
        if (R->req->log)
                engine_records_each(b->data, b->len, give_record, (void *) R);
}

/*
 * The stages of spec when every step of them is in the store: one after
 * another in this process, building nothing, with the log held back.  A
 * fork and an engine per stage cost more than a stage found whole (a fully
 * cached 3-stage build took twice as long in processes).  Returns 1 and
 * gives the log when they were all there, 0 (nothing given, nothing bound
 * in c) when the stages must be built, as they are then, in processes.
 */
static int stages_cached(const struct run *R, const struct cairn_spec *spec, struct ctx *c)
{
        struct cairn_buf held = CAIRN_BUF_INIT;
        struct cairn_build_request req = *R->req;
        req.log = hold_log;
        req.log_userdata = &held;
        bool missing = false;
        struct run attempt = *R;
        attempt.req = &req;
        attempt.jobs = 1;
        attempt.missing = &missing;
        struct ctx scope;
        engine_ctx_init(&scope, R->e);
        for (size_t k = 0; k < c->n_scope; k++)
                engine_ctx_bind(&scope, c->scope_names[k], c->scope_ids[k]);
        size_t hits = engine_hits_mark(R->e);
        struct cairn_error *err = NULL;
        int r = engine_build_stages_sequential(&attempt, spec, &scope, &err);
        if (r >= 0) {
                give_held_log(R, &held);
                for (size_t i = 0; i < spec->n_stages; i++)
                        engine_ctx_bind(c, spec->stages[i].name, engine_ctx_lookup(&scope, spec->stages[i].name));
        } else {
                /* A step to build, or an error the build in processes will
                 * meet and report itself: the try leaves no trace. */
                engine_hits_forget(R->e, hits);
        }
        cairn_error_free(err);
        engine_ctx_clear(&scope);
        cairn_buf_release(&held);
        return r >= 0;
}

static int build_spec(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char out_id[65],
                      struct cairn_error **err)
{
        int r = 0;
        if (!stages_parallel(R, spec))
                r = engine_build_stages_sequential(R, spec, c, err);
        else if (!stages_cached(R, spec, c))
                r = engine_build_stages_parallel(R, spec, c, err);
        if (r < 0)
                return r;
        char base[65];
        r = engine_get_base(R, spec->from, c, base, err);
        if (r < 0)
                return r;
        r = run_ops(R, spec, c, base, err);
        if (r < 0)
                return r;
        memcpy(out_id, base, 65);
        return 0;
}

void engine_check_volume(const struct run *R, const char *what, const char *path)
{
        _cleanup_free_ char *vol = NULL, *sys = NULL;
        if (!R->e->store->windows || *R->volume_warned || cairn_fs_on_system_volume(path, &vol, &sys))
                return;
        *R->volume_warned = true;
        cairn_warn("%s \"%s\" is on %s, not on the system volume %s: programs in containers have failed on "
                   "caches mounted from another volume (opam could not lock its files); if a build fails so, keep "
                   "the store on %s (docs/windows.md, the D: drive pitfall)",
                   what, path, vol, sys, sys);
}

int cairn_engine_build(struct cairn_engine *e, const struct cairn_build_request *req, char out_id[65],
                       struct cairn_error **err)
{
        bool volume_warned = false;
        struct cairn_stat_cache *stat_cache = NULL;
        struct run R = { e, req, .seccomp_unconfined = req->seccomp_unconfined || e->config.seccomp_unconfined,
                         .volume_warned = &volume_warned, .stat_cache = &stat_cache,
                         .jobs = req->jobs ? req->jobs : 1 };
        cairn_step_limits_merge(&R.limits, &e->config.limits, req->limits);
        engine_check_volume(&R, "the store", e->store->root);
        int r = engine_remote_open(&R, err);
        if (r < 0)
                return r;
        struct ctx c;
        engine_ctx_init(&c, e);
        r = build_spec(&R, req->spec, &c, out_id, err);
        engine_ctx_clear(&c);
        engine_flush_hits(e);
        engine_remote_close(&R);
        engine_run_end(&R);
        return r;
}

void engine_run_end(const struct run *R)
{
        engine_flush_hits(R->e);
        struct cairn_stat_cache *stat_cache = *R->stat_cache;
        if (!stat_cache)
                return;
        /* Saved after a failed build too: what was hashed is right. */
        struct cairn_error *save_err = NULL;
        if (cairn_stat_cache_save(stat_cache, &save_err) < 0) {
                cairn_warn("cannot save the build context's stat cache: %s", save_err->message);
                cairn_error_free(save_err);
        }
        cairn_hasher_set_stat_cache(R->e->hasher, NULL);
        cairn_stat_cache_free(stat_cache);
        *R->stat_cache = NULL;
}

void engine_context_stat_cache(const struct run *R)
{
        if (*R->stat_cache || !R->req->context_dir)
                return;
        const char *off = getenv("CAIRN_CONTEXT_CACHE");
        if (off && strcmp(off, "0") == 0)
                return;
        const char *root = R->req->context_dir;
        _cleanup_free_ char *dir = cairn_path_join(R->e->store->state_dir, "context-cache");
        struct cairn_error *ignored = NULL;
        if (cairn_mkdir_p(dir, 0700, &ignored) < 0) {
                cairn_error_free(ignored);
                return;
        }
        char key[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(root, strlen(root), key);
        _cleanup_free_ char *path = cairn_path_join(dir, key);
        *R->stat_cache = cairn_stat_cache_load(path, root);
        cairn_hasher_set_stat_cache(R->e->hasher, *R->stat_cache);
}

int cairn_engine_healthcheck(struct cairn_engine *e, const struct cairn_step_limits *limits, cairn_log_fn *log,
                             void *ud, volatile sig_atomic_t *cancel, struct cairn_error **err)
{
        /* OBuilder's: busybox, or on Windows nanoserver of the host's build. */
        _cleanup_free_ char *text =
                e->store->windows
                        ? cairn_xasprintf("((from %s) (shell cmd /S /C) (run (shell \"echo healthcheck\")))",
                                          cairn_nanoserver_image(cairn_windows_build()))
                        : cairn_xstrdup("((from busybox) (shell /bin/sh -c) (run (shell \"echo healthcheck\")))");
        struct cairn_spec *spec = NULL;
        int r = cairn_spec_parse("<healthcheck>", text, strlen(text), &spec, err);
        if (r < 0)
                return r;
        struct cairn_build_request req = {
                .spec = spec, .context_dir = e->store->windows ? "C:\\" : "/", .log = log, .log_userdata = ud, .cancel = cancel,
                .limits = limits,
        };
        char id[65];
        r = cairn_engine_build(e, &req, id, err);
        if (r >= 0)
                r = cairn_engine_delete(e, id, NULL, NULL, err);
        cairn_spec_free(spec);
        return r;
}
