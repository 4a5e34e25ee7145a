/* SPDX-License-Identifier: Apache-2.0 */
#include "base/file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/compat.h"
#include "base/cleanup.h"
#include "base/strbuf.h"

int cairn_write_all(int fd, const void *data, size_t len, size_t *ret_done)
{
        const char *p = data;
        size_t done = 0;
        int r = 0;
        while (done < len) {
                ssize_t n = write(fd, p + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
                done += (size_t) n;
        }
        if (ret_done)
                *ret_done = done;
        return r;
}

int cairn_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len,
                    struct cairn_error **err)
{
        _cleanup_close_ int fd = -1;
        bool is_stdin = strcmp(path, "-") == 0;
        struct stat st = { 0 };
        if (!is_stdin) {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | CAIRN_O_BINARY);
                if (fd < 0)
                        return cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
                if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                        return cairn_error_set(err, -EISDIR, "\"%s\" is a directory, not a file", path);
        }
        int in = is_stdin ? STDIN_FILENO : fd;
        _cleanup_buf_ struct cairn_buf b = CAIRN_BUF_INIT_CAP(max);
        /* A file's size, known up front, is read without growing the
         * buffer by doubling (a copy record of 20,000 files is 2 MB). */
        if (S_ISREG(st.st_mode) && st.st_size > 0)
                cairn_buf_reserve(&b, (size_t) st.st_size < max ? (size_t) st.st_size : max);
        char chunk[65536];
        for (;;) {
                ssize_t n = read(in, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return cairn_error_set_errno(err, errno, "cannot read \"%s\"", path);
                }
                if (n == 0)
                        break;
                if (cairn_buf_add(&b, chunk, (size_t) n) < 0)
                        return cairn_error_set(err, -EFBIG, "\"%s\" is larger than the limit of %zu bytes",
                                               path, max);
        }
        *ret_data = cairn_buf_steal(&b, ret_len);
        return 0;
}
