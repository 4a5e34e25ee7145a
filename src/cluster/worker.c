/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker (cluster/cluster.h, docs/cluster.md).
 *
 * One process around poll() on its database connection: it registers with
 * a new incarnation, claims jobs (reclaiming expired leases in the same
 * transaction), heartbeats their leases and reaps their builds.  Each job
 * is built by a forked child that calls the engine in-process with its own
 * connection: a build that crashes, or is killed, never takes the worker
 * down, and the worker never forks while other threads hold locks.  The
 * child writes the log and the outcome itself, every write fenced by
 * (worker, incarnation, attempt); a refused log write cancels its build.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "cairn-config.h"
#include "cluster/cluster-internal.h"
#include "cluster/context.h"
#include "engine/engine.h"
#include "spec/spec.h"

/* A child's exit statuses. */
enum { CHILD_DONE = 0, CHILD_FENCED = 3, CHILD_ERROR = 4 };

struct running_job {
        pid_t pid;
        int64_t id;
        int attempt;
        int weight;                /* the slots it takes */
        double started;
        bool signalled;
        double signalled_at;
};

/* How this worker's jobs ended, for its /metrics. */
static const char *const outcomes[] = { "succeeded", "failed", "cancelled", "fenced", "lost", "unknown" };
enum { N_OUTCOMES = sizeof(outcomes) / sizeof(outcomes[0]) };

struct worker {
        const struct cairn_cluster_worker_config *cfg;
        struct cairn_cluster *c;
        int64_t incarnation;
        char inc_s[32];
        struct running_job *jobs;
        int n_jobs;
        int used;                  /* slots the running jobs take (their weights) */
        bool admin_drain;          /* `cairn cluster drain` named this incarnation */
        struct cluster_http *http; /* --metrics-listen, or NULL */
        long done[N_OUTCOMES];
        double job_seconds;        /* sum over the jobs in done[] */
        bool self_paused;          /* --keep-free: the store is short of space */
        double next_disk_check;
};

