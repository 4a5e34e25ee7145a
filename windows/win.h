/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the Windows sources. */
#ifndef CAIRN_WINDOWS_WIN_H
#define CAIRN_WINDOWS_WIN_H

#include <wchar.h>

/* UTF-8 to a new UTF-16 string (free()), as the Windows API takes. */
wchar_t *cairn_win_wide(const char *s);

#endif
