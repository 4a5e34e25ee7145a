/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linked into every Windows program: files are bytes.  The C library's
 * open() and fopen() default to text mode on Windows, turning "\n" into
 * "\r\n" (a tar, a log or a config written through them would change);
 * this makes binary the default before main runs.  (mingw's binmode.o is
 * meant to, but Debian's is empty.)
 */
#include <fcntl.h>
#include <stdlib.h>

__attribute__((constructor)) static void cairn_binary_files(void)
{
        _fmode = _O_BINARY;
}
