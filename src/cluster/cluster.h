/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cairn on a cluster (docs/cluster.md, design: PostgreSQL as the
 * coordinator).  There is no cairn server: clients and workers talk SQL to
 * one PostgreSQL database through libpq.
 *
 *   struct cairn_cluster *c;
 *   cairn_cluster_connect("postgresql:///cairn?host=/run/pg", &c, &err);
 *   cairn_cluster_submit(c, &job, &id, &err);
 *   cairn_cluster_close(c);
 *
 * Every write a worker makes about a job names (worker, incarnation,
 * attempt) and changes nothing when that triple no longer holds the job:
 * a worker whose lease was taken over cannot log to, or complete, the job.
 */
#ifndef CAIRN_CLUSTER_CLUSTER_H
#define CAIRN_CLUSTER_CLUSTER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The schema this cairn reads and writes; cairn_cluster_connect refuses a
 * database at another version. */
#define CAIRN_CLUSTER_SCHEMA_VERSION 2

struct cairn_cluster;

/* Connect to the database at url (a libpq connection string or URI) and
 * check its schema version, unless for_init (cairn cluster init, which
 * creates it).  *ret is the caller's, for cairn_cluster_close. */
int cairn_cluster_connect(const char *url, bool for_init, struct cairn_cluster **ret, struct cairn_error **err);
void cairn_cluster_close(struct cairn_cluster *c);

/* Create the schema, upgrade an older one, or check an existing one:
 * idempotent.  Returns 1 if it created the schema, 2 if it upgraded it, 0
 * if it was there at this version. */
int cairn_cluster_init(struct cairn_cluster *c, struct cairn_error **err);

struct cairn_cluster_job_request {
        const char *pool;
        const char *client;        /* who submits (free text) */
        const char *spec;          /* the spec's text, as read */
        const char *cache_hint;    /* "" for none */
        bool urgent;
        long long timeout_s;       /* the build's deadline once started, 0: none */
        int max_attempts;          /* claims before a job whose worker keeps dying fails */
        /* Fair share (docs/cluster.md): the job's cost, est_cached when its
         * hint is in hint_cache and est_uncached otherwise, divided by the
         * client's rate, spaces the client's jobs.  0: 10 and 600 s. */
        int est_cached_s, est_uncached_s;
        int weight;                /* slots of a worker the job takes; 0: 1 */
        /* Its build context, {"repo":..,"blob":..,"size":N} (cluster/context.h), and its
         * secrets sealed to the pool's key (cluster/seal.h); NULL for none. */
        const char *context_json;
        const unsigned char *sealed_secrets;
        size_t sealed_secrets_len;
};

/* Insert a queued job and wake the pool's workers; *ret_id is its ID. */
int cairn_cluster_submit(struct cairn_cluster *c, const struct cairn_cluster_job_request *r, int64_t *ret_id,
                         struct cairn_error **err);

struct cairn_cluster_job_status {
        char state[16];            /* queued, running, succeeded, failed, cancelled */
        int attempt, max_attempts;
        char worker[128];          /* "" when none */
        bool cancel_requested;
        char *output;              /* the final result's ID, or NULL; owned */
        char *error;               /* why it failed, or NULL; owned */
        int64_t log_end;           /* bytes of log so far */
};
void cairn_cluster_job_status_release(struct cairn_cluster_job_status *s);

/* Returns 1 and fills *ret, or 0 when there is no such job. */
int cairn_cluster_job_status(struct cairn_cluster *c, int64_t id, struct cairn_cluster_job_status *ret,
                             struct cairn_error **err);
/* Whether a state is final. */
bool cairn_cluster_state_final(const char *state);

/* Write the job's log from byte offset from to out (a stdio stream's fd
 * semantics: write(2)-like callback), up to what exists now.  *ret_next is
 * the offset after the last byte written. */
typedef int cairn_cluster_write_fn(const char *data, size_t len, void *ud);
int cairn_cluster_job_log(struct cairn_cluster *c, int64_t id, int64_t from, cairn_cluster_write_fn *out, void *ud,
                          int64_t *ret_next, struct cairn_error **err);

/* Cancel a job: a queued one becomes cancelled at once, a running one gets
 * cancel_requested, which its worker's heartbeat turns into the engine's
 * cancel.  Returns the state after (0: no such job, 1: cancelled now,
 * 2: requested, 3: already final). */
int cairn_cluster_job_cancel(struct cairn_cluster *c, int64_t id, struct cairn_error **err);

/*
 * Follow a job until it is final: its log from *from to out as it grows
 * (LISTEN cairn_log, cairn_job, and a poll every poll_ms at most when no
 * notification comes), and return 1 with the final status in *ret.
 * Returns 0 if *stop became non-zero first.  *from is advanced.
 */
int cairn_cluster_follow(struct cairn_cluster *c, int64_t id, int64_t *from, cairn_cluster_write_fn *out, void *ud,
                         int poll_ms, volatile sig_atomic_t *stop, struct cairn_cluster_job_status *ret,
                         struct cairn_error **err);

/* cairn_cluster_follow, and when the connection is lost (the server
 * restarted, the network failed), reconnect with backoff and go on from
 * where the log stopped, for up to outage_s seconds.  note(msg) is called
 * once when the connection is lost (msg says why) and note(NULL) when it is
 * back; ud is out's. */
