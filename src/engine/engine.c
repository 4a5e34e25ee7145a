/* SPDX-License-Identifier: Apache-2.0 */
#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json-file.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strbuf.h"
#include "engine/backends.h"
#include "manifest/copy.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "manifest/manifest.h"
#include "engine/rootfs.h"
#include "containerd/ctr.h"
#include "db/db.h"
#include "fetch/fetcher.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

struct cairn_engine {
        int lock_fd;                 /* state/steps.lock: one byte-range lock per step ID */
        char *live_dir;              /* state/live: logs of steps being built, for other processes */
        char *failed_dir;            /* state/failed: why a step last failed, for other processes */
        struct cairn_store *store;
        struct cairn_db *db;
        const struct cairn_sandbox_ops *sandbox;
        const struct cairn_fetcher_ops *fetcher;
        struct cairn_hasher *hasher;
};

int cairn_engine_open(const char *store_spec, const char *const *store_options, struct cairn_engine **ret,
                      struct cairn_error **err)
{
        _cleanup_free_ char *dbdir = NULL, *dbpath = NULL;
        struct cairn_engine *e = cairn_xzalloc(sizeof(*e));
        e->lock_fd = -1;
        /* The backends: the store's kind names its sandbox and fetcher
         * (engine/backends-posix.c). */
        const struct cairn_backend *backend = NULL;
        const char *path = NULL;
        int r = cairn_backend_find(store_spec, &backend, &path, err);
        if (r < 0)
                goto fail;
        e->sandbox = backend->sandbox;
        e->fetcher = backend->fetcher;
        if ((r = cairn_store_open(backend->store, store_spec, path, store_options, &e->store, err)) < 0)
                goto fail;
        dbdir = cairn_path_join(e->store->state_dir, "db");
        if ((r = cairn_mkdir_p(dbdir, 0755, err)) < 0)
                goto fail;
        dbpath = cairn_path_join(dbdir, "db.sqlite");
        if ((r = cairn_db_open(dbpath, &e->db, err)) < 0)
                goto fail;
        e->hasher = cairn_hasher_new(0);
        e->live_dir = cairn_path_join(e->store->state_dir, "live");
        e->failed_dir = cairn_path_join(e->store->state_dir, "failed");
        if ((r = cairn_mkdir_p(e->live_dir, 0700, err)) < 0 || (r = cairn_mkdir_p(e->failed_dir, 0700, err)) < 0)
                goto fail;
        {
                _cleanup_free_ char *lock = cairn_path_join(e->store->state_dir, "steps.lock");
                e->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (e->lock_fd < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", lock);
                        goto fail;
                }
        }
        *ret = e;
        return 0;
fail:
        cairn_engine_close(e);
        return r;
}

void cairn_engine_close(struct cairn_engine *e)
{
        if (!e)
                return;
        if (e->lock_fd >= 0)
                close(e->lock_fd);
        free(e->live_dir);
        free(e->failed_dir);
        cairn_db_close(e->db);
        cairn_store_close(e->store);
        cairn_hasher_free(e->hasher);
        free(e);
}

struct cairn_store *cairn_engine_store(struct cairn_engine *e)
{
        return e->store;
}

const char *cairn_engine_store_root(const struct cairn_engine *e)
{
        return e->store->root;
}

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

struct run {
        struct cairn_engine *e;
        const struct cairn_build_request *req;
};

/* The first context of a build or stage (reference 1.5): this platform's
 * workdir and user, and the sandbox's shell (HCS's is OBuilder's Cygwin
 * bash). */
static void ctx_init(struct ctx *c, const struct cairn_engine *e)
{
        memset(c, 0, sizeof(*c));
        c->workdir = cairn_xstrdup(cairn_default_workdir);
        if (cairn_default_user_name) {
                c->user_name = cairn_xstrdup(cairn_default_user_name);
                c->user.by_name = true;
                c->user.name = c->user_name;
        }
        static const char *const sh[] = { "/usr/bin/env", "bash", "-c" };
        static const char *const hcs_sh[] = { "C:\\cygwin64\\bin\\bash.exe", "-lc" };
        const char *const *shell = e->store->windows ? hcs_sh : sh;
        c->n_shell = e->store->windows ? 2 : 3;
        c->shell = cairn_xzalloc(c->n_shell * sizeof(char *));
        for (size_t i = 0; i < c->n_shell; i++)
                c->shell[i] = cairn_xstrdup(shell[i]);
}

static void ctx_clear(struct ctx *c)
{
        for (size_t i = 0; i < c->n_env; i++) {
                free((char *) c->env[i].name);
                free((char *) c->env[i].value);
        }
        free(c->env);
        free(c->user_name);
        free(c->workdir);
        for (size_t i = 0; i < c->n_shell; i++)
                free(c->shell[i]);
        free(c->shell);
        for (size_t i = 0; i < c->n_scope; i++) {
                free(c->scope_names[i]);
                free(c->scope_ids[i]);
        }
        free(c->scope_names);
        free(c->scope_ids);
}

static void ctx_bind(struct ctx *c, const char *name, const char *id)
{
        c->scope_names = cairn_xreallocarray(c->scope_names, c->n_scope + 1, sizeof(char *));
        c->scope_ids = cairn_xreallocarray(c->scope_ids, c->n_scope + 1, sizeof(char *));
        c->scope_names[c->n_scope] = cairn_xstrdup(name);
        c->scope_ids[c->n_scope] = cairn_xstrdup(id);
        c->n_scope++;
}

static const char *ctx_lookup(const struct ctx *c, const char *name)
{
        /* Later bindings shadow earlier ones. */
        for (size_t i = c->n_scope; i-- > 0;)
                if (strcmp(c->scope_names[i], name) == 0)
                        return c->scope_ids[i];
        return NULL;
}

/* (env K V): remove K, put (K, V) at the front. */
static void ctx_setenv(struct ctx *c, const char *name, const char *value)
{
        size_t k = 0;
        for (size_t i = 0; i < c->n_env; i++) {
                if (strcmp(c->env[i].name, name) == 0) {
                        free((char *) c->env[i].name);
                        free((char *) c->env[i].value);
                        continue;
                }
                c->env[k++] = c->env[i];
        }
        c->env = cairn_xreallocarray(c->env, k + 1, sizeof(*c->env));
        memmove(c->env + 1, c->env, k * sizeof(*c->env));
        c->env[0] = (struct cairn_env_var) { cairn_xstrdup(name), cairn_xstrdup(value) };
        c->n_env = k + 1;
}

int cairn_result_json_save(const char *dir, const char *name, json_t *j, struct cairn_error **err)
{
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return cairn_error_set(err, -ENOMEM, "cannot write %s in \"%s\"", name, dir);
        _cleanup_free_ char *path = cairn_path_join(dir, name);
        int r = cairn_write_file(path, text, strlen(text), 0644, err);
        free(text);
        return r;
}

json_t *cairn_result_json_load(const char *dir, const char *name)
{
        _cleanup_free_ char *path = cairn_path_join(dir, name);
        if (access(path, R_OK) < 0)
                return NULL;
        struct cairn_error *ignored = NULL;
        json_t *j = cairn_load_json(path, name, &ignored);
        cairn_error_free(ignored);
        return j;
}

/* The context a step ran in, beside its log: what an exported image's
 * config says (env, working directory, user).  Not part of any ID. */
static int save_context(const struct ctx *c, const char *dir, struct cairn_error **err)
{
        json_t *j = json_object();
        json_t *env = json_array();
        for (size_t i = 0; i < c->n_env; i++) {
                _cleanup_free_ char *kv = cairn_xasprintf("%s=%s", c->env[i].name, c->env[i].value);
                json_array_append_new(env, json_string(kv));
        }
        json_object_set_new(j, "env", env);
        json_object_set_new(j, "workdir", json_string(c->workdir));
        _cleanup_free_ char *user = c->user.by_name ? cairn_xstrdup(c->user.name)
                                                    : cairn_xasprintf("%" PRId64 ":%" PRId64, c->user.uid, c->user.gid);
        json_object_set_new(j, "user", json_string(user));
        return cairn_result_json_save(dir, "context.json", j, err);
}

