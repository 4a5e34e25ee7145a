/* SPDX-License-Identifier: Apache-2.0 */
/* The administrator's side of the cluster: show, workers, pause, drain,
 * forget, clients' rates, metrics and roles (cluster/cluster.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strbuf.h"
#include "cluster/cluster-internal.h"

/* Every pool anything names, filtered by $1 (NULL: all), as p(pool). */
#define POOLS_CTE                                                                                                 \
        "WITH p AS (SELECT pool FROM (SELECT pool FROM workers UNION SELECT pool FROM jobs"                      \
        "  UNION SELECT pool FROM clients UNION SELECT pool FROM counters) a"                                   \
        "  WHERE $1::text IS NULL OR pool = $1::text) "
/* The code of the error cluster_exec set (-EACCES for a missing GRANT). */
static int error_code(struct cairn_error **err)
{
        return err && *err ? (*err)->code : -EIO;
}

#define CONNECTED "w.last_seen > now() - interval '30 s'"

int cairn_cluster_pools(struct cairn_cluster *c, const char *pool, struct cairn_cluster_pool_info **ret,
                        struct cairn_error **err)
{
        const char *p[] = { pool };
        PGresult *r = cluster_exec(
                c, PGRES_TUPLES_OK, "show",
                POOLS_CTE
                "SELECT p.pool,"
                " (SELECT count(*) FROM jobs j WHERE j.pool = p.pool AND j.state = 'queued' AND j.urgent),"
                " (SELECT count(*) FROM jobs j WHERE j.pool = p.pool AND j.state = 'queued' AND NOT j.urgent),"
                " (SELECT count(*) FROM workers w WHERE w.pool = p.pool AND " CONNECTED "),"
                " (SELECT count(*) FROM workers w WHERE w.pool = p.pool AND " CONNECTED
                "   AND NOT w.admin_paused AND NOT w.self_paused AND NOT w.draining),"
                " (SELECT count(*) FROM workers w WHERE w.pool = p.pool AND " CONNECTED
                "   AND (w.admin_paused OR w.self_paused)),"
                " (SELECT count(*) FROM workers w WHERE w.pool = p.pool AND " CONNECTED " AND w.draining),"
                " (SELECT coalesce(sum(capacity), 0) FROM workers w WHERE w.pool = p.pool AND " CONNECTED "),"
                " (SELECT count(*) FROM jobs j WHERE j.pool = p.pool AND j.state = 'running')"
                " FROM p ORDER BY p.pool",
                p, 1, err);
        if (!r)
                return -EIO;
        int n = PQntuples(r);
        struct cairn_cluster_pool_info *v = n ? cairn_xzalloc((size_t) n * sizeof(*v)) : NULL;
        for (int i = 0; i < n; i++) {
                v[i].pool = cairn_xstrdup(PQgetvalue(r, i, 0));
                long *f[] = { &v[i].queued_urgent, &v[i].queued_normal, &v[i].connected, &v[i].ready, &v[i].paused,
                              &v[i].draining, &v[i].capacity, &v[i].running };
                for (int k = 0; k < 8; k++)
                        *f[k] = atol(PQgetvalue(r, i, k + 1));
        }
        PQclear(r);
        *ret = v;
        return n;
}

void cairn_cluster_pool_info_free(struct cairn_cluster_pool_info *p, int n)
{
        for (int i = 0; i < n; i++)
                free(p[i].pool);
        free(p);
}

int cairn_cluster_workers(struct cairn_cluster *c, const char *pool, struct cairn_cluster_worker_info **ret,
                          struct cairn_error **err)
{
        const char *p[] = { pool };
        PGresult *r = cluster_exec(
                c, PGRES_TUPLES_OK, "workers",
                "SELECT w.name, CASE WHEN w.last_seen IS NULL OR NOT (" CONNECTED ") THEN 'gone'"
                "  WHEN w.draining THEN 'draining' WHEN w.admin_paused THEN 'paused'"
                "  WHEN w.self_paused THEN 'self-paused' ELSE 'ready' END,"
                " w.incarnation, w.capacity,"
                " (SELECT count(*) FROM jobs j WHERE j.pool = w.pool AND j.worker = w.name AND j.state = 'running'),"
                " coalesce(extract(epoch FROM now() - w.last_seen)::bigint, -1), w.store_epoch, coalesce(w.version, '')"
                " FROM workers w WHERE w.pool = $1 ORDER BY w.name",
                p, 1, err);
        if (!r)
                return -EIO;
        int n = PQntuples(r);
        struct cairn_cluster_worker_info *v = n ? cairn_xzalloc((size_t) n * sizeof(*v)) : NULL;
        for (int i = 0; i < n; i++) {
                v[i].name = cairn_xstrdup(PQgetvalue(r, i, 0));
                snprintf(v[i].state, sizeof(v[i].state), "%s", PQgetvalue(r, i, 1));
                v[i].incarnation = strtoll(PQgetvalue(r, i, 2), NULL, 10);
                v[i].capacity = atoi(PQgetvalue(r, i, 3));
                v[i].running = atoi(PQgetvalue(r, i, 4));
                v[i].seen_ago_s = strtoll(PQgetvalue(r, i, 5), NULL, 10);
                v[i].store_epoch = strtoll(PQgetvalue(r, i, 6), NULL, 10);
                v[i].version = cairn_xstrdup(PQgetvalue(r, i, 7));
        }
        PQclear(r);
        *ret = v;
        return n;
}

