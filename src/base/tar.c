/* SPDX-License-Identifier: Apache-2.0 */
#include "base/tar.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

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

void cairn_tar_writer_names(struct archive *a)
{
#ifdef _WIN32
        archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
#else
        (void) a;
#endif
}

void cairn_tar_locale(void)
{
#ifndef _WIN32
        if (!setlocale(LC_CTYPE, "C.UTF-8"))
                setlocale(LC_CTYPE, "C.utf8");
#endif
}
