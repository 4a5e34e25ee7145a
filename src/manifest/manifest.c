/* SPDX-License-Identifier: Apache-2.0 */
#include "manifest/manifest.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/threads.h"
#include "base/process.h"
#include "base/strbuf.h"
#include "manifest/stat-cache.h"

struct cache_entry {
        struct cairn_context_stat st;
        char hash[CAIRN_SHA256_HEX_LEN + 1];
        struct timespec walk_start;   /* of the walk that hashed it */
        bool used;
};

struct cairn_hasher {
        unsigned threads;
        struct cache_entry *table;
        size_t cap, n;
        atomic_ulong hashed;
        struct cairn_stat_cache *stat_cache;   /* not owned */
};

struct cairn_hasher *cairn_hasher_new(unsigned threads)
{
        struct cairn_hasher *h = cairn_xzalloc(sizeof(*h));
        if (threads == 0) {
                unsigned n = cairn_cpu_count();
                threads = n > 16 ? 16 : n;
        }
        h->threads = threads;
        return h;
}

void cairn_hasher_free(struct cairn_hasher *h)
{
        if (!h)
                return;
        free(h->table);
        free(h);
}

void cairn_hasher_set_stat_cache(struct cairn_hasher *h, struct cairn_stat_cache *c)
{
        h->stat_cache = c;
}

unsigned long cairn_hasher_files_hashed(const struct cairn_hasher *h)
{
        return atomic_load(&((struct cairn_hasher *) h)->hashed);
}

static size_t slot_of(const struct cairn_hasher *h, uint64_t dev, uint64_t ino)
{
        uint64_t k = (uint64_t) dev * 0x9e3779b97f4a7c15ull ^ (uint64_t) ino * 0xc2b2ae3d27d4eb4full;
        return (size_t) (k ^ (k >> 29)) & (h->cap - 1);
}

static struct cache_entry *cache_find(struct cairn_hasher *h, const struct cairn_context_stat *st, bool create)
{
        if (create && (h->n + 1) * 2 > h->cap) {
                struct cache_entry *old = h->table;
                size_t old_cap = h->cap;
                h->cap = old_cap ? old_cap * 2 : 256;
                h->table = cairn_xzalloc(h->cap * sizeof(*h->table));
                h->n = 0;
                for (size_t i = 0; i < old_cap; i++)
                        if (old[i].used) {
                                size_t s = slot_of(h, old[i].st.dev, old[i].st.ino);
                                while (h->table[s].used)
                                        s = (s + 1) & (h->cap - 1);
                                h->table[s] = old[i];
                                h->n++;
                        }
                free(old);
        }
        if (!h->cap)
                return NULL;
        for (size_t s = slot_of(h, st->dev, st->ino);; s = (s + 1) & (h->cap - 1)) {
                struct cache_entry *e = &h->table[s];
                if (!e->used) {
                        if (!create)
                                return NULL;
                        e->used = true;
                        e->st.dev = st->dev;
                        e->st.ino = st->ino;
                        h->n++;
                        return e;
                }
                if (e->st.dev == st->dev && e->st.ino == st->ino)
                        return e;
        }
}

static bool same_version(const struct cache_entry *e, const struct cairn_context_stat *st)
{
        return cairn_context_same_version(&e->st, st) && e->hash[0];
}

/* A file waiting for its hash. */
struct job {
        struct cairn_manifest *node;
        struct cairn_context_dir *dir;   /* directory holding it (owned by the walk) */
        const char *name;
        struct cairn_context_stat st;
        int error;               /* errno, 0 when hashed */
};

struct walk {
        struct cairn_hasher *h;
        struct cairn_stat_cache *sc;   /* the context's stat cache, or NULL */
        struct timespec start;
        struct cairn_arena *arena;
        const char *const *exclude;
        size_t n_exclude;
        struct job *jobs;
        size_t n_jobs, cap_jobs;
        struct cairn_context_dir **dirs;   /* directories to close at the end */
        size_t n_dirs, cap_dirs;
        struct cairn_error **err;
};

#define HASH_CHUNK (1 << 18)

