/* SPDX-License-Identifier: Apache-2.0 */
/* Stages at once need fork (stages-posix.c): on Windows they are built one
 * after another. */
#include "engine/engine-internal.h"

int engine_build_stages_parallel(const struct run *R, const struct cairn_spec *spec, struct ctx *c,
                                 struct cairn_error **err)
{
        return engine_build_stages_sequential(R, spec, c, err);
}

void engine_stage_note_built(const struct run *R, const char *id)
{
        (void) R;
        (void) id;
}
