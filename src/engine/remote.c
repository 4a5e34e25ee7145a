/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry step cache (docs/step-cache.md): one OCI image manifest per
 * step, tagged with its ID, listing its whole chain of layers (the base
 * image's, then one diff layer per step, each annotated with the step it
 * belongs to), and the step's log beside it under the tag ID-log.
 *
 * Pulling: the spec walk computes the IDs of a stage's steps ahead
 * (build.c), all are looked up at once, and from the deepest one found the
 * layers of the steps the store lacks are downloaded and verified; each is
 * then made into its result as the walk reaches it, in place of running it
 * (engine_remote_pull_step), under the same step protocol as a build.  A
 * pulled layer is applied only on a local parent whose recorded layers are
 * the ones the manifest names: two machines may hold different, valid
 * results for one step ID, and a diff made on theirs must never be applied
 * on ours.
 *
 * Pushing: each step the build makes or reuses is queued for a process that
 * pushes it while the build goes on: the diff layers of its chain (made
 * once, and recorded in the database), its config, its manifest and its
 * log.  A failed push is a warning and a count, never a failed build.
 * Steps that mounted secrets, and everything built on them, are not pushed
 * unless asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/path.h"
#include "db/db.h"
#include "engine/engine-internal.h"
#include "engine/ids.h"
#include "fetch/fetcher.h"
#include "fetch/image.h"
#include "fetch/reference.h"
#include "fetch/repo.h"

#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_EMPTY "application/vnd.oci.empty.v1+json"
#define EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define ARTIFACT_LOG "application/vnd.cairn.step-log.v1"
#define MEDIA_LOG "text/plain"
#define ANNOTATION_STEP "dev.cairn.step"
#define MAX_LAYER_BYTES (UINT64_C(64) << 30)
#define MAX_LOG_BYTES (64u << 20)
#define MAX_CHAIN 100000

struct engine_planned {
        char id[65];
        char parent[65];
        struct cairn_db_layer layer;
};

struct engine_remote {
        struct cairn_engine *e;
        const struct cairn_registry_options *reg;
        char **from;                 /* repositories looked up, in order */
        size_t n_from;
        char *to;                    /* the one pushed to, or NULL */
        bool share_secrets;
        bool planning;
        char *blob_root;
        cairn_log_fn *log;
        void *log_ud;
        /* The plan: steps whose layers are downloaded, and the repository
         * (open, for their logs) they came from. */
        struct engine_planned *plan;
        size_t n_plan;
        struct cairn_repo *pull_repo;
        bool *from_down;             /* a repository that failed is not asked again this build */
        unsigned pulled;

        /* Pushes, done by a process of their own (a thread would make the
         * sandbox's clone unsafe: a child cloned while another thread holds
         * a lock, malloc's among them, could never take it), with its own
         * database connection and step-lock descriptor.  The build writes
         * the IDs to push, one a line, into push_fd; at the end the pusher
         * writes its counts into result_fd. */
        pid_t push_pid;
        int push_fd, result_fd;
        char **queue;                /* IDs given to it, so each goes once */
        size_t n_queue;
        unsigned pushed, push_present, push_failed, push_secret;
        char *push_error;            /* the first failure */
        bool push_down;              /* the registry could not be reached: the rest are not tried */
};

/* --- messages ------------------------------------------------------------------ */

static void note(struct engine_remote *rm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct engine_remote *rm, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        engine_vlog(rm->log, rm->log_ud, CAIRN_LOG_NOTE, fmt, ap);
        va_end(ap);
}

/* --- layers of local results ----------------------------------------------------- */

static const char *sniff_media_type(const char *path)
{
        unsigned char m[4] = { 0 };
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && read(fd, m, sizeof(m)) == (ssize_t) sizeof(m)) {
                if (m[0] == 0x1f && m[1] == 0x8b)
                        return MEDIA_LAYER_GZIP;
                if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
                        return MEDIA_LAYER_ZSTD;
        }
        return MEDIA_LAYER_TAR;
}

/* Whether blob digest is in the blob store, copying it there from the
 * fetcher's own store (containerd's content) if it can. */
static bool have_blob(struct engine_remote *rm, const char *digest)
{
        _cleanup_free_ char *path = cairn_blob_path(rm->blob_root, digest);
        if (access(path, F_OK) == 0)
                return true;
        const struct cairn_fetcher_ops *f = rm->e->fetcher;
        if (!f || !f->export_blob)
                return false;
        struct cairn_fetch_request req = { .store_root = rm->e->store->root, .backend = rm->e->store->backend };
        struct cairn_error *err = NULL;
        int r = f->export_blob(&req, digest, rm->blob_root, &err);
        if (r < 0) {
                cairn_warn("cannot copy %s from the image store: %s", digest, err->message);
                cairn_error_free(err);
        }
        return r > 0;
}

/* A base result's layers: its image's blobs (image.json, and the config's
 * diff_ids), if they are in the blob store.  Returns 1 and *ret, or 0. */
static int base_record(struct engine_remote *rm, const char *dir, struct cairn_db_layer **ret, size_t *ret_n)
{
        json_t *img = cairn_result_json_load(dir, "image.json");
        json_t *layers = json_object_get(img, "layers");
        const char *config = json_string_value(json_object_get(img, "config"));
        int r = 0;
        json_t *cfg = NULL;
        if (json_is_array(layers) && json_array_size(layers) > 0 && cairn_digest_valid(config) &&
            have_blob(rm, config)) {
                _cleanup_free_ char *cpath = cairn_blob_path(rm->blob_root, config);
                cfg = json_load_file(cpath, 0, NULL);
        }
        json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        if (json_is_array(diff_ids) && json_array_size(diff_ids) == json_array_size(layers)) {
                size_t n = json_array_size(layers);
                struct cairn_db_layer *v = cairn_xzalloc(n * sizeof(*v));
                r = 1;
                for (size_t i = 0; i < n && r; i++) {
                        const char *d = json_string_value(json_array_get(layers, i));
                        const char *di = json_string_value(json_array_get(diff_ids, i));
                        _cleanup_free_ char *path = d ? cairn_blob_path(rm->blob_root, d) : NULL;
                        struct stat st;
                        if (!d || !di || !cairn_digest_valid(d) || !cairn_digest_valid(di) || !have_blob(rm, d) ||
                            stat(path, &st) < 0) {
                                r = 0;
                                break;
                        }
                        snprintf(v[i].digest, sizeof(v[i].digest), "%s", d);
                        snprintf(v[i].diff_id, sizeof(v[i].diff_id), "%s", di);
                        v[i].size = (uint64_t) st.st_size;
                        snprintf(v[i].media_type, sizeof(v[i].media_type), "%s", sniff_media_type(path));
                }
                if (r) {
                        *ret = v;
                        *ret_n = n;
                } else {
                        free(v);
                }
        }
        json_decref(cfg);
        json_decref(img);
        return r;
}

