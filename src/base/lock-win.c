/* SPDX-License-Identifier: Apache-2.0 */
/* base/lock.h on Windows: LockFileEx on the fd's handle. */
#include "base/lock.h"

#include <errno.h>
#include <io.h>
#include <windows.h>

static int lock_range(int fd, uint64_t offset, DWORD len_low, DWORD len_high, enum cairn_lock_kind kind, bool wait)
{
        HANDLE h = (HANDLE) _get_osfhandle(fd);
        if (h == INVALID_HANDLE_VALUE)
                return -EBADF;
        OVERLAPPED ov = { 0 };
        ov.Offset = (DWORD) offset;
        ov.OffsetHigh = (DWORD) (offset >> 32);
        if (kind == CAIRN_UNLOCK) {
                if (UnlockFileEx(h, 0, len_low, len_high, &ov) || GetLastError() == ERROR_NOT_LOCKED)
                        return 0;
                return -EIO;
        }
        DWORD flags = (kind == CAIRN_LOCK_EXCLUSIVE ? LOCKFILE_EXCLUSIVE_LOCK : 0) | (wait ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
        if (LockFileEx(h, flags, 0, len_low, len_high, &ov))
                return 0;
        DWORD code = GetLastError();
        return code == ERROR_LOCK_VIOLATION || code == ERROR_IO_PENDING ? -EAGAIN : -EIO;
}

int cairn_lock_byte(int fd, uint64_t offset, enum cairn_lock_kind kind, bool wait)
{
        return lock_range(fd, offset, 1, 0, kind, wait);
}

int cairn_lock_file(int fd, enum cairn_lock_kind kind, bool wait)
{
        /* Windows stacks locks instead of replacing them: drop the one held
         * (if any) first. */
        lock_range(fd, 0, MAXDWORD, MAXDWORD, CAIRN_UNLOCK, false);
        return kind == CAIRN_UNLOCK ? 0 : lock_range(fd, 0, MAXDWORD, MAXDWORD, kind, wait);
}
