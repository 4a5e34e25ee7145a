/* SPDX-License-Identifier: Apache-2.0 */
/* (from IMAGE): the base result, unpacked from the image by the fetcher. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "fetch/fetcher.h"

struct base_arg {
        const char *from;
        const char *built_on;             /* the base it starts from, or NULL */
        const char *const *have_layers;   /* what that base holds */
        enum cairn_pull_policy pull;
};

static void base_log(const char *line, void *ud)
{
        engine_sink_output(line, strlen(line), ud);
}

/* ((env ((K V) ...))), as OBuilder saves a base's environment. */
static int save_base_env(const char *dir, char *const *env, struct cairn_error **err)
{
        struct cairn_arena *ar = cairn_arena_new();
        size_t n = cairn_strv_length((const char *const *) env);
        struct cairn_sexp **pairs = cairn_arena_array(ar, n, sizeof(*pairs));
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(env[i], '=');
                size_t klen = eq ? (size_t) (eq - env[i]) : strlen(env[i]);
                pairs[i] = cairn_sexp_list(ar, cairn_sexp_atomn(ar, env[i], klen), cairn_sexp_atom(ar, eq ? eq + 1 : ""),
                                           NULL);
        }
        struct cairn_sexp *doc = cairn_sexp_list(
                ar, cairn_sexp_list(ar, cairn_sexp_atom(ar, "env"), cairn_sexp_listv(ar, pairs, n), NULL), NULL);
        struct cairn_buf text = CAIRN_BUF_INIT;
        cairn_sexp_print_mach(&text, doc);
        cairn_buf_addc(&text, '\n');
        _cleanup_free_ char *path = cairn_path_join(dir, "env");
        int r = cairn_write_file(path, text.data, text.len, 0644, err);
        cairn_buf_release(&text);
        cairn_arena_free(ar);
        return r;
}

/* image.json beside the env file: which image a base was unpacked from
 * (its name, manifest digest and layers).  OBuilder keys a base by the
 * (from ...) string alone; this records what that string resolved to.  Not
 * part of any ID, and OBuilder ignores the file. */
static int save_base_image(const char *dir, const char *from, const char *built_on, const struct cairn_fetch_result *res,
                           struct cairn_error **err)
{
        json_t *j = json_object();
        json_object_set_new(j, "from", json_string(from));
        /* The base it shares its bottom layers with (its parent). */
        if (built_on)
                json_object_set_new(j, "built_on", json_string(built_on));
        json_object_set_new(j, "image", json_string(res->image ? res->image : ""));
        json_object_set_new(j, "digest", json_string(res->digest ? res->digest : ""));
        /* What the image is: a later build compares it with the image the
         * name gives then (base_changed). */
        if (res->config)
                json_object_set_new(j, "config", json_string(res->config));
        json_t *layers = json_array();
        for (size_t i = 0; res->layers && res->layers[i]; i++)
                json_array_append_new(layers, json_string(res->layers[i]));
        json_object_set_new(j, "layers", layers);
        return cairn_result_json_save(dir, "image.json", j, err);
}

static int fetch_base(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                      struct cairn_error **err)
{
        struct base_arg *a = arg;
        struct output_sink sink = { R, log->log_fd, log->live_fd };
        struct cairn_fetch_result res = { 0 };
        engine_test_pause("fetch");
        struct cairn_fetch_request fr = {
                .store_root = R->e->store->root, .from = a->from, .rootfs = b->rootfs,
                .registry = R->req->registry, .log = base_log, .userdata = &sink, .backend = R->e->store->backend,
                .have_layers = a->have_layers, .pull = a->pull,
        };
        int r = R->e->fetcher->fetch(&fr, &res, err);
        /* A base started from another base has that one's files (or, on
         * overlayfs, links to them): its own replace them. */
        static const char *const own[] = { "env", "image.json", "context.json" };
        for (size_t i = 0; r >= 0 && i < CAIRN_ARRAY_SIZE(own); i++) {
                _cleanup_free_ char *path = cairn_path_join(b->dir, own[i]);
                unlink(path);
        }
        if (r >= 0)
                r = save_base_env(b->dir, res.env, err);
        if (r >= 0)
                r = save_base_image(b->dir, a->from, a->built_on, &res, err);
        cairn_fetch_result_clear(&res);
        return r;
}

