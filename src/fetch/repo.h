/* SPDX-License-Identifier: Apache-2.0 */
/* TEMPORARY stub of the interface being written on branch repo-client. */
#ifndef CAIRN_FETCH_REPO_H
#define CAIRN_FETCH_REPO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "fetch/registry.h"
struct cairn_repo;
int cairn_repo_open(const char *name, bool push, const struct cairn_registry_options *o, struct cairn_repo **ret, struct cairn_error **err);
void cairn_repo_close(struct cairn_repo *r);
const char *cairn_repo_name(const struct cairn_repo *r);
int cairn_repo_manifest_head(struct cairn_repo *r, const char *ref, char **ret_digest, struct cairn_error **err);
int cairn_repo_manifest_head_many(struct cairn_repo *r, const char *const *refs, size_t n, bool *ret_found, struct cairn_error **err);
int cairn_repo_manifest_get(struct cairn_repo *r, const char *ref, char **ret_body, size_t *ret_len, char **ret_digest, char **ret_media_type, struct cairn_error **err);
int cairn_repo_manifest_put(struct cairn_repo *r, const char *tag, const char *media_type, const char *body, size_t len, char **ret_digest, struct cairn_error **err);
int cairn_repo_manifest_delete(struct cairn_repo *r, const char *digest, struct cairn_error **err);
int cairn_repo_blob_head(struct cairn_repo *r, const char *digest, struct cairn_error **err);
int cairn_repo_blob_put_file(struct cairn_repo *r, const char *path, const char *digest, uint64_t size, struct cairn_error **err);
int cairn_repo_blob_put_data(struct cairn_repo *r, const void *data, size_t len, char **ret_digest, struct cairn_error **err);
int cairn_repo_blob_get(struct cairn_repo *r, const char *blob_root, const char *digest, uint64_t max_size, struct cairn_error **err);
int cairn_repo_blob_get_mem(struct cairn_repo *r, const char *digest, size_t max, char **ret, size_t *ret_len, struct cairn_error **err);
int cairn_repo_tags(struct cairn_repo *r, char ***ret, struct cairn_error **err);
#endif
