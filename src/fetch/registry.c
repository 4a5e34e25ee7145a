/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/json-file.h"
#include "base/strbuf.h"
#include "db/db.h"
#include "fetch/blob-stream.h"
#include "fetch/curl-dl.h"
#include "fetch/reference.h"

#define MAX_DOCUMENT (4u << 20)          /* manifests, indexes, configs, tokens */
#define MAX_LAYER (UINT64_C(64) << 30)
#define ATTEMPTS 5

static const char accept_manifests[] =
        "Accept: application/vnd.oci.image.index.v1+json, "
        "application/vnd.docker.distribution.manifest.list.v2+json, "
        "application/vnd.docker.distribution.manifest.v2+json, "
        "application/vnd.oci.image.manifest.v1+json";

struct client {
        const char *root;
        struct cairn_image_ref *ref;
        const struct cairn_registry_options *o;
        char *base;               /* scheme://host */
        char *authorization;      /* "Authorization: ..." header, or NULL */
        char *credentials;        /* user:password, or NULL */
        struct cairn_error **err;
};

static void say(const struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct client *c, const char *fmt, ...)
{
        if (!c->o->log)
                return;
        char line[1024];
        size_t off = 0;
        if (c->o->tty) {
                /* Over the progress line. */
                strcpy(line, "\r\033[K");
                off = strlen(line);
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + off, sizeof(line) - 1 - off, fmt, ap);
        va_end(ap);
        strcat(line, "\n");
        c->o->log(line, c->o->userdata);
}

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void human_bytes(double b, char *out, size_t n)
{
        const char *unit[] = { "B", "kB", "MB", "GB", "TB" };
        int u = 0;
        while (b >= 1000 && u < 4) {
                b /= 1000;
                u++;
        }
        snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

/* --- responses ------------------------------------------------------------ */

struct response {
        long status;
        struct cairn_buf body;
        char *www_authenticate;
        char *content_digest;
};

static void response_release(struct response *r)
{
        cairn_buf_release(&r->body);
        free(r->www_authenticate);
        free(r->content_digest);
        memset(r, 0, sizeof(*r));
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
        struct response *r = ud;
        return cairn_buf_add(&r->body, data, size * n) < 0 ? 0 : size * n;
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
        struct response *r = ud;
        size_t len = size * n;
        char *v;
        if ((v = header_value(data, len, "www-authenticate"))) {
                free(r->www_authenticate);
                r->www_authenticate = v;
        } else if ((v = header_value(data, len, "docker-content-digest"))) {
                free(r->content_digest);
                r->content_digest = v;
        }
        return len;
}

static void common_options(CURL *h, struct curl_slist *headers, const char *url)
{
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
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

static bool transient(CURLcode rc, long status)
{
        if (rc != CURLE_OK)
                return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
                       rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING;
        return status == 429 || status >= 500;
}

static void backoff(int attempt)
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

/* GET url with the current authorization, retrying transient failures. */
static int get(struct client *c, const char *url, const char *accept, const char *userpwd, struct response *resp)
{
        CURL *h = curl_easy_init();
        if (!h)
                return cairn_error_set(c->err, -ENOMEM, "cannot start libcurl");
        int r = 0;
        for (int attempt = 0;; attempt++) {
                response_release(resp);
                cairn_buf_init(&resp->body, MAX_DOCUMENT);
                struct curl_slist *headers = NULL;
                if (accept)
                        headers = curl_slist_append(headers, accept);
                if (c->authorization && !userpwd)
                        headers = curl_slist_append(headers, c->authorization);
                curl_easy_reset(h);
                common_options(h, headers, url);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
                if (userpwd)
                        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
                CURLcode rc = curl_easy_perform(h);
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
                curl_slist_free_all(headers);
                if (rc == CURLE_WRITE_ERROR) {
                        r = cairn_error_set(c->err, -EFBIG, "%s: the response is larger than %u bytes", url, MAX_DOCUMENT);
                        break;
                }
                if (transient(rc, resp->status) && attempt + 1 < ATTEMPTS) {
                        say(c, "retrying %s (%s)", url, rc ? curl_easy_strerror(rc) : "server error");
                        backoff(attempt);
                        continue;
                }
                if (rc != CURLE_OK)
                        r = cairn_error_set(c->err, -EIO, "%s: %s", url, curl_easy_strerror(rc));
                break;
        }
        curl_easy_cleanup(h);
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
static char *docker_config_credentials(const struct client *c)
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
        char *keys[4] = { cairn_xstrdup(c->ref->domain), cairn_xstrdup(c->ref->api_host),
                          cairn_xasprintf("https://%s", c->ref->domain),
                          cairn_xstrdup(strcmp(c->ref->domain, "docker.io") == 0 ? "https://index.docker.io/v1/"
                                                                                 : c->ref->domain) };
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

static int authenticate(struct client *c)
{
        _cleanup_free_ char *realm = NULL, *service = NULL, *scope = NULL, *token_url = NULL;
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/", c->base);
        struct response resp = { 0 };
        int r = get(c, url, NULL, NULL, &resp);
        if (r < 0)
                goto out;
        if (resp.status == 200)
                goto out;
        if (resp.status != 401 || !resp.www_authenticate) {
                r = cairn_error_set(c->err, -EIO, "%s answered %ld; is it a registry (API v2)?", url, resp.status);
                goto out;
        }
        if (strncasecmp(resp.www_authenticate, "Basic", 5) == 0) {
                if (!c->credentials) {
                        r = cairn_error_set(c->err, -EACCES,
                                            "%s requires a user name and password (--registry-auth USER:PASSWORD or "
                                            "~/.docker/config.json)",
                                            c->ref->domain);
                        goto out;
                }
                if (!cairn_url_may_carry_secrets(url)) {
                        r = cairn_error_set(c->err, -EACCES, "%s asks for a password over plain HTTP: refused (only "
                                                             "https, or a loopback registry, gets one)", c->ref->domain);
                        goto out;
                }
                _cleanup_free_ char *b = base64(c->credentials);
                c->authorization = cairn_xasprintf("Authorization: Basic %s", b);
                goto out;
        }
        if (strncasecmp(resp.www_authenticate, "Bearer", 6) != 0) {
                r = cairn_error_set(c->err, -EIO, "%s: unsupported authentication \"%s\"", c->ref->domain,
                                    resp.www_authenticate);
                goto out;
        }
        realm = challenge_param(resp.www_authenticate, "realm");
        service = challenge_param(resp.www_authenticate, "service");
        if (!realm || (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)) {
                r = cairn_error_set(c->err, -EIO, "%s: the token realm is missing or not a URL", c->ref->domain);
                goto out;
        }
        if (!cairn_url_may_carry_secrets(realm)) {
                r = cairn_error_set(c->err, -EACCES, "%s: the token realm \"%s\" is plain HTTP: refused (only https, "
                                                     "or loopback, gets credentials)", c->ref->domain, realm);
                goto out;
        }
        CURL *esc = curl_easy_init();
        scope = cairn_xasprintf("repository:%s:pull", c->ref->path);
        char *s1 = curl_easy_escape(esc, scope, 0);
        char *s2 = service ? curl_easy_escape(esc, service, 0) : NULL;
        token_url = cairn_xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", s1,
                                                         s2 ? "&service=" : "", s2 ? s2 : "");
        curl_free(s1);
        curl_free(s2);
        curl_easy_cleanup(esc);
        struct response tok = { 0 };
        r = get(c, token_url, NULL, c->credentials, &tok);
        if (r == 0 && tok.status != 200)
                r = cairn_error_set(c->err, -EACCES, "%s: the token service %s answered %ld%s", c->ref->domain, realm,
                                    tok.status, tok.status == 401 ? " (wrong or missing credentials?)" : "");
        if (r == 0) {
                json_error_t je;
                json_t *j = json_loadb(cairn_buf_str(&tok.body), tok.body.len, 0, &je);
                const char *t = json_string_value(json_object_get(j, "token"));
                if (!t)
                        t = json_string_value(json_object_get(j, "access_token"));
                if (!t)
                        r = cairn_error_set(c->err, -EIO, "%s: the token service gave no token", c->ref->domain);
                else
                        c->authorization = cairn_xasprintf("Authorization: Bearer %s", t);
                json_decref(j);
        }
        response_release(&tok);
out:
        response_release(&resp);
        return r;
}

/* --- manifests --------------------------------------------------------------- */

/* GET a manifest or index by tag or digest; verifies a digest reference. */
static int get_manifest(struct client *c, const char *reference, json_t **ret, char **ret_digest)
{
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/%s/manifests/%s", c->base, c->ref->path, reference);
        struct response resp = { 0 };
        int r = get(c, url, accept_manifests, NULL, &resp);
        if (r == 0 && resp.status != 200)
                r = cairn_error_set(c->err, resp.status == 404 ? -ENOENT : -EIO, "%s/%s:%s: %s (HTTP %ld)",
                                    c->ref->domain, c->ref->path, reference,
                                    resp.status == 404   ? "no such image or tag"
                                    : resp.status == 401 ? "access denied"
                                                         : "the registry refused the manifest",
                                    resp.status);
        if (r == 0) {
                char hex[65];
                cairn_sha256_hex(resp.body.data, resp.body.len, hex);
                char *digest = cairn_xasprintf("sha256:%s", hex);
                if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0) {
                        r = cairn_error_set(c->err, -EINVAL, "the manifest of %s does not match its digest (got %s)",
                                            reference, digest);
                        free(digest);
                } else {
                        json_error_t je;
                        json_t *j = json_loadb(cairn_buf_str(&resp.body), resp.body.len, 0, &je);
                        if (!j) {
                                r = cairn_error_set(c->err, -EINVAL, "the manifest %s is not valid JSON: %s", digest,
                                                    je.text);
                                free(digest);
                        } else {
                                *ret = j;
                                *ret_digest = digest;
                        }
                }
        }
        response_release(&resp);
        return r;
}

static bool is_index(json_t *m)
{
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        if (mt)
                return strstr(mt, "image.index") || strstr(mt, "manifest.list");
        return json_object_get(m, "manifests") != NULL;
}

static int pick_platform(struct client *c, json_t *index, const char **ret_digest)
{
        _cleanup_free_ char *want = cairn_xstrdup(c->o->platform ? c->o->platform : "");
        const char *os = "linux", *arch = cairn_host_arch(), *variant = NULL;
        if (*want) {
                char *save = NULL;
                os = strtok_r(want, "/", &save);
                arch = strtok_r(NULL, "/", &save);
                variant = strtok_r(NULL, "/", &save);
                if (!os || !arch)
                        return cairn_error_set(c->err, -EINVAL, "invalid platform \"%s\": expected OS/ARCH[/VARIANT]",
                                               c->o->platform);
        }
        json_t *m;
        size_t i;
        json_array_foreach(json_object_get(index, "manifests"), i, m) {
                json_t *p = json_object_get(m, "platform");
                const char *mos = json_string_value(json_object_get(p, "os"));
                const char *march = json_string_value(json_object_get(p, "architecture"));
                const char *mvar = json_string_value(json_object_get(p, "variant"));
                if (mos && march && strcmp(mos, os) == 0 && strcmp(march, arch) == 0 &&
                    (!variant || (mvar && strcmp(mvar, variant) == 0))) {
                        *ret_digest = json_string_value(json_object_get(m, "digest"));
                        if (!cairn_digest_valid(*ret_digest))
                                return cairn_error_set(c->err, -EINVAL, "the index has an invalid digest");
                        return 0;
                }
        }
        return cairn_error_set(c->err, -ENOENT, "%s/%s has no image for %s/%s%s%s", c->ref->domain, c->ref->path, os,
                               arch, variant ? "/" : "", variant ? variant : "");
}

/* --- blobs --------------------------------------------------------------------- */

struct download {
        struct client *c;
        const char *digest;
        uint64_t size;            /* from the descriptor */
        struct cairn_blob_writer *w;
        struct cairn_blob_stream *stream;   /* a layer's bytes for the unpacker, as they come */
        CURL *h;
        struct curl_slist *headers;
        int attempts;
        bool started;             /* the current transfer has delivered data */
        bool too_big;
        long status;
        char *result_digest;
};

static size_t on_blob(char *data, size_t size, size_t n, void *ud)
{
        struct download *d = ud;
        size_t len = size * n;
        long status = 0;
        curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 && status != 206)
                return len;   /* an error body: discarded */
        if (!d->started) {
                d->started = true;
                if (status == 200 && d->w->size > 0) {
                        /* The server ignored the range: start over. */
                        cairn_blob_writer_abort(d->w);
                        d->w = NULL;
                        if (cairn_blob_writer_open(d->c->root, d->digest, &d->w, NULL) < 0)
                                return 0;
                        if (d->stream)
                                cairn_blob_stream_set_file(d->stream, d->w->fd, 0);
                }
        }
        if (d->w->size + len > d->size) {
                d->too_big = true;
                return 0;
        }
        if (cairn_blob_writer_write(d->w, data, len) < 0)
                return 0;
        if (d->stream)
                cairn_blob_stream_grew(d->stream, d->w->size);
        return len;
}

