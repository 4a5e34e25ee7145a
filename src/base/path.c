/* SPDX-License-Identifier: Apache-2.0 */
/* Path strings, for POSIX and Windows builds alike. */
#include "base/path.h"

#include <stdbool.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strbuf.h"

char *cairn_path_normalise(const char *path)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        for (const char *p = path; *p;) {
                while (*p == '/')
                        p++;
                const char *e = p;
                while (*e && *e != '/')
                        e++;
                size_t n = (size_t) (e - p);
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        cairn_buf_release(&b);
                        return NULL;
                }
                if (n && !(n == 1 && *p == '.'))
                        cairn_buf_printf(&b, "%s%.*s", b.len ? "/" : "", (int) n, p);
                p = e;
        }
        return cairn_buf_steal(&b, NULL);
}

/* The length of the valid UTF-8 sequence at p (not U+0000, no overlong
 * forms or surrogates), or 0. */
static size_t utf8_len(const unsigned char *p)
{
        if (p[0] < 0x80)
                return 1;
        size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
            (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
                return 0;
        return n;
}

/* Whether the n-byte UTF-8 sequence at p is a C1 control (U+0080-U+009F,
 * U+009B being CSI) or a format character (zero-width, bidi overrides and
 * isolates, the BOM): what could hide or reorder text in a terminal. */
static bool invisible(const unsigned char *p, size_t n)
{
        unsigned cp = n == 2 ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)
                    : n == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)
                             : 0x10000;
        return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
               (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

char *cairn_name_for_message(const char *name)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        for (const unsigned char *p = (const unsigned char *) name; *p;) {
                size_t n = utf8_len(p);
                if (n > 1 && !invisible(p, n)) {
                        cairn_buf_add(&b, (const char *) p, n);
                        p += n;
                        continue;
                }
                if (n > 1) {
                        for (size_t i = 0; i < n; i++)
                                cairn_buf_printf(&b, "\\x%02x", p[i]);
                        p += n;
                        continue;
                }
                if (*p == '"' || *p == '\\')
                        cairn_buf_printf(&b, "\\%c", *p);
                else if (*p >= 0x20 && *p < 0x7f)
                        cairn_buf_addc(&b, (char) *p);
                else
                        cairn_buf_printf(&b, "\\x%02x", *p);
                p++;
        }
        return cairn_buf_steal(&b, NULL);
}

char *cairn_escape_filename(const char *prefix, const char *name)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_adds(&b, prefix);
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                    *p == '.' || *p == '_')
                        cairn_buf_addc(&b, (char) *p);
                else
                        cairn_buf_printf(&b, "%%%02x", *p);
        }
        return cairn_buf_steal(&b, NULL);
}

static bool is_sep(char c)
{
        return c == '/' || (CAIRN_PATH_SEP == '\\' && c == '\\');
}

char *cairn_path_join(const char *a, const char *b)
{
        size_t la = strlen(a);
        while (la > 1 && is_sep(a[la - 1]))
                la--;
        /* "C:\" keeps its separator: "C:" alone means the drive's current
         * directory. */
        if (CAIRN_PATH_SEP == '\\' && la == 2 && a[1] == ':' && is_sep(a[2]))
                la = 3;
        while (is_sep(*b))
                b++;
        if (la && is_sep(a[la - 1]))
                return cairn_xasprintf("%.*s%s", (int) la, a, b);
        /* The separator a already uses ("C:/x" stays with "/"), else the
         * platform's. */
        char sep = CAIRN_PATH_SEP;
        for (size_t i = la; i-- > 0;)
                if (is_sep(a[i])) {
                        sep = a[i];
                        break;
                }
        return cairn_xasprintf("%.*s%c%s", (int) la, a, sep, b);
}

bool cairn_path_is_absolute(const char *p)
{
        if (CAIRN_PATH_SEP == '/')
                return p[0] == '/';
        /* C:\x, C:/x, or a UNC \\server\share path. */
        bool drive = ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') && p[1] == ':' && is_sep(p[2]);
        return drive || (is_sep(p[0]) && is_sep(p[1]));
}


bool cairn_ocaml_is_relative(const char *p)
{
        if (CAIRN_PATH_SEP == '/')
                return p[0] != '/';
        /* Win32's Filename.is_relative: not "/x", "\\x" nor "C:x". */
        bool drive = ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') && p[1] == ':';
        return !(p[0] == '/' || p[0] == '\\' || drive);
}

char *cairn_ocaml_concat(const char *dir, const char *file)
{
        size_t n = strlen(dir);
        char last = n ? dir[n - 1] : '\0';
        bool sep = n == 0 || last == '/' || (CAIRN_PATH_SEP == '\\' && (last == '\\' || last == ':'));
        if (sep)
                return cairn_xasprintf("%s%s", dir, file);
        return cairn_xasprintf("%s%c%s", dir, CAIRN_PATH_SEP, file);
}
