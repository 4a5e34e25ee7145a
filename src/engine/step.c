/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step protocol: reuse a result, or build it once under its lock and
 * publish it, or follow another process that is building it; the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/log.h"
#include "db/db.h"
#include "engine/engine-internal.h"

void engine_note_hit(struct cairn_engine *e, const char *id, const char *base)
{
        pthread_mutex_lock(&e->hits_lock);
        e->hit_ids = cairn_xrealloc(e->hit_ids, (e->n_hits + 1) * sizeof(char *));
        e->hit_parents = cairn_xrealloc(e->hit_parents, (e->n_hits + 1) * sizeof(char *));
        e->hit_ids[e->n_hits] = cairn_xstrdup(id);
        e->hit_parents[e->n_hits] = base ? cairn_xstrdup(base) : NULL;
        e->n_hits++;
        pthread_mutex_unlock(&e->hits_lock);
}

size_t engine_hits_mark(struct cairn_engine *e)
{
        pthread_mutex_lock(&e->hits_lock);
        size_t n = e->n_hits;
        pthread_mutex_unlock(&e->hits_lock);
        return n;
}

void engine_hits_forget(struct cairn_engine *e, size_t mark)
{
        pthread_mutex_lock(&e->hits_lock);
        while (e->n_hits > mark) {
                e->n_hits--;
                free(e->hit_ids[e->n_hits]);
                free(e->hit_parents[e->n_hits]);
        }
        if (!e->n_hits) {
                free(e->hit_ids);
                free(e->hit_parents);
                e->hit_ids = e->hit_parents = NULL;
        }
        pthread_mutex_unlock(&e->hits_lock);
}

void engine_flush_hits(struct cairn_engine *e)
{
        pthread_mutex_lock(&e->hits_lock);
        if (e->n_hits) {
                const char *const *ids = (const char *const *) e->hit_ids;
                const char *const *parents = (const char *const *) e->hit_parents;
                struct cairn_error *err = NULL;
                /* Noted beside the database, without opening it, unless
                 * it is open already (db.h).  1: that file has grown, and
                 * opening the database folds it in; < 0: it cannot be
                 * written, and the database takes the hits itself. */
                pthread_mutex_lock(&e->db_lock);
                bool open = e->db != NULL;
                pthread_mutex_unlock(&e->db_lock);
                int r = open ? -1 : cairn_db_defer_hits(e->db_path, ids, parents, e->n_hits, &err);
                cairn_error_free(err);
                err = NULL;
                if (r == 1) {
                        /* Noted; folded in now if the database opens, else
                         * by the next command that opens it. */
                        engine_db(e, NULL);
                        r = 0;
                } else if (r < 0) {
                        struct cairn_db *db = engine_db(e, &err);
                        r = !db ? -EIO
                                : cairn_db_add_many(db, ids, parents, e->n_hits, "hits", (long) e->n_hits, &err);
                }
                if (r < 0) {
                        cairn_warn("cannot mark the reused results used: %s", err ? err->message : "?");
                        cairn_error_free(err);
                }
        }
        /* The arrays too when none is left (engine_hits_forget may have
         * emptied them). */
        for (size_t i = 0; i < e->n_hits; i++) {
                free(e->hit_ids[i]);
                free(e->hit_parents[i]);
        }
        free(e->hit_ids);
        free(e->hit_parents);
        e->hit_ids = e->hit_parents = NULL;
        e->n_hits = 0;
        pthread_mutex_unlock(&e->hits_lock);
}

void engine_vlog(cairn_log_fn *log, void *ud, enum cairn_log_kind kind, const char *fmt, va_list ap)
{
        if (!log)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_vprintf(&b, fmt, ap);
        cairn_buf_addc(&b, '\n');
        log(kind, b.data, b.len, ud);
        cairn_buf_release(&b);
}

