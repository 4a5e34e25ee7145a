/* SPDX-License-Identifier: Apache-2.0 */
#include "base/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

void cairn_buf_init(struct cairn_buf *b, size_t cap)
{
        *b = (struct cairn_buf) { NULL, 0, 0, cap };
}

void cairn_buf_release(struct cairn_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->alloc = 0;
}

void cairn_buf_reset(struct cairn_buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

char *cairn_buf_steal(struct cairn_buf *b, size_t *ret_len)
{
        char *p = b->data ? b->data : cairn_xzalloc(1);
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->alloc = 0;
        return p;
}

const char *cairn_buf_str(const struct cairn_buf *b)
{
        return b->data ? b->data : "";
}

static int grow(struct cairn_buf *b, size_t extra)
{
        size_t need;
        if (__builtin_add_overflow(b->len, extra, &need) || need > b->cap)
                return -E2BIG;
        if (need + 1 <= b->alloc)
                return 0;
        size_t n = b->alloc ? b->alloc : 64;
        while (n < need + 1) {
                if (__builtin_mul_overflow(n, 2, &n)) {
                        n = need + 1;
                        break;
                }
        }
        b->data = cairn_xrealloc(b->data, n);
        b->alloc = n;
        return 0;
}

int cairn_buf_reserve(struct cairn_buf *b, size_t extra)
{
        return grow(b, extra);
}

int cairn_buf_add(struct cairn_buf *b, const void *data, size_t len)
{
        int r = grow(b, len);
        if (r < 0)
                return r;
        if (len)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int cairn_buf_adds(struct cairn_buf *b, const char *s)
{
        return cairn_buf_add(b, s, strlen(s));
}

int cairn_buf_addc(struct cairn_buf *b, char c)
{
        return cairn_buf_add(b, &c, 1);
}

int cairn_buf_addn(struct cairn_buf *b, char c, size_t n)
{
        int r = grow(b, n);
        if (r < 0)
                return r;
        memset(b->data + b->len, c, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int cairn_buf_vprintf(struct cairn_buf *b, const char *fmt, va_list ap)
{
        va_list aq;
        va_copy(aq, ap);
        int n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return -EINVAL;
        int r = grow(b, (size_t) n);
        if (r < 0)
                return r;
        vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
        b->len += (size_t) n;
        return 0;
}

int cairn_buf_printf(struct cairn_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = cairn_buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

void cairn_buf_truncate(struct cairn_buf *b, size_t len)
{
        if (len < b->len) {
                b->len = len;
                b->data[len] = '\0';
        }
}
