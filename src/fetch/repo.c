/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/repo.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "fetch/image.h"
#include "fetch/reference.h"
#include "fetch/registry-http.h"

/* HEADs in flight at once (cairn_repo_manifest_head_many). */
#define HEADS_IN_FLIGHT 16
/* Bounds on what a registry can make cairn_repo_tags collect. */
#define MAX_TAG_PAGES 100000
#define MAX_TAGS 1000000

static const char accept_manifest[] =
        "Accept: " CAIRN_MEDIA_OCI_MANIFEST ", " CAIRN_MEDIA_DOCKER_MANIFEST;

struct cairn_repo {
        struct cairn_registry_http http;
        struct cairn_registry_options defaults;   /* http.o when opened with none */
        char *name;                               /* "HOST/PATH" */
};

const char *cairn_repo_name(const struct cairn_repo *r)
{
        return r->name;
}

static int fail(const struct cairn_repo *r, struct cairn_error **err, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* An error of r's: "HOST/PATH: ...". */
static int fail(const struct cairn_repo *r, struct cairn_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return cairn_error_set(err, code, "%s: %s", r->name, msg ? msg : "out of memory");
}

/* An error from registry-http.c, named as r's. */
static int prefixed(const struct cairn_repo *r, int code, struct cairn_error **err)
{
        if (code < 0)
                cairn_error_prefix(err, "%s", r->name);
        return code;
}

/* The registry's own word on an error: the first of its {"errors": [{code,
 * message}]}, or NULL. */
static char *registry_says(const struct cairn_http_response *resp)
{
        if (!resp->body.len)
                return NULL;
        json_error_t je;
        json_t *j = json_loadb(cairn_buf_str(&resp->body), resp->body.len, 0, &je);
        json_t *e = json_array_get(json_object_get(j, "errors"), 0);
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *message = json_string_value(json_object_get(e, "message"));
        char *s = NULL;
        if (code && message)
                s = cairn_xasprintf("%s: %s", code, message);
        else if (code || message)
                s = cairn_xstrdup(code ? code : message);
        json_decref(j);
        return s;
}

/* Whether the registry named this error code. */
static bool registry_code(const struct cairn_http_response *resp, const char *code)
{
        _cleanup_free_ char *s = registry_says(resp);
        return s && strncmp(s, code, strlen(code)) == 0 && (s[strlen(code)] == ':' || !s[strlen(code)]);
}

/* "HOST/PATH: WHAT (HTTP STATUS: why)". */
static int status_error(const struct cairn_repo *r, const struct cairn_http_response *resp, struct cairn_error **err,
                        const char *what)
{
        _cleanup_free_ char *says = registry_says(resp);
        const char *why = says;
        int code = -EIO;
        switch (resp->status) {
        case 401:
                why = "wrong user name or password?";
                code = -EACCES;
                break;
        case 403:
                why = says ? says : r->http.push ? "no right to push to it?" : "no right to pull from it?";
                code = -EACCES;
                break;
        case 404:
                code = -ENOENT;
                break;
        case 413:
                code = -EFBIG;
                break;
        }
        if (why)
                return fail(r, err, code, "%s (HTTP %ld: %s)", what, resp->status, why);
        return fail(r, err, code, "%s (HTTP %ld)", what, resp->status);
}

/* A tag as OCI allows one, or "sha256:HEX": nothing else reaches a URL. */
static bool valid_ref(const char *ref)
{
        if (cairn_digest_valid(ref))
                return true;
        size_t n = strlen(ref);
        if (n == 0 || n > 128 || !(ref[0] == '_' || (ref[0] >= '0' && ref[0] <= '9') ||
                                   (ref[0] >= 'a' && ref[0] <= 'z') || (ref[0] >= 'A' && ref[0] <= 'Z')))
                return false;
        return strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static char *digest_of(const void *data, size_t len)
{
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(data, len, hex);
        return cairn_xasprintf("sha256:%s", hex);
}

static char *url_of(const struct cairn_repo *r, const char *kind, const char *ref)
{
        return cairn_xasprintf("%s/v2/%s/%s/%s", r->http.base, r->http.path, kind, ref);
}

/* --- opening ------------------------------------------------------------------- */

int cairn_repo_open(const char *name, bool push, const struct cairn_registry_options *o, struct cairn_repo **ret,
                    struct cairn_error **err)
{
        const char *slash = strchr(name, '/');
        const char *last = strrchr(name, '/');
        if (!slash || strchr(last, ':') || strchr(name, '@'))
                return cairn_error_set(err, -EINVAL, "\"%s\" is not a repository: expected HOST[:PORT]/PATH, "
                                                     "without a tag or digest", name);
        struct cairn_image_ref *ref = NULL;
        int rc = cairn_image_ref_parse(name, &ref, err);
        if (rc < 0)
                return rc;
        struct cairn_repo *r = cairn_xzalloc(sizeof(*r));
        r->name = cairn_xasprintf("%s/%s", ref->domain, ref->path);
        rc = cairn_registry_http_init(&r->http, ref->domain, ref->api_host, ref->path, push, o ? o : &r->defaults,
                                      err);
        cairn_image_ref_free(ref);
        if (rc < 0) {
                cairn_repo_close(r);
                return rc;
        }
        /* A registry that is down is a miss to the step cache, not a wait:
         * a short connect timeout, and one more try at most. */
        r->http.connect_timeout = 5;
        r->http.attempts = 4;
        r->http.connect_attempts = 2;
        if ((rc = cairn_registry_http_authenticate(&r->http, err)) < 0) {
                prefixed(r, rc, err);
                cairn_repo_close(r);
                return rc;
        }
        *ret = r;
        return 0;
}

void cairn_repo_close(struct cairn_repo *r)
{
        if (!r)
                return;
        cairn_registry_http_release(&r->http);
        free(r->name);
        free(r);
}

/* --- manifests ------------------------------------------------------------------ */

int cairn_repo_manifest_head(struct cairn_repo *r, const char *ref, char **ret_digest, struct cairn_error **err)
{
        if (!valid_ref(ref))
                return fail(r, err, -EINVAL, "\"%s\" is not a tag or digest", ref);
        _cleanup_free_ char *url = url_of(r, "manifests", ref);
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .method = "HEAD", .url = url, .accept = accept_manifest };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status == 404) {
                rc = 0;
        } else if (resp.status == 200) {
                if (ret_digest)
                        *ret_digest = cairn_digest_valid(resp.content_digest) ? TAKE_PTR(resp.content_digest) : NULL;
                rc = 1;
        } else {
                _cleanup_free_ char *what = cairn_xasprintf("cannot look up the manifest %s", ref);
                rc = status_error(r, &resp, err, what);
        }
out:
        cairn_http_response_release(&resp);
        return rc;
}

