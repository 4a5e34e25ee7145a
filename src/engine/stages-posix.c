/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stages that do not need each other, built at once (engine-internal.h,
 * engine_build_stages_parallel; stages-win.c on Windows).
 *
 * Each stage is built by a forked process with an engine of its own on the
 * same store: its own database connection, when it needs one (a SQLite
 * connection must not cross a fork), its own descriptor of state/steps.lock (step locks belong
 * to the open file, which a fork shares: two children on the parent's
 * descriptor would never exclude each other), its own hasher and stat
 * cache.  Processes, not threads: the sandbox clones, and a process cloned
 * while another thread holds a lock (malloc's) could never take it.  Two
 * stages that share a step are safe as two builds of one store are: the
 * step is built once, under its lock, and the other process attaches to it.
 * Stages nested inside a stage are built one after another in its process.
 * The parent closes its own database connection while the children run:
 * SQLite's per-process state about a database file would otherwise cross
 * the fork into the child's new connection.
 *
 * A child does not write to the user.  It writes what it would log, as
 * records, into a memfd of its own, and its outcome (result ID, or error)
 * into another.  The parent gives the user the log of the first stage not
 * yet given as it grows, then the next one's once that one is done, so
 * stages come whole and in spec order, as in a sequential build.  Only the
 * notes of steps two stages share can differ: the second stage of a
 * sequential build finds the step in the store ("using ... from cache"),
 * where at once it may attach to the first's build ("saved as"), or the
 * first find it done by the second.  The children list the steps they
 * build (before publishing them) in a file the parent reads, and the
 * parent writes each step's note as the sequential build would: "saved
 * as" where the build first mentions a step it built, "using" after (and
 * drops the usage line of a step it calls reused).  A stage's log waits in
 * its memfd, in memory, until its turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/engine-internal.h"

/* Records (engine_record_add) of these kinds: */
enum {
        /* 0..3: enum cairn_log_kind */
        REC_WARNING = 16,   /* a byte, the level, then the line (base/log.h's sink) */
        REC_ERROR = 17,     /* int32 code, then the message; one per error of the chain */
        REC_RESULT = 18,    /* the stage's result ID */
};

/* A record is one log call: the biggest is a 64 KiB chunk of output. */
#define RECORD_MAX (16u << 20)
/* How long a child has to stop when told to, before it is killed. */
#define STOP_GRACE_S 30

struct engine_stage_shared {
        int built_fd;
};

/* --- the child ------------------------------------------------------------------- */

static volatile sig_atomic_t child_cancel;

static void on_stop(int sig)
{
        child_cancel = sig;
}

static void put_record(int fd, unsigned kind, const void *a, size_t alen, const void *b, size_t blen)
{
        struct cairn_buf buf = CAIRN_BUF_INIT;
        engine_record_add(&buf, kind, a, alen, b, blen);
        /* One write a record: the parent reads what the file's size
         * covers, and a record is written whole or not yet. */
        (void) cairn_write_all(fd, buf.data, buf.len, NULL);
        cairn_buf_release(&buf);
}

static void child_log(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        const int *fd = ud;
        if (len > RECORD_MAX)
                len = RECORD_MAX;
        put_record(*fd, (unsigned) kind, data, len, NULL, 0);
}

static void child_warning(enum cairn_log_level level, const char *line, void *ud)
{
        const int *fd = ud;
        unsigned char l = (unsigned char) level;
        put_record(*fd, REC_WARNING, &l, 1, line, strlen(line));
}

void engine_stage_note_built(const struct run *R, const char *id)
{
        if (!R->stage_shared)
                return;
        char line[66];
        snprintf(line, sizeof(line), "%.64s\n", id);
        /* O_APPEND, and at most PIPE_BUF: the siblings' lines never mix. */
        if (write(R->stage_shared->built_fd, line, 65) != 65)
                cairn_warn("cannot note step \"%s\" for the build's log: %s", id, strerror(errno));
}

/* Build stage st in this (forked) process; its log into log_fd, its
 * outcome into result_fd. */
