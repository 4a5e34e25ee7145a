/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/registry-http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/json-file.h"
#include "fetch/curl-dl.h"
#include "fetch/reference.h"

void cairn_registry_say(const struct cairn_registry_options *o, const char *fmt, ...)
{
        if (!o->log)
                return;
        char line[1024];
        size_t off = 0;
        if (o->tty) {
                /* Over the progress line. */
                strcpy(line, "\r\033[K");
                off = strlen(line);
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + off, sizeof(line) - 1 - off, fmt, ap);
        va_end(ap);
        strcat(line, "\n");
        o->log(line, o->userdata);
}

/* --- responses ------------------------------------------------------------ */

void cairn_http_response_release(struct cairn_http_response *r)
{
        cairn_buf_release(&r->body);
        free(r->www_authenticate);
        free(r->content_digest);
        free(r->content_type);
        free(r->location);
        free(r->link);
        memset(r, 0, sizeof(*r));
}

static char *header_value(const char *line, size_t len, const char *name)
{
        size_t nlen = strlen(name);
        if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
                return NULL;
        const char *v = line + nlen + 1, *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        return cairn_xstrndup(v, (size_t) (end - v));
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
        struct cairn_http_response *r = ud;
        size_t len = size * n;
        static const struct {
                const char *name;
                size_t offset;
        } kept[] = {
                { "www-authenticate", offsetof(struct cairn_http_response, www_authenticate) },
                { "docker-content-digest", offsetof(struct cairn_http_response, content_digest) },
                { "content-type", offsetof(struct cairn_http_response, content_type) },
                { "location", offsetof(struct cairn_http_response, location) },
                { "link", offsetof(struct cairn_http_response, link) },
        };
        /* A redirect's headers are not the final answer's. */
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                struct cairn_buf body = r->body;
                r->body = (struct cairn_buf) CAIRN_BUF_INIT;
                cairn_http_response_release(r);
                r->body = body;
                return len;
        }
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(kept); i++) {
                char *v = header_value(data, len, kept[i].name);
                if (v) {
                        char **slot = (char **) ((char *) r + kept[i].offset);
                        free(*slot);
                        *slot = v;
                        break;
                }
        }
        return len;
}

void cairn_registry_http_options(const struct cairn_registry_http *c, CURL *h, struct curl_slist *headers,
                                 const char *url)
{
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout > 0 ? c->connect_timeout : 30L);
        /* A transfer that stalls for a minute is a failure (and retried). */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn");
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        /* Never from https down to http. */
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(url, "https:", 6) == 0 ? "https" : "http,https");
#endif
}

bool cairn_registry_http_transient(CURLcode rc, long status, bool *connect)
{
        *connect = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                   (rc == CURLE_OPERATION_TIMEDOUT && status == 0);
        if (rc != CURLE_OK)
                return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
                       rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING;
        return status == 429 || status >= 500;
}

void cairn_registry_http_backoff(int attempt)
{
        struct timespec ts = { 0, 200000000L };
        for (int i = 0; i < attempt; i++) {
                ts.tv_sec *= 2;
                ts.tv_nsec *= 2;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec += ts.tv_nsec / 1000000000L;
                        ts.tv_nsec %= 1000000000L;
                }
        }
        nanosleep(&ts, NULL);
}

/* --- requests ------------------------------------------------------------------ */