/*
 * The chain of result id: its ancestors and itself, root first, as the
 * database links them, ending (at the bottom) at a base result or at a
 * result with no parent.  *ret_n of them in *ret (65-byte IDs).
 */
static int chain_of(struct engine_remote *rm, struct cairn_db *db, const char *id, char (**ret)[65], size_t *ret_n,
                    struct cairn_error **err)
{
        char(*v)[65] = NULL;
        size_t n = 0;
        char cur[65];
        snprintf(cur, sizeof(cur), "%s", id);
        for (;;) {
                if (n >= MAX_CHAIN) {
                        free(v);
                        return cairn_error_set(err, -ELOOP, "the chain of \"%s\" does not end", id);
                }
                v = cairn_xreallocarray(v, n + 1, sizeof(*v));
                memcpy(v[n++], cur, 65);
                char *dir = NULL;
                bool is_base = cairn_store_result(rm->e->store, cur, &dir, NULL) > 0 && engine_is_base_result(dir, cur);
                free(dir);
                struct cairn_db_row row;
                int r = cairn_db_get(db, cur, &row, err);
                if (r < 0) {
                        free(v);
                        return r;
                }
                if (is_base || r == 0 || !row.parent[0])
                        break;
                memcpy(cur, row.parent, 65);
        }
        for (size_t i = 0; i < n / 2; i++) {
                char t[65];
                memcpy(t, v[i], 65);
                memcpy(v[i], v[n - 1 - i], 65);
                memcpy(v[n - 1 - i], t, 65);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* The recorded layers of result id (the bottom of its chain when first):
 * from the database, or for a base from its image.  1, or 0 when there is
 * no record. */
static int recorded_layers(struct engine_remote *rm, struct cairn_db *db, const char *id, bool first,
                           struct cairn_db_layer **ret, size_t *ret_n)
{
        struct cairn_error *ignored = NULL;
        int r = cairn_db_layers_get(db, id, ret, ret_n, &ignored);
        cairn_error_free(ignored);
        if (r != 0 || !first)
                return r > 0;
        char *dir = NULL;
        if (cairn_store_result(rm->e->store, id, &dir, NULL) <= 0)
                return 0;
        r = engine_is_base_result(dir, id) ? base_record(rm, dir, ret, ret_n) : 0;
        free(dir);
        if (r > 0 && cairn_db_layers_set(db, id, *ret, *ret_n, &ignored) < 0)
                cairn_error_free(ignored);
        return r;
}

/* --- pushing ---------------------------------------------------------------------- */

/* Make (and record) the layer of step id on parent (NULL for a whole root),
 * under shared locks so neither is deleted meanwhile. */
static int make_layer(struct engine_remote *rm, struct cairn_db *db, int lock_fd, const char *parent, const char *id,
                      struct cairn_db_layer *ret, struct cairn_error **err)
{
        engine_step_lock_fd(lock_fd, id, CAIRN_LOCK_SHARED, true);
        if (parent)
                engine_step_lock_fd(lock_fd, parent, CAIRN_LOCK_SHARED, true);
        char *dir = NULL;
        int r = cairn_store_result(rm->e->store, id, &dir, err);
        free(dir);
        if (r == 0)
                r = cairn_error_set(err, -ENOENT, "step \"%s\" is no longer in the store", id);
        struct engine_layer l;
        if (r > 0)
                r = engine_diff_layer(rm->e, parent, id, rm->blob_root, &l, err);
        if (r >= 0) {
                memset(ret, 0, sizeof(*ret));
                snprintf(ret->digest, sizeof(ret->digest), "%s", l.digest);
                snprintf(ret->diff_id, sizeof(ret->diff_id), "%s", l.diff_id);
                ret->size = l.size;
                snprintf(ret->media_type, sizeof(ret->media_type), "%s", MEDIA_LAYER_GZIP);
                r = cairn_db_layers_set(db, id, ret, 1, err);
        }
        if (parent)
                engine_step_lock_fd(lock_fd, parent, CAIRN_UNLOCK, true);
        engine_step_lock_fd(lock_fd, id, CAIRN_UNLOCK, true);
        return r;
}

static void utc_now(char out[32])
{
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *descriptor(const char *media_type, const char *digest, uint64_t size)
{
        return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size", (json_int_t) size);
}

/* Upload doc (a JSON document) as a blob; its descriptor. */
static json_t *put_json_blob(struct cairn_repo *repo, json_t *doc, const char *media_type, struct cairn_error **err)
{
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        char *digest = NULL;
        if (cairn_repo_blob_put_data(repo, text, strlen(text), &digest, err) < 0)
                return NULL;
        json_t *d = descriptor(media_type, digest, strlen(text));
        free(digest);
        return d;
}

static int put_manifest(struct cairn_repo *repo, const char *tag, json_t *m, struct cairn_error **err)
{
        _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        return cairn_repo_manifest_put(repo, tag, MEDIA_MANIFEST, text, strlen(text), NULL, err);
}

/* The log beside step id: an artifact tagged ID-log. */
static int push_log(struct engine_remote *rm, struct cairn_repo *repo, const char *id, const char *dir,
                    struct cairn_error **err)
{
        _cleanup_free_ char *path = cairn_path_join(dir, "log");
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct cairn_error *ignored = NULL;
        if (cairn_read_file(path, MAX_LOG_BYTES, &text, &len, &ignored) < 0) {
                cairn_error_free(ignored);
                text = cairn_xstrdup("");
                len = 0;
        }
        char *digest = NULL;
        int r = cairn_repo_blob_put_data(repo, text, len, &digest, err);
        if (r < 0)
                return r;
        if ((r = cairn_repo_blob_put_data(repo, "{}", 2, NULL, err)) < 0) {
                free(digest);
                return r;
        }
        json_t *m = json_pack("{s:i, s:s, s:s, s:o, s:[o], s:{s:s}}", "schemaVersion", 2, "mediaType", MEDIA_MANIFEST,
                              "artifactType", ARTIFACT_LOG, "config", descriptor(MEDIA_EMPTY, EMPTY_DIGEST, 2),
                              "layers", descriptor(MEDIA_LOG, digest, len), "annotations", ANNOTATION_STEP, id);
        free(digest);
        _cleanup_free_ char *tag = cairn_xasprintf("%s-log", id);
        r = put_manifest(repo, tag, m, err);
        json_decref(m);
        (void) rm;
        return r;
}

/*
 * Push step id: its chain's layers (made where missing), config, manifest
 * and log.  Returns 1 when pushed, 0 when the registry had it, 2 when it is
 * not pushed because of secrets.
 */
static int push_one(struct engine_remote *rm, struct cairn_repo *repo, struct cairn_db *db, int lock_fd,
                    const char *id, struct cairn_error **err)
{
        char(*chain)[65] = NULL;
        size_t n = 0;
        int r = chain_of(rm, db, id, &chain, &n, err);
        if (r < 0)
                return r;
        char *dir = NULL;
        if (!rm->share_secrets)
                for (size_t i = 0; i < n; i++) {
                        if (cairn_store_result(rm->e->store, chain[i], &dir, NULL) > 0 && engine_result_secret(dir)) {
                                free(dir);
                                free(chain);
                                return 2;
                        }
                        free(dir);
                        dir = NULL;
                }
        r = cairn_repo_manifest_head(repo, id, NULL, err);
        if (r != 0) {
                free(chain);
                return r < 0 ? r : 0;
        }
        json_t *layers = json_array(), *diff_ids = json_array(), *history = json_array();
        char created[32];
        utc_now(created);
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct cairn_db_layer *l = NULL, one;
                size_t nl = 0;
                if (!recorded_layers(rm, db, chain[i], i == 0, &l, &nl)) {
                        r = make_layer(rm, db, lock_fd, i ? chain[i - 1] : NULL, chain[i], &one, err);
                        if (r < 0)
                                break;
                        l = cairn_xmalloc(sizeof(*l));
                        *l = one;
                        nl = 1;
                }
                for (size_t k = 0; k < nl && r >= 0; k++) {
                        _cleanup_free_ char *path = cairn_blob_path(rm->blob_root, l[k].digest);
                        r = cairn_repo_blob_put_file(repo, path, l[k].digest, l[k].size, err);
                        json_t *d = descriptor(l[k].media_type, l[k].digest, l[k].size);
                        json_object_set_new(d, "annotations", json_pack("{s:s}", ANNOTATION_STEP, chain[i]));
                        json_array_append_new(layers, d);
                        json_array_append_new(diff_ids, json_string(l[k].diff_id));
                        _cleanup_free_ char *by = cairn_xasprintf("cairn step %s", chain[i]);
                        json_array_append_new(history, json_pack("{s:s, s:s}", "created", created, "created_by", by));
                }
                free(l);
        }
        json_t *cfg = NULL, *m = NULL;
        if (r >= 0 && cairn_store_result(rm->e->store, id, &dir, err) <= 0)
                r = r < 0 ? r : cairn_error_set(err, -ENOENT, "step \"%s\" is no longer in the store", id);
        if (r >= 0) {
                json_t *ctx = cairn_result_json_load(dir, "context.json");
                json_t *conf = json_object();
                json_t *env = json_object_get(ctx, "env");
                if (json_is_array(env))
                        json_object_set(conf, "Env", env);
                const char *wd = json_string_value(json_object_get(ctx, "workdir"));
                const char *user = json_string_value(json_object_get(ctx, "user"));
                if (wd)
                        json_object_set_new(conf, "WorkingDir", json_string(wd));
                if (user)
                        json_object_set_new(conf, "User", json_string(user));
                json_decref(ctx);
                cfg = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:O}, s:O}", "created", created, "architecture",
                                cairn_host_arch(), "os", "linux", "config", conf, "rootfs", "type", "layers",
                                "diff_ids", diff_ids, "history", history);
                json_t *cd = put_json_blob(repo, cfg, MEDIA_CONFIG, err);
                if (!cd)
                        r = -EIO;
                else {
                        const char *parent = n > 1 ? chain[n - 2] : "";
                        m = json_pack("{s:i, s:s, s:o, s:O, s:{s:s, s:s, s:s, s:s}}", "schemaVersion", 2,
                                      "mediaType", MEDIA_MANIFEST, "config", cd, "layers", layers, "annotations",
                                      ANNOTATION_STEP, id, "dev.cairn.parent", parent, "dev.cairn.format", "1",
                                      "org.opencontainers.image.created", created);
                        /* Which (from ...) the chain starts at, so that a
                         * store without that base can make it (cache pull). */
                        char *bdir = NULL;
                        if (cairn_store_result(rm->e->store, chain[0], &bdir, NULL) > 0) {
                                json_t *img = cairn_result_json_load(bdir, "image.json");
                                const char *from = json_string_value(json_object_get(img, "from"));
                                const char *digest = json_string_value(json_object_get(img, "digest"));
                                json_t *ann = json_object_get(m, "annotations");
                                if (from)
                                        json_object_set_new(ann, "dev.cairn.base.ref", json_string(from));
                                if (digest && *digest)
                                        json_object_set_new(ann, "dev.cairn.base.digest", json_string(digest));
                                json_decref(img);
                        }
                        free(bdir);
                        r = put_manifest(repo, id, m, err);
                }
                if (r >= 0)
                        r = push_log(rm, repo, id, dir, err);
        }
        free(dir);
        json_decref(m);
        json_decref(cfg);
        json_decref(layers);
        json_decref(diff_ids);
        json_decref(history);
        free(chain);
        return r < 0 ? r : 1;
}

