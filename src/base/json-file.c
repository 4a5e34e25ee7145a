/* SPDX-License-Identifier: Apache-2.0 */
#include "base/json-file.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/file.h"

/* Metadata files are small; anything bigger is not what it claims to be. */
#define MAX_JSON (4u << 20)

json_t *cairn_load_json(const char *path, const char *what, struct cairn_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (cairn_read_file(path, MAX_JSON, &data, &len, err) < 0) {
                cairn_error_prefix(err, "%s", what);
                return NULL;
        }
        json_error_t je;
        json_t *j = json_loadb(data, len, 0, &je);
        if (!j)
                cairn_error_set(err, -EINVAL, "%s \"%s\" is not valid JSON: line %d: %s", what, path, je.line, je.text);
        return j;
}