static int child_main(const struct run *R, const struct cairn_spec_stage *st, const struct ctx *scope, int log_fd,
                      int result_fd, int built_fd, pid_t parent)
{
        /* A stage dies with its build, cancelled (its step taken down, no
         * result published), not killed. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
                return 1;
        struct sigaction sa = { .sa_handler = on_stop };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* What came since the fork (the parent blocked them around it)
         * comes now, to on_stop. */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &stop, NULL);
        cairn_log_set_sink(child_warning, &log_fd);
        struct cairn_engine *e = NULL;
        struct cairn_error *err = NULL;
        int r = cairn_engine_open(R->e->store_spec, (const char *const *) R->e->store_options, &e, &err);
        if (r >= 0) {
                struct cairn_build_request req = *R->req;
                req.log = child_log;
                req.log_userdata = &log_fd;
                req.cancel = &child_cancel;
                req.jobs = 1;
                bool volume_warned = false;
                struct cairn_stat_cache *stat_cache = NULL;
                struct engine_stage_shared shared = { built_fd };
                struct run CR = { e, &req, .limits = R->limits, .seccomp_unconfined = R->seccomp_unconfined,
                                  .volume_warned = &volume_warned, .stat_cache = &stat_cache, .jobs = 1,
                                  .stage_shared = &shared };
                char id[65];
                r = engine_build_stage(&CR, st, scope, id, &err);
                engine_run_end(&CR);
                if (r >= 0)
                        put_record(result_fd, REC_RESULT, id, 64, NULL, 0);
                cairn_engine_close(e);
        }
        cairn_log_set_sink(NULL, NULL);
        for (struct cairn_error *x = r < 0 ? err : NULL; x; x = x->next) {
                int32_t code = x->code;
                put_record(result_fd, REC_ERROR, &code, sizeof(code), x->message, strlen(x->message));
        }
        cairn_error_free(err);
        return 0;
}

/* --- the parent ------------------------------------------------------------------ */

enum stage_state { STAGE_WAITING, STAGE_RUNNING, STAGE_DONE, STAGE_FAILED };

struct stage {
        enum stage_state state;
        pid_t pid;
        int pidfd;                  /* readable when the process ends; -1 without pidfd_open */
        int log_fd, result_fd;
        off_t shown;                /* how much of its log the user has had */
        bool stopping;              /* told to stop (SIGTERM) */
        struct timespec stop_at;
        char id[65];
        struct cairn_error *err;
};

/* What the user has been given, to write the steps' notes as the sequential
 * build would. */
struct replay {
        const struct run *R;
        char **seen;                /* steps whose note the user has had */
        size_t n_seen;
        char **built;               /* steps the children built */
        size_t n_built;
        int built_fd;
        off_t built_off;
        struct cairn_buf usage;     /* a step's usage line, held until its note */
        bool has_usage;
};

static bool in_set(char **set, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(set[i], id) == 0)
                        return true;
        return false;
}

static void add_set(char ***set, size_t *n, const char *id)
{
        *set = cairn_xreallocarray(*set, *n + 1, sizeof(char *));
        (*set)[(*n)++] = cairn_xstrdup(id);
}

static void free_set(char **set, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(set[i]);
        free(set);
}

static void read_built(struct replay *rp)
{
        char line[65];
        while (pread(rp->built_fd, line, 65, rp->built_off) == 65) {
                rp->built_off += 65;
                line[64] = '\0';
                if (!in_set(rp->built, rp->n_built, line))
                        add_set(&rp->built, &rp->n_built, line);
        }
}

static void give(const struct replay *rp, enum cairn_log_kind kind, const char *data, size_t len)
{
        if (rp->R->req->log)
                rp->R->req->log(kind, data, len, rp->R->req->log_userdata);
}

/* A step's note, as engine_get_or_build writes it: its ID, and whether it
 * says "saved as" (or "using ... from cache"). */
static bool step_note(const char *data, size_t len, char id[65], bool *saved)
{
        static const char s1[] = "---> saved as \"", u1[] = "---> using \"", u2[] = "\" from cache\n";
        const char *p;
        if (len == strlen(s1) + 66 && memcmp(data, s1, strlen(s1)) == 0 && memcmp(data + len - 2, "\"\n", 2) == 0) {
                p = data + strlen(s1);
                *saved = true;
        } else if (len == strlen(u1) + 64 + strlen(u2) && memcmp(data, u1, strlen(u1)) == 0 &&
                   memcmp(data + len - strlen(u2), u2, strlen(u2)) == 0) {
                p = data + strlen(u1);
                *saved = false;
        } else {
                return false;
        }
        memcpy(id, p, 64);
        id[64] = '\0';
        return cairn_is_sha256_hex(id);
}