struct head {
        CURL *h;
        struct curl_slist *headers;
        int attempts, connect_attempts;
        unsigned token;               /* the token it was started with (struct heads' count) */
};

static void head_start(struct cairn_repo *r, CURLM *multi, struct head *hd, size_t i, const char *ref)
{
        _cleanup_free_ char *url = url_of(r, "manifests", ref);
        hd->headers = curl_slist_append(NULL, accept_manifest);
        if (r->http.authorization)
                hd->headers = curl_slist_append(hd->headers, r->http.authorization);
        hd->h = curl_easy_init();
        cairn_registry_http_options(&r->http, hd->h, hd->headers, url);
        curl_easy_setopt(hd->h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(hd->h, CURLOPT_PRIVATE, (char *) NULL + i);
        curl_multi_add_handle(multi, hd->h);
}

static void head_end(CURLM *multi, struct head *hd)
{
        if (!hd->h)
                return;
        curl_multi_remove_handle(multi, hd->h);
        curl_easy_cleanup(hd->h);
        curl_slist_free_all(hd->headers);
        hd->h = NULL;
        hd->headers = NULL;
}

int cairn_repo_manifest_head_many(struct cairn_repo *r, const char *const *refs, size_t n, bool *ret_found,
                                  struct cairn_error **err)
{
        for (size_t i = 0; i < n; i++)
                if (!valid_ref(refs[i]))
                        return fail(r, err, -EINVAL, "\"%s\" is not a tag or digest", refs[i]);
        if (n == 0)
                return 0;
        CURLM *multi = curl_multi_init();
        if (!multi)
                return fail(r, err, -ENOMEM, "cannot start libcurl");
        struct head *heads = cairn_xzalloc(n * sizeof(*heads));
        /* What is to be started (again): a stack of indexes. */
        size_t *todo = cairn_xreallocarray(NULL, n, sizeof(*todo)), n_todo = 0;
        for (size_t i = n; i-- > 0;)
                todo[n_todo++] = i;
        size_t running = 0, done = 0;
        unsigned token = 0;     /* tokens renewed */
        int rc = 0;
        while (done < n && rc == 0) {
                while (running < HEADS_IN_FLIGHT && n_todo > 0) {
                        size_t i = todo[--n_todo];
                        heads[i].token = token;
                        head_start(r, multi, &heads[i], i, refs[i]);
                        running++;
                }
                int still;
                curl_multi_perform(multi, &still);
                curl_multi_poll(multi, NULL, 0, 200, NULL);
                CURLMsg *msg;
                int left;
                while (rc == 0 && (msg = curl_multi_info_read(multi, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        char *priv = NULL;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
                        size_t i = (size_t) (priv - (char *) NULL);
                        struct head *hd = &heads[i];
                        CURLcode code = msg->data.result;
                        long status = 0;
                        curl_easy_getinfo(hd->h, CURLINFO_RESPONSE_CODE, &status);
                        head_end(multi, hd);
                        running--;
                        bool connect = false;
                        if (code == CURLE_OK && (status == 200 || status == 404)) {
                                ret_found[i] = status == 200;
                                done++;
                        } else if (code == CURLE_OK && status == 401 && hd->token < token) {
                                /* Started before the new token. */
                                todo[n_todo++] = i;
                        } else if (code == CURLE_OK && status == 401 && token == 0 && r->http.authorization &&
                                   strncmp(r->http.authorization, "Authorization: Bearer", 21) == 0) {
                                /* The token expired: one new token for all. */
                                rc = prefixed(r, cairn_registry_http_authenticate(&r->http, err), err);
                                token++;
                                todo[n_todo++] = i;
                        } else if (cairn_registry_http_transient(code, status, &connect) &&
                                   ++hd->attempts < r->http.attempts &&
                                   (!connect || ++hd->connect_attempts < r->http.connect_attempts)) {
                                cairn_registry_say(r->http.o, "retrying the manifest %s (%s)", refs[i],
                                                   code ? curl_easy_strerror(code) : "server error");
                                cairn_registry_http_backoff(hd->attempts - 1);
                                todo[n_todo++] = i;
                        } else if (code != CURLE_OK) {
                                rc = fail(r, err, -EIO, "cannot look up the manifest %s: %s", refs[i],
                                          curl_easy_strerror(code));
                        } else {
                                struct cairn_http_response resp = { .status = status };
                                _cleanup_free_ char *what = cairn_xasprintf("cannot look up the manifest %s", refs[i]);
                                rc = status_error(r, &resp, err, what);
                        }
                }
        }
        for (size_t i = 0; i < n; i++)
                head_end(multi, &heads[i]);
        curl_multi_cleanup(multi);
        free(heads);
        free(todo);
        return rc;
}

int cairn_repo_manifest_get(struct cairn_repo *r, const char *ref, char **ret_body, size_t *ret_len,
                            char **ret_digest, char **ret_media_type, struct cairn_error **err)
{
        if (!valid_ref(ref))
                return fail(r, err, -EINVAL, "\"%s\" is not a tag or digest", ref);
        _cleanup_free_ char *url = url_of(r, "manifests", ref), *digest = NULL;
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .url = url, .accept = accept_manifest };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status == 404) {
                rc = 0;
                goto out;
        }
        if (resp.status != 200) {
                _cleanup_free_ char *what = cairn_xasprintf("cannot get the manifest %s", ref);
                rc = status_error(r, &resp, err, what);
                goto out;
        }
        digest = digest_of(resp.body.data, resp.body.len);
        if (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, digest) != 0) {
                rc = fail(r, err, -EBADMSG, "the manifest %s does not match its digest (got %s)", ref, digest);
                goto out;
        }
        if (ret_media_type) {
                const char *ct = resp.content_type ? resp.content_type : "";
                *ret_media_type = cairn_xstrndup(ct, strcspn(ct, "; "));
        }
        if (ret_digest)
                *ret_digest = TAKE_PTR(digest);
        *ret_body = cairn_buf_steal(&resp.body, ret_len);
        rc = 1;
out:
        cairn_http_response_release(&resp);
        return rc;
}