static void emit(const struct run *R, enum cairn_log_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void emit(const struct run *R, enum cairn_log_kind kind, const char *fmt, ...)
{
        if (!R->req->log)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        cairn_buf_addc(&b, '\n');
        R->req->log(kind, b.data, b.len, R->req->log_userdata);
        cairn_buf_release(&b);
}

static void replay_log(const struct run *R, const char *dir)
{
        if (!R->req->log)
                return;
        _cleanup_free_ char *path = cairn_path_join(dir, "log");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                R->req->log(CAIRN_LOG_OUTPUT, buf, (size_t) n, R->req->log_userdata);
}

/* What a step does once it has its temporary result. */
/* Where a step's output goes: its own log, and the live copy other
 * processes may follow (-1 if none). */
struct step_log {
        int log_fd;
        int live_fd;
};

typedef int step_fn(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                    struct cairn_error **err);

struct output_sink {
        const struct run *R;
        int log_fd;
        int live_fd;
};

static void sink_output(const char *data, size_t len, void *ud)
{
        struct output_sink *s = ud;
        if (s->log_fd >= 0 && write(s->log_fd, data, len) != (ssize_t) len)
                cairn_warn("cannot write the step log: %s", strerror(errno));
        if (s->live_fd >= 0 && write(s->live_fd, data, len) != (ssize_t) len) {
                close(s->live_fd);
                s->live_fd = -1;
        }
        if (s->R->req->log)
                s->R->req->log(CAIRN_LOG_OUTPUT, data, len, s->R->req->log_userdata);
}

/*
 * Reuse result id if the store has it; otherwise build it on base with fn
 * and publish it.  A failed step is never published.
 */
/*
 * Step locks, shared by every cairn process on the store: an open-file-
 * description lock on one byte of state/steps.lock, at an offset taken from
 * the ID.  Held exclusively while a step is built (so it is built once, and
 * other processes wait for it), shared on a base while a step is built on it
 * (so prune leaves it alone).  The kernel drops them when a process dies.
 */
static int step_lock(struct cairn_engine *e, const char *id, enum cairn_lock_kind kind, bool wait)
{
        char prefix[16];
        memcpy(prefix, id, 15);
        prefix[15] = '\0';
        return cairn_lock_byte(e->lock_fd, strtoull(prefix, NULL, 16), kind, wait);
}

static void step_unlock(struct cairn_engine *e, const char *id)
{
        step_lock(e, id, CAIRN_UNLOCK, false);
}

struct ctx;
static int save_context(const struct ctx *c, const char *dir, struct cairn_error **err);

/*
 * Fault injection for the tests: with CAIRN_TEST_PAUSE=STAGE in the
 * environment, a build stops at that stage (saying so on stderr) long enough
 * to be killed there.  Stages: fetch, run, copy, publish, prune.
 */
static void test_pause(const char *stage)
{
        const char *want = getenv("CAIRN_TEST_PAUSE");
        if (!want || strcmp(want, stage) != 0)
                return;
        fprintf(stderr, "cairn: paused at %s\n", stage);
        fflush(stderr);
        sleep(60);
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* Copy what is new in the live log of another process's build to the user. */
static bool drain(const struct run *R, int fd)
{
        char buf[65536];
        bool any = false;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                any = true;
                if (R->req->log)
                        R->req->log(CAIRN_LOG_OUTPUT, buf, (size_t) n, R->req->log_userdata);
        }
        return any;
}

/*
 * Another process is building id: follow its log from the start until it
 * lets the step go, then take its result, or its failure.  Returns 1 when the
 * step is done (result or error in *err), 0 when this process now holds the
 * step's lock and must build it itself (the other one was cancelled or died).
 */
static int attach(const struct run *R, const char *id, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        _cleanup_free_ char *live_path = cairn_path_join(e->live_dir, id);
        _cleanup_free_ char *failed_path = cairn_path_join(e->failed_dir, id);
        struct timespec since;
        clock_gettime(CLOCK_REALTIME, &since);
        int live = -1;
        bool streamed = false;
        for (;;) {
                if (live < 0)
                        live = open(live_path, O_RDONLY | O_CLOEXEC);
                if (live >= 0 && drain(R, live))
                        streamed = true;
                if (step_lock(e, id, CAIRN_LOCK_EXCLUSIVE, false) == 0)
                        break;
                if (R->req->cancel && *R->req->cancel) {
                        if (live >= 0)
                                close(live);
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                }
                sleep_ms(50);
        }
        if (live >= 0) {
                if (drain(R, live))
                        streamed = true;
                close(live);
        }
        char *dir = NULL;
        if (e->store->ops->result(e->store, id, &dir, NULL) > 0) {
                if (!streamed)
                        replay_log(R, dir);
                free(dir);
                step_unlock(e, id);
                emit(R, CAIRN_LOG_NOTE, "---> saved as \"%s\"", id);
                return 1;
        }
        struct timespec mtime;
        if (cairn_file_mtime(failed_path, &mtime) == 0 &&
            (mtime.tv_sec > since.tv_sec || (mtime.tv_sec == since.tv_sec && mtime.tv_nsec >= since.tv_nsec))) {
                _cleanup_free_ char *why = NULL;
                size_t len;
                struct cairn_error *ignored = NULL;
                if (cairn_read_file(failed_path, 65536, &why, &len, &ignored) < 0) {
                        cairn_error_free(ignored);
                        why = cairn_xstrdup("the step failed in another cairn process");
                }
                step_unlock(e, id);
                cairn_error_set(err, -EIO, "%s", why);
                return 1;
        }
        return 0;
}

/*
 * Reuse result id if the store has it; otherwise build it on base with fn
 * and publish it, with the context it was built in (for `cairn export`).
 * Across processes, each step is built once: the others attach to it.
 */
static int get_or_build(const struct run *R, const char *base, const char *id, step_fn *fn, void *arg,
                        const struct ctx *c, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        char *dir = NULL;
        int r = e->store->ops->result(e->store, id, &dir, err);
        if (r < 0)
                return r;
        if (r > 0) {
                replay_log(R, dir);
                free(dir);
                /* Marks it used; also records a result from before the
                 * database was (re)created. */
                cairn_db_add(e->db, id, base, NULL);
                cairn_db_stat_add(e->db, "hits", 1, NULL);
                emit(R, CAIRN_LOG_NOTE, "---> using \"%s\" from cache", id);
                return 0;
        }
        if (step_lock(e, id, CAIRN_LOCK_EXCLUSIVE, false) < 0) {
                r = attach(R, id, err);
                if (r != 0)
                        return r < 0 ? r : (*err ? (*err)->code : 0);
        } else if (e->store->ops->result(e->store, id, &dir, NULL) > 0) {
                /* Built by another process between our look and our lock. */
                replay_log(R, dir);
                free(dir);
                step_unlock(e, id);
                emit(R, CAIRN_LOG_NOTE, "---> using \"%s\" from cache", id);
                return 0;
        }
        /* This process builds the step; its base must not be pruned meanwhile. */
        if (base)
                step_lock(e, base, CAIRN_LOCK_SHARED, true);
        _cleanup_free_ char *live_path = cairn_path_join(e->live_dir, id);
        _cleanup_free_ char *failed_path = cairn_path_join(e->failed_dir, id);
        struct cairn_store_build *b = NULL;
        int log_fd = -1, live_fd = -1;
        if ((r = e->store->ops->begin(e->store, base, id, &b, err)) < 0)
                goto out;
        unlink(b->log_path);
        log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (log_fd < 0) {
                r = cairn_error_set_errno(err, errno, "cannot create the step log \"%s\"", b->log_path);
                e->store->ops->abort(e->store, b);
                goto out;
        }
        unlink(live_path);
        live_fd = open(live_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct step_log slog = { log_fd, live_fd };
        r = fn(R, b, &slog, arg, err);
        close(log_fd);
        if (r >= 0 && c)
                r = save_context(c, b->dir, err);
        if (r >= 0)
                test_pause("publish");
        if (r < 0) {
                e->store->ops->abort(e->store, b);
                /* Processes attached to this step get the same failure;
                 * a cancelled step is simply taken over. */
                if (r != -ECANCELED && *err)
                        cairn_write_file(failed_path, (*err)->message, strlen((*err)->message), 0600, NULL);
                goto out;
        }
        if ((r = e->store->ops->commit(e->store, b, err)) < 0)
                goto out;
        if ((r = cairn_db_add(e->db, id, base, err)) < 0)
                goto out;
        unlink(failed_path);
        cairn_db_stat_add(e->db, "misses", 1, NULL);
        emit(R, CAIRN_LOG_NOTE, "---> saved as \"%s\"", id);
out:
        if (live_fd >= 0)
                close(live_fd);
        unlink(live_path);
        step_unlock(e, id);
        if (base)
                step_unlock(e, base);
        return r;
}

/* --- base images ----------------------------------------------------- */

struct base_arg {
        const char *from;
        const char *built_on;             /* the base it starts from, or NULL */
        const char *const *have_layers;   /* what that base holds */
        enum cairn_pull_policy pull;
};

static void base_log(const char *line, void *ud)
{
        sink_output(line, strlen(line), ud);
}

/* ((env ((K V) ...))), as OBuilder saves a base's environment. */
static int save_base_env(const char *dir, char *const *env, struct cairn_error **err)
{
        struct cairn_arena *ar = cairn_arena_new();
        size_t n = cairn_strv_length((const char *const *) env);
        struct cairn_sexp **pairs = cairn_arena_array(ar, n, sizeof(*pairs));
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(env[i], '=');
                size_t klen = eq ? (size_t) (eq - env[i]) : strlen(env[i]);
                pairs[i] = cairn_sexp_list(ar, cairn_sexp_atomn(ar, env[i], klen), cairn_sexp_atom(ar, eq ? eq + 1 : ""),
                                           NULL);
        }
        struct cairn_sexp *doc = cairn_sexp_list(
                ar, cairn_sexp_list(ar, cairn_sexp_atom(ar, "env"), cairn_sexp_listv(ar, pairs, n), NULL), NULL);
        struct cairn_buf text = CAIRN_BUF_INIT;
        cairn_sexp_print_mach(&text, doc);
        cairn_buf_addc(&text, '\n');
        _cleanup_free_ char *path = cairn_path_join(dir, "env");
        int r = cairn_write_file(path, text.data, text.len, 0644, err);
        cairn_buf_release(&text);
        cairn_arena_free(ar);
        return r;
}

/* image.json beside the env file: which image a base was unpacked from
 * (its name, manifest digest and layers).  OBuilder keys a base by the
 * (from ...) string alone; this records what that string resolved to.  Not
 * part of any ID, and OBuilder ignores the file. */
static int save_base_image(const char *dir, const char *from, const char *built_on, const struct cairn_fetch_result *res,
                           struct cairn_error **err)
{
        json_t *j = json_object();
        json_object_set_new(j, "from", json_string(from));
        /* The base it shares its bottom layers with (its parent). */
        if (built_on)
                json_object_set_new(j, "built_on", json_string(built_on));
        json_object_set_new(j, "image", json_string(res->image ? res->image : ""));
        json_object_set_new(j, "digest", json_string(res->digest ? res->digest : ""));
        /* What the image is: a later build compares it with the image the
         * name gives then (base_changed). */
        if (res->config)
                json_object_set_new(j, "config", json_string(res->config));
        json_t *layers = json_array();
        for (size_t i = 0; res->layers && res->layers[i]; i++)
                json_array_append_new(layers, json_string(res->layers[i]));
        json_object_set_new(j, "layers", layers);
        return cairn_result_json_save(dir, "image.json", j, err);
}

static int fetch_base(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                      struct cairn_error **err)
{
        struct base_arg *a = arg;
        struct output_sink sink = { R, log->log_fd, log->live_fd };
        struct cairn_fetch_result res = { 0 };
        test_pause("fetch");
        struct cairn_fetch_request fr = {
                .store_root = R->e->store->root, .from = a->from, .rootfs = b->rootfs,
                .registry = R->req->registry, .log = base_log, .userdata = &sink, .backend = R->e->store->backend,
                .have_layers = a->have_layers, .pull = a->pull,
        };
        int r = R->e->fetcher->fetch(&fr, &res, err);
        /* A base started from another base has that one's files (or, on
         * overlayfs, links to them): its own replace them. */
        static const char *const own[] = { "env", "image.json", "context.json" };
        for (size_t i = 0; r >= 0 && i < CAIRN_ARRAY_SIZE(own); i++) {
                _cleanup_free_ char *path = cairn_path_join(b->dir, own[i]);
                unlink(path);
        }
        if (r >= 0)
                r = save_base_env(b->dir, res.env, err);
        if (r >= 0)
                r = save_base_image(b->dir, a->from, a->built_on, &res, err);
        cairn_fetch_result_clear(&res);
        return r;
}

/* Read a base result's env file: ((env ((K V) ...))). */
static int read_base_env(const char *dir, struct ctx *c, struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_path_join(dir, "env");
        _cleanup_free_ char *data = NULL;
        size_t len;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file(path, 1 << 20, &data, &len, &ignored) < 0) {
                cairn_error_free(ignored);
                return 0;   /* no env file: an empty environment */
        }
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_sexp *s;
        int r = cairn_sexp_read(a, path, data, len, &s, NULL, err);
        if (r == 0) {
                const struct cairn_sexp *env = NULL;
                if (s->kind == CAIRN_SEXP_LIST)
                        for (size_t i = 0; i < s->n; i++) {
                                const struct cairn_sexp *f = s->items[i];
                                if (f->kind == CAIRN_SEXP_LIST && f->n == 2 && cairn_sexp_is_atom(f->items[0], "env") &&
                                    f->items[1]->kind == CAIRN_SEXP_LIST)
                                        env = f->items[1];
                        }
                for (size_t i = 0; env && i < env->n; i++) {
                        const struct cairn_sexp *kv = env->items[i];
                        if (kv->kind != CAIRN_SEXP_LIST || kv->n != 2 || kv->items[0]->kind != CAIRN_SEXP_ATOM ||
                            kv->items[1]->kind != CAIRN_SEXP_ATOM) {
                                r = cairn_error_set(err, -EINVAL, "%s: malformed environment entry", path);
                                break;
                        }
                        /* Image env goes after the caller's, in image order. */
                        c->env = cairn_xreallocarray(c->env, c->n_env + 1, sizeof(*c->env));
                        c->env[c->n_env++] = (struct cairn_env_var) { cairn_xstrdup(kv->items[0]->atom),
                                                                      cairn_xstrdup(kv->items[1]->atom) };
                }
        }
        cairn_arena_free(a);
        return r;
}

