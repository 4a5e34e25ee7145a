/* SPDX-License-Identifier: Apache-2.0 */
/* The local fetcher: images imported with `cairn image import`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "fetch/fetcher.h"
#include "fetch/image.h"

static int local_fetch(const char *store_root, const char *from, const char *rootfs, char ***ret_env,
                       void (*log)(const char *line, void *ud), void *ud, struct cairn_error **err)
{
        struct cairn_image *img = NULL;
        int r = cairn_image_lookup(store_root, from, &img, err);
        if (r < 0)
                return r;
        if (r == 0)
                return cairn_error_set(err, -ENOENT,
                                       "no image named \"%s\" in the store: import one with 'cairn image import %s FILE'",
                                       from, from);
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

const struct cairn_fetcher_ops cairn_fetcher_local_ops = {
        .kind = "local",
        .fetch = local_fetch,
};
