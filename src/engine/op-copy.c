/* SPDX-License-Identifier: Apache-2.0 */
/* (copy ...): files from the context or an earlier stage. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/process.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "engine/rootfs.h"
#include "manifest/copy.h"
#include "sandbox/sandbox.h"

struct copy_arg {
        const struct ctx *c;
        const char *src_dir;
        struct cairn_manifest **items;
        size_t n_items;
        bool copy_items;
        const char *dst;
        /* An earlier result of the same copy op on the same parent, to
         * take unchanged files from (struct earlier). */
        const struct earlier *prev;
};

/*
 * Incremental copies (manifest/copy.h).  A copy op is known by what the
 * spec says of it, without the sources' hashes: the parent ID, user,
 * sources, destination and excludes (its key); state/copy-index/KEY names
 * the last result of that op, and each result of a copy keeps its record
 * (what it wrote, with hashes) as copy-files beside its log.  A step that
 * misses takes every file whose path and hash are in the earlier result's
 * record from that result without copying its bytes.
 */
struct earlier {
        char key[CAIRN_SHA256_HEX_LEN + 1];
        char id[65];                    /* "" when there is none */
        char *root;                     /* its files, laid out as the root */
        bool link;
        struct cairn_copy_files *files;
        bool locked;
};

#define COPY_RECORD "copy-files"
/* A record larger than this is not read (about 10 million files). */
#define COPY_RECORD_MAX ((size_t) 1 << 30)

static void copy_key(const char *base, const struct cairn_spec_user *user, const struct cairn_spec_copy *op,
                     const char *dst, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "cairn copy op 1%c%s%c", 0, base, 0);
        if (user->by_name)
                cairn_buf_printf(&b, "name %s%c", user->name, 0);
        else
                cairn_buf_printf(&b, "uid %lld gid %lld%c", (long long) user->uid, (long long) user->gid, 0);
        cairn_buf_printf(&b, "dst %s%c%zu sources%c", dst, 0, op->n_src, 0);
        for (size_t i = 0; i < op->n_src; i++)
                cairn_buf_printf(&b, "%s%c", op->src[i], 0);
        cairn_buf_printf(&b, "%zu excludes%c", op->n_exclude, 0);
        for (size_t i = 0; i < op->n_exclude; i++)
                cairn_buf_printf(&b, "%s%c", op->exclude[i], 0);
        cairn_sha256_hex(b.data, b.len, out);
        cairn_buf_release(&b);
}

static char *index_path(struct cairn_engine *e, const char *key)
{
        return cairn_xasprintf("%s/copy-index/%s", e->store->state_dir, key);
}

/* The earlier result of this copy op, if there is one still in the store
 * and the store can take files from it; held with a shared step lock, so
 * no prune removes it meanwhile. */
static void earlier_find(struct cairn_engine *e, const char *id, struct earlier *p)
{
        _cleanup_free_ char *path = index_path(e, p->key);
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t len = 0;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file(path, 128, &text, &len, &ignored) < 0) {
                cairn_error_free(ignored);
                return;
        }
        if (len < 64)
                return;
        text[64] = '\0';
        if (!cairn_is_sha256_hex(text) || strcmp(text, id) == 0 || strncmp(text, id, 15) == 0)
                return;
        if (engine_step_lock(e, text, CAIRN_LOCK_SHARED, false) < 0)
                return;
        p->locked = true;
        snprintf(p->id, sizeof(p->id), "%s", text);
        _cleanup_free_ char *record_path = NULL;
        if (cairn_store_result(e->store, p->id, &dir, NULL) <= 0)
                goto none;
        record_path = cairn_path_join(dir, COPY_RECORD);
        if (!(p->files = cairn_copy_files_load(record_path, COPY_RECORD_MAX)))
                goto none;
        if (cairn_store_reuse_from(e->store, p->id, &p->root, &p->link, NULL) <= 0)
                goto none;
        return;
none:
        cairn_copy_files_free(p->files);
        p->files = NULL;
        engine_step_unlock(e, p->id);
        p->locked = false;
        p->id[0] = '\0';
}

static void earlier_release(struct cairn_engine *e, struct earlier *p)
{
        if (p->locked)
                engine_step_unlock(e, p->id);
        cairn_copy_files_free(p->files);
        free(p->root);
}

/* Result id is now the last of its copy op. */
static void earlier_remember(struct cairn_engine *e, const struct earlier *p, const char *id)
{
        _cleanup_free_ char *path = index_path(e, p->key);
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t len = 0;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file(path, 128, &text, &len, &ignored) == 0 && len >= 64 && strncmp(text, id, 64) == 0)
                return;
        cairn_error_free(ignored);
        ignored = NULL;
        dir = cairn_xasprintf("%s/copy-index", e->store->state_dir);
        char line[66];
        snprintf(line, sizeof(line), "%s\n", id);
        if (cairn_mkdir_p(dir, 0700, &ignored) < 0 || cairn_write_file_atomic(path, line, 65, &ignored) < 0) {
                cairn_warn("cannot record the copy's result for incremental copies: %s", ignored->message);
                cairn_error_free(ignored);
        }
}

