/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place backends are chosen: each store kind of `--store=KIND:PATH`
 * with the sandbox and the fetcher that go with it.  engine/backends-posix.c
 * lists Linux's; engine/backends-win.c the Windows build's.
 */
#ifndef CAIRN_ENGINE_BACKENDS_H
#define CAIRN_ENGINE_BACKENDS_H

#include <stddef.h>

#include "base/error.h"

struct cairn_store_ops;
struct cairn_sandbox_ops;
struct cairn_fetcher_ops;

struct cairn_backend {
        const char *kind;                        /* KIND in KIND:PATH */
        const struct cairn_store_ops *store;
        const struct cairn_sandbox_ops *sandbox;
        const struct cairn_fetcher_ops *fetcher;
};

extern const struct cairn_backend cairn_backends[];
extern const size_t cairn_n_backends;
/* The store when neither --store nor $CAIRN_STORE names one. */
extern const char cairn_default_store[];
/* A build's first workdir and user (reference 1.5: "/" and uid 0 on Unix;
 * "C:/" and ContainerAdministrator when OBuilder runs on Windows); NULL
 * user name for uid 0. */
extern const char cairn_default_workdir[];
extern const char *const cairn_default_user_name;

/* The backend of spec ("KIND:PATH") and its PATH, or an error naming the
 * kinds this build has. */
int cairn_backend_find(const char *spec, const struct cairn_backend **ret, const char **ret_path,
                       struct cairn_error **err);

#endif
