/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpack image layers (tar, optionally gzip/zstd/xz/bzip2-compressed) into a
 * root filesystem.  Layers are untrusted input:
 *
 *   - every path is resolved inside the root (openat2 RESOLVE_IN_ROOT), so
 *     no entry, hard link target or earlier symlink can reach outside it;
 *   - names with ".." components are rejected, leading "/" and "./" dropped;
 *   - OCI whiteouts (".wh.NAME" deletes NAME, ".wh..wh..opq" hides what lower
 *     layers put in a directory) are applied, never written;
 *   - entry count, total size and name lengths are capped.
 *
 * Owners, modes (setuid included), times, hard links, devices, FIFOs and
 * extended attributes are kept where the filesystem allows.
 */
#ifndef CAIRN_FETCH_EXTRACT_H
#define CAIRN_FETCH_EXTRACT_H

#include <stdint.h>

#include "base/error.h"

struct cairn_extract_limits {
        uint64_t max_entries;     /* per layer */
        uint64_t max_bytes;       /* file data per layer */
};

#define CAIRN_EXTRACT_DEFAULT_LIMITS { 1000000, UINT64_C(64) << 30 }

/* Apply the layer archive at path on top of the tree at rootfd.  Of the
 * extended attributes an entry carries, only user.* and
 * security.capability are kept: trusted.* (overlayfs' own among them) and
 * other security.* names are dropped, and counted in *dropped (if not
 * NULL). */
int cairn_extract_layer(int rootfd, const char *path, const struct cairn_extract_limits *limits, uint64_t *dropped,
                        struct cairn_error **err);

/* The same for a layer still downloading: bytes are applied as they come,
 * and success needs the stream's verdict too (see blob-stream.h).  name
 * (the digest) is for messages.  On failure, what was applied must be
 * thrown away with the root. */
struct cairn_blob_stream;
int cairn_extract_layer_stream(int rootfd, struct cairn_blob_stream *stream, const char *name, uint64_t *dropped,
                               const struct cairn_extract_limits *limits, struct cairn_error **err);

#endif