/* Drain on a signal (the CLI's flag) or on an admin's request. */
static bool draining(const struct worker *w)
{
        return *w->cfg->drain || w->admin_drain;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void report(const struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const struct worker *w, const char *fmt, ...)
{
        if (!w->cfg->report)
                return;
        va_list ap;
        va_start(ap, fmt);
        char *line = NULL;
        if (vasprintf(&line, fmt, ap) >= 0) {
                w->cfg->report(line, w->cfg->report_ud);
                free(line);
        }
        va_end(ap);
}

/* --- the child: one job's build ------------------------------------------------------ */

/*
 * A job's log, as the child writes it.  Every byte goes first to a spool
 * file (unlinked, in /var/tmp), then to job_log from the spool: a database
 * that is away for a while costs no memory and loses nothing, and the
 * chunks are replayed in order, at the offsets they would have had, when it
 * is back.
 */
struct job_log {
        struct cairn_cluster *c;
        const char *url, *id_s, *worker, *inc_s;
        char attempt_s[16];
        int64_t base;                 /* the job_log offset of the spool's first byte */
        int spool;                    /* fd */
        int64_t sent, end;            /* spool bytes written to job_log, and spooled */
        bool line_end;                /* the last byte spooled ends a line */
        double last_flush, retry_at;
        int backoff;
        volatile sig_atomic_t *cancel;
        bool fenced, truncated;
        unsigned pulls, pushes;       /* the step cache's, from the engine's notes */
};

enum { SPOOL_MAX = 256 << 20, CHUNK_MAX = 1 << 20 };

static int spool_open(void)
{
        int fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                fd = memfd_create("cairn-job-log", MFD_CLOEXEC);
        return fd;
}

static void spool_add(struct job_log *l, const char *data, size_t len)
{
        if (len == 0 || l->spool < 0)
                return;
        if (l->end + (int64_t) len > SPOOL_MAX) {
                if (!l->truncated) {
                        static const char note[] = "\n[cairn: the log is over 256 MiB; the rest is dropped]\n";
                        if (pwrite(l->spool, note, sizeof(note) - 1, l->end) == (ssize_t) sizeof(note) - 1)
                                l->end += (int64_t) sizeof(note) - 1;
                        l->truncated = l->line_end = true;
                }
                return;
        }
        while (len) {
                ssize_t n = pwrite(l->spool, data, len, l->end);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;   /* a full disk: the output is lost, not the build */
                l->end += n;
                data += n;
                len -= (size_t) n;
        }
        l->line_end = data[-1] == '\n';
}

/* The connection is gone (the server restarted, the network failed): try
 * again, at most every backoff seconds (1 s doubling to 30 s), so that the
 * build is not held up by a database that is away. */
static bool log_connection(struct job_log *l)
{
        if (PQstatus(l->c->pg) == CONNECTION_OK)
                return true;
        double t = now_s();
        if (t < l->retry_at)
                return false;
        PQreset(l->c->pg);
        if (PQstatus(l->c->pg) == CONNECTION_OK) {
                l->backoff = 1;
                return true;
        }
        l->backoff = l->backoff ? (l->backoff < 30 ? l->backoff * 2 : 30) : 1;
        l->retry_at = t + l->backoff;
        return false;
}

/*
 * Write what is spooled and not yet sent, at its offsets, if this attempt
 * still holds the job.  FOR SHARE holds the job's row until the chunk
 * commits, so that a reclaim (an UPDATE of that row) waits for it and then
 * writes its line after it.  A chunk already there from this attempt (its
 * commit's answer was lost with the connection) counts as written.
 * Returns false while the database is unreachable.
 */
static bool log_flush(struct job_log *l)
{
        l->last_flush = now_s();
        while (l->sent < l->end && !l->fenced) {
                if (!log_connection(l))
                        return false;
                size_t n = (size_t) (l->end - l->sent < CHUNK_MAX ? l->end - l->sent : CHUNK_MAX);
                _cleanup_free_ char *chunk = cairn_xmalloc(n);
                if (pread(l->spool, chunk, n, l->sent) != (ssize_t) n)
                        return false;
                char off_s[32];
                snprintf(off_s, sizeof(off_s), "%" PRId64, l->base + l->sent);
                const char *p[] = { l->id_s, off_s, l->attempt_s, chunk, l->worker, l->inc_s };
                int lens[] = { 0, 0, 0, (int) n, 0, 0 };
                int fmts[] = { 0, 0, 0, 1, 0, 0 };
                PGresult *r = PQexecParams(
                        l->c->pg,
                        "WITH own AS (SELECT 1 FROM jobs WHERE id = $1::bigint AND worker = $5"
                        "   AND worker_incarnation = $6::bigint AND attempt = $3::int AND state = 'running'"
                        "   FOR SHARE),"
                        " ins AS (INSERT INTO job_log (job_id, off, attempt, data)"
                        "  SELECT $1::bigint, $2::bigint, $3::int, $4::bytea FROM own"
                        "  ON CONFLICT DO NOTHING RETURNING length(data) AS n)"
                        /* What is at this offset now: the chunk just
                         * written, or one this attempt wrote before the
                         * connection failed (a prefix of this one: the
                         * spool grew since), or nothing if fenced. */
                        "SELECT coalesce((SELECT n FROM ins), (SELECT length(data) FROM job_log"
                        "   WHERE job_id = $1::bigint AND off = $2::bigint AND attempt = $3::int"
                        "   AND EXISTS (SELECT 1 FROM own)), 0),"
                        " pg_notify('cairn_log', $1::text)",
                        6, NULL, p, lens, fmts, 0);
                bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
                long long got = ok ? atoll(PQgetvalue(r, 0, 0)) : 0;
                if (got > 0 && got <= (long long) n) {
                        l->sent += got;
                } else if (ok) {
                        /* Fenced: another attempt holds the job now. */
                        l->fenced = true;
                        *l->cancel = SIGTERM;
                }
                PQclear(r);
                if (!ok) {
                        /* Lost mid-statement: the next try reconnects. */
                        if (PQstatus(l->c->pg) == CONNECTION_OK)
                                l->retry_at = now_s() + 1;
                        return false;
                }
        }
        return true;
}

/* The registry metrics, from the notes engine/remote.c writes: one
 * "---> pulled from REPO" per pulled step, and at the end of a build
 * "---> step cache REPO: N pushed, M already there". */
static void count_registry(struct job_log *l, const char *data, size_t len)
{
        static const char pulled[] = "---> pulled from ", cache[] = "---> step cache ";
        if (len >= sizeof(pulled) - 1 && memcmp(data, pulled, sizeof(pulled) - 1) == 0) {
                l->pulls++;
        } else if (len >= sizeof(cache) - 1 && len < 4096 && memcmp(data, cache, sizeof(cache) - 1) == 0) {
                char line[4096];
                memcpy(line, data, len);
                line[len] = '\0';
                /* Not "---> step cache R: 1 step to pull (…)", written
                 * before a pull. */
                for (const char *p = strstr(line, ": "); p; p = strstr(p + 2, ": ")) {
                        char *end;
                        unsigned long n = strtoul(p + 2, &end, 10);
                        if (end != p + 2 && strncmp(end, " pushed,", 8) == 0 && n < 1000000) {
                                l->pushes += (unsigned) n;
                                break;
                        }
                }
        }
}

static void job_log_fn(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        struct job_log *l = ud;
        if (kind == CAIRN_LOG_USAGE)
                return;
        if (kind == CAIRN_LOG_NOTE)
                count_registry(l, data, len);
        if (kind == CAIRN_LOG_OUTPUT) {
                spool_add(l, data, len);
        } else {
                /* Headings and notes on their own line, as `cairn build`
                 * prints them. */
                if (l->end > l->sent && !l->line_end)
                        spool_add(l, "\n", 1);
                size_t n = len && data[len - 1] == '\n' ? len - 1 : len;
                spool_add(l, data, n);
                spool_add(l, "\n", 1);
        }
        /* Batched by what the engine hands over at once, and written when
         * it ends a line: there is no timer in this process, and a step
         * that prints a line and then sleeps must be seen live.  A partial
         * line waits for more output, 16 KiB or 200 ms. */
        if (l->end - l->sent >= 16384 || l->line_end || now_s() - l->last_flush >= 0.2)
                log_flush(l);
}

static void logf_line(struct job_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(struct job_log *l, const char *fmt, ...)
{
        if (l->end > 0 && !l->line_end)
                spool_add(l, "\n", 1);
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *line = NULL;
        int n = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (n > 0)
                spool_add(l, line, (size_t) n);
}

/* Warnings the engine prints (the step cache's, say) go to the job's log
 * too, where the job's submitter reads them; only from this process's main
 * thread, which owns the spool's offsets and the connection (a forked
 * pusher or a download thread only prints them). */
static pid_t log_sink_pid;

static void job_log_sink(enum cairn_log_level level, const char *line, void *ud)
{
        struct job_log *l = ud;
        if (gettid() != log_sink_pid || level > CAIRN_LOG_WARNING)
                return;
        logf_line(l, "cairn: %s%s\n", level == CAIRN_LOG_WARNING ? "warning: " : "", line);
        log_flush(l);
}

/* Flush what is left, then complete the job, fenced, retrying while the
 * database is away: until it is written, the job turns out to be someone
 * else's, the parent stops this child (it learns from its heartbeat that the
 * job was reclaimed), or ten minutes have passed.  A completion whose
 * commit's answer was lost is found on the next try. */
static int child_complete(struct job_log *l, const char *state, const char *output, const char *error)
{
        char pulls[16], pushes[16];
        snprintf(pulls, sizeof(pulls), "%u", l->pulls);
        snprintf(pushes, sizeof(pushes), "%u", l->pushes);
        const char *p[] = { l->id_s, l->worker, l->inc_s, l->attempt_s, state, output, error, pulls, pushes };
        double give_up = now_s() + 600;
        for (;;) {
                if (log_flush(l) && l->fenced)
                        return CHILD_FENCED;
                if (l->sent == l->end && log_connection(l)) {
                        PGresult *r = PQexecParams(
                                l->c->pg,
                                "WITH u AS (UPDATE jobs SET state = $5, output = $6, error = $7,"
                                "  finished_at = now(), lease_until = NULL"
                                "  WHERE id = $1::bigint AND worker = $2 AND worker_incarnation = $3::bigint"
                                "  AND attempt = $4::int AND state = 'running' RETURNING id, pool),"
                                " e AS (INSERT INTO job_events (job_id, kind, attempt, worker, detail)"
                                "  SELECT id, 'finished', $4::int, $2, $5 FROM u),"
                                /* The counters move with the completion, or
                                 * not at all (a retry of a completion that
                                 * committed updates no row). */
                                " k AS (INSERT INTO counters (pool, name, labels, value)"
                                "  SELECT pool, 'jobs_finished_total', 'outcome=\"' || $5 || '\"', 1 FROM u"
                                "  UNION ALL SELECT pool, 'registry_pulls_total', '', $8::int FROM u"
                                "  UNION ALL SELECT pool, 'registry_pushes_total', '', $9::int FROM u"
                                "  ON CONFLICT (pool, name, labels) DO UPDATE"
                                "  SET value = counters.value + EXCLUDED.value)"
                                "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM jobs WHERE id = $1::bigint"
                                "  AND worker = $2 AND worker_incarnation = $3::bigint AND attempt = $4::int"
                                "  AND state = $5 AND finished_at IS NOT NULL), pg_notify('cairn_job', $1::text)",
                                9, NULL, p, NULL, NULL, 0);
                        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
                        int done = ok ? atoi(PQgetvalue(r, 0, 0)) + atoi(PQgetvalue(r, 0, 1)) : 0;
                        PQclear(r);
                        /* No row: the job was reclaimed meanwhile; the
                         * result is dropped. */
                        if (ok)
                                return done ? CHILD_DONE : CHILD_FENCED;
                }
                if (now_s() > give_up)
                        return CHILD_ERROR;
                struct timespec ts = { 0, 200000000 };
                nanosleep(&ts, NULL);
        }
}

static int child_run(const struct worker *w, int64_t id, int attempt, const char *spec_text, long long deadline_s)
{
        const struct cairn_cluster_worker_config *cfg = w->cfg;
        static volatile sig_atomic_t cancel;
        cairn_cancel_on_interrupt(&cancel);
        if (deadline_s > 0)
                cairn_cancel_after((unsigned) deadline_s, &cancel);
        struct cairn_cluster *c = NULL;
        struct cairn_error *err = NULL;
        /* The worker may be gone already; then so is the lease. */
        for (int tries = 0; cairn_cluster_connect(cfg->url, false, &c, &err) < 0; tries++) {
                cairn_error_free(err);
                err = NULL;
                if (tries == 5)
                        return CHILD_ERROR;
                sleep(1 << tries);
        }
        char id_s[32];
        snprintf(id_s, sizeof(id_s), "%" PRId64, id);
        struct job_log l = { .c = c, .url = cfg->url, .id_s = id_s, .worker = cfg->name, .inc_s = w->inc_s,
                             .cancel = &cancel, .spool = spool_open() };
        snprintf(l.attempt_s, sizeof(l.attempt_s), "%d", attempt);
        if (l.spool < 0) {
                cairn_cluster_close(c);
                return CHILD_ERROR;
        }
        {
                const char *p[] = { id_s };
                PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "log",
                                           "SELECT coalesce(max(off + length(data)), 0) FROM job_log WHERE job_id = $1",
                                           p, 1, &err);
                if (!r) {
                        cairn_error_free(err);
                        cairn_cluster_close(c);
                        return CHILD_ERROR;
                }
                l.base = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                PQclear(r);
        }
        logf_line(&l, "cairn: job %s, attempt %d, on worker %s (incarnation %s)\n", id_s, attempt, cfg->name,
                  w->inc_s);
        log_flush(&l);
        log_sink_pid = getpid();
        cairn_log_set_sink(job_log_sink, &l);
        const char *state = "failed";
        char out_id[65] = "";
        _cleanup_free_ char *error = NULL;
        struct cairn_spec *spec = NULL;
        struct cairn_engine *e = NULL;
        char name[64];
        snprintf(name, sizeof(name), "job-%s.spec", id_s);
        if (cairn_spec_parse(name, spec_text, strlen(spec_text), &spec, &err) < 0) {
                error = cairn_xasprintf("invalid spec: %s", err->message);
        } else if (cairn_engine_open(cfg->store, NULL, &e, &err) < 0) {
                error = cairn_xasprintf("worker's store: %s", err->message);
        } else {
                /* The job's context and secrets (cluster/context.h),
                 * in a private directory and memory, gone after. */
                struct cairn_cluster_job_inputs in;
                if (cairn_cluster_job_inputs_prepare(c, cfg->pool, cfg->pool_key, id_s, cfg->name, w->inc_s,
                                                     l.attempt_s, &in, &err) < 0) {
                        error = cairn_xstrdup(err->message);
                } else {
                        if (in.note)
                                logf_line(&l, "%s\n", in.note);
                        struct cairn_build_request req = {
                                .spec = spec, .context_dir = in.context_dir, .secrets = in.secrets,
                                .n_secrets = in.n_secrets, .log = job_log_fn, .log_userdata = &l,
                                .cancel = &cancel, .cache_from = cfg->cache_from, .n_cache_from = cfg->n_cache_from,
                                .cache_to = cfg->cache_to,
                        };
                        if (cairn_engine_build(e, &req, out_id, &err) == 0) {
                                state = "succeeded";
                        } else if (cancel == 1) {
                                error = cairn_xasprintf("timeout: the job ran longer than %llds", deadline_s);
                        } else if (err->code == -ECANCELED || cancel) {
                                state = "cancelled";
                                error = cairn_xstrdup("cancelled at user's request");
                        } else {
                                error = cairn_xasprintf("Build step failed: %s", err->message);
                        }
                }
                cairn_cluster_job_inputs_release(&in);
        }
        cairn_error_free(err);
        err = NULL;
        if (strcmp(state, "succeeded") == 0)
                logf_line(&l, "Got: \"%s\"\n", out_id);
        else
                logf_line(&l, "%s\n", error);
        cairn_log_set_sink(NULL, NULL);
        int status = child_complete(&l, state, out_id[0] ? out_id : NULL, error);
        cairn_engine_close(e);
        cairn_spec_free(spec);
        close(l.spool);
        cairn_cluster_close(c);
        return status;
}

/* --- the parent ------------------------------------------------------------------- */

/*
 * Requeue the running jobs the WHERE clause picks (on `jobs j`, parameters
 * from $2; $1 is the reason), or fail those out of attempts, and add a line
 * to each one's log.  In the caller's transaction.
 */
static int requeue(struct worker *w, const char *where, const char *const *params, int n, struct cairn_error **err)
{
        char *sql = cairn_xasprintf(
                /* A job whose cancel was requested ends cancelled: it
                 * is not run again only to be stopped. */
                "UPDATE jobs j SET state = CASE WHEN j.cancel_requested THEN 'cancelled'"
                "   WHEN j.attempt >= j.max_attempts THEN 'failed' ELSE 'queued' END,"
                " error = CASE WHEN j.cancel_requested THEN 'cancelled at user''s request (its worker was lost)'"
                "   WHEN j.attempt >= j.max_attempts"
                "   THEN 'worker lost ' || j.attempt || ' times (' || $1 || ')' END,"
                " finished_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN now() END,"
                " worker = NULL, worker_incarnation = NULL, lease_until = NULL"
                " FROM (SELECT id, worker FROM jobs j WHERE j.state = 'running' AND (%s) FOR UPDATE SKIP LOCKED) o"
                " WHERE j.id = o.id RETURNING j.id, j.state, j.attempt, o.worker",
                where);
        PGresult *r = cluster_exec(w->c, PGRES_TUPLES_OK, "requeue", sql, params, n, err);
        free(sql);
        if (!r)
                return -EIO;
        int rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
                const char *id = PQgetvalue(r, i, 0), *state = PQgetvalue(r, i, 1), *attempt = PQgetvalue(r, i, 2);
                char *line = strcmp(state, "queued") == 0
                                     ? cairn_xasprintf("cairn: %s on worker %s; requeued, attempt %d next\n",
                                                       params[0], PQgetvalue(r, i, 3), atoi(attempt) + 1)
                             : strcmp(state, "cancelled") == 0
                                     ? cairn_xasprintf("cairn: %s on worker %s; cancelled, as requested\n",
                                                       params[0], PQgetvalue(r, i, 3))
                                     : cairn_xasprintf("cairn: %s on worker %s; failed: worker lost %s times\n",
                                                       params[0], PQgetvalue(r, i, 3), attempt);
                const char *p[] = { id, attempt, line, state, PQgetvalue(r, i, 3) };
                long k = cluster_command(
                        w->c, "requeue",
                        "WITH l AS (INSERT INTO job_log (job_id, off, attempt, data)"
                        "  SELECT $1::bigint, coalesce(max(off + length(data)), 0), $2::int, convert_to($3, 'UTF8')"
                        "  FROM job_log WHERE job_id = $1::bigint ON CONFLICT DO NOTHING),"
                        " n AS (SELECT pg_notify('cairn_log', $1::text), pg_notify('cairn_job', $1::text),"
                        "  pg_notify('cairn_queue', (SELECT pool FROM jobs WHERE id = $1::bigint))),"
                        " k AS (INSERT INTO counters (pool, name, labels, value)"
                        "  SELECT pool, CASE $4 WHEN 'queued' THEN 'jobs_retried_total' ELSE 'jobs_finished_total' END,"
                        "  CASE $4 WHEN 'queued' THEN '' ELSE 'outcome=\"' || $4 || '\"' END, 1"
                        "  FROM jobs WHERE id = $1::bigint"
                        "  ON CONFLICT (pool, name, labels) DO UPDATE SET value = counters.value + 1)"
                        "INSERT INTO job_events (job_id, kind, attempt, worker, detail)"
                        " SELECT $1::bigint, CASE $4 WHEN 'queued' THEN 'requeued' WHEN 'cancelled' THEN 'finished'"
                        "  ELSE 'poisoned' END, $2::int, $5, $3"
                        " FROM n",
                        p, 5, err);
                report(w, "job %s: %s", id, line);
                free(line);
                if (k < 0) {
                        PQclear(r);
                        return -EIO;
                }
        }
        PQclear(r);
        return rows;
}

