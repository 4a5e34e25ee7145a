/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small TAP producer for cairn's unit tests.
 *
 *   int main(void) {
 *           ok(1 + 1 == 2, "addition");
 *           is_str(got, "expected", "printer output");
 *           return tap_done();      // prints the plan, exit status 1 on failure
 *   }
 *
 * Every check prints "ok N - name" or "not ok N - name"; failures print what
 * was expected and what came, as "# " diagnostics, with the file and line.
 */
#ifndef CAIRN_TESTS_TAP_H
#define CAIRN_TESTS_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool tap_ok(bool cond, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
bool tap_is_str(const char *got, const char *expected, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
bool tap_is_int(intmax_t got, intmax_t expected, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
/* got contains needle */
bool tap_has_str(const char *got, const char *needle, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the plan; returns the exit status for main. */
int tap_done(void);

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, exp, ...) tap_is_str((got), (exp), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, exp, ...) tap_is_int((intmax_t) (got), (intmax_t) (exp), __FILE__, __LINE__, __VA_ARGS__)
#define has_str(got, needle, ...) tap_has_str((got), (needle), __FILE__, __LINE__, __VA_ARGS__)

#endif