static void replay_log(struct replay *rp, enum cairn_log_kind kind, const char *data, size_t len)
{
        if (kind == CAIRN_LOG_USAGE) {
                if (rp->has_usage)
                        give(rp, CAIRN_LOG_USAGE, rp->usage.data, rp->usage.len);
                cairn_buf_reset(&rp->usage);
                cairn_buf_add(&rp->usage, data, len);
                rp->has_usage = true;
                return;
        }
        char id[65];
        bool saved;
        if (kind == CAIRN_LOG_NOTE && step_note(data, len, id, &saved)) {
                if (in_set(rp->seen, rp->n_seen, id)) {
                        saved = false;
                } else {
                        if (!saved) {
                                read_built(rp);
                                saved = in_set(rp->built, rp->n_built, id);
                        }
                        add_set(&rp->seen, &rp->n_seen, id);
                }
                /* A step reused shows no usage. */
                if (rp->has_usage && saved)
                        give(rp, CAIRN_LOG_USAGE, rp->usage.data, rp->usage.len);
                rp->has_usage = false;
                char text[128];
                int n = saved ? snprintf(text, sizeof(text), "---> saved as \"%s\"\n", id)
                              : snprintf(text, sizeof(text), "---> using \"%s\" from cache\n", id);
                give(rp, CAIRN_LOG_NOTE, text, (size_t) n);
                return;
        }
        if (rp->has_usage)
                give(rp, CAIRN_LOG_USAGE, rp->usage.data, rp->usage.len);
        rp->has_usage = false;
        give(rp, kind, data, len);
}

/*
 * Read the records of fd from *off, as far as they are whole; each to fn,
 * one at a time (engine_records_each would want the memfd's whole tail in
 * memory: the log a stage wrote while waiting its turn).  Returns false on
 * a malformed record.
 */
static bool read_records(int fd, off_t *off, void (*fn)(unsigned kind, const char *data, size_t len, void *ud),
                         void *ud)
{
        for (;;) {
                struct engine_record h;
                if (pread(fd, &h, sizeof(h), *off) != (ssize_t) sizeof(h))
                        return true;
                if (h.len > RECORD_MAX + 64)
                        return false;
                char *data = cairn_xmalloc(h.len + 1);
                ssize_t n = h.len ? pread(fd, data, h.len, *off + (off_t) sizeof(h)) : 0;
                if (n != (ssize_t) h.len) {
                        free(data);
                        return true;
                }
                data[h.len] = '\0';
                *off += (off_t) sizeof(h) + h.len;
                fn(h.kind, data, h.len, ud);
                free(data);
        }
}

static void on_log_record(unsigned kind, const char *data, size_t len, void *ud)
{
        struct replay *rp = ud;
        if (kind <= CAIRN_LOG_USAGE) {
                replay_log(rp, (enum cairn_log_kind) kind, data, len);
        } else if (kind == REC_WARNING && len >= 1) {
                /* Printed on stderr by the child; here for the sink only. */
                cairn_log_to_sink((enum cairn_log_level) (unsigned char) data[0], data + 1);
        }
}

static void on_result_record(unsigned kind, const char *data, size_t len, void *ud)
{
        struct stage *s = ud;
        if (kind == REC_RESULT && len == 64) {
                memcpy(s->id, data, 64);
                s->id[64] = '\0';
        } else if (kind == REC_ERROR && len >= sizeof(int32_t)) {
                int32_t code;
                memcpy(&code, data, sizeof(code));
                cairn_error_set(&s->err, code < 0 ? code : -EIO, "%s", data + sizeof(code));
        }
}

/* Stage s's process has ended with wait status ws: its outcome. */
static void stage_ended(const struct cairn_spec_stage *st, struct stage *s, int ws)
{
        off_t off = 0;
        s->id[0] = '\0';
        if (!read_records(s->result_fd, &off, on_result_record, s) && !s->err)
                cairn_error_set(&s->err, -EIO, "stage \"%s\": its outcome cannot be read", st->name);
        if (!s->err && strlen(s->id) != 64) {
                if (s->stopping)
                        cairn_error_set(&s->err, -ECANCELED, "Cancelled at user's request");
                else if (WIFSIGNALED(ws))
                        cairn_error_set(&s->err, -EIO, "stage \"%s\": the process building it was killed by signal %d",
                                        st->name, WTERMSIG(ws));
                else
                        cairn_error_set(&s->err, -EIO, "stage \"%s\": the process building it exited with status %d",
                                        st->name, WEXITSTATUS(ws));
        }
        s->state = s->err ? STAGE_FAILED : STAGE_DONE;
        s->pid = 0;
        if (s->pidfd >= 0)
                close(s->pidfd);
        s->pidfd = -1;
}