struct transfer {
        const struct cairn_http_request *req;
        struct cairn_http_response *resp;
        CURL *h;
        uint64_t sent;
        int read_error;         /* errno of the body's file */
        bool sink_failed;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
        struct transfer *t = ud;
        size_t len = size * n;
        if (t->req->sink) {
                long status = 0;
                curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
                if (status == 200) {
                        if (t->req->sink(data, len, t->req->sink_data) < 0) {
                                t->sink_failed = true;
                                return 0;
                        }
                        return len;
                }
                /* An error's body: kept (capped) for the message. */
        }
        return cairn_buf_add(&t->resp->body, data, len) < 0 ? 0 : len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
        struct transfer *t = ud;
        const struct cairn_http_request *req = t->req;
        uint64_t total = req->upload_fd ? req->size : req->len;
        size_t want = size * n;
        if (want > total - t->sent)
                want = (size_t) (total - t->sent);
        if (want == 0)
                return 0;
        if (!req->upload_fd) {
                memcpy(buf, (const char *) req->data + t->sent, want);
                t->sent += want;
                return want;
        }
        ssize_t got;
        do
                got = pread(req->fd, buf, want, (off_t) t->sent);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
                /* The file shrank under us, or cannot be read. */
                t->read_error = got < 0 ? errno : EIO;
                return CURL_READFUNC_ABORT;
        }
        t->sent += (uint64_t) got;
        return (size_t) got;
}

static int perform(struct cairn_registry_http *c, const struct cairn_http_request *req,
                   struct cairn_http_response *resp, bool *ret_unauthorized, struct cairn_error **err)
{
        CURL *h = curl_easy_init();
        if (!h)
                return cairn_error_set(err, -ENOMEM, "cannot start libcurl");
        const char *method = req->method ? req->method : "GET";
        size_t cap = req->max_body ? req->max_body : CAIRN_REGISTRY_MAX_DOCUMENT;
        int r = 0;
        for (int attempt = 0, connect_failures = 0;; attempt++) {
                cairn_http_response_release(resp);
                cairn_buf_init(&resp->body, cap);
                if (attempt > 0 && req->sink_reset && (r = req->sink_reset(req->sink_data)) < 0) {
                        r = cairn_error_set_errno(err, -r, "%s %s: cannot start over", method, req->url);
                        break;
                }
                struct transfer t = { .req = req, .resp = resp, .h = h };
                struct curl_slist *headers = NULL;
                if (req->accept)
                        headers = curl_slist_append(headers, req->accept);
                if (c->authorization && !req->userpwd && !req->anonymous)
                        headers = curl_slist_append(headers, c->authorization);
                _cleanup_free_ char *ct = req->content_type ? cairn_xasprintf("Content-Type: %s", req->content_type)
                                                            : NULL;
                if (ct)
                        headers = curl_slist_append(headers, ct);
                /* No 100-continue round trip: the registry reads the body or
                 * refuses it at once. */
                headers = curl_slist_append(headers, "Expect:");
                curl_easy_reset(h);
                cairn_registry_http_options(c, h, headers, req->url);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
                bool has_body = req->upload_fd || req->data;
                curl_off_t body_len = (curl_off_t) (req->upload_fd ? req->size : req->len);
                if (strcmp(method, "HEAD") == 0) {
                        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                } else if (strcmp(method, "PUT") == 0) {
                        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, has_body ? body_len : (curl_off_t) 0);
                        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                        curl_easy_setopt(h, CURLOPT_READDATA, &t);
                } else if (strcmp(method, "POST") == 0) {
                        curl_easy_setopt(h, CURLOPT_POST, 1L);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, has_body ? body_len : (curl_off_t) 0);
                        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                        curl_easy_setopt(h, CURLOPT_READDATA, &t);
                } else if (strcmp(method, "GET") != 0) {
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
                }
                if (req->userpwd)
                        curl_easy_setopt(h, CURLOPT_USERPWD, req->userpwd);
                CURLcode rc = curl_easy_perform(h);
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
                curl_slist_free_all(headers);
                if (t.read_error) {
                        r = cairn_error_set_errno(err, t.read_error, "%s %s: cannot read what it sends", method,
                                                  req->url);
                        break;
                }
                if (rc == CURLE_WRITE_ERROR && t.sink_failed) {
                        r = cairn_error_set(err, -EIO, "%s %s: cannot keep the response", method, req->url);
                        break;
                }
                if (rc == CURLE_WRITE_ERROR) {
                        r = cairn_error_set(err, -EFBIG, "%s: the response is larger than %zu bytes", req->url, cap);
                        break;
                }
                bool connect = false;
                if (cairn_registry_http_transient(rc, resp->status, &connect) && attempt + 1 < c->attempts &&
                    (!connect || ++connect_failures < c->connect_attempts)) {
                        cairn_registry_say(c->o, "retrying %s (%s)", req->url,
                                           rc ? curl_easy_strerror(rc) : "server error");
                        cairn_registry_http_backoff(attempt);
                        continue;
                }
                if (rc != CURLE_OK)
                        r = cairn_error_set(err, -EIO, "%s: %s", req->url, curl_easy_strerror(rc));
                break;
        }
        curl_easy_cleanup(h);
        if (r == 0 && ret_unauthorized)
                *ret_unauthorized = resp->status == 401;
        return r;
}

