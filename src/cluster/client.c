/* SPDX-License-Identifier: Apache-2.0 */
/* The client's side of the cluster: the schema, submit, and the jobs'
 * status, log and cancel (cluster/cluster.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "cluster/cluster-internal.h"

/* The schema as version 1 made it; init runs it, then every upgrade after
 * it, in one transaction.  A new version adds an upgrade below and bumps
 * CAIRN_CLUSTER_SCHEMA_VERSION; nothing here is ever edited, so a database
 * made by any earlier cairn is brought to the same tables as a new one. */
static const char schema_sql[] =
        "CREATE TABLE cairn_schema (version int NOT NULL);"
        "CREATE TABLE workers (pool text NOT NULL, name text NOT NULL,"
        "  incarnation bigint NOT NULL DEFAULT 0, capacity int NOT NULL,"
        "  admin_paused bool NOT NULL DEFAULT false, self_paused bool NOT NULL DEFAULT false,"
        "  draining bool NOT NULL DEFAULT false, store_epoch bigint NOT NULL DEFAULT 0,"
        "  last_seen timestamptz, version text, PRIMARY KEY (pool, name));"
        "CREATE TABLE jobs (id bigserial PRIMARY KEY, pool text NOT NULL, client text NOT NULL DEFAULT '',"
        "  cache_hint text NOT NULL DEFAULT '', urgent bool NOT NULL DEFAULT false,"
        "  spec text NOT NULL, weight int NOT NULL DEFAULT 1,"
        "  enqueued_at timestamptz NOT NULL DEFAULT now(),"
        "  state text NOT NULL DEFAULT 'queued'"
        "    CHECK (state IN ('queued','running','succeeded','failed','cancelled')),"
        "  attempt int NOT NULL DEFAULT 0, max_attempts int NOT NULL DEFAULT 3,"
        "  worker text, worker_incarnation bigint, lease_until timestamptz,"
        "  cancel_requested bool NOT NULL DEFAULT false, deadline interval,"
        "  started_at timestamptz, finished_at timestamptz, output text, error text);"
        "CREATE INDEX jobs_queued ON jobs (pool, urgent DESC, enqueued_at) WHERE state = 'queued';"
        "CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';"
        "CREATE TABLE hint_cache (pool text, hint text, worker text, store_epoch bigint NOT NULL,"
        "  last_used timestamptz NOT NULL, PRIMARY KEY (pool, hint, worker));"
        "CREATE TABLE job_log (job_id bigint NOT NULL REFERENCES jobs ON DELETE CASCADE, off bigint NOT NULL,"
        "  attempt int NOT NULL, data bytea NOT NULL, PRIMARY KEY (job_id, off));"
        "CREATE TABLE job_events (job_id bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,"
        "  at timestamptz NOT NULL DEFAULT now(), kind text NOT NULL, attempt int, worker text, detail text);"
        "CREATE INDEX job_events_job ON job_events (job_id);";

/* upgrades[i] takes the schema from version i + 1 to i + 2. */
static const char *const upgrades[] = {
        /* 2: fair share (clients, fair_start, estimates), build contexts and
         * sealed secrets (jobs.context, jobs.secrets, pool_keys), and
         * counters that outlive the jobs they count (metrics). */
        "CREATE TABLE clients (pool text NOT NULL, name text NOT NULL,"
        "  rate real NOT NULL DEFAULT 1.0 CHECK (rate > 0),"
        "  next_fair_start timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pool, name));"
        "CREATE TABLE pool_keys (pool text PRIMARY KEY, public_key bytea NOT NULL,"
        "  created_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE counters (pool text NOT NULL, name text NOT NULL, labels text NOT NULL DEFAULT '',"
        "  value bigint NOT NULL DEFAULT 0, PRIMARY KEY (pool, name, labels));"
        "ALTER TABLE jobs ADD COLUMN context jsonb, ADD COLUMN secrets bytea,"
        "  ADD COLUMN est_cached int NOT NULL DEFAULT 10, ADD COLUMN est_uncached int NOT NULL DEFAULT 600,"
        "  ADD COLUMN fair_start timestamptz;"
        "UPDATE jobs SET fair_start = enqueued_at;"
        "ALTER TABLE jobs ALTER COLUMN fair_start SET NOT NULL, ALTER COLUMN fair_start SET DEFAULT now();"
        "DROP INDEX jobs_queued;"
        "CREATE INDEX jobs_queued ON jobs (pool, urgent DESC, fair_start) WHERE state = 'queued';"
        /* A job's sealed secrets go when it ends, on every path that ends
         * it (completion, cancel, poison, and whatever comes later). */
        "CREATE FUNCTION cairn_jobs_wipe_secrets() RETURNS trigger LANGUAGE plpgsql AS"
        "  $$BEGIN NEW.secrets := NULL; RETURN NEW; END$$;"
        "CREATE TRIGGER jobs_wipe_secrets BEFORE UPDATE ON jobs FOR EACH ROW"
        "  WHEN (NEW.state IN ('succeeded','failed','cancelled') AND NEW.secrets IS NOT NULL)"
        "  EXECUTE FUNCTION cairn_jobs_wipe_secrets();",
};
_Static_assert(sizeof(upgrades) / sizeof(upgrades[0]) == CAIRN_CLUSTER_SCHEMA_VERSION - 1,
               "one upgrade per schema version after the first");

