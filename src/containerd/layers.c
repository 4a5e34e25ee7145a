/* SPDX-License-Identifier: Apache-2.0 */
/* Mount lists, layerinfo files and chain IDs. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "containerd/ctr.h"
#include "spec/sexp.h"
#include "base/arena.h"

/* containerd 1.6 writes the keys capitalised (Go field names without
 * tags); accept the lower-case spelling of other clients too. */
static json_t *get_key(json_t *o, const char *cap, const char *lower)
{
        json_t *v = json_object_get(o, cap);
        return v ? v : json_object_get(o, lower);
}

int cairn_ctr_parse_mounts(const char *text, struct cairn_ctr_mount **ret, size_t *ret_n, struct cairn_error **err)
{
        json_error_t je;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return cairn_error_set(err, -EINVAL, "snapshot mounts: line %d, column %d: %s", je.line, je.column,
                                       je.text);
        int r = 0;
        if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > 64) {
                json_decref(j);
                return cairn_error_set(err, -EINVAL, "snapshot mounts: expected a non-empty JSON array of mounts");
        }
        size_t n = json_array_size(j);
        struct cairn_ctr_mount *m = cairn_xzalloc((n + 1) * sizeof(*m));
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_t *o = json_array_get(j, i);
                json_t *type = json_is_object(o) ? get_key(o, "Type", "type") : NULL;
                json_t *source = json_is_object(o) ? get_key(o, "Source", "source") : NULL;
                json_t *opts = json_is_object(o) ? get_key(o, "Options", "options") : NULL;
                if (!json_is_string(type) || !json_is_string(source) || (opts && !json_is_array(opts) && !json_is_null(opts))) {
                        r = cairn_error_set(err, -EINVAL,
                                            "snapshot mounts: mount %zu: expected {\"Type\": string, \"Source\": string, "
                                            "\"Options\": [string]}",
                                            i + 1);
                        break;
                }
                m[i].type = cairn_xstrdup(json_string_value(type));
                m[i].source = cairn_xstrdup(json_string_value(source));
                size_t no = json_is_array(opts) ? json_array_size(opts) : 0;
                m[i].options = cairn_xzalloc((no + 1) * sizeof(char *));
                for (size_t k = 0; k < no; k++) {
                        json_t *s = json_array_get(opts, k);
                        if (!json_is_string(s)) {
                                r = cairn_error_set(err, -EINVAL, "snapshot mounts: mount %zu: option %zu is not a string",
                                                    i + 1, k + 1);
                                break;
                        }
                        m[i].options[k] = cairn_xstrdup(json_string_value(s));
                }
        }
        json_decref(j);
        if (r < 0) {
                cairn_ctr_mounts_free(m, n);
                return r;
        }
        *ret = m;
        *ret_n = n;
        return 0;
}

void cairn_ctr_mounts_free(struct cairn_ctr_mount *m, size_t n)
{
        if (!m)
                return;
        for (size_t i = 0; i < n; i++) {
                free(m[i].type);
                free(m[i].source);
                cairn_strv_free(m[i].options);
        }
        free(m);
}

const char *cairn_ctr_mount_option(const struct cairn_ctr_mount *m, const char *name)
{
        size_t len = strlen(name);
        for (char **o = m->options; o && *o; o++)
                if (strncmp(*o, name, len) == 0 && (*o)[len] == '=')
                        return *o + len + 1;
        return NULL;
}

static char **strv_push(char **v, size_t *n, char *s)
{
        v = cairn_xreallocarray(v, *n + 2, sizeof(char *));
        v[(*n)++] = s;
        v[*n] = NULL;
        return v;
}

