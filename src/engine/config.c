/* SPDX-License-Identifier: Apache-2.0 */
/* The store's config file, cairn.conf at its root: defaults for what the
 * command line of `build` and `healthcheck` can set.  Its keys are those
 * options' names and its values are read by the same code, so a setting
 * means the same in both places; the command line wins. */
#include <errno.h>
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
        return cairn_setting_error(err, s, 0,
                                   "unknown setting \"%s\" (expected memory, pids-limit, cpus, step-timeout or "
                                   "security-opt)", s->key);
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
        if (r < 0)
                return r;
        c.path = TAKE_PTR(path);
        e->config = c;
        return 0;
}

const struct cairn_engine_config *cairn_engine_config(const struct cairn_engine *e)
{
        return &e->config;
}
