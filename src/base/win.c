/* SPDX-License-Identifier: Apache-2.0 */
#include "base/win.h"

#include <errno.h>
#include <io.h>
#include <stdint.h>
#include <windows.h>

#include "base/compat.h"

#include "base/alloc.h"

wchar_t *cairn_win_wide(const char *s)
{
        int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
        wchar_t *w = cairn_xmalloc((size_t) (n > 0 ? n : 1) * sizeof(wchar_t));
        if (n <= 0 || !MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n))
                w[0] = 0;
        return w;
}

char *cairn_win_utf8(const wchar_t *w)
{
        int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
        char *s = cairn_xmalloc((size_t) (n > 0 ? n : 1));
        if (n <= 0 || !WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL))
                s[0] = 0;
        return s;
}

int cairn_win_errno(unsigned long code)
{
        switch (code) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
        case ERROR_INVALID_NAME:
                return ENOENT;
        case ERROR_ACCESS_DENIED:
        case ERROR_SHARING_VIOLATION:
                return EACCES;
        case ERROR_ALREADY_EXISTS:
        case ERROR_FILE_EXISTS:
                return EEXIST;
        case ERROR_DISK_FULL:
        case ERROR_HANDLE_DISK_FULL:
                return ENOSPC;
        case ERROR_DIRECTORY:
                return ENOTDIR;
        case ERROR_NOT_ENOUGH_MEMORY:
        case ERROR_OUTOFMEMORY:
                return ENOMEM;
        case ERROR_TOO_MANY_OPEN_FILES:
                return EMFILE;
        default:
                return EIO;
        }
}

/* pread and pwrite (base/compat.h): ReadFile and WriteFile at an offset. */
static ssize_t at_offset(int fd, void *rbuf, const void *wbuf, size_t count, off_t offset)
{
        intptr_t h = _get_osfhandle(fd);
        if (h == -1) {
                errno = EBADF;
                return -1;
        }
        OVERLAPPED o = { 0 };
        o.Offset = (DWORD) ((uint64_t) offset & 0xffffffffu);
        o.OffsetHigh = (DWORD) ((uint64_t) offset >> 32);
        DWORD n = 0, len = count > 0x7fffffff ? 0x7fffffff : (DWORD) count;
        BOOL ok = rbuf ? ReadFile((HANDLE) h, rbuf, len, &n, &o) : WriteFile((HANDLE) h, wbuf, len, &n, &o);
        if (!ok) {
                DWORD code = GetLastError();
                if (rbuf && code == ERROR_HANDLE_EOF)
                        return 0;
                errno = cairn_win_errno(code);
                return -1;
        }
        return (ssize_t) n;
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
        return at_offset(fd, buf, NULL, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
        return at_offset(fd, NULL, buf, count, offset);
}
