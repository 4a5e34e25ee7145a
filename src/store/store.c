/* SPDX-License-Identifier: Apache-2.0 */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strbuf.h"

static const struct {
        const char *prefix;
        const struct cairn_store_ops *ops;
} kinds[] = {
        { "overlayfs", &cairn_store_overlayfs_ops },
        { "copy", &cairn_store_copy_ops },
        /* OBuilder's rsync store has the same layout. */
        { "rsync", &cairn_store_copy_ops },
};

int cairn_store_open(const char *spec, struct cairn_store **ret, struct cairn_error **err)
{
        const char *colon = strchr(spec, ':');
        if (!colon)
                return cairn_error_set(err, -EINVAL, "invalid store \"%s\": expected KIND:PATH, such as %s", spec,
                                       CAIRN_STORE_DEFAULT);
        size_t klen = (size_t) (colon - spec);
        const char *path = colon + 1;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                if (strlen(kinds[i].prefix) != klen || strncmp(spec, kinds[i].prefix, klen) != 0)
                        continue;
                if (path[0] != '/')
                        return cairn_error_set(err, -EINVAL, "invalid store \"%s\": the path must be absolute", spec);
                int r = kinds[i].ops->open(path, ret, err);
                if (r < 0)
                        return cairn_error_prefix(err, "store \"%s\"", spec);
                return r;
        }
        struct cairn_buf names = CAIRN_BUF_INIT;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                cairn_buf_printf(&names, "%s%s:PATH", i ? ", " : "", kinds[i].prefix);
        int r = cairn_error_set(err, -EINVAL, "unknown store kind \"%.*s\" in \"%s\": expected %s", (int) klen, spec, spec,
                                cairn_buf_str(&names));
        cairn_buf_release(&names);
        return r;
}

void cairn_store_close(struct cairn_store *s)
{
        if (s)
                s->ops->close(s);
}

char *cairn_store_cache_dirname(const char *name)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_adds(&b, "c-");
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                    *p == '.' || *p == '_')
                        cairn_buf_addc(&b, (char) *p);
                else
                        cairn_buf_printf(&b, "%%%02x", *p);
        }
        /* "c-." and "c-.." are fine names: the prefix keeps them from being
         * "." or "..". */
        return cairn_buf_steal(&b, NULL);
}