/* Whether result id (in dir) is a base: its image.json, which results
 * built on it also show (their clone or overlay holds it), names the
 * (from ...) whose ID is id. */
static bool is_base_result(const char *dir, const char *id)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        const char *from = json_string_value(json_object_get(j, "from"));
        char base_id[65] = "";
        if (from)
                cairn_base_id(from, base_id);
        json_decref(j);
        return strcmp(base_id, id) == 0;
}

/* The layers a base result was unpacked from (its image.json), or NULL. */
static char **base_layers(const char *dir)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        json_t *layers = json_object_get(j, "layers");
        char **v = NULL;
        if (json_is_array(layers) && json_array_size(layers) > 0) {
                size_t n = json_array_size(layers);
                v = cairn_xzalloc((n + 1) * sizeof(char *));
                for (size_t i = 0; i < n; i++) {
                        const char *d = json_string_value(json_array_get(layers, i));
                        v[i] = cairn_xstrdup(d ? d : "");
                }
        }
        json_decref(j);
        return v;
}

struct prefix_search {
        struct cairn_engine *e;
        const char *self;
        char **bases;           /* results with an image.json */
        size_t n;
};

static int collect_bases(const struct cairn_db_row *row, void *ud)
{
        struct prefix_search *ps = ud;
        char *dir = NULL;
        if (strcmp(row->id, ps->self) == 0 || ps->e->store->ops->result(ps->e->store, row->id, &dir, NULL) <= 0)
                return 0;
        if (is_base_result(dir, row->id)) {
                ps->bases = cairn_xreallocarray(ps->bases, ps->n + 1, sizeof(char *));
                ps->bases[ps->n++] = cairn_xstrdup(row->id);
        }
        free(dir);
        return 0;
}

