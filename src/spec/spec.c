/* SPDX-License-Identifier: Apache-2.0 */
#include "spec/spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"

/* Maximum size of a spec file. */
#define SPEC_MAX_FILE CAIRN_SEXP_MAX_INPUT

struct parser {
        struct cairn_arena *arena;
        const char *filename;
        struct cairn_error *errors;   /* every diagnostic so far */
        unsigned depth;
};

static int fail(struct parser *p, const struct cairn_sexp *at, const char *what, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Record a diagnostic at node `at`, for operation `what` (may be NULL). */
static int fail(struct parser *p, const struct cairn_sexp *at, const char *what, const char *fmt, ...)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "%s:%u:%u: ", p->filename, at->line, at->col);
        if (what)
                cairn_buf_printf(&b, "%s: ", what);
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        cairn_error_set(&p->errors, -EINVAL, "%s", cairn_buf_str(&b));
        cairn_buf_release(&b);
        return -EINVAL;
}

/* The one-line printed form of a node, for messages; lives in the arena. */
static const char *show(struct parser *p, const struct cairn_sexp *s)
{
        _cleanup_free_ char *line = cairn_sexp_to_line(s);
        /* Keep messages readable when the offending form is huge. */
        if (strlen(line) > 200)
                strcpy(line + 190, " ...");
        return cairn_arena_strdup(p->arena, line);
}

/* An atom's text; NUL bytes are refused because no command line, path or
 * variable can carry them. */
static int get_string(struct parser *p, const struct cairn_sexp *s, const char *what, const char *role,
                      const char **ret)
{
        if (s->kind != CAIRN_SEXP_ATOM)
                return fail(p, s, what, "expected %s (a string), found the list %s", role, show(p, s));
        if (memchr(s->atom, '\0', s->len))
                return fail(p, s, what, "%s contains a NUL byte, which cannot be passed to a command or used in a path",
                            role);
        *ret = s->atom;
        return 0;
}