static int listen_all(struct worker *w, struct cairn_error **err)
{
        if (cluster_command(w->c, "listen", "LISTEN cairn_queue", NULL, 0, err) < 0 ||
            cluster_command(w->c, "listen", "LISTEN cairn_cancel", NULL, 0, err) < 0 ||
            cluster_command(w->c, "listen", "LISTEN cairn_admin", NULL, 0, err) < 0)
                return -EIO;
        return 0;
}

/*
 * A new incarnation: admin_paused is left as it is (a pause outlives
 * restarts), draining is cleared.  A drain ends one process; restarting the
 * worker is the operator saying it should work again, and a worker that
 * came back draining would exit at once and forever under a supervisor that
 * restarts it.  To keep a worker idle across restarts, pause it.
 */
static int register_worker(struct worker *w, struct cairn_error **err)
{
        char cap[16];
        snprintf(cap, sizeof(cap), "%d", w->cfg->capacity);
        const char *p[] = { w->cfg->pool, w->cfg->name, cap, CAIRN_VERSION };
        PGresult *r = cluster_exec(w->c, PGRES_TUPLES_OK, "register",
                                   "INSERT INTO workers (pool, name, capacity, last_seen, version)"
                                   " VALUES ($1, $2, $3::int, now(), $4)"
                                   " ON CONFLICT (pool, name) DO UPDATE SET incarnation = workers.incarnation + 1,"
                                   " capacity = EXCLUDED.capacity, last_seen = now(), version = EXCLUDED.version,"
                                   " draining = false, self_paused = false RETURNING incarnation",
                                   p, 4, err);
        if (!r)
                return -EIO;
        w->incarnation = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(w->inc_s, sizeof(w->inc_s), "%" PRId64, w->incarnation);
        PQclear(r);
        /* A fresh process cannot be running what an older incarnation of
         * this name held: requeue it now rather than after its lease. */
        if (cluster_command(w->c, "register", "BEGIN", NULL, 0, err) < 0)
                return -EIO;
        const char *q[] = { "an older incarnation died", w->cfg->name, w->inc_s, w->cfg->pool };
        if (requeue(w, "j.worker = $2 AND j.worker_incarnation < $3::bigint AND j.pool = $4", q, 4, err) < 0 ||
            cluster_command(w->c, "register", "COMMIT", NULL, 0, err) < 0) {
                cluster_command(w->c, "register", "ROLLBACK", NULL, 0, NULL);
                return -EIO;
        }
        return listen_all(w, err);
}

