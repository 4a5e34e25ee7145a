/* SPDX-License-Identifier: Apache-2.0 */
/* cairn_write_file_atomic on Windows: a temporary file beside path,
 * flushed, then moved over it (MoveFileEx replaces atomically on NTFS). */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

#include "base/win.h"

#include "base/alloc.h"


int cairn_write_file_atomic(const char *path, const void *data, size_t len, struct cairn_error **err)
{
        char *tmp = cairn_xasprintf("%s.tmp-%lu", path, (unsigned long) GetCurrentProcessId());
        wchar_t *wtmp = cairn_win_wide(tmp), *wpath = cairn_win_wide(path);
        int r = 0;
        HANDLE f = CreateFileW(wtmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (f == INVALID_HANDLE_VALUE) {
                r = cairn_error_set(err, -EIO, "cannot create \"%s\" (Windows error %lu)", tmp,
                                    (unsigned long) GetLastError());
        } else {
                const char *p = data;
                size_t left = len;
                BOOL ok = TRUE;
                while (ok && left) {
                        DWORD chunk = left > (1u << 30) ? (1u << 30) : (DWORD) left, done = 0;
                        ok = WriteFile(f, p, chunk, &done, NULL) && done;
                        p += done;
                        left -= done;
                }
                ok = ok && FlushFileBuffers(f);
                DWORD code = GetLastError();
                CloseHandle(f);
                if (!ok)
                        r = cairn_error_set(err, -EIO, "cannot write \"%s\" (Windows error %lu)", tmp,
                                            (unsigned long) code);
                else if (!MoveFileExW(wtmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
                        r = cairn_error_set(err, -EIO, "cannot replace \"%s\" (Windows error %lu)", path,
                                            (unsigned long) GetLastError());
                if (r < 0)
                        DeleteFileW(wtmp);
        }
        free(wtmp);
        free(wpath);
        free(tmp);
        return r;
}