static int get_strings(struct parser *p, struct cairn_sexp *const *items, size_t n, const char *what,
                       const char *role, const char ***ret, size_t *ret_n)
{
        const char **out = cairn_arena_array(p->arena, n, sizeof(*out));
        for (size_t i = 0; i < n; i++) {
                int r = get_string(p, items[i], what, role, &out[i]);
                if (r < 0)
                        return r;
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

bool cairn_spec_parse_int(const char *s, int64_t *ret)
{
        const char *q = s;
        bool negative = false;
        if (*q == '-') {
                negative = true;
                q++;
        } else if (*q == '+') {
                q++;
        }
        unsigned base = 10;
        bool is_signed = true;
        if (q[0] == '0') {
                switch (q[1]) {
                case 'x': case 'X': base = 16; is_signed = false; q += 2; break;
                case 'o': case 'O': base = 8; is_signed = false; q += 2; break;
                case 'b': case 'B': base = 2; is_signed = false; q += 2; break;
                case 'u': case 'U': base = 10; is_signed = false; q += 2; break;
                default: break;
                }
        }
        const uint64_t limit = UINT64_C(1) << 63;
        uint64_t res = 0;
        bool first = true;
        for (; *q; q++) {
                if (*q == '_' && !first)
                        continue;
                unsigned d;
                if (*q >= '0' && *q <= '9')
                        d = (unsigned) (*q - '0');
                else if (*q >= 'a' && *q <= 'f')
                        d = (unsigned) (*q - 'a' + 10);
                else if (*q >= 'A' && *q <= 'F')
                        d = (unsigned) (*q - 'A' + 10);
                else
                        return false;
                if (d >= base)
                        return false;
                if (res > (UINT64_MAX - d) / base)
                        return false;
                res = res * base + d;
                first = false;
        }
        if (first)
                return false;
        /* OCaml ints are 63 bits: decimal must fit as a signed value, other
         * bases as an unsigned one that then wraps. */
        if (is_signed && base == 10) {
                if (negative ? res > limit / 2 : res >= limit / 2)
                        return false;
        } else if (res >= limit) {
                return false;
        }
        uint64_t v = negative ? (uint64_t) 0 - res : res;
        /* Sign-extend from bit 62. */
        *ret = (int64_t) (v << 1) >> 1;
        return true;
}

/* Fields of an OBuilder record: ((name value...) ...).  `inline_fields` lists
 * the fields that take any number of values (OBuilder's "inflated" lists);
 * every other field takes exactly one value. */
struct field_spec {
        const char *name;
        bool many;
        bool required;
        const char *usage;   /* shown in messages, e.g. "(shell COMMAND)" */
};

struct field_value {
        const struct cairn_sexp *field;    /* the whole (name ...) form, or NULL when absent */
        struct cairn_sexp *const *values;
        size_t n;
};

static int parse_record(struct parser *p, const struct cairn_sexp *at, struct cairn_sexp *const *items, size_t n,
                        const char *what, const struct field_spec *fields, size_t n_fields,
                        struct field_value *out)
{
        int ret = 0;
        memset(out, 0, n_fields * sizeof(*out));
        for (size_t i = 0; i < n; i++) {
                const struct cairn_sexp *f = items[i];
                if (f->kind != CAIRN_SEXP_LIST || f->n == 0 || f->items[0]->kind != CAIRN_SEXP_ATOM) {
                        ret = fail(p, f, what, "expected a field (NAME VALUE...), found %s", show(p, f));
                        continue;
                }
                size_t k;
                for (k = 0; k < n_fields; k++)
                        if (cairn_sexp_is_atom(f->items[0], fields[k].name))
                                break;
                if (k == n_fields) {
                        struct cairn_buf names = CAIRN_BUF_INIT;
                        for (size_t j = 0; j < n_fields; j++)
                                cairn_buf_printf(&names, "%s%s", j == 0 ? "" : j + 1 == n_fields ? " or " : ", ",
                                                 fields[j].name);
                        ret = fail(p, f, what, "unknown field %s: expected %s", show(p, f->items[0]),
                                   cairn_buf_str(&names));
                        cairn_buf_release(&names);
                        continue;
                }
                if (out[k].field) {
                        ret = fail(p, f, what, "duplicate field (%s ...); it was already given at line %u, column %u",
                                   fields[k].name, out[k].field->line, out[k].field->col);
                        continue;
                }
                if (!fields[k].many && f->n != 2) {
                        ret = fail(p, f, what, "field %s takes exactly one value, found %zu", fields[k].usage,
                                   f->n - 1);
                        continue;
                }
                out[k].field = f;
                out[k].values = f->items + 1;
                out[k].n = f->n - 1;
        }
        for (size_t k = 0; k < n_fields; k++)
                if (fields[k].required && !out[k].field)
                        ret = fail(p, at, what, "missing required field %s", fields[k].usage);
        return ret;
}

/* (ID (target PATH) [(buildkit_options ((K V) ...))]) */
static int parse_mount(struct parser *p, const struct cairn_sexp *s, const char *what, struct cairn_spec_mount *m)
{
        if (s->kind != CAIRN_SEXP_LIST || s->n == 0 || s->items[0]->kind != CAIRN_SEXP_ATOM)
                return fail(p, s, what, "expected (NAME (target PATH)), found %s", show(p, s));
        int r = get_string(p, s->items[0], what, "the name", &m->id);
        if (r < 0)
                return r;
        static const struct field_spec fields[] = {
                { "target", false, true, "(target PATH)" },
                { "buildkit_options", false, false, "(buildkit_options ((KEY VALUE) ...))" },
        };
        struct field_value v[2];
        _cleanup_free_ char *ctx = cairn_xasprintf("%s \"%s\"", what, m->id);
        char *where = cairn_arena_strdup(p->arena, ctx);
        r = parse_record(p, s, s->items + 1, s->n - 1, where, fields, 2, v);
        if (r < 0)
                return r;
        r = get_string(p, v[0].values[0], where, "the target path", &m->target);
        if (r < 0)
                return r;
        if (v[1].field) {
                const struct cairn_sexp *opts = v[1].values[0];
                if (opts->kind != CAIRN_SEXP_LIST)
                        return fail(p, opts, where, "buildkit_options must be a list of (KEY VALUE) pairs, found %s",
                                    show(p, opts));
                m->n_buildkit_options = opts->n;
                m->buildkit_options = cairn_arena_array(p->arena, opts->n, sizeof(*m->buildkit_options));
                for (size_t i = 0; i < opts->n; i++) {
                        const struct cairn_sexp *kv = opts->items[i];
                        if (kv->kind != CAIRN_SEXP_LIST || kv->n != 2)
                                return fail(p, kv, where, "expected a (KEY VALUE) pair in buildkit_options, found %s",
                                            show(p, kv));
                        r = get_string(p, kv->items[0], where, "the option name", &m->buildkit_options[i].key);
                        if (r < 0)
                                return r;
                        r = get_string(p, kv->items[1], where, "the option value", &m->buildkit_options[i].value);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_mounts(struct parser *p, const struct field_value *v, const char *what,
                        struct cairn_spec_mount **ret, size_t *ret_n)
{
        struct cairn_spec_mount *m = cairn_arena_array(p->arena, v->n, sizeof(*m));
        int ret_code = 0;
        for (size_t i = 0; i < v->n; i++) {
                int r = parse_mount(p, v->values[i], what, &m[i]);
                if (r < 0)
                        ret_code = r;
        }
        *ret = m;
        *ret_n = v->n;
        return ret_code;
}

static int parse_run(struct parser *p, const struct cairn_sexp *op, struct cairn_sexp *const *items, size_t n,
                     struct cairn_spec_run *run)
{
        static const struct field_spec fields[] = {
                { "cache", true, false, "(cache (NAME (target PATH)) ...)" },
                { "network", true, false, "(network NAME ...)" },
                { "secrets", true, false, "(secrets (NAME (target PATH)) ...)" },
                { "shell", false, true, "(shell COMMAND)" },
        };
        struct field_value v[4];
        int r = parse_record(p, op, items, n, "run", fields, 4, v);
        if (r < 0)
                return r;
        int ret = 0;
        if (parse_mounts(p, &v[0], "run: cache", &run->caches, &run->n_caches) < 0)
                ret = -EINVAL;
        if (get_strings(p, v[1].values, v[1].n, "run: network", "a network name", &run->network, &run->n_network) < 0)
                ret = -EINVAL;
        if (parse_mounts(p, &v[2], "run: secrets", &run->secrets, &run->n_secrets) < 0)
                ret = -EINVAL;
        if (get_string(p, v[3].values[0], "run", "the command of (shell COMMAND)", &run->shell) < 0)
                ret = -EINVAL;
        return ret;
}

static int parse_copy(struct parser *p, const struct cairn_sexp *op, struct cairn_sexp *const *items, size_t n,
                      struct cairn_spec_copy *copy)
{
        static const struct field_spec fields[] = {
                { "from", false, false, "(from context) or (from (build NAME))" },
                { "src", true, true, "(src PATH ...)" },
                { "dst", false, true, "(dst PATH)" },
                { "exclude", true, false, "(exclude NAME ...)" },
        };
        struct field_value v[4];
        int r = parse_record(p, op, items, n, "copy", fields, 4, v);
        if (r < 0)
                return r;
        int ret = 0;
        if (v[0].field) {
                const struct cairn_sexp *src = v[0].values[0];
                if (cairn_sexp_is_atom(src, "context")) {
                        copy->from_build = NULL;
                } else if (src->kind == CAIRN_SEXP_LIST && src->n == 2 && cairn_sexp_is_atom(src->items[0], "build") &&
                           src->items[1]->kind == CAIRN_SEXP_ATOM) {
                        if (get_string(p, src->items[1], "copy", "the build name", &copy->from_build) < 0)
                                ret = -EINVAL;
                } else {
                        ret = fail(p, src, "copy", "invalid data source %s: expected (from context) or (from (build NAME))",
                                   show(p, src));
                }
        }
        if (get_strings(p, v[1].values, v[1].n, "copy", "a source path", &copy->src, &copy->n_src) < 0)
                ret = -EINVAL;
        if (get_string(p, v[2].values[0], "copy", "the destination of (dst PATH)", &copy->dst) < 0)
                ret = -EINVAL;
        if (get_strings(p, v[3].values, v[3].n, "copy", "an exclude name", &copy->exclude, &copy->n_exclude) < 0)
                ret = -EINVAL;
        return ret;
}

static int parse_user(struct parser *p, const struct cairn_sexp *op, struct cairn_sexp *const *items, size_t n,
                      struct cairn_spec_user *user)
{
        /* OBuilder accepts exactly ((uid N) (gid N)), in that order, or ((name S)). */
        if (n == 1 && items[0]->kind == CAIRN_SEXP_LIST && items[0]->n == 2 &&
            cairn_sexp_is_atom(items[0]->items[0], "name")) {
                user->by_name = true;
                return get_string(p, items[0]->items[1], "user", "the user name", &user->name);
        }
        if (n == 2 && items[0]->kind == CAIRN_SEXP_LIST && items[0]->n == 2 &&
            cairn_sexp_is_atom(items[0]->items[0], "uid") && items[1]->kind == CAIRN_SEXP_LIST &&
            items[1]->n == 2 && cairn_sexp_is_atom(items[1]->items[0], "gid")) {
                int64_t *dst[2] = { &user->uid, &user->gid };
                for (size_t i = 0; i < 2; i++) {
                        const struct cairn_sexp *v = items[i]->items[1];
                        if (v->kind != CAIRN_SEXP_ATOM || !cairn_spec_parse_int(v->atom, dst[i]))
                                return fail(p, v, "user", "%s must be an integer, found %s", i ? "gid" : "uid",
                                            show(p, v));
                }
                return 0;
        }
        struct cairn_sexp *fields = cairn_sexp_listv(p->arena, items, n);
        return fail(p, n ? items[0] : op, "user",
                    "expected (user (uid N) (gid N)) or (user (name NAME)), found the fields %s", show(p, fields));
}

static const char *const op_names[] = {
        [CAIRN_SPEC_COMMENT] = "comment",
        [CAIRN_SPEC_WORKDIR] = "workdir",
        [CAIRN_SPEC_SHELL] = "shell",
        [CAIRN_SPEC_RUN] = "run",
        [CAIRN_SPEC_COPY] = "copy",
        [CAIRN_SPEC_USER] = "user",
        [CAIRN_SPEC_ENV] = "env",
};

const char *cairn_spec_op_name(enum cairn_spec_op_kind kind)
{
        return op_names[kind];
}

/* Which op an op name denotes, as OBuilder matches it: the first letter may be
 * upper case (it capitalises the name before matching), the rest must be
 * exactly as in the canonical name.  Sets *inline_form when the name is the
 * lower-case spelling of a record op, whose fields follow the name directly;
 * the capitalised spelling takes them as a single list: (Env (A B)). */
static int op_kind(const struct cairn_sexp *name, bool *inline_form)
{
        if (name->len == 0)
                return -1;
        for (size_t k = 0; k < CAIRN_ARRAY_SIZE(op_names); k++) {
                const char *canon = op_names[k];
                if (strlen(canon) != name->len || memcmp(canon + 1, name->atom + 1, name->len - 1) != 0)
                        continue;
                char first = name->atom[0];
                if (first != canon[0] && first != canon[0] - 'a' + 'A')
                        continue;
                *inline_form = first == canon[0] &&
                               (k == CAIRN_SPEC_RUN || k == CAIRN_SPEC_COPY || k == CAIRN_SPEC_USER || k == CAIRN_SPEC_ENV);
                return (int) k;
        }
        return -1;
}

static int parse_op(struct parser *p, const struct cairn_sexp *s, struct cairn_spec_op *op)
{
        /* The slot may hold what a failed op left; start clean. */
        *op = (struct cairn_spec_op) { 0 };
        if (s->kind != CAIRN_SEXP_LIST || s->n == 0 || s->items[0]->kind != CAIRN_SEXP_ATOM)
                return fail(p, s, NULL, "expected an operation (NAME ARGS...), found %s", show(p, s));
        const struct cairn_sexp *name = s->items[0];
        op->line = s->line;
        op->col = s->col;
        bool inline_form = false;
        int kind = op_kind(name, &inline_form);
        if (kind < 0) {
                if (cairn_sexp_is_atom(name, "from"))
                        return fail(p, s, "from",
                                    "a stage has exactly one (from IMAGE), and it comes before the operations");
                if (cairn_sexp_is_atom(name, "build"))
                        return fail(p, s, "build", "(build NAME SPEC) stages must come before the (from IMAGE) of their spec");
                for (size_t k = 0; k < CAIRN_ARRAY_SIZE(op_names); k++)
                        if (strcasecmp(name->atom, op_names[k]) == 0)
                                return fail(p, name, NULL, "unknown operation %s: did you mean \"%s\"?", show(p, name),
                                            op_names[k]);
                return fail(p, name, NULL,
                            "unknown operation %s: expected comment, workdir, shell, run, copy, user or env",
                            show(p, name));
        }
        op->kind = kind;
        const char *what = op_names[kind];
        struct cairn_sexp *const *args = s->items + 1;
        size_t n = s->n - 1;
        bool record = kind == CAIRN_SPEC_RUN || kind == CAIRN_SPEC_COPY || kind == CAIRN_SPEC_USER ||
                      kind == CAIRN_SPEC_ENV;
        if (record && !inline_form) {
                /* (Run ((shell x))): the fields come as one list. */
                if (n != 1 || args[0]->kind != CAIRN_SEXP_LIST)
                        return fail(p, s, what, "the capitalised form %s takes its fields as one list, as in (%s (...))",
                                    show(p, name), name->atom);
                n = args[0]->n;
                args = args[0]->items;
        }
        switch (op->kind) {
        case CAIRN_SPEC_COMMENT:
        case CAIRN_SPEC_WORKDIR:
                if (n != 1)
                        return fail(p, s, what, "expected exactly one argument, as in (%s %s), found %zu", what,
                                    kind == CAIRN_SPEC_COMMENT ? "TEXT" : "PATH", n);
                return get_string(p, args[0], what, kind == CAIRN_SPEC_COMMENT ? "the comment text" : "the directory",
                                  kind == CAIRN_SPEC_COMMENT ? &op->comment : &op->workdir);
        case CAIRN_SPEC_SHELL:
                return get_strings(p, args, n, what, "a shell argument", &op->shell.args, &op->shell.n);
        case CAIRN_SPEC_ENV:
                if (n != 2)
                        return fail(p, s, what, "expected (env NAME VALUE), found %zu argument%s", n, n == 1 ? "" : "s");
                if (get_string(p, args[0], what, "the variable name", &op->env.name) < 0)
                        return -EINVAL;
                return get_string(p, args[1], what, "the value", &op->env.value);
        case CAIRN_SPEC_RUN:
                return parse_run(p, s, args, n, &op->run);
        case CAIRN_SPEC_COPY:
                return parse_copy(p, s, args, n, &op->copy);
        case CAIRN_SPEC_USER:
                return parse_user(p, s, args, n, &op->user);
        }
        return -EINVAL;
}

static bool is_stage_form(const struct cairn_sexp *s)
{
        return s->kind == CAIRN_SEXP_LIST && s->n == 3 && cairn_sexp_is_atom(s->items[0], "build") &&
               s->items[1]->kind == CAIRN_SEXP_ATOM;
}

static bool is_from_form(const struct cairn_sexp *s)
{
        return s->kind == CAIRN_SEXP_LIST && s->n == 2 && cairn_sexp_is_atom(s->items[0], "from") &&
               s->items[1]->kind == CAIRN_SEXP_ATOM;
}

static int parse_spec(struct parser *p, const struct cairn_sexp *s, struct cairn_spec **ret);

static int parse_stage_list(struct parser *p, const struct cairn_sexp *s, struct cairn_spec *spec, size_t *ret_next)
{
        size_t i = 0;
        spec->stages = cairn_arena_array(p->arena, s->n, sizeof(*spec->stages));
        for (; i < s->n; i++) {
                const struct cairn_sexp *item = s->items[i];
                if (is_stage_form(item)) {
                        struct cairn_spec_stage *st = &spec->stages[spec->n_stages++];
                        st->line = item->line;
                        st->col = item->col;
                        if (get_string(p, item->items[1], "build", "the stage name", &st->name) < 0)
                                st->name = item->items[1]->atom;
                        /* A broken stage still names itself, so later copies
                         * from it are not reported as unknown too. */
                        (void) parse_spec(p, item->items[2], &st->spec);
                        continue;
                }
                if (is_from_form(item)) {
                        if (get_string(p, item->items[1], "from", "the image", &spec->from) < 0)
                                return -EINVAL;
                        *ret_next = i + 1;
                        return 0;
                }
                if (item->kind == CAIRN_SEXP_LIST && item->n > 0 && cairn_sexp_is_atom(item->items[0], "build"))
                        return fail(p, item, "build", "expected (build NAME SPEC) with NAME a single string, found %s",
                                    show(p, item));
                if (item->kind == CAIRN_SEXP_LIST && item->n > 0 && cairn_sexp_is_atom(item->items[0], "from"))
                        return fail(p, item, "from", "expected (from IMAGE) with IMAGE a single string, found %s",
                                    show(p, item));
                return fail(p, item, NULL,
                            "invalid spec item %s: a spec starts with any (build NAME SPEC) stages, then (from IMAGE), "
                            "then its operations",
                            show(p, item));
        }
        return fail(p, s, NULL, "invalid spec: missing (from IMAGE)");
}

static int parse_spec(struct parser *p, const struct cairn_sexp *s, struct cairn_spec **ret)
{
        *ret = NULL;
        if (s->kind != CAIRN_SEXP_LIST)
                return fail(p, s, NULL,
                            "invalid spec %s: expected a list ((build NAME SPEC)... (from IMAGE) OPERATION...)",
                            show(p, s));
        if (p->depth >= CAIRN_SPEC_MAX_STAGE_DEPTH)
                return fail(p, s, "build", "stages nested deeper than %d levels", CAIRN_SPEC_MAX_STAGE_DEPTH);
        p->depth++;
        struct cairn_spec *spec = cairn_arena_alloc(p->arena, sizeof(*spec));
        spec->line = s->line;
        spec->col = s->col;
        size_t next = 0;
        int r = parse_stage_list(p, s, spec, &next);
        p->depth--;
        if (r < 0)
                return r;
        spec->ops = cairn_arena_array(p->arena, s->n - next, sizeof(*spec->ops));
        int ret_code = 0;
        for (size_t i = next; i < s->n; i++) {
                if (parse_op(p, s->items[i], &spec->ops[spec->n_ops]) < 0)
                        ret_code = -EINVAL;
                else
                        spec->n_ops++;
        }
        *ret = spec;
        return ret_code;
}

/* Stage names in scope, kept sorted and unique like OCaml's String set. */
struct scope {
        const char **names;
        size_t n;
};

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool scope_has(const struct scope *sc, const char *name)
{
        return sc->n && bsearch(&name, sc->names, sc->n, sizeof(*sc->names), cmp_names);
}

static struct scope scope_add(struct parser *p, const struct scope *sc, const char *name)
{
        if (scope_has(sc, name))
                return *sc;
        struct scope out = { cairn_arena_array(p->arena, sc->n + 1, sizeof(char *)), sc->n + 1 };
        if (sc->n)
                memcpy(out.names, sc->names, sc->n * sizeof(char *));
        out.names[sc->n] = name;
        qsort(out.names, out.n, sizeof(char *), cmp_names);
        return out;
}

/*
 * A stage may copy from any stage defined before it at its own level or at an
 * enclosing level.  The message keeps OBuilder's wording, including its hint
 * listing every stage in scope.
 */
static void validate(struct parser *p, const struct cairn_spec *spec, struct scope sc)
{
        for (size_t i = 0; i < spec->n_stages; i++) {
                if (spec->stages[i].spec)
                        validate(p, spec->stages[i].spec, sc);
                sc = scope_add(p, &sc, spec->stages[i].name);
        }
        for (size_t i = 0; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                if (op->kind != CAIRN_SPEC_COPY || !op->copy.from_build || scope_has(&sc, op->copy.from_build))
                        continue;
                struct cairn_arena *tmp = cairn_arena_new();
                _cleanup_free_ char *form = cairn_sexp_to_line(cairn_spec_op_to_sexp(tmp, op));
                cairn_arena_free(tmp);
                struct cairn_buf msg = CAIRN_BUF_INIT;
                cairn_buf_printf(&msg, "unknown build \"%s\" in %s.", op->copy.from_build, form);
                if (sc.n == 1) {
                        cairn_buf_printf(&msg, "\nDid you mean \"%s\" ?", sc.names[0]);
                } else if (sc.n == 2) {
                        cairn_buf_printf(&msg, "\nDid you mean either \"%s\" or \"%s\" ?", sc.names[0], sc.names[1]);
                } else if (sc.n > 2) {
                        cairn_buf_adds(&msg, "\nDid you mean one of ");
                        for (size_t k = 0; k < sc.n; k++)
                                cairn_buf_printf(&msg, "%s\"%s\"", k == 0 ? "" : k + 1 == sc.n ? ", or " : ", ",
                                                 sc.names[k]);
                        cairn_buf_adds(&msg, " ?");
                }
                struct cairn_sexp at = { .line = op->line, .col = op->col };
                fail(p, &at, "copy", "%s", cairn_buf_str(&msg));
                cairn_buf_release(&msg);
        }
}

int cairn_spec_parse(const char *filename, const char *data, size_t len, struct cairn_spec **ret,
                     struct cairn_error **err)
{
        struct parser p = { .arena = cairn_arena_new(), .filename = filename };
        struct cairn_sexp *root;
        struct cairn_sexp_info info = { 0 };
        int r = cairn_sexp_read(p.arena, filename, data, len, &root, &info, err);
        if (r < 0) {
                cairn_arena_free(p.arena);
                return r;
        }
        struct cairn_spec *spec = NULL;
        (void) parse_spec(&p, root, &spec);
        if (spec)
                validate(&p, spec, (struct scope) { NULL, 0 });
        if (p.errors) {
                cairn_arena_free(p.arena);
                r = p.errors->code;
                cairn_error_append(err, &p.errors);
                return r;
        }
        spec->arena = p.arena;
        spec->filename = cairn_arena_strdup(p.arena, filename);
        spec->comments = info.comments;
        *ret = spec;
        return 0;
}

int cairn_spec_load(const char *path, struct cairn_spec **ret, struct cairn_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = cairn_read_file(path, SPEC_MAX_FILE, &data, &len, err);
        if (r < 0)
                return r;
        return cairn_spec_parse(strcmp(path, "-") == 0 ? "<stdin>" : path, data, len, ret, err);
}

void cairn_spec_free(struct cairn_spec *spec)
{
        if (spec)
                cairn_arena_free(spec->arena);
}

static unsigned warn_spec(const struct cairn_spec *spec, const char *file, struct cairn_error **warnings)
{
        unsigned n = 0;
        for (size_t i = 0; i < spec->n_stages; i++)
                if (spec->stages[i].spec)
                        n += warn_spec(spec->stages[i].spec, file, warnings);
        for (size_t i = 0; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                if (op->kind != CAIRN_SPEC_RUN)
                        continue;
                for (size_t k = 0; k < op->run.n_caches; k++) {
                        const char *name = op->run.caches[k].id;
                        if (*name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/'))
                                continue;
                        _cleanup_free_ char *shown = cairn_name_for_message(name);
                        cairn_error_set(warnings, -EINVAL,
                                        "%s:%u:%u: warning: the cache name \"%s\" is a path to OBuilder: on its "
                                        "overlayfs, rsync and xfs stores it would not be kept in cache/ (cairn "
                                        "keeps it there under a name of its own)",
                                        file, op->line, op->col, shown);
                        n++;
                }
        }
        return n;
}

unsigned cairn_spec_warnings(const struct cairn_spec *spec, struct cairn_error **warnings)
{
        return warn_spec(spec, spec->filename ? spec->filename : "<spec>", warnings);
}

bool cairn_spec_uses_name(const struct cairn_spec *spec, const char *name)
{
        if (!spec)
                return false;
        for (size_t i = 0; i < spec->n_ops; i++)
                if (spec->ops[i].kind == CAIRN_SPEC_COPY && spec->ops[i].copy.from_build &&
                    strcmp(spec->ops[i].copy.from_build, name) == 0)
                        return true;
        for (size_t i = 0; i < spec->n_stages; i++)
                if (cairn_spec_uses_name(spec->stages[i].spec, name))
                        return true;
        return false;
}

bool cairn_spec_stage_needs(const struct cairn_spec *spec, size_t i, size_t j)
{
        return j < i && i < spec->n_stages && cairn_spec_uses_name(spec->stages[i].spec, spec->stages[j].name);
}
