/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Invariants: data is NULL or points to alloc bytes; when data is not NULL,
 * data[len] == '\0', so the contents can be used as a C string as long as they
 * hold no NUL byte.  len never exceeds cap.  An append that would pass the cap
 * appends nothing and returns -E2BIG, so a reader fed by an attacker fails
 * cleanly instead of eating memory.
 *
 * The buffer owns data.  cairn_buf_release() frees it; cairn_buf_steal() hands
 * it to the caller.
 */
#ifndef CAIRN_BASE_STRBUF_H
#define CAIRN_BASE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct cairn_buf {
        char *data;
        size_t len;
        size_t alloc;
        size_t cap;
};

/* No cap beyond what fits in memory. */
#define CAIRN_BUF_UNLIMITED ((size_t) -1)
#define CAIRN_BUF_INIT { NULL, 0, 0, CAIRN_BUF_UNLIMITED }
#define CAIRN_BUF_INIT_CAP(c) { NULL, 0, 0, (c) }

void cairn_buf_init(struct cairn_buf *b, size_t cap);
/* Free the contents; the buffer can be used again (empty). */
void cairn_buf_release(struct cairn_buf *b);
/* Empty the buffer, keeping its memory. */
void cairn_buf_reset(struct cairn_buf *b);
/* Take the contents (never NULL, NUL-terminated); the buffer is left empty. */
char *cairn_buf_steal(struct cairn_buf *b, size_t *ret_len);
/* The contents as a C string ("" when empty). */
const char *cairn_buf_str(const struct cairn_buf *b);

int cairn_buf_add(struct cairn_buf *b, const void *data, size_t len);
/* Make room for extra more bytes at once (-E2BIG past the cap): the adds
 * that fill it copy nothing again. */
int cairn_buf_reserve(struct cairn_buf *b, size_t extra);
int cairn_buf_adds(struct cairn_buf *b, const char *s);
int cairn_buf_addc(struct cairn_buf *b, char c);
int cairn_buf_addn(struct cairn_buf *b, char c, size_t n);
int cairn_buf_printf(struct cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cairn_buf_vprintf(struct cairn_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Shorten to len (len <= b->len). */
void cairn_buf_truncate(struct cairn_buf *b, size_t len);

static inline void cairn_buf_releasep(struct cairn_buf *b)
{
        cairn_buf_release(b);
}
#define _cleanup_buf_ __attribute__((cleanup(cairn_buf_releasep)))

#endif