static int hash_fd(int fd, char *buf, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        struct cairn_sha256 sha;
        cairn_sha256_init(&sha);
        for (;;) {
                ssize_t n = read(fd, buf, HASH_CHUNK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno;
                        cairn_sha256_final_hex(&sha, out);
                        return -e;
                }
                if (n == 0)
                        break;
                cairn_sha256_update(&sha, buf, (size_t) n);
        }
        cairn_sha256_final_hex(&sha, out);
        return 0;
}

static void run_job(struct cairn_hasher *h, struct job *j, char *buf)
{
        _cleanup_close_ int fd = cairn_context_open_file(j->dir, j->name, &j->st);
        if (fd < 0) {
                j->error = -fd;
                return;
        }
        int r = hash_fd(fd, buf, j->node->hash);
        j->error = r < 0 ? -r : 0;
        atomic_fetch_add(&h->hashed, 1);
}

struct pool {
        struct cairn_hasher *h;
        struct job *jobs;
        size_t n;
        atomic_size_t next;
};

static void *worker(void *arg)
{
        struct pool *p = arg;
        char *buf = cairn_xmalloc(HASH_CHUNK);
        for (;;) {
                size_t i = atomic_fetch_add(&p->next, 1);
                if (i >= p->n)
                        break;
                run_job(p->h, &p->jobs[i], buf);
        }
        free(buf);
        return NULL;
}

static void run_jobs(struct cairn_hasher *h, struct job *jobs, size_t n)
{
        struct pool p = { .h = h, .jobs = jobs, .n = n };
        cairn_run_threads(h->threads < n ? h->threads : (unsigned) n, worker, &p);
}

