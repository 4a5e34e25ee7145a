/* SPDX-License-Identifier: Apache-2.0 */
#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(void)
{
        static const char msg[] = "cairn: out of memory\n";
        (void) !fwrite(msg, 1, sizeof(msg) - 1, stderr);
        abort();
}

void *cairn_xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *cairn_xzalloc(size_t size)
{
        void *p = calloc(1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *cairn_xrealloc(void *ptr, size_t size)
{
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *cairn_xreallocarray(void *ptr, size_t nmemb, size_t size)
{
        size_t total;
        if (__builtin_mul_overflow(nmemb, size, &total))
                oom();
        return cairn_xrealloc(ptr, total);
}

char *cairn_xstrdup(const char *s)
{
        return cairn_xstrndup(s, strlen(s));
}

char *cairn_xstrndup(const char *s, size_t n)
{
        char *p = cairn_xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *cairn_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        return s;
}

size_t cairn_strv_length(const char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void cairn_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}