int cairn_cluster_follow_resilient(struct cairn_cluster *c, int64_t id, int64_t *from, cairn_cluster_write_fn *out,
                                   void *ud, int poll_ms, int outage_s, volatile sig_atomic_t *stop,
                                   void (*note)(const char *msg, void *ud), struct cairn_cluster_job_status *ret,
                                   struct cairn_error **err);

/* --- administration (cluster/admin.c) ----------------------------------------------- */

/* A worker is connected when it was seen in the last 30 s. */
struct cairn_cluster_pool_info {
        char *pool;                        /* owned */
        long queued_urgent, queued_normal;
        long connected, ready, paused, draining;   /* workers; the last three among the connected */
        long capacity;                     /* of the connected workers */
        long running;                      /* jobs */
};
/* The pools that have a worker, a job, a client or a counter, or only pool
 * when it is not NULL: returns how many, *ret an owned array (0: pool is
 * unknown, *ret NULL). */
int cairn_cluster_pools(struct cairn_cluster *c, const char *pool, struct cairn_cluster_pool_info **ret,
                        struct cairn_error **err);
void cairn_cluster_pool_info_free(struct cairn_cluster_pool_info *p, int n);

struct cairn_cluster_worker_info {
        char *name, *version;              /* owned; version "" when unknown */
        char state[16];                    /* ready, paused, self-paused, draining, gone */
        int64_t incarnation, store_epoch;
        int capacity, running;
        long long seen_ago_s;              /* -1: never */
};
/* pool's workers by name: returns how many, *ret owned (0: none). */
int cairn_cluster_workers(struct cairn_cluster *c, const char *pool, struct cairn_cluster_worker_info **ret,
                          struct cairn_error **err);
void cairn_cluster_worker_info_free(struct cairn_cluster_worker_info *w, int n);

enum cairn_cluster_worker_op { CAIRN_CLUSTER_PAUSE, CAIRN_CLUSTER_UNPAUSE, CAIRN_CLUSTER_DRAIN };
/* Pause, unpause or drain worker (NULL: every worker of pool), then
 * NOTIFY cairn_admin.  A pause is kept across the worker's restarts; a
 * drain is its current incarnation's (registration clears it).  Returns
 * how many workers it named (0: no such worker). */
int cairn_cluster_worker_set(struct cairn_cluster *c, const char *pool, const char *worker,
                             enum cairn_cluster_worker_op op, struct cairn_error **err);
/* The running jobs of worker (NULL: of the pool). */
int cairn_cluster_running_jobs(struct cairn_cluster *c, const char *pool, const char *worker, struct cairn_error **err);
/* Delete a worker's row and its hint_cache rows.  Returns 1, 0 when there is
 * no such worker, -EBUSY (an error) while it holds running jobs. */
int cairn_cluster_forget(struct cairn_cluster *c, const char *pool, const char *worker, struct cairn_error **err);
/* A client's rate (> 0).  set: returns 1, 0 when there is no such client;
 * add: returns 1, 0 when it was there already (its rate is left). */
int cairn_cluster_set_rate(struct cairn_cluster *c, const char *pool, const char *client, double rate,
                           struct cairn_error **err);
int cairn_cluster_add_client(struct cairn_cluster *c, const char *pool, const char *client, double rate,
                             struct cairn_error **err);

struct cairn_buf;
/* Append the metrics of pool (NULL: every pool) to out in Prometheus text
 * format, read in one snapshot.  An unknown pool is an error (-ENOENT). */
int cairn_cluster_metrics(struct cairn_cluster *c, const char *pool, struct cairn_buf *out, struct cairn_error **err);

/* Create the NOLOGIN roles cairn_submitter, cairn_worker and cairn_admin
 * if they are missing, and GRANT each what it needs on the schema.
 * Returns 1 when done, 0 when the connected user may not create roles
 * (*ret_why says why, owned). */
int cairn_cluster_init_roles(struct cairn_cluster *c, char **ret_why, struct cairn_error **err);

/* A worker (cluster/worker.c). */
struct cairn_cluster_worker_config {
        const char *url;
        const char *pool;
        const char *name;
        int capacity;
        const char *store;                 /* KIND:PATH, opened per job */
        const char *const *cache_from;
        size_t n_cache_from;
        const char *cache_to;
        int lease_s;                       /* lease length (default 30) */
        int heartbeat_s;                   /* heartbeat period (default lease / 3) */
        int affinity_wait_s;               /* delay scheduling (default 30) */
        const char *pool_key;              /* the pool's private key file (cairn cluster keygen), or NULL */
        const char *metrics_listen;        /* HOST:PORT of its GET /metrics, or NULL */
        /* --keep-free: below this much free space on the store's filesystem
         * the worker pauses itself, prunes once its builds are done, and
         * resumes when there is room again (both 0: never). */
        unsigned long long keep_free_bytes;
        double keep_free_percent;
        volatile sig_atomic_t *drain;      /* non-zero: finish running jobs, take no new ones, return */
        void (*report)(const char *line, void *ud);   /* what the worker does, one line each */
        void *report_ud;
};

/* Register, then claim and run jobs until *drain is set and the running
 * jobs are done.  Returns 0 after a drain, < 0 on an error it cannot wait
 * out (a schema mismatch; a lost database is retried with backoff). */
int cairn_cluster_worker_run(const struct cairn_cluster_worker_config *cfg, struct cairn_error **err);

#endif
