/* SPDX-License-Identifier: Apache-2.0 */
#include "engine/backends.h"

#include <errno.h>
#include <string.h>

#include "base/strbuf.h"
#include "store/store.h"

int cairn_backend_find(const char *spec, const struct cairn_backend **ret, const char **ret_path,
                       struct cairn_error **err)
{
        const char *colon = strchr(spec, ':');
        if (!colon)
                return cairn_error_set(err, -EINVAL, "invalid store \"%s\": expected KIND:PATH, such as %s", spec,
                                       cairn_default_store);
        size_t klen = (size_t) (colon - spec);
        for (size_t i = 0; i < cairn_n_backends; i++) {
                if (strlen(cairn_backends[i].kind) == klen && strncmp(spec, cairn_backends[i].kind, klen) == 0) {
                        *ret = &cairn_backends[i];
                        *ret_path = colon + 1;
                        return 0;
                }
        }
        /* OBuilder's other kinds, named so that an operator switching over
         * learns why. */
        if (klen == 3 && strncmp(spec, "zfs", 3) == 0)
                return cairn_error_set(err, -ENOTSUP,
                                       "store \"%s\": zfs stores are not supported yet: cairn has not been tested on zfs "
                                       "(docs/zfs.md says how it would map onto datasets, clones and snapshots); "
                                       "a zfs dataset can hold a copy:PATH store meanwhile", spec);
        struct cairn_buf names = CAIRN_BUF_INIT;
        for (size_t i = 0; i < cairn_n_backends; i++)
                cairn_buf_printf(&names, "%s%s:PATH", i ? ", " : "", cairn_backends[i].kind);
        int r = cairn_error_set(err, -EINVAL, "unknown store kind \"%.*s\" in \"%s\": expected %s", (int) klen, spec, spec,
                                cairn_buf_str(&names));
        cairn_buf_release(&names);
        return r;
}
