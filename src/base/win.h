/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the Windows sources. */
#ifndef CAIRN_BASE_WIN_H
#define CAIRN_BASE_WIN_H

#include <wchar.h>

/* UTF-8 to a new UTF-16 string (free()), as the Windows API takes. */
wchar_t *cairn_win_wide(const char *s);

/* UTF-16 to a new UTF-8 string (free()). */
char *cairn_win_utf8(const wchar_t *w);
/* The errno value closest to a Windows error code (EIO when none is). */
int cairn_win_errno(unsigned long code);

#endif
