/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blob as it downloads, readable while it grows: the download (one
 * thread) says which file holds the blob's first bytes and how many are
 * there; a reader (another thread) reads at any offset, waiting for bytes
 * that have not arrived, and learns at the end whether the whole blob
 * matched its digest.
 *
 * A download that starts over (a server that ignores Range) hands in a new
 * file: the reader goes on from its offset once the new file is that long.
 * Bytes read before the verdict are untrusted; whoever reads them must be
 * ready to throw away what it made of them if the verdict is a failure --
 * and, since the verdict covers the last attempt's bytes, not necessarily
 * the ones it read before a restart, must hash what it read itself
 * (cairn_extract_layer_stream does).
 */
#ifndef CAIRN_FETCH_BLOB_STREAM_H
#define CAIRN_FETCH_BLOB_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cairn_blob_stream;

/* A stream with one reference, for the download of the blob `digest`. */
struct cairn_blob_stream *cairn_blob_stream_new(const char *digest);
const char *cairn_blob_stream_digest(const struct cairn_blob_stream *s);
struct cairn_blob_stream *cairn_blob_stream_ref(struct cairn_blob_stream *s);
void cairn_blob_stream_unref(struct cairn_blob_stream *s);

/* The download side.  set_file: fd (duplicated) now holds the blob from its
 * first byte, `size` bytes of it so far.  grew: it holds `size` bytes.
 * finish: no more bytes will come; result is 0 when the blob is complete
 * and verified, else < 0.  Only the first finish counts. */
void cairn_blob_stream_set_file(struct cairn_blob_stream *s, int fd, uint64_t size);
void cairn_blob_stream_grew(struct cairn_blob_stream *s, uint64_t size);
void cairn_blob_stream_finish(struct cairn_blob_stream *s, int result);

/* The reader's side.  read: up to len bytes at offset, waiting until some
 * are there; 0 at the end of a finished blob (whatever its verdict), < 0
 * (-errno) when the download failed before offset or the file cannot be
 * read.  verdict: waits for finish and returns its result. */
ssize_t cairn_blob_stream_read(struct cairn_blob_stream *s, uint64_t offset, void *buf, size_t len);
int cairn_blob_stream_verdict(struct cairn_blob_stream *s);

#endif