static void start_job(struct worker *w, int64_t id, int attempt, int weight, const char *spec, long long deadline_s)
{
        fflush(NULL);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
                /* The build dies with the worker: a killed worker's lease
                 * expires and its job goes elsewhere, with nobody left
                 * writing to it. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(CHILD_ERROR);
                /* The build holds none of the worker's /metrics sockets: a
                 * client would wait for the build to close its copy. */
                cluster_http_free(w->http);
                w->http = NULL;
                signal(SIGCHLD, SIG_DFL);
                int st = child_run(w, id, attempt, spec, deadline_s);
                fflush(NULL);
                _exit(st);
        }
        if (pid < 0) {
                report(w, "job %" PRId64 ": fork: %s", id, strerror(errno));
                return;   /* its lease expires and another worker takes it */
        }
        w->jobs = cairn_xreallocarray(w->jobs, (size_t) w->n_jobs + 1, sizeof(*w->jobs));
        w->jobs[w->n_jobs++] = (struct running_job) { .pid = pid, .id = id, .attempt = attempt, .weight = weight,
                                                      .started = now_s() };
        w->used += weight;
        report(w, "job %" PRId64 ": claimed, attempt %d", id, attempt);
}

/* Reclaim expired leases, then claim while there is room. */
static int claim(struct worker *w, struct cairn_error **err)
{
        char lease[16], grace[16], wait[16], free_s[16];
        snprintf(lease, sizeof(lease), "%d", w->cfg->lease_s);
        /* A restarted server gives workers a lease and some time to
         * reconnect before their jobs count as lost. */
        snprintf(grace, sizeof(grace), "%d", 2 * w->cfg->lease_s);
        snprintf(wait, sizeof(wait), "%d", w->cfg->affinity_wait_s);
        /* The worker's row is read FOR SHARE: a pause or a drain committed
         * while the claim runs is seen by it (the row is re-read), and one
         * that comes later waits for the claim, so that `drain --wait`
         * cannot miss a job claimed at the same time. */
        while (w->used < w->cfg->capacity) {
                /* A job is claimed only if its weight fits the free slots. */
                snprintf(free_s, sizeof(free_s), "%d", w->cfg->capacity - w->used);
                if (cluster_command(w->c, "claim", "BEGIN", NULL, 0, err) < 0)
                        return -EIO;
                const char *rp[] = { "lease expired", grace };
                if (requeue(w, "j.lease_until < now() AND now() > pg_postmaster_start_time()"
                               " + make_interval(secs => $2::int)",
                            rp, 2, err) < 0)
                        goto fail;
                /* A job past its deadline by two leases is failed here, in
                 * case its worker is alive but cannot stop it: the
                 * worker's next heartbeat finds it fenced and kills it. */
                const char *dp[] = { grace };
                if (cluster_command(w->c, "claim",
                                    "WITH t AS (UPDATE jobs SET state = 'failed', finished_at = now(),"
                                    "  lease_until = NULL, error = 'timeout: the job ran longer than '"
                                    "  || extract(epoch FROM deadline)::bigint || 's (its worker did not stop it)'"
                                    "  WHERE state = 'running' AND deadline IS NOT NULL"
                                    "  AND started_at + deadline + make_interval(secs => $1::int) < now()"
                                    "  RETURNING id, attempt, worker, error, pool),"
                                    " n AS (SELECT pg_notify('cairn_job', id::text) FROM t),"
                                    " k AS (INSERT INTO counters (pool, name, labels, value)"
                                    "  SELECT pool, 'jobs_finished_total', 'outcome=\"failed\"', count(*) FROM t"
                                    "  GROUP BY pool ON CONFLICT (pool, name, labels) DO UPDATE"
                                    "  SET value = counters.value + EXCLUDED.value)"
                                    "INSERT INTO job_events (job_id, kind, attempt, worker, detail)"
                                    " SELECT id, 'finished', attempt, worker, 'failed: ' || error FROM t"
                                    " WHERE (SELECT count(*) FROM n) >= 0",
                                    dp, 1, err) < 0)
                        goto fail;
                const char *p[] = { w->cfg->pool, w->cfg->name, w->inc_s, wait, lease, free_s };
                PGresult *r = cluster_exec(
                        w->c, PGRES_TUPLES_OK, "claim",
                        "WITH cand AS (SELECT j.id FROM jobs j"
                        " WHERE j.pool = $1 AND j.state = 'queued' AND j.weight <= $6::int"
                        "  AND (j.cache_hint = ''"
                        "   OR EXISTS (SELECT 1 FROM hint_cache h WHERE h.pool = j.pool AND h.hint = j.cache_hint"
                        "              AND h.worker = $2)"
                        "   OR (NOT EXISTS (SELECT 1 FROM hint_cache h JOIN workers w ON w.pool = h.pool"
                        "              AND w.name = h.worker WHERE h.pool = j.pool AND h.hint = j.cache_hint"
                        "              AND h.store_epoch = w.store_epoch"
                        "              AND w.last_seen > now() - make_interval(secs => $5::int)"
                        "              AND NOT w.admin_paused AND NOT w.self_paused AND NOT w.draining)"
                        /* A hint no live worker has: its rendezvous winner
                         * among the live workers with a free slot, so that
                         * new hints spread evenly and a new worker takes
                         * its share at once. */
                        "       AND $2 = (SELECT w.name FROM workers w WHERE w.pool = j.pool"
                        "              AND (w.name = $2 OR (w.last_seen > now() - make_interval(secs => $5::int)"
                        "              AND NOT w.admin_paused AND NOT w.self_paused AND NOT w.draining"
                        "              AND (SELECT count(*) FROM jobs r WHERE r.worker = w.name AND r.pool = w.pool"
                        "                   AND r.state = 'running') < w.capacity))"
                        "              ORDER BY hashtextextended(j.cache_hint || '/' || w.name, 0) DESC, w.name"
                        "              LIMIT 1))"
                        "   OR j.enqueued_at < now() - make_interval(secs => $4::int))"
                        /* Fair order decides among the jobs open to this
                         * worker; affinity only decides which are open.
                         * (The design sorted preferred jobs first: with a
                         * hint on every job by default, one client's
                         * stream of jobs alike would take its worker
                         * ahead of everyone else's.) */
                        " ORDER BY j.urgent DESC, j.fair_start, j.id"
                        " LIMIT 1 FOR UPDATE OF j SKIP LOCKED)"
                        "UPDATE jobs j SET state = 'running', worker = $2, worker_incarnation = $3::bigint,"
                        " attempt = j.attempt + 1, started_at = now(),"
                        " lease_until = now() + make_interval(secs => $5::int)"
                        " FROM cand WHERE j.id = cand.id"
                        " AND EXISTS (SELECT 1 FROM workers w WHERE w.pool = $1 AND w.name = $2"
                        "  AND w.incarnation = $3::bigint AND NOT w.admin_paused AND NOT w.self_paused"
                        "  AND NOT w.draining FOR SHARE OF w)"
                        " RETURNING j.id, j.attempt, j.spec, j.cache_hint,"
                        "  coalesce(extract(epoch FROM j.deadline)::bigint, 0), j.weight,"
                        "  j.cache_hint <> '' AND EXISTS (SELECT 1 FROM hint_cache h WHERE h.pool = j.pool"
                        "   AND h.hint = j.cache_hint AND h.worker = $2)",
                        p, 6, err);
                if (!r)
                        goto fail;
                if (PQntuples(r) == 0) {
                        PQclear(r);
                        return cluster_command(w->c, "claim", "COMMIT", NULL, 0, err) < 0 ? -EIO : 0;
                }
                const char *id = PQgetvalue(r, 0, 0), *attempt = PQgetvalue(r, 0, 1), *hint = PQgetvalue(r, 0, 3);
                /* An affinity hit: this worker had run the job's hint (read
                 * before the upsert below, in the claim's snapshot). */
                const char *hp[] = { w->cfg->pool, hint, w->cfg->name, id, attempt, PQgetvalue(r, 0, 6) };
                if (cluster_command(w->c, "claim",
                                    "WITH h AS (INSERT INTO hint_cache (pool, hint, worker, store_epoch, last_used)"
                                    "  SELECT $1, $2, $3, w.store_epoch, now() FROM workers w"
                                    "  WHERE w.pool = $1 AND w.name = $3 AND $2 <> ''"
                                    "  ON CONFLICT (pool, hint, worker) DO UPDATE SET last_used = now(),"
                                    "  store_epoch = EXCLUDED.store_epoch),"
                                    " k AS (INSERT INTO counters (pool, name, value)"
                                    "  SELECT $1, 'affinity_hits_total', 1 WHERE $6::bool"
                                    "  ON CONFLICT (pool, name, labels) DO UPDATE SET value = counters.value + 1)"
                                    "INSERT INTO job_events (job_id, kind, attempt, worker)"
                                    " VALUES ($4::bigint, 'claimed', $5::int, $3)",
                                    hp, 6, err) < 0 ||
                    cluster_command(w->c, "claim", "COMMIT", NULL, 0, err) < 0) {
                        PQclear(r);
                        goto fail;
                }
                start_job(w, strtoll(id, NULL, 10), atoi(attempt), atoi(PQgetvalue(r, 0, 5)), PQgetvalue(r, 0, 2),
                          strtoll(PQgetvalue(r, 0, 4), NULL, 10));
                PQclear(r);
        }
        return 0;
fail:
        cluster_command(w->c, "claim", "ROLLBACK", NULL, 0, NULL);
        return -EIO;
}

