/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Step IDs, computed exactly as OBuilder computes them (reference section 2),
 * so a cairn store and an OBuilder store agree on what is cached:
 *
 *   base  sha256(IMAGE as written in (from IMAGE))
 *   run   sha256(mach(((base B)(workdir W)(user U)(env E)(cmd C)(shell S)
 *                      (network N)(mount_secrets M))))
 *   copy  sha256(mach(((base B)(user U)(op OP))))
 *
 * where mach is sexplib's machine form and the secrets M include their
 * values, in reverse spec order.
 */
#ifndef CAIRN_ENGINE_IDS_H
#define CAIRN_ENGINE_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/hash.h"
#include "manifest/manifest.h"
#include "spec/spec.h"

struct cairn_env_var {
        const char *name;
        const char *value;
};

/* A secret as it enters a run ID: its value (may hold any bytes) and target. */
struct cairn_secret_value {
        const char *value;
        size_t len;
        const char *target;
};

struct cairn_run_key {
        const char *base;                    /* parent ID */
        const char *workdir;
        const struct cairn_spec_user *user;
        const struct cairn_env_var *env;     /* context order: newest (env ...) first */
        size_t n_env;
        const char *cmd;
        const char *const *shell;
        size_t n_shell;
        const char *const *network;
        size_t n_network;
        const struct cairn_secret_value *secrets;   /* in spec order */
        size_t n_secrets;
};

/* The ID of a base image result. */
void cairn_base_id(const char *from, char out[CAIRN_SHA256_HEX_LEN + 1]);

/* The ID of a run step; if mach is not NULL the hashed text is appended to it. */
void cairn_run_id(const struct cairn_run_key *key, char out[CAIRN_SHA256_HEX_LEN + 1], struct cairn_buf *mach);

/*
 * The ID of a copy step.  items are the manifests of the sources in spec
 * order; dst is the workdir-resolved destination.  With copy_items (dst ends
 * in '/') the op is (Copy_items ((M...) DST)), otherwise (Copy_item (M DST)).
 */
void cairn_copy_id(const char *base, const struct cairn_spec_user *user, bool copy_items,
                   struct cairn_manifest *const *items, size_t n_items, const char *dst,
                   char out[CAIRN_SHA256_HEX_LEN + 1], struct cairn_buf *mach);

/* The user as OBuilder serialises it: ((uid N)(gid N)) or ((name S)). */
struct cairn_sexp *cairn_user_to_sexp(struct cairn_arena *a, const struct cairn_spec_user *user);

#endif
