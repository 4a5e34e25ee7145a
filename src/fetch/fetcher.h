/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fetchers: turn a (from IMAGE) into a base root filesystem and its
 * environment.  One ops table per source; the engine picks one in
 * cairn_engine_open.  Today: the local image store (cairn image import).
 */
#ifndef CAIRN_FETCH_FETCHER_H
#define CAIRN_FETCH_FETCHER_H

#include <stddef.h>

#include "base/error.h"

struct cairn_fetcher_ops {
        const char *kind;
        /*
         * Unpack image `from` into the empty directory rootfs and return its
         * environment as a NULL-terminated array of "K=V" (caller frees each
         * and the array).  Progress lines go to log.  store_root is the
         * store's directory, beside which images are kept.
         */
        int (*fetch)(const char *store_root, const char *from, const char *rootfs, char ***ret_env,
                     void (*log)(const char *line, void *ud), void *ud, struct cairn_error **err);
};

extern const struct cairn_fetcher_ops cairn_fetcher_local_ops;

#endif