PGresult *cluster_exec(struct cairn_cluster *c, ExecStatusType want, const char *what, const char *sql,
                       const char *const *params, int n, struct cairn_error **err)
{
        PGresult *r = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
        if (r && PQresultStatus(r) == want)
                return r;
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
        size_t len = strlen(msg);
        while (len && msg[len - 1] == '\n')
                len--;
        /* 42501 insufficient_privilege: the role lacks a GRANT (cluster
         * init's roles), which the CLI names as such. */
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        cairn_error_set(err, state && strcmp(state, "42501") == 0 ? -EACCES : -EIO, "%s: %.*s", what, (int) len, msg);
        PQclear(r);
        return NULL;
}

long cluster_command(struct cairn_cluster *c, const char *what, const char *sql, const char *const *params, int n,
                     struct cairn_error **err)
{
        PGresult *r = cluster_exec(c, PGRES_COMMAND_OK, what, sql, params, n, err);
        if (!r)
                return -EIO;
        long rows = atol(PQcmdTuples(r));
        PQclear(r);
        return rows;
}

int cluster_check_schema(struct cairn_cluster *c, struct cairn_error **err)
{
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "schema",
                                   "SELECT to_regclass('cairn_schema') IS NOT NULL", NULL, 0, err);
        if (!r)
                return -EIO;
        bool have = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (!have)
                return cairn_error_set(err, -ENOENT, "the database has no cairn schema: run 'cairn cluster init'");
        if (!(r = cluster_exec(c, PGRES_TUPLES_OK, "schema", "SELECT version FROM cairn_schema", NULL, 0, err)))
                return -EIO;
        int version = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        if (version >= 1 && version < CAIRN_CLUSTER_SCHEMA_VERSION)
                return cairn_error_set(err, -EPROTO,
                                       "the database's cairn schema is version %d, this cairn uses version %d: "
                                       "run 'cairn cluster init' to upgrade it",
                                       version, CAIRN_CLUSTER_SCHEMA_VERSION);
        if (version != CAIRN_CLUSTER_SCHEMA_VERSION)
                return cairn_error_set(err, -EPROTO,
                                       "the database's cairn schema is version %d, this cairn uses version %d: "
                                       "use a cairn of the database's version",
                                       version, CAIRN_CLUSTER_SCHEMA_VERSION);
        return 0;
}