void cairn_cluster_worker_info_free(struct cairn_cluster_worker_info *w, int n)
{
        for (int i = 0; i < n; i++) {
                free(w[i].name);
                free(w[i].version);
        }
        free(w);
}

int cairn_cluster_worker_set(struct cairn_cluster *c, const char *pool, const char *worker,
                             enum cairn_cluster_worker_op op, struct cairn_error **err)
{
        static const char *const set[] = {
                [CAIRN_CLUSTER_PAUSE] = "admin_paused = true",
                [CAIRN_CLUSTER_UNPAUSE] = "admin_paused = false",
                [CAIRN_CLUSTER_DRAIN] = "draining = true",
        };
        /* The workers LISTEN cairn_admin: an unpause or a drain takes effect
         * at once, not at their next claim or heartbeat. */
        char *sql = cairn_xasprintf("WITH u AS (UPDATE workers SET %s WHERE pool = $1"
                                    "  AND ($2::text IS NULL OR name = $2::text) RETURNING name)"
                                    "SELECT (SELECT count(*) FROM u), pg_notify('cairn_admin', $1)",
                                    set[op]);
        const char *p[] = { pool, worker };
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, op == CAIRN_CLUSTER_DRAIN ? "drain" : op == CAIRN_CLUSTER_PAUSE ? "pause" : "unpause",
                                   sql, p, 2, err);
        free(sql);
        if (!r)
                return error_code(err);
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        return n;
}

int cairn_cluster_running_jobs(struct cairn_cluster *c, const char *pool, const char *worker, struct cairn_error **err)
{
        const char *p[] = { pool, worker };
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "running jobs",
                                   "SELECT count(*) FROM jobs WHERE pool = $1 AND state = 'running'"
                                   " AND ($2::text IS NULL OR worker = $2::text)",
                                   p, 2, err);
        if (!r)
                return error_code(err);
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        return n;
}

int cairn_cluster_forget(struct cairn_cluster *c, const char *pool, const char *worker, struct cairn_error **err)
{
        const char *p[] = { pool, worker };
        /* The row is locked first: a claim by that worker (which checks its
         * row) waits for the delete, and then finds no row. */
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "forget",
                                   "WITH w AS (SELECT name FROM workers WHERE pool = $1 AND name = $2 FOR UPDATE),"
                                   " busy AS (SELECT count(*) AS n FROM jobs j, w WHERE j.pool = $1 AND j.worker = $2"
                                   "  AND j.state = 'running'),"
                                   " d AS (DELETE FROM workers WHERE pool = $1 AND name = $2"
                                   "  AND (SELECT n FROM busy) = 0 AND EXISTS (SELECT 1 FROM w) RETURNING name),"
                                   " h AS (DELETE FROM hint_cache WHERE pool = $1 AND worker = $2"
                                   "  AND EXISTS (SELECT 1 FROM d))"
                                   "SELECT (SELECT count(*) FROM w), (SELECT n FROM busy), (SELECT count(*) FROM d)",
                                   p, 2, err);
        if (!r)
                return error_code(err);
        int found = atoi(PQgetvalue(r, 0, 0)), busy = atoi(PQgetvalue(r, 0, 1)), gone = atoi(PQgetvalue(r, 0, 2));
        PQclear(r);
        if (!found)
                return 0;
        if (busy || !gone)
                return cairn_error_set(err, -EBUSY,
                                       "worker \"%s\" holds %d running job(s): drain it first, or wait for their "
                                       "leases to expire",
                                       worker, busy);
        return 1;
}

static int client_rate(struct cairn_cluster *c, const char *what, const char *sql, const char *pool,
                       const char *client, double rate, struct cairn_error **err)
{
        char r_s[32];
        snprintf(r_s, sizeof(r_s), "%.17g", rate);
        const char *p[] = { pool, client, r_s };
        long n = cluster_command(c, what, sql, p, 3, err);
        return n < 0 ? error_code(err) : n > 0;
}

int cairn_cluster_set_rate(struct cairn_cluster *c, const char *pool, const char *client, double rate,
                           struct cairn_error **err)
{
        return client_rate(c, "set-rate", "UPDATE clients SET rate = $3::real WHERE pool = $1 AND name = $2", pool,
                           client, rate, err);
}