/*
 * A base already in the store whose image layers are the first layers of
 * `from`'s: the new base starts from it (a clone, or on overlayfs an upper
 * directory over it), and only the layers after are unpacked.  Two images
 * sharing their bottom layers (ocaml/opam's for two compilers, say) unpack
 * those once.  *prefix stays "" when there is none.
 */
static void find_prefix_base(const struct run *R, const char *from, const char *self, enum cairn_pull_policy pull,
                             char prefix[65], char ***ret_layers, char ***ret_have)
{
        struct cairn_engine *e = R->e;
        struct prefix_search ps = { e, self, NULL, 0 };
        cairn_db_foreach(e->db, collect_bases, &ps, NULL);
        if (ps.n == 0)
                return;
        struct cairn_fetch_request fr = { .store_root = e->store->root, .from = from, .registry = R->req->registry,
                                          .pull = pull };
        char **layers = NULL;
        if (e->fetcher->resolve(&fr, true, &layers) <= 0) {
                for (size_t i = 0; i < ps.n; i++)
                        free(ps.bases[i]);
                free(ps.bases);
                return;
        }
        size_t best = 0;
        for (size_t i = 0; i < ps.n; i++) {
                char *dir = NULL;
                if (e->store->ops->result(e->store, ps.bases[i], &dir, NULL) > 0) {
                        char **have = base_layers(dir);
                        size_t k = 0;
                        while (have && have[k] && layers[k] && strcmp(have[k], layers[k]) == 0)
                                k++;
                        /* Usable only if all of its layers are the image's first. */
                        if (have && !have[k] && k > best) {
                                best = k;
                                snprintf(prefix, 65, "%s", ps.bases[i]);
                                cairn_strv_free(*ret_have);
                                *ret_have = TAKE_PTR(have);
                        }
                        cairn_strv_free(have);
                }
                free(dir);
                free(ps.bases[i]);
        }
        free(ps.bases);
        *ret_layers = layers;
}

static int delete_locked_leaf(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud),
                              void *ud, struct cairn_error **err);

/* Take id's step lock exclusively, waiting (and saying so, once) while
 * another process holds it: building on it, or building it. */
static int lock_waiting(const struct run *R, const char *id, struct cairn_error **err)
{
        bool said = false;
        while (step_lock(R->e, id, CAIRN_LOCK_EXCLUSIVE, false) < 0) {
                if (R->req->cancel && *R->req->cancel)
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                if (!said)
                        emit(R, CAIRN_LOG_NOTE, "Waiting for another build that uses \"%s\"", id);
                said = true;
                sleep_ms(50);
        }
        return 0;
}

/* Delete id and everything built on it, each under its exclusive step lock
 * (so never while a build uses it: a step being built on it holds a shared
 * lock), children first; *count counts them. */
static int delete_tree(const struct run *R, const char *id, long *count, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        int r = lock_waiting(R, id, err);
        if (r < 0)
                return r;
        /* Under id's lock no step can start on it: its children are all. */
        char **children = NULL;
        r = cairn_db_children(e->db, id, &children, err);
        for (char **p = children; r >= 0 && p && *p; p++)
                r = delete_tree(R, *p, count, err);
        cairn_strv_free(children);
        if (r < 0) {
                step_unlock(e, id);
                return r;
        }
        (*count)++;
        return delete_locked_leaf(e, id, NULL, NULL, err);
}

/* What a base's image.json says its image was. */
static void base_identity(const char *dir, struct cairn_image_identity *ret)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        const char *config = json_string_value(json_object_get(j, "config"));
        const char *digest = json_string_value(json_object_get(j, "digest"));
        ret->config = config && *config ? cairn_xstrdup(config) : NULL;
        ret->digest = digest && *digest ? cairn_xstrdup(digest) : NULL;
        json_decref(j);
}

/*
 * OBuilder keys a base by its (from ...) string alone, so a base stays
 * cached however the image behind the name changes.  cairn records what the
 * image was beside the base (image.json: its config digest, and the digest
 * it was found by): if the name now gives another image (re-imported with
 * another env or layers, or, with --pull=always, a tag that moved), the
 * base and everything built on it are removed, each under its step lock so
 * never while another build uses it, and the base is made again.  A base
 * with no image.json (OBuilder's), or whose image is no longer at hand, is
 * kept.  With --pull=always the image is brought up to date here, before
 * anything is removed: *ret_pulled says the fetch need not ask again.
 */
static int base_changed(const struct run *R, const char *from, const char *id, bool *ret_pulled,
                        struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        *ret_pulled = false;
        if (!e->fetcher->identify)
                return 0;
        struct cairn_image_identity had = { 0 }, now = { 0 };
        char *dir = NULL;
        if (e->store->ops->result(e->store, id, &dir, NULL) > 0)
                base_identity(dir, &had);
        free(dir);
        bool always = R->req->pull == CAIRN_PULL_ALWAYS;
        if (!always && !had.config && !had.digest)
                return 0;
        struct output_sink sink = { R, -1, -1 };
        struct cairn_fetch_request fr = { .store_root = e->store->root, .from = from, .registry = R->req->registry,
                                          .backend = e->store->backend, .pull = (enum cairn_pull_policy) R->req->pull,
                                          .log = base_log, .userdata = &sink };
        int r = e->fetcher->identify(&fr, &now, err);
        if (r < 0) {
                cairn_image_identity_clear(&had);
                return cairn_error_prefix(err, "(from %s)", from);
        }
        *ret_pulled = always && r > 0;
        long removed = 0;
        if (r > 0 && cairn_image_identity_differs(&had, &now)) {
                /* Again under the base's lock: another build may have made
                 * it anew meanwhile. */
                if ((r = lock_waiting(R, id, err)) < 0)
                        goto out;
                struct cairn_image_identity again = { 0 };
                if (e->store->ops->result(e->store, id, &dir, NULL) > 0)
                        base_identity(dir, &again);
                free(dir);
                dir = NULL;
                if (cairn_image_identity_differs(&again, &now)) {
                        emit(R, CAIRN_LOG_NOTE, "The image %s changed (%s %.19s, was %.19s)", from,
                             now.config && again.config ? "config" : "digest",
                             now.config && again.config ? now.config : now.digest,
                             now.config && again.config ? again.config : again.digest);
                        r = delete_tree(R, id, &removed, err);
                        if (r >= 0)
                                emit(R, CAIRN_LOG_NOTE, "Removed its base and %ld result%s built on it", removed - 1,
                                     removed == 2 ? "" : "s");
                }
                cairn_image_identity_clear(&again);
                step_unlock(e, id);
        }
out:
        cairn_image_identity_clear(&had);
        cairn_image_identity_clear(&now);
        return r < 0 ? r : 0;
}

static int get_base(const struct run *R, const char *from, struct ctx *c, char out_id[65], struct cairn_error **err)
{
        struct cairn_buf h = CAIRN_BUF_INIT;
        cairn_buf_adds(&h, "(from ");
        cairn_sexp_print_atom(&h, from, strlen(from));
        cairn_buf_addc(&h, ')');
        emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
        cairn_buf_release(&h);
        cairn_base_id(from, out_id);
        struct base_arg a = { from, NULL, NULL, CAIRN_PULL_MISSING };
        char prefix[65] = "";
        char **layers = NULL, **have = NULL;
        char *dir = NULL;
        bool pulled = false;
        int r = base_changed(R, from, out_id, &pulled, err);
        if (r < 0)
                return r;
        /* What base_changed pulled is at hand: the fetch need not ask. */
        a.pull = pulled ? CAIRN_PULL_MISSING : (enum cairn_pull_policy) R->req->pull;
        if (R->e->store->ops->result(R->e->store, out_id, &dir, NULL) > 0) {
                /* A base that shares another's layers keeps that one as its
                 * parent, also when its row must be recorded again. */
                json_t *j = cairn_result_json_load(dir, "image.json");
                const char *on = json_string_value(json_object_get(j, "built_on"));
                if (on && strlen(on) == 64)
                        snprintf(prefix, sizeof(prefix), "%s", on);
                json_decref(j);
        } else if (R->e->fetcher->resolve) {
                find_prefix_base(R, from, out_id, a.pull, prefix, &layers, &have);
        }
        free(dir);
        dir = NULL;
        a.built_on = *prefix ? prefix : NULL;
        a.have_layers = (const char *const *) have;
        r = get_or_build(R, *prefix ? prefix : NULL, out_id, fetch_base, &a, NULL, err);
        if (r < 0 && have && R->e->store->ops->result(R->e->store, prefix, &dir, NULL) <= 0) {
                /* The base it was to share went (pruned) before it could be
                 * used: unpack every layer. */
                if (err) {
                        cairn_error_free(*err);
                        *err = NULL;
                }
                a.built_on = NULL;
                a.have_layers = NULL;
                r = get_or_build(R, NULL, out_id, fetch_base, &a, NULL, err);
        }
        free(dir);
        dir = NULL;
        cairn_strv_free(layers);
        cairn_strv_free(have);
        if (r < 0)
                return r;
        if (R->e->store->ops->result(R->e->store, out_id, &dir, err) <= 0)
                return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", out_id);
        r = read_base_env(dir, c, err);
        free(dir);
        return r;
}

