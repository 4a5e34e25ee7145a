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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/interrupt.h"
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
        bool signalled;
        double signalled_at;
};

struct worker {
        const struct cairn_cluster_worker_config *cfg;
        struct cairn_cluster *c;
        int64_t incarnation;
        char inc_s[32];
        struct running_job *jobs;
        int n_jobs;
};

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

struct job_log {
        struct cairn_cluster *c;
        const char *id_s, *worker, *inc_s;
        char attempt_s[16];
        int64_t off;
        struct cairn_buf pending;
        double last_flush;
        volatile sig_atomic_t *cancel;
        bool fenced;
};

/* Write what is pending at the current offset, if this attempt still holds
 * the job.  FOR SHARE holds the job's row until the chunk commits, so that a
 * reclaim (an UPDATE of that row) waits for it and then writes its line
 * after it. */
static void log_flush(struct job_log *l)
{
        if (l->pending.len == 0 || l->fenced)
                return;
        char off_s[32];
        snprintf(off_s, sizeof(off_s), "%" PRId64, l->off);
        const char *p[] = { l->id_s, off_s, l->attempt_s, l->pending.data, l->worker, l->inc_s };
        int lens[] = { 0, 0, 0, (int) l->pending.len, 0, 0 };
        int fmts[] = { 0, 0, 0, 1, 0, 0 };
        PGresult *r = PQexecParams(l->c->pg,
                                   "WITH ins AS (INSERT INTO job_log (job_id, off, attempt, data)"
                                   "  SELECT $1::bigint, $2::bigint, $3::int, $4::bytea FROM"
                                   "  (SELECT 1 FROM jobs WHERE id = $1::bigint AND worker = $5"
                                   "   AND worker_incarnation = $6::bigint AND attempt = $3::int AND state = 'running'"
                                   "   FOR SHARE) own"
                                   "  ON CONFLICT DO NOTHING RETURNING job_id)"
                                   "SELECT count(*), pg_notify('cairn_log', $1::text) FROM ins",
                                   6, NULL, p, lens, fmts, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
                if (atoi(PQgetvalue(r, 0, 0)) == 1) {
                        l->off += (int64_t) l->pending.len;
                        cairn_buf_reset(&l->pending);
                } else {
                        /* Fenced: another attempt holds the job now. */
                        l->fenced = true;
                        *l->cancel = SIGTERM;
                }
        } else if (l->pending.len > (4u << 20)) {
                /* The database is away: keep what is pending for the next
                 * flush, up to a bound. */
                cairn_buf_reset(&l->pending);
                cairn_buf_adds(&l->pending, "[cairn: log lost while the database was unreachable]\n");
        }
        PQclear(r);
        l->last_flush = now_s();
}

static void job_log_fn(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        struct job_log *l = ud;
        if (kind == CAIRN_LOG_USAGE)
                return;
        if (kind == CAIRN_LOG_OUTPUT) {
                cairn_buf_add(&l->pending, data, len);
        } else {
                /* Headings and notes on their own line, as `cairn build`
                 * prints them. */
                if (l->pending.len && l->pending.data[l->pending.len - 1] != '\n')
                        cairn_buf_addc(&l->pending, '\n');
                size_t n = len && data[len - 1] == '\n' ? len - 1 : len;
                cairn_buf_add(&l->pending, data, n);
                cairn_buf_addc(&l->pending, '\n');
        }
        /* Batched by what the engine hands over at once, and written when
         * it ends a line: there is no timer in this process, and a step
         * that prints a line and then sleeps must be seen live.  A partial
         * line waits for more output, 16 KiB or 200 ms. */
        if (l->pending.len >= 16384 || l->pending.data[l->pending.len - 1] == '\n' ||
            now_s() - l->last_flush >= 0.2)
                log_flush(l);
}