int cairn_cluster_connect(const char *url, bool for_init, struct cairn_cluster **ret, struct cairn_error **err)
{
        int lr = cairn_pq_load(err);
        if (lr < 0)
                return lr;
        /* connect_timeout bounds the wait on an unreachable server, and
         * keepalives with tcp_user_timeout the wait on one that went away
         * mid-statement (a partition, a crashed host): without them a
         * query on a dead TCP connection waits for the kernel's
         * retransmissions, about 15 minutes.  They come before the URL,
         * which may override them. */
        const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                               "keepalives_count", "tcp_user_timeout", "application_name", "dbname", NULL };
        const char *vals[] = { "10", "1", "5", "2", "3", "10000", "cairn", url, NULL };
        PGconn *pg = PQconnectdbParams(keys, vals, 1);
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
                const char *msg = pg ? PQerrorMessage(pg) : "out of memory";
                size_t len = strlen(msg);
                while (len && msg[len - 1] == '\n')
                        len--;
                int r = cairn_error_set(err, -ECONNREFUSED, "database \"%s\": %.*s", url, (int) len, msg);
                PQfinish(pg);
                return r;
        }
        struct cairn_cluster *c = cairn_xzalloc(sizeof(*c));
        c->pg = pg;
        PGresult *q = PQexec(pg, "SET client_min_messages = warning");
        PQclear(q);
        if (!for_init && cluster_check_schema(c, err) < 0) {
                cairn_error_prefix(err, "database \"%s\"", url);
                cairn_cluster_close(c);
                return -EPROTO;
        }
        *ret = c;
        return 0;
}

void cairn_cluster_close(struct cairn_cluster *c)
{
        if (!c)
                return;
        PQfinish(c->pg);
        free(c);
}

static int run_sql(struct cairn_cluster *c, const char *sql, const char *what, struct cairn_error **err)
{
        PGresult *r = PQexec(c->pg, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                const char *msg = PQresultErrorMessage(r);
                size_t len = strlen(msg);
                while (len && msg[len - 1] == '\n')
                        len--;
                cairn_error_set(err, -EIO, "init: %s: %.*s", what, (int) len, msg);
                PQclear(r);
                return -EIO;
        }
        PQclear(r);
        return 0;
}

int cairn_cluster_init(struct cairn_cluster *c, struct cairn_error **err)
{
        /* The advisory lock makes two concurrent inits create it once. */
        if (cluster_command(c, "init", "BEGIN", NULL, 0, err) < 0)
                return -EIO;
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "init",
                                   "SELECT pg_advisory_xact_lock(7467328), to_regclass('cairn_schema') IS NOT NULL",
                                   NULL, 0, err);
        if (!r)
                goto fail;
        bool have = PQgetvalue(r, 0, 1)[0] == 't';
        PQclear(r);
        int version = 0, ret = 1;
        if (have) {
                if (!(r = cluster_exec(c, PGRES_TUPLES_OK, "init", "SELECT version FROM cairn_schema", NULL, 0, err)))
                        goto fail;
                version = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
                PQclear(r);
                if (version < 1 || version > CAIRN_CLUSTER_SCHEMA_VERSION) {
                        cluster_command(c, "init", "ROLLBACK", NULL, 0, NULL);
                        return cluster_check_schema(c, err) < 0 ? -EPROTO : 0;
                }
                ret = version == CAIRN_CLUSTER_SCHEMA_VERSION ? 0 : 2;
        } else {
                if (run_sql(c, schema_sql, "creating the schema", err) < 0)
                        goto fail;
                if (cluster_command(c, "init", "INSERT INTO cairn_schema VALUES (1)", NULL, 0, err) < 0)
                        goto fail;
                version = 1;
        }
        for (; version < CAIRN_CLUSTER_SCHEMA_VERSION; version++) {
                char what[64], v[16];
                snprintf(what, sizeof(what), "upgrading the schema to version %d", version + 1);
                if (run_sql(c, upgrades[version - 1], what, err) < 0)
                        goto fail;
                snprintf(v, sizeof(v), "%d", version + 1);
                const char *p[] = { v };
                if (cluster_command(c, "init", "UPDATE cairn_schema SET version = $1::int", p, 1, err) < 0)
                        goto fail;
        }
        if (cluster_command(c, "init", "COMMIT", NULL, 0, err) < 0)
                return -EIO;
        return ret;
fail:
        cluster_command(c, "init", "ROLLBACK", NULL, 0, NULL);
        return -EIO;
}

