/* SPDX-License-Identifier: Apache-2.0 */
#include "base/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strbuf.h"

static int negative(int code)
{
        if (code > 0)
                return -code;
        return code ? code : -EINVAL;
}

int cairn_error_setv(struct cairn_error **err, int code, const char *fmt, va_list ap)
{
        code = negative(code);
        if (!err)
                return code;
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_vprintf(&b, fmt, ap);
        struct cairn_error *e = cairn_xzalloc(sizeof(*e));
        e->code = code;
        e->message = cairn_buf_steal(&b, NULL);
        struct cairn_error **tail = err;
        while (*tail)
                tail = &(*tail)->next;
        *tail = e;
        return code;
}

int cairn_error_set(struct cairn_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = cairn_error_setv(err, code, fmt, ap);
        va_end(ap);
        return r;
}

int cairn_error_set_errno(struct cairn_error **err, int errno_value, const char *fmt, ...)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        int r = cairn_error_set(err, errno_value, "%s: %s", cairn_buf_str(&b),
                                strerror(abs(errno_value)));
        cairn_buf_release(&b);
        return r;
}

int cairn_error_prefix(struct cairn_error **err, const char *fmt, ...)
{
        if (!err || !*err)
                return -EINVAL;
        struct cairn_buf prefix = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&prefix, fmt, ap);
        va_end(ap);
        for (struct cairn_error *e = *err; e; e = e->next) {
                char *m = cairn_xasprintf("%s: %s", cairn_buf_str(&prefix), e->message);
                free(e->message);
                e->message = m;
        }
        cairn_buf_release(&prefix);
        return (*err)->code;
}

void cairn_error_append(struct cairn_error **to, struct cairn_error **from)
{
        struct cairn_error **tail = to;
        while (*tail)
                tail = &(*tail)->next;
        *tail = *from;
        *from = NULL;
}

unsigned cairn_error_count(const struct cairn_error *err)
{
        unsigned n = 0;
        for (; err; err = err->next)
                n++;
        return n;
}

void cairn_error_free(struct cairn_error *err)
{
        while (err) {
                struct cairn_error *next = err->next;
                free(err->message);
                free(err);
                err = next;
        }
}
