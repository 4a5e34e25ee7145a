/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics on stderr.  Results go to stdout; everything a person reads
 * about progress, warnings and failures goes here.  Library code (spec, store,
 * sandbox, ...) reports through struct cairn_error and leaves the printing to
 * the CLI; it logs only at debug level, for tracing.
 */
#ifndef CAIRN_BASE_LOG_H
#define CAIRN_BASE_LOG_H

enum cairn_log_level {
        CAIRN_LOG_QUIET = 0,
        CAIRN_LOG_ERROR,
        CAIRN_LOG_WARNING,
        CAIRN_LOG_INFO,
        CAIRN_LOG_DEBUG,
};

void cairn_log_set_level(enum cairn_log_level level);
enum cairn_log_level cairn_log_get_level(void);
/* Parse "quiet|error|warning|info|debug"; returns -1 when unknown. */
int cairn_log_level_from_string(const char *s);

/* Also hand each message printed to fn (a build's log, say), as the line
 * printed, without "cairn: " and the newline.  NULL stops it. */
typedef void cairn_log_sink_fn(enum cairn_log_level level, const char *line, void *ud);
void cairn_log_set_sink(cairn_log_sink_fn *fn, void *ud);

/* Hand line to the sink only: a message another process (a child building
 * part of the same job) already printed on the stderr it shares. */
void cairn_log_to_sink(enum cairn_log_level level, const char *line);

void cairn_log(enum cairn_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#define cairn_error_log(...) cairn_log(CAIRN_LOG_ERROR, __VA_ARGS__)
#define cairn_warn(...) cairn_log(CAIRN_LOG_WARNING, __VA_ARGS__)
#define cairn_info(...) cairn_log(CAIRN_LOG_INFO, __VA_ARGS__)
#define cairn_debug(...) cairn_log(CAIRN_LOG_DEBUG, __VA_ARGS__)

#endif
