/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Export a spec as a Dockerfile, as `obuilder dockerfile` does.
 *
 * The output is byte-identical to OBuilder's for every spec OBuilder handles,
 * with these fixes (docs/spec-language.md lists them):
 *   - SHELL arguments are valid JSON strings (OBuilder does not escape them);
 *   - a named (Windows) user with a cache or secret under BuildKit gets mounts
 *     without uid= instead of a crash;
 *   - a multi-line comment becomes one "# " line per line;
 *   - what the Dockerfile cannot carry (caches and secrets without BuildKit,
 *     copy excludes) is reported as a warning instead of dropped silently.
 */
#ifndef CAIRN_SPEC_DOCKERFILE_H
#define CAIRN_SPEC_DOCKERFILE_H

#include <stdbool.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "spec/spec.h"

enum cairn_dockerfile_os {
        CAIRN_DOCKERFILE_UNIX,     /* escape character '\' */
        CAIRN_DOCKERFILE_WINDOWS,  /* escape character '`', "#escape=`" first */
};

struct cairn_dockerfile_options {
        bool buildkit;             /* emit RUN --mount=... for caches and secrets */
        enum cairn_dockerfile_os os;
};

/*
 * Append the Dockerfile for spec to b.  Each warning about something the
 * Dockerfile cannot express is appended to *warnings (as FILE:LINE:COL: ...
 * text, code 0-like -EINVAL); warnings may be NULL.  Cannot fail.
 */
void cairn_dockerfile_write(struct cairn_buf *b, const struct cairn_spec *spec,
                            const struct cairn_dockerfile_options *opts, struct cairn_error **warnings);

#endif