/* Read a base result's env file: ((env ((K V) ...))). */
static int read_base_env(const char *dir, struct ctx *c, struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_path_join(dir, "env");
        _cleanup_free_ char *data = NULL;
        size_t len;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file(path, 1 << 20, &data, &len, &ignored) < 0) {
                cairn_error_free(ignored);
                return 0;   /* no env file: an empty environment */
        }
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_sexp *s;
        int r = cairn_sexp_read(a, path, data, len, &s, NULL, err);
        if (r == 0) {
                const struct cairn_sexp *env = NULL;
                if (s->kind == CAIRN_SEXP_LIST)
                        for (size_t i = 0; i < s->n; i++) {
                                const struct cairn_sexp *f = s->items[i];
                                if (f->kind == CAIRN_SEXP_LIST && f->n == 2 && cairn_sexp_is_atom(f->items[0], "env") &&
                                    f->items[1]->kind == CAIRN_SEXP_LIST)
                                        env = f->items[1];
                        }
                for (size_t i = 0; env && i < env->n; i++) {
                        const struct cairn_sexp *kv = env->items[i];
                        if (kv->kind != CAIRN_SEXP_LIST || kv->n != 2 || kv->items[0]->kind != CAIRN_SEXP_ATOM ||
                            kv->items[1]->kind != CAIRN_SEXP_ATOM) {
                                r = cairn_error_set(err, -EINVAL, "%s: malformed environment entry", path);
                                break;
                        }
                        /* Image env goes after the caller's, in image order. */
                        c->env = cairn_xreallocarray(c->env, c->n_env + 1, sizeof(*c->env));
                        c->env[c->n_env++] = (struct cairn_env_var) { cairn_xstrdup(kv->items[0]->atom),
                                                                      cairn_xstrdup(kv->items[1]->atom) };
                }
        }
        cairn_arena_free(a);
        return r;
}

bool engine_is_base_result(const char *dir, const char *id)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        const char *from = json_string_value(json_object_get(j, "from"));
        char base_id[65] = "";
        if (from)
                cairn_base_id(from, base_id);
        json_decref(j);
        return strcmp(base_id, id) == 0;
}

/* The layers a base result was unpacked from (its image.json), or NULL. */
static char **base_layers(const char *dir)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        json_t *layers = json_object_get(j, "layers");
        char **v = NULL;
        if (json_is_array(layers) && json_array_size(layers) > 0) {
                size_t n = json_array_size(layers);
                v = cairn_xzalloc((n + 1) * sizeof(char *));
                for (size_t i = 0; i < n; i++) {
                        const char *d = json_string_value(json_array_get(layers, i));
                        v[i] = cairn_xstrdup(d ? d : "");
                }
        }
        json_decref(j);
        return v;
}

struct prefix_search {
        struct cairn_engine *e;
        const char *self;
        char **bases;           /* results with an image.json */
        size_t n;
};

static int collect_bases(const struct cairn_db_row *row, void *ud)
{
        struct prefix_search *ps = ud;
        char *dir = NULL;
        if (strcmp(row->id, ps->self) == 0 || cairn_store_result(ps->e->store, row->id, &dir, NULL) <= 0)
                return 0;
        if (engine_is_base_result(dir, row->id)) {
                ps->bases = cairn_xreallocarray(ps->bases, ps->n + 1, sizeof(char *));
                ps->bases[ps->n++] = cairn_xstrdup(row->id);
        }
        free(dir);
        return 0;
}

/*
 * A base already in the store whose image layers are the first layers of
 * `from`'s: the new base starts from it (a clone, or on overlayfs an upper
 * directory over it), and only the layers after are unpacked.  Two images
 * sharing their bottom layers (ocaml/opam's for two compilers, say) unpack
 * those once.  *prefix stays "" when there is none.
 */