static void logf_line(struct job_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(struct job_log *l, const char *fmt, ...)
{
        if (l->pending.len && l->pending.data[l->pending.len - 1] != '\n')
                cairn_buf_addc(&l->pending, '\n');
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&l->pending, fmt, ap);
        va_end(ap);
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
        struct job_log l = { .c = c, .id_s = id_s, .worker = cfg->name, .inc_s = w->inc_s, .cancel = &cancel };
        snprintf(l.attempt_s, sizeof(l.attempt_s), "%d", attempt);
        cairn_buf_init(&l.pending, 8u << 20);
        {
                const char *p[] = { id_s };
                PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "log",
                                           "SELECT coalesce(max(off + length(data)), 0) FROM job_log WHERE job_id = $1",
                                           p, 1, &err);
                if (!r)
                        return CHILD_ERROR;
                l.off = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                PQclear(r);
        }
        logf_line(&l, "cairn: job %s, attempt %d, on worker %s (incarnation %s)\n", id_s, attempt, cfg->name,
                  w->inc_s);
        log_flush(&l);
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
        log_flush(&l);
        int status = CHILD_FENCED;
        if (!l.fenced) {
                const char *p[] = { id_s, cfg->name, w->inc_s, l.attempt_s, state, out_id[0] ? out_id : NULL, error };
                long n = cluster_command(c, "complete",
                                         "WITH u AS (UPDATE jobs SET state = $5, output = $6, error = $7,"
                                         "  finished_at = now(), lease_until = NULL"
                                         "  WHERE id = $1::bigint AND worker = $2 AND worker_incarnation = $3::bigint"
                                         "  AND attempt = $4::int AND state = 'running' RETURNING id)"
                                         "INSERT INTO job_events (job_id, kind, attempt, worker, detail)"
                                         " SELECT id, 'finished', $4::int, $2, $5 FROM u",
                                         p, 7, &err);
                /* No row: the job was reclaimed meanwhile; the result is
                 * dropped. */
                status = n < 0 ? CHILD_ERROR : n == 0 ? CHILD_FENCED : CHILD_DONE;
                PGresult *r = PQexecParams(c->pg, "SELECT pg_notify('cairn_job', $1::text)", 1, NULL, p, NULL, NULL, 0);
                PQclear(r);
                cairn_error_free(err);
        }
        cairn_engine_close(e);
        cairn_spec_free(spec);
        cairn_buf_release(&l.pending);
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
                "UPDATE jobs j SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'failed' ELSE 'queued' END,"
                " error = CASE WHEN j.attempt >= j.max_attempts"
                "   THEN 'worker lost ' || j.attempt || ' times (' || $1 || ')' END,"
                " finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,"
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
                                     : cairn_xasprintf("cairn: %s on worker %s; failed: worker lost %s times\n",
                                                       params[0], PQgetvalue(r, i, 3), attempt);
                const char *p[] = { id, attempt, line, state, PQgetvalue(r, i, 3) };
                long k = cluster_command(
                        w->c, "requeue",
                        "WITH l AS (INSERT INTO job_log (job_id, off, attempt, data)"
                        "  SELECT $1::bigint, coalesce(max(off + length(data)), 0), $2::int, convert_to($3, 'UTF8')"
                        "  FROM job_log WHERE job_id = $1::bigint ON CONFLICT DO NOTHING),"
                        " n AS (SELECT pg_notify('cairn_log', $1::text), pg_notify('cairn_job', $1::text),"
                        "  pg_notify('cairn_queue', (SELECT pool FROM jobs WHERE id = $1::bigint)))"
                        "INSERT INTO job_events (job_id, kind, attempt, worker, detail)"
                        " SELECT $1::bigint, CASE $4 WHEN 'queued' THEN 'requeued' ELSE 'poisoned' END, $2::int, $5, $3"
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
                                   " draining = false RETURNING incarnation",
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
        if (cluster_command(w->c, "listen", "LISTEN cairn_queue", NULL, 0, err) < 0 ||
            cluster_command(w->c, "listen", "LISTEN cairn_cancel", NULL, 0, err) < 0)
                return -EIO;
        return 0;
}

static void start_job(struct worker *w, int64_t id, int attempt, const char *spec, long long deadline_s)
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
        w->jobs[w->n_jobs++] = (struct running_job) { .pid = pid, .id = id, .attempt = attempt };
        report(w, "job %" PRId64 ": claimed, attempt %d", id, attempt);
}