static void stop_stage(struct stage *s)
{
        if (s->state != STAGE_RUNNING || s->stopping)
                return;
        kill(s->pid, SIGTERM);
        s->stopping = true;
        clock_gettime(CLOCK_MONOTONIC, &s->stop_at);
}

/* Start stage i in a process of its own (the parent's database is closed). */
static int start_stage(const struct run *R, const struct cairn_spec *spec, size_t i, struct stage *stages,
                       const struct ctx *c, size_t n_outer, int built_fd, struct cairn_error **err)
{
        struct stage *s = &stages[i];
        s->log_fd = memfd_create("cairn-stage-log", MFD_CLOEXEC);
        s->result_fd = memfd_create("cairn-stage-result", MFD_CLOEXEC);
        if (s->log_fd < 0 || s->result_fd < 0)
                return cairn_error_set_errno(err, errno, "stage \"%s\": cannot start its process",
                                             spec->stages[i].name);
        /* What the stage sees: the enclosing levels' stages, and those of
         * this level done, in spec order (it needs no other). */
        struct ctx scope;
        memset(&scope, 0, sizeof(scope));
        for (size_t k = 0; k < n_outer; k++)
                engine_ctx_bind(&scope, c->scope_names[k], c->scope_ids[k]);
        for (size_t j = 0; j < i; j++)
                if (stages[j].state == STAGE_DONE)
                        engine_ctx_bind(&scope, spec->stages[j].name, stages[j].id);
        fflush(NULL);
        pid_t parent = getpid();
        /* A stop sent before the child has its own handlers must reach them
         * (not the parent's, which the child has until then). */
        sigset_t stop, old;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigprocmask(SIG_BLOCK, &stop, &old);
        pid_t pid = fork();
        if (pid == 0)
                _exit(child_main(R, &spec->stages[i], &scope, s->log_fd, s->result_fd, built_fd, parent));
        int e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        engine_ctx_clear(&scope);
        if (pid < 0)
                return cairn_error_set_errno(err, e, "stage \"%s\": cannot start its process", spec->stages[i].name);
        s->pid = pid;
        s->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        s->state = STAGE_RUNNING;
        return 0;
}

/*
 * Wait for something to happen: a stage's process to end (at once, where
 * the kernel has pidfds), or, for the log of the stage running first, a
 * while.  Quick for stages that take milliseconds (cached), cheap for those
 * that take minutes.
 */
static void nap(const struct stage *s, size_t n, long *ms)
{
        struct pollfd *p = cairn_xzalloc((n + 1) * sizeof(*p));
        size_t k = 0;
        bool all = true;
        for (size_t i = 0; i < n; i++) {
                if (s[i].state != STAGE_RUNNING)
                        continue;
                if (s[i].pidfd < 0)
                        all = false;
                else
                        p[k++] = (struct pollfd) { s[i].pidfd, POLLIN, 0 };
        }
        if (all && k)
                poll(p, k, 20);
        else
                engine_sleep_ms(*ms);
        *ms = *ms < 20 ? *ms * 2 : 20;
        free(p);
}

