/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canonical forms of a spec.
 *
 * cairn_spec_to_sexp() builds the S-expression OBuilder's sexp_of_t builds:
 * fields in canonical order, defaults and empty lists left out.  The human
 * printer then lays it out exactly as OBuilder's Spec.pp does with OCaml's
 * Format (margin 78, max indent 68):
 *
 *   - a spec is "(" + one item per line, aligned one column in, + ")"; at top
 *     level the ")" goes on a line of its own in column 0;
 *   - (build NAME SPEC): NAME after "(build ", the nested spec on the next
 *     line aligned with NAME;
 *   - run: one field per line, aligned after "(run " (a vertical box);
 *   - copy: all fields on one line if they fit before the margin, otherwise
 *     one per line aligned after "(copy " (a horizontal-or-vertical box);
 *   - everything else on one line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec.h"

static struct cairn_sexp *atom(struct cairn_arena *a, const char *s)
{
        return cairn_sexp_atom(a, s);
}

/* (NAME v1 v2 ...) from strings. */
static struct cairn_sexp *named_atoms(struct cairn_arena *a, const char *name, const char *const *v, size_t n)
{
        struct cairn_sexp **items = cairn_arena_array(a, n + 1, sizeof(*items));
        items[0] = atom(a, name);
        for (size_t i = 0; i < n; i++)
                items[i + 1] = atom(a, v[i]);
        return cairn_sexp_listv(a, items, n + 1);
}

static struct cairn_sexp *mount_to_sexp(struct cairn_arena *a, const struct cairn_spec_mount *m)
{
        struct cairn_sexp *target = cairn_sexp_list(a, atom(a, "target"), atom(a, m->target), NULL);
        if (m->n_buildkit_options == 0)
                return cairn_sexp_list(a, atom(a, m->id), target, NULL);
        struct cairn_sexp **kvs = cairn_arena_array(a, m->n_buildkit_options, sizeof(*kvs));
        for (size_t i = 0; i < m->n_buildkit_options; i++)
                kvs[i] = cairn_sexp_list(a, atom(a, m->buildkit_options[i].key),
                                         atom(a, m->buildkit_options[i].value), NULL);
        struct cairn_sexp *opts = cairn_sexp_list(a, atom(a, "buildkit_options"),
                                                  cairn_sexp_listv(a, kvs, m->n_buildkit_options), NULL);
        return cairn_sexp_list(a, atom(a, m->id), target, opts, NULL);
}

static struct cairn_sexp *mounts_to_sexp(struct cairn_arena *a, const char *name,
                                         const struct cairn_spec_mount *m, size_t n)
{
        struct cairn_sexp **items = cairn_arena_array(a, n + 1, sizeof(*items));
        items[0] = atom(a, name);
        for (size_t i = 0; i < n; i++)
                items[i + 1] = mount_to_sexp(a, &m[i]);
        return cairn_sexp_listv(a, items, n + 1);
}

static struct cairn_sexp *int_atom(struct cairn_arena *a, int64_t v)
{
        char s[32];
        snprintf(s, sizeof(s), "%" PRId64, v);
        return atom(a, s);
}

struct cairn_sexp *cairn_spec_op_to_sexp(struct cairn_arena *a, const struct cairn_spec_op *op)
{
        const char *name = cairn_spec_op_name(op->kind);
        struct cairn_sexp *items[8];
        size_t n = 0;
        items[n++] = atom(a, name);
        switch (op->kind) {
        case CAIRN_SPEC_COMMENT:
                items[n++] = atom(a, op->comment);
                break;
        case CAIRN_SPEC_WORKDIR:
                items[n++] = atom(a, op->workdir);
                break;
        case CAIRN_SPEC_SHELL:
                return named_atoms(a, name, op->shell.args, op->shell.n);
        case CAIRN_SPEC_RUN:
                if (op->run.n_caches)
                        items[n++] = mounts_to_sexp(a, "cache", op->run.caches, op->run.n_caches);
                if (op->run.n_network)
                        items[n++] = named_atoms(a, "network", op->run.network, op->run.n_network);
                if (op->run.n_secrets)
                        items[n++] = mounts_to_sexp(a, "secrets", op->run.secrets, op->run.n_secrets);
                items[n++] = cairn_sexp_list(a, atom(a, "shell"), atom(a, op->run.shell), NULL);
                break;
        case CAIRN_SPEC_COPY:
                if (op->copy.from_build)
                        items[n++] = cairn_sexp_list(a, atom(a, "from"),
                                                     cairn_sexp_list(a, atom(a, "build"), atom(a, op->copy.from_build), NULL),
                                                     NULL);
                items[n++] = named_atoms(a, "src", op->copy.src, op->copy.n_src);
                items[n++] = cairn_sexp_list(a, atom(a, "dst"), atom(a, op->copy.dst), NULL);
                if (op->copy.n_exclude)
                        items[n++] = named_atoms(a, "exclude", op->copy.exclude, op->copy.n_exclude);
                break;
        case CAIRN_SPEC_USER:
                if (op->user.by_name) {
                        items[n++] = cairn_sexp_list(a, atom(a, "name"), atom(a, op->user.name), NULL);
                } else {
                        items[n++] = cairn_sexp_list(a, atom(a, "uid"), int_atom(a, op->user.uid), NULL);
                        items[n++] = cairn_sexp_list(a, atom(a, "gid"), int_atom(a, op->user.gid), NULL);
                }
                break;
        case CAIRN_SPEC_ENV:
                items[n++] = atom(a, op->env.name);
                items[n++] = atom(a, op->env.value);
                break;
        }
        return cairn_sexp_listv(a, items, n);
}

