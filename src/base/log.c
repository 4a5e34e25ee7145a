/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum cairn_log_level current = CAIRN_LOG_WARNING;
static cairn_log_sink_fn *sink;
static void *sink_ud;

void cairn_log_set_sink(cairn_log_sink_fn *fn, void *ud)
{
        sink = fn;
        sink_ud = ud;
}

static const char *const names[] = {
        [CAIRN_LOG_QUIET] = "quiet",
        [CAIRN_LOG_ERROR] = "error",
        [CAIRN_LOG_WARNING] = "warning",
        [CAIRN_LOG_INFO] = "info",
        [CAIRN_LOG_DEBUG] = "debug",
};

void cairn_log_set_level(enum cairn_log_level level)
{
        current = level;
}

enum cairn_log_level cairn_log_get_level(void)
{
        return current;
}

int cairn_log_level_from_string(const char *s)
{
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int) i;
        return -1;
}

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
{
        if (level > current || level == CAIRN_LOG_QUIET)
                return;
        /* One fprintf per message so concurrent writers do not interleave
         * within a line. */
        char line[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (level == CAIRN_LOG_ERROR)
                fprintf(stderr, "cairn: %s\n", line);
        else
                fprintf(stderr, "cairn: %s: %s\n", names[level], line);
        if (sink)
                sink(level, line, sink_ud);
}

void cairn_log_to_sink(enum cairn_log_level level, const char *line)
{
        if (sink && level <= current && level != CAIRN_LOG_QUIET)
                sink(level, line, sink_ud);
}
