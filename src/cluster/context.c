/* SPDX-License-Identifier: Apache-2.0 */
/* Build contexts and sealed secrets of cluster jobs (cluster/context.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/tar.h"
#include "cluster/cluster-internal.h"
#include "cluster/context.h"
#include "cluster/seal.h"
#include "fetch/extract.h"
#include "fetch/image.h"
#include "fetch/repo.h"

/* PREFIX.XXXXXX in $TMPDIR, or /tmp, for mkdtemp (which makes it 0700). */
static char *tmp_template(const char *prefix)
{
        const char *t = getenv("TMPDIR");
        return cairn_xasprintf("%s/%s.XXXXXX", t && t[0] == '/' ? t : "/tmp", prefix);
}

/* --- packing ------------------------------------------------------------------------- */

struct inode_seen {
        dev_t dev;
        ino_t ino;
        char *path;
};

struct packer {
        struct archive *a;
        struct inode_seen *links;
        size_t n_links;
        uint64_t entries;
        struct cairn_error **err;
};

static int cmp_names(const void *x, const void *y)
{
        return strcmp(*(char *const *) x, *(char *const *) y);
}

static struct archive_entry *entry_for(const char *path, const struct stat *st, unsigned type)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, st->st_mode & 07777);
        /* Owners are not part of a context: a copy gives its files the
         * step's user. */
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        return e;
}

static int write_header(struct packer *p, struct archive_entry *e, const char *path)
{
        int r = cairn_tar_write_header(p->a, e);
        archive_entry_free(e);
        if (r != ARCHIVE_OK)
                return cairn_error_set(p->err, -EIO, "\"%s\": %s", path, archive_error_string(p->a));
        p->entries++;
        return 0;
}

