/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/settings.h"

static int is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

int cairn_settings_parse(const char *file, const char *text, size_t len,
                         int (*fn)(const struct cairn_setting *s, void *ud, struct cairn_error **err), void *ud,
                         struct cairn_error **err)
{
        unsigned line = 0;
        for (size_t pos = 0; pos < len;) {
                line++;
                const char *start = text + pos;
                const char *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - start) : len - pos;
                pos += n + (nl ? 1 : 0);
                if (memchr(start, '\0', n))
                        return cairn_error_set(err, -EINVAL, "%s:%u: a NUL byte; this is not a text file", file, line);
                size_t i = 0;
                while (i < n && is_space(start[i]))
                        i++;
                if (i == n || start[i] == '#')
                        continue;
                size_t key = i;
                while (i < n && !is_space(start[i]) && start[i] != '=')
                        i++;
                size_t key_end = i;
                while (i < n && is_space(start[i]))
                        i++;
                if (key_end == key)
                        return cairn_error_set(err, -EINVAL, "%s:%u:%zu: expected KEY = VALUE", file, line, key + 1);
                if (i == n || start[i] != '=')
                        return cairn_error_set(err, -EINVAL, "%s:%u:%zu: expected \"=\" after \"%.*s\" (KEY = VALUE)",
                                               file, line, i + 1, (int) (key_end - key), start + key);
                i++;
                while (i < n && is_space(start[i]))
                        i++;
                size_t value = i, value_end = n;
                while (value_end > value && is_space(start[value_end - 1]))
                        value_end--;
                _cleanup_free_ char *k = cairn_xstrndup(start + key, key_end - key);
                _cleanup_free_ char *v = cairn_xstrndup(start + value, value_end - value);
                struct cairn_setting s = {
                        .file = file, .line = line, .key_col = (unsigned) key + 1, .value_col = (unsigned) value + 1,
                        .key = k, .value = v,
                };
                int r = fn(&s, ud, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cairn_setting_error(struct cairn_error **err, const struct cairn_setting *s, int at_value, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return cairn_error_set(err, -EINVAL, "%s:%u:%u: %s", s->file, s->line, at_value ? s->value_col : s->key_col,
                               msg);
}
