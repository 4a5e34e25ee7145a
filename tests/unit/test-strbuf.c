/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/strbuf.h"
#include "tap.h"

static void test_buf(void)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        is_str(cairn_buf_str(&b), "", "an empty buffer reads as the empty string");
        cairn_buf_adds(&b, "hello");
        cairn_buf_addc(&b, ' ');
        cairn_buf_printf(&b, "%d-%s", 42, "x");
        cairn_buf_addn(&b, '.', 3);
        is_str(cairn_buf_str(&b), "hello 42-x...", "appends and printf");
        is_int(b.len, 13, "length tracked");
        cairn_buf_truncate(&b, 5);
        is_str(cairn_buf_str(&b), "hello", "truncate");
        size_t len;
        char *s = cairn_buf_steal(&b, &len);
        is_str(s, "hello", "steal hands over the contents");
        is_int(len, 5, "steal reports the length");
        ok(b.data == NULL && b.len == 0, "steal empties the buffer");
        free(s);

        struct cairn_buf big = CAIRN_BUF_INIT;
        for (int i = 0; i < 10000; i++)
                cairn_buf_adds(&big, "0123456789");
        is_int(big.len, 100000, "grows past many reallocations");
        ok(big.data[99999] == '9' && big.data[100000] == '\0', "contents intact and NUL-terminated");
        cairn_buf_release(&big);
}

static void test_cap(void)
{
        struct cairn_buf b = CAIRN_BUF_INIT_CAP(8);
        is_int(cairn_buf_adds(&b, "12345678"), 0, "append up to the cap succeeds");
        is_int(cairn_buf_addc(&b, '9'), -E2BIG, "one byte past the cap fails with -E2BIG");
        is_str(cairn_buf_str(&b), "12345678", "a failed append leaves the contents alone");
        is_int(cairn_buf_printf(&b, "%s", "x"), -E2BIG, "printf past the cap fails");
        is_int(cairn_buf_add(&b, "x", (size_t) -1), -E2BIG, "a huge length does not overflow");
        cairn_buf_release(&b);
}

static void test_error(void)
{
        struct cairn_error *err = NULL;
        int r = cairn_error_set(&err, ENOENT, "no %s", "thing");
        is_int(r, -ENOENT, "set returns the negative code");
        is_str(err->message, "no thing", "message formatted");
        cairn_error_set(&err, -EINVAL, "second");
        is_int(cairn_error_count(err), 2, "a second error is chained");
        cairn_error_prefix(&err, "step %d", 3);
        is_str(err->message, "step 3: no thing", "prefix applies to the head");
        is_str(err->next->message, "step 3: second", "and to the chain");
        cairn_error_free(err);
        is_int(cairn_error_set(NULL, EIO, "dropped"), -EIO, "a NULL err still gives the code");
        err = NULL;
        cairn_error_set_errno(&err, EACCES, "cannot open \"%s\"", "/x");
        has_str(err->message, "cannot open \"/x\": Permission denied", "errno text appended");
        cairn_error_free(err);
}

static void test_arena(void)
{
        struct cairn_arena *a = cairn_arena_new();
        char *big = cairn_arena_alloc(a, 100000);
        ok(big[0] == 0 && big[99999] == 0, "large allocations are zeroed");
        char *s = NULL;
        for (int i = 0; i < 5000; i++)
                s = cairn_arena_strdup(a, "some text");
        is_str(s, "some text", "many small allocations");
        ok(((uintptr_t) cairn_arena_alloc(a, 3) % _Alignof(max_align_t)) == 0, "allocations are aligned");
        cairn_arena_free(a);
}

int main(void)
{
        test_buf();
        test_cap();
        test_error();
        test_arena();
        return tap_done();
}