static int pack_file(struct packer *p, int dirfd, const char *name, const char *path, const struct stat *st)
{
        if (st->st_nlink > 1) {
                for (size_t i = 0; i < p->n_links; i++)
                        if (p->links[i].dev == st->st_dev && p->links[i].ino == st->st_ino) {
                                struct archive_entry *e = entry_for(path, st, AE_IFREG);
                                archive_entry_set_hardlink(e, p->links[i].path);
                                archive_entry_set_size(e, 0);
                                return write_header(p, e, path);
                        }
                p->links = cairn_xreallocarray(p->links, p->n_links + 1, sizeof(*p->links));
                p->links[p->n_links++] = (struct inode_seen) { st->st_dev, st->st_ino, cairn_xstrdup(path) };
        }
        /* O_NONBLOCK: a file swapped for a FIFO since the fstatat does
         * not hang the open; the fstat below then refuses it. */
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(p->err, errno, "\"%s\"", path);
        struct stat now;
        if (fstat(fd, &now) < 0)
                return cairn_error_set_errno(p->err, errno, "\"%s\"", path);
        if (!S_ISREG(now.st_mode) || now.st_ino != st->st_ino || now.st_dev != st->st_dev)
                return cairn_error_set(p->err, -EAGAIN, "\"%s\" changed while it was packed", path);
        struct archive_entry *e = entry_for(path, st, AE_IFREG);
        archive_entry_set_size(e, st->st_size);
        int r = write_header(p, e, path);
        if (r < 0)
                return r;
        char buf[65536];
        int64_t left = st->st_size;
        while (left > 0) {
                ssize_t n = read(fd, buf, sizeof(buf) < (uint64_t) left ? sizeof(buf) : (size_t) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return cairn_error_set_errno(p->err, errno, "reading \"%s\"", path);
                if (n == 0)
                        return cairn_error_set(p->err, -EAGAIN, "\"%s\" changed while it was packed", path);
                if (archive_write_data(p->a, buf, (size_t) n) != n)
                        return cairn_error_set(p->err, -EIO, "\"%s\": %s", path, archive_error_string(p->a));
                left -= n;
        }
        return 0;
}

/* Pack the entries of the directory dirfd, whose path in the archive is
 * prefix ("" for the top), sorted bytewise. */
static int pack_dir(struct packer *p, int dirfd, const char *prefix)
{
        int copy = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
        if (!d) {
                if (copy >= 0)
                        close(copy);
                return cairn_error_set_errno(p->err, errno, "\"%s\"", prefix[0] ? prefix : ".");
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                names = cairn_xreallocarray(names, n + 1, sizeof(*names));
                names[n++] = cairn_xstrdup(de->d_name);
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof(*names), cmp_names);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *path = prefix[0] ? cairn_xasprintf("%s/%s", prefix, names[i])
                                                      : cairn_xstrdup(names[i]);
                struct stat st;
                if (strncmp(names[i], ".wh.", 4) == 0) {
                        r = cairn_error_set(p->err, -EINVAL, "\"%s\": names starting with \".wh.\" cannot travel "
                                            "in a context (they are layer whiteouts)", path);
                } else if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = cairn_error_set_errno(p->err, errno, "\"%s\"", path);
                } else if (S_ISREG(st.st_mode)) {
                        r = pack_file(p, dirfd, names[i], path, &st);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX + 1];
                        ssize_t tl = readlinkat(dirfd, names[i], target, sizeof(target) - 1);
                        if (tl < 0) {
                                r = cairn_error_set_errno(p->err, errno, "\"%s\"", path);
                        } else {
                                target[tl] = 0;
                                struct archive_entry *e = entry_for(path, &st, AE_IFLNK);
                                archive_entry_set_perm(e, 0777);
                                archive_entry_set_symlink(e, target);
                                r = write_header(p, e, path);
                        }
                } else if (S_ISDIR(st.st_mode)) {
                        r = write_header(p, entry_for(path, &st, AE_IFDIR), path);
                        _cleanup_close_ int sub = r < 0 ? -1
                                                        : openat(dirfd, names[i],
                                                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (r >= 0 && sub < 0)
                                r = cairn_error_set_errno(p->err, errno, "\"%s\"", path);
                        else if (r >= 0)
                                r = pack_dir(p, sub, path);
                }
                /* Sockets, FIFOs and devices are skipped: cairn build
                 * refuses to copy them ("Not a regular file"). */
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/* Pack dir into the file at out (a gzip'd tar). */
static int pack(const char *dir, const char *out, struct cairn_error **err)
{
        int r = cairn_tar_load(err);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return cairn_error_set_errno(err, errno, "context \"%s\"", dir);
        struct packer p = { .a = archive_write_new(), .err = err };
        archive_write_set_format_pax(p.a);
        archive_write_add_filter_gzip(p.a);
        /* No time in the gzip header: the same directory, the same digest. */
        if (archive_write_set_filter_option(p.a, "gzip", "timestamp", NULL) < ARCHIVE_WARN ||
            archive_write_open_filename(p.a, out) != ARCHIVE_OK) {
                r = cairn_error_set(err, -EIO, "context archive: %s", archive_error_string(p.a));
        } else {
                r = pack_dir(&p, dfd, "");
                if (r >= 0 && archive_write_close(p.a) != ARCHIVE_OK)
                        r = cairn_error_set(err, -EIO, "context archive: %s", archive_error_string(p.a));
        }
        archive_write_free(p.a);
        for (size_t i = 0; i < p.n_links; i++)
                free(p.links[i].path);
        free(p.links);
        if (r < 0)
                cairn_error_prefix(err, "context \"%s\"", dir);
        return r;
}

static int digest_file(const char *path, char ret[8 + CAIRN_SHA256_HEX_LEN], uint64_t *ret_size,
                       struct cairn_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "\"%s\"", path);
        struct cairn_sha256 h;
        cairn_sha256_init(&h);
        char buf[65536];
        uint64_t size = 0;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        char hex[CAIRN_SHA256_HEX_LEN + 1];
                        cairn_sha256_final_hex(&h, hex);
                        return cairn_error_set_errno(err, errno, "reading \"%s\"", path);
                }
                cairn_sha256_update(&h, buf, (size_t) n);
                size += (uint64_t) n;
        }
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&h, hex);
        snprintf(ret, 8 + CAIRN_SHA256_HEX_LEN, "sha256:%s", hex);
        *ret_size = size;
        return 0;
}