int cairn_repo_manifest_put(struct cairn_repo *r, const char *tag, const char *media_type, const char *body,
                            size_t len, char **ret_digest, struct cairn_error **err)
{
        if (!valid_ref(tag))
                return fail(r, err, -EINVAL, "\"%s\" is not a tag or digest", tag);
        if (len > CAIRN_REGISTRY_MAX_DOCUMENT)
                return fail(r, err, -EFBIG, "the manifest for %s is larger than %u bytes", tag,
                            CAIRN_REGISTRY_MAX_DOCUMENT);
        _cleanup_free_ char *digest = digest_of(body, len);
        if (strncmp(tag, "sha256:", 7) == 0 && strcmp(tag, digest) != 0)
                return fail(r, err, -EBADMSG, "the manifest is %s, not %s", digest, tag);
        _cleanup_free_ char *url = url_of(r, "manifests", tag);
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = {
                .method = "PUT", .url = url, .content_type = media_type, .data = body ? body : "", .len = len,
        };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status != 201 && resp.status != 200) {
                _cleanup_free_ char *what = cairn_xasprintf("cannot put the manifest %s", tag);
                rc = status_error(r, &resp, err, what);
                goto out;
        }
        if (resp.content_digest && strcmp(resp.content_digest, digest) != 0) {
                rc = fail(r, err, -EBADMSG, "the registry stored the manifest %s as %s", digest, resp.content_digest);
                goto out;
        }
        if (ret_digest)
                *ret_digest = TAKE_PTR(digest);
