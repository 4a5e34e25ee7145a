/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step protocol (engine/step.c) against small stand-ins for the store,
 * the sandbox and the fetcher: this file defines the backends table
 * (engine/backends.h), so the engine's own, and the real backends, are not
 * linked in.  The stand-in store keeps which results exist in memory,
 * shared by every engine of this process (as a real store is shared by
 * processes), with a directory per result for the logs the engine writes;
 * the sandbox interprets a few commands in-process; the fetcher makes an
 * empty base.
 *
 * Checked: a result is reused and its log replayed; a failed step is not
 * cached and runs again; two builders of one step run it once, the second
 * following the first's output; a cancelled step leaves no result, no
 * temporary directory and no failure record, and is built by the next
 * build.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/strbuf.h"
#include "engine/backends.h"
#include "engine/engine.h"
#include "fetch/fetcher.h"
#include "sandbox/sandbox.h"
#include "spec/spec.h"
#include "store/store-backend.h"
#include "tap.h"

/* --- the store: results in memory ------------------------------------------------- */

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static char *mem_results[64];          /* IDs published */
static size_t mem_n;
static atomic_int mem_begun, mem_committed, mem_aborted;

static bool mem_has(const char *id)
{
        bool found = false;
        pthread_mutex_lock(&mem_lock);
        for (size_t i = 0; i < mem_n && !found; i++)
                found = strcmp(mem_results[i], id) == 0;
        pthread_mutex_unlock(&mem_lock);
        return found;
}

static int mem_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err);

static void mem_close(struct cairn_store *s)
{
        cairn_store_release(s);
        free(s);
}

static int mem_result(struct cairn_store *s, const char *id, char **ret_dir, struct cairn_error **err)
{
        if (!mem_has(id))
                return 0;
        *ret_dir = cairn_store_path(s, "result", id);
        return 1;
}

static int mem_begin(struct cairn_store *s, const char *base, const char *id, struct cairn_store_build **ret,
                     struct cairn_error **err)
{
        if (base && !mem_has(base))
                return cairn_error_set(err, -ENOENT, "no base %s", base);
        struct cairn_store_build *b = cairn_xzalloc(sizeof(*b));
        snprintf(b->id, sizeof(b->id), "%s", id);
        b->dir = cairn_store_path(s, "result-tmp", id);
        b->rootfs = cairn_xasprintf("%s/rootfs", b->dir);
        b->log_path = cairn_xasprintf("%s/log", b->dir);
        if (cairn_mkdir_p(b->rootfs, 0755, err) < 0)
                return -EIO;
        atomic_fetch_add(&mem_begun, 1);
        *ret = b;
        return 0;
}

static void build_free(struct cairn_store_build *b)
{
        free(b->dir);
        free(b->rootfs);
        free(b->log_path);
        free(b);
}

static int mem_commit(struct cairn_store *s, struct cairn_store_build *b, struct cairn_error **err)
{
        int r = cairn_store_publish(s, b->dir, b->id, true, err);
        if (r == 0) {
                pthread_mutex_lock(&mem_lock);
                mem_results[mem_n++] = cairn_xstrdup(b->id);
                pthread_mutex_unlock(&mem_lock);
                atomic_fetch_add(&mem_committed, 1);
        }
        build_free(b);
        return r;
}

static void mem_abort(struct cairn_store *s, struct cairn_store_build *b)
{
        cairn_rm_rf(b->dir, NULL);
        atomic_fetch_add(&mem_aborted, 1);
        build_free(b);
}

static int mem_delete(struct cairn_store *s, const char *id, bool leaf, struct cairn_error **err)
{
        pthread_mutex_lock(&mem_lock);
        for (size_t i = 0; i < mem_n; i++)
                if (strcmp(mem_results[i], id) == 0) {
                        free(mem_results[i]);
                        mem_results[i] = mem_results[--mem_n];
                        break;
                }
        pthread_mutex_unlock(&mem_lock);
        char *dir = cairn_store_path(s, "result", id);
        int r = cairn_rm_rf(dir, err);
        free(dir);
        return r;
}

static int mem_unused(void)
{
        abort();
}

static int mem_cache_get(struct cairn_store *s, const char *name, uid_t uid, gid_t gid, struct cairn_store_cache **ret,
                         struct cairn_error **err)
{
        return mem_unused();
}

