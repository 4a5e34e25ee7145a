/* SPDX-License-Identifier: Apache-2.0 */
/* Small JSON documents (image records, configs, manifests) read from files. */
#ifndef CAIRN_BASE_JSON_FILE_H
#define CAIRN_BASE_JSON_FILE_H

#include <jansson.h>

#include "base/error.h"

/* The document in the file at path, of at most 4 MiB; `what` names it in
 * errors.  NULL with *err set when it cannot be read or is not JSON. */
json_t *cairn_load_json(const char *path, const char *what, struct cairn_error **err);

#endif
