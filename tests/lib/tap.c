/* SPDX-License-Identifier: Apache-2.0 */
#include "tap.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static unsigned n_tests, n_failed;

__attribute__((format(printf, 4, 0)))
static bool report(bool cond, const char *file, int line, const char *fmt, va_list ap)
{
        n_tests++;
        printf("%sok %u - ", cond ? "" : "not ", n_tests);
        vprintf(fmt, ap);
        printf("\n");
        if (!cond) {
                n_failed++;
                printf("#   Failed at %s:%d\n", file, line);
        }
        fflush(stdout);
        return cond;
}

bool tap_ok(bool cond, const char *file, int line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        bool r = report(cond, file, line, fmt, ap);
        va_end(ap);
        return r;
}

/* Print a possibly multi-line value as "#" lines, with visible ends. */
static void show(const char *label, const char *s)
{
        if (!s) {
                printf("#   %s: (null)\n", label);
                return;
        }
        printf("#   %s:\n", label);
        const char *p = s;
        do {
                const char *nl = strchr(p, '\n');
                int len = nl ? (int) (nl - p) : (int) strlen(p);
                printf("#     |%.*s|%s\n", len, p, nl ? "" : " (no final newline)");
                p = nl ? nl + 1 : NULL;
        } while (p && *p);
}

bool tap_is_str(const char *got, const char *expected, const char *file, int line, const char *fmt, ...)
{
        bool cond = got && expected && strcmp(got, expected) == 0;
        va_list ap;
        va_start(ap, fmt);
        report(cond, file, line, fmt, ap);
        va_end(ap);
        if (!cond) {
                show("got", got);
                show("expected", expected);
        }
        return cond;
}

bool tap_has_str(const char *got, const char *needle, const char *file, int line, const char *fmt, ...)
{
        bool cond = got && needle && strstr(got, needle);
        va_list ap;
        va_start(ap, fmt);
        report(cond, file, line, fmt, ap);
        va_end(ap);
        if (!cond) {
                show("got", got);
                show("expected to contain", needle);
        }
        return cond;
}

bool tap_is_int(intmax_t got, intmax_t expected, const char *file, int line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        bool cond = report(got == expected, file, line, fmt, ap);
        va_end(ap);
        if (!cond)
                printf("#   got: %" PRIdMAX "\n#   expected: %" PRIdMAX "\n", got, expected);
        return cond;
}

void tap_diag(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        printf("# ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
}

void tap_skip(const char *reason, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        n_tests++;
        printf("ok %u - ", n_tests);
        vprintf(fmt, ap);
        printf(" # SKIP %s\n", reason);
        va_end(ap);
}

int tap_done(void)
{
        printf("1..%u\n", n_tests);
        if (n_failed)
                printf("# %u of %u failed\n", n_failed, n_tests);
        return n_failed ? 1 : 0;
}
