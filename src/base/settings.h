/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A settings file: one "KEY = VALUE" per line, "#" starts a comment line,
 * blank lines ignored, spaces around KEY and VALUE dropped.  VALUE is the
 * rest of the line (it may hold spaces and "=").  The store's cairn.conf
 * uses it; its keys are the long options of the verbs they set.
 */
#ifndef CAIRN_BASE_SETTINGS_H
#define CAIRN_BASE_SETTINGS_H

#include <stddef.h>

#include "base/error.h"

/* Where a setting is, for messages: "FILE:LINE:COL" of the key, and the
 * column of the value. */
struct cairn_setting {
        const char *file;
        unsigned line;
        unsigned key_col;
        unsigned value_col;
        const char *key;
        const char *value;
};

/*
 * Call fn for each setting of text, in order.  fn returns < 0 with *err set
 * (say with cairn_setting_error) to stop.  A line that is not a setting is
 * an error "FILE:LINE:COL: expected KEY = VALUE".  Returns 0 or fn's error.
 */
int cairn_settings_parse(const char *file, const char *text, size_t len,
                         int (*fn)(const struct cairn_setting *s, void *ud, struct cairn_error **err), void *ud,
                         struct cairn_error **err);

/* An error about s's value (at_value) or key, as "FILE:LINE:COL: ...". */
int cairn_setting_error(struct cairn_error **err, const struct cairn_setting *s, int at_value, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
