/* SPDX-License-Identifier: Apache-2.0 */
#include "win.h"

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