int cairn_registry_http_request(struct cairn_registry_http *c, const struct cairn_http_request *req,
                                struct cairn_http_response *resp, struct cairn_error **err)
{
        bool unauthorized = false;
        int r = perform(c, req, resp, &unauthorized, err);
        /* A token expires (distribution's are good for minutes): a client
         * kept open gets a new one when the registry says so. */
        if (r == 0 && unauthorized && c->authorization && !req->userpwd && !req->anonymous &&
            strncasecmp(c->authorization, "Authorization: Bearer", 21) == 0) {
                if ((r = cairn_registry_http_authenticate(c, err)) < 0)
                        return r;
                r = perform(c, req, resp, NULL, err);
        }
        return r;
}

/* --- authentication ---------------------------------------------------------- */

/* The value of key="value" (or key=value) in a WWW-Authenticate header. */
static char *challenge_param(const char *h, const char *key)
{
        size_t klen = strlen(key);
        for (const char *p = h; (p = strcasestr(p, key)); p += klen) {
                if (p != h && p[-1] != ' ' && p[-1] != ',')
                        continue;
                if (p[klen] != '=')
                        continue;
                const char *v = p + klen + 1;
                if (*v == '"') {
                        const char *e = strchr(v + 1, '"');
                        return e ? cairn_xstrndup(v + 1, (size_t) (e - v - 1)) : NULL;
                }
                size_t n = strcspn(v, ", ");
                return cairn_xstrndup(v, n);
        }
        return NULL;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 (RFC 4648 section 4), padded. */
static char *base64(const char *s)
{
        size_t n = strlen(s);
        const unsigned char *in = (const unsigned char *) s;
        char *out = cairn_xzalloc(4 * ((n + 2) / 3) + 1), *o = out;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned) in[i] << 16 | (i + 1 < n ? (unsigned) in[i + 1] << 8 : 0) |
                             (i + 2 < n ? in[i + 2] : 0);
                *o++ = b64[v >> 18 & 63];
                *o++ = b64[v >> 12 & 63];
                *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? b64[v & 63] : '=';
        }
        return out;
}

/* The bytes of padded base64 s (surrounding white space ignored) as a
 * string, or NULL if s is not base64. */
static char *unbase64(const char *s)
{
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        if (n % 4 != 0)
                return NULL;
        char *out = cairn_xzalloc(3 * (n / 4) + 1), *o = out;
        for (size_t i = 0; i < n; i += 4) {
                unsigned v = 0;
                int pad = 0;
                for (size_t k = 0; k < 4; k++) {
                        const char *p = s[i + k] ? strchr(b64, s[i + k]) : NULL;
                        /* '=' only as the last one or two of the last group */
                        if (s[i + k] == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                                pad++;
                                v <<= 6;
                                continue;
                        }
                        if (!p || pad) {
                                free(out);
                                return NULL;
                        }
                        v = v << 6 | (unsigned) (p - b64);
                }
                *o++ = (char) (v >> 16);
                if (pad < 2)
                        *o++ = (char) (v >> 8 & 255);
                if (pad < 1)
                        *o++ = (char) (v & 255);
        }
        *o = '\0';
        return out;
}

