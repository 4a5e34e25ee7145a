/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker's /metrics endpoint (cluster/cluster-internal.h): the smallest
 * HTTP/1.0 server that serves one page from the worker's own poll loop.
 * No threads: the worker forks its builds, and a fork copies the locks
 * other threads hold.  Every socket is non-blocking; a request is at most
 * 8 KiB; a client that has not sent its request and read its answer within
 * 5 s is dropped; at most 16 connections are open at once, and more wait
 * in the listen backlog.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/strbuf.h"
#include "cluster/cluster-internal.h"

enum { MAX_CONNS = 16, MAX_REQUEST = 8192, CLIENT_TIMEOUT_S = 5 };

struct http_conn {
        int fd;                     /* -1: free */
        char in[MAX_REQUEST];
        size_t in_len;
        struct cairn_buf out;
        size_t out_off;
        bool answering;
        double deadline;
};

struct cluster_http {
        int listen_fd;
        struct http_conn conns[MAX_CONNS];
};

static double mono_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int cluster_http_listen(const char *addr, struct cluster_http **ret, struct cairn_error **err)
{
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr || !colon[1])
                return cairn_error_set(err, -EINVAL, "metrics address \"%s\": not HOST:PORT", addr);
        char *host = cairn_xstrndup(addr, (size_t) (colon - addr));
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
                memmove(host, host + 1, strlen(host));
                host[strlen(host) - 1] = '\0';
        }
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
        struct addrinfo *ai = NULL;
        int gr = getaddrinfo(host, colon + 1, &hints, &ai);
        free(host);
        if (gr != 0)
                return cairn_error_set(err, -EINVAL, "metrics address \"%s\": %s", addr, gai_strerror(gr));
        int fd = -1, saved = 0;
        for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
                fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
                if (fd < 0) {
                        saved = errno;
                        continue;
                }
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, MAX_CONNS) < 0) {
                        saved = errno;
                        close(fd);
                        fd = -1;
                }
        }
        freeaddrinfo(ai);
        if (fd < 0)
                return cairn_error_set_errno(err, saved, "metrics address \"%s\"", addr);
        struct cluster_http *h = cairn_xzalloc(sizeof(*h));
        h->listen_fd = fd;
        for (int i = 0; i < MAX_CONNS; i++) {
                h->conns[i].fd = -1;
                cairn_buf_init(&h->conns[i].out, 1u << 20);
        }
        *ret = h;
        return 0;
}

static void conn_close(struct http_conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->in_len = 0;
        c->out_off = 0;
        c->answering = false;
        cairn_buf_reset(&c->out);
}

void cluster_http_free(struct cluster_http *h)
{
        if (!h)
                return;
        for (int i = 0; i < MAX_CONNS; i++) {
                conn_close(&h->conns[i]);
                cairn_buf_release(&h->conns[i].out);
        }
        close(h->listen_fd);
        free(h);
}

int cluster_http_fds(const struct cluster_http *h, struct pollfd *fds, int max)
{
        int n = 0;
        if (!h || max < 1)
                return 0;
        bool full = true;
        for (int i = 0; i < MAX_CONNS; i++)
                full = full && h->conns[i].fd >= 0;
        /* When every slot is taken, new clients wait in the listen backlog
         * (not polled: it would be readable all along) until one frees. */
        if (!full)
                fds[n++] = (struct pollfd) { .fd = h->listen_fd, .events = POLLIN };
        for (int i = 0; i < MAX_CONNS && n < max; i++)
                if (h->conns[i].fd >= 0)
                        fds[n++] = (struct pollfd) { .fd = h->conns[i].fd,
                                                     .events = h->conns[i].answering ? POLLOUT : POLLIN };
        return n;
}

static short revents_of(const struct pollfd *fds, int n, int fd)
{
        for (int i = 0; i < n; i++)
                if (fds[i].fd == fd)
                        return fds[i].revents;
        return 0;
}