/*
 * A copy into a root that only the container sees (Windows): the files go
 * in as a tar in a bind-mounted directory, extracted there by the image's
 * tar -- never through ctr's stdin, which loses a short input's end
 * (containerd#4489).
 */
static int copy_in_container(const struct run *R, struct cairn_store_build *b, const struct step_log *log,
                             const struct copy_arg *a, uid_t uid, gid_t gid, struct cairn_error **err)
{
        bool windows = b->opaque_rootfs;
        const char *owner = !windows ? NULL : a->c->user.by_name ? a->c->user.name : "ContainerAdministrator";
        static const char *const win_argv[] = { "tar", "-xf", "C:\\cairn-copy\\data.tar", NULL };
        static const char *const win_env[] = { "PATH=C:\\Windows\\System32;C:\\Windows", NULL };
        static const char *const lx_argv[] = { "tar", "-xf", "/cairn-copy/data.tar", "-C", "/", NULL };
        static const char *const lx_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        /* Beside the step's result, so the store's recovery wipes what a
         * crash leaves. */
        _cleanup_free_ char *dir = cairn_path_join(b->dir, ".copy-XXXXXX");
        if (!mkdtemp(dir))
                return cairn_error_set_errno(err, errno, "cannot create a directory for the copy's tar");
        _cleanup_free_ char *tar = cairn_path_join(dir, "data.tar");
        int fd = open(tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int r = fd < 0 ? cairn_error_set_errno(err, errno, "cannot create \"%s\"", tar) : 0;
        if (r >= 0) {
                r = cairn_copy_to_tar(a->src_dir, a->items, a->n_items, a->copy_items, a->dst, uid, gid, owner, fd, err);
                close(fd);
        }
        bool existed = windows || cairn_root_exists(b->rootfs, "/cairn-copy");
        if (r >= 0) {
                struct output_sink sink = { R, log->log_fd, log->live_fd };
                struct cairn_sandbox_mount m = { dir, windows ? "C:\\cairn-copy" : "/cairn-copy", true };
                struct cairn_sandbox_config cfg = {
                        .rootfs = b->rootfs, .argv = windows ? win_argv : lx_argv, .env = windows ? win_env : lx_env,
                        .cwd = windows ? "C:/" : "/", .hostname = "builder", .mounts = &m, .n_mounts = 1,
                        .output = engine_sink_output, .userdata = &sink, .cancel = R->req->cancel,
                        .backend = R->e->store->backend, .result_dir = b->dir,
                };
                int status = 0;
                r = R->e->sandbox->run(&cfg, &status, err);
                if (r >= 0 && status != 0) {
                        char sbuf[64];
                        r = cairn_error_set(err, -EIO, "copy: tar in the container failed (%s)",
                                            cairn_process_status_string(status, sbuf, sizeof(sbuf)));
                }
                /* HCS leaves the mount point, an empty C:\cairn-copy, in
                 * the container's layer, and only a container can remove
                 * it: one more, with nothing mounted. */
                if (r >= 0 && windows) {
                        static const char *const rm_argv[] = { "cmd", "/S", "/C", "rmdir C:\\cairn-copy", NULL };
                        cfg.argv = rm_argv;
                        cfg.mounts = NULL;
                        cfg.n_mounts = 0;
                        r = R->e->sandbox->run(&cfg, &status, err);
                        /* The files are in; an empty directory too many
                         * is not worth failing the step for. */
                        if (r >= 0 && status != 0) {
                                char sbuf[64];
                                cairn_warn("copy: cannot remove the empty C:\\cairn-copy from the result (%s)",
                                           cairn_process_status_string(status, sbuf, sizeof(sbuf)));
                        }
                }
        }
        if (!existed)
                cairn_root_remove_empty_dir(b->rootfs, "/cairn-copy");
        cairn_rm_rf(dir, NULL);
        return r;
}

static int copy_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                     struct cairn_error **err)
{
        struct copy_arg *a = arg;
        uid_t uid = 0;
        gid_t gid = 0;
        int r = engine_user_ids(a->c, b, &uid, &gid, err);
        if (r < 0)
                return r;
        engine_test_pause("copy");
        if (b->copy_in_container)
                return copy_in_container(R, b, log, a, uid, gid, err);
        if (!a->prev)
                return cairn_copy_into_root(a->src_dir, a->items, a->n_items, a->copy_items, a->dst, b->rootfs, uid,
                                            gid, NULL, err);
        const struct earlier *p = a->prev;
        struct cairn_copy_reuse reuse = CAIRN_COPY_REUSE_INIT;
        reuse.from_root = p->root;
        reuse.from_files = p->files;
        reuse.link = p->link;
        struct cairn_copy_link *links = NULL;
        size_t n_links = 0, n_done = 0;
        const struct cairn_manifest **done_nodes = NULL;
        if (p->root && p->link)
                cairn_copy_plan_links(a->items, a->n_items, a->copy_items, a->dst, uid, gid, &reuse, &links, &n_links);
        if (n_links) {
                char **paths = cairn_xreallocarray(NULL, n_links, sizeof(*paths));
                bool *done = cairn_xreallocarray(NULL, n_links, sizeof(*done));
                for (size_t i = 0; i < n_links; i++)
                        paths[i] = links[i].path;
                r = cairn_store_prelink(R->e->store, b, p->root, paths, n_links, done, err);
                done_nodes = cairn_xreallocarray(NULL, n_links, sizeof(*done_nodes));
                for (size_t i = 0; r >= 0 && i < n_links; i++)
                        if (done[i])
                                done_nodes[n_done++] = links[i].m;
                cairn_copy_sort_links(done_nodes, n_done);
                reuse.linked = done_nodes;
                reuse.n_linked = n_done;
                free(paths);
                free(done);
        }
        if (r >= 0)
                r = cairn_copy_into_root(a->src_dir, a->items, a->n_items, a->copy_items, a->dst, b->rootfs, uid, gid,
                                         &reuse, err);
        cairn_copy_links_free(links, n_links);
        free(done_nodes);
        if (r >= 0 && reuse.record_ok) {
                _cleanup_free_ char *path = cairn_path_join(b->dir, COPY_RECORD);
                r = cairn_write_file(path, reuse.record.data ? reuse.record.data : "", reuse.record.len, 0600, err);
        }
        if (r >= 0 && reuse.reused)
                engine_emit(R, CAIRN_LOG_NOTE, "---> %zu unchanged files taken from \"%s\"", reuse.reused, p->id);
        cairn_copy_reuse_release(&reuse);
        return r;
}