int cairn_cluster_submit(struct cairn_cluster *c, const struct cairn_cluster_job_request *rq, int64_t *ret_id,
                         struct cairn_error **err)
{
        char timeout[32] = "", attempts[16];
        if (rq->timeout_s > 0)
                snprintf(timeout, sizeof(timeout), "%lld seconds", rq->timeout_s);
        snprintf(attempts, sizeof(attempts), "%d", rq->max_attempts > 0 ? rq->max_attempts : 3);
        /* Fair share: what the job adds to its client's schedule. */
        char est_c[16], est_u[16], weight[16];
        snprintf(est_c, sizeof(est_c), "%d", rq->est_cached_s > 0 ? rq->est_cached_s : 10);
        snprintf(est_u, sizeof(est_u), "%d", rq->est_uncached_s > 0 ? rq->est_uncached_s : 600);
        snprintf(weight, sizeof(weight), "%d", rq->weight > 0 ? rq->weight : 1);
        /* The sealed secrets as hex text: every parameter here is text. */
        _cleanup_free_ char *sealed = NULL;
        if (rq->sealed_secrets) {
                sealed = cairn_xzalloc(2 * rq->sealed_secrets_len + 1);
                cairn_hex_encode(rq->sealed_secrets, rq->sealed_secrets_len, sealed);
        }
        const char *p[] = { rq->pool, rq->client ? rq->client : "", rq->spec, rq->cache_hint ? rq->cache_hint : "",
                            rq->urgent ? "t" : "f", rq->timeout_s > 0 ? timeout : NULL, attempts,
                            est_c, est_u, weight, rq->context_json, sealed };
        /*
         * One statement: the client's schedule, the job, its counter and its
         * wake-up commit together.  The client's next_fair_start moves by
         * cost / rate; the job's fair_start is its value before the move
         * (at least now), which is the new value less the same interval.
         */
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "submit",
                                   "WITH cost AS (SELECT CASE WHEN $4 <> '' AND EXISTS (SELECT 1 FROM hint_cache"
                                   "   WHERE pool = $1 AND hint = $4) THEN $8::int ELSE $9::int END::float8 AS s),"
                                   " cl AS (INSERT INTO clients AS k (pool, name, next_fair_start)"
                                   "  SELECT $1, $2, now() + make_interval(secs => cost.s) FROM cost"
                                   "  ON CONFLICT (pool, name) DO UPDATE SET next_fair_start = greatest(now(),"
                                   "   k.next_fair_start) + make_interval(secs => (SELECT s FROM cost) / k.rate)"
                                   "  RETURNING next_fair_start, rate),"
                                   " j AS (INSERT INTO jobs (pool, client, spec, cache_hint, urgent, deadline,"
                                   "  max_attempts, est_cached, est_uncached, weight, fair_start, context, secrets)"
                                   "  SELECT $1, $2, $3, $4, $5::bool, $6::interval, $7::int, $8::int, $9::int,"
                                   "  $10::int, cl.next_fair_start - make_interval(secs => cost.s / cl.rate),"
                                   "  $11::jsonb, decode($12, 'hex')"
                                   "  FROM cl, cost RETURNING id),"
                                   " e AS (INSERT INTO job_events (job_id, kind, detail) SELECT id, 'submitted', $2"
                                   "  FROM j),"
                                   " n AS (INSERT INTO counters (pool, name, value)"
                                   "  SELECT $1, 'jobs_submitted_total', count(*) FROM j"
                                   "  ON CONFLICT (pool, name, labels) DO UPDATE SET value = counters.value + EXCLUDED.value)"
                                   "SELECT id, pg_notify('cairn_queue', $1::text) FROM j",
                                   p, 12, err);
        if (!r)
                return -EIO;
        *ret_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return 0;
}

void cairn_cluster_job_status_release(struct cairn_cluster_job_status *s)
{
        free(s->output);
        free(s->error);
        s->output = s->error = NULL;
}

bool cairn_cluster_state_final(const char *state)
{
        return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0;
}

