/* SPDX-License-Identifier: Apache-2.0 */
/* The registry step cache is not there for Windows containers yet
 * (docs/step-cache.md): asking for it is an error, and nothing else sees it. */
#include <errno.h>

#include "engine/engine-internal.h"

static int unsupported(struct cairn_error **err)
{
        return cairn_error_set(err, -EOPNOTSUPP,
                               "the registry step cache (--cache-from, --cache-to) is not supported on hcs stores "
                               "yet: Windows layers need their own diff and extraction");
}

int engine_remote_open(struct run *R, struct cairn_error **err)
{
        const struct cairn_build_request *q = R->req;
        const struct cairn_engine_config *cf = &R->e->config;
        if (q->n_cache_from || q->cache_to || (!q->no_remote_cache && (cf->cache_from || cf->cache_to)))
                return unsupported(err);
        return 0;
}

void engine_remote_close(struct run *R)
{
        (void) R;
}

bool engine_remote_pulls(const struct run *R)
{
        (void) R;
        return false;
}

bool engine_remote_planning(const struct run *R)
{
        (void) R;
        return false;
}

void engine_remote_set_planning(const struct run *R, bool on)
{
        (void) R;
        (void) on;
}

void engine_remote_plan(const struct run *R, const char *base, char (*ids)[65], size_t n)
{
        (void) R;
        (void) base;
        (void) ids;
        (void) n;
}

struct engine_planned *engine_remote_planned(const struct run *R, const char *id)
{
        (void) R;
        (void) id;
        return NULL;
}

int engine_remote_pull_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                            struct cairn_error **err)
{
        (void) R;
        (void) b;
        (void) log;
        (void) arg;
        return unsupported(err);
}

void engine_remote_done(const struct run *R, const char *id, struct engine_planned *p)
{
        (void) R;
        (void) id;
        (void) p;
}

int cairn_engine_cache_push(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, bool share_secrets, cairn_log_fn *log, void *ud,
                            struct cairn_error **err)
{
        (void) e, (void) id, (void) repo, (void) reg, (void) share_secrets, (void) log, (void) ud;
        return unsupported(err);
}

int cairn_engine_cache_pull(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, cairn_log_fn *log, void *ud,
                            struct cairn_error **err)
{
        (void) e, (void) id, (void) repo, (void) reg, (void) log, (void) ud;
        return unsupported(err);
}