/* Extend the leases of this incarnation's jobs; stop the builds that lost
 * theirs or that a user cancelled. */
static int check_admin(struct worker *w, struct cairn_error **err);

static int heartbeat(struct worker *w, struct cairn_error **err)
{
        char lease[16];
        snprintf(lease, sizeof(lease), "%d", w->cfg->lease_s);
        const char *p[] = { w->cfg->pool, w->cfg->name, w->inc_s, lease };
        PGresult *r = cluster_exec(w->c, PGRES_TUPLES_OK, "heartbeat",
                                   "WITH s AS (UPDATE workers SET last_seen = now()"
                                   "  WHERE pool = $1 AND name = $2 AND incarnation = $3::bigint)"
                                   "UPDATE jobs SET lease_until = now() + make_interval(secs => $4::int)"
                                   " WHERE worker = $2 AND worker_incarnation = $3::bigint AND state = 'running'"
                                   " RETURNING id, attempt, cancel_requested",
                                   p, 4, err);
        if (!r)
                return -EIO;
        for (int i = 0; i < w->n_jobs; i++) {
                struct running_job *j = &w->jobs[i];
                bool held = false, cancel = false;
                for (int k = 0; k < PQntuples(r); k++)
                        if (strtoll(PQgetvalue(r, k, 0), NULL, 10) == j->id && atoi(PQgetvalue(r, k, 1)) == j->attempt) {
                                held = true;
                                cancel = PQgetvalue(r, k, 2)[0] == 't';
                        }
                if ((!held || cancel) && !j->signalled) {
                        report(w, "job %" PRId64 ": %s; stopping its build", j->id,
                               held ? "cancel requested" : "lease lost (fenced)");
                        kill(j->pid, SIGTERM);
                        j->signalled = true;
                        j->signalled_at = now_s();
                } else if (j->signalled && now_s() - j->signalled_at > 30) {
                        kill(j->pid, SIGKILL);
                }
        }
        PQclear(r);
        return check_admin(w, err);
}