int cairn_cluster_context_upload(const char *dir, const char *repo, char **ret_json, bool *ret_uploaded,
                                 struct cairn_error **err)
{
        _cleanup_free_ char *tmpdir = tmp_template("cairn-context");
        if (!mkdtemp(tmpdir))
                return cairn_error_set_errno(err, errno, "context: a temporary directory in \"%s\"", tmpdir);
        _cleanup_free_ char *tgz = cairn_xasprintf("%s/context.tar.gz", tmpdir);
        char digest[8 + CAIRN_SHA256_HEX_LEN];
        uint64_t size = 0;
        struct cairn_repo *r = NULL;
        int ret = pack(dir, tgz, err);
        if (ret >= 0)
                ret = digest_file(tgz, digest, &size, err);
        if (ret >= 0)
                ret = cairn_repo_open(repo, true, NULL, &r, err);
        if (ret >= 0) {
                /* put_file HEADs first: an identical context is uploaded once. */
                ret = cairn_repo_blob_put_file(r, tgz, digest, size, err);
                if (ret >= 0) {
                        if (ret_uploaded)
                                *ret_uploaded = ret == 1;
                        json_t *j = json_pack("{s:s, s:s, s:I}", "repo", repo, "blob", digest, "size", (json_int_t) size);
                        *ret_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
                        json_decref(j);
                        ret = 0;
                } else {
                        cairn_error_prefix(err, "context: uploading to \"%s\"", repo);
                }
        }
        cairn_repo_close(r);
        unlink(tgz);
        rmdir(tmpdir);
        return ret;
}

/* --- in the build child -------------------------------------------------------------- */

static int fetch_context(const char *json, struct cairn_cluster_job_inputs *in, struct cairn_error **err)
{
        json_error_t je;
        json_t *j = json_loads(json, 0, &je);
        const char *repo = json_string_value(json_object_get(j, "repo"));
        const char *blob = json_string_value(json_object_get(j, "blob"));
        json_int_t size = json_integer_value(json_object_get(j, "size"));
        int r = 0;
        struct cairn_repo *rp = NULL;
        _cleanup_free_ char *blobs = NULL, *path = NULL;
        _cleanup_close_ int rootfd = -1;
        if (!repo || !blob || strncmp(blob, "sha256:", 7) != 0 || !cairn_is_sha256_hex(blob + 7) || size < 0) {
                r = cairn_error_set(err, -EBADMSG, "the job's context record is malformed");
                goto out;
        }
        if ((uint64_t) size > CAIRN_CLUSTER_CONTEXT_MAX) {
                r = cairn_error_set(err, -EFBIG, "context %s is larger than %" PRIu64 " bytes", blob,
                                    CAIRN_CLUSTER_CONTEXT_MAX);
                goto out;
        }
        blobs = cairn_xasprintf("%s/blobs", in->tmp);
        if ((r = cairn_repo_open(repo, false, NULL, &rp, err)) < 0)
                goto out;
        /* The size recorded bounds the download; the digest is checked
         * before the blob is published in the private blob store. */
        r = cairn_repo_blob_get(rp, blobs, blob, (uint64_t) size, err);
        if (r == 0)
                r = cairn_error_set(err, -ENOENT, "the context blob %s is missing from %s", blob, repo);
        if (r < 0)
                goto out;
        path = cairn_blob_path(blobs, blob);
        in->context_dir = cairn_xasprintf("%s/context", in->tmp);
        if (mkdir(in->context_dir, 0755) < 0) {
                r = cairn_error_set_errno(err, errno, "\"%s\"", in->context_dir);
                goto out;
        }
        rootfd = open(in->context_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                r = cairn_error_set_errno(err, errno, "\"%s\"", in->context_dir);
                goto out;
        }
        struct cairn_extract_limits limits = CAIRN_EXTRACT_DEFAULT_LIMITS;
        r = cairn_extract_layer(rootfd, path, &limits, NULL, err);
        if (r >= 0)
                in->note = cairn_xasprintf("cairn: context %s (%" PRId64 " bytes) from %s", blob, (int64_t) size,
                                           repo);
        unlink(path);
out:
        if (r < 0)
                cairn_error_prefix(err, "context");
        cairn_repo_close(rp);
        json_decref(j);
        return r;
}