/* --- run ------------------------------------------------------------- */

struct run_arg {
        const struct ctx *c;
        const struct cairn_spec_run *op;
        const struct cairn_secret_value *secrets;
        uid_t uid;
        gid_t gid;
};


static int user_ids(const struct ctx *c, const struct cairn_store_build *b, uid_t *uid, gid_t *gid,
                    struct cairn_error **err)
{
        const char *rootfs = b->rootfs;
        /* An opaque root (Windows) takes the user by name in the sandbox. */
        if (c->user.by_name && b->opaque_rootfs) {
                *uid = 0;
                *gid = 0;
                return 0;
        }
        if (c->user.by_name)
                return cairn_root_resolve_user(rootfs, c->user.name, uid, gid, err);
        if (c->user.uid < 0 || c->user.uid > UINT32_MAX - 1 || c->user.gid < 0 || c->user.gid > UINT32_MAX - 1)
                return cairn_error_set(err, -EINVAL, "uid %" PRId64 " / gid %" PRId64 " is out of range", c->user.uid,
                                       c->user.gid);
        *uid = (uid_t) c->user.uid;
        *gid = (gid_t) c->user.gid;
        return 0;
}

static void quote_argv(struct cairn_buf *b, char *const *argv, size_t n, const char *last)
{
        for (size_t i = 0; i < n; i++)
                cairn_buf_printf(b, "%s\"%s\"", i ? " " : "", argv[i]);
        if (last)
                cairn_buf_printf(b, "%s\"%s\"", n ? " " : "", last);
}



static int run_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                    struct cairn_error **err)
{
        struct run_arg *a = arg;
        const struct ctx *c = a->c;
        struct cairn_engine *e = R->e;
        uid_t uid = 0;
        gid_t gid = 0;
        int r = user_ids(c, b, &uid, &gid, err);
        if (r < 0)
                return r;
        size_t n_mounts = a->op->n_caches + a->op->n_secrets;
        struct cairn_sandbox_mount *mounts = cairn_xzalloc((n_mounts + 1) * sizeof(*mounts));
        struct cairn_store_cache **caches = cairn_xzalloc((a->op->n_caches + 1) * sizeof(*caches));
        /* Files the sandbox mounts over: if it has to create them, they are
         * removed again so that no empty mount point (nor anything of a
         * secret) stays in the result. */
        size_t n_targets = a->op->n_secrets + 2;
        const char **targets = cairn_xzalloc(n_targets * sizeof(char *));
        bool *existed = cairn_xzalloc(n_targets * sizeof(bool));
        for (size_t i = 0; i < a->op->n_secrets; i++)
                targets[i] = a->op->secrets[i].target;
        targets[a->op->n_secrets] = "/etc/hosts";
        targets[a->op->n_secrets + 1] = "/etc/resolv.conf";
        for (size_t i = 0; i < n_targets; i++)
                existed[i] = cairn_root_exists(b->rootfs, targets[i]);
        char secret_dir[] = "/tmp/cairn-secrets-XXXXXX";
        bool have_secret_dir = false;
        size_t k = 0, n_caches = 0;
        for (size_t i = 0; i < a->op->n_caches && r >= 0; i++) {
                r = e->store->ops->cache_get(e->store, a->op->caches[i].id, uid, gid, &caches[n_caches], err);
                if (r < 0)
                        break;
                mounts[k++] = (struct cairn_sandbox_mount) { caches[n_caches]->path, a->op->caches[i].target, false };
                n_caches++;
        }
        if (r >= 0 && a->op->n_secrets) {
                if (!mkdtemp(secret_dir)) {
                        r = cairn_error_set_errno(err, errno, "cannot create a directory for secrets");
                } else {
                        have_secret_dir = true;
                        for (size_t i = 0; i < a->op->n_secrets && r >= 0; i++) {
                                char *p = cairn_xasprintf("%s/secret-%zu", secret_dir, i);
                                r = cairn_write_file(p, a->secrets[i].value, a->secrets[i].len, 0400, err);
                                mounts[k++] = (struct cairn_sandbox_mount) { p, a->op->secrets[i].target, true };
                        }
                }
        }
        /* argv = shell @ [cmd]; env as K=V, context order. */
        const char **argv = cairn_xzalloc((c->n_shell + 2) * sizeof(char *));
        for (size_t i = 0; i < c->n_shell; i++)
                argv[i] = c->shell[i];
        argv[c->n_shell] = a->op->shell;
        const char **envp = cairn_xzalloc((c->n_env + 1) * sizeof(char *));
        for (size_t i = 0; i < c->n_env; i++)
                envp[i] = cairn_xasprintf("%s=%s", c->env[i].name, c->env[i].value);
        bool network_host = a->op->n_network == 1 && strcmp(a->op->network[0], "host") == 0;
        if (r >= 0 && a->op->n_network && !network_host) {
                struct cairn_buf nb = CAIRN_BUF_INIT;
                for (size_t i = 0; i < a->op->n_network; i++)
                        cairn_buf_printf(&nb, "%s\"%s\"", i ? "; " : "", a->op->network[i]);
                r = cairn_error_set(err, -EINVAL, "Unsupported network configuration [%s]", cairn_buf_str(&nb));
                cairn_buf_release(&nb);
        }
        if (r >= 0) {
                struct output_sink sink = { R, log->log_fd, log->live_fd };
                struct cairn_sandbox_config cfg = {
                        .rootfs = b->rootfs, .argv = argv, .env = envp, .cwd = c->workdir, .uid = uid, .gid = gid,
                        .hostname = "builder", .network_host = network_host, .mounts = mounts, .n_mounts = k,
                        .output = sink_output, .userdata = &sink, .cancel = R->req->cancel,
                        .backend = e->store->backend, .result_dir = b->dir,
                        .user_name = b->opaque_rootfs && c->user.by_name ? c->user.name : NULL,
                };
                int status = 0;
                test_pause("run");
                r = e->sandbox->run(&cfg, &status, err);
                if (r >= 0 && status != 0) {
                        struct cairn_buf msg = CAIRN_BUF_INIT;
                        quote_argv(&msg, c->shell, c->n_shell, a->op->shell);
                        /* "exit status N" or "signal SIGX"; Windows' NTSTATUS
                         * codes in hex, as OBuilder prints them. */
                        char sbuf[64];
                        cairn_buf_printf(&msg, " failed with %s",
                                         cairn_process_status_string(status, sbuf, sizeof(sbuf)));
                        r = cairn_error_set(err, -EIO, "%s", cairn_buf_str(&msg));
                        cairn_buf_release(&msg);
                }
        }
        /* Caches are released whether the step worked or not, as OBuilder. */
        for (size_t i = 0; i < n_caches; i++) {
                struct cairn_error *e2 = NULL;
                if (e->store->ops->cache_release(e->store, caches[i], &e2) < 0) {
                        cairn_warn("%s", e2->message);
                        cairn_error_free(e2);
                }
        }
        for (size_t i = 0; i < n_targets; i++)
                if (!existed[i])
                        cairn_root_remove_empty_file(b->rootfs, targets[i]);
        if (have_secret_dir)
                cairn_rm_rf(secret_dir, NULL);
        for (size_t i = 0; i < a->op->n_caches + a->op->n_secrets; i++)
                if (i >= a->op->n_caches && mounts[i].src)
                        free((char *) mounts[i].src);
        for (size_t i = 0; i < c->n_env; i++)
                free((char *) envp[i]);
        free(envp);
        free(argv);
        free(mounts);
        free(caches);
        free(existed);
        free(targets);
        return r;
}

