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

static int default_fetch(const struct cairn_fetch_request *req, char ***ret_env, struct cairn_error **err)
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
                char **env = cairn_xzalloc((img->n_env + 1) * sizeof(char *));
                for (size_t i = 0; i < img->n_env; i++)
                        env[i] = cairn_xstrdup(img->env[i]);
                *ret_env = env;
        }
        cairn_image_free(img);
        return r;
}

const struct cairn_fetcher_ops cairn_fetcher_default_ops = {
        .kind = "default",
        .fetch = default_fetch,
};
