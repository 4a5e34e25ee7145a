/* SPDX-License-Identifier: Apache-2.0 */
#include "win.h"

#include <errno.h>
#include <windows.h>

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