/* Whether an admin set this incarnation draining (cairn cluster drain). */
static int check_admin(struct worker *w, struct cairn_error **err)
{
        const char *p[] = { w->cfg->pool, w->cfg->name, w->inc_s };
        PGresult *r = cluster_exec(w->c, PGRES_TUPLES_OK, "admin",
                                   "SELECT draining FROM workers WHERE pool = $1 AND name = $2"
                                   " AND incarnation = $3::bigint",
                                   p, 3, err);
        if (!r)
                return -EIO;
        if (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't' && !w->admin_drain && !*w->cfg->drain) {
                w->admin_drain = true;
                report(w, "drain requested by an admin: %d job(s) running", w->n_jobs);
        }
        PQclear(r);
        return 0;
}

/* How a job's build that exited cleanly ended, as its row says. */
static int outcome_of(struct worker *w, const struct running_job *j)
{
        char id[32], att[16];
        snprintf(id, sizeof(id), "%" PRId64, j->id);
        snprintf(att, sizeof(att), "%d", j->attempt);
        const char *p[] = { id, w->cfg->name, w->inc_s, att };
        PGresult *r = cluster_exec(w->c, PGRES_TUPLES_OK, "outcome",
                                   "SELECT state FROM jobs WHERE id = $1::bigint AND worker = $2"
                                   " AND worker_incarnation = $3::bigint AND attempt = $4::int",
                                   p, 4, NULL);
        int k = N_OUTCOMES - 1;
        for (int i = 0; r && PQntuples(r) == 1 && i < 3; i++)
                if (strcmp(PQgetvalue(r, 0, 0), outcomes[i]) == 0)
                        k = i;
        PQclear(r);
        return k;
}

/* Returns how many builds ended. */
static int reap(struct worker *w, struct cairn_error **err)
{
        int ended = 0;
        for (int i = 0; i < w->n_jobs;) {
                struct running_job *j = &w->jobs[i];
                int st;
                pid_t p = waitpid(j->pid, &st, WNOHANG);
                if (p == 0 || (p < 0 && errno == EINTR)) {
                        i++;
                        continue;
                }
                bool clean = p > 0 && WIFEXITED(st) && (WEXITSTATUS(st) == CHILD_DONE || WEXITSTATUS(st) == CHILD_FENCED);
                ended++;
                w->used -= j->weight;
                w->job_seconds += now_s() - j->started;
                w->done[!clean ? 4 : WEXITSTATUS(st) == CHILD_FENCED ? 3 : outcome_of(w, j)]++;
                if (!clean || WEXITSTATUS(st) == CHILD_FENCED) {
                        /* The build ended without completing: the job counts
                         * as lost once more (poison after max_attempts) -- if
                         * it is still this attempt's.  A child that found
                         * itself fenced matches nothing here, unless it was
                         * wrong, and then the job is not left running with
                         * nobody building it. */
                        char why[64], id[32], att[16];
                        if (clean)
                                report(w, "job %" PRId64 ": fenced, result dropped", j->id);
                        if (clean)
                                snprintf(why, sizeof(why), "build process found its job fenced");
                        else if (p > 0 && WIFSIGNALED(st))
                                snprintf(why, sizeof(why), "build process killed by signal %d", WTERMSIG(st));
                        else
                                snprintf(why, sizeof(why), "build process failed");
                        snprintf(id, sizeof(id), "%" PRId64, j->id);
                        snprintf(att, sizeof(att), "%d", j->attempt);
                        const char *q[] = { why, id, w->cfg->name, w->inc_s, att };
                        if (cluster_command(w->c, "reap", "BEGIN", NULL, 0, err) >= 0) {
                                if (requeue(w, "j.id = $2::bigint AND j.worker = $3 AND j.worker_incarnation = $4::bigint"
                                               " AND j.attempt = $5::int", q, 5, err) < 0)
                                        cluster_command(w->c, "reap", "ROLLBACK", NULL, 0, NULL);
                                else
                                        cluster_command(w->c, "reap", "COMMIT", NULL, 0, err);
                        }
                } else {
                        report(w, "job %" PRId64 ": done", j->id);
                }
                w->jobs[i] = w->jobs[--w->n_jobs];
        }
        return ended;
}