void engine_record_add(struct cairn_buf *buf, unsigned kind, const void *a, size_t alen, const void *b, size_t blen)
{
        struct engine_record h = { kind, (uint32_t) (alen + blen) };
        cairn_buf_add(buf, &h, sizeof(h));
        if (alen)
                cairn_buf_add(buf, a, alen);
        if (blen)
                cairn_buf_add(buf, b, blen);
}

void engine_records_each(const char *data, size_t len,
                         void (*fn)(unsigned kind, const char *data, size_t len, void *ud), void *ud)
{
        size_t off = 0;
        while (len - off >= sizeof(struct engine_record)) {
                struct engine_record h;
                memcpy(&h, data + off, sizeof(h));
                if (len - off - sizeof(h) < h.len)
                        break;
                fn(h.kind, data + off + sizeof(h), h.len, ud);
                off += sizeof(h) + h.len;
        }
}

void engine_emit(const struct run *R, enum cairn_log_kind kind, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        engine_vlog(R->req->log, R->req->log_userdata, kind, fmt, ap);
        va_end(ap);
}

void engine_replay_log(const struct run *R, const char *dir)
{
        if (!R->req->log)
                return;
        _cleanup_free_ char *path = cairn_path_join(dir, "log");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                R->req->log(CAIRN_LOG_OUTPUT, buf, (size_t) n, R->req->log_userdata);
}

void engine_sink_output(const char *data, size_t len, void *ud)
{
        struct output_sink *s = ud;
        if (s->log_fd >= 0 && write(s->log_fd, data, len) != (ssize_t) len)
                cairn_warn("cannot write the step log: %s", strerror(errno));
        if (s->live_fd >= 0 && write(s->live_fd, data, len) != (ssize_t) len) {
                close(s->live_fd);
                s->live_fd = -1;
        }
        if (s->R->req->log)
                s->R->req->log(CAIRN_LOG_OUTPUT, data, len, s->R->req->log_userdata);
}

int engine_step_lock_fd(int fd, const char *id, enum cairn_lock_kind kind, bool wait)
{
        char prefix[16];
        memcpy(prefix, id, 15);
        prefix[15] = '\0';
        return cairn_lock_byte(fd, strtoull(prefix, NULL, 16), kind, wait);
}

int engine_step_lock(struct cairn_engine *e, const char *id, enum cairn_lock_kind kind, bool wait)
{
        return engine_step_lock_fd(e->lock_fd, id, kind, wait);
}

void engine_step_unlock(struct cairn_engine *e, const char *id)
{
        engine_step_lock(e, id, CAIRN_UNLOCK, false);
}

void engine_test_pause(const char *stage)
{
        const char *want = getenv("CAIRN_TEST_PAUSE");
        if (!want || strcmp(want, stage) != 0)
                return;
        fprintf(stderr, "cairn: paused at %s\n", stage);
        fflush(stderr);
        sleep(60);
}

void engine_sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* Copy what is new in the live log of another process's build to the user. */
static bool drain(const struct run *R, int fd)
{
        char buf[65536];
        bool any = false;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                any = true;
                if (R->req->log)
                        R->req->log(CAIRN_LOG_OUTPUT, buf, (size_t) n, R->req->log_userdata);
        }
        return any;
}

/*
 * Another process is building id: follow its log from the start until it
 * lets the step go, then take its result, or its failure.  Returns 1 when the
 * step is done (result or error in *err), 0 when this process now holds the
 * step's lock and must build it itself (the other one was cancelled or died).
 */