/* overlay's upperdir/lowerdir are SNAPSHOT/fs: the directory of each layer. */
int cairn_layerinfo_from_mounts(const struct cairn_ctr_mount *m, size_t n, const char *key,
                                struct cairn_layerinfo *ret, struct cairn_error **err)
{
        if (n == 0)
                return cairn_error_set(err, -EINVAL, "snapshot mounts: none");
        struct cairn_layerinfo li = { cairn_xstrdup(key), NULL, NULL };
        size_t np = 0;
        li.parents = cairn_xzalloc(sizeof(char *));
        if (strcmp(m[0].type, "windows-layer") == 0) {
                li.source = cairn_xstrdup(m[0].source);
                const char *pl = cairn_ctr_mount_option(&m[0], "parentLayerPaths");
                if (pl) {
                        json_error_t je;
                        json_t *a = json_loads(pl, 0, &je);
                        if (!json_is_array(a)) {
                                json_decref(a);
                                cairn_layerinfo_clear(&li);
                                return cairn_error_set(err, -EINVAL,
                                                       "snapshot mounts: parentLayerPaths is not a JSON array of paths");
                        }
                        for (size_t i = 0; i < json_array_size(a); i++) {
                                json_t *s = json_array_get(a, i);
                                if (json_is_string(s))
                                        li.parents = strv_push(li.parents, &np, cairn_xstrdup(json_string_value(s)));
                        }
                        json_decref(a);
                }
        } else if (strcmp(m[0].type, "overlay") == 0) {
                const char *upper = cairn_ctr_mount_option(&m[0], "upperdir");
                const char *lower = cairn_ctr_mount_option(&m[0], "lowerdir");
                /* A view (no upperdir) of several layers: the top one is the
                 * first lowerdir. */
                if (!upper && !lower) {
                        cairn_layerinfo_clear(&li);
                        return cairn_error_set(err, -EINVAL, "snapshot mounts: an overlay mount without lowerdir");
                }
                char *copy = cairn_xstrdup(lower ? lower : "");
                char *save = NULL;
                for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
                        li.parents = strv_push(li.parents, &np, cairn_xstrdup(p));
                free(copy);
                if (upper) {
                        li.source = cairn_xstrdup(upper);
                } else {
                        li.source = li.parents[0];
                        memmove(li.parents, li.parents + 1, np * sizeof(char *));
                }
        } else if (strcmp(m[0].type, "bind") == 0) {
                li.source = cairn_xstrdup(m[0].source);
        } else {
                cairn_layerinfo_clear(&li);
                return cairn_error_set(err, -EINVAL, "snapshot mounts: unsupported mount type \"%s\"", m[0].type);
        }
        *ret = li;
        return 0;
}

void cairn_layerinfo_clear(struct cairn_layerinfo *li)
{
        free(li->snapshot_key);
        free(li->source);
        cairn_strv_free(li->parents);
        *li = (struct cairn_layerinfo) { 0 };
}

char *cairn_layerinfo_format(const struct cairn_layerinfo *li)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_adds(&b, "((snapshot_key ");
        cairn_sexp_print_atom(&b, li->snapshot_key, strlen(li->snapshot_key));
        cairn_buf_adds(&b, ")\n (source ");
        cairn_sexp_print_atom(&b, li->source ? li->source : "", li->source ? strlen(li->source) : 0);
        cairn_buf_adds(&b, ")\n (parent_layer_paths");
        if (!li->parents || !li->parents[0]) {
                cairn_buf_adds(&b, " ()))\n");
        } else {
                cairn_buf_adds(&b, "\n  (");
                for (size_t i = 0; li->parents[i]; i++) {
                        if (i)
                                cairn_buf_adds(&b, "\n   ");
                        cairn_sexp_print_atom(&b, li->parents[i], strlen(li->parents[i]));
                }
                cairn_buf_adds(&b, ")))\n");
        }
        return cairn_buf_steal(&b, NULL);
}

static const struct cairn_sexp *field(const struct cairn_sexp *s, const char *name)
{
        for (size_t i = 0; s->kind == CAIRN_SEXP_LIST && i < s->n; i++) {
                const struct cairn_sexp *f = s->items[i];
                if (f->kind == CAIRN_SEXP_LIST && f->n == 2 && cairn_sexp_is_atom(f->items[0], name))
                        return f->items[1];
        }
        return NULL;
}

int cairn_layerinfo_parse(const char *path, const char *text, size_t len, struct cairn_layerinfo *ret,
                          struct cairn_error **err)
{
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_sexp *s = NULL;
        int r = cairn_sexp_read(a, path, text, len, &s, NULL, err);
        if (r >= 0) {
                const struct cairn_sexp *key = field(s, "snapshot_key"), *src = field(s, "source"),
                                        *parents = field(s, "parent_layer_paths");
                if (!key || key->kind != CAIRN_SEXP_ATOM || !src || src->kind != CAIRN_SEXP_ATOM || !parents ||
                    parents->kind != CAIRN_SEXP_LIST) {
                        r = cairn_error_set(err, -EINVAL,
                                            "%s: expected ((snapshot_key KEY) (source PATH) (parent_layer_paths (PATH ...)))",
                                            path);
                } else {
                        struct cairn_layerinfo li = { cairn_xstrdup(key->atom), cairn_xstrdup(src->atom),
                                                      cairn_xzalloc((parents->n + 1) * sizeof(char *)) };
                        for (size_t i = 0; i < parents->n && r >= 0; i++) {
                                if (parents->items[i]->kind != CAIRN_SEXP_ATOM)
                                        r = cairn_error_set(err, -EINVAL, "%s: parent_layer_paths: expected paths", path);
                                else
                                        li.parents[i] = cairn_xstrdup(parents->items[i]->atom);
                        }
                        if (r < 0)
                                cairn_layerinfo_clear(&li);
                        else
                                *ret = li;
                }
        }
        cairn_arena_free(a);
        return r;
}