int cairn_cluster_add_client(struct cairn_cluster *c, const char *pool, const char *client, double rate,
                             struct cairn_error **err)
{
        return client_rate(c, "add-client",
                           "INSERT INTO clients (pool, name, rate) VALUES ($1, $2, $3::real) ON CONFLICT DO NOTHING",
                           pool, client, rate, err);
}

/* --- metrics ------------------------------------------------------------------------- */

void cairn_cluster_prom_escape(struct cairn_buf *out, const char *value)
{
        for (const char *s = value; *s; s++) {
                if (*s == '\\')
                        cairn_buf_adds(out, "\\\\");
                else if (*s == '"')
                        cairn_buf_adds(out, "\\\"");
                else if (*s == '\n')
                        cairn_buf_adds(out, "\\n");
                else
                        cairn_buf_addc(out, *s);
        }
}

/* A counter of the counters table, 0 for a pool that never bumped it. */
#define COUNTER(name, labels)                                                                                     \
        "SELECT p.pool, " labels ", coalesce((SELECT value FROM counters c WHERE c.pool = p.pool"               \
        "  AND c.name = '" name "' AND c.labels = " labels "), 0) FROM p"
#define WORKERS(cond) "SELECT p.pool, '', (SELECT count(*) FROM workers w WHERE w.pool = p.pool AND " CONNECTED cond ") FROM p"

static const struct {
        const char *name, *type, *help, *sql;   /* sql: rows of (pool, labels, value) */
} metrics[] = {
        { "cairn_queue_length", "gauge", "Jobs queued, by priority.",
          "SELECT p.pool, 'priority=\"' || q.n || '\"', (SELECT count(*) FROM jobs j WHERE j.pool = p.pool"
          "  AND j.state = 'queued' AND j.urgent = q.u) FROM p, (VALUES ('urgent', true), ('normal', false)) q(n, u)" },
        { "cairn_workers_connected", "gauge", "Workers seen in the last 30 s.", WORKERS("") },
        { "cairn_workers_ready", "gauge", "Connected workers that may claim jobs.",
          WORKERS(" AND NOT w.admin_paused AND NOT w.self_paused AND NOT w.draining") },
        { "cairn_workers_paused", "gauge", "Connected workers paused by an admin or by themselves.",
          WORKERS(" AND (w.admin_paused OR w.self_paused)") },
        { "cairn_workers_draining", "gauge", "Connected workers draining.", WORKERS(" AND w.draining") },
        { "cairn_workers_capacity", "gauge", "Job slots of the connected workers.",
          "SELECT p.pool, '', (SELECT coalesce(sum(capacity), 0) FROM workers w WHERE w.pool = p.pool AND "
          CONNECTED ") FROM p" },
        { "cairn_jobs_running", "gauge", "Jobs running.",
          "SELECT p.pool, '', (SELECT count(*) FROM jobs j WHERE j.pool = p.pool AND j.state = 'running') FROM p" },
        { "cairn_jobs_submitted_total", "counter", "Jobs submitted.", COUNTER("jobs_submitted_total", "''") },
        { "cairn_jobs_finished_total", "counter", "Jobs finished, by outcome.",
          "SELECT p.pool, o.l, coalesce((SELECT value FROM counters c WHERE c.pool = p.pool"
          "  AND c.name = 'jobs_finished_total' AND c.labels = o.l), 0)"
          " FROM p, (VALUES ('outcome=\"succeeded\"'), ('outcome=\"failed\"'), ('outcome=\"cancelled\"')) o(l)" },
        { "cairn_jobs_retried_total", "counter", "Jobs requeued after their worker was lost.",
          COUNTER("jobs_retried_total", "''") },
        { "cairn_affinity_hits_total", "counter", "Jobs claimed by a worker that had run their cache hint.",
          COUNTER("affinity_hits_total", "''") },
        { "cairn_registry_pulls_total", "counter", "Steps pulled from the step cache by jobs.",
          COUNTER("registry_pulls_total", "''") },
        { "cairn_registry_pushes_total", "counter", "Steps pushed to the step cache by jobs.",
          COUNTER("registry_pushes_total", "''") },
};

