/* SPDX-License-Identifier: Apache-2.0 */
/* What the engine's own files share; not part of the library's interface. */
#ifndef CAIRN_ENGINE_ENGINE_INTERNAL_H
#define CAIRN_ENGINE_ENGINE_INTERNAL_H

#include <jansson.h>

#include "engine/engine.h"
#include "store/store.h"

struct cairn_store *cairn_engine_store(struct cairn_engine *e);

/*
 * The JSON files kept beside a result's log (context.json, image.json):
 * they describe a result and are never part of its ID.  Saving takes j
 * (it is released either way).  Loading returns NULL when the file is
 * missing or unreadable (a result OBuilder made has none).
 */
int cairn_result_json_save(const char *dir, const char *name, json_t *j, struct cairn_error **err);
json_t *cairn_result_json_load(const char *dir, const char *name);

#endif
