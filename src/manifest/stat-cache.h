/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stat cache for one build context, as git's index: for each file of the
 * context that was hashed, its path (relative to the context), device,
 * inode, permission bits, size, modification and change times, and the
 * SHA-256 of its contents.  A file whose stat still matches every field is
 * not read again, so a build over an unchanged context costs a stat walk.
 *
 * It is only ever a shortcut: a manifest made with it is the manifest made
 * without it.  Any write to a file moves its change time, which cannot be
 * set back (`touch -d` restores the modification time, not the change
 * time); a rename, chmod or a new file in the old one's place changes the
 * change time, the path or the inode.  What the change time cannot show is
 * a second write within the filesystem's timestamp granule: git's
 * racily-clean rule covers it here.  An entry is kept only if its file's
 * modification and change times are in a whole second before the one in
 * which the walk that hashed it began (cairn_context_now, the clock the
 * filesystem stamps files with; seconds, as git without USE_NSEC, so any
 * timestamp granularity up to a second is covered): a file changed just
 * before or during a build is hashed again by the next one.
 *
 * The file is written atomically with a SHA-256 of its contents at the end;
 * one that is missing, damaged, of another format or for another context is
 * an empty cache.  Entries not used by a build are kept for a few more
 * builds (so building one part of a context does not forget the rest), and
 * never more than CAIRN_STAT_CACHE_MAX_ENTRIES.
 */
#ifndef CAIRN_MANIFEST_STAT_CACHE_H
#define CAIRN_MANIFEST_STAT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/error.h"
#include "base/hash.h"
#include "manifest/context.h"

#define CAIRN_STAT_CACHE_MAX_ENTRIES (1u << 21)
/* Builds an entry survives without being used. */
#define CAIRN_STAT_CACHE_MAX_AGE 8

struct cairn_stat_cache;

/* The cache kept in `path` for the context directory `root` (both copied);
 * never NULL. */
struct cairn_stat_cache *cairn_stat_cache_load(const char *path, const char *root);
void cairn_stat_cache_free(struct cairn_stat_cache *c);

/* The context directory it is for. */
const char *cairn_stat_cache_root(const struct cairn_stat_cache *c);

/* The hash of the file at path (relative to the root) if st is the version
 * the cache holds: returns true and fills ret_hash. */
bool cairn_stat_cache_lookup(struct cairn_stat_cache *c, const char *path, const struct cairn_context_stat *st,
                             char ret_hash[CAIRN_SHA256_HEX_LEN + 1]);

/* Remember that the file at path, as st, hashes to hash; walk_start is when
 * the walk that hashed it began (the racily-clean rule). */
void cairn_stat_cache_record(struct cairn_stat_cache *c, const char *path, const struct cairn_context_stat *st,
                             const char *hash, struct timespec walk_start);

/* Write the cache back (atomically) if this process changed it. */
int cairn_stat_cache_save(struct cairn_stat_cache *c, struct cairn_error **err);

/* Counters, for the tests: lookups that hit, and entries held. */
size_t cairn_stat_cache_hits(const struct cairn_stat_cache *c);
size_t cairn_stat_cache_size(const struct cairn_stat_cache *c);

#endif
