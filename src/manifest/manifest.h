/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copy manifests: what a (copy (src ...)) will copy, hashed exactly as
 * OBuilder hashes it, so copy steps get OBuilder's IDs.
 *
 * A manifest is a tree of File (path, SHA-256 of the contents), Symlink
 * (path, target) and Dir (path, children sorted byte-wise) nodes.  Paths are
 * relative to the source root with leading "/" and "." or empty components
 * removed.  Children whose basename is in `exclude` are left out at every
 * depth below the item itself.  Modes, times and owners are not part of the
 * hash (as in OBuilder) but are recorded for the copy itself.
 *
 * File contents are hashed in parallel, and each file only once per build:
 * the context keeps every hash it computed, keyed by the file's identity and
 * change time; and, across builds, not at all while the context's stat cache
 * (manifest/stat-cache.h) says the file is the version it hashed.
 */
#ifndef CAIRN_MANIFEST_MANIFEST_H
#define CAIRN_MANIFEST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/hash.h"
#include "manifest/context.h"
#include "spec/sexp.h"

enum cairn_manifest_kind {
        CAIRN_MANIFEST_FILE,
        CAIRN_MANIFEST_SYMLINK,
        CAIRN_MANIFEST_DIR,
};

struct cairn_manifest {
        enum cairn_manifest_kind kind;
        const char *path;            /* relative to the source root; "" for the root */
        char hash[CAIRN_SHA256_HEX_LEN + 1];   /* FILE */
        const char *target;          /* SYMLINK */
        struct cairn_manifest **children;      /* DIR */
        size_t n_children;
        /* Its mode and times, for the copy; and which version of the file
         * was hashed: the copy checks it is still the same one. */
        struct cairn_context_stat st;
};

/* Per-build state: the file-hash cache and the worker count. */
struct cairn_hasher;
struct cairn_stat_cache;

struct cairn_hasher *cairn_hasher_new(unsigned threads);
void cairn_hasher_free(struct cairn_hasher *h);
/* Use (not own) c, the stat cache of one context (manifest/stat-cache.h),
 * for manifests whose src_dir is the string c is for; NULL for none. */
void cairn_hasher_set_stat_cache(struct cairn_hasher *h, struct cairn_stat_cache *c);
/* Number of file contents actually read and hashed so far (for tests). */
unsigned long cairn_hasher_files_hashed(const struct cairn_hasher *h);

/*
 * The manifest of one src item of a copy, under src_dir.  Fails with
 * OBuilder's messages: "Source path \"x\" not found", "Can't use .. in source
 * paths! (in \"../x\")", "Not a directory: a (in \"a/b\")", "Not a regular
 * file: link (in \"link/file\")", "Unsupported file type for \"x\"".
 * Nodes are allocated in arena.
 */
int cairn_manifest_generate(struct cairn_hasher *h, struct cairn_arena *arena, const char *src_dir,
                            const char *src, const char *const *exclude, size_t n_exclude,
                            struct cairn_manifest **ret, struct cairn_error **err);

/* Whether fd is still the file m hashed: same identity, size, modification
 * and change times (any write changes the change time, which cannot be set
 * back); and the error for a file that is not. */
bool cairn_manifest_unchanged(int fd, const struct cairn_manifest *m);
int cairn_manifest_changed(const struct cairn_manifest *m, struct cairn_error **err);

/* Where item m lands when the items of a copy go into the directory target
 * (reference 1.5), and where a child lands in its copied directory:
 * target/BASENAME, or target itself for the source root ("." copies its
 * contents).  malloc'd. */
char *cairn_manifest_item_dest(const struct cairn_manifest *m, const char *target);

/* Write OBuilder's sexp of a manifest: (File (PATH HASH)), (Symlink (PATH
 * TARGET)), (Dir (PATH (CHILD ...))), streamed (no tree is built). */
void cairn_manifest_write(struct cairn_sexp_writer *w, const struct cairn_manifest *m);

#endif