out:
        cairn_http_response_release(&resp);
        return rc;
}

int cairn_repo_manifest_delete(struct cairn_repo *r, const char *digest, struct cairn_error **err)
{
        if (!cairn_digest_valid(digest))
                return fail(r, err, -EINVAL, "\"%s\" is not a digest: manifests are deleted by digest", digest);
        _cleanup_free_ char *url = url_of(r, "manifests", digest);
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .method = "DELETE", .url = url };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status == 202 || resp.status == 200)
                rc = 1;
        else if (resp.status == 404)
                rc = 0;
        else if (resp.status == 405)
                rc = fail(r, err, -EPERM, "cannot delete the manifest %s: the registry does not allow deletes "
                                          "(HTTP 405; distribution needs storage: delete: enabled: true)", digest);
        else {
                _cleanup_free_ char *what = cairn_xasprintf("cannot delete the manifest %s", digest);
                rc = status_error(r, &resp, err, what);
        }
out:
        cairn_http_response_release(&resp);
        return rc;
}

/* --- blobs ---------------------------------------------------------------------- */

int cairn_repo_blob_head(struct cairn_repo *r, const char *digest, struct cairn_error **err)
{
        if (!cairn_digest_valid(digest))
                return fail(r, err, -EINVAL, "\"%s\" is not a digest", digest);
        _cleanup_free_ char *url = url_of(r, "blobs", digest);
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .method = "HEAD", .url = url };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc == 0) {
                if (resp.status == 200)
                        rc = 1;
                else if (resp.status != 404) {
                        _cleanup_free_ char *what = cairn_xasprintf("cannot look up the blob %s", digest);
                        rc = status_error(r, &resp, err, what);
                }
        }
        cairn_http_response_release(&resp);
        return rc;
}

