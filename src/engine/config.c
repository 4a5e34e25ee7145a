/* SPDX-License-Identifier: Apache-2.0 */
/* The store's config file, cairn.conf at its root: defaults for what the
 * command line of `build` and `healthcheck` can set.  Its keys are those
 * options' names and its values are read by the same code, so a setting
 * means the same in both places; the command line wins. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/settings.h"
#include "engine/engine-internal.h"

/* A config file is a few lines; anything near this is a mistake. */
#define CONFIG_MAX (64 * 1024)

static int apply(const struct cairn_setting *s, void *ud, struct cairn_error **err)
{
        struct cairn_engine_config *c = ud;
        const char *expected = NULL;
        int r = cairn_step_limit_set(&c->limits, s->key, s->value, &expected);
        if (r == -EINVAL)
                return cairn_setting_error(err, s, 1, "%s takes %s, not \"%s\"", s->key, expected, s->value);
        if (r == 0)
                return 0;
        if (strcmp(s->key, "security-opt") == 0) {
                if (strcmp(s->value, "seccomp=unconfined") == 0)
                        c->seccomp_unconfined = true;
                else if (strcmp(s->value, "seccomp=default") == 0)
                        c->seccomp_unconfined = false;
                else
                        return cairn_setting_error(err, s, 1,
                                                   "security-opt takes seccomp=unconfined or seccomp=default, not \"%s\"",
                                                   s->value);
                return 0;
        }
        if (strcmp(s->key, "cache-from") == 0 || strcmp(s->key, "cache-to") == 0) {
                const char *why = NULL;
                if (!cairn_cache_repo_valid(s->value, &why))
                        return cairn_setting_error(err, s, 1, "%s takes a repository REGISTRY/PATH: %s", s->key, why);
                if (s->key[6] == 't') {
                        free(c->cache_to);
                        c->cache_to = cairn_xstrdup(s->value);
                } else {
                        size_t n = 0;
                        while (c->cache_from && c->cache_from[n])
                                n++;
                        c->cache_from = cairn_xreallocarray(c->cache_from, n + 2, sizeof(char *));
                        c->cache_from[n] = cairn_xstrdup(s->value);
                        c->cache_from[n + 1] = NULL;
                }
                return 0;
        }
        if (strcmp(s->key, "share-secret-steps") == 0) {
                if (strcmp(s->value, "true") != 0 && strcmp(s->value, "false") != 0)
                        return cairn_setting_error(err, s, 1, "share-secret-steps takes true or false, not \"%s\"",
                                                   s->value);
                c->share_secret_steps = s->value[0] == 't';
                return 0;
        }
        if (strcmp(s->key, "jobs") == 0) {
                unsigned jobs = 0;
                if (!cairn_parse_jobs(s->value, &jobs))
                        return cairn_setting_error(err, s, 1, "jobs takes a number from 1 to %u, not \"%s\"",
                                                   CAIRN_MAX_JOBS, s->value);
                c->jobs = jobs;
                return 0;
        }
        return cairn_setting_error(err, s, 0,
                                   "unknown setting \"%s\" (expected memory, pids-limit, cpus, step-timeout, "
                                   "security-opt, cache-from, cache-to, share-secret-steps or jobs)", s->key);
}

int engine_config_load(struct cairn_engine *e, struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_path_join(cairn_engine_store_root(e), CAIRN_ENGINE_CONFIG_FILE);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        _cleanup_error_ struct cairn_error *read_err = NULL;
        if (cairn_read_file(path, CONFIG_MAX, &text, &len, &read_err) < 0) {
                if (read_err->code == -ENOENT)
                        return 0;
                return cairn_error_set(err, read_err->code, "%s", read_err->message);
        }
        struct cairn_engine_config c = { 0 };
        int r = cairn_settings_parse(path, text, len, apply, &c, err);
        if (r < 0) {
                engine_config_clear(&c);
                return r;
        }
        c.path = TAKE_PTR(path);
        e->config = c;
        return 0;
}

void engine_config_clear(struct cairn_engine_config *c)
{
        free(c->path);
        cairn_strv_free(c->cache_from);
        free(c->cache_to);
        memset(c, 0, sizeof(*c));
}

bool cairn_cache_repo_valid(const char *name, const char **ret_why)
{
        const char *slash = strchr(name, '/');
        const char *why = NULL;
        if (!slash || slash == name || !slash[1])
                why = "expected HOST/PATH, such as 127.0.0.1:5000/cairn/steps";
        else if (strchr(name, '@') || strchr(slash, ':'))
                why = "a step cache is a repository: no tag or digest";
        else if (strchr(name, ' ') || strstr(name, "//"))
                why = "not a repository name";
        else
                for (const char *p = slash + 1; *p && !why; p++)
                        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
                                why = "a repository path has lowercase letters, digits and . _ - / only";
        if (why && ret_why)
                *ret_why = why;
        return !why;
}

const struct cairn_engine_config *cairn_engine_config(const struct cairn_engine *e)
{
        return &e->config;
}

bool cairn_parse_jobs(const char *s, unsigned *ret)
{
        char *end = NULL;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (!*s || *s == '-' || *s == '+' || *end || errno || n < 1 || n > CAIRN_MAX_JOBS)
                return false;
        *ret = (unsigned) n;
        return true;
}
