/* SPDX-License-Identifier: Apache-2.0 */
/* Sizes and durations (base/units.h): what --memory, --step-timeout and
 * prune's limits accept, and how messages show them. */
#include <errno.h>

#include "base/units.h"
#include "tap.h"

int main(void)
{
        static const struct {
                const char *in;
                unsigned long long want;
        } sizes[] = {
                { "123", 123 }, { "10K", 10240 }, { "512M", 512ULL << 20 }, { "2G", 2ULL << 30 },
                { "1GiB", 1ULL << 30 }, { "1.5G", 3ULL << 29 }, { "1T", 1ULL << 40 }, { "64mb", 64ULL << 20 },
        };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                unsigned long long v = 0;
                is_int(cairn_parse_size(sizes[i].in, &v), 0, "size %s parses", sizes[i].in);
                is_int(v, sizes[i].want, "size %s", sizes[i].in);
        }
        static const char *const bad_sizes[] = { "", "-1", "lots", "12Q", ".5G", "1e30G" };
        for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
                unsigned long long v;
                is_int(cairn_parse_size(bad_sizes[i], &v), -EINVAL, "size \"%s\" is refused", bad_sizes[i]);
        }
        static const struct {
                const char *in;
                long long ms;
        } durations[] = {
                { "90", 90000 }, { "500ms", 500 }, { "30s", 30000 }, { "10m", 600000 }, { "2h", 7200000 },
                { "7d", 604800000LL }, { "2w", 1209600000LL },
        };
        for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
                long long v = 0;
                is_int(cairn_parse_duration_ms(durations[i].in, &v), 0, "duration %s parses", durations[i].in);
                is_int(v, durations[i].ms, "duration %s", durations[i].in);
        }
        static const char *const bad_durations[] = { "", "-5s", "soon", "5y", "10mm", "99999999999999w" };
        for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
                long long v;
                is_int(cairn_parse_duration_ms(bad_durations[i], &v), -EINVAL, "duration \"%s\" is refused",
                       bad_durations[i]);
        }
        char buf[64];
        is_str(cairn_format_size(512ULL << 20, buf, sizeof(buf)), "512 MiB", "512 MiB");
        is_str(cairn_format_size(3ULL << 29, buf, sizeof(buf)), "1.5 GiB", "1.5 GiB");
        is_str(cairn_format_size(900, buf, sizeof(buf)), "900 bytes", "bytes");
        is_str(cairn_format_size(64ULL << 20, buf, sizeof(buf)), "64 MiB", "the OOM message's limit");
        is_str(cairn_format_duration_ms(2000, buf, sizeof(buf)), "2s", "2s");
        is_str(cairn_format_duration_ms(600000, buf, sizeof(buf)), "10m", "10m");
        is_str(cairn_format_duration_ms(5400000, buf, sizeof(buf)), "1h30m", "1h30m");
        is_str(cairn_format_duration_ms(500, buf, sizeof(buf)), "500ms", "500ms");
        is_str(cairn_format_duration_ms(0, buf, sizeof(buf)), "0s", "0s");
        return tap_done();
}