int cairn_cluster_job_status(struct cairn_cluster *c, int64_t id, struct cairn_cluster_job_status *ret,
                             struct cairn_error **err)
{
        char ids[32];
        snprintf(ids, sizeof(ids), "%" PRId64, id);
        const char *p[] = { ids };
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "job status",
                                   "SELECT state, attempt, max_attempts, coalesce(worker, ''), cancel_requested,"
                                   " output, error,"
                                   " (SELECT coalesce(max(off + length(data)), 0) FROM job_log WHERE job_id = $1)"
                                   " FROM jobs WHERE id = $1",
                                   p, 1, err);
        if (!r)
                return -EIO;
        if (PQntuples(r) == 0) {
                PQclear(r);
                return 0;
        }
        struct cairn_cluster_job_status s = { 0 };
        snprintf(s.state, sizeof(s.state), "%s", PQgetvalue(r, 0, 0));
        s.attempt = atoi(PQgetvalue(r, 0, 1));
        s.max_attempts = atoi(PQgetvalue(r, 0, 2));
        snprintf(s.worker, sizeof(s.worker), "%s", PQgetvalue(r, 0, 3));
        s.cancel_requested = PQgetvalue(r, 0, 4)[0] == 't';
        if (!PQgetisnull(r, 0, 5))
                s.output = cairn_xstrdup(PQgetvalue(r, 0, 5));
        if (!PQgetisnull(r, 0, 6))
                s.error = cairn_xstrdup(PQgetvalue(r, 0, 6));
        s.log_end = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
        PQclear(r);
        *ret = s;
        return 1;
}

int cairn_cluster_job_log(struct cairn_cluster *c, int64_t id, int64_t from, cairn_cluster_write_fn *out, void *ud,
                          int64_t *ret_next, struct cairn_error **err)
{
        char ids[32], froms[32];
        snprintf(ids, sizeof(ids), "%" PRId64, id);
        snprintf(froms, sizeof(froms), "%" PRId64, from < 0 ? 0 : from);
        const char *p[] = { ids, froms };
        /* At most 1000 chunks a call; the caller comes back for more. */
        PGresult *r = PQexecParams(c->pg,
                                   "SELECT off, data FROM job_log WHERE job_id = $1 AND off + length(data) > $2"
                                   " ORDER BY off LIMIT 1000",
                                   2, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                cairn_error_set(err, -EIO, "job log: %s", PQresultErrorMessage(r));
                PQclear(r);
                return -EIO;
        }
        int64_t next = from < 0 ? 0 : from;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
                /* Binary int8: big-endian. */
                const unsigned char *o = (const unsigned char *) PQgetvalue(r, i, 0);
                int64_t off = 0;
                for (int k = 0; k < 8; k++)
                        off = (off << 8) | o[k];
                const char *data = PQgetvalue(r, i, 1);
                int64_t len = PQgetlength(r, i, 1);
                if (off > next)
                        break;   /* a gap: a chunk not committed yet; stop before it */
                int64_t skip = next - off;
                if (skip < len && out(data + skip, (size_t) (len - skip), ud) < 0) {
                        PQclear(r);
                        return cairn_error_set_errno(err, errno, "job log: writing");
                }
                next = off + len;
        }
        PQclear(r);
        *ret_next = next;
        return 0;
}

int cairn_cluster_job_cancel(struct cairn_cluster *c, int64_t id, struct cairn_error **err)
{
        char ids[32];
        snprintf(ids, sizeof(ids), "%" PRId64, id);
        const char *p[] = { ids };
        PGresult *r = cluster_exec(c, PGRES_TUPLES_OK, "job cancel",
                                   "WITH q AS (UPDATE jobs SET state = 'cancelled', finished_at = now(),"
                                   "   error = 'cancelled while queued' WHERE id = $1 AND state = 'queued' RETURNING id, pool),"
                                   " r AS (UPDATE jobs SET cancel_requested = true WHERE id = $1 AND state = 'running'"
                                   "   RETURNING id),"
                                   " e AS (INSERT INTO job_events (job_id, kind) SELECT id, 'cancel' FROM q"
                                   "   UNION ALL SELECT id, 'cancel-requested' FROM r),"
                                   " n AS (INSERT INTO counters (pool, name, labels, value)"
                                   "   SELECT pool, 'jobs_finished_total', 'outcome=\"cancelled\"', 1 FROM q"
                                   "   ON CONFLICT (pool, name, labels) DO UPDATE SET value = counters.value + 1)"
                                   "SELECT (SELECT count(*) FROM q), (SELECT count(*) FROM r),"
                                   " (SELECT count(*) FROM jobs WHERE id = $1),"
                                   " pg_notify('cairn_cancel', $1::text), pg_notify('cairn_job', $1::text)",
                                   p, 1, err);
        if (!r)
                return -EIO;
        int ret = atoi(PQgetvalue(r, 0, 0)) ? 1 : atoi(PQgetvalue(r, 0, 1)) ? 2 : atoi(PQgetvalue(r, 0, 2)) ? 3 : 0;
        PQclear(r);
        return ret;
}