static int do_run(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_run *op,
                  char out_id[65], struct cairn_error **err)
{
        /* Secrets are resolved before hashing: their values are in the key. */
        struct cairn_secret_value *sv = cairn_xzalloc((op->n_secrets + 1) * sizeof(*sv));
        int r = 0;
        for (size_t i = 0; i < op->n_secrets; i++) {
                const struct cairn_secret *found = NULL;
                for (size_t j = 0; j < R->req->n_secrets; j++)
                        if (strcmp(R->req->secrets[j].id, op->secrets[i].id) == 0)
                                found = &R->req->secrets[j];
                if (!found) {
                        r = cairn_error_set(err, -ENOENT, "Couldn't find value for requested secret '%s'",
                                            op->secrets[i].id);
                        goto out;
                }
                sv[i] = (struct cairn_secret_value) { found->value, found->len, op->secrets[i].target };
        }
        struct cairn_run_key key = {
                .base = base, .workdir = c->workdir, .user = &c->user, .env = c->env, .n_env = c->n_env,
                .cmd = op->shell, .shell = (const char *const *) c->shell, .n_shell = c->n_shell,
                .network = op->network, .n_network = op->n_network, .secrets = sv, .n_secrets = op->n_secrets,
        };
        cairn_run_id(&key, out_id, NULL);
        struct run_arg a = { .c = c, .op = op, .secrets = sv };
        r = get_or_build(R, base, out_id, run_step, &a, c, err);
out:
        free(sv);
        return r;
}

/* --- copy ------------------------------------------------------------ */

struct copy_arg {
        const struct ctx *c;
        const char *src_dir;
        struct cairn_manifest **items;
        size_t n_items;
        bool copy_items;
        const char *dst;
};


/*
 * A copy into a root that only the container sees (Windows): the files go
 * in as a tar in a bind-mounted directory, extracted there by the image's
 * tar -- never through ctr's stdin, which loses a short input's end
 * (containerd#4489).
 */
static int copy_in_container(const struct run *R, struct cairn_store_build *b, const struct step_log *log,
                             const struct copy_arg *a, uid_t uid, gid_t gid, struct cairn_error **err)
{
        bool windows = b->opaque_rootfs;
        const char *owner = !windows ? NULL : a->c->user.by_name ? a->c->user.name : "ContainerAdministrator";
        static const char *const win_argv[] = { "tar", "-xf", "C:\\cairn-copy\\data.tar", NULL };
        static const char *const win_env[] = { "PATH=C:\\Windows\\System32;C:\\Windows", NULL };
        static const char *const lx_argv[] = { "tar", "-xf", "/cairn-copy/data.tar", "-C", "/", NULL };
        static const char *const lx_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        /* Beside the step's result, so the store's recovery wipes what a
         * crash leaves. */
        _cleanup_free_ char *dir = cairn_path_join(b->dir, ".copy-XXXXXX");
        if (!mkdtemp(dir))
                return cairn_error_set_errno(err, errno, "cannot create a directory for the copy's tar");
        _cleanup_free_ char *tar = cairn_path_join(dir, "data.tar");
        int fd = open(tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int r = fd < 0 ? cairn_error_set_errno(err, errno, "cannot create \"%s\"", tar) : 0;
        if (r >= 0) {
                r = cairn_copy_to_tar(a->src_dir, a->items, a->n_items, a->copy_items, a->dst, uid, gid, owner, fd, err);
                close(fd);
        }
        bool existed = windows || cairn_root_exists(b->rootfs, "/cairn-copy");
        if (r >= 0) {
                struct output_sink sink = { R, log->log_fd, log->live_fd };
                struct cairn_sandbox_mount m = { dir, windows ? "C:\\cairn-copy" : "/cairn-copy", true };
                struct cairn_sandbox_config cfg = {
                        .rootfs = b->rootfs, .argv = windows ? win_argv : lx_argv, .env = windows ? win_env : lx_env,
                        .cwd = windows ? "C:/" : "/", .hostname = "builder", .mounts = &m, .n_mounts = 1,
                        .output = sink_output, .userdata = &sink, .cancel = R->req->cancel,
                        .backend = R->e->store->backend, .result_dir = b->dir,
                };
                int status = 0;
                r = R->e->sandbox->run(&cfg, &status, err);
                if (r >= 0 && status != 0) {
                        char sbuf[64];
                        r = cairn_error_set(err, -EIO, "copy: tar in the container failed (%s)",
                                            cairn_process_status_string(status, sbuf, sizeof(sbuf)));
                }
        }
        if (!existed)
                cairn_root_remove_empty_dir(b->rootfs, "/cairn-copy");
        cairn_rm_rf(dir, NULL);
        return r;
}

static int copy_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                     struct cairn_error **err)
{
        struct copy_arg *a = arg;
        uid_t uid = 0;
        gid_t gid = 0;
        int r = user_ids(a->c, b, &uid, &gid, err);
        if (r < 0)
                return r;
        test_pause("copy");
        if (b->copy_in_container)
                return copy_in_container(R, b, log, a, uid, gid, err);
        return cairn_copy_into_root(a->src_dir, a->items, a->n_items, a->copy_items, a->dst, b->rootfs, uid, gid, err);
}


static int do_copy(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_copy *op,
                   char out_id[65], struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        /* A drive letter makes a Windows destination absolute, as OCaml's
         * Filename does on Windows (such a path means nothing on Linux). */
        bool absolute = !cairn_ocaml_is_relative(op->dst) ||
                        (((op->dst[0] | 0x20) >= 'a' && (op->dst[0] | 0x20) <= 'z') && op->dst[1] == ':');
        _cleanup_free_ char *dst = absolute ? cairn_xstrdup(op->dst) : cairn_ocaml_concat(c->workdir, op->dst);
        const char *src_dir = R->req->context_dir;
        char *view_rootfs = NULL;
        void *view = NULL;
        int r = 0;
        if (op->from_build) {
                const char *id = ctx_lookup(c, op->from_build);
                char *dir = NULL;
                if (!id || e->store->ops->result(e->store, id, &dir, err) <= 0)
                        return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", id ? id : op->from_build);
                free(dir);
                if ((r = e->store->ops->view(e->store, id, &view_rootfs, &view, err)) < 0)
                        return r;
                src_dir = view_rootfs;
        }
        struct cairn_arena *arena = cairn_arena_new();
        struct cairn_manifest **items = cairn_arena_array(arena, op->n_src + 1, sizeof(*items));
        for (size_t i = 0; i < op->n_src && r >= 0; i++)
                r = cairn_manifest_generate(e->hasher, arena, src_dir, op->src[i], op->exclude, op->n_exclude, &items[i],
                                            err);
        size_t dlen = strlen(dst);
        bool copy_items = dlen > 0 && dst[dlen - 1] == '/';
        if (r >= 0) {
                if (op->n_src == 0)
                        r = cairn_error_set(err, -EINVAL, "No source items for copy!");
                else if (!copy_items && op->n_src != 1)
                        r = cairn_error_set(err, -EINVAL,
                                            "When copying multiple items, the destination must end with '/'");
        }
        if (r >= 0) {
                cairn_copy_id(base, &c->user, copy_items, items, op->n_src, dst, out_id, NULL);
                struct copy_arg a = { c, src_dir, items, op->n_src, copy_items, dst };
                r = get_or_build(R, base, out_id, copy_step, &a, c, err);
        }
        cairn_arena_free(arena);
        if (view)
                e->store->ops->view_release(e->store, view);
        free(view_rootfs);
        return r;
}

/* --- the spec ---------------------------------------------------------- */

static int build_spec(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char out_id[65],
                      struct cairn_error **err);

