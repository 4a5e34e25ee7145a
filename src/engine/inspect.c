/* SPDX-License-Identifier: Apache-2.0 */
/* Listing and describing results. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "base/cleanup.h"
#include "db/db.h"
#include "engine/engine-internal.h"

struct list_ctx {
        struct cairn_engine *e;
        int (*fn)(const struct cairn_result_info *r, void *ud);
        void *ud;
};

static int list_row(const struct cairn_db_row *row, void *ud)
{
        struct list_ctx *l = ud;
        struct cairn_result_info info = { row->id, row->parent, row->created, row->used, row->rc,
                                          engine_result_bytes(l->e, row->id) };
        return l->fn(&info, l->ud);
}

int cairn_engine_inspect(struct cairn_engine *e, const char *id, char **ret, struct cairn_error **err)
{
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        struct cairn_db_row row;
        int r = cairn_db_get(db, id, &row, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = NULL;
        if (r == 0 || cairn_store_result(e->store, id, &dir, NULL) <= 0)
                return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", id);
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(row.id));
        json_object_set_new(j, "parent", row.parent[0] ? json_string(row.parent) : json_null());
        json_object_set_new(j, "created", json_string(row.created));
        json_object_set_new(j, "used", json_string(row.used));
        json_object_set_new(j, "children", json_integer(row.rc));
        json_object_set_new(j, "size", json_integer((json_int_t) engine_result_bytes(e, id)));
        json_t *context = cairn_result_json_load(dir, "context.json");
        if (context)
                json_object_set_new(j, "context", context);
        /* The image the chain starts from: follow parents to the base (the
         * first base result: a base can itself start from another base
         * that shares its bottom layers). */
        struct cairn_db_row base = row;
        int depth = 0;
        while (base.parent[0] && depth < 100000) {
                _cleanup_free_ char *bdir = NULL;
                if (cairn_store_result(e->store, base.id, &bdir, NULL) > 0 && engine_is_base_result(bdir, base.id))
                        break;
                char parent[65];
                memcpy(parent, base.parent, sizeof(parent));
                if ((r = cairn_db_get(db, parent, &base, err)) < 0) {
                        json_decref(j);
                        return r;
                }
                if (r == 0) {
                        memcpy(base.id, parent, sizeof(base.id));
                        base.parent[0] = '\0';
                        break;
                }
                depth++;
        }
        json_object_set_new(j, "depth", json_integer(depth));
        json_t *image = NULL;
        _cleanup_free_ char *base_dir = NULL;
        if (cairn_store_result(e->store, base.id, &base_dir, NULL) > 0)
                image = cairn_result_json_load(base_dir, "image.json");
        if (!image)
                image = json_object();
        json_object_set_new(image, "id", json_string(base.id));
        json_object_set_new(j, "base", image);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text)
                return cairn_error_set(err, -ENOMEM, "cannot describe result \"%s\"", id);
        *ret = text;
        return 0;
}

long cairn_engine_stat(struct cairn_engine *e, const char *name)
{
        struct cairn_db *db = engine_db(e, NULL);
        return db ? cairn_db_stat_get(db, name) : 0;
}

long cairn_engine_count(struct cairn_engine *e)
{
        struct cairn_db *db = engine_db(e, NULL);
        return db ? cairn_db_count(db) : -1;
}

int cairn_engine_list(struct cairn_engine *e, int (*fn)(const struct cairn_result_info *r, void *ud), void *ud,
                      struct cairn_error **err)
{
        struct list_ctx l = { e, fn, ud };
        struct cairn_db *db = engine_db(e, err);
        return db ? cairn_db_foreach(db, list_row, &l, err) : -EIO;
}

bool cairn_engine_results_layered(const struct cairn_engine *e)
{
        return e->store->layered;
}
