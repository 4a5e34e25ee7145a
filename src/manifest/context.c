/* SPDX-License-Identifier: Apache-2.0 */
/* What manifest/context.h does the same on every platform, from its
 * primitives. */
#include "manifest/context.h"

#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"

int cairn_context_open_path(struct cairn_context_dir *d, const char *path, const struct cairn_context_stat *expect)
{
        /* One component at a time, each directory opened as open_dir does
         * (never through a link) and held until the next is open. */
        _cleanup_free_ char *copy = cairn_xstrdup(path);
        struct cairn_context_dir *dir = d;
        char *name = copy;
        int r = 0;
        for (char *slash; r == 0 && (slash = strchr(name, '/')); name = slash + 1) {
                *slash = '\0';
                if (!*name || strcmp(name, ".") == 0)
                        continue;
                struct cairn_context_dir *sub = NULL;
                r = cairn_context_open_dir(dir, name, &sub);
                if (dir != d)
                        cairn_context_close(dir);
                dir = r == 0 ? sub : d;
        }
        if (r == 0)
                r = cairn_context_open_file(dir, *name ? name : ".", expect);
        if (dir != d)
                cairn_context_close(dir);
        return r;
}