static bool excluded(const struct walk *w, const char *name)
{
        for (size_t i = 0; i < w->n_exclude; i++)
                if (strcmp(w->exclude[i], name) == 0)
                        return true;
        return false;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static struct cairn_context_dir *keep_dir(struct walk *w, struct cairn_context_dir *d)
{
        if (w->n_dirs == w->cap_dirs) {
                w->cap_dirs = w->cap_dirs ? w->cap_dirs * 2 : 16;
                w->dirs = cairn_xreallocarray(w->dirs, w->cap_dirs, sizeof(*w->dirs));
        }
        w->dirs[w->n_dirs++] = d;
        return d;
}

static char *join(struct cairn_arena *a, const char *dir, const char *name)
{
        if (!*dir)
                return cairn_arena_strdup(a, name);
        size_t n = strlen(dir) + strlen(name) + 2;
        char *s = cairn_arena_alloc(a, n);
        snprintf(s, n, "%s/%s", dir, name);
        return s;
}

/* Walk the entry `name` of directory dir, whose manifest path is `path`. */
static int walk_entry(struct walk *w, struct cairn_context_dir *dir, const char *name, const char *path,
                      struct cairn_manifest **ret)
{
        struct cairn_context_stat st;
        int r = cairn_context_stat(dir, name, &st);
        if (r == -ENOENT)
                return cairn_error_set(w->err, -ENOENT, "File \"%s\" not found in source directory", path);
        if (r < 0)
                return cairn_error_set_errno(w->err, -r, "cannot read \"%s\" in the source directory", path);
        struct cairn_manifest *m = cairn_arena_alloc(w->arena, sizeof(*m));
        m->path = path;
        m->st = st;
        if (st.kind == CAIRN_CONTEXT_FILE) {
                m->kind = CAIRN_MANIFEST_FILE;
                struct cache_entry *e = NULL;
                if (w->sc && cairn_stat_cache_lookup(w->sc, path, &st, m->hash)) {
                        /* Known from an earlier build. */
                } else if ((e = cache_find(w->h, &st, false)) && same_version(e, &st)) {
                        /* Hashed earlier in this process (another path to
                         * the same file, or another copy step). */
                        memcpy(m->hash, e->hash, sizeof(m->hash));
                        if (w->sc)
                                cairn_stat_cache_record(w->sc, path, &st, e->hash, e->walk_start);
                } else {
                        if (w->n_jobs == w->cap_jobs) {
                                w->cap_jobs = w->cap_jobs ? w->cap_jobs * 2 : 64;
                                w->jobs = cairn_xreallocarray(w->jobs, w->cap_jobs, sizeof(*w->jobs));
                        }
                        w->jobs[w->n_jobs++] = (struct job) {
                                .node = m, .dir = dir, .name = cairn_arena_strdup(w->arena, name), .st = st,
                        };
                }
        } else if (st.kind == CAIRN_CONTEXT_SYMLINK) {
                m->kind = CAIRN_MANIFEST_SYMLINK;
                _cleanup_free_ char *target = NULL;
                if ((r = cairn_context_readlink(dir, name, &target)) < 0)
                        return cairn_error_set_errno(w->err, -r, "cannot read the link \"%s\"", path);
                m->target = cairn_arena_strdup(w->arena, target);
        } else if (st.kind == CAIRN_CONTEXT_DIR) {
                m->kind = CAIRN_MANIFEST_DIR;
                struct cairn_context_dir *sub = NULL;
                if ((r = cairn_context_open_dir(dir, name, &sub)) < 0)
                        return cairn_error_set_errno(w->err, -r, "cannot open the directory \"%s\"", path);
                keep_dir(w, sub);
                char **all = NULL;
                size_t n_all = 0;
                if ((r = cairn_context_list(sub, &all, &n_all)) < 0)
                        return cairn_error_set_errno(w->err, -r, "cannot list \"%s\"", path);
                char **names = cairn_xreallocarray(NULL, n_all ? n_all : 1, sizeof(*names));
                size_t n = 0;
                for (size_t i = 0; i < n_all; i++) {
                        if (!excluded(w, all[i]))
                                names[n++] = cairn_arena_strdup(w->arena, all[i]);
                        free(all[i]);
                }
                free(all);
                qsort(names, n, sizeof(*names), cmp_str);
                m->children = cairn_arena_array(w->arena, n, sizeof(*m->children));
                m->n_children = n;
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = walk_entry(w, sub, names[i], join(w->arena, path, names[i]), &m->children[i]);
                free(names);
                if (r < 0)
                        return r;
        } else {
                return cairn_error_set(w->err, -EINVAL, "Unsupported file type for \"%s\"", path);
        }
        *ret = m;
        return 0;
}

/* Follow src's components from the source root, as OBuilder's check_path. */
static int check_path(struct walk *w, struct cairn_context_dir *root, const char *src,
                      struct cairn_context_dir **ret_dir, char **ret_name, char **ret_path)
{
        _cleanup_free_ char *copy = cairn_xstrdup(src);
        struct cairn_buf done = CAIRN_BUF_INIT;
        struct cairn_context_dir *dir = root;
        char *last = NULL;
        int r = 0;
        char *save = NULL;
        /* Split by hand: strtok would merge empty components, which is fine
         * as they are skipped anyway. */
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        r = cairn_error_set(w->err, -EINVAL, "Can't use .. in source paths! (in \"%s\")", src);
                        goto out;
                }
                if (last) {
                        /* The previous component must be a directory. */
                        struct cairn_context_stat st;
                        if (cairn_context_stat(dir, last, &st) < 0) {
                                r = cairn_error_set(w->err, -ENOENT, "Source path \"%s\" not found", src);
                                goto out;
                        }
                        if (st.kind == CAIRN_CONTEXT_FILE) {
                                r = cairn_error_set(w->err, -ENOTDIR, "Not a directory: %s (in \"%s\")",
                                                    cairn_buf_str(&done), src);
                                goto out;
                        }
                        if (st.kind != CAIRN_CONTEXT_DIR) {
                                r = cairn_error_set(w->err, -EINVAL, "Not a regular file: %s (in \"%s\")",
                                                    cairn_buf_str(&done), src);
                                goto out;
                        }
                        struct cairn_context_dir *sub = NULL;
                        if ((r = cairn_context_open_dir(dir, last, &sub)) < 0) {
                                r = cairn_error_set_errno(w->err, -r, "cannot open \"%s\" in the source directory",
                                                          cairn_buf_str(&done));
                                goto out;
                        }
                        dir = keep_dir(w, sub);
                }
                last = c;
                cairn_buf_printf(&done, "%s%s", done.len ? "/" : "", c);
        }
        if (last) {
                struct cairn_context_stat st;
                if (cairn_context_stat(dir, last, &st) < 0) {
                        r = cairn_error_set(w->err, -ENOENT, "Source path \"%s\" not found", src);
                        goto out;
                }
                if (st.kind == CAIRN_CONTEXT_OTHER) {
                        r = cairn_error_set(w->err, -EINVAL, "Not a regular file: %s (in \"%s\")",
                                            cairn_buf_str(&done), src);
                        goto out;
                }
                *ret_name = cairn_arena_strdup(w->arena, last);
        } else {
                *ret_name = cairn_arena_strdup(w->arena, ".");
        }
        *ret_dir = dir;
        *ret_path = cairn_arena_strdup(w->arena, cairn_buf_str(&done));
