/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Build contexts and sealed secrets of cluster jobs (docs/cluster.md).
 *
 * A context travels as one content-addressed blob in a registry
 * repository: a deterministic gzip'd tar of the directory (names sorted
 * bytewise, owners 0:0 and no user names, modes with setuid/setgid/sticky,
 * mtimes to the nanosecond, symlinks, hard links, empty directories; no
 * gzip timestamp), so that an identical directory gives the same digest
 * and is uploaded once.  The job records {"repo":R,"blob":"sha256:..",
 * "size":N} in jobs.context; the worker's build child fetches the blob,
 * verified against its digest and size, and unpacks it with the layer
 * extractor (fetch/extract.h: no "..", no absolute names, nothing outside
 * the directory) into a private directory it removes after the build.
 *
 * Secrets are sealed to the pool's X25519 public key (cluster/seal.h) and
 * stored in jobs.secrets, which the schema wipes when the job ends.
 */
#ifndef CAIRN_CLUSTER_CONTEXT_H
#define CAIRN_CLUSTER_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "cluster/cluster.h"
#include "engine/engine.h"

/* The largest context blob a worker fetches. */
#define CAIRN_CLUSTER_CONTEXT_MAX (UINT64_C(8) << 30)

/*
 * Pack dir and upload it to the repository repo ("HOST[:PORT]/PATH"),
 * unless the registry has that blob already (HEAD first).  *ret_json is
 * what jobs.context holds (the caller's, to free); *ret_uploaded (may be
 * NULL) says whether it was PUT.  Files, directories and symlinks are
 * packed; sockets, FIFOs and devices are skipped (cairn build refuses to
 * copy them anyway).  A name starting with ".wh." is refused: the
 * extractor would take it for a whiteout.
 */
int cairn_cluster_context_upload(const char *dir, const char *repo, char **ret_json, bool *ret_uploaded,
                                 struct cairn_error **err);

/* The jobs' inputs in a build child: the context unpacked, the secrets
 * unsealed (in memory only). */
struct cairn_cluster_job_inputs {
        char *tmp;                     /* private directory holding the context and its blob; removed by release */
        char *context_dir;             /* the context to build with (inside tmp) */
        struct cairn_secret *secrets;  /* n_secrets; ids and values owned, values wiped by release */
        size_t n_secrets;
        char *note;                    /* a line for the job's log, or NULL */
};

/*
 * Read job id's context and sealed secrets (only while this worker's
 * attempt holds it), fetch and unpack the context, unseal the secrets with
 * the key in pool_key_file (NULL: this worker has none).  On failure *err
 * says why in words fit for the job's error; in every case call
 * cairn_cluster_job_inputs_release after.
 */
int cairn_cluster_job_inputs_prepare(struct cairn_cluster *c, const char *pool, const char *pool_key_file,
                                     const char *id, const char *worker, const char *incarnation, const char *attempt,
                                     struct cairn_cluster_job_inputs *in, struct cairn_error **err);
void cairn_cluster_job_inputs_release(struct cairn_cluster_job_inputs *in);

/* The pool's public key: 1 with ret_key filled, 0 when it has none. */
int cairn_cluster_pool_key(struct cairn_cluster *c, const char *pool, unsigned char ret_key[32],
                           struct cairn_error **err);
/* Record key as pool's public key: 1 done, 0 when the pool has a key and
 * rotate is false. */
int cairn_cluster_set_pool_key(struct cairn_cluster *c, const char *pool, const unsigned char key[32], bool rotate,
                               struct cairn_error **err);

#endif