/* The URL an upload continues at, from the Location the registry gave
 * (absolute, or relative to the registry; it may carry a query already),
 * with ?digest= added; *ret_same_origin says whether the registry's
 * credentials may go with it. */
static int upload_url(const struct cairn_repo *r, const char *location, const char *digest, char **ret,
                      bool *ret_same_origin, struct cairn_error **err)
{
        _cleanup_free_ char *abs = NULL;
        size_t nbase = strlen(r->http.base);
        if (!location || !*location)
                return fail(r, err, -EIO, "the registry started an upload without saying where (no Location)");
        if (strncmp(location, "https://", 8) == 0 || strncmp(location, "http://", 7) == 0) {
                if (strncmp(r->http.base, "https:", 6) == 0 && strncmp(location, "http:", 5) == 0)
                        return fail(r, err, -EACCES, "the registry sends the upload to plain HTTP (%s): refused",
                                    location);
                abs = cairn_xstrdup(location);
        } else if (location[0] == '/' && location[1] != '/') {
                abs = cairn_xasprintf("%s%s", r->http.base, location);
        } else {
                return fail(r, err, -EIO, "the registry gave an upload location cairn cannot follow: \"%s\"", location);
        }
        *ret_same_origin = strncmp(abs, r->http.base, nbase) == 0 && (abs[nbase] == '/' || abs[nbase] == '?');
        /* "sha256:HEX": the ':' is fine in a query (RFC 3986). */
        *ret = cairn_xasprintf("%s%cdigest=%s", abs, strchr(abs, '?') ? '&' : '?', digest);
        return 0;
}

