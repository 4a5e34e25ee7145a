/* SPDX-License-Identifier: Apache-2.0 */
/* What every fetcher shares (fetch/fetcher.h). */
#include "fetch/fetcher.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

void cairn_fetch_result_clear(struct cairn_fetch_result *res)
{
        cairn_strv_free(res->env);
        cairn_strv_free(res->layers);
        free(res->image);
        free(res->digest);
        free(res->config);
        *res = (struct cairn_fetch_result) { 0 };
}

void cairn_image_identity_clear(struct cairn_image_identity *id)
{
        free(id->config);
        free(id->digest);
        *id = (struct cairn_image_identity) { 0 };
}

bool cairn_image_identity_differs(const struct cairn_image_identity *a, const struct cairn_image_identity *b)
{
        if (a->config && *a->config && b->config && *b->config)
                return strcmp(a->config, b->config) != 0;
        if (a->digest && *a->digest && b->digest && *b->digest)
                return strcmp(a->digest, b->digest) != 0;
        return false;
}

int cairn_pull_policy_parse(const char *s)
{
        if (strcmp(s, "missing") == 0)
                return CAIRN_PULL_MISSING;
        if (strcmp(s, "always") == 0)
                return CAIRN_PULL_ALWAYS;
        if (strcmp(s, "never") == 0)
                return CAIRN_PULL_NEVER;
        return -1;
}
