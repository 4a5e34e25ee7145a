/* SPDX-License-Identifier: Apache-2.0 */
/* base/lock.h on POSIX (base/lock-win.c on Windows). */
#include "base/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

int cairn_lock_byte(int fd, uint64_t offset, enum cairn_lock_kind kind, bool wait)
{
        struct flock fl = {
                .l_type = kind == CAIRN_UNLOCK ? F_UNLCK : kind == CAIRN_LOCK_SHARED ? F_RDLCK : F_WRLCK,
                .l_whence = SEEK_SET,
                .l_start = (off_t) offset,
                .l_len = 1,
        };
        for (;;) {
                if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
                        return 0;
                if (errno != EINTR || !wait)
                        return errno == EACCES ? -EAGAIN : -errno;
        }
}

int cairn_lock_file(int fd, enum cairn_lock_kind kind, bool wait)
{
        int op = kind == CAIRN_UNLOCK ? LOCK_UN : kind == CAIRN_LOCK_SHARED ? LOCK_SH : LOCK_EX;
        if (!wait)
                op |= LOCK_NB;
        for (;;) {
                if (flock(fd, op) == 0)
                        return 0;
                if (errno != EINTR || !wait)
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
}