/* POST an upload, then PUT body (method and url filled in here) with digest. */
static int upload(struct cairn_repo *r, const char *digest, struct cairn_http_request *body, struct cairn_error **err)
{
        int rc = cairn_repo_blob_head(r, digest, err);
        if (rc != 0)
                return rc < 0 ? rc : 0;
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/%s/blobs/uploads/", r->http.base, r->http.path);
        _cleanup_free_ char *put_url = NULL;
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request post = { .method = "POST", .url = url };
        rc = prefixed(r, cairn_registry_http_request(&r->http, &post, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status != 202) {
                _cleanup_free_ char *what = cairn_xasprintf("cannot start uploading the blob %s", digest);
                rc = status_error(r, &resp, err, what);
                goto out;
        }
        bool same_origin = false;
        if ((rc = upload_url(r, resp.location, digest, &put_url, &same_origin, err)) < 0)
                goto out;
        body->method = "PUT";
        body->url = put_url;
        body->content_type = "application/octet-stream";
        body->anonymous = !same_origin;
        rc = prefixed(r, cairn_registry_http_request(&r->http, body, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status == 201 || resp.status == 204) {
                rc = 1;
        } else if (resp.status == 400 && registry_code(&resp, "DIGEST_INVALID")) {
                rc = fail(r, err, -EBADMSG, "the registry refused the blob %s: its bytes do not match the digest",
                          digest);
        } else {
                _cleanup_free_ char *what = cairn_xasprintf("cannot upload the blob %s", digest);
                rc = status_error(r, &resp, err, what);
        }
out:
        cairn_http_response_release(&resp);
        return rc;
}

int cairn_repo_blob_put_file(struct cairn_repo *r, const char *path, const char *digest, uint64_t size,
                             struct cairn_error **err)
{
        if (!cairn_digest_valid(digest))
                return fail(r, err, -EINVAL, "\"%s\" is not a digest", digest);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "%s: cannot open \"%s\"", r->name, path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return cairn_error_set_errno(err, errno, "%s: cannot stat \"%s\"", r->name, path);
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != size)
                return fail(r, err, -EINVAL, "\"%s\" is not the blob %s: %llu bytes, not %llu", path, digest,
                            (unsigned long long) st.st_size, (unsigned long long) size);
        struct cairn_http_request body = { .upload_fd = true, .fd = fd, .size = size };
        return upload(r, digest, &body, err);
}

int cairn_repo_blob_put_data(struct cairn_repo *r, const void *data, size_t len, char **ret_digest,
                             struct cairn_error **err)
{
        _cleanup_free_ char *digest = digest_of(data, len);
        struct cairn_http_request body = { .data = data ? data : "", .len = len };
        int rc = upload(r, digest, &body, err);
        if (rc >= 0 && ret_digest)
                *ret_digest = TAKE_PTR(digest);
        return rc;
}

struct blob_sink {
        const char *root, *digest;
        struct cairn_blob_writer *w;
        uint64_t max;
        bool too_big;
};

static int blob_sink_write(const void *data, size_t len, void *ud)
{
        struct blob_sink *s = ud;
        if (s->w->size + len > s->max) {
                s->too_big = true;
                return -EFBIG;
        }
        return cairn_blob_writer_write(s->w, data, len);
}

/* Another try starts the blob over. */
static int blob_sink_reset(void *ud)
{
        struct blob_sink *s = ud;
        cairn_blob_writer_abort(s->w);
        s->w = NULL;
        return cairn_blob_writer_open(s->root, s->digest, &s->w, NULL) < 0 ? -EIO : 0;
}

int cairn_repo_blob_get(struct cairn_repo *r, const char *blob_root, const char *digest, uint64_t max_size,
                        struct cairn_error **err)
{
        if (!cairn_digest_valid(digest))
                return fail(r, err, -EINVAL, "\"%s\" is not a digest", digest);
        _cleanup_free_ char *path = cairn_blob_path(blob_root, digest);
        if (access(path, F_OK) == 0)
                return 1;
        struct blob_sink s = { .root = blob_root, .digest = digest, .max = max_size };
        int rc = cairn_blob_writer_open(blob_root, digest, &s.w, err);
        if (rc < 0)
                return prefixed(r, rc, err);
        _cleanup_free_ char *url = url_of(r, "blobs", digest), *what = NULL;
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = {
                .url = url, .sink = blob_sink_write, .sink_reset = blob_sink_reset, .sink_data = &s,
        };
        rc = cairn_registry_http_request(&r->http, &req, &resp, err);
        if (rc < 0 && s.too_big) {
                cairn_error_free(*err);
                *err = NULL;
                rc = fail(r, err, -EFBIG, "the blob %s is larger than %llu bytes", digest,
                          (unsigned long long) max_size);
                goto out;
        }
        if ((rc = prefixed(r, rc, err)) < 0)
                goto out;
        if (resp.status == 404)
                goto out;
        if (resp.status != 200) {
                what = cairn_xasprintf("cannot get the blob %s", digest);
                rc = status_error(r, &resp, err, what);
                goto out;
        }
        what = cairn_xasprintf("the blob %s", digest);
        rc = prefixed(r, cairn_blob_writer_commit(s.w, what, NULL, err), err);
        s.w = NULL;
        if (rc == 0)
                rc = 1;
out:
        cairn_blob_writer_abort(s.w);
        cairn_http_response_release(&resp);
        return rc;
}

int cairn_repo_blob_get_mem(struct cairn_repo *r, const char *digest, size_t max, char **ret, size_t *ret_len,
                            struct cairn_error **err)
{
        if (!cairn_digest_valid(digest))
                return fail(r, err, -EINVAL, "\"%s\" is not a digest", digest);
        _cleanup_free_ char *url = url_of(r, "blobs", digest), *got = NULL;
        struct cairn_http_response resp = { 0 };
        struct cairn_http_request req = { .url = url, .max_body = max ? max : 1 };
        int rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err);
        if (rc < 0)
                goto out;
        if (resp.status == 404)
                goto out;
        if (resp.status != 200) {
                _cleanup_free_ char *what = cairn_xasprintf("cannot get the blob %s", digest);
                rc = status_error(r, &resp, err, what);
                goto out;
        }
        got = digest_of(resp.body.data, resp.body.len);
        if (strcmp(got, digest) != 0) {
                rc = fail(r, err, -EBADMSG, "the blob %s does not match its digest (got %s)", digest, got);
                goto out;
        }
        *ret = cairn_buf_steal(&resp.body, ret_len);
        rc = 1;
out:
        cairn_http_response_release(&resp);
        return rc;
}

