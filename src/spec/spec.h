/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build spec: OBuilder's spec language, parsed, validated and printed.
 *
 *   ((build NAME SPEC)*     nested stages, only before (from)
 *    (from IMAGE)           exactly one
 *    OP*)                   comment workdir shell run copy user env
 *
 * The parser accepts exactly what OBuilder accepts (including its
 * capitalised op spellings such as (Workdir /x) and (Env (A b))) and rejects
 * what it rejects, with messages of the form
 *
 *   FILE:LINE:COL: OP: what is wrong, and what was expected
 *
 * It keeps going after an error in one operation so that a single run reports
 * every problem it can find.
 *
 * This module knows nothing of stores, sandboxes or builds.
 */
#ifndef CAIRN_SPEC_SPEC_H
#define CAIRN_SPEC_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/strbuf.h"
#include "spec/sexp.h"

/* Limit on nested (build ...) stages, well above any real spec. */
#define CAIRN_SPEC_MAX_STAGE_DEPTH 32

struct cairn_spec_kv {
        const char *key;
        const char *value;
};

/* A (cache (ID (target PATH) ...)) or (secrets (ID (target PATH) ...)) entry. */
struct cairn_spec_mount {
        const char *id;
        const char *target;
        /* (buildkit_options ((K V) ...)): used only by the Dockerfile export. */
        struct cairn_spec_kv *buildkit_options;
        size_t n_buildkit_options;
};

enum cairn_spec_op_kind {
        CAIRN_SPEC_COMMENT,
        CAIRN_SPEC_WORKDIR,
        CAIRN_SPEC_SHELL,
        CAIRN_SPEC_RUN,
        CAIRN_SPEC_COPY,
        CAIRN_SPEC_USER,
        CAIRN_SPEC_ENV,
};

/* (user (uid N) (gid N)) or (user (name NAME)).  uid and gid are OCaml ints:
 * 63-bit, so always within [-2^62, 2^62). */
struct cairn_spec_user {
        bool by_name;
        int64_t uid, gid;
        const char *name;
};

struct cairn_spec_run {
        struct cairn_spec_mount *caches;
        size_t n_caches;
        const char **network;
        size_t n_network;
        struct cairn_spec_mount *secrets;
        size_t n_secrets;
        const char *shell;          /* the command */
};

struct cairn_spec_copy {
        const char *from_build;     /* stage name, or NULL for the build context */
        const char **src;
        size_t n_src;
        const char *dst;
        const char **exclude;
        size_t n_exclude;
};

struct cairn_spec_op {
        enum cairn_spec_op_kind kind;
        unsigned line, col;         /* position of the op in the file */
        union {
                const char *comment;
                const char *workdir;
                struct {
                        const char **args;
                        size_t n;
                } shell;
                struct cairn_spec_run run;
                struct cairn_spec_copy copy;
                struct cairn_spec_user user;
                struct {
                        const char *name;
                        const char *value;
                } env;
        };
};

struct cairn_spec;

struct cairn_spec_stage {
        const char *name;
        struct cairn_spec *spec;    /* NULL only when the stage failed to parse */
        unsigned line, col;
};

struct cairn_spec {
        struct cairn_spec_stage *stages;
        size_t n_stages;
        const char *from;
        struct cairn_spec_op *ops;
        size_t n_ops;
        unsigned line, col;
        /* Only on the root returned by cairn_spec_parse: */
        struct cairn_arena *arena;  /* owns every node */
        const char *filename;
        unsigned comments;          /* comments in the source, lost by printing */
};

/*
 * Parse and validate a spec.  On failure *err holds every diagnostic found,
 * chained through ->next.  *ret is freed with cairn_spec_free().
 */
int cairn_spec_parse(const char *filename, const char *data, size_t len, struct cairn_spec **ret,
                     struct cairn_error **err);

/* Read the file at path ("-" for stdin) and parse it. */
int cairn_spec_load(const char *path, struct cairn_spec **ret, struct cairn_error **err);

void cairn_spec_free(struct cairn_spec *spec);

/*
 * What is valid but unwise, appended to *warnings as "FILE:LINE:COL:
 * warning: ..." (code -EINVAL): today, cache names that OBuilder would
 * turn into a path ("", ".", "..", or with "/") on its overlayfs, rsync and
 * xfs stores.  Returns the number of warnings.
 */
unsigned cairn_spec_warnings(const struct cairn_spec *spec, struct cairn_error **warnings);

/*
 * Whether spec, its operations or any stage nested in it, copies
 * (from (build NAME)).  A nested stage of the same name does not hide it:
 * the answer errs towards "uses", which is what a scheduler needs.
 */
bool cairn_spec_uses_name(const struct cairn_spec *spec, const char *name);

/*
 * Whether stage i of spec must wait for stage j (j < i): i copies from a
 * stage named as j is, directly or in a stage nested in i.  Stages that do
 * not need each other, directly or through others, can be built at once:
 * each sees the stages before it only by name.  Conservative: a name shadowed
 * by a later stage of the same name counts for both.
 */
bool cairn_spec_stage_needs(const struct cairn_spec *spec, size_t i, size_t j);

static inline void cairn_spec_freep(struct cairn_spec **s)
{
        cairn_spec_free(*s);
}
#define _cleanup_spec_ __attribute__((cleanup(cairn_spec_freep)))

/* The canonical S-expression of a spec or op (what OBuilder's sexp_of_t
 * produces), allocated in arena. */
struct cairn_sexp *cairn_spec_to_sexp(struct cairn_arena *arena, const struct cairn_spec *spec);
struct cairn_sexp *cairn_spec_op_to_sexp(struct cairn_arena *arena, const struct cairn_spec_op *op);

/* Append the canonical human form (OBuilder's Spec.pp), without a final
 * newline. */
void cairn_spec_print(struct cairn_buf *b, const struct cairn_spec *spec);

/* Print one op as OBuilder's Spec.pp_op does, starting at pp->col: used for
 * build-log headings. */
void cairn_spec_print_op(struct cairn_pp *pp, const struct cairn_spec_op *op);

/* Append the machine form (no layout) of the whole spec. */
void cairn_spec_print_mach(struct cairn_buf *b, const struct cairn_spec *spec);

/* The op's name as written in canonical form ("run", "copy", ...). */
const char *cairn_spec_op_name(enum cairn_spec_op_kind kind);

/*
 * OCaml's int_of_string on a 63-bit int: optional sign, 0x/0o/0b/0u prefixes,
 * '_' separators after the first digit.  Returns false on anything else or on
 * overflow.
 */
bool cairn_spec_parse_int(const char *s, int64_t *ret);

#endif
