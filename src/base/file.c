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
#include "base/cleanup.h"
#include "base/strbuf.h"

int cairn_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len,
                    struct cairn_error **err)
{
        _cleanup_close_ int fd = -1;
        bool is_stdin = strcmp(path, "-") == 0;
        if (!is_stdin) {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return cairn_error_set_errno(err, errno, "cannot open \"%s\"", path);
                struct stat st;
                if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                        return cairn_error_set(err, -EISDIR, "\"%s\" is a directory, not a file", path);
        }
        int in = is_stdin ? STDIN_FILENO : fd;
        _cleanup_buf_ struct cairn_buf b = CAIRN_BUF_INIT_CAP(max);
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

int cairn_write_file_atomic(const char *path, const void *data, size_t len,
                            struct cairn_error **err)
{
        _cleanup_free_ char *copy = cairn_xstrdup(path);
        _cleanup_free_ char *tmp = cairn_xasprintf("%s/.%s.cairn-XXXXXX", dirname(copy),
                                                   strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot create a temporary file beside \"%s\"", path);
        struct stat st;
        mode_t mode = 0644;
        if (stat(path, &st) == 0)
                mode = st.st_mode & 07777;
        const char *p = data;
        size_t left = len;
        int r = 0;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = cairn_error_set_errno(err, errno, "cannot write \"%s\"", tmp);
                        goto fail;
                }
                p += n;
                left -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot write \"%s\"", tmp);
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot replace \"%s\"", path);
                goto fail;
        }
        return 0;
fail:
        unlink(tmp);
        return r;
}