int cairn_cluster_follow(struct cairn_cluster *c, int64_t id, int64_t *from, cairn_cluster_write_fn *out, void *ud,
                         int poll_ms, volatile sig_atomic_t *stop, struct cairn_cluster_job_status *ret,
                         struct cairn_error **err)
{
        if (cluster_command(c, "follow", "LISTEN cairn_log", NULL, 0, err) < 0 ||
            cluster_command(c, "follow", "LISTEN cairn_job", NULL, 0, err) < 0)
                return -EIO;
        for (;;) {
                struct cairn_cluster_job_status s;
                int found = cairn_cluster_job_status(c, id, &s, err);
                if (found < 0)
                        return found;
                if (found == 0)
                        return cairn_error_set(err, -ENOENT, "job %" PRId64 " does not exist", id);
                /* The state is read before the log: a final state seen
                 * here means its whole log is committed. */
                bool final = cairn_cluster_state_final(s.state);
                int64_t next = *from;
                do {
                        *from = next;
                        if (cairn_cluster_job_log(c, id, *from, out, ud, &next, err) < 0) {
                                cairn_cluster_job_status_release(&s);
                                return -EIO;
                        }
                } while (next != *from);
                if (final) {
                        *ret = s;
                        return 1;
                }
                cairn_cluster_job_status_release(&s);
                if (stop && *stop)
                        return 0;
                /* Wait for a notification, at most poll_ms: a lost NOTIFY
                 * costs one poll period, no more. */
                struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN };
                int pr = poll(&pfd, 1, poll_ms);
                if (stop && *stop)
                        return 0;
                if (pr > 0 && !PQconsumeInput(c->pg))
                        return cairn_error_set(err, -EIO, "follow: %.*s", (int) strcspn(PQerrorMessage(c->pg), "\n"),
                                               PQerrorMessage(c->pg));
                PGnotify *nf;
                while ((nf = PQnotifies(c->pg)))
                        PQfreemem(nf);
        }
}

int cairn_cluster_follow_resilient(struct cairn_cluster *c, int64_t id, int64_t *from, cairn_cluster_write_fn *out,
                                   void *ud, int poll_ms, int outage_s, volatile sig_atomic_t *stop,
                                   void (*note)(const char *msg, void *ud), struct cairn_cluster_job_status *ret,
                                   struct cairn_error **err)
{
        time_t lost_at = 0;
        int backoff = 1;
        for (;;) {
                struct cairn_error *e = NULL;
                int r = cairn_cluster_follow(c, id, from, out, ud, poll_ms, stop, ret, &e);
                if (r >= 0 || PQstatus(c->pg) == CONNECTION_OK) {
                        cairn_error_append(err, &e);
                        return r;
                }
                /* The connection is gone: the job is not (the queue is
                 * durable).  Reconnect with backoff and go on from *from. */
                if (!lost_at) {
                        lost_at = time(NULL);
                        if (note)
                                note(e->message, ud);
                }
                cairn_error_free(e);
                for (;;) {
                        for (int i = 0; i < backoff * 10; i++) {
                                if (stop && *stop)
                                        return 0;
                                struct timespec ts = { 0, 100000000 };
                                nanosleep(&ts, NULL);
                        }
                        backoff = backoff < 16 ? backoff * 2 : 30;
                        PQreset(c->pg);
                        if (PQstatus(c->pg) == CONNECTION_OK)
                                break;
                        if (time(NULL) - lost_at > outage_s)
                                return cairn_error_set(err, -EIO, "the database has been unreachable for %ds: %.*s",
                                                       outage_s, (int) strcspn(PQerrorMessage(c->pg), "\n"),
                                                       PQerrorMessage(c->pg));
                }
                PGresult *q = PQexec(c->pg, "SET client_min_messages = warning");
                PQclear(q);
                if (note)
                        note(NULL, ud);
                lost_at = 0;
                backoff = 1;
        }
}
