/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error type every fallible cairn function reports through.
 *
 * Convention (docs/error-handling.md):
 *
 *   int cairn_foo(..., struct cairn_error **err);
 *
 * returns >= 0 on success and leaves *err untouched; returns < 0 on failure
 * with *err set exactly once.  The return value is a negative errno-like code
 * (-EINVAL for bad input, -ENOENT, -EIO, ...), also kept in err->code.
 * Expected outcomes (a cache miss, "not found" when that is a normal answer)
 * are return values, not errors.
 *
 * Context is added as an error crosses a module boundary with
 * cairn_error_prefix(), so the final text reads like a path:
 * "build: step 3 (run): exit status 2".  Only src/cli turns an error into text
 * on stderr and an exit status.
 *
 * A function that can find several independent problems in one go (the spec
 * checker) chains them through ->next; the first is the head.
 */
#ifndef CAIRN_BASE_ERROR_H
#define CAIRN_BASE_ERROR_H

#include <stdarg.h>

struct cairn_error {
        int code;                  /* negative errno value */
        char *message;             /* owned */
        struct cairn_error *next;  /* further diagnostics, owned */
};

/*
 * Create an error with a printf-style message and store it in *err (which
 * must be NULL or point to NULL; if an error is already there the new one is
 * appended to its chain).  Returns code, forced negative, so callers can write
 * "return cairn_error_set(err, -EINVAL, ...)".  err may be NULL: the error is
 * then dropped but the code still returned.
 */
int cairn_error_set(struct cairn_error **err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int cairn_error_setv(struct cairn_error **err, int code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* Like cairn_error_set, with ": strerror(errno_value)" appended. */
int cairn_error_set_errno(struct cairn_error **err, int errno_value, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * Prefix every message in the chain with the formatted text and ": ".
 * Returns the head's code (or -EINVAL when *err is NULL).
 */
int cairn_error_prefix(struct cairn_error **err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Move the chain *from onto the end of *to; *from becomes NULL. */
void cairn_error_append(struct cairn_error **to, struct cairn_error **from);

/* Number of diagnostics in the chain. */
unsigned cairn_error_count(const struct cairn_error *err);

/* Free the whole chain. NULL-safe. */
void cairn_error_free(struct cairn_error *err);

static inline void cairn_error_freep(struct cairn_error **e)
{
        cairn_error_free(*e);
        *e = (struct cairn_error *) 0;
}
#define _cleanup_error_ __attribute__((cleanup(cairn_error_freep)))

#endif