struct cairn_sexp *cairn_spec_to_sexp(struct cairn_arena *a, const struct cairn_spec *spec)
{
        size_t n = spec->n_stages + 1 + spec->n_ops;
        struct cairn_sexp **items = cairn_arena_array(a, n, sizeof(*items));
        size_t k = 0;
        for (size_t i = 0; i < spec->n_stages; i++)
                items[k++] = cairn_sexp_list(a, atom(a, "build"), atom(a, spec->stages[i].name),
                                             cairn_spec_to_sexp(a, spec->stages[i].spec), NULL);
        items[k++] = cairn_sexp_list(a, atom(a, "from"), atom(a, spec->from), NULL);
        for (size_t i = 0; i < spec->n_ops; i++)
                items[k++] = cairn_spec_op_to_sexp(a, &spec->ops[i]);
        return cairn_sexp_listv(a, items, k);
}

static void pp_item(struct cairn_pp *pp, const struct cairn_sexp *s);

/* Items of a list in a vertical box at the current column. */
static void pp_vertical(struct cairn_pp *pp, struct cairn_sexp *const *items, size_t n, bool layout)
{
        size_t box = pp->col;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        cairn_pp_newline(pp, box);
                if (layout)
                        pp_item(pp, items[i]);
                else
                        cairn_sexp_pp_line(pp, items[i]);
        }
}

static bool head_is(const struct cairn_sexp *s, const char *name)
{
        return s->kind == CAIRN_SEXP_LIST && s->n > 0 && cairn_sexp_is_atom(s->items[0], name);
}

static void pp_item(struct cairn_pp *pp, const struct cairn_sexp *s)
{
        if (head_is(s, "build") && s->n == 3 && s->items[1]->kind == CAIRN_SEXP_ATOM &&
            s->items[2]->kind == CAIRN_SEXP_LIST) {
                cairn_pp_str(pp, "(build ");
                size_t box = pp->col;
                cairn_sexp_pp_line(pp, s->items[1]);
                cairn_pp_newline(pp, box);
                cairn_pp_str(pp, "(");
                pp_vertical(pp, s->items[2]->items, s->items[2]->n, true);
                cairn_pp_str(pp, "))");
        } else if (head_is(s, "run")) {
                cairn_pp_str(pp, "(run ");
                pp_vertical(pp, s->items + 1, s->n - 1, false);
                cairn_pp_str(pp, ")");
        } else if (head_is(s, "copy")) {
                cairn_pp_str(pp, "(copy ");
                size_t box = pp->col;
                size_t width = 0;
                for (size_t i = 1; i < s->n; i++)
                        width += cairn_sexp_line_width(s->items[i]) + (i > 1);
                /* Format keeps an hv box on one line only if its contents
                 * end strictly before the margin. */
                if (box + width < CAIRN_PP_MARGIN) {
                        for (size_t i = 1; i < s->n; i++) {
                                if (i > 1)
                                        cairn_pp_str(pp, " ");
                                cairn_sexp_pp_line(pp, s->items[i]);
                        }
                } else {
                        pp_vertical(pp, s->items + 1, s->n - 1, false);
                }
                cairn_pp_str(pp, ")");
        } else {
                cairn_sexp_pp_line(pp, s);
        }
}

void cairn_spec_print(struct cairn_buf *b, const struct cairn_spec *spec)
{
        struct cairn_arena *a = cairn_arena_new();
        struct cairn_sexp *s = cairn_spec_to_sexp(a, spec);
        struct cairn_pp pp = { b, 0 };
        cairn_pp_str(&pp, "(");
        pp_vertical(&pp, s->items, s->n, true);
        cairn_pp_newline(&pp, 0);
        cairn_pp_str(&pp, ")");
        cairn_arena_free(a);
}

void cairn_spec_print_op(struct cairn_pp *pp, const struct cairn_spec_op *op)
{
        struct cairn_arena *a = cairn_arena_new();
        pp_item(pp, cairn_spec_op_to_sexp(a, op));
        cairn_arena_free(a);
}

void cairn_spec_print_mach(struct cairn_buf *b, const struct cairn_spec *spec)
{
        struct cairn_arena *a = cairn_arena_new();
        cairn_sexp_print_mach(b, cairn_spec_to_sexp(a, spec));
        cairn_arena_free(a);
}
