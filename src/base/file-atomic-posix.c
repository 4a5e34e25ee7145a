/* SPDX-License-Identifier: Apache-2.0 */
/* cairn_write_file_atomic (POSIX: mkostemp, fsync, rename). */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"

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
