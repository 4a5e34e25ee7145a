/* SPDX-License-Identifier: Apache-2.0 */
/* Sizes and durations as people write them on a command line, and as
 * messages show them. */
#ifndef CAIRN_BASE_UNITS_H
#define CAIRN_BASE_UNITS_H

#include <stddef.h>

/* 123, 10K, 500M, 2G, 1T (binary units; an optional i and B: 1GiB, 1GB),
 * fractions allowed (1.5G).  Returns 0, or -EINVAL. */
int cairn_parse_size(const char *s, unsigned long long *ret);

/* 90 (seconds), 500ms, 30s, 10m, 2h, 7d, 2w, as milliseconds.  Returns 0,
 * or -EINVAL. */
int cairn_parse_duration_ms(const char *s, long long *ret_ms);

/* "512 MiB", "1.5 GiB", "900 bytes" into buf. */
char *cairn_format_size(unsigned long long bytes, char *buf, size_t len);
/* "2s", "10m", "1h30m", "500ms" into buf. */
char *cairn_format_duration_ms(long long ms, char *buf, size_t len);

#endif