int cairn_cluster_metrics(struct cairn_cluster *c, const char *pool, struct cairn_buf *out, struct cairn_error **err)
{
        /* One snapshot: the numbers agree with each other. */
        if (cluster_command(c, "metrics", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, 0, err) < 0)
                return error_code(err);
        const char *p[] = { pool };
        int ret = 0;
        if (pool) {
                PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "metrics", POOLS_CTE "SELECT count(*) FROM p", p, 1,
                                           err);
                if (!r) {
                        ret = error_code(err);
                        goto out;
                }
                bool known = atoi(PQgetvalue(r, 0, 0)) > 0;
                PQclear(r);
                if (!known) {
                        ret = cairn_error_set(err, -ENOENT, "no pool \"%s\"", pool);
                        goto out;
                }
        }
        for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
                char *sql = cairn_xasprintf(POOLS_CTE "%s ORDER BY 1, 2", metrics[i].sql);
                PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "metrics", sql, p, 1, err);
                free(sql);
                if (!r) {
                        ret = error_code(err);
                        goto out;
                }
                cairn_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", metrics[i].name, metrics[i].help,
                                 metrics[i].name, metrics[i].type);
                for (int k = 0; k < PQntuples(r); k++) {
                        const char *labels = PQgetvalue(r, k, 1);
                        cairn_buf_printf(out, "%s{pool=\"", metrics[i].name);
                        cairn_cluster_prom_escape(out, PQgetvalue(r, k, 0));
                        cairn_buf_printf(out, "\"%s%s} %s\n", labels[0] ? "," : "", labels, PQgetvalue(r, k, 2));
                }
                PQclear(r);
        }
out:
        cluster_command(c, "metrics", "COMMIT", NULL, 0, NULL);
        return ret;
}

/* --- roles --------------------------------------------------------------------------- */

/*
 * What each role may do, as the code's statements need it.  Column lists
 * narrow what a submitter may change in jobs (cancel) and clients (its
 * schedule); rows are not narrowed: a submitter may read and cancel any
 * job (PostgreSQL's row-level security would be the next step).
 */
static const char grants_sql[] =
        "GRANT SELECT ON cairn_schema, jobs, job_log, job_events, hint_cache, clients, pool_keys TO cairn_submitter;"
        "GRANT INSERT ON jobs, job_events, clients TO cairn_submitter;"
        "GRANT UPDATE (state, finished_at, error, cancel_requested) ON jobs TO cairn_submitter;"
        "GRANT UPDATE (next_fair_start) ON clients TO cairn_submitter;"
        "GRANT SELECT, INSERT, UPDATE (value) ON counters TO cairn_submitter;"
        "GRANT USAGE ON SEQUENCE jobs_id_seq TO cairn_submitter;"
        "GRANT SELECT ON cairn_schema, jobs, job_log, hint_cache, clients, pool_keys TO cairn_worker;"
        "GRANT SELECT, INSERT, UPDATE ON workers TO cairn_worker;"
        "GRANT UPDATE ON jobs TO cairn_worker;"
        "GRANT INSERT ON job_log, job_events TO cairn_worker;"
        "GRANT SELECT, INSERT, UPDATE ON hint_cache, counters TO cairn_worker;"
        "GRANT ALL ON cairn_schema, workers, jobs, job_log, job_events, hint_cache, clients, pool_keys, counters"
        "  TO cairn_admin;"
        "GRANT ALL ON SEQUENCE jobs_id_seq TO cairn_admin;";

int cairn_cluster_init_roles(struct cairn_cluster *c, char **ret_why, struct cairn_error **err)
{
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "roles",
                                   "SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles"
                                   " WHERE rolname = current_user",
                                   NULL, 0, err);
        if (!r)
                return error_code(err);
        bool may = PQntuples(r) == 1 && PQgetvalue(r, 0, 1)[0] == 't';
        if (!may) {
                *ret_why = cairn_xasprintf("the user \"%s\" may not create roles (it needs CREATEROLE)",
                                           PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
                PQclear(r);
                return 0;
        }
        PQclear(r);
        /* Under init's advisory lock: two inits create each role once. */
        if (cluster_command(c, "roles", "BEGIN", NULL, 0, err) < 0)
                return error_code(err);
        if (!(r = cluster_exec(c, PGRES_TUPLES_OK, "roles", "SELECT pg_advisory_xact_lock(7467328)", NULL, 0, err)))
                goto fail;
        PQclear(r);
        r = PQexec(c->pg, "DO $$ DECLARE r text; BEGIN"
                          " FOREACH r IN ARRAY ARRAY['cairn_submitter', 'cairn_worker', 'cairn_admin'] LOOP"
                          "  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN"
                          "   EXECUTE format('CREATE ROLE %I NOLOGIN', r);"
                          "  END IF;"
                          " END LOOP; END $$;");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                cairn_error_set(err, -EIO, "roles: creating them: %s", PQresultErrorMessage(r));
                PQclear(r);
                goto fail;
        }
        PQclear(r);
        r = PQexec(c->pg, grants_sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                cairn_error_set(err, -EIO, "roles: granting: %s", PQresultErrorMessage(r));
                PQclear(r);
                goto fail;
        }
        PQclear(r);
        if (cluster_command(c, "roles", "COMMIT", NULL, 0, err) < 0)
                return error_code(err);
        return 1;
fail:
        cluster_command(c, "roles", "ROLLBACK", NULL, 0, NULL);
        return -EIO;
}
