/* SPDX-License-Identifier: Apache-2.0 */
/* What the cluster's files share: the connection and query helpers. */
#ifndef CAIRN_CLUSTER_INTERNAL_H
#define CAIRN_CLUSTER_INTERNAL_H

#include <libpq-fe.h>

#include "cluster/cluster.h"

struct cairn_cluster {
        PGconn *pg;
};

/* Run sql with text parameters (NULL-terminated params, each may be NULL
 * for SQL NULL); a result of status want is returned, anything else is an
 * error naming what (and freed). */
PGresult *cluster_exec(struct cairn_cluster *c, ExecStatusType want, const char *what, const char *sql,
                       const char *const *params, int n, struct cairn_error **err);
/* The same for a statement with no result rows wanted: returns the number
 * of rows it changed, or < 0. */
long cluster_command(struct cairn_cluster *c, const char *what, const char *sql, const char *const *params, int n,
                     struct cairn_error **err);

/* Check the schema version row. */
int cluster_check_schema(struct cairn_cluster *c, struct cairn_error **err);

/* A worker's /metrics endpoint (cluster/metrics-http.c), served from the
 * worker's poll loop: cluster_http_fds gives what to poll (at most max),
 * cluster_http_step handles what poll found, calling body for the page;
 * call it after every poll, timeouts included (it drops slow clients). */
struct pollfd;
struct cairn_buf;
struct cluster_http;
typedef void cluster_http_body_fn(struct cairn_buf *out, void *ud);
int cluster_http_listen(const char *addr, struct cluster_http **ret, struct cairn_error **err);
void cluster_http_free(struct cluster_http *h);
int cluster_http_fds(const struct cluster_http *h, struct pollfd *fds, int max);
void cluster_http_step(struct cluster_http *h, const struct pollfd *fds, int n, cluster_http_body_fn *body, void *ud);

/* Append value to out escaped as a Prometheus label value (backslash,
 * double quote, newline): cluster/admin.c. */
void cairn_cluster_prom_escape(struct cairn_buf *out, const char *value);

/* Load libpq if it is not yet (cluster/pq-dl.c): before the first PQ*
 * call of a command, for a clear error when the library is missing. */
int cairn_pq_load(struct cairn_error **err);
/* libcrypto, for sealing secrets (cluster/crypto-dl.c). */
int cairn_crypto_load(struct cairn_error **err);

#endif