int cairn_cluster_job_inputs_prepare(struct cairn_cluster *c, const char *pool, const char *pool_key_file,
                                     const char *id, const char *worker, const char *incarnation, const char *attempt,
                                     struct cairn_cluster_job_inputs *in, struct cairn_error **err)
{
        *in = (struct cairn_cluster_job_inputs) { 0 };
        _cleanup_free_ char *tmp = tmp_template("cairn-job");
        if (!mkdtemp(tmp))
                return cairn_error_set_errno(err, errno, "a private directory for the job in \"%s\"", tmp);
        in->tmp = TAKE_PTR(tmp);
        const char *p[] = { id, worker, incarnation, attempt };
        PGresult *q = PQexecParams(c->pg,
                                   "SELECT context::text, secrets FROM jobs WHERE id = $1::bigint AND worker = $2"
                                   " AND worker_incarnation = $3::bigint AND attempt = $4::int AND state = 'running'",
                                   4, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(q) != PGRES_TUPLES_OK || PQntuples(q) != 1) {
                int r = cairn_error_set(err, -EIO, "reading the job's inputs: %s",
                                        PQresultStatus(q) == PGRES_TUPLES_OK ? "the job is no longer this attempt's"
                                                                             : PQresultErrorMessage(q));
                PQclear(q);
                return r;
        }
        int r = 0;
        if (!PQgetisnull(q, 0, 0)) {
                _cleanup_free_ char *json = cairn_xstrndup(PQgetvalue(q, 0, 0), (size_t) PQgetlength(q, 0, 0));
                r = fetch_context(json, in, err);
        }
        if (r >= 0 && !PQgetisnull(q, 0, 1)) {
                if (!pool_key_file)
                        r = cairn_error_set(err, -ENOKEY, "this worker has no key for pool \"%s\": start it with "
                                            "--pool-key (made by 'cairn cluster keygen')", pool);
                else
                        r = cairn_unseal_secrets(pool_key_file, pool, (const unsigned char *) PQgetvalue(q, 0, 1),
                                                 (size_t) PQgetlength(q, 0, 1), &in->secrets, &in->n_secrets, err);
                if (r < 0)
                        cairn_error_prefix(err, "secrets");
        }
        PQclear(q);
        if (!in->context_dir) {
                /* No context: an empty directory. */
                in->context_dir = cairn_xasprintf("%s/context", in->tmp);
                if (r >= 0 && mkdir(in->context_dir, 0755) < 0)
                        r = cairn_error_set_errno(err, errno, "\"%s\"", in->context_dir);
        }
        return r;
}

void cairn_cluster_job_inputs_release(struct cairn_cluster_job_inputs *in)
{
        if (in->tmp)
                cairn_rm_rf(in->tmp, NULL);
        free(in->tmp);
        free(in->context_dir);
        free(in->note);
        cairn_seal_secrets_free(in->secrets, in->n_secrets);
        *in = (struct cairn_cluster_job_inputs) { 0 };
}

/* --- pool keys ------------------------------------------------------------ */

int cairn_cluster_pool_key(struct cairn_cluster *c, const char *pool, unsigned char ret_key[32],
                           struct cairn_error **err)
{
        const char *p[] = { pool };
        PGresult *r = PQexecParams(c->pg, "SELECT public_key FROM pool_keys WHERE pool = $1", 1, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                cairn_error_set(err, -EIO, "pool key: %s", PQresultErrorMessage(r));
                PQclear(r);
                return -EIO;
        }
        int found = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 32;
        if (found)
                memcpy(ret_key, PQgetvalue(r, 0, 0), 32);
        PQclear(r);
        return found;
}

int cairn_cluster_set_pool_key(struct cairn_cluster *c, const char *pool, const unsigned char key[32], bool rotate,
                               struct cairn_error **err)
{
        const char *p[] = { pool, (const char *) key };
        int lens[] = { 0, 32 };
        int fmts[] = { 0, 1 };
        PGresult *r = PQexecParams(c->pg,
                                   rotate ? "INSERT INTO pool_keys (pool, public_key) VALUES ($1, $2)"
                                            " ON CONFLICT (pool) DO UPDATE SET public_key = EXCLUDED.public_key,"
                                            " created_at = now()"
                                          : "INSERT INTO pool_keys (pool, public_key) VALUES ($1, $2)"
                                            " ON CONFLICT (pool) DO NOTHING",
                                   2, NULL, p, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                cairn_error_set(err, -EIO, "pool key: %s", PQresultErrorMessage(r));
                PQclear(r);
                return -EIO;
        }
        int done = atol(PQcmdTuples(r)) == 1;
        PQclear(r);
        return done;
}
