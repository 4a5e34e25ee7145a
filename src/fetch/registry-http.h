/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two registry clients share (registry.c pulls images, repo.c
 * reads and writes one repository): HTTP requests on libcurl with retries
 * and back-off, the /v2/ challenge and its answer (anonymous, Basic with
 * credentials, Bearer tokens from the realm the registry names), the
 * credentials from docker's config.json, and the rule that plain HTTP is
 * used only for loopback registries and the ones named insecure, and
 * carries a password only to loopback.  Internal to src/fetch.
 *
 * Errors from these functions do not name the registry: the caller
 * prefixes them (registry.c with the domain, repo.c with HOST/PATH).
 */
#ifndef CAIRN_FETCH_REGISTRY_HTTP_H
#define CAIRN_FETCH_REGISTRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "fetch/registry.h"

/* Manifests, indexes, configs, tokens, tag lists: documents read whole. */
#define CAIRN_REGISTRY_MAX_DOCUMENT (4u << 20)

/* One repository on one registry, authenticated.  All strings are owned
 * (freed by cairn_registry_http_release) except o, which is borrowed and
 * must outlive the client. */
struct cairn_registry_http {
        const struct cairn_registry_options *o;   /* never NULL */
        char *domain;           /* "127.0.0.1:5000", "docker.io": for messages and docker config keys */
        char *api_host;         /* where the API answers (registry-1.docker.io for docker.io) */
        char *path;             /* the repository: "library/busybox" */
        char *base;             /* "https://API_HOST" or, for loopback and insecure ones, "http://API_HOST" */
        char *authorization;    /* an "Authorization: ..." header line, or NULL (anonymous) */
        char *credentials;      /* "USER:PASSWORD", or NULL */
        bool push;              /* the token's scope is pull,push (else pull) */
        long connect_timeout;   /* seconds */
        int attempts;           /* tries of a request that fails transiently */
        int connect_attempts;   /* of those, at most this many when the host cannot be reached */
};

/* Load libcurl (once per process, thread-safe) and fill c for the
 * repository: the scheme, the credentials (o->credentials, else docker's
 * config.json).  Nothing is sent yet.  o must not be NULL. */
int cairn_registry_http_init(struct cairn_registry_http *c, const char *domain, const char *api_host,
                             const char *path, bool push, const struct cairn_registry_options *o,
                             struct cairn_error **err);
void cairn_registry_http_release(struct cairn_registry_http *c);

/* Ping /v2/ and answer its challenge: c->authorization is set for Basic
 * (checked against the registry: a wrong password fails here) and Bearer,
 * stays NULL for an open registry. */
int cairn_registry_http_authenticate(struct cairn_registry_http *c, struct cairn_error **err);

struct cairn_http_response {
        long status;
        struct cairn_buf body;          /* capped by the request's max_body */
        char *www_authenticate;         /* these headers, or NULL */
        char *content_digest;           /* Docker-Content-Digest */
        char *content_type;
        char *location;
        char *link;
};
void cairn_http_response_release(struct cairn_http_response *r);

struct cairn_http_request {
        const char *method;             /* NULL for GET; "HEAD", "PUT", "POST", "DELETE" */
        const char *url;
        const char *accept;             /* an "Accept: ..." header line, or NULL */
        const char *content_type;       /* of the body sent */
        /* Basic credentials for this request instead of c->authorization
         * (the token service); anonymous: no Authorization at all. */
        const char *userpwd;
        bool anonymous;
        /* The body sent, from memory or (upload_fd) read from fd at offset
         * 0, size bytes; each attempt sends it from its start. */
        const void *data;
        size_t len;
        bool upload_fd;
        int fd;
        uint64_t size;
        size_t max_body;                /* response bodies kept; 0 for CAIRN_REGISTRY_MAX_DOCUMENT */
        /* The body of a 200 to sink instead of resp->body (< 0 stops the
         * transfer, as an error); sink_reset (may be NULL) before each
         * attempt after the first. */
        int (*sink)(const void *data, size_t len, void *ud);
        int (*sink_reset)(void *ud);
        void *sink_data;
};

/* Send req, retrying transient failures (cannot connect, timeouts, cut
 * transfers, 429, 5xx) with back-off; on a 401 after authentication, once
 * more with a fresh token.  0 with resp filled (any HTTP status: the caller
 * judges it), or < 0 when no answer came.  resp is released first. */
int cairn_registry_http_request(struct cairn_registry_http *c, const struct cairn_http_request *req,
                                struct cairn_http_response *resp, struct cairn_error **err);

/* --- for transfers a client drives itself (curl multi) ----------------------- */

#include <curl/curl.h>

/* The options every transfer has: headers, redirects (never https to
 * http), timeouts, protocols. */
void cairn_registry_http_options(const struct cairn_registry_http *c, CURL *h, struct curl_slist *headers,
                                 const char *url);
/* Whether a failure is worth another try; connect says it was one to reach
 * the host, whose tries connect_attempts bounds. */
bool cairn_registry_http_transient(CURLcode rc, long status, bool *connect);
/* Sleep before try attempt + 1 (0.2 s, doubling). */
void cairn_registry_http_backoff(int attempt);
/* A line for o->log (a terminal's progress line is overwritten). */
void cairn_registry_say(const struct cairn_registry_options *o, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#endif