static int run_ops(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char base[65],
                   struct cairn_error **err)
{
        for (size_t i = 0; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                if (R->req->cancel && *R->req->cancel)
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                struct cairn_buf h = CAIRN_BUF_INIT;
                struct cairn_pp pp = { &h, 0 };
                cairn_pp_str(&pp, c->workdir);
                cairn_pp_str(&pp, ": ");
                cairn_spec_print_op(&pp, op);
                emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
                cairn_buf_release(&h);
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
                        ctx_setenv(c, op->env.name, op->env.value);
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
                        r = do_run(R, c, base, &op->run, id, err);
                        if (r >= 0)
                                memcpy(base, id, 65);
                        break;
                case CAIRN_SPEC_COPY:
                        r = do_copy(R, c, base, &op->copy, id, err);
                        if (r >= 0)
                                memcpy(base, id, 65);
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int build_spec(const struct run *R, const struct cairn_spec *spec, struct ctx *c, char out_id[65],
                      struct cairn_error **err)
{
        for (size_t i = 0; i < spec->n_stages; i++) {
                const struct cairn_spec_stage *st = &spec->stages[i];
                struct cairn_buf h = CAIRN_BUF_INIT;
                cairn_buf_adds(&h, "(build ");
                cairn_sexp_print_quoted(&h, st->name, strlen(st->name));
                cairn_buf_adds(&h, " \xe2\x80\xa6)");
                emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
                cairn_buf_release(&h);
                /* A stage starts from a fresh context that sees the stages
                 * bound so far. */
                struct ctx child;
                ctx_init(&child, R->e);
                for (size_t k = 0; k < c->n_scope; k++)
                        ctx_bind(&child, c->scope_names[k], c->scope_ids[k]);
                char id[65];
                int r = build_spec(R, st->spec, &child, id, err);
                ctx_clear(&child);
                if (r < 0)
                        return r;
                struct cairn_buf n = CAIRN_BUF_INIT;
                cairn_sexp_print_quoted(&n, st->name, strlen(st->name));
                emit(R, CAIRN_LOG_NOTE, "--> finished %s", cairn_buf_str(&n));
                cairn_buf_release(&n);
                ctx_bind(c, st->name, id);
        }
        char base[65];
        int r = get_base(R, spec->from, c, base, err);
        if (r < 0)
                return r;
        r = run_ops(R, spec, c, base, err);
        if (r < 0)
                return r;
        memcpy(out_id, base, 65);
        return 0;
}

int cairn_engine_build(struct cairn_engine *e, const struct cairn_build_request *req, char out_id[65],
                       struct cairn_error **err)
{
        struct run R = { e, req };
        struct ctx c;
        ctx_init(&c, e);
        int r = build_spec(&R, req->spec, &c, out_id, err);
        ctx_clear(&c);
        return r;
}

/* --- delete, prune, list ------------------------------------------------ */

static int delete_rec(struct cairn_engine *e, const char *id, void (*removed)(const char *, void *), void *ud,
                      struct cairn_error **err)
{
        char **children = NULL;
        int r = cairn_db_children(e->db, id, &children, err);
        if (r < 0)
                return r;
        for (char **p = children; *p && r >= 0; p++)
                r = delete_rec(e, *p, removed, ud, err);
        cairn_strv_free(children);
        if (r < 0)
                return r;
        if (removed)
                removed(id, ud);
        if ((r = e->store->ops->delete(e->store, id, false, err)) < 0)
                return r;
        return cairn_db_delete(e->db, id, err);
}

int cairn_engine_delete(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud), void *ud,
                        struct cairn_error **err)
{
        int r = cairn_db_exists(e->db, id, err);
        if (r < 0)
                return r;
        if (r == 0)
                cairn_warn("ID \"%s\" not in database!", id);
        return delete_rec(e, id, removed, ud, err);
}

/* Delete leaf id, whose step lock the caller holds (and which this
 * releases): the result, then its row. */
static int delete_locked_leaf(struct cairn_engine *e, const char *id, void (*removed)(const char *id, void *ud),
                              void *ud, struct cairn_error **err)
{
        if (removed)
                removed(id, ud);
        int r = e->store->ops->delete(e->store, id, true, err);
        /* Between the two: the window a crash during prune leaves. */
        test_pause("prune");
        if (r >= 0)
                r = cairn_db_delete(e->db, id, err);
        step_unlock(e, id);
        return r;
}

long cairn_engine_prune(struct cairn_engine *e, time_t before, long limit, void (*removed)(const char *id, void *ud),
                        void *ud, struct cairn_error **err)
{
        long done = 0;
        while (done < limit) {
                char **ids = NULL;
                size_t batch = (size_t) (limit - done < 1000 ? limit - done : 1000);
                int n = cairn_db_lru(e->db, before, batch, &ids, err);
                if (n < 0)
                        return n;
                if (n == 0) {
                        cairn_strv_free(ids);
                        break;
                }
                long before_done = done;
                for (char **p = ids; *p && done < limit; p++) {
                        /* Never a result a running build is using. */
                        if (step_lock(e, *p, CAIRN_LOCK_EXCLUSIVE, false) < 0)
                                continue;
                        int r = delete_locked_leaf(e, *p, removed, ud, err);
                        if (r < 0) {
                                cairn_strv_free(ids);
                                return r;
                        }
                        done++;
                }
                if (done == before_done) {
                        cairn_strv_free(ids);
                        break;
                }
                cairn_strv_free(ids);
        }
        return done;
}


static unsigned long long result_bytes(struct cairn_engine *e, const char *id)
{
        char *dir = NULL;
        unsigned long long bytes = 0;
        if (e->store->ops->result(e->store, id, &dir, NULL) > 0)
                bytes = cairn_disk_usage(dir);
        free(dir);
        return bytes;
}

static int free_space(struct cairn_engine *e, unsigned long long *ret_free, double *ret_percent)
{
        unsigned long long total = 0;
        int r = cairn_fs_space(e->store->root, ret_free, &total);
        if (r < 0)
                return r;
        *ret_percent = total ? 100.0 * (double) *ret_free / (double) total : 100.0;
        return 0;
}

static int sum_bytes(const struct cairn_result_info *r, void *ud)
{
        *(unsigned long long *) ud += r->bytes;
        return 0;
}

long cairn_engine_prune_policy(struct cairn_engine *e, const struct cairn_prune_policy *p,
                               void (*removed)(const char *id, void *ud), void *ud, struct cairn_error **err)
{
        long count = cairn_db_count(e->db);
        unsigned long long used = 0;
        if (p->max_bytes)
                cairn_engine_list(e, sum_bytes, &used, NULL);
        long done = 0;
        for (;;) {
                unsigned long long free_b = 0;
                double free_pct = 100;
                if ((p->keep_free_bytes || p->keep_free_percent > 0) && free_space(e, &free_b, &free_pct) < 0)
                        return cairn_error_set_errno(err, errno, "cannot read the free space of \"%s\"", e->store->root);
                bool over = (p->max_items >= 0 && count > p->max_items) || (p->max_bytes && used > p->max_bytes) ||
                            (p->keep_free_bytes && free_b < p->keep_free_bytes) ||
                            (p->keep_free_percent > 0 && free_pct < p->keep_free_percent);
                time_t before;
                if (over)
                        before = time(NULL) + 1;
                else if (p->older_than >= 0)
                        before = time(NULL) - p->older_than;
                else
                        break;
                char **ids = NULL;
                int n = cairn_db_lru(e->db, before, 64, &ids, err);
                if (n < 0)
                        return n;
                /* The least recently used leaf no running build is using. */
                const char *victim = NULL;
                for (int i = 0; i < n && !victim; i++)
                        if (step_lock(e, ids[i], CAIRN_LOCK_EXCLUSIVE, false) == 0)
                                victim = ids[i];
                if (!victim) {
                        cairn_strv_free(ids);
                        break;
                }
                unsigned long long bytes = p->max_bytes ? result_bytes(e, victim) : 0;
                int r = delete_locked_leaf(e, victim, removed, ud, err);
                cairn_strv_free(ids);
                if (r < 0)
                        return r;
                done++;
                count--;
                used = used > bytes ? used - bytes : 0;
        }
        return done;
}


struct list_ctx {
        struct cairn_engine *e;
        int (*fn)(const struct cairn_result_info *r, void *ud);
        void *ud;
};

static int list_row(const struct cairn_db_row *row, void *ud)
{
        struct list_ctx *l = ud;
        struct cairn_result_info info = { row->id, row->parent, row->created, row->used, row->rc,
                                          result_bytes(l->e, row->id) };
        return l->fn(&info, l->ud);
}

int cairn_engine_inspect(struct cairn_engine *e, const char *id, char **ret, struct cairn_error **err)
{
        struct cairn_db_row row;
        int r = cairn_db_get(e->db, id, &row, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = NULL;
        if (r == 0 || e->store->ops->result(e->store, id, &dir, NULL) <= 0)
                return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", id);
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(row.id));
        json_object_set_new(j, "parent", row.parent[0] ? json_string(row.parent) : json_null());
        json_object_set_new(j, "created", json_string(row.created));
        json_object_set_new(j, "used", json_string(row.used));
        json_object_set_new(j, "children", json_integer(row.rc));
        json_object_set_new(j, "size", json_integer((json_int_t) result_bytes(e, id)));
        json_t *context = cairn_result_json_load(dir, "context.json");
        if (context)
                json_object_set_new(j, "context", context);
        /* The image the chain starts from: follow parents to the base (the
         * first base result: a base can itself start from another base
         * that shares its bottom layers). */
        struct cairn_db_row base = row;
        int depth = 0;
        while (base.parent[0] && depth < 100000) {
                _cleanup_free_ char *bdir = NULL;
                if (e->store->ops->result(e->store, base.id, &bdir, NULL) > 0 && is_base_result(bdir, base.id))
                        break;
                char parent[65];
                memcpy(parent, base.parent, sizeof(parent));
                if ((r = cairn_db_get(e->db, parent, &base, err)) < 0) {
                        json_decref(j);
                        return r;
                }
                if (r == 0) {
                        memcpy(base.id, parent, sizeof(base.id));
                        base.parent[0] = '\0';
                        break;
                }
                depth++;
        }
        json_object_set_new(j, "depth", json_integer(depth));
        json_t *image = NULL;
        _cleanup_free_ char *base_dir = NULL;
        if (e->store->ops->result(e->store, base.id, &base_dir, NULL) > 0)
                image = cairn_result_json_load(base_dir, "image.json");
        if (!image)
                image = json_object();
        json_object_set_new(image, "id", json_string(base.id));
        json_object_set_new(j, "base", image);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text)
                return cairn_error_set(err, -ENOMEM, "cannot describe result \"%s\"", id);
        *ret = text;
        return 0;
}