int engine_build_stages_parallel(const struct run *R, const struct cairn_spec *spec, struct ctx *c,
                                 struct cairn_error **err)
{
        const size_t n = spec->n_stages, n_outer = c->n_scope;
        struct stage *s = cairn_xzalloc(n * sizeof(*s));
        for (size_t i = 0; i < n; i++)
                s[i].log_fd = s[i].result_fd = s[i].pidfd = -1;
        struct replay rp = { .R = R, .usage = CAIRN_BUF_INIT };
        size_t fail = n;           /* the first stage, in spec order, that failed */
        size_t head = 0;           /* the first stage whose log the user has not had whole */
        unsigned running = 0;
        bool cancelled = false;
        long nap_ms = 1;           /* between looks when nothing happened (without pidfds) */
        struct cairn_error *fatal = NULL;   /* the build's own failure: stop every stage */
        int r = 0;
        rp.built_fd = memfd_create("cairn-stage-built", MFD_CLOEXEC);
        if (rp.built_fd < 0 || fcntl(rp.built_fd, F_SETFL, O_APPEND) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot share the stages' steps");
                goto out;
        }
        /* No SQLite connection may cross a fork; this process needs none
         * until the stages are done. */
        engine_db_close(R->e);
        for (;;) {
                bool progress = false;
                if (!cancelled && R->req->cancel && *R->req->cancel) {
                        cancelled = true;
                        for (size_t i = 0; i < n; i++)
                                stop_stage(&s[i]);
                }
                /* Start what can start, in spec order: only stages before
                 * the first failure still count. */
                for (size_t i = 0; i < fail && !cancelled && !fatal && running < R->jobs; i++) {
                        if (s[i].state != STAGE_WAITING)
                                continue;
                        bool ready = true;
                        for (size_t j = 0; j < i && ready; j++)
                                if (s[j].state != STAGE_DONE && cairn_spec_stage_needs(spec, i, j))
                                        ready = false;
                        if (!ready)
                                continue;
                        struct cairn_error *start_err = NULL;
                        int e = start_stage(R, spec, i, s, c, n_outer, rp.built_fd, &start_err);
                        if (s[i].state == STAGE_RUNNING)
                                running++;
                        progress = true;
                        if (e < 0) {
                                /* Stop the lot; the build fails with this. */
                                if (!fatal)
                                        fatal = start_err;
                                else
                                        cairn_error_free(start_err);
                                for (size_t k = 0; k < n; k++)
                                        stop_stage(&s[k]);
                                break;
                        }
                }
                /* Reap. */
                for (size_t i = 0; i < n; i++) {
                        if (s[i].state != STAGE_RUNNING)
                                continue;
                        int ws;
                        pid_t p = waitpid(s[i].pid, &ws, WNOHANG);
                        if (p == 0) {
                                struct timespec now;
                                clock_gettime(CLOCK_MONOTONIC, &now);
                                if (s[i].stopping && now.tv_sec - s[i].stop_at.tv_sec > STOP_GRACE_S)
                                        kill(s[i].pid, SIGKILL);
                                continue;
                        }
                        if (p < 0 && errno == EINTR)
                                continue;
                        if (p < 0)
                                ws = W_EXITCODE(127, 0);
                        stage_ended(&spec->stages[i], &s[i], ws);
                        running--;
                        progress = true;
                        if (s[i].state == STAGE_FAILED && i < fail) {
                                /* What comes after it is not wanted any more. */
                                fail = i;
                                for (size_t k = i + 1; k < n; k++)
                                        stop_stage(&s[k]);
                        }
                }
                /* The user gets the first stage not given yet, as it grows,
                 * and the next once it is done. */
                while (head < n && s[head].state != STAGE_WAITING) {
                        off_t before = s[head].shown;
                        if (!read_records(s[head].log_fd, &s[head].shown, on_log_record, &rp)) {
                                if (s[head].state == STAGE_RUNNING)
                                        stop_stage(&s[head]);
                        }
                        if (s[head].shown != before)
                                progress = true;
                        if (s[head].state != STAGE_DONE)
                                break;
                        engine_ctx_bind(c, spec->stages[head].name, s[head].id);
                        head++;
                }
                if (running == 0 && (cancelled || fatal || head == n || (fail < n && head == fail)))
                        break;
                if (progress)
                        nap_ms = 1;
                else
                        nap(s, n, &nap_ms);
        }
        if (rp.has_usage)
                give(&rp, CAIRN_LOG_USAGE, rp.usage.data, rp.usage.len);
        if (cancelled) {
                r = cairn_error_set(err, -ECANCELED, "Cancelled at user's request");
        } else if (fatal) {
                r = fatal->code;
                *err = TAKE_PTR(fatal);
        } else if (fail < n) {
                r = s[fail].err->code;
                *err = TAKE_PTR(s[fail].err);
        }
out:
        cairn_error_free(fatal);
        for (size_t i = 0; i < n; i++) {
                if (s[i].log_fd >= 0)
                        close(s[i].log_fd);
                if (s[i].result_fd >= 0)
                        close(s[i].result_fd);
                if (s[i].pidfd >= 0)
                        close(s[i].pidfd);
                cairn_error_free(s[i].err);
        }
        free(s);
        if (rp.built_fd >= 0)
                close(rp.built_fd);
        free_set(rp.seen, rp.n_seen);
        free_set(rp.built, rp.n_built);
        cairn_buf_release(&rp.usage);
        return r;
}