/* --- tags ------------------------------------------------------------------------- */

/* The next page from a Link header (<URL>; rel="next"), or NULL at the
 * end; an absolute URL must be the registry's own. */
static int next_page(const struct cairn_repo *r, const char *link, char **ret, struct cairn_error **err)
{
        *ret = NULL;
        if (!link || !strstr(link, "rel=\"next\""))
                return 0;
        const char *lt = strchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (!gt)
                return fail(r, err, -EIO, "cannot read the tags list's Link header \"%s\"", link);
        _cleanup_free_ char *target = cairn_xstrndup(lt + 1, (size_t) (gt - lt - 1));
        size_t nbase = strlen(r->http.base);
        if (target[0] == '/' && target[1] != '/')
                *ret = cairn_xasprintf("%s%s", r->http.base, target);
        else if (strncmp(target, r->http.base, nbase) == 0 && target[nbase] == '/')
                *ret = TAKE_PTR(target);
        else
                return fail(r, err, -EIO, "the tags list continues elsewhere (\"%s\"): refused", target);
        return 0;
}

int cairn_repo_tags(struct cairn_repo *r, char ***ret, struct cairn_error **err)
{
        char **tags = cairn_xzalloc(sizeof(char *));
        size_t n = 0;
        unsigned page = r->http.o->tags_page;
        char *url = page ? cairn_xasprintf("%s/v2/%s/tags/list?n=%u", r->http.base, r->http.path, page)
                         : cairn_xasprintf("%s/v2/%s/tags/list", r->http.base, r->http.path);
        struct cairn_http_response resp = { 0 };
        int rc = 0;
        for (size_t pages = 0; url && rc == 0; pages++) {
                if (pages == MAX_TAG_PAGES) {
                        rc = fail(r, err, -EFBIG, "the tags list goes on for more than %d pages", MAX_TAG_PAGES);
                        break;
                }
                struct cairn_http_request req = { .url = url };
                if ((rc = prefixed(r, cairn_registry_http_request(&r->http, &req, &resp, err), err)) < 0)
                        break;
                if (resp.status == 404)
                        break;     /* no such repository (yet): no tags */
                if (resp.status != 200) {
                        rc = status_error(r, &resp, err, "cannot list the tags");
                        break;
                }
                json_error_t je;
                json_t *j = json_loadb(cairn_buf_str(&resp.body), resp.body.len, 0, &je);
                json_t *list = json_object_get(j, "tags");
                if (!j || !(json_is_array(list) || json_is_null(list) || !list)) {
                        json_decref(j);
                        rc = fail(r, err, -EIO, "the tags list is not valid JSON");
                        break;
                }
                size_t k;
                json_t *t;
                json_array_foreach(list, k, t) {
                        if (!json_is_string(t) || n == MAX_TAGS) {
                                rc = fail(r, err, n == MAX_TAGS ? -EFBIG : -EIO,
                                          n == MAX_TAGS ? "more than a million tags" : "a tag that is not a string");
                                break;
                        }
                        tags = cairn_xreallocarray(tags, n + 2, sizeof(char *));
                        tags[n++] = cairn_xstrdup(json_string_value(t));
                        tags[n] = NULL;
                }
                json_decref(j);
                if (rc < 0)
                        break;
                free(url);
                url = NULL;
                rc = next_page(r, resp.link, &url, err);
        }
        free(url);
        cairn_http_response_release(&resp);
        if (rc < 0) {
                cairn_strv_free(tags);
                return rc;
        }
        *ret = tags;
        return 0;
}
