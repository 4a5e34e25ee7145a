/* SPDX-License-Identifier: Apache-2.0 */
#include "engine/ids.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static struct cairn_sexp *A(struct cairn_arena *a, const char *s)
{
        return cairn_sexp_atom(a, s);
}

/* (NAME VALUE) */
static struct cairn_sexp *field(struct cairn_arena *a, const char *name, struct cairn_sexp *v)
{
        return cairn_sexp_list(a, A(a, name), v, NULL);
}

static struct cairn_sexp *atoms(struct cairn_arena *a, const char *const *v, size_t n)
{
        struct cairn_sexp **items = cairn_arena_array(a, n, sizeof(*items));
        for (size_t i = 0; i < n; i++)
                items[i] = A(a, v[i]);
        return cairn_sexp_listv(a, items, n);
}

struct cairn_sexp *cairn_user_to_sexp(struct cairn_arena *a, const struct cairn_spec_user *u)
{
        if (u->by_name)
                return cairn_sexp_list(a, field(a, "name", A(a, u->name)), NULL);
        char uid[32], gid[32];
        snprintf(uid, sizeof(uid), "%" PRId64, u->uid);
        snprintf(gid, sizeof(gid), "%" PRId64, u->gid);
        return cairn_sexp_list(a, field(a, "uid", A(a, uid)), field(a, "gid", A(a, gid)), NULL);
}

static void hash_sexp(const struct cairn_sexp *s, char out[CAIRN_SHA256_HEX_LEN + 1], struct cairn_buf *mach)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_sexp_print_mach(&b, s);
        cairn_sha256_hex(b.data, b.len, out);
        if (mach)
                cairn_buf_add(mach, b.data, b.len);
        cairn_buf_release(&b);
}

void cairn_base_id(const char *from, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        cairn_sha256_hex(from, strlen(from), out);
}

void cairn_run_id(const struct cairn_run_key *k, char out[CAIRN_SHA256_HEX_LEN + 1], struct cairn_buf *mach)
{
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_sexp **env = cairn_arena_array(a, k->n_env, sizeof(*env));
        for (size_t i = 0; i < k->n_env; i++)
                env[i] = cairn_sexp_list(a, A(a, k->env[i].name), A(a, k->env[i].value), NULL);
        /* OBuilder resolves secrets by prepending, so they hash in reverse. */
        struct cairn_sexp **secrets = cairn_arena_array(a, k->n_secrets, sizeof(*secrets));
        for (size_t i = 0; i < k->n_secrets; i++) {
                const struct cairn_secret_value *s = &k->secrets[k->n_secrets - 1 - i];
                secrets[i] = cairn_sexp_list(a, field(a, "value", cairn_sexp_atomn(a, s->value, s->len)),
                                             field(a, "target", A(a, s->target)), NULL);
        }
        struct cairn_sexp *key = cairn_sexp_list(
                a, field(a, "base", A(a, k->base)), field(a, "workdir", A(a, k->workdir)),
                field(a, "user", cairn_user_to_sexp(a, k->user)), field(a, "env", cairn_sexp_listv(a, env, k->n_env)),
                field(a, "cmd", A(a, k->cmd)), field(a, "shell", atoms(a, k->shell, k->n_shell)),
                field(a, "network", atoms(a, k->network, k->n_network)),
                field(a, "mount_secrets", cairn_sexp_listv(a, secrets, k->n_secrets)), NULL);
        hash_sexp(key, out, mach);
        cairn_arena_free(a);
}

/* The key is written piece by piece: a manifest can hold many thousand
 * files, and a tree of it would cost more than hashing it. */
void cairn_copy_id(const char *base, const struct cairn_spec_user *user, bool copy_items,
                   struct cairn_manifest *const *items, size_t n_items, const char *dst,
                   char out[CAIRN_SHA256_HEX_LEN + 1], struct cairn_buf *mach)
{
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_sexp_writer w = CAIRN_SEXP_WRITER_INIT(&b);
        /* ((base B)(user U)(op (Copy_items ((M ...) DST)))) or
         * ((base B)(user U)(op (Copy_item (M DST)))) */
        cairn_sexp_write_open(&w);
        cairn_sexp_write(&w, field(a, "base", A(a, base)));
        cairn_sexp_write(&w, field(a, "user", cairn_user_to_sexp(a, user)));
        cairn_sexp_write_open(&w);
        cairn_sexp_write_atom(&w, "op");
        cairn_sexp_write_open(&w);
        cairn_sexp_write_atom(&w, copy_items ? "Copy_items" : "Copy_item");
        cairn_sexp_write_open(&w);
        if (copy_items) {
                cairn_sexp_write_open(&w);
                for (size_t i = 0; i < n_items; i++)
                        cairn_manifest_write(&w, items[i]);
                cairn_sexp_write_close(&w);
        } else {
                cairn_manifest_write(&w, items[0]);
        }
        cairn_sexp_write_atom(&w, dst);
        cairn_sexp_write_close(&w);
        cairn_sexp_write_close(&w);
        cairn_sexp_write_close(&w);
        cairn_sexp_write_close(&w);
        cairn_sha256_hex(b.data, b.len, out);
        if (mach)
                cairn_buf_add(mach, b.data, b.len);
        cairn_buf_release(&b);
        cairn_arena_free(a);
}