static void find_prefix_base(const struct run *R, const char *from, const char *self, enum cairn_pull_policy pull,
                             char prefix[65], char ***ret_layers, char ***ret_have)
{
        struct cairn_engine *e = R->e;
        struct prefix_search ps = { e, self, NULL, 0 };
        struct cairn_db *db = engine_db(e, NULL);
        if (db)
                cairn_db_foreach(db, collect_bases, &ps, NULL);
        if (ps.n == 0)
                return;
        struct cairn_fetch_request fr = { .store_root = e->store->root, .from = from, .registry = R->req->registry,
                                          .pull = pull };
        char **layers = NULL;
        if (e->fetcher->resolve(&fr, true, &layers) <= 0) {
                for (size_t i = 0; i < ps.n; i++)
                        free(ps.bases[i]);
                free(ps.bases);
                return;
        }
        size_t best = 0;
        for (size_t i = 0; i < ps.n; i++) {
                char *dir = NULL;
                if (cairn_store_result(e->store, ps.bases[i], &dir, NULL) > 0) {
                        char **have = base_layers(dir);
                        size_t k = 0;
                        while (have && have[k] && layers[k] && strcmp(have[k], layers[k]) == 0)
                                k++;
                        /* Usable only if all of its layers are the image's first. */
                        if (have && !have[k] && k > best) {
                                best = k;
                                snprintf(prefix, 65, "%s", ps.bases[i]);
                                cairn_strv_free(*ret_have);
                                *ret_have = TAKE_PTR(have);
                        }
                        cairn_strv_free(have);
                }
                free(dir);
                free(ps.bases[i]);
        }
        free(ps.bases);
        *ret_layers = layers;
}

/* What a base's image.json says its image was. */
static void base_identity(const char *dir, struct cairn_image_identity *ret)
{
        json_t *j = cairn_result_json_load(dir, "image.json");
        const char *config = json_string_value(json_object_get(j, "config"));
        const char *digest = json_string_value(json_object_get(j, "digest"));
        ret->config = config && *config ? cairn_xstrdup(config) : NULL;
        ret->digest = digest && *digest ? cairn_xstrdup(digest) : NULL;
        json_decref(j);
}

/*
 * OBuilder keys a base by its (from ...) string alone, so a base stays
 * cached however the image behind the name changes.  cairn records what the
 * image was beside the base (image.json: its config digest, and the digest
 * it was found by): if the name now gives another image (re-imported with
 * another env or layers, or, with --pull=always, a tag that moved), the
 * base and everything built on it are removed, each under its step lock so
 * never while another build uses it, and the base is made again.  A base
 * with no image.json (OBuilder's), or whose image is no longer at hand, is
 * kept.  With --pull=always the image is brought up to date here, before
 * anything is removed: *ret_pulled says the fetch need not ask again.
 */
