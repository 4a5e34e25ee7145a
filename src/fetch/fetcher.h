/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fetchers: turn a (from IMAGE) into a base root filesystem and its
 * environment.  One ops table per source; the engine picks one in
 * cairn_engine_open.
 */
#ifndef CAIRN_FETCH_FETCHER_H
#define CAIRN_FETCH_FETCHER_H

#include <stddef.h>

#include "base/error.h"

struct cairn_registry_options;

struct cairn_fetch_request {
        const char *store_root;   /* the store's directory, beside which images are kept */
        const char *from;         /* the (from ...) string */
        const char *rootfs;       /* an empty directory to fill */
        const struct cairn_registry_options *registry;   /* may be NULL */
        void (*log)(const char *line, void *ud);         /* progress lines */
        void *userdata;
};

struct cairn_fetcher_ops {
        const char *kind;
        /*
         * Unpack image req->from into req->rootfs and return its environment
         * as a NULL-terminated array of "K=V" (caller frees each and the
         * array).
         */
        int (*fetch)(const struct cairn_fetch_request *req, char ***ret_env, struct cairn_error **err);
};

/* Images imported with `cairn image import`, else pulled from their
 * registry (and kept) on first use. */
extern const struct cairn_fetcher_ops cairn_fetcher_default_ops;

#endif