/* Credentials from docker's config.json: auths[registry].auth = base64(user:pass). */
static char *docker_config_credentials(const struct cairn_registry_http *c)
{
        _cleanup_free_ char *path = NULL;
        if (c->o->docker_config)
                path = cairn_xstrdup(c->o->docker_config);
        else if (getenv("DOCKER_CONFIG"))
                path = cairn_xasprintf("%s/config.json", getenv("DOCKER_CONFIG"));
        else if (getenv("HOME"))
                path = cairn_xasprintf("%s/.docker/config.json", getenv("HOME"));
        if (!path || access(path, R_OK) < 0)
                return NULL;
        struct cairn_error *ignored = NULL;
        json_t *j = cairn_load_json(path, "docker config", &ignored);
        cairn_error_free(ignored);
        if (!j)
                return NULL;
        json_t *auths = json_object_get(j, "auths");
        char *keys[4] = { cairn_xstrdup(c->domain), cairn_xstrdup(c->api_host),
                          cairn_xasprintf("https://%s", c->domain),
                          cairn_xstrdup(strcmp(c->domain, "docker.io") == 0 ? "https://index.docker.io/v1/"
                                                                            : c->domain) };
        char *result = NULL;
        for (int i = 0; i < 4 && !result; i++) {
                const char *a = json_string_value(json_object_get(json_object_get(auths, keys[i]), "auth"));
                if (a)
                        result = unbase64(a);
        }
        for (int i = 0; i < 4; i++)
                free(keys[i]);
        json_decref(j);
        return result;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cairn_registry_http_init(struct cairn_registry_http *c, const char *domain, const char *api_host,
                             const char *path, bool push, const struct cairn_registry_options *o,
                             struct cairn_error **err)
{
        int r = cairn_curl_load(err);
        if (r < 0)
                return r;
        pthread_once(&curl_once, curl_init_once);
        *c = (struct cairn_registry_http) {
                .o = o,
                .domain = cairn_xstrdup(domain),
                .api_host = cairn_xstrdup(api_host),
                .path = cairn_xstrdup(path),
                .push = push,
                .connect_timeout = 30,
                .attempts = 5,
                .connect_attempts = 5,
        };
        bool http = cairn_host_is_loopback(api_host);
        for (size_t i = 0; i < o->n_insecure && !http; i++)
                http = strcmp(o->insecure[i], domain) == 0 || strcmp(o->insecure[i], api_host) == 0;
        c->base = cairn_xasprintf("%s://%s", http ? "http" : "https", api_host);
        c->credentials = o->credentials ? cairn_xstrdup(o->credentials) : docker_config_credentials(c);
        return 0;
}

/* A password's bytes, gone (the stores the compiler may not drop). */
static void wipe_free(char *s)
{
        if (!s)
                return;
        for (volatile char *v = s; *v; v++)
                *v = 0;
        free(s);
}

void cairn_registry_http_release(struct cairn_registry_http *c)
{
        free(c->domain);
        free(c->api_host);
        free(c->path);
        free(c->base);
        wipe_free(c->authorization);
        wipe_free(c->credentials);
        memset(c, 0, sizeof(*c));
}

static int bearer(struct cairn_registry_http *c, const char *challenge, struct cairn_error **err)
{
        _cleanup_free_ char *realm = challenge_param(challenge, "realm");
        _cleanup_free_ char *service = challenge_param(challenge, "service");
        if (!realm || (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0))
                return cairn_error_set(err, -EIO, "the token realm is missing or not a URL");
        if (!cairn_url_may_carry_secrets(realm))
                return cairn_error_set(err, -EACCES, "the token realm \"%s\" is plain HTTP: refused (only https, "
                                                     "or loopback, gets credentials)", realm);
        CURL *esc = curl_easy_init();
        if (!esc)
                return cairn_error_set(err, -ENOMEM, "cannot start libcurl");
        _cleanup_free_ char *scope = cairn_xasprintf("repository:%s:%s", c->path, c->push ? "pull,push" : "pull");
        char *s1 = curl_easy_escape(esc, scope, 0);
        char *s2 = service ? curl_easy_escape(esc, service, 0) : NULL;
        _cleanup_free_ char *token_url = cairn_xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
                                                         s1, s2 ? "&service=" : "", s2 ? s2 : "");
        curl_free(s1);
        curl_free(s2);
        curl_easy_cleanup(esc);
        struct cairn_http_response tok = { 0 };
        struct cairn_http_request req = { .url = token_url, .userpwd = c->credentials, .anonymous = !c->credentials };
        int r = cairn_registry_http_request(c, &req, &tok, err);
        if (r == 0 && tok.status != 200)
                r = cairn_error_set(err, -EACCES, "the token service %s answered %ld%s", realm, tok.status,
                                    tok.status == 401 ? " (wrong or missing credentials?)" : "");
        if (r == 0) {
                json_error_t je;
                json_t *j = json_loadb(cairn_buf_str(&tok.body), tok.body.len, 0, &je);
                const char *t = json_string_value(json_object_get(j, "token"));
                if (!t)
                        t = json_string_value(json_object_get(j, "access_token"));
                if (!t)
                        r = cairn_error_set(err, -EIO, "the token service gave no token");
                else
                        c->authorization = cairn_xasprintf("Authorization: Bearer %s", t);
                json_decref(j);
        }
        cairn_http_response_release(&tok);
        return r;
}