static int start_download(struct download *d, CURLM *multi, size_t index, size_t n)
{
        struct client *c = d->c;
        if (!d->w) {
                int r = cairn_blob_writer_open(c->root, d->digest, &d->w, c->err);
                if (r < 0)
                        return r;
                /* A layer (descriptor 0 is the config) can be read as it
                 * comes, if the caller wants to. */
                if (index > 0 && c->o->layer_started && !d->stream) {
                        d->stream = cairn_blob_stream_new(d->digest);
                        c->o->layer_started(index - 1, n - 1, d->stream, c->o->layer_userdata);
                }
                if (d->stream)
                        cairn_blob_stream_set_file(d->stream, d->w->fd, d->w->size);
        }
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/%s/blobs/%s", c->base, c->ref->path, d->digest);
        d->headers = NULL;
        d->started = false;
        if (c->authorization)
                d->headers = curl_slist_append(d->headers, c->authorization);
        if (d->w->size > 0) {
                /* Resume where the last attempt stopped. */
                char range[64];
                snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long) d->w->size);
                d->headers = curl_slist_append(d->headers, range);
        }
        d->h = curl_easy_init();
        common_options(d->h, d->headers, url);
        curl_easy_setopt(d->h, CURLOPT_URL, url);
        curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, on_blob);
        curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d);
        curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
        curl_multi_add_handle(multi, d->h);
        return 0;
}