out:
        cairn_buf_release(&done);
        return r;
}

int cairn_manifest_generate(struct cairn_hasher *h, struct cairn_arena *arena, const char *src_dir,
                            const char *src, const char *const *exclude, size_t n_exclude,
                            struct cairn_manifest **ret, struct cairn_error **err)
{
        struct walk w = { .h = h, .arena = arena, .exclude = exclude, .n_exclude = n_exclude, .err = err };
        /* The stat cache is for its own context only (not a stage's root). */
        if (h->stat_cache && strcmp(cairn_stat_cache_root(h->stat_cache), src_dir) == 0)
                w.sc = h->stat_cache;
        cairn_context_now(&w.start);
        struct cairn_context_dir *root = NULL;
        int r = cairn_context_open_root(src_dir, &root);
        if (r < 0)
                return cairn_error_set_errno(err, -r, "cannot open the source directory \"%s\"", src_dir);
        keep_dir(&w, root);
        struct cairn_context_dir *dir = NULL;
        char *name = NULL, *path = NULL;
        struct cairn_manifest *m = NULL;
        r = check_path(&w, root, src, &dir, &name, &path);
        if (r >= 0)
                r = walk_entry(&w, dir, name, path, &m);
        if (r >= 0 && w.n_jobs) {
                run_jobs(h, w.jobs, w.n_jobs);
                for (size_t i = 0; i < w.n_jobs; i++) {
                        struct job *j = &w.jobs[i];
                        if (j->error) {
                                if (j->error == ENOENT)
                                        r = cairn_error_set(err, -ENOENT, "File \"%s\" not found in source directory",
                                                            j->node->path);
                                else
                                        r = cairn_error_set(err, -j->error, "cannot read \"%s\": %s", j->node->path,
                                                            strerror(j->error));
                                break;
                        }
                        struct cache_entry *e = cache_find(h, &j->st, true);
                        e->st = j->st;
                        e->walk_start = w.start;
                        memcpy(e->hash, j->node->hash, sizeof(e->hash));
                        if (w.sc)
                                cairn_stat_cache_record(w.sc, j->node->path, &j->st, j->node->hash, w.start);
                }
        }
        for (size_t i = 0; i < w.n_dirs; i++)
                cairn_context_close(w.dirs[i]);
        free(w.dirs);
        free(w.jobs);
        if (r < 0)
                return r;
        *ret = m;
        return 0;
}


bool cairn_manifest_unchanged(int fd, const struct cairn_manifest *m)
{
        struct cairn_context_stat now;
        return cairn_context_fstat(fd, &now) == 0 && cairn_context_same_version(&now, &m->st);
}

int cairn_manifest_changed(const struct cairn_manifest *m, struct cairn_error **err)
{
        return cairn_error_set(err, -EAGAIN,
                               "\"%s\" changed while the build was copying it; the source files must not change "
                               "during a build",
                               m->path);
}

char *cairn_manifest_item_dest(const struct cairn_manifest *m, const char *target)
{
        if (!*m->path)
                return cairn_xstrdup(target);
        const char *base = strrchr(m->path, '/');
        base = base ? base + 1 : m->path;
        return *target ? cairn_xasprintf("%s/%s", target, base) : cairn_xstrdup(base);
}
