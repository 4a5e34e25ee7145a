/* SPDX-License-Identifier: Apache-2.0 */
/* The build context a step runs in (reference 1.5). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "db/db.h"
#include "engine/backends.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "engine/rootfs.h"

void engine_ctx_init(struct ctx *c, const struct cairn_engine *e)
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

void engine_ctx_clear(struct ctx *c)
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

void engine_ctx_bind(struct ctx *c, const char *name, const char *id)
{
        c->scope_names = cairn_xreallocarray(c->scope_names, c->n_scope + 1, sizeof(char *));
        c->scope_ids = cairn_xreallocarray(c->scope_ids, c->n_scope + 1, sizeof(char *));
        c->scope_names[c->n_scope] = cairn_xstrdup(name);
        c->scope_ids[c->n_scope] = cairn_xstrdup(id);
        c->n_scope++;
}

const char *engine_ctx_lookup(const struct ctx *c, const char *name)
{
        /* Later bindings shadow earlier ones. */
        for (size_t i = c->n_scope; i-- > 0;)
                if (strcmp(c->scope_names[i], name) == 0)
                        return c->scope_ids[i];
        return NULL;
}

void engine_ctx_setenv(struct ctx *c, const char *name, const char *value)
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

/* The context a step ran in, beside its log: what an exported image's
 * config says (env, working directory, user).  Not part of any ID. */
int engine_save_context(const struct ctx *c, bool secret, const char *dir, struct cairn_error **err)
{
        /* What the step itself recorded there (its usage) stays. */
        json_t *j = cairn_result_json_load(dir, "context.json");
        if (!json_is_object(j)) {
                json_decref(j);
                j = json_object();
        }
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
        if (secret)
                json_object_set_new(j, "secret", json_true());
        return cairn_result_json_save(dir, "context.json", j, err);
}

bool engine_result_secret(const char *dir)
{
        json_t *j = cairn_result_json_load(dir, "context.json");
        bool secret = json_is_true(json_object_get(j, "secret"));
        json_decref(j);
        return secret;
}

void engine_ctx_copy(struct ctx *dst, const struct ctx *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->env = cairn_xzalloc((src->n_env + 1) * sizeof(*dst->env));
        for (size_t i = 0; i < src->n_env; i++)
                dst->env[i] = (struct cairn_env_var) { cairn_xstrdup(src->env[i].name),
                                                       cairn_xstrdup(src->env[i].value) };
        dst->n_env = src->n_env;
        dst->user = src->user;
        if (src->user_name) {
                dst->user_name = cairn_xstrdup(src->user_name);
                dst->user.name = dst->user_name;
        }
        dst->workdir = cairn_xstrdup(src->workdir);
        dst->shell = cairn_xzalloc((src->n_shell + 1) * sizeof(char *));
        for (size_t i = 0; i < src->n_shell; i++)
                dst->shell[i] = cairn_xstrdup(src->shell[i]);
        dst->n_shell = src->n_shell;
        for (size_t i = 0; i < src->n_scope; i++)
                engine_ctx_bind(dst, src->scope_names[i], src->scope_ids[i]);
}

int engine_user_ids(const struct ctx *c, const struct cairn_store_build *b, uid_t *uid, gid_t *gid,
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