struct pusher {
        struct engine_remote *rm;
        struct cairn_repo *repo;
        struct cairn_db *db;
        int lock_fd;
};

static int pusher_open(struct engine_remote *rm, struct pusher *p, struct cairn_error **err)
{
        memset(p, 0, sizeof(*p));
        p->rm = rm;
        p->lock_fd = -1;
        _cleanup_free_ char *dbpath = cairn_path_join(rm->e->store->state_dir, "db/db.sqlite");
        _cleanup_free_ char *lock = cairn_path_join(rm->e->store->state_dir, "steps.lock");
        int r = cairn_db_open(dbpath, &p->db, err);
        if (r < 0)
                return r;
        p->lock_fd = open(lock, O_RDWR | O_CLOEXEC);
        if (p->lock_fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", lock);
        return cairn_repo_open(rm->to, true, rm->reg, &p->repo, err);
}

static void pusher_close(struct pusher *p)
{
        if (p->repo)
                cairn_repo_close(p->repo);
        if (p->db)
                cairn_db_close(p->db);
        if (p->lock_fd >= 0)
                close(p->lock_fd);
}

static void push_failed(struct engine_remote *rm, struct cairn_error *err)
{
        rm->push_failed++;
        if (!rm->push_error)
                rm->push_error = cairn_xstrdup(err ? err->message : "failed");
        /* A registry that cannot be reached is not tried for each step. */
        if (err && (err->code == -ECONNREFUSED || err->code == -EHOSTUNREACH || err->code == -ETIMEDOUT ||
                    err->code == -EIO))
                rm->push_down = true;
}

/* The pusher process: push each ID read from in, then write the counts and
 * the first error to out. */
static void pusher_main(struct engine_remote *rm, int in, int out)
{
        struct pusher p;
        struct cairn_error *err = NULL;
        bool open_ok = pusher_open(rm, &p, &err) >= 0;
        if (!open_ok) {
                push_failed(rm, err);
                cairn_error_free(err);
                err = NULL;
        }
        FILE *f = fdopen(in, "r");
        char line[128];
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (strlen(line) != 64 || !cairn_is_sha256_hex(line))
                        continue;
                if (rm->push_down || !open_ok) {
                        rm->push_failed++;
                        continue;
                }
                int r = push_one(rm, p.repo, p.db, p.lock_fd, line, &err);
                if (r == 1)
                        rm->pushed++;
                else if (r == 0)
                        rm->push_present++;
                else if (r == 2)
                        rm->push_secret++;
                if (r < 0) {
                        push_failed(rm, err);
                        cairn_error_free(err);
                        err = NULL;
                }
        }
        pusher_close(&p);
        char *summary = cairn_xasprintf("%u %u %u %u\n%s", rm->pushed, rm->push_present, rm->push_failed,
                                        rm->push_secret, rm->push_error ? rm->push_error : "");
        size_t len = strlen(summary);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(out, summary + off, len - off);
                if (n <= 0)
                        break;
                off += (size_t) n;
        }
        _exit(0);
}

