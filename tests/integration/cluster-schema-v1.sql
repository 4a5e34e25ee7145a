-- The schema as cairn's cluster schema version 1 made it (cairn cluster init
-- of December 2026): cluster.sh upgrades a database made with it.
CREATE TABLE cairn_schema (version int NOT NULL);
CREATE TABLE workers (pool text NOT NULL, name text NOT NULL,  incarnation bigint NOT NULL DEFAULT 0, capacity int NOT NULL,  admin_paused bool NOT NULL DEFAULT false, self_paused bool NOT NULL DEFAULT false,  draining bool NOT NULL DEFAULT false, store_epoch bigint NOT NULL DEFAULT 0,  last_seen timestamptz, version text, PRIMARY KEY (pool, name));
CREATE TABLE jobs (id bigserial PRIMARY KEY, pool text NOT NULL, client text NOT NULL DEFAULT '',  cache_hint text NOT NULL DEFAULT '', urgent bool NOT NULL DEFAULT false,  spec text NOT NULL, weight int NOT NULL DEFAULT 1,  enqueued_at timestamptz NOT NULL DEFAULT now(),  state text NOT NULL DEFAULT 'queued'    CHECK (state IN ('queued','running','succeeded','failed','cancelled')),  attempt int NOT NULL DEFAULT 0, max_attempts int NOT NULL DEFAULT 3,  worker text, worker_incarnation bigint, lease_until timestamptz,  cancel_requested bool NOT NULL DEFAULT false, deadline interval,  started_at timestamptz, finished_at timestamptz, output text, error text);
CREATE INDEX jobs_queued ON jobs (pool, urgent DESC, enqueued_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE TABLE hint_cache (pool text, hint text, worker text, store_epoch bigint NOT NULL,  last_used timestamptz NOT NULL, PRIMARY KEY (pool, hint, worker));
CREATE TABLE job_log (job_id bigint NOT NULL REFERENCES jobs ON DELETE CASCADE, off bigint NOT NULL,  attempt int NOT NULL, data bytea NOT NULL, PRIMARY KEY (job_id, off));
CREATE TABLE job_events (job_id bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,  at timestamptz NOT NULL DEFAULT now(), kind text NOT NULL, attempt int, worker text, detail text);
CREATE INDEX job_events_job ON job_events (job_id);
INSERT INTO cairn_schema VALUES (1);