static void end_transfer(struct download *d, CURLM *multi)
{
        curl_multi_remove_handle(multi, d->h);
        curl_easy_cleanup(d->h);
        curl_slist_free_all(d->headers);
        d->h = NULL;
        d->headers = NULL;
}

/* Descriptor i is in the store: tell the caller if it is a layer
 * (descriptor 0 is the config). */
static void ready(const struct client *c, const struct download *dl, size_t n, size_t i)
{
        if (i > 0 && c->o->layer_ready)
                c->o->layer_ready(i - 1, n - 1, dl[i].result_digest, c->o->layer_userdata);
}

/* Download every descriptor that is not in the store yet, `parallel` at a time. */
static int download_all(struct client *c, struct download *dl, size_t n)
{
        CURLM *multi = curl_multi_init();
        unsigned parallel = c->o->parallel ? c->o->parallel : 4;
        size_t next = 0, running = 0, done = 0;
        int r = 0;
        double start = now_seconds(), last_draw = 0;
        while (done < n && r == 0) {
                while (running < parallel && next < n && r == 0) {
                        _cleanup_free_ char *p = cairn_blob_path(c->root, dl[next].digest);
                        if (access(p, F_OK) == 0) {
                                dl[next].result_digest = cairn_xstrdup(dl[next].digest);
                                say(c, "%s: already present", dl[next].digest);
                                ready(c, dl, n, next);
                                next++;
                                done++;
                                continue;
                        }
                        r = start_download(&dl[next], multi, next, n);
                        next++;
                        running++;
                }
                if (r < 0 || done == n)
                        break;
                int still;
                curl_multi_perform(multi, &still);
                curl_multi_poll(multi, NULL, 0, 200, NULL);
                double t = now_seconds();
                if (c->o->tty && c->o->log && t - last_draw >= 0.5) {
                        /* One line: each layer in flight, then the rate. */
                        struct cairn_buf line = CAIRN_BUF_INIT;
                        uint64_t total = 0;
                        cairn_buf_adds(&line, "\r\033[K");
                        for (size_t i = 0; i < n; i++) {
                                if (!dl[i].w)
                                        continue;
                                char got[32], want[32];
                                human_bytes((double) dl[i].w->size, got, sizeof(got));
                                human_bytes((double) dl[i].size, want, sizeof(want));
                                cairn_buf_printf(&line, "%.19s %s/%s  ", dl[i].digest, got, want);
                                total += dl[i].w->size;
                        }
                        char rate[32];
                        human_bytes((double) total / (t - start > 0.001 ? t - start : 0.001), rate, sizeof(rate));
                        cairn_buf_printf(&line, "%s/s", rate);
                        c->o->log(cairn_buf_str(&line), c->o->userdata);
                        cairn_buf_release(&line);
                        last_draw = t;
                }
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(multi, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct download *d;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
                        CURLcode rc = msg->data.result;
                        long status = 0;
                        curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
                        end_transfer(d, multi);
                        running--;
                        if (d->too_big) {
                                r = cairn_error_set(c->err, -EFBIG, "blob %s is larger than its descriptor says (%llu)",
                                                    d->digest, (unsigned long long) d->size);
                                break;
                        }
                        if ((rc != CURLE_OK || status >= 500 || status == 429) && ++d->attempts < ATTEMPTS) {
                                say(c, "%s: %s, retrying", d->digest, rc ? curl_easy_strerror(rc) : "server error");
                                backoff(d->attempts);
                                if ((r = start_download(d, multi, (size_t) (d - dl), n)) < 0)
                                        break;
                                running++;
                                continue;
                        }
                        if (rc != CURLE_OK) {
                                r = cairn_error_set(c->err, -EIO, "downloading %s: %s", d->digest, curl_easy_strerror(rc));
                                break;
                        }
                        if (status != 200 && status != 206) {
                                r = cairn_error_set(c->err, -EIO, "downloading %s: HTTP %ld", d->digest, status);
                                break;
                        }
                        if (d->w->size != d->size) {
                                r = cairn_error_set(c->err, -EIO, "blob %s: got %llu bytes, expected %llu", d->digest,
                                                    (unsigned long long) d->w->size, (unsigned long long) d->size);
                                break;
                        }
                        _cleanup_free_ char *what = cairn_xasprintf("blob %s", d->digest);
                        uint64_t size = d->w->size;
                        r = cairn_blob_writer_commit(d->w, what, &d->result_digest, c->err);
                        d->w = NULL;
                        if (d->stream)
                                cairn_blob_stream_finish(d->stream, r);
                        if (r < 0)
                                break;
                        say(c, "%s: %llu bytes", d->digest, (unsigned long long) size);
                        ready(c, dl, n, (size_t) (d - dl));
                        done++;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (dl[i].h)
                        end_transfer(&dl[i], multi);
                cairn_blob_writer_abort(dl[i].w);
                dl[i].w = NULL;
                if (dl[i].stream) {
                        /* No-op for a blob already verified. */
                        cairn_blob_stream_finish(dl[i].stream, -EIO);
                        cairn_blob_stream_unref(dl[i].stream);
                        dl[i].stream = NULL;
                }
        }
        curl_multi_cleanup(multi);
        return r;
}

/* The client for refstr, authenticated, and the image's manifest (an
 * index resolved to this platform's): 0, or < 0 with *c->err set. */
static int client_manifest(struct client *c, const char *refstr, const struct cairn_registry_options *o,
                           json_t **ret_manifest, char **ret_digest)
{
        static bool initialised;
        int r = cairn_curl_load(c->err);
        if (r < 0)
                return r;
        if (!initialised) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                initialised = true;
        }
        struct cairn_error **err = c->err;
        r = cairn_image_ref_parse(refstr, &c->ref, err);
        if (r < 0)
                return r;
        c->base = cairn_xasprintf("%s://%s", cairn_image_ref_allows_http(c->ref, c->o->insecure, c->o->n_insecure) ? "http" : "https", c->ref->api_host);
        c->credentials = o->credentials ? cairn_xstrdup(o->credentials) : docker_config_credentials(c);
        json_t *manifest = NULL;
        char *digest = NULL;
        if ((r = authenticate(c)) < 0)
                goto out;
        if ((r = get_manifest(c, c->ref->digest ? c->ref->digest : c->ref->tag, &manifest, &digest)) < 0)
                goto out;
        if (is_index(manifest)) {
                const char *pick = NULL;
                if ((r = pick_platform(c, manifest, &pick)) < 0)
                        goto out;
                _cleanup_free_ char *picked = cairn_xstrdup(pick);
                json_decref(manifest);
                manifest = NULL;
                free(digest);
                digest = NULL;
                if ((r = get_manifest(c, picked, &manifest, &digest)) < 0)
                        goto out;
                if (is_index(manifest)) {
                        r = cairn_error_set(err, -EINVAL, "an index inside an index is not supported");
                        goto out;
                }
        }
out:
        if (r < 0) {
                json_decref(manifest);
                free(digest);
                return r;
        }
        *ret_manifest = manifest;
        *ret_digest = digest;
        return 0;
}

