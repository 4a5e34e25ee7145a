/* SPDX-License-Identifier: Apache-2.0 */
#include "base/tar.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>

#include "base/alloc.h"

/* UTF-8 to UTF-16, or NULL if s is not valid UTF-8. */
static wchar_t *wide(const char *s)
{
        int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
        if (n <= 0)
                return NULL;
        wchar_t *w = cairn_xreallocarray(NULL, (size_t) n, sizeof(wchar_t));
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
        return w;
}
#endif

/* libarchive reports a name it could not convert with ARCHIVE_WARN and
 * "... can't be converted ..." (reading) or "Can't translate ..." (writing)
 * as its message (its errno, ARCHIVE_ERRNO_FILE_FORMAT, is private and
 * platform-dependent); other warnings, which may mean a damaged entry,
 * stay warnings. */
static int names_only(struct archive *a, int r)
{
        if (r != ARCHIVE_WARN)
                return r;
        const char *msg = archive_error_string(a);
        if (msg && (strstr(msg, "can't be converted") || strstr(msg, "Can't translate")))
                return ARCHIVE_OK;
        return r;
}

int cairn_tar_next_header(struct archive *a, struct archive_entry **ret)
{
        return names_only(a, archive_read_next_header(a, ret));
}

int cairn_tar_write_header(struct archive *a, struct archive_entry *e)
{
        return names_only(a, archive_write_header(a, e));
}

#ifdef _WIN32
#define SET_NAME(fn, e, s)                                \
        do {                                              \
                wchar_t *w_ = wide(s);                \
                if (w_)                                   \
                        fn##_w(e, w_);                    \
                else                                      \
                        fn(e, s);                         \
                free(w_);                                 \
        } while (0)
#else
#define SET_NAME(fn, e, s) fn(e, s)
#endif

void cairn_tar_entry_set_path(struct archive_entry *e, const char *path)
{
        SET_NAME(archive_entry_copy_pathname, e, path);
}

void cairn_tar_entry_set_symlink(struct archive_entry *e, const char *target)
{
        SET_NAME(archive_entry_copy_symlink, e, target);
}

void cairn_tar_entry_set_hardlink(struct archive_entry *e, const char *target)
{
        SET_NAME(archive_entry_copy_hardlink, e, target);
}

void cairn_tar_locale(void)
{
#ifndef _WIN32
        if (!setlocale(LC_CTYPE, "C.UTF-8"))
                setlocale(LC_CTYPE, "C.utf8");
#endif
}