static int attach(const struct run *R, const char *id, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        _cleanup_free_ char *live_path = cairn_path_join(e->live_dir, id);
        _cleanup_free_ char *failed_path = cairn_path_join(e->failed_dir, id);
        struct timespec since;
        clock_gettime(CLOCK_REALTIME, &since);
        int live = -1;
        bool streamed = false;
        for (;;) {
                if (live < 0)
                        live = open(live_path, O_RDONLY | O_CLOEXEC);
                if (live >= 0 && drain(R, live))
                        streamed = true;
                if (engine_step_lock(e, id, CAIRN_LOCK_EXCLUSIVE, false) == 0)
                        break;
                /* Published, and only shared now (by builds of steps on
                 * it, which may hold it long after): done.  Not while
                 * someone holds it exclusively: its builder until it lets
                 * go, or a delete. */
                char *done = NULL;
                bool published = false;
                if (engine_step_lock(e, id, CAIRN_LOCK_SHARED, false) == 0) {
                        published = cairn_store_result(e->store, id, &done, NULL) > 0;
                        engine_step_unlock(e, id);
                }
                if (published) {
                        if (live < 0)
                                live = open(live_path, O_RDONLY | O_CLOEXEC);
                        if (live >= 0) {
                                if (drain(R, live))
                                        streamed = true;
                                close(live);
                        }
                        if (!streamed)
                                engine_replay_log(R, done);
                        free(done);
                        engine_emit(R, CAIRN_LOG_NOTE, "---> saved as \"%s\"", id);
                        return 1;
                }
                if (R->req->cancel && *R->req->cancel) {
                        if (live >= 0)
                                close(live);
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                }
                engine_sleep_ms(50);
        }
        if (live >= 0) {
                if (drain(R, live))
                        streamed = true;
                close(live);
        }
        char *dir = NULL;
        if (cairn_store_result(e->store, id, &dir, NULL) > 0) {
                if (!streamed)
                        engine_replay_log(R, dir);
                free(dir);
                engine_step_unlock(e, id);
                engine_emit(R, CAIRN_LOG_NOTE, "---> saved as \"%s\"", id);
                return 1;
        }
        struct timespec mtime;
        if (cairn_file_mtime(failed_path, &mtime) == 0 &&
            (mtime.tv_sec > since.tv_sec || (mtime.tv_sec == since.tv_sec && mtime.tv_nsec >= since.tv_nsec))) {
                _cleanup_free_ char *why = NULL;
                size_t len;
                struct cairn_error *ignored = NULL;
                if (cairn_read_file(failed_path, 65536, &why, &len, &ignored) < 0) {
                        cairn_error_free(ignored);
                        why = cairn_xstrdup("the step failed in another cairn process");
                }
                engine_step_unlock(e, id);
                cairn_error_set(err, -EIO, "%s", why);
                return 1;
        }
        return 0;
}