int cairn_layerinfo_load(const char *dir, struct cairn_layerinfo *ret, struct cairn_error **err)
{
        static const char *const where[] = { "rootfs/layerinfo", "layerinfo" };
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(where); i++) {
                _cleanup_free_ char *path = cairn_path_join(dir, where[i]);
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                struct cairn_error *e = NULL;
                int r = cairn_read_file(path, 1 << 20, &data, &len, &e);
                if (r < 0) {
                        bool missing = r == -ENOENT;
                        if (missing) {
                                cairn_error_free(e);
                                continue;
                        }
                        cairn_error_append(err, &e);
                        return r;
                }
                r = cairn_layerinfo_parse(path, data, len, ret, err);
                return r < 0 ? r : 1;
        }
        return 0;
}

int cairn_layerinfo_save(const char *path, const struct cairn_layerinfo *li, struct cairn_error **err)
{
        _cleanup_free_ char *text = cairn_layerinfo_format(li);
        return cairn_write_file(path, text, strlen(text), 0644, err);
}

int cairn_chain_id(const char *const *diff_ids, size_t n, char out[72], struct cairn_error **err)
{
        if (n == 0)
                return cairn_error_set(err, -EINVAL, "an image without layers has no chain ID");
        for (size_t i = 0; i < n; i++)
                if (strncmp(diff_ids[i], "sha256:", 7) != 0 || !cairn_is_sha256_hex(diff_ids[i] + 7))
                        return cairn_error_set(err, -EINVAL, "diff ID \"%s\" is not sha256:HEX", diff_ids[i]);
        snprintf(out, 72, "%s", diff_ids[0]);
        for (size_t i = 1; i < n; i++) {
                struct cairn_sha256 h;
                char hex[CAIRN_SHA256_HEX_LEN + 1];
                cairn_sha256_init(&h);
                cairn_sha256_update(&h, out, strlen(out));
                cairn_sha256_update(&h, " ", 1);
                cairn_sha256_update(&h, diff_ids[i], strlen(diff_ids[i]));
                cairn_sha256_final_hex(&h, hex);
                snprintf(out, 72, "sha256:%s", hex);
        }
        return 0;
}

int cairn_ctr_snapshot_rm(const struct cairn_ctr *c, const char *key, struct cairn_error **err)
{
        struct cairn_error *e = NULL;
        int r = cairn_ctr(c, NULL, &e, "snapshot", "rm", key, NULL);
        if (r == -ENOENT) {
                cairn_error_free(e);
                return 0;
        }
        if (r < 0)
                cairn_error_append(err, &e);
        return r;
}

int cairn_ctr_prepare(const struct cairn_ctr *c, const char *key, const char *parent, const char *layerinfo_path,
                      struct cairn_ctr_mount **ret_m, size_t *ret_n, struct cairn_error **err)
{
        _cleanup_free_ char *json = NULL;
        /* A stale snapshot of the same key (a crash) is removed only when
         * it is in the way: each ctr call costs about 10 ms. */
        struct cairn_error *e = NULL;
        int r = cairn_ctr(c, &json, &e, "snapshot", "prepare", "--mounts", key, parent, NULL);
        if (r == -EEXIST) {
                cairn_error_free(e);
                e = NULL;
                if ((r = cairn_ctr_snapshot_rm(c, key, err)) < 0)
                        return r;
                r = cairn_ctr(c, &json, &e, "snapshot", "prepare", "--mounts", key, parent, NULL);
        }
        if (r < 0) {
                cairn_error_append(err, &e);
                return r;
        }
        struct cairn_ctr_mount *m = NULL;
        size_t n = 0;
        struct cairn_layerinfo li = { 0 };
        if ((r = cairn_ctr_parse_mounts(json, &m, &n, err)) >= 0 &&
            (r = cairn_layerinfo_from_mounts(m, n, key, &li, err)) >= 0)
                r = cairn_layerinfo_save(layerinfo_path, &li, err);
        cairn_layerinfo_clear(&li);
        if (r < 0) {
                cairn_ctr_snapshot_rm(c, key, NULL);
                cairn_ctr_mounts_free(m, n);
                return r;
        }
        if (ret_m) {
                *ret_m = m;
                *ret_n = n;
        } else {
                cairn_ctr_mounts_free(m, n);
        }
        return 0;
}
