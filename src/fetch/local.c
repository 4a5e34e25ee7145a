/* SPDX-License-Identifier: Apache-2.0 */
/* The default fetcher: the local image store, filled by `cairn image import`
 * or, on a miss, by pulling the image from its registry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "fetch/fetcher.h"
#include "fetch/image.h"
#include "fetch/registry.h"

void cairn_fetch_result_clear(struct cairn_fetch_result *res)
{
        cairn_strv_free(res->env);
        cairn_strv_free(res->layers);
        free(res->image);
        free(res->digest);
        *res = (struct cairn_fetch_result) { 0 };
}

static char **strv_dup(char *const *v, size_t n)
{
        char **out = cairn_xzalloc((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                out[i] = cairn_xstrdup(v[i]);
        return out;
}

static int default_fetch(const struct cairn_fetch_request *req, struct cairn_fetch_result *res, struct cairn_error **err)
{
        const char *store_root = req->store_root, *from = req->from, *rootfs = req->rootfs;
        void (*log)(const char *, void *) = req->log;
        void *ud = req->userdata;
        struct cairn_image *img = NULL;
        int r = cairn_image_lookup(store_root, from, &img, err);
        if (r < 0)
                return r;
        if (r == 0) {
                struct cairn_registry_options o = { 0 };
                if (req->registry)
                        o = *req->registry;
                o.log = log;
                o.userdata = ud;
                if ((r = cairn_registry_pull(store_root, from, from, &o, &img, err)) < 0)
                        return cairn_error_prefix(err,
                                                  "image \"%s\" is not in the store (see cairn image import) and "
                                                  "could not be pulled",
                                                  from);
        }
        if (log) {
                char line[512];
                snprintf(line, sizeof(line), "Unpacking %s (%zu layer%s, %s)\n", img->name, img->n_layers,
                         img->n_layers == 1 ? "" : "s", img->digest);
                log(line, ud);
        }
        r = cairn_image_unpack(store_root, img, rootfs, err);
        if (r == 0) {
                res->env = strv_dup(img->env, img->n_env);
                res->layers = strv_dup(img->layers, img->n_layers);
                res->image = cairn_xstrdup(img->name);
                res->digest = cairn_xstrdup(img->digest);
        }
        cairn_image_free(img);
        return r;
}

const struct cairn_fetcher_ops cairn_fetcher_default_ops = {
        .kind = "default",
        .fetch = default_fetch,
};