static int base_changed(const struct run *R, const char *from, const char *id, bool *ret_pulled,
                        struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        *ret_pulled = false;
        if (!e->fetcher->identify)
                return 0;
        struct cairn_image_identity had = { 0 }, now = { 0 };
        char *dir = NULL;
        if (cairn_store_result(e->store, id, &dir, NULL) > 0)
                base_identity(dir, &had);
        free(dir);
        bool always = R->req->pull == CAIRN_PULL_ALWAYS;
        if (!always && !had.config && !had.digest)
                return 0;
        struct output_sink sink = { R, -1, -1 };
        struct cairn_fetch_request fr = { .store_root = e->store->root, .from = from, .registry = R->req->registry,
                                          .backend = e->store->backend, .pull = (enum cairn_pull_policy) R->req->pull,
                                          .log = base_log, .userdata = &sink };
        int r = e->fetcher->identify(&fr, &now, err);
        if (r < 0) {
                cairn_image_identity_clear(&had);
                return cairn_error_prefix(err, "(from %s)", from);
        }
        *ret_pulled = always && r > 0;
        long removed = 0;
        if (r > 0 && cairn_image_identity_differs(&had, &now)) {
                /* Again under the base's lock: another build may have made
                 * it anew meanwhile. */
                if ((r = engine_lock_waiting(R, id, err)) < 0)
                        goto out;
                struct cairn_image_identity again = { 0 };
                if (cairn_store_result(e->store, id, &dir, NULL) > 0)
                        base_identity(dir, &again);
                free(dir);
                dir = NULL;
                if (cairn_image_identity_differs(&again, &now)) {
                        engine_emit(R, CAIRN_LOG_NOTE, "The image %s changed (%s %.19s, was %.19s)", from,
                             now.config && again.config ? "config" : "digest",
                             now.config && again.config ? now.config : now.digest,
                             now.config && again.config ? again.config : again.digest);
                        r = engine_delete_tree(R, id, &removed, err);
                        if (r >= 0)
                                engine_emit(R, CAIRN_LOG_NOTE, "Removed its base and %ld result%s built on it", removed - 1,
                                     removed == 2 ? "" : "s");
                }
                cairn_image_identity_clear(&again);
                engine_step_unlock(e, id);
        }
out:
        cairn_image_identity_clear(&had);
        cairn_image_identity_clear(&now);
        return r < 0 ? r : 0;
}

int engine_get_base(const struct run *R, const char *from, struct ctx *c, char out_id[65], struct cairn_error **err)
{
        struct cairn_buf h = CAIRN_BUF_INIT;
        cairn_buf_adds(&h, "(from ");
        cairn_sexp_print_atom(&h, from, strlen(from));
        cairn_buf_addc(&h, ')');
        engine_emit(R, CAIRN_LOG_HEADING, "%s", cairn_buf_str(&h));
        cairn_buf_release(&h);
        cairn_base_id(from, out_id);
        struct base_arg a = { from, NULL, NULL, CAIRN_PULL_MISSING };
        char prefix[65] = "";
        char **layers = NULL, **have = NULL;
        char *dir = NULL;
        bool pulled = false;
        int r = base_changed(R, from, out_id, &pulled, err);
        if (r < 0)
                return r;
        /* What base_changed pulled is at hand: the fetch need not ask. */
        a.pull = pulled ? CAIRN_PULL_MISSING : (enum cairn_pull_policy) R->req->pull;
        if (cairn_store_result(R->e->store, out_id, &dir, NULL) > 0) {
                /* A base that shares another's layers keeps that one as its
                 * parent, also when its row must be recorded again. */
                json_t *j = cairn_result_json_load(dir, "image.json");
                const char *on = json_string_value(json_object_get(j, "built_on"));
                if (on && strlen(on) == 64)
                        snprintf(prefix, sizeof(prefix), "%s", on);
                json_decref(j);
        } else if (R->e->fetcher->resolve) {
                find_prefix_base(R, from, out_id, a.pull, prefix, &layers, &have);
        }
        free(dir);
        dir = NULL;
        a.built_on = *prefix ? prefix : NULL;
        a.have_layers = (const char *const *) have;
        r = engine_get_or_build(R, *prefix ? prefix : NULL, out_id, fetch_base, &a, NULL, false, err);
        if (r < 0 && have && cairn_store_result(R->e->store, prefix, &dir, NULL) <= 0) {
                /* The base it was to share went (pruned) before it could be
                 * used: unpack every layer. */
                if (err) {
                        cairn_error_free(*err);
                        *err = NULL;
                }
                a.built_on = NULL;
                a.have_layers = NULL;
                r = engine_get_or_build(R, NULL, out_id, fetch_base, &a, NULL, false, err);
        }
        free(dir);
        dir = NULL;
        cairn_strv_free(layers);
        cairn_strv_free(have);
        if (r < 0)
                return r;
        if (cairn_store_result(R->e->store, out_id, &dir, err) <= 0)
                return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", out_id);
        r = read_base_env(dir, c, err);
        free(dir);
        return r;
}
