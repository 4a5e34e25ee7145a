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
#include "fetch/registry-http.h"

#define MAX_DOCUMENT CAIRN_REGISTRY_MAX_DOCUMENT
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
        struct cairn_registry_http http;    /* set up once ref is parsed */
        struct cairn_error **err;
};

#define say(c, ...) cairn_registry_say((c)->o, __VA_ARGS__)

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

/* GET url (accept: an Accept header line, or NULL): 0 with resp, or < 0
 * with *c->err set. */
static int get(struct client *c, const char *url, const char *accept, struct cairn_http_response *resp)
{
        struct cairn_http_request req = { .url = url, .accept = accept };
        return cairn_registry_http_request(&c->http, &req, resp, c->err);
}

/* --- manifests --------------------------------------------------------------- */

/* GET a manifest or index by tag or digest; verifies a digest reference. */
static int get_manifest(struct client *c, const char *reference, json_t **ret, char **ret_digest)
{
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/%s/manifests/%s", c->http.base, c->ref->path, reference);
        struct cairn_http_response resp = { 0 };
        int r = get(c, url, accept_manifests, &resp);
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
        cairn_http_response_release(&resp);
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
        _cleanup_free_ char *url = cairn_xasprintf("%s/v2/%s/blobs/%s", c->http.base, c->ref->path, d->digest);
        d->headers = NULL;
        d->started = false;
        if (c->http.authorization)
                d->headers = curl_slist_append(d->headers, c->http.authorization);
        if (d->w->size > 0) {
                /* Resume where the last attempt stopped. */
                char range[64];
                snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long) d->w->size);
                d->headers = curl_slist_append(d->headers, range);
        }
        d->h = curl_easy_init();
        cairn_registry_http_options(&c->http, d->h, d->headers, url);
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
                                cairn_registry_http_backoff(d->attempts);
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
        struct cairn_error **err = c->err;
        int r = cairn_image_ref_parse(refstr, &c->ref, err);
        if (r < 0)
                return r;
        r = cairn_registry_http_init(&c->http, c->ref->domain, c->ref->api_host, c->ref->path, false, o, err);
        if (r < 0)
                return r;
        json_t *manifest = NULL;
        char *digest = NULL;
        if ((r = cairn_registry_http_authenticate(&c->http, err)) < 0) {
                cairn_error_prefix(err, "%s", c->ref->domain);
                goto out;
        }
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
        cairn_registry_http_release(&c->http);
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
