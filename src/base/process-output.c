/* SPDX-License-Identifier: Apache-2.0 */
/* Where a helper's output goes: shared by process.c and its Windows twin. */
#include "base/process.h"

#include "base/strbuf.h"

/* Into a capped buffer: once a chunk does not fit, nothing more goes in,
 * so what was captured is a beginning, not pieces spliced together. */
static void capture(struct cairn_buf *b, const char *data, size_t len)
{
        if (b && cairn_buf_add(b, data, len) < 0)
                b->cap = b->len;
}

void cairn_process_deliver(const struct cairn_process *p, bool is_err, const char *data, size_t len)
{
        if (is_err && !p->merge_stderr)
                capture(p->errout, data, len);
        else if (p->output)
                p->output(data, len, p->userdata);
        else
                capture(p->out, data, len);
}