static void client_release(struct client *c)
{
        free(c->base);
        free(c->authorization);
        free(c->credentials);
        cairn_image_ref_free(c->ref);
}

int cairn_registry_resolve(const char *refstr, const struct cairn_registry_options *o, char **ret_config,
                           char ***ret_layers, struct cairn_error **err)
{
        struct cairn_registry_options defaults = { 0 };
        if (!o)
                o = &defaults;
        struct client c = { .o = o, .err = err };
        json_t *manifest = NULL;
        char *digest = NULL;
        int r = client_manifest(&c, refstr, o, &manifest, &digest);
        if (r >= 0) {
                json_t *layers = json_object_get(manifest, "layers");
                size_t n = json_array_size(layers);
                char **v = cairn_xzalloc((n + 1) * sizeof(char *));
                for (size_t i = 0; i < n && r >= 0; i++) {
                        const char *d = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
                        if (!cairn_digest_valid(d))
                                r = cairn_error_set(err, -EINVAL, "the manifest %s has an invalid layer digest", digest);
                        else
                                v[i] = cairn_xstrdup(d);
                }
                const char *config = json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
                if (r >= 0 && !cairn_digest_valid(config))
                        r = cairn_error_set(err, -EINVAL, "the manifest %s has no valid config digest", digest);
                if (r < 0) {
                        cairn_strv_free(v);
                } else {
                        if (ret_layers)
                                *ret_layers = TAKE_PTR(v);
                        if (ret_config)
                                *ret_config = cairn_xstrdup(config);
                        cairn_strv_free(v);
                }
        }
        json_decref(manifest);
        free(digest);
        client_release(&c);
        return r;
}