long cairn_engine_stat(struct cairn_engine *e, const char *name)
{
        return cairn_db_stat_get(e->db, name);
}

long cairn_engine_count(struct cairn_engine *e)
{
        return cairn_db_count(e->db);
}

int cairn_engine_list(struct cairn_engine *e, int (*fn)(const struct cairn_result_info *r, void *ud), void *ud,
                      struct cairn_error **err)
{
        struct list_ctx l = { e, fn, ud };
        return cairn_db_foreach(e->db, list_row, &l, err);
}

/* --- fsck ------------------------------------------------------------ */

struct fsck {
        struct cairn_engine *e;
        bool repair;
        void (*report)(const char *line, void *ud);
        void *ud;
        long problems;
        char **missing;          /* rows whose result is gone */
        size_t n_missing;
};

static void finding(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finding(struct fsck *f, const char *fmt, ...)
{
        f->problems++;
        if (!f->report)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        f->report(cairn_buf_str(&b), f->ud);
        cairn_buf_release(&b);
}

static int check_row(const struct cairn_db_row *row, void *ud)
{
        struct fsck *f = ud;
        char *dir = NULL;
        if (f->e->store->ops->result(f->e->store, row->id, &dir, NULL) > 0) {
                free(dir);
                return 0;
        }
        f->missing = cairn_xreallocarray(f->missing, f->n_missing + 1, sizeof(char *));
        f->missing[f->n_missing++] = cairn_xstrdup(row->id);
        return 0;
}

long cairn_engine_fsck(struct cairn_engine *e, bool repair, void (*report)(const char *line, void *ud), void *ud,
                       struct cairn_error **err)
{
        struct fsck f = { .e = e, .repair = repair, .report = report, .ud = ud };
        /* What a crash left: temporary results and mounts.  Opening an idle
         * store already removed them; say so. */
        if (e->store->recovered)
                finding(&f, "%u temporary item%s left by an interrupted build: removed when the store was opened",
                        e->store->recovered, e->store->recovered == 1 ? "" : "s");
        unsigned left = cairn_store_count_leftovers(e->store);
        if (left) {
                if (repair) {
                        unsigned removed = 0;
                        if (cairn_store_recover(e->store, &removed, err) < 0)
                                return cairn_error_prefix(err, "fsck: cannot repair while the store is in use");
                }
                finding(&f, "%u temporary item%s left by an interrupted build%s", left, left == 1 ? "" : "s",
                        repair ? ": removed" : "");
        }
        /* Rows whose result is gone. */
        int r = cairn_db_foreach(e->db, check_row, &f, err);
        for (size_t i = 0; i < f.n_missing; i++) {
                if (r >= 0 && cairn_db_exists(e->db, f.missing[i], NULL) == 1) {
                        finding(&f, "%s: in the database but not in the store%s", f.missing[i],
                                repair ? ": removed with what was built on it" : "");
                        if (repair)
                                r = delete_rec(e, f.missing[i], NULL, NULL, err);
                }
                free(f.missing[i]);
        }
        free(f.missing);
        if (r < 0)
                return r;
        /* Results the store can no longer use: an overlay whose parent is
         * gone (a crash in the middle of a prune), a containerd result whose
         * snapshot is gone. */
        char **all = cairn_store_list_results(e->store);
        size_t n_all = cairn_strv_length((const char *const *) all);
        bool *bad = cairn_xzalloc((n_all + 1) * sizeof(bool));
        if (e->store->ops->verify && n_all)
                r = e->store->ops->verify(e->store, all, n_all, bad, err);
        for (size_t i = 0; i < n_all && r >= 0; i++) {
                if (!bad[i])
                        continue;
                char *dir = NULL;
                if (e->store->ops->result(e->store, all[i], &dir, NULL) <= 0)
                        continue;   /* already removed with its parent */
                free(dir);
                finding(&f, "%s: cannot be used (what it is built on is gone)%s", all[i], repair ? ": removed" : "");
                if (repair) {
                        r = e->store->ops->delete(e->store, all[i], false, err);
                        if (r >= 0 && cairn_db_exists(e->db, all[i], NULL) == 1)
                                r = delete_rec(e, all[i], NULL, NULL, err);
                }
        }
        free(bad);
        cairn_strv_free(all);
        if (r < 0)
                return r;
        /* Results the database does not know (a crash between publishing and
         * recording, or a database lost). */
        char **ids = cairn_store_list_results(e->store);
        for (char **p = ids; *p && r >= 0; p++) {
                if (cairn_db_exists(e->db, *p, NULL) == 1)
                        continue;
                _cleanup_free_ char *link = cairn_xasprintf("%s/result/%s/parent", e->store->root, *p);
                _cleanup_free_ char *target = cairn_read_link(link);
                const char *parent = target ? strrchr(target, '/') : NULL;
                parent = parent ? parent + 1 : NULL;
                finding(&f, "%s: in the store but not in the database%s", *p, repair ? ": recorded" : "");
                if (repair)
                        r = cairn_db_add(e->db, *p, parent && cairn_is_sha256_hex(parent) ? parent : NULL, err);
        }
        cairn_strv_free(ids);
        if (r < 0)
                return r;
        /* Reference counts (OBuilder's rc) that do not match the children. */
        long wrong = cairn_db_recount(e->db, repair, err);
        if (wrong < 0)
                return wrong;
        if (wrong)
                finding(&f, "%ld result%s with a wrong count of children%s", wrong, wrong == 1 ? "" : "s",
                        repair ? ": corrected" : "");
        return f.problems;
}

/* --- healthcheck ------------------------------------------------------- */

int cairn_engine_healthcheck(struct cairn_engine *e, cairn_log_fn *log, void *ud, volatile sig_atomic_t *cancel,
                             struct cairn_error **err)
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
        };
        char id[65];
        r = cairn_engine_build(e, &req, id, err);
        if (r >= 0)
                r = cairn_engine_delete(e, id, NULL, NULL, err);
        cairn_spec_free(spec);
        return r;
}