/* Reclaim expired leases, then claim while there is room. */
static int claim(struct worker *w, struct cairn_error **err)
{
        char lease[16], grace[16], wait[16];
        snprintf(lease, sizeof(lease), "%d", w->cfg->lease_s);
        /* A restarted server gives workers a lease and some time to
         * reconnect before their jobs count as lost. */
        snprintf(grace, sizeof(grace), "%d", 2 * w->cfg->lease_s);
        snprintf(wait, sizeof(wait), "%d", w->cfg->affinity_wait_s);
        while (w->n_jobs < w->cfg->capacity) {
                if (cluster_command(w->c, "claim", "BEGIN", NULL, 0, err) < 0)
                        return -EIO;
                const char *rp[] = { "lease expired", grace };
                if (requeue(w, "j.lease_until < now() AND now() > pg_postmaster_start_time()"
                               " + make_interval(secs => $2::int)",
                            rp, 2, err) < 0)
                        goto fail;
                const char *p[] = { w->cfg->pool, w->cfg->name, w->inc_s, wait, lease };
                PGresult *r = cluster_exec(
                        w->c, PGRES_TUPLES_OK, "claim",
                        "WITH cand AS (SELECT j.id FROM jobs j"
                        " WHERE j.pool = $1 AND j.state = 'queued'"
                        "  AND (j.cache_hint = ''"
                        "   OR EXISTS (SELECT 1 FROM hint_cache h WHERE h.pool = j.pool AND h.hint = j.cache_hint"
                        "              AND h.worker = $2)"
                        "   OR NOT EXISTS (SELECT 1 FROM hint_cache h JOIN workers w ON w.pool = h.pool"
                        "              AND w.name = h.worker WHERE h.pool = j.pool AND h.hint = j.cache_hint"
                        "              AND h.store_epoch = w.store_epoch AND w.last_seen > now() - interval '30 s'"
                        "              AND NOT w.admin_paused AND NOT w.self_paused AND NOT w.draining)"
                        "   OR j.enqueued_at < now() - make_interval(secs => $4::int))"
                        " ORDER BY j.urgent DESC,"
                        "  EXISTS (SELECT 1 FROM hint_cache h WHERE h.pool = j.pool AND h.hint = j.cache_hint"
                        "          AND h.worker = $2) DESC,"
                        "  j.fair_start, j.id"
                        " LIMIT 1 FOR UPDATE OF j SKIP LOCKED)"
                        "UPDATE jobs j SET state = 'running', worker = $2, worker_incarnation = $3::bigint,"
                        " attempt = j.attempt + 1, started_at = now(),"
                        " lease_until = now() + make_interval(secs => $5::int)"
                        " FROM cand WHERE j.id = cand.id"
                        " AND EXISTS (SELECT 1 FROM workers w WHERE w.pool = $1 AND w.name = $2"
                        "  AND w.incarnation = $3::bigint AND NOT w.admin_paused AND NOT w.self_paused"
                        "  AND NOT w.draining)"
                        " RETURNING j.id, j.attempt, j.spec, j.cache_hint,"
                        "  coalesce(extract(epoch FROM j.deadline)::bigint, 0)",
                        p, 5, err);
                if (!r)
                        goto fail;
                if (PQntuples(r) == 0) {
                        PQclear(r);
                        return cluster_command(w->c, "claim", "COMMIT", NULL, 0, err) < 0 ? -EIO : 0;
                }
                const char *id = PQgetvalue(r, 0, 0), *attempt = PQgetvalue(r, 0, 1), *hint = PQgetvalue(r, 0, 3);
                const char *hp[] = { w->cfg->pool, hint, w->cfg->name, id, attempt };
                if (cluster_command(w->c, "claim",
                                    "WITH h AS (INSERT INTO hint_cache (pool, hint, worker, store_epoch, last_used)"
                                    "  SELECT $1, $2, $3, w.store_epoch, now() FROM workers w"
                                    "  WHERE w.pool = $1 AND w.name = $3 AND $2 <> ''"
                                    "  ON CONFLICT (pool, hint, worker) DO UPDATE SET last_used = now(),"
                                    "  store_epoch = EXCLUDED.store_epoch)"
                                    "INSERT INTO job_events (job_id, kind, attempt, worker)"
                                    " VALUES ($4::bigint, 'claimed', $5::int, $3)",
                                    hp, 5, err) < 0 ||
                    cluster_command(w->c, "claim", "COMMIT", NULL, 0, err) < 0) {
                        PQclear(r);
                        goto fail;
                }
                start_job(w, strtoll(id, NULL, 10), atoi(attempt), PQgetvalue(r, 0, 2),
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
        return 0;
}

static void reap(struct worker *w, struct cairn_error **err)
{
        for (int i = 0; i < w->n_jobs;) {
                struct running_job *j = &w->jobs[i];
                int st;
                pid_t p = waitpid(j->pid, &st, WNOHANG);
                if (p == 0 || (p < 0 && errno == EINTR)) {
                        i++;
                        continue;
                }
                bool clean = p > 0 && WIFEXITED(st) && (WEXITSTATUS(st) == CHILD_DONE || WEXITSTATUS(st) == CHILD_FENCED);
                if (!clean) {
                        /* The build died without completing: the job counts
                         * as lost once more (poison after max_attempts). */
                        char why[64], id[32], att[16];
                        if (p > 0 && WIFSIGNALED(st))
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
                        report(w, "job %" PRId64 ": %s", j->id, WEXITSTATUS(st) == CHILD_DONE ? "done" : "fenced, result dropped");
                }
                w->jobs[i] = w->jobs[--w->n_jobs];
        }
}

int cairn_cluster_worker_run(const struct cairn_cluster_worker_config *cfg, struct cairn_error **err)
{
        struct worker w = { .cfg = cfg };
        int backoff = 1;
        bool registered = false, drain_marked = false;
        double next_beat = 0, next_claim = 0;
        struct cairn_error *e = NULL;
        for (;;) {
                if (!w.c) {
                        if (cairn_cluster_connect(cfg->url, false, &w.c, &e) < 0) {
                                if (e->code == -EPROTO || e->code == -ENOENT) {
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
                        } else if (cluster_command(w.c, "listen", "LISTEN cairn_queue", NULL, 0, &e) < 0 ||
                                   cluster_command(w.c, "listen", "LISTEN cairn_cancel", NULL, 0, &e) < 0) {
                                goto lost;
                        }
                        backoff = 1;
                }
                reap(&w, &e);
                if (e)
                        goto lost;
                if (*cfg->drain && !drain_marked) {
                        const char *p[] = { cfg->pool, cfg->name, w.inc_s };
                        if (cluster_command(w.c, "drain", "UPDATE workers SET draining = true WHERE pool = $1"
                                                          " AND name = $2 AND incarnation = $3::bigint", p, 3, &e) < 0)
                                goto lost;
                        drain_marked = true;
                        report(&w, "draining: %d job(s) still running", w.n_jobs);
                }
                if (*cfg->drain && w.n_jobs == 0) {
                        cairn_cluster_close(w.c);
                        free(w.jobs);
                        return 0;
                }
                double t = now_s();
                if (t >= next_beat) {
                        if (heartbeat(&w, &e) < 0)
                                goto lost;
                        next_beat = t + cfg->heartbeat_s;
                }
                if (!*cfg->drain && t >= next_claim) {
                        if (claim(&w, &e) < 0)
                                goto lost;
                        next_claim = t + 2;
                }
                {
                        /* Woken by a NOTIFY, else at the next heartbeat or
                         * claim, and at least every 500 ms to reap builds. */
                        struct pollfd pfd = { .fd = PQsocket(w.c->pg), .events = POLLIN };
                        if (poll(&pfd, 1, 500) > 0) {
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
                for (int s = 0; s < backoff * 2 && !(*cfg->drain && w.n_jobs == 0); s++) {
                        struct timespec ts = { 0, 500000000 };
                        nanosleep(&ts, NULL);
                }
                if (*cfg->drain && w.n_jobs == 0 && !w.c) {
                        free(w.jobs);
                        return 0;
                }
                backoff = backoff < 30 ? backoff * 2 : 30;
        }
}
