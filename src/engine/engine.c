/* SPDX-License-Identifier: Apache-2.0 */
/* Opening and closing the engine, and the JSON files beside a result. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json-file.h"
#include "base/log.h"
#include "db/db.h"
#include "engine/backends.h"
#include "engine/engine-internal.h"
#include "manifest/manifest.h"

int cairn_engine_open(const char *store_spec, const char *const *store_options, struct cairn_engine **ret,
                      struct cairn_error **err)
{
        _cleanup_free_ char *dbdir = NULL;
        struct cairn_engine *e = cairn_xzalloc(sizeof(*e));
        e->lock_fd = -1;
        e->store_spec = cairn_xstrdup(store_spec);
        if (store_options) {
                size_t n = 0;
                while (store_options[n])
                        n++;
                e->store_options = cairn_xzalloc((n + 1) * sizeof(char *));
                for (size_t i = 0; i < n; i++)
                        e->store_options[i] = cairn_xstrdup(store_options[i]);
        }
        pthread_mutex_init(&e->hits_lock, NULL);
        pthread_mutex_init(&e->db_lock, NULL);
        /* The backends: the store's kind names its sandbox and fetcher
         * (engine/backends-posix.c). */
        const struct cairn_backend *backend = NULL;
        const char *path = NULL;
        int r = cairn_backend_find(store_spec, &backend, &path, err);
        if (r < 0)
                goto fail;
        e->sandbox = backend->sandbox;
        e->fetcher = backend->fetcher;
        if ((r = cairn_store_open(backend->store, store_spec, path, store_options, &e->store, err)) < 0)
                goto fail;
        dbdir = cairn_path_join(e->store->state_dir, "db");
        if ((r = cairn_mkdir_p(dbdir, 0755, err)) < 0)
                goto fail;
        e->db_path = cairn_path_join(dbdir, "db.sqlite");
        e->hasher = cairn_hasher_new(0);
        e->live_dir = cairn_path_join(e->store->state_dir, "live");
        e->failed_dir = cairn_path_join(e->store->state_dir, "failed");
        if ((r = cairn_mkdir_p(e->live_dir, 0700, err)) < 0 || (r = cairn_mkdir_p(e->failed_dir, 0700, err)) < 0)
                goto fail;
        {
                _cleanup_free_ char *lock = cairn_path_join(e->store->state_dir, "steps.lock");
                e->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (e->lock_fd < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot open \"%s\"", lock);
                        goto fail;
                }
        }
        if ((r = engine_config_load(e, err)) < 0)
                goto fail;
        *ret = e;
        return 0;
fail:
        cairn_engine_close(e);
        return r;
}

static bool result_exists(const char *id, void *ud)
{
        struct cairn_engine *e = ud;
        _cleanup_free_ char *dir = NULL;
        return cairn_store_result(e->store, id, &dir, NULL) > 0;
}

void engine_db_fold(struct cairn_engine *e, struct cairn_db *db)
{
        struct cairn_error *err = NULL;
        if (cairn_db_fold_hits(db, result_exists, e, &err) < 0) {
                cairn_warn("cannot mark the results other builds reused: %s", err->message);
                cairn_error_free(err);
        }
}

struct cairn_db *engine_db(struct cairn_engine *e, struct cairn_error **err)
{
        pthread_mutex_lock(&e->db_lock);
        if (!e->db && cairn_db_open(e->db_path, &e->db, err) == 0)
                engine_db_fold(e, e->db);
        struct cairn_db *db = e->db;
        pthread_mutex_unlock(&e->db_lock);
        return db;
}

void engine_db_close(struct cairn_engine *e)
{
        engine_flush_hits(e);
        pthread_mutex_lock(&e->db_lock);
        cairn_db_close(e->db);
        e->db = NULL;
        pthread_mutex_unlock(&e->db_lock);
}

void cairn_engine_close(struct cairn_engine *e)
{
        if (!e)
                return;
        if (e->db_path)
                engine_flush_hits(e);
        pthread_mutex_destroy(&e->hits_lock);
        pthread_mutex_destroy(&e->db_lock);
        if (e->lock_fd >= 0)
                close(e->lock_fd);
        free(e->live_dir);
        free(e->db_path);
        free(e->failed_dir);
        free(e->store_spec);
        cairn_strv_free(e->store_options);
        engine_config_clear(&e->config);
        cairn_db_close(e->db);
        cairn_store_close(e->store);
        cairn_hasher_free(e->hasher);
        free(e);
}

struct cairn_store *cairn_engine_store(struct cairn_engine *e)
{
        return e->store;
}

const char *cairn_engine_store_root(const struct cairn_engine *e)
{
        return e->store->root;
}

long cairn_engine_pending_deletes(struct cairn_engine *e)
{
        return cairn_store_pending_deletes(e->store);
}

int cairn_result_json_save(const char *dir, const char *name, json_t *j, struct cairn_error **err)
{
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return cairn_error_set(err, -ENOMEM, "cannot write %s in \"%s\"", name, dir);
        _cleanup_free_ char *path = cairn_path_join(dir, name);
        int r = cairn_write_file(path, text, strlen(text), 0600, err);
        free(text);
        return r;
}

json_t *cairn_result_json_load(const char *dir, const char *name)
{
        _cleanup_free_ char *path = cairn_path_join(dir, name);
        if (access(path, R_OK) < 0)
                return NULL;
        struct cairn_error *ignored = NULL;
        json_t *j = cairn_load_json(path, name, &ignored);
        cairn_error_free(ignored);
        return j;
}