/* A build that ends wakes the loop at once (a byte on this pipe), so that
 * its slot is refilled without waiting for the next claim period. */
static int chld_pipe[2] = { -1, -1 };

static void on_sigchld(int sig)
{
        (void) sig;
        int saved = errno;
        if (write(chld_pipe[1], "", 1) < 0) {
                /* full: a wake-up is pending anyway */
        }
        errno = saved;
}

/* --- --keep-free: self-pause and prune ------------------------------------------------ */

/* The free space on the store's filesystem, and whether it is below
 * --keep-free; *free_s says how much there is, for the report. */
static bool store_short(const struct worker *w, char *free_s, size_t len)
{
        const char *colon = strchr(w->cfg->store, ':');
        struct statvfs sv;
        if (!colon || statvfs(colon + 1, &sv) < 0 || sv.f_blocks == 0)
                return false;
        unsigned long long avail = (unsigned long long) sv.f_bavail * sv.f_frsize;
        double pct = 100.0 * (double) sv.f_bavail / (double) sv.f_blocks;
        snprintf(free_s, len, "%.1f MiB free, %.1f%%", (double) avail / 1048576.0, pct);
        return (w->cfg->keep_free_bytes && avail < w->cfg->keep_free_bytes) ||
               (w->cfg->keep_free_percent > 0 && pct < w->cfg->keep_free_percent);
}

static int set_self_paused(struct worker *w, bool paused, bool new_epoch, struct cairn_error **err)
{
        const char *p[] = { w->cfg->pool, w->cfg->name, w->inc_s, paused ? "t" : "f", new_epoch ? "1" : "0" };
        if (cluster_command(w->c, "self-pause",
                            "UPDATE workers SET self_paused = $4::bool, store_epoch = store_epoch + $5::int"
                            " WHERE pool = $1 AND name = $2 AND incarnation = $3::bigint",
                            p, 5, err) < 0)
                return -EIO;
        w->self_paused = paused;
        return 0;
}

/* Prune in a child process (the parent never opens the store: its children
 * do, after fork), least recently used first, until --keep-free holds.
 * Returns the number of results deleted, or < 0. */
static long prune_store(const struct worker *w)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                signal(SIGCHLD, SIG_DFL);
                struct cairn_engine *e = NULL;
                struct cairn_error *err = NULL;
                struct cairn_prune_policy pol = { .older_than = -1, .max_items = -1,
                                                  .keep_free_bytes = w->cfg->keep_free_bytes,
                                                  .keep_free_percent = w->cfg->keep_free_percent };
                long n = -1;
                if (cairn_engine_open(w->cfg->store, NULL, &e, &err) == 0)
                        n = cairn_engine_prune_policy(e, &pol, NULL, NULL, &err);
                if (n < 0)
                        report(w, "pruning the store: %s", err ? err->message : "failed");
                cairn_engine_close(e);
                cairn_error_free(err);
                fflush(NULL);
                _exit(n < 0 ? 255 : n > 254 ? 254 : (int) n);
        }
        if (pid < 0)
                return -errno;
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return WIFEXITED(st) && WEXITSTATUS(st) != 255 ? WEXITSTATUS(st) : -EIO;
}

/* Pause when the store runs short of space; once the running builds are
 * done, prune, and resume if that made room.  A prune bumps the worker's
 * store_epoch, so that hints it had no longer draw jobs to it. */
static int check_disk(struct worker *w, struct cairn_error **err)
{
        if (!w->cfg->keep_free_bytes && w->cfg->keep_free_percent <= 0)
                return 0;
        double t = now_s();
        if (t < w->next_disk_check)
                return 0;
        w->next_disk_check = t + 2;
        char free_s[64] = "";
        bool shortage = store_short(w, free_s, sizeof(free_s));
        if (shortage && !w->self_paused) {
                if (set_self_paused(w, true, false, err) < 0)
                        return -EIO;
                report(w, "the store is short of space (%s): paused; pruning once %d running job(s) end", free_s,
                       w->n_jobs);
        }
        if (!w->self_paused || w->n_jobs > 0)
                return 0;
        bool pruned = false;
        if (shortage) {
                long n = prune_store(w);
                report(w, "pruned %ld result(s) from the store", n < 0 ? 0 : n);
                pruned = n > 0;
                shortage = store_short(w, free_s, sizeof(free_s));
        }
        if (shortage) {
                if (pruned && set_self_paused(w, true, true, err) < 0)
                        return -EIO;
                report(w, "still short of space after pruning (%s): staying paused, trying again in a minute",
                       free_s);
                w->next_disk_check = t + 60;
                return 0;
        }
        if (set_self_paused(w, false, pruned, err) < 0)
                return -EIO;
        report(w, "the store has room again (%s): resumed", free_s);
        return 0;
}

/* The worker's own /metrics (cluster/metrics-http.c). */
static void worker_metrics(struct cairn_buf *out, void *ud)
{
        const struct worker *w = ud;
        struct cairn_buf l = CAIRN_BUF_INIT;
        cairn_buf_adds(&l, "pool=\"");
        cairn_cluster_prom_escape(&l, w->cfg->pool);
        cairn_buf_adds(&l, "\",worker=\"");
        cairn_cluster_prom_escape(&l, w->cfg->name);
        cairn_buf_adds(&l, "\"");
        const char *lb = cairn_buf_str(&l);
        long count = 0;
        for (int i = 0; i < N_OUTCOMES; i++)
                count += w->done[i];
        cairn_buf_printf(out, "# HELP cairn_worker_capacity Job slots of this worker.\n"
                              "# TYPE cairn_worker_capacity gauge\ncairn_worker_capacity{%s} %d\n"
                              "# HELP cairn_worker_jobs_running Builds this worker runs now.\n"
                              "# TYPE cairn_worker_jobs_running gauge\ncairn_worker_jobs_running{%s} %d\n"
                              "# HELP cairn_worker_jobs_done_total Builds this worker ended, by outcome.\n"
                              "# TYPE cairn_worker_jobs_done_total counter\n",
                         lb, w->cfg->capacity, lb, w->n_jobs);
        for (int i = 0; i < N_OUTCOMES; i++)
                cairn_buf_printf(out, "cairn_worker_jobs_done_total{%s,outcome=\"%s\"} %ld\n", lb, outcomes[i],
                                 w->done[i]);
        cairn_buf_printf(out, "# HELP cairn_worker_job_seconds Time from claim to the end of the build.\n"
                              "# TYPE cairn_worker_job_seconds summary\n"
                              "cairn_worker_job_seconds_sum{%s} %.3f\ncairn_worker_job_seconds_count{%s} %ld\n",
                         lb, w->job_seconds, lb, count);
        const char *colon = strchr(w->cfg->store, ':');
        struct statvfs sv;
        if (colon && statvfs(colon + 1, &sv) == 0)
                cairn_buf_printf(out, "# HELP cairn_worker_store_free_bytes Free space on the store's filesystem.\n"
                                      "# TYPE cairn_worker_store_free_bytes gauge\n"
                                      "cairn_worker_store_free_bytes{%s} %llu\n",
                                 lb, (unsigned long long) sv.f_bavail * sv.f_frsize);
        cairn_buf_release(&l);
}

