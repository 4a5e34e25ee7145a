/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-file helpers. */
#ifndef CAIRN_BASE_FILE_H
#define CAIRN_BASE_FILE_H

#include <stddef.h>

#include "base/error.h"

/*
 * Read the whole of path ("-" for stdin) into a new NUL-terminated buffer.
 * Fails with -EFBIG, and a message naming the limit, when the file is larger
 * than max bytes.  *ret_data is owned by the caller.
 */
int cairn_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len,
                    struct cairn_error **err);

/*
 * Write all len bytes of data to fd, again after EINTR and short writes.
 * Returns 0, or -errno (-EIO for a write that wrote nothing); *ret_done
 * (if not NULL) is how many bytes were written either way.
 */
int cairn_write_all(int fd, const void *data, size_t len, size_t *ret_done);

/*
 * Replace path with data atomically: write a temporary file in the same
 * directory, fsync it, keep the old file's mode, and rename it over path.  A
 * crash leaves either the old or the new contents, never a mix.
 */
int cairn_write_file_atomic(const char *path, const void *data, size_t len,
                            struct cairn_error **err);

#endif