static bool start_pusher(struct engine_remote *rm)
{
        int to[2], from[2];
        if (pipe2(to, O_CLOEXEC) < 0)
                return false;
        if (pipe2(from, O_CLOEXEC) < 0) {
                close(to[0]);
                close(to[1]);
                return false;
        }
        fflush(stdout);
        fflush(stderr);
        /* The pusher opens a database connection of its own: none may
         * cross the fork (engine_db_close); this process opens its own
         * again when it next needs it. */
        engine_db_close(rm->e);
        pid_t pid = fork();
        if (pid < 0) {
                close(to[0]);
                close(to[1]);
                close(from[0]);
                close(from[1]);
                return false;
        }
        if (pid == 0) {
                /* Pushes die with the build that asked for them, and
                 * yield the processors to it: the build is the critical
                 * path, the pushes are not. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (setpriority(PRIO_PROCESS, 0, 19) < 0)
                        (void) 0;
                signal(SIGINT, SIG_IGN);
                close(to[1]);
                close(from[0]);
                pusher_main(rm, to[0], from[1]);
        }
        close(to[0]);
        close(from[1]);
        rm->push_pid = pid;
        rm->push_fd = to[1];
        rm->result_fd = from[0];
        return true;
}

static void queue_push(struct engine_remote *rm, const char *id)
{
        for (size_t i = 0; i < rm->n_queue; i++)
                if (strcmp(rm->queue[i], id) == 0)
                        return;
        rm->queue = cairn_xreallocarray(rm->queue, rm->n_queue + 1, sizeof(char *));
        rm->queue[rm->n_queue++] = cairn_xstrdup(id);
        if (!rm->push_pid && !start_pusher(rm)) {
                rm->push_pid = -1;
                rm->push_error = cairn_xasprintf("cannot start the pusher: %s", strerror(errno));
        }
        if (rm->push_pid < 0) {
                rm->push_failed++;
                return;
        }
        char line[66];
        snprintf(line, sizeof(line), "%s\n", id);
        if (write(rm->push_fd, line, 65) != 65)
                rm->push_failed++;
}

/* Wait for the pusher to finish (or, on a cancel, kill it) and take its counts. */
static void finish_pushes(struct engine_remote *rm, bool cancelled)
{
        if (rm->push_pid <= 0)
                return;
        close(rm->push_fd);
        if (cancelled)
                kill(rm->push_pid, SIGKILL);
        char buf[8192];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(buf) - 1 && (n = read(rm->result_fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                len += (size_t) n;
        }
        buf[len] = '\0';
        close(rm->result_fd);
        while (waitpid(rm->push_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        unsigned pushed = 0, present = 0, failed = 0, secret = 0;
        int used = 0;
        if (sscanf(buf, "%u %u %u %u\n%n", &pushed, &present, &failed, &secret, &used) == 4) {
                rm->pushed += pushed;
                rm->push_present += present;
                rm->push_failed += failed;
                rm->push_secret += secret;
                if (buf[used] && !rm->push_error)
                        rm->push_error = cairn_xstrdup(buf + used);
        } else if (!cancelled) {
                rm->push_failed += (unsigned) rm->n_queue;
                if (!rm->push_error)
                        rm->push_error = cairn_xstrdup("the pusher ended without saying what it did");
        }
        rm->push_pid = 0;
}

/* --- pulling ------------------------------------------------------------------------ */

struct remote_layer {
        char step[65];
        struct cairn_db_layer l;
};

/* The layers of manifest text m, each with the step it belongs to. */
static int parse_manifest(const char *text, size_t len, struct remote_layer **ret, size_t *ret_n)
{
        json_t *m = json_loadb(text, len, 0, NULL);
        json_t *layers = json_object_get(m, "layers");
        if (!json_is_array(layers) || json_array_size(layers) == 0 || json_array_size(layers) > MAX_CHAIN) {
                json_decref(m);
                return -EBADMSG;
        }
        size_t n = json_array_size(layers);
        struct remote_layer *v = cairn_xzalloc(n * sizeof(*v));
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                json_t *d = json_array_get(layers, i);
                const char *step = json_string_value(json_object_get(json_object_get(d, "annotations"), ANNOTATION_STEP));
                const char *digest = json_string_value(json_object_get(d, "digest"));
                const char *mt = json_string_value(json_object_get(d, "mediaType"));
                json_int_t size = json_integer_value(json_object_get(d, "size"));
                if (!step || !cairn_is_sha256_hex(step) || strlen(step) != 64 || !cairn_digest_valid(digest) || !mt ||
                    strlen(mt) >= sizeof(v[i].l.media_type) || size < 0) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(v[i].step, step, 65);
                snprintf(v[i].l.digest, sizeof(v[i].l.digest), "%s", digest);
                snprintf(v[i].l.media_type, sizeof(v[i].l.media_type), "%s", mt);
                v[i].l.size = (uint64_t) size;
        }
        /* The diff_ids are the config's; the engine needs only the blobs. */
        json_decref(m);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/*
 * Whether the chain manifest `ml` (n layers) continues local result base's
 * chain: it starts with exactly base's chain's recorded layers, step by
 * step, then has one layer for each of ids[0..hit].
 */
static bool manifest_fits(struct engine_remote *rm, const struct remote_layer *ml, size_t n, const char *base,
                          char (*ids)[65], size_t hit, const char **ret_why)
{
        struct cairn_error *ignored = NULL;
        char(*chain)[65] = NULL;
        size_t nc = 0;
        struct cairn_db *db = engine_db(rm->e, &ignored);
        if (!db || chain_of(rm, db, base, &chain, &nc, &ignored) < 0) {
                cairn_error_free(ignored);
                *ret_why = "the local chain cannot be read";
                return false;
        }
        size_t k = 0;
        bool ok = true;
        for (size_t i = 0; i < nc && ok; i++) {
                struct cairn_db_layer *l = NULL;
                size_t nl = 0;
                if (!recorded_layers(rm, db, chain[i], i == 0, &l, &nl)) {
                        *ret_why = "the local parent step was built here, and its layer differs from any in the cache";
                        ok = false;
                        break;
                }
                for (size_t j = 0; j < nl && ok; j++, k++)
                        if (k >= n || strcmp(ml[k].step, chain[i]) != 0 || strcmp(ml[k].l.digest, l[j].digest) != 0) {
                                *ret_why = "it was built on a different result of a parent step";
                                ok = false;
                        }
                free(l);
        }
        free(chain);
        if (ok && n - k != hit + 1) {
                *ret_why = "its chain is not this spec's";
                ok = false;
        }
        for (size_t j = 0; ok && j <= hit; j++)
                if (strcmp(ml[k + j].step, ids[j]) != 0) {
                        *ret_why = "its chain is not this spec's";
                        ok = false;
                }
        return ok;
}

bool engine_remote_pulls(const struct run *R)
{
        return R->remote && R->remote->n_from > 0;
}

bool engine_remote_planning(const struct run *R)
{
        return R->remote && R->remote->planning;
}

void engine_remote_set_planning(const struct run *R, bool on)
{
        if (R->remote)
                R->remote->planning = on;
}

/* Layers downloaded at once. */
#define PULL_PARALLEL 4

/* Blobs to download, shared by the threads that take them in turn. */
struct fetch_job {
        struct engine_remote *rm;
        const char *repo_name;
        const struct remote_layer *layers;
        size_t n, next;
        int *r;                  /* per layer: 1 downloaded (or there), 0 gone, < 0 failed */
        char **errors;
        pthread_mutex_t lock;
};

static void *fetch_worker(void *ud)
{
        struct fetch_job *job = ud;
        struct cairn_repo *repo = NULL;
        struct cairn_error *err = NULL;
        int open_r = cairn_repo_open(job->repo_name, false, job->rm->reg, &repo, &err);
        for (;;) {
                pthread_mutex_lock(&job->lock);
                size_t j = job->next < job->n ? job->next++ : job->n;
                pthread_mutex_unlock(&job->lock);
                if (j == job->n)
                        break;
                int r = open_r < 0 ? open_r
                                   : cairn_repo_blob_get(repo, job->rm->blob_root, job->layers[j].l.digest,
                                                         MAX_LAYER_BYTES, &err);
                job->r[j] = r;
                if (r < 0) {
                        job->errors[j] = cairn_xstrdup(err ? err->message : "failed");
                        if (open_r >= 0) {
                                cairn_error_free(err);
                                err = NULL;
                        }
                }
        }
        cairn_error_free(err);
        if (repo)
                cairn_repo_close(repo);
        return NULL;
}

/* Look ids up in repository i; the deepest found is planned.  Returns the
 * number of steps planned. */
static size_t plan_from(struct engine_remote *rm, size_t i, const char *base, char (*ids)[65], size_t n)
{
        struct cairn_error *err = NULL;
        struct cairn_repo *repo = NULL;
        if (cairn_repo_open(rm->from[i], false, rm->reg, &repo, &err) < 0) {
                cairn_warn("step cache: %s (building here)", err->message);
                cairn_error_free(err);
                rm->from_down[i] = true;
                return 0;
        }
        bool *found = cairn_xzalloc(n * sizeof(bool));
        const char **refs = cairn_xzalloc(n * sizeof(char *));
        char *body = NULL;
        for (size_t k = 0; k < n; k++)
                refs[k] = ids[k];
        size_t planned = 0;
        if (cairn_repo_manifest_head_many(repo, refs, n, found, &err) < 0) {
                cairn_warn("step cache: %s (building here)", err->message);
                cairn_error_free(err);
                rm->from_down[i] = true;
                goto out;
        }
        size_t hit = n;
        for (size_t k = n; k-- > 0;)
                if (found[k]) {
                        hit = k;
                        break;
                }
        if (hit == n)
                goto out;
        size_t len = 0;
        struct remote_layer *ml = NULL;
        size_t nml = 0;
        int r = cairn_repo_manifest_get(repo, ids[hit], &body, &len, NULL, NULL, &err);
        if (r <= 0 || parse_manifest(body, len, &ml, &nml) < 0) {
                cairn_warn("step cache %s: step %.12s: %s (building here)", rm->from[i], ids[hit],
                           r < 0 ? err->message : r == 0 ? "gone" : "not a cairn step manifest");
                cairn_error_free(err);
                goto out;
        }
        const char *why = NULL;
        if (!manifest_fits(rm, ml, nml, base, ids, hit, &why)) {
                note(rm, "---> step cache %s has \"%s\", but %s: building here", rm->from[i], ids[hit], why);
                free(ml);
                goto out;
        }
        /* Download the layers of the steps to pull, several at once; a
         * blob that is missing or corrupt ends the plan below it. */
        size_t first = nml - (hit + 1);
        struct fetch_job job = { .rm = rm, .repo_name = rm->from[i], .layers = ml + first, .n = hit + 1 };
        job.r = cairn_xzalloc(job.n * sizeof(int));
        job.errors = cairn_xzalloc(job.n * sizeof(char *));
        pthread_mutex_init(&job.lock, NULL);
        size_t n_threads = job.n < PULL_PARALLEL ? job.n : PULL_PARALLEL;
        pthread_t threads[PULL_PARALLEL];
        size_t started = 0;
        for (; started < n_threads; started++)
                if (pthread_create(&threads[started], NULL, fetch_worker, &job) != 0)
                        break;
        if (started == 0)
                fetch_worker(&job);
        /* Every thread is joined before the build goes on: a sandbox is
         * never cloned while another thread runs. */
        for (size_t t = 0; t < started; t++)
                pthread_join(threads[t], NULL);
        pthread_mutex_destroy(&job.lock);
        uint64_t bytes = 0;
        for (size_t j = 0; j <= hit; j++) {
                const struct remote_layer *l = &ml[first + j];
                if (job.r[j] <= 0) {
                        cairn_warn("step cache %s: the layer of step %.12s %s: it is a miss", rm->from[i], l->step,
                                   job.errors[j] ? job.errors[j] : "is gone");
                        break;
                }
                rm->plan = cairn_xreallocarray(rm->plan, rm->n_plan + 1, sizeof(*rm->plan));
                struct engine_planned *p = &rm->plan[rm->n_plan++];
                memset(p, 0, sizeof(*p));
                memcpy(p->id, l->step, 65);
                memcpy(p->parent, j ? ids[j - 1] : base, 65);
                p->layer = l->l;
                bytes += l->l.size;
                planned++;
        }
        for (size_t j = 0; j <= hit; j++)
                free(job.errors[j]);
        free(job.errors);
        free(job.r);
        free(ml);
        if (planned) {
                note(rm, "---> step cache %s: %zu step%s to pull (%.1f MiB)", rm->from[i], planned,
                     planned == 1 ? "" : "s", (double) bytes / (1 << 20));
                if (rm->pull_repo)
                        cairn_repo_close(rm->pull_repo);
                rm->pull_repo = TAKE_PTR(repo);
        }
out:
        free(body);
        free(found);
        free(refs);
        if (repo)
                cairn_repo_close(repo);
        return planned;
}

void engine_remote_plan(const struct run *R, const char *base, char (*ids)[65], size_t n)
{
        struct engine_remote *rm = R->remote;
        if (!rm || !rm->n_from || R->e->store->windows)
                return;
        for (size_t i = 0; i < rm->n_from; i++)
                if (!rm->from_down[i] && plan_from(rm, i, base, ids, n) > 0)
                        return;
}

struct engine_planned *engine_remote_planned(const struct run *R, const char *id)
{
        struct engine_remote *rm = R->remote;
        for (size_t i = 0; rm && i < rm->n_plan; i++)
                if (strcmp(rm->plan[i].id, id) == 0)
                        return &rm->plan[i];
        return NULL;
}

/* The log of step id from repo, to fd and the user; a step without one
 * (or a log that cannot be had) gets none. */
static void pull_log(const struct run *R, struct cairn_repo *repo, const char *id, const struct step_log *log)
{
        _cleanup_free_ char *tag = cairn_xasprintf("%s-log", id);
        _cleanup_free_ char *body = NULL, *text = NULL;
        size_t len = 0, tlen = 0;
        struct cairn_error *err = NULL;
        if (!repo || cairn_repo_manifest_get(repo, tag, &body, &len, NULL, NULL, &err) <= 0) {
                cairn_error_free(err);
                return;
        }
        json_t *m = json_loadb(body, len, 0, NULL);
        const char *digest = json_string_value(json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest"));
        if (digest && cairn_digest_valid(digest) &&
            cairn_repo_blob_get_mem(repo, digest, MAX_LOG_BYTES, &text, &tlen, &err) > 0) {
                struct output_sink sink = { R, log->log_fd, log->live_fd };
                engine_sink_output(text, tlen, &sink);
        }
        cairn_error_free(err);
        json_decref(m);
}

int engine_remote_pull_step(const struct run *R, struct cairn_store_build *b, const struct step_log *log, void *arg,
                            struct cairn_error **err)
{
        struct engine_remote *rm = R->remote;
        struct engine_planned *p = arg;
        pull_log(R, rm->pull_repo, p->id, log);
        _cleanup_close_ int rootfd = open(b->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", b->rootfs);
        uint64_t dropped = 0;
        int r = cairn_image_unpack_layer(rm->blob_root, rootfd, 0, p->layer.digest, &dropped, err);
        if (r < 0)
                return cairn_error_prefix(err, "step cache %s: step %.12s", rm->pull_repo ? cairn_repo_name(rm->pull_repo) : "", p->id);
        engine_emit(R, CAIRN_LOG_NOTE, "---> pulled from %s", rm->pull_repo ? cairn_repo_name(rm->pull_repo) : "the step cache");
        return 0;
}

void engine_remote_done(const struct run *R, const char *id, struct engine_planned *p)
{
        struct engine_remote *rm = R->remote;
        if (p) {
                struct cairn_error *err = NULL;
                struct cairn_db *db = engine_db(R->e, &err);
                if (!db || cairn_db_layers_set(db, id, &p->layer, 1, &err) < 0) {
                        cairn_warn("cannot record the layer of \"%s\": %s", id, err->message);
                        cairn_error_free(err);
                }
                rm->pulled++;
                return;
        }
        if (rm->to)
                queue_push(rm, id);
}

/* --- a build's step cache -------------------------------------------------------------- */

static void remote_free(struct engine_remote *rm)
{
        if (!rm)
                return;
        if (rm->pull_repo)
                cairn_repo_close(rm->pull_repo);
        cairn_strv_free(rm->from);
        free(rm->from_down);
        free(rm->to);
        free(rm->blob_root);
        free(rm->plan);
        for (size_t i = 0; i < rm->n_queue; i++)
                free(rm->queue[i]);
        free(rm->queue);
        free(rm->push_error);
        free(rm);
}

static struct engine_remote *remote_new(struct cairn_engine *e, const struct cairn_registry_options *reg,
                                        cairn_log_fn *log, void *ud)
{
        struct engine_remote *rm = cairn_xzalloc(sizeof(*rm));
        rm->e = e;
        rm->reg = reg;
        rm->log = log;
        rm->log_ud = ud;
        rm->blob_root = cairn_xstrdup(e->store->root);
        return rm;
}

static int check_store(struct cairn_engine *e, struct cairn_error **err)
{
        if (e->store->windows)
                return cairn_error_set(err, -EOPNOTSUPP,
                                       "the registry step cache (--cache-from, --cache-to) is not supported on hcs "
                                       "stores yet: Windows layers need their own diff and extraction");
        return 0;
}

int engine_remote_open(struct run *R, struct cairn_error **err)
{
        const struct cairn_build_request *q = R->req;
        const struct cairn_engine_config *cf = &R->e->config;
        bool own = q->n_cache_from || q->cache_to;
        if (!own && (q->no_remote_cache || (!cf->cache_from && !cf->cache_to)))
                return 0;
        int r = check_store(R->e, err);
        if (r < 0)
                return r;
        struct engine_remote *rm = remote_new(R->e, q->registry, q->log, q->log_userdata);
        if (q->n_cache_from) {
                rm->from = cairn_xzalloc((q->n_cache_from + 1) * sizeof(char *));
                for (size_t i = 0; i < q->n_cache_from; i++)
                        rm->from[rm->n_from++] = cairn_xstrdup(q->cache_from[i]);
        } else if (!q->no_remote_cache && cf->cache_from) {
                for (char **p = cf->cache_from; *p; p++) {
                        rm->from = cairn_xreallocarray(rm->from, rm->n_from + 2, sizeof(char *));
                        rm->from[rm->n_from++] = cairn_xstrdup(*p);
                        rm->from[rm->n_from] = NULL;
                }
        }
        if (q->cache_to)
                rm->to = cairn_xstrdup(q->cache_to);
        else if (!q->no_remote_cache && cf->cache_to)
                rm->to = cairn_xstrdup(cf->cache_to);
        rm->share_secrets = q->share_secret_steps || cf->share_secret_steps;
        rm->from_down = cairn_xzalloc((rm->n_from + 1) * sizeof(bool));
        R->remote = rm;
        return 0;
}

void engine_remote_close(struct run *R)
{
        struct engine_remote *rm = R->remote;
        if (!rm)
                return;
        finish_pushes(rm, R->req->cancel && *R->req->cancel);
        if (rm->to && rm->n_queue) {
                struct cairn_buf b = CAIRN_BUF_INIT;
                cairn_buf_printf(&b, "---> step cache %s: %u pushed, %u already there", rm->to, rm->pushed,
                                 rm->push_present);
                if (rm->push_secret)
                        cairn_buf_printf(&b, ", %u not pushed (secrets; --share-secret-steps)", rm->push_secret);
                if (rm->push_failed)
                        cairn_buf_printf(&b, ", %u failed", rm->push_failed);
                note(rm, "%s", cairn_buf_str(&b));
                cairn_buf_release(&b);
                if (rm->push_failed)
                        cairn_warn("step cache %s: %u push%s failed (the build itself is done and kept here): %s",
                                   rm->to, rm->push_failed, rm->push_failed == 1 ? "" : "es", rm->push_error);
        }
        struct cairn_error *ignored = NULL;
        struct cairn_db *db = rm->pulled || rm->pushed || rm->push_failed ? engine_db(R->e, &ignored) : NULL;
        if (db && rm->pulled && cairn_db_stat_add(db, "remote_pulls", rm->pulled, &ignored) < 0)
                cairn_error_free(TAKE_PTR(ignored));
        if (db && rm->pushed && cairn_db_stat_add(db, "remote_pushes", rm->pushed, &ignored) < 0)
                cairn_error_free(TAKE_PTR(ignored));
        if (db && rm->push_failed && cairn_db_stat_add(db, "remote_push_failures", rm->push_failed, &ignored) < 0)
                cairn_error_free(TAKE_PTR(ignored));
        cairn_error_free(ignored);
        remote_free(rm);
        R->remote = NULL;
}

/* --- by hand: cairn cache push / pull ---------------------------------------------------- */

int cairn_engine_cache_push(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, bool share_secrets, cairn_log_fn *log, void *ud,
                            struct cairn_error **err)
{
        int r = check_store(e, err);
        if (r < 0)
                return r;
        char *dir = NULL;
        if ((r = cairn_store_result(e->store, id, &dir, err)) <= 0)
                return r < 0 ? r : cairn_error_set(err, -ENOENT, "no step \"%s\" in the store", id);
        free(dir);
        struct engine_remote *rm = remote_new(e, reg, log, ud);
        rm->to = cairn_xstrdup(repo);
        rm->share_secrets = share_secrets;
        struct pusher p;
        r = pusher_open(rm, &p, err);
        if (r >= 0)
                r = push_one(rm, p.repo, p.db, p.lock_fd, id, err);
        if (r == 2)
                r = cairn_error_set(err, -EPERM,
                                    "step \"%s\" mounted secrets, or is built on one that did: not pushed (its layer "
                                    "may hold them; --share-secret-steps pushes it anyway)", id);
        else if (r == 1)
                note(rm, "pushed %s:%s", repo, id);
        else if (r == 0)
                note(rm, "%s:%s is there already", repo, id);
        pusher_close(&p);
        remote_free(rm);
        return r < 0 ? r : 0;
}

int cairn_engine_cache_pull(struct cairn_engine *e, const char *id, const char *repo,
                            const struct cairn_registry_options *reg, cairn_log_fn *log, void *ud,
                            struct cairn_error **err)
{
        int r = check_store(e, err);
        if (r < 0)
                return r;
        struct cairn_db *db = engine_db(e, err);
        if (!db)
                return -EIO;
        char *dir = NULL;
        if ((r = cairn_store_result(e->store, id, &dir, err)) != 0) {
                free(dir);
                if (r > 0 && log)
                        log(CAIRN_LOG_NOTE, "in the store already\n", 22, ud);
                return r < 0 ? r : 0;
        }
        struct cairn_build_request req = { .log = log, .log_userdata = ud, .registry = reg };
        bool warned = false;
        struct run R = { e, &req, .volume_warned = &warned };
        struct engine_remote *rm = remote_new(e, reg, log, ud);
        R.remote = rm;
        r = cairn_repo_open(repo, false, reg, &rm->pull_repo, err);
        _cleanup_free_ char *body = NULL;
        size_t len = 0, nml = 0;
        struct remote_layer *ml = NULL;
        if (r >= 0 && (r = cairn_repo_manifest_get(rm->pull_repo, id, &body, &len, NULL, NULL, err)) == 0)
                r = cairn_error_set(err, -ENOENT, "%s has no step \"%s\"", repo, id);
        if (r > 0 && parse_manifest(body, len, &ml, &nml) < 0)
                r = cairn_error_set(err, -EBADMSG, "%s:%s is not a cairn step manifest", repo, id);
        json_t *mj = r > 0 ? json_loadb(body, len, 0, NULL) : NULL;
        const char *base_ref = json_string_value(json_object_get(json_object_get(mj, "annotations"),
                                                                 "dev.cairn.base.ref"));
        /* The deepest step of the chain the store has, with the same
         * layers, and the steps after it, one at a time. */
        char parent[65] = "";
        for (size_t i = 0; r > 0 && i < nml;) {
                size_t j = i;
                while (j < nml && strcmp(ml[j].step, ml[i].step) == 0)
                        j++;
                const char *step = ml[i].step;
                if (cairn_store_result(e->store, step, &dir, NULL) > 0) {
                        free(dir);
                        dir = NULL;
                        struct cairn_db_layer *l = NULL;
                        size_t nl = 0;
                        bool same = recorded_layers(rm, db, step, i == 0, &l, &nl) && nl == j - i;
                        for (size_t x = 0; same && x < nl; x++)
                                same = strcmp(l[x].digest, ml[i + x].l.digest) == 0;
                        free(l);
                        if (!same) {
                                r = cairn_error_set(err, -EEXIST,
                                                    "step \"%s\" of its chain is in the store, but not the one %s "
                                                    "has: not pulled (a layer made on another result of a step is "
                                                    "never applied on this one)", step, repo);
                                break;
                        }
                        memcpy(parent, step, 65);
                        i = j;
                        continue;
                }
                if (i == 0 && base_ref) {
                        /* The base the chain starts at: made here from its
                         * image (pulled if need be), then compared as any
                         * local step. */
                        char base_id[65];
                        cairn_base_id(base_ref, base_id);
                        struct ctx c;
                        engine_ctx_init(&c, e);
                        int b = strcmp(base_id, step) == 0 ? engine_get_base(&R, base_ref, &c, base_id, err)
                                                             : cairn_error_set(err, -EBADMSG,
                                                                               "%s:%s names base \"%s\", which is not "
                                                                               "its first step", repo, id, base_ref);
                        engine_ctx_clear(&c);
                        if (b < 0) {
                                r = b;
                                break;
                        }
                        base_ref = NULL;   /* once */
                        continue;
                }
                if (j - i != 1 || !parent[0]) {
                        r = cairn_error_set(err, -EOPNOTSUPP,
                                            "the base of %s:%s is not in the store: pull or import its image first",
                                            repo, id);
                        break;
                }
                int g = cairn_repo_blob_get(rm->pull_repo, rm->blob_root, ml[i].l.digest, MAX_LAYER_BYTES, err);
                if (g == 0)
                        g = cairn_error_set(err, -ENOENT, "%s: the layer %s is gone", repo, ml[i].l.digest);
                if (g < 0) {
                        r = g;
                        break;
                }
                struct engine_planned p = { .layer = ml[i].l };
                memcpy(p.id, step, 65);
                memcpy(p.parent, parent, 65);
                rm->plan = &p;
                rm->n_plan = 1;
                /* No context: the spec that made it is not known here. */
                int b = engine_get_or_build(&R, parent, step, engine_remote_pull_step, &p, NULL, false, err);
                rm->plan = NULL;
                rm->n_plan = 0;
                if (b >= 0)
                        b = cairn_db_layers_set(db, step, &p.layer, 1, err);
                if (b < 0) {
                        r = b;
                        break;
                }
                memcpy(parent, step, 65);
                i = j;
        }
        engine_flush_hits(e);
        json_decref(mj);
        free(ml);
        remote_free(rm);
        return r < 0 ? r : 0;
}
