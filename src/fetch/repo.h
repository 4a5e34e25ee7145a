/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One repository of an OCI / Docker registry (HTTP API v2), read and
 * written: manifests and blobs by digest, tags, deletes.  The step cache
 * keeps one image manifest per build step in such a repository, tagged
 * with the step ID (docs/design: step-cache).
 *
 * Authentication is registry.c's (registry-http.h): Basic with
 * credentials, or Bearer tokens for repository:PATH:pull (and push when
 * opened for it), renewed when they expire.  Plain HTTP is used only for
 * loopback registries and the ones named insecure, and a password goes
 * over it only to loopback.  Transient failures (5xx, 429, a cut
 * transfer) are retried with back-off, but a registry that cannot be
 * reached fails within seconds: callers treat that as a miss.
 *
 * Every function returns < 0 with *err set on failure; its message starts
 * with "HOST/PATH: ".  "Not there" (404) is a return value, 0, not an
 * error.  Strings returned through ret_* are the caller's, to free().
 */
#ifndef CAIRN_FETCH_REPO_H
#define CAIRN_FETCH_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "fetch/registry.h"

/* Media types the step cache writes. */
#define CAIRN_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CAIRN_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* One thread at a time; open one per thread. */
struct cairn_repo;

/*
 * Connect to the repository name, "HOST[:PORT]/PATH" (no tag or digest),
 * and authenticate: for pull, and push too when push is set.  o (borrowed:
 * it, its strings and its log must outlive the repo; may be NULL for the
 * defaults) gives the credentials, the insecure registries and a log for
 * retries.  *ret is the caller's, for cairn_repo_close.
 */
int cairn_repo_open(const char *name, bool push, const struct cairn_registry_options *o, struct cairn_repo **ret,
                    struct cairn_error **err);
/* NULL is fine. */
void cairn_repo_close(struct cairn_repo *r);
/* "HOST/PATH", for messages; r's, valid until it is closed. */
const char *cairn_repo_name(const struct cairn_repo *r);

/*
 * HEAD the manifest ref (a tag or "sha256:..."): 1 when it is there, with
 * *ret_digest from Docker-Content-Digest (may pass NULL; NULL if the
 * registry sent none); 0 when absent (404).
 */
int cairn_repo_manifest_head(struct cairn_repo *r, const char *ref, char **ret_digest, struct cairn_error **err);

/*
 * The same for refs[0..n) at once (up to 16 requests in flight):
 * ret_found[i] (caller's array of n) says whether refs[i] is there.  0, or
 * < 0 if any answer is neither 200 nor 404 (ret_found is then undefined).
 */
int cairn_repo_manifest_head_many(struct cairn_repo *r, const char *const *refs, size_t n, bool *ret_found,
                                  struct cairn_error **err);

/*
 * GET the manifest ref, accepting an OCI image manifest or a Docker schema
 * 2 one: 1 with *ret_body (NUL-terminated, at most 4 MiB; *ret_len bytes
 * without the NUL), *ret_digest (its sha256, computed; a digest ref must
 * match it: -EBADMSG otherwise) and *ret_media_type (Content-Type); any
 * out-parameter but ret_body may be NULL.  0 when absent.
 */
int cairn_repo_manifest_get(struct cairn_repo *r, const char *ref, char **ret_body, size_t *ret_len,
                            char **ret_digest, char **ret_media_type, struct cairn_error **err);

/*
 * PUT body (len bytes, of media_type) as the manifest tag (or its digest):
 * 0 with *ret_digest (may be NULL), the sha256 of body.  Its blobs must be
 * in the repository first (the registry refuses the manifest otherwise).
 */
int cairn_repo_manifest_put(struct cairn_repo *r, const char *tag, const char *media_type, const char *body,
                            size_t len, char **ret_digest, struct cairn_error **err);

/*
 * DELETE the manifest digest ("sha256:...") and so every tag on it: 1, or 0
 * when absent.  A registry without deletes enabled is -EPERM, saying so.
 */
int cairn_repo_manifest_delete(struct cairn_repo *r, const char *digest, struct cairn_error **err);

/* HEAD the blob digest: 1 present, 0 absent. */
int cairn_repo_blob_head(struct cairn_repo *r, const char *digest, struct cairn_error **err);

/*
 * Upload the file at path as blob digest, size bytes, unless the registry
 * has it (HEAD first): a monolithic upload (POST, then PUT ?digest= with
 * the file's bytes).  1 if uploaded, 0 if it was there.  A file of another
 * size is -EINVAL; content that does not match digest is refused by the
 * registry (-EBADMSG).
 */
int cairn_repo_blob_put_file(struct cairn_repo *r, const char *path, const char *digest, uint64_t size,
                             struct cairn_error **err);

/* Upload len bytes of data the same way: 1 uploaded, 0 there already;
 * *ret_digest (may be NULL) is their digest. */
int cairn_repo_blob_put_data(struct cairn_repo *r, const void *data, size_t len, char **ret_digest,
                             struct cairn_error **err);

/*
 * GET blob digest into the blob store under blob_root (fetch/image.h),
 * verified against the digest before it is published there: 1 when stored
 * (or there already), 0 when the registry does not have it (404).  A blob
 * that does not match its digest is -EBADMSG, one larger than max_size is
 * -EFBIG; either way nothing of it stays in the store.
 */
int cairn_repo_blob_get(struct cairn_repo *r, const char *blob_root, const char *digest, uint64_t max_size,
                        struct cairn_error **err);

/* A small blob (a config, a log) into memory, verified the same way: 1 with
 * *ret (NUL-terminated) and *ret_len (may be NULL), 0 absent, < 0 (-EFBIG
 * past max bytes, -EBADMSG for a digest mismatch). */
int cairn_repo_blob_get_mem(struct cairn_repo *r, const char *digest, size_t max, char **ret, size_t *ret_len,
                            struct cairn_error **err);

/*
 * All tags of the repository (GET /v2/PATH/tags/list, page after page as
 * its Link header says): 0 with *ret, NULL-terminated (free with
 * cairn_strv_free), in the registry's order.  An empty or unknown
 * repository gives an empty list.
 */
int cairn_repo_tags(struct cairn_repo *r, char ***ret, struct cairn_error **err);

#endif
