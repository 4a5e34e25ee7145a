/* SPDX-License-Identifier: Apache-2.0 */
#include "base/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_parse_size(const char *s, unsigned long long *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0 || !isdigit((unsigned char) *s))
                return -EINVAL;
        double mult = 1;
        switch (toupper((unsigned char) *end)) {
        case 'K': mult = 1024.0; end++; break;
        case 'M': mult = 1024.0 * 1024; end++; break;
        case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
        case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
        default: break;
        }
        if (mult > 1 && *end == 'i')
                end++;
        if (*end == 'B' || *end == 'b')
                end++;
        if (*end || v * mult > 18e18)
                return -EINVAL;
        *ret = (unsigned long long) (v * mult);
        return 0;
}

int cairn_parse_duration_ms(const char *s, long long *ret_ms)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0 || !isdigit((unsigned char) *s))
                return -EINVAL;
        long long mult = 1000;
        if (strcmp(end, "ms") == 0)
                mult = 1, end += 2;
        else if (*end == 's')
                end++;
        else if (*end == 'm')
                mult = 60 * 1000, end++;
        else if (*end == 'h')
                mult = 3600 * 1000, end++;
        else if (*end == 'd')
                mult = 86400LL * 1000, end++;
        else if (*end == 'w')
                mult = 7 * 86400LL * 1000, end++;
        if (*end || v > (long long) 1e15 / mult)
                return -EINVAL;
        *ret_ms = v * mult;
        return 0;
}

char *cairn_format_size(unsigned long long bytes, char *buf, size_t len)
{
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        if (bytes < 1024) {
                snprintf(buf, len, "%llu bytes", bytes);
                return buf;
        }
        double v = (double) bytes;
        size_t u = 0;
        for (v /= 1024; v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]); u++)
                v /= 1024;
        if (v == (double) (unsigned long long) v)
                snprintf(buf, len, "%llu %s", (unsigned long long) v, units[u]);
        else
                snprintf(buf, len, "%.1f %s", v, units[u]);
        return buf;
}

char *cairn_format_duration_ms(long long ms, char *buf, size_t len)
{
        if (ms % 1000) {
                snprintf(buf, len, "%lldms", ms);
                return buf;
        }
        long long s = ms / 1000;
        size_t n = 0;
        buf[0] = '\0';
        static const struct {
                long long secs;
                char unit;
        } parts[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
        for (size_t i = 0; i < 4 && n < len; i++)
                if (s >= parts[i].secs || (s == 0 && parts[i].unit == 's')) {
                        n += (size_t) snprintf(buf + n, len - n, "%lld%c", s / parts[i].secs, parts[i].unit);
                        s %= parts[i].secs;
                        if (s == 0)
                                break;
                }
        return buf;
}