static void answer(struct http_conn *c, int code, const char *reason, const char *type, const char *body,
                   size_t len)
{
        cairn_buf_reset(&c->out);
        if (cairn_buf_printf(&c->out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                      "Connection: close\r\n\r\n", code, reason, type, len) < 0 ||
            cairn_buf_add(&c->out, body, len) < 0) {
                conn_close(c);
                return;
        }
        c->answering = true;
        c->out_off = 0;
}

/* A whole request head is in c->in: answer it. */
static void handle(struct http_conn *c, cluster_http_body_fn *body, void *ud)
{
        static const char not_found[] = "not found: this worker serves /metrics\n";
        char *eol = memchr(c->in, '\n', c->in_len);
        size_t line_len = eol ? (size_t) (eol - c->in) : c->in_len;
        /* "GET /metrics HTTP/1.1", maybe with a query string. */
        if (line_len < 4 || memcmp(c->in, "GET ", 4) != 0) {
                static const char msg[] = "only GET\n";
                answer(c, 405, "Method Not Allowed", "text/plain", msg, sizeof(msg) - 1);
                return;
        }
        const char *path = c->in + 4, *end = memchr(path, ' ', line_len - 4);
        size_t plen = end ? (size_t) (end - path) : line_len - 4;
        const char *q = memchr(path, '?', plen);
        if (q)
                plen = (size_t) (q - path);
        if (plen != strlen("/metrics") || memcmp(path, "/metrics", plen) != 0) {
                answer(c, 404, "Not Found", "text/plain", not_found, sizeof(not_found) - 1);
                return;
        }
        struct cairn_buf b = CAIRN_BUF_INIT_CAP(512u << 10);
        body(&b, ud);
        answer(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
        cairn_buf_release(&b);
}

void cluster_http_step(struct cluster_http *h, const struct pollfd *fds, int n, cluster_http_body_fn *body, void *ud)
{
        if (!h)
                return;
        double now = mono_s();
        /* The slow go first, so that a full house of silent clients
         * cannot keep a scraper out. */
        for (int i = 0; i < MAX_CONNS; i++)
                if (h->conns[i].fd >= 0 && now > h->conns[i].deadline)
                        conn_close(&h->conns[i]);
        /* Also when the listen socket was not polled (every slot taken):
         * a slot may have freed above, and accept4 does not block. */
        for (int i = 0; i < MAX_CONNS; i++) {
                struct http_conn *c = &h->conns[i];
                if (c->fd >= 0)
                        continue;
                int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                c->fd = fd;
                c->deadline = now + CLIENT_TIMEOUT_S;
        }
        for (int i = 0; i < MAX_CONNS; i++) {
                struct http_conn *c = &h->conns[i];
                if (c->fd < 0)
                        continue;
                short ev = revents_of(fds, n, c->fd);
                if (!c->answering && (ev & (POLLIN | POLLHUP | POLLERR))) {
                        ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
                        if (r <= 0) {
                                if (r == 0 || (errno != EAGAIN && errno != EINTR))
                                        conn_close(c);
                                continue;
                        }
                        c->in_len += (size_t) r;
                        if (memmem(c->in, c->in_len, "\r\n\r\n", 4) || memmem(c->in, c->in_len, "\n\n", 2)) {
                                handle(c, body, ud);
                        } else if (c->in_len == sizeof(c->in)) {
                                static const char msg[] = "request too large\n";
                                answer(c, 431, "Request Header Fields Too Large", "text/plain", msg, sizeof(msg) - 1);
                        }
                } else if (c->answering && (ev & (POLLOUT | POLLHUP | POLLERR))) {
                        /* MSG_NOSIGNAL: a client gone away is no SIGPIPE. */
                        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
                        if (w < 0 && errno != EAGAIN && errno != EINTR) {
                                conn_close(c);
                                continue;
                        }
                        if (w > 0)
                                c->out_off += (size_t) w;
                        if (c->out_off == c->out.len)
                                conn_close(c);
                }
        }
}