static int mem_cache_release(struct cairn_store *s, struct cairn_store_cache *c, struct cairn_error **err)
{
        return mem_unused();
}

static int mem_view(struct cairn_store *s, const char *id, char **ret_rootfs, void **ret_handle,
                    struct cairn_error **err)
{
        return mem_unused();
}

static void mem_view_release(struct cairn_store *s, void *handle)
{
        mem_unused();
}

static int mem_layers(struct cairn_store *s, const char *id, char ***ret, bool *ret_overlay_diffs,
                      struct cairn_error **err)
{
        return mem_unused();
}

static const struct cairn_store_ops mem_store_ops = {
        .kind = "mem",
        .open = mem_open,
        .close = mem_close,
        .result = mem_result,
        .begin = mem_begin,
        .commit = mem_commit,
        .abort = mem_abort,
        .delete = mem_delete,
        .cache_get = mem_cache_get,
        .cache_release = mem_cache_release,
        .view = mem_view,
        .view_release = mem_view_release,
        .layers = mem_layers,
};

static int mem_open(const char *root, const char *const *options, struct cairn_store **ret, struct cairn_error **err)
{
        static const char *const dirs[] = { "state", "result", "result-tmp" };
        static const char *const temp_dirs[] = { "result-tmp" };
        struct cairn_store *s = cairn_xzalloc(sizeof(*s));
        s->ops = &mem_store_ops;
        s->root = cairn_xstrdup(root);
        int r = cairn_store_prepare(s, dirs, 3, temp_dirs, 1, NULL, err);
        if (r < 0) {
                mem_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

/* --- the sandbox: a few commands, in-process --------------------------------------- */

static atomic_int runs_echo, runs_fail, runs_block;
/* "block": says "started", then waits for `released`, or for a cancel. */
static atomic_bool block_started, released;

static void sleep_ms(long ms)
{
        struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&t, NULL);
}

static int mem_run(const struct cairn_sandbox_config *c, int *ret_status, struct cairn_error **err)
{
        const char *cmd = c->argv[0];
        for (size_t i = 0; c->argv[i]; i++)
                cmd = c->argv[i];   /* the shell's last argument */
        *ret_status = 0;
        if (strncmp(cmd, "echo ", 5) == 0) {
                atomic_fetch_add(&runs_echo, 1);
                c->output(cmd + 5, strlen(cmd + 5), c->userdata);
                c->output("\n", 1, c->userdata);
        } else if (strcmp(cmd, "fail") == 0) {
                atomic_fetch_add(&runs_fail, 1);
                c->output("failing\n", 8, c->userdata);
                *ret_status = 1 << 8;   /* exit status 1 */
        } else if (strncmp(cmd, "block", 5) == 0) {
                atomic_fetch_add(&runs_block, 1);
                c->output("started\n", 8, c->userdata);
                atomic_store(&block_started, true);
                while (!atomic_load(&released)) {
                        if (c->cancel && *c->cancel)
                                return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                        sleep_ms(5);
                }
                c->output("done\n", 5, c->userdata);
        } else {
                return cairn_error_set(err, -EINVAL, "the stand-in sandbox cannot run \"%s\"", cmd);
        }
        return 0;
}

static const struct cairn_sandbox_ops mem_sandbox_ops = { .kind = "mem", .run = mem_run };

/* --- the fetcher: an empty base --------------------------------------------------- */

static int mem_fetch(const struct cairn_fetch_request *req, struct cairn_fetch_result *res, struct cairn_error **err)
{
        res->env = cairn_xzalloc(2 * sizeof(char *));
        res->env[0] = cairn_xstrdup("PATH=/bin");
        res->image = cairn_xstrdup(req->from);
        return 0;
}

static const struct cairn_fetcher_ops mem_fetcher_ops = { .kind = "mem", .fetch = mem_fetch };

/* --- the backends table: the engine's one place, here --------------------------------- */

const struct cairn_backend cairn_backends[] = {
        { "mem", &mem_store_ops, &mem_sandbox_ops, &mem_fetcher_ops },
};
const size_t cairn_n_backends = 1;
const char cairn_default_store[] = "mem:/nonexistent";
const char cairn_default_workdir[] = "/";
const char *const cairn_default_user_name = NULL;

/* --- builds ------------------------------------------------------------------------ */

static char store_spec[256];
static char context_dir[200];

struct build {
        const char *text;                 /* the spec */
        volatile sig_atomic_t cancel;
        pthread_mutex_t lock;
        struct cairn_buf log;
        int r;
        char id[65];
        char *error;
};

static void collect(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        struct build *b = ud;
        pthread_mutex_lock(&b->lock);
        cairn_buf_add(&b->log, data, len);
        pthread_mutex_unlock(&b->lock);
}

static bool log_has(struct build *b, const char *needle)
{
        pthread_mutex_lock(&b->lock);
        bool found = strstr(cairn_buf_str(&b->log), needle) != NULL;
        pthread_mutex_unlock(&b->lock);
        return found;
}

static void *build_thread(void *ud)
{
        struct build *b = ud;
        struct cairn_error *err = NULL;
        struct cairn_engine *e = NULL;
        struct cairn_spec *spec = NULL;
        b->r = cairn_engine_open(store_spec, NULL, &e, &err);
        if (b->r == 0)
                b->r = cairn_spec_parse("test.spec", b->text, strlen(b->text), &spec, &err);
        if (b->r == 0) {
                struct cairn_build_request req = { .spec = spec, .context_dir = context_dir, .log = collect,
                                                   .log_userdata = b, .cancel = &b->cancel };
                b->r = cairn_engine_build(e, &req, b->id, &err);
        }
        b->error = err ? cairn_xstrdup(err->message) : NULL;
        cairn_error_free(err);
        cairn_spec_free(spec);
        cairn_engine_close(e);
        return NULL;
}

static struct build *build_new(const char *text)
{
        struct build *b = cairn_xzalloc(sizeof(*b));
        b->text = text;
        b->log = (struct cairn_buf) CAIRN_BUF_INIT;
        pthread_mutex_init(&b->lock, NULL);
        return b;
}

static void build_done(struct build *b)
{
        cairn_buf_release(&b->log);
        free(b->error);
        pthread_mutex_destroy(&b->lock);
        free(b);
}

static struct build *build(const char *text)
{
        struct build *b = build_new(text);
        build_thread(b);
        return b;
}

static int count_entries(const char *dir)
{
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", store_spec + 4, dir);
        FILE *p = popen(cmd, "r");
        int n = -1;
        if (p && fscanf(p, "%d", &n) != 1)
                n = -1;
        if (p)
                pclose(p);
        return n;
}

static void test_reuse(void)
{
        const char *spec = "((from img) (shell /bin/sh -c) (run (shell \"echo one\")))";
        struct build *b = build(spec);
        is_int(b->r, 0, "a build runs (%s)", b->error ? b->error : "");
        is_int(atomic_load(&runs_echo), 1, "its step ran once");
        is_int(atomic_load(&mem_committed), 2, "the base and the step were published");
        char first[65];
        memcpy(first, b->id, 65);
        build_done(b);

        b = build(spec);
        is_int(b->r, 0, "built again");
        is_str(b->id, first, "to the same ID");
        is_int(atomic_load(&runs_echo), 1, "without running the step");
        is_int(atomic_load(&mem_begun), 2, "or beginning any result");
        ok(log_has(b, "---> using \"") && log_has(b, "\" from cache"), "saying it used the cache");
        ok(log_has(b, "one\n"), "and replaying the step's log");
        build_done(b);
}

static void test_failure(void)
{
        const char *spec = "((from img) (shell /bin/sh -c) (run (shell fail)))";
        int aborted = atomic_load(&mem_aborted), committed = atomic_load(&mem_committed);
        struct build *b = build(spec);
        ok(b->r < 0, "a failing step fails the build");
        has_str(b->error ? b->error : "", "failed with exit status 1", "with the step's exit status");
        is_int(atomic_load(&mem_aborted), aborted + 1, "its temporary result is thrown away");
        is_int(atomic_load(&mem_committed), committed, "and nothing is published");
        build_done(b);
        b = build(spec);
        ok(b->r < 0, "built again, it fails again");
        is_int(atomic_load(&runs_fail), 2, "running the step again: a failure is not cached");
        is_int(count_entries("result-tmp"), 0, "no temporary result is left");
        build_done(b);
}

static void test_two_builders(void)
{
        const char *spec = "((from img) (shell /bin/sh -c) (run (shell block-shared)))";
        atomic_store(&block_started, false);
        atomic_store(&released, false);
        struct build *a = build_new(spec), *b = build_new(spec);
        pthread_t ta, tb;
        pthread_create(&ta, NULL, build_thread, a);
        for (int i = 0; i < 2000 && !atomic_load(&block_started); i++)
                sleep_ms(5);
        ok(atomic_load(&block_started), "the first builder runs the step");
        pthread_create(&tb, NULL, build_thread, b);
        /* The second follows the first's output live once it waits. */
        for (int i = 0; i < 2000 && !log_has(b, "started\n"); i++)
                sleep_ms(5);
        ok(log_has(b, "started\n"), "the second builder follows the first's output while it waits");
        atomic_store(&released, true);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        is_int(a->r, 0, "the first builder succeeds (%s)", a->error ? a->error : "");
        is_int(b->r, 0, "the second too (%s)", b->error ? b->error : "");
        is_int(atomic_load(&runs_block), 1, "the step ran once");
        is_str(b->id, a->id, "both got the same result");
        ok(log_has(b, "done\n") && log_has(b, "---> saved as"), "the second saw the whole output and the result");
        build_done(a);
        build_done(b);
}

static void test_cancel(void)
{
        const char *spec = "((from img) (shell /bin/sh -c) (run (shell block-cancelled)))";
        atomic_store(&block_started, false);
        atomic_store(&released, false);
        int runs = atomic_load(&runs_block), committed = atomic_load(&mem_committed);
        int failures = count_entries("state/failed");
        struct build *b = build_new(spec);
        pthread_t t;
        pthread_create(&t, NULL, build_thread, b);
        for (int i = 0; i < 2000 && !atomic_load(&block_started); i++)
                sleep_ms(5);
        b->cancel = SIGINT;
        pthread_join(t, NULL);
        ok(b->r == -ECANCELED, "a cancelled step stops the build (%d: %s)", b->r, b->error ? b->error : "");
        is_int(atomic_load(&mem_committed), committed, "nothing is published");
        is_int(count_entries("result-tmp"), 0, "no temporary result is left");
        is_int(count_entries("state/live"), 0, "nor a live log");
        is_int(count_entries("state/failed"), failures, "nor a failure for other builders to take");
        build_done(b);
        atomic_store(&released, true);
        b = build(spec);
        is_int(b->r, 0, "the next build builds the step");
        is_int(atomic_load(&runs_block), runs + 2, "running it again");
        build_done(b);
}

/* What --cache-from, --cache-to and cairn.conf accept as a step cache. */
static void test_cache_repo_names(void)
{
        const char *why = NULL;
        ok(cairn_cache_repo_valid("127.0.0.1:5000/cairn/steps", &why), "HOST:PORT/PATH is a repository");
        ok(cairn_cache_repo_valid("registry.example/a-b_c.d/e", &why), "with . _ - in the path");
        ok(!cairn_cache_repo_valid("127.0.0.1:5000", &why) && why && strstr(why, "HOST/PATH"), "no path: %s", why);
        ok(!cairn_cache_repo_valid("/steps", &why), "no host");
        ok(!cairn_cache_repo_valid("host/steps:v1", &why) && strstr(why, "no tag"), "a tag: %s", why);
        ok(!cairn_cache_repo_valid("host/steps@sha256:00", &why), "a digest");
        ok(!cairn_cache_repo_valid("host/Steps", &why) && strstr(why, "lowercase"), "capitals: %s", why);
        ok(!cairn_cache_repo_valid("host//steps", &why), "an empty path component");
}

int main(void)
{
        test_cache_repo_names();
        char root[] = "/tmp/cairn-test-engine-XXXXXX";
        if (!mkdtemp(root))
                return 1;
        snprintf(store_spec, sizeof(store_spec), "mem:%s/store", root);
        snprintf(context_dir, sizeof(context_dir), "%s", root);
        test_reuse();
        test_failure();
        test_two_builders();
        test_cancel();
        cairn_rm_rf(root, NULL);
        return tap_done();
}
