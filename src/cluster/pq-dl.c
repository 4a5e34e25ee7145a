/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libpq's functions as cairn calls them, forwarded to the library loaded on
 * first use (base/dl.h), as libcurl's are (fetch/curl-dl.c): libpq links
 * OpenSSL, Kerberos and LDAP, which only the cluster verbs need, and every
 * other command would map and relocate them at start.  A function used in
 * src/cluster and missing here is an undefined symbol at link time.
 */
#include <libpq-fe.h>

#include "base/dl.h"
#include "cluster/cluster-internal.h"

/* X(return type, name, (parameters), (arguments)); XV for void functions;
 * XX for the variadic ones, whose stubs are written out below (base/dl.h). */
#define PQ_FUNCTIONS(X, XV, XX)                                                                                        \
        X(PGconn *, PQconnectdbParams, (const char *const *keys, const char *const *values, int expand_dbname),   \
          (keys, values, expand_dbname))                                                                         \
        X(ConnStatusType, PQstatus, (const PGconn *c), (c))                                                      \
        X(char *, PQerrorMessage, (const PGconn *c), (c))                                                        \
        XV(PQfinish, (PGconn * c), (c))                                                                          \
        XV(PQreset, (PGconn * c), (c))                                                                           \
        X(int, PQsocket, (const PGconn *c), (c))                                                                 \
        X(PGresult *, PQexec, (PGconn * c, const char *q), (c, q))                                               \
        X(PGresult *, PQexecParams,                                                                              \
          (PGconn * c, const char *q, int n, const Oid *types, const char *const *values, const int *lengths,    \
           const int *formats, int result_format),                                                               \
          (c, q, n, types, values, lengths, formats, result_format))                                             \
        X(ExecStatusType, PQresultStatus, (const PGresult *r), (r))                                              \
        X(char *, PQresultErrorMessage, (const PGresult *r), (r))                                                \
        X(char *, PQresultErrorField, (const PGresult *r, int field), (r, field))                                \
        XV(PQclear, (PGresult * r), (r))                                                                         \
        X(int, PQntuples, (const PGresult *r), (r))                                                              \
        X(char *, PQgetvalue, (const PGresult *r, int row, int col), (r, row, col))                              \
        X(int, PQgetisnull, (const PGresult *r, int row, int col), (r, row, col))                                \
        X(int, PQgetlength, (const PGresult *r, int row, int col), (r, row, col))                                \
        X(char *, PQcmdTuples, (PGresult * r), (r))                                                              \
        X(int, PQconsumeInput, (PGconn * c), (c))                                                                \
        X(PGnotify *, PQnotifies, (PGconn * c), (c))                                                             \
        XV(PQfreemem, (void *p), (p))

CAIRN_DL_LIBRARY(PQ_FUNCTIONS, .name = "libpq",
                 .sonames = (const char *const[]) { "libpq.so.5", NULL },
                 .hint = "libpq5 (Debian, Ubuntu) or libpq (Fedora, Alpine)")

int cairn_pq_load(struct cairn_error **err)
{
        return cairn_dl_load(&dl_library, err);
}