int engine_do_copy(const struct run *R, const struct ctx *c, const char *base, const struct cairn_spec_copy *op,
                   char out_id[65], struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        /* A drive letter makes a Windows destination absolute, as OCaml's
         * Filename does on Windows (such a path means nothing on Linux). */
        bool absolute = !cairn_ocaml_is_relative(op->dst) ||
                        (((op->dst[0] | 0x20) >= 'a' && (op->dst[0] | 0x20) <= 'z') && op->dst[1] == ':');
        _cleanup_free_ char *dst = absolute ? cairn_xstrdup(op->dst) : cairn_ocaml_concat(c->workdir, op->dst);
        const char *src_dir = R->req->context_dir;
        char *view_rootfs = NULL;
        void *view = NULL;
        int r = 0;
        bool from_secret = false;
        if (op->from_build) {
                const char *id = engine_ctx_lookup(c, op->from_build);
                char *dir = NULL;
                if (!id || cairn_store_result(e->store, id, &dir, err) <= 0)
                        return cairn_error_set(err, -ENOENT, "Build result \"%s\" not found", id ? id : op->from_build);
                /* What a stage that mounted secrets made may hold them. */
                from_secret = engine_result_secret(dir);
                free(dir);
                if ((r = cairn_store_view(e->store, id, &view_rootfs, &view, err)) < 0)
                        return r;
                src_dir = view_rootfs;
        }
        /* Manifests, records and the stat cache of a large context take
         * megabytes at once. */
        cairn_memory_for_large_work();
        if (!op->from_build)
                engine_context_stat_cache(R);
        struct cairn_arena *arena = cairn_arena_new();
        struct cairn_manifest **items = cairn_arena_array(arena, op->n_src + 1, sizeof(*items));
        for (size_t i = 0; i < op->n_src && r >= 0; i++)
                r = cairn_manifest_generate(e->hasher, arena, src_dir, op->src[i], op->exclude, op->n_exclude, &items[i],
                                            err);
        size_t dlen = strlen(dst);
        bool copy_items = dlen > 0 && dst[dlen - 1] == '/';
        if (r >= 0) {
                if (op->n_src == 0)
                        r = cairn_error_set(err, -EINVAL, "No source items for copy!");
                else if (!copy_items && op->n_src != 1)
                        r = cairn_error_set(err, -EINVAL,
                                            "When copying multiple items, the destination must end with '/'");
        }
        if (r >= 0)
                cairn_copy_id(base, &c->user, copy_items, items, op->n_src, dst, out_id, NULL);
        if (r >= 0 && !engine_remote_planning(R)) {
                /* Copies from the context only: a stage's root is no
                 * earlier version of anything. */
                struct earlier prev = { 0 };
                bool incremental = !op->from_build && base;
                if (incremental) {
                        copy_key(base, &c->user, op, dst, prev.key);
                        char *dir = NULL;
                        if (cairn_store_result(e->store, out_id, &dir, NULL) <= 0)
                                earlier_find(e, out_id, &prev);
                        free(dir);
                }
                struct copy_arg a = { c, src_dir, items, op->n_src, copy_items, dst, incremental ? &prev : NULL };
                r = engine_get_or_build(R, base, out_id, copy_step, &a, c, from_secret, err);
                if (r >= 0 && incremental)
                        earlier_remember(e, &prev, out_id);
                earlier_release(e, &prev);
        }
        cairn_arena_free(arena);
        if (view)
                cairn_store_view_release(e->store, view);
        free(view_rootfs);
        return r;
}