int engine_get_or_build(const struct run *R, const char *base, const char *id, step_fn *fn, void *arg,
                        const struct ctx *c, bool secret, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        char *dir = NULL;
        int r = cairn_store_result(e->store, id, &dir, err);
        if (r < 0)
                return r;
        if (r > 0) {
                engine_replay_log(R, dir);
                free(dir);
                /* Marks it used; also records a result from before the
                 * database was (re)created. */
                engine_note_hit(e, id, base);
                engine_emit(R, CAIRN_LOG_NOTE, "---> using \"%s\" from cache", id);
                if (c && R->remote)
                        engine_remote_done(R, id, NULL);
                return 0;
        }
        if (R->missing) {
                *R->missing = true;
                return cairn_error_set(err, -EAGAIN, "\"%s\" is not in the store", id);
        }
        if (engine_step_lock(e, id, CAIRN_LOCK_EXCLUSIVE, false) < 0) {
                r = attach(R, id, err);
                if (r != 0)
                        return r < 0 ? r : (*err ? (*err)->code : 0);
        } else if (cairn_store_result(e->store, id, &dir, NULL) > 0) {
                /* Built by another process between our look and our lock. */
                engine_replay_log(R, dir);
                free(dir);
                engine_step_unlock(e, id);
                engine_emit(R, CAIRN_LOG_NOTE, "---> using \"%s\" from cache", id);
                return 0;
        }
        /* The database before the step runs, not once it is built: a store
         * whose database cannot be opened builds nothing it could not
         * record.  The rows of the steps reused so far go there first: this
         * step's row counts itself in its parent's. */
        if (!engine_db(e, err)) {
                engine_step_unlock(e, id);
                return -EIO;
        }
        engine_flush_hits(e);
        /* This process builds the step; its base must not be pruned meanwhile. */
        if (base)
                engine_step_lock(e, base, CAIRN_LOCK_SHARED, true);
        _cleanup_free_ char *live_path = cairn_path_join(e->live_dir, id);
        _cleanup_free_ char *failed_path = cairn_path_join(e->failed_dir, id);
        struct cairn_store_build *b = NULL;
        int log_fd = -1, live_fd = -1;
        /* Taken from a step cache, if the plan found it there. */
        struct engine_planned *pulled = c && R->remote ? engine_remote_planned(R, id) : NULL;
        if (pulled) {
                fn = engine_remote_pull_step;
                arg = pulled;
        }
        if (secret || !base) {
                /* secret as given */
        } else if (c && cairn_store_result(e->store, base, &dir, NULL) > 0) {
                secret = engine_result_secret(dir);
                free(dir);
                dir = NULL;
        }
        if ((r = cairn_store_begin(e->store, base, id, &b, err)) < 0)
                goto out;
        unlink(b->log_path);
        log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (log_fd < 0) {
                r = cairn_error_set_errno(err, errno, "cannot create the step log \"%s\"", b->log_path);
                cairn_store_abort(e->store, b);
                goto out;
        }
        unlink(live_path);
        live_fd = open(live_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct step_log slog = { log_fd, live_fd };
        r = fn(R, b, &slog, arg, err);
        close(log_fd);
        if (r >= 0 && c)
                r = engine_save_context(c, secret, b->dir, err);
        if (r >= 0)
                engine_test_pause("publish");
        if (r < 0) {
                cairn_store_abort(e->store, b);
                /* Processes attached to this step get the same failure;
                 * a cancelled step is simply taken over. */
                if (r != -ECANCELED && *err)
                        cairn_write_file(failed_path, (*err)->message, strlen((*err)->message), 0600, NULL);
                goto out;
        }
        /* Before it is there for a sibling stage to find (stages-posix.c). */
        engine_stage_note_built(R, id);
        if ((r = cairn_store_commit(e->store, b, err)) < 0)
                goto out;
        struct cairn_db *db = engine_db(e, err);
        if (!db || (r = cairn_db_add_many(db, (const char *const[]) { id }, (const char *const[]) { base }, 1,
                                          "misses", 1, err)) < 0) {
                r = db ? r : -EIO;
                goto out;
        }
        unlink(failed_path);
        engine_emit(R, CAIRN_LOG_NOTE, "---> saved as \"%s\"", id);
        if (c && R->remote)
                engine_remote_done(R, id, pulled);
out:
        if (live_fd >= 0)
                close(live_fd);
        unlink(live_path);
        engine_step_unlock(e, id);
        if (base)
                engine_step_unlock(e, base);
        return r;
}

int engine_lock_waiting(const struct run *R, const char *id, struct cairn_error **err)
{
        bool said = false;
        while (engine_step_lock(R->e, id, CAIRN_LOCK_EXCLUSIVE, false) < 0) {
                if (R->req->cancel && *R->req->cancel)
                        return cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
                if (!said)
                        engine_emit(R, CAIRN_LOG_NOTE, "Waiting for another build that uses \"%s\"", id);
                said = true;
                engine_sleep_ms(50);
        }
        return 0;
}

int engine_delete_tree(const struct run *R, const char *id, long *count, struct cairn_error **err)
{
        struct cairn_engine *e = R->e;
        int r = engine_lock_waiting(R, id, err);
        if (r < 0)
                return r;
        /* Under id's lock no step can start on it: its children are all. */
        char **children = NULL;
        struct cairn_db *db = engine_db(e, err);
        r = db ? cairn_db_children(db, id, &children, err) : -EIO;
        for (char **p = children; r >= 0 && p && *p; p++)
                r = engine_delete_tree(R, *p, count, err);
        cairn_strv_free(children);
        if (r < 0) {
                engine_step_unlock(e, id);
                return r;
        }
        (*count)++;
        return engine_delete_locked_leaf(e, id, NULL, NULL, err);
}