int cairn_registry_http_authenticate(struct cairn_registry_http *c, struct cairn_error **err)
{
        wipe_free(c->authorization);
        c->authorization = NULL;
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/", c->base);
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .url = url };
        int r = cairn_registry_http_request(c, &req, &resp, err);
        if (r < 0)
                goto out;
        if (resp.status == 200)
                goto out;
        if (resp.status != 401 || !resp.www_authenticate) {
                r = cairn_error_set(err, -EIO, "%s answered %ld; is it a registry (API v2)?", url, resp.status);
                goto out;
        }
        if (strncasecmp(resp.www_authenticate, "Basic", 5) == 0) {
                if (!c->credentials) {
                        r = cairn_error_set(err, -EACCES, "requires a user name and password (--registry-auth "
                                                          "USER:PASSWORD or ~/.docker/config.json)");
                        goto out;
                }
                if (!cairn_url_may_carry_secrets(url)) {
                        r = cairn_error_set(err, -EACCES, "asks for a password over plain HTTP: refused (only https, "
                                                          "or a loopback registry, gets one)");
                        goto out;
                }
                _cleanup_free_ char *b = base64(c->credentials);
                c->authorization = cairn_xasprintf("Authorization: Basic %s", b);
                wipe_free(TAKE_PTR(b));
                /* Checked here, where the answer can only mean the password. */
                if ((r = cairn_registry_http_request(c, &req, &resp, err)) < 0)
                        goto out;
                if (resp.status == 401)
                        r = cairn_error_set(err, -EACCES, "the credentials were refused (HTTP 401: wrong user name "
                                                          "or password?)");
                else if (resp.status != 200)
                        r = cairn_error_set(err, -EIO, "%s answered %ld with credentials", url, resp.status);
                goto out;
        }
        if (strncasecmp(resp.www_authenticate, "Bearer", 6) != 0) {
                r = cairn_error_set(err, -EIO, "unsupported authentication \"%s\"", resp.www_authenticate);
                goto out;
        }
        r = bearer(c, resp.www_authenticate, err);
out:
        cairn_http_response_release(&resp);
        return r;
}
