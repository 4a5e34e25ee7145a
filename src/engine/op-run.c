/* SPDX-License-Identifier: Apache-2.0 */
/* (run ...): a command in the sandbox. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/units.h"
#include "base/log.h"
#include "base/process.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "engine/rootfs.h"
#include "sandbox/sandbox.h"

struct run_arg {
        const struct ctx *c;
        const struct cairn_spec_run *op;
        const struct cairn_secret_value *secrets;
        uid_t uid;
        gid_t gid;
};

static void quote_argv(struct cairn_buf *b, char *const *argv, size_t n, const char *last)
{
        for (size_t i = 0; i < n; i++)
                cairn_buf_printf(b, "%s\"%s\"", i ? " " : "", argv[i]);
        if (last)
                cairn_buf_printf(b, "%s\"%s\"", n ? " " : "", last);
}

/* What the step used: in its context.json (kept with the result; cairn
 * inspect shows it) and a line of the build's output before "saved as",
 * which the caller may leave out (OBuilder's log has no such line).
 * Not in the step's own log, which stays the step's output as OBuilder's
 * (a cached step replays it). */
static int record_usage(const struct run *R, const char *dir, const struct cairn_step_usage *u,
                        struct cairn_error **err)
{
        char mem[64];
        engine_emit(R, CAIRN_LOG_USAGE, "---> used %lld.%02lld s of CPU, %s of memory at peak", u->cpu_us / 1000000,
                    u->cpu_us % 1000000 / 10000, cairn_format_size(u->peak_memory, mem, sizeof(mem)));
        json_t *j = json_pack("{s:{s:I, s:I}}", "usage", "peak_memory", (json_int_t) u->peak_memory, "cpu_us",
                              (json_int_t) u->cpu_us);
        return cairn_result_json_save(dir, "context.json", j, err);
}

static int run_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                    struct cairn_error **err)
{
        struct run_arg *a = arg;
        const struct ctx *c = a->c;
        struct cairn_engine *e = R->e;
        uid_t uid = 0;
        gid_t gid = 0;
        int r = engine_user_ids(c, b, &uid, &gid, err);
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
        /* Beside the step's result, as the copy's tar: in the private
         * store, wiped by its recovery after a crash, and on Windows a path
         * with a drive letter (/tmp would be the current drive's \tmp). */
        _cleanup_free_ char *secret_dir = cairn_path_join(b->dir, ".secrets-XXXXXX");
        bool have_secret_dir = false;
        size_t k = 0, n_caches = 0;
        for (size_t i = 0; i < a->op->n_caches && r >= 0; i++) {
                r = cairn_store_cache_get(e->store, a->op->caches[i].id, uid, gid, &caches[n_caches], err);
                if (r < 0)
                        break;
                engine_check_volume(R, "the cache", caches[n_caches]->path);
                mounts[k++] = (struct cairn_sandbox_mount) { caches[n_caches]->path, a->op->caches[i].target, false };
                n_caches++;
        }
        if (r >= 0 && a->op->n_secrets) {
                if (!mkdtemp(secret_dir)) {
                        r = cairn_error_set_errno(err, errno, "cannot create a directory for secrets");
                } else {
                        have_secret_dir = true;
                        for (size_t i = 0; i < a->op->n_secrets && r >= 0; i++) {
                                char name[32];
                                snprintf(name, sizeof(name), "secret-%zu", i);
                                char *p = cairn_path_join(secret_dir, name);
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
        struct cairn_step_usage usage = { 0 };
        if (r >= 0) {
                struct output_sink sink = { R, log->log_fd, log->live_fd };
                struct cairn_sandbox_config cfg = {
                        .rootfs = b->rootfs, .argv = argv, .env = envp, .cwd = c->workdir, .uid = uid, .gid = gid,
                        .hostname = "builder", .network_host = network_host, .mounts = mounts, .n_mounts = k,
                        .output = engine_sink_output, .userdata = &sink, .cancel = R->req->cancel,
                        .seccomp_unconfined = R->seccomp_unconfined, .limits = &R->limits,
                        .usage = &usage,
                        .backend = e->store->backend, .result_dir = b->dir,
                        .user_name = b->opaque_rootfs && c->user.by_name ? c->user.name : NULL,
                };
                int status = 0;
                engine_test_pause("run");
                r = e->sandbox->run(&cfg, &status, err);
                if (r >= 0 && status == 0 && (usage.cpu_us || usage.peak_memory))
                        r = record_usage(R, b->dir, &usage, err);
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
                if (cairn_store_cache_release(e->store, caches[i], &e2) < 0) {
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

int engine_do_run(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_run *op,
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
        if (engine_remote_planning(R))
                goto out;
        struct run_arg a = { .c = c, .op = op, .secrets = sv };
        r = engine_get_or_build(R, base, out_id, run_step, &a, c, op->n_secrets > 0, err);
out:
        free(sv);
        return r;
}