int cairn_cluster_worker_run(const struct cairn_cluster_worker_config *cfg, struct cairn_error **err)
{
        struct worker w = { .cfg = cfg };
        if (chld_pipe[0] < 0) {
                if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        return cairn_error_set_errno(err, errno, "pipe");
                struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
                sigemptyset(&sa.sa_mask);
                sigaction(SIGCHLD, &sa, NULL);
        }
        int backoff = 1;
        bool registered = false, drain_marked = false;
        double next_beat = 0, next_claim = 0;
        struct cairn_error *e = NULL;
        if (cfg->metrics_listen && cluster_http_listen(cfg->metrics_listen, &w.http, err) < 0)
                return -EINVAL;
        enum { MAX_FDS = 24 };
        struct pollfd fds[MAX_FDS];
        for (;;) {
                if (!w.c) {
                        if (cairn_cluster_connect(cfg->url, false, &w.c, &e) < 0) {
                                if (e->code == -EPROTO || e->code == -ENOENT) {
                                        cluster_http_free(w.http);
                                        free(w.jobs);
                                        cairn_error_append(err, &e);
                                        return -EPROTO;
                                }
                                report(&w, "database: %s; retrying in %ds", e->message, backoff);
                                cairn_error_free(e);
                                e = NULL;
                                goto wait;
                        }
                        if (!registered) {
                                if (register_worker(&w, &e) < 0)
                                        goto lost;
                                registered = true;
                                report(&w, "worker %s registered in pool %s, incarnation %s, capacity %d", cfg->name,
                                       cfg->pool, w.inc_s, cfg->capacity);
                        } else if (listen_all(&w, &e) < 0) {
                                goto lost;
                        }
                        backoff = 1;
                }
                /* A slot freed: claim again now, not at the next period. */
                if (reap(&w, &e) > 0)
                        next_claim = 0;
                if (e)
                        goto lost;
                if (draining(&w) && !drain_marked) {
                        const char *p[] = { cfg->pool, cfg->name, w.inc_s };
                        if (cluster_command(w.c, "drain", "UPDATE workers SET draining = true WHERE pool = $1"
                                                          " AND name = $2 AND incarnation = $3::bigint", p, 3, &e) < 0)
                                goto lost;
                        drain_marked = true;
                        report(&w, "draining: %d job(s) still running", w.n_jobs);
                }
                if (draining(&w) && w.n_jobs == 0) {
                        cairn_cluster_close(w.c);
                        cluster_http_free(w.http);
                        free(w.jobs);
                        return 0;
                }
                double t = now_s();
                if (t >= next_beat) {
                        if (heartbeat(&w, &e) < 0)
                                goto lost;
                        next_beat = t + cfg->heartbeat_s;
                }
                bool was_paused = w.self_paused;
                if (check_disk(&w, &e) < 0)
                        goto lost;
                if (was_paused && !w.self_paused)
                        next_claim = 0;
                if (!draining(&w) && t >= next_claim) {
                        if (claim(&w, &e) < 0)
                                goto lost;
                        next_claim = t + 2;
                }
                {
                        /* Woken by a NOTIFY, else at the next heartbeat or
                         * claim, and at least every 500 ms to reap builds. */
                        fds[0] = (struct pollfd) { .fd = PQsocket(w.c->pg), .events = POLLIN };
                        fds[1] = (struct pollfd) { .fd = chld_pipe[0], .events = POLLIN };
                        int n = 2 + cluster_http_fds(w.http, fds + 2, MAX_FDS - 2);
                        int pr = poll(fds, (nfds_t) n, 500);
                        if (pr > 0 && fds[1].revents) {
                                char drain[64];
                                while (read(chld_pipe[0], drain, sizeof(drain)) > 0) {
                                }
                        }
                        if (pr >= 0)
                                cluster_http_step(w.http, fds + 2, n - 2, worker_metrics, &w);
                        if (pr > 0 && fds[0].revents) {
                                if (!PQconsumeInput(w.c->pg)) {
                                        cairn_error_set(&e, -EIO, "%s", PQerrorMessage(w.c->pg));
                                        goto lost;
                                }
                                PGnotify *nf;
                                while ((nf = PQnotifies(w.c->pg))) {
                                        if (strcmp(nf->relname, "cairn_queue") == 0)
                                                next_claim = 0;
                                        else if (strcmp(nf->relname, "cairn_cancel") == 0)
                                                next_beat = 0;
                                        else if (strcmp(nf->relname, "cairn_admin") == 0)
                                                next_beat = next_claim = 0;   /* a drain, an unpause */
                                        PQfreemem(nf);
                                }
                        }
                }
                continue;
lost:
                /* Builds go on with their own connections; the worker
                 * reconnects with backoff. */
                report(&w, "database: %s; reconnecting in %ds", e ? e->message : "lost", backoff);
                cairn_error_free(e);
                e = NULL;
                cairn_cluster_close(w.c);
                w.c = NULL;
wait:
                for (int s = 0; s < backoff * 2 && !(draining(&w) && w.n_jobs == 0); s++) {
                        /* /metrics is served while the database is away. */
                        int n = cluster_http_fds(w.http, fds, MAX_FDS);
                        if (poll(fds, (nfds_t) n, 500) >= 0)
                                cluster_http_step(w.http, fds, n, worker_metrics, &w);
                }
                if (draining(&w) && w.n_jobs == 0 && !w.c) {
                        cluster_http_free(w.http);
                        free(w.jobs);
                        return 0;
                }
                backoff = backoff < 30 ? backoff * 2 : 30;
        }
}