int cairn_registry_pull(const char *root, const char *name, const char *refstr, const struct cairn_registry_options *o,
                        struct cairn_image **ret, struct cairn_error **err)
{
        struct cairn_registry_options defaults = { 0 };
        if (!o)
                o = &defaults;
        struct client c = { .root = root, .o = o, .err = err };
        json_t *manifest = NULL;
        char *digest = NULL;
        struct cairn_image *img = NULL;
        struct download *dl = NULL;
        size_t n_dl = 0;
        {
                struct cairn_image_ref *peek = NULL;
                struct cairn_error *ignored = NULL;
                if (cairn_image_ref_parse(refstr, &peek, &ignored) == 0) {
                        _cleanup_free_ char *canonical = cairn_image_ref_string(peek);
                        say(&c, "Pulling %s", canonical);
                }
                cairn_error_free(ignored);
                cairn_image_ref_free(peek);
        }
        int r = client_manifest(&c, refstr, o, &manifest, &digest);
        if (r < 0)
                goto out;
        say(&c, "Digest: %s", digest);
        json_t *config = json_object_get(manifest, "config");
        json_t *layers = json_object_get(manifest, "layers");
        if (!cairn_digest_valid(json_string_value(json_object_get(config, "digest"))) || !json_is_array(layers)) {
                r = cairn_error_set(err, -EINVAL, "the manifest %s has no config or layers (schema 1 images are not "
                                                  "supported)", digest);
                goto out;
        }
        n_dl = 1 + json_array_size(layers);
        dl = cairn_xzalloc(n_dl * sizeof(*dl));
        for (size_t i = 0; i < n_dl; i++) {
                json_t *desc = i == 0 ? config : json_array_get(layers, i - 1);
                dl[i].c = &c;
                dl[i].digest = json_string_value(json_object_get(desc, "digest"));
                json_int_t size = json_integer_value(json_object_get(desc, "size"));
                if (!cairn_digest_valid(dl[i].digest) || size < 0 || (uint64_t) size > (i ? MAX_LAYER : MAX_DOCUMENT)) {
                        r = cairn_error_set(err, -EINVAL, "the manifest %s has an invalid or oversized descriptor", digest);
                        goto out;
                }
                dl[i].size = (uint64_t) size;
        }
        if ((r = download_all(&c, dl, n_dl)) < 0)
                goto out;
        img = cairn_xzalloc(sizeof(*img));
        img->name = cairn_xstrdup(name);
        img->digest = cairn_xstrdup(digest);
        img->format = cairn_xstrdup("registry");
        char now[20];
        cairn_db_format_time(time(NULL), now);
        img->created = cairn_xstrdup(now);
        if ((r = cairn_image_set_config(root, dl[0].result_digest, img, err)) < 0)
                goto out;
        for (size_t i = 1; i < n_dl; i++)
                cairn_image_add_layer(img, cairn_xstrdup(dl[i].result_digest), dl[i].size);
        r = cairn_image_save(root, img, err);
out:
        if (r < 0) {
                cairn_error_prefix(err, "pulling \"%s\"", refstr);
                cairn_image_free(img);
                img = NULL;
        }
        for (size_t i = 0; i < n_dl; i++)
                free(dl[i].result_digest);
        free(dl);
        json_decref(manifest);
        free(digest);
        client_release(&c);
        if (ret && img)
                *ret = img;
        else
                cairn_image_free(img);
        return r;
}
