/* SPDX-License-Identifier: Apache-2.0 */
/* What the engine's own files share; not part of the library's interface. */
#ifndef CAIRN_BUILD_ENGINE_INTERNAL_H
#define CAIRN_BUILD_ENGINE_INTERNAL_H

#include "build/engine.h"
#include "store/store.h"

struct cairn_store *cairn_engine_store(struct cairn_engine *e);

#endif
