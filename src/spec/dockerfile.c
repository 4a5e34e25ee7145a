/* SPDX-License-Identifier: Apache-2.0 */
#include "spec/dockerfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

struct writer {
        struct cairn_buf *b;
        const struct cairn_dockerfile_options *opts;
        const char *filename;
        char escape;
        struct cairn_error **warnings;
};

/* The user as the Dockerfile tracks it: each stage starts as root. */
struct user {
        bool by_name;
        int64_t uid, gid;
        const char *name;
};

static void warn(struct writer *w, const struct cairn_spec_op *op, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void warn(struct writer *w, const struct cairn_spec_op *op, const char *fmt, ...)
{
        if (!w->warnings)
                return;
        struct cairn_buf msg = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&msg, fmt, ap);
        va_end(ap);
        cairn_error_set(w->warnings, -EINVAL, "%s:%u:%u: %s: %s", w->filename, op->line, op->col,
                        cairn_spec_op_name(op->kind), cairn_buf_str(&msg));
        cairn_buf_release(&msg);
}

static bool is_root(const struct user *u)
{
        if (u->by_name)
                return strcmp(u->name, "ContainerAdministrator") == 0;
        return u->uid == 0 && u->gid == 0;
}

static bool is_trim_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* RUN's command: each line trimmed, joined with the escape character and a
 * four-space indent, as OBuilder does. */
static void add_wrapped(struct writer *w, const char *cmd)
{
        const char *p = cmd;
        for (;;) {
                const char *nl = strchr(p, '\n');
                const char *end = nl ? nl : p + strlen(p);
                const char *s = p;
                while (s < end && is_trim_space(*s))
                        s++;
                const char *e = end;
                while (e > s && is_trim_space(e[-1]))
                        e--;
                cairn_buf_add(w->b, s, (size_t) (e - s));
                if (!nl)
                        break;
                cairn_buf_printf(w->b, " %c\n    ", w->escape);
                p = nl + 1;
        }
}

static void add_json_string(struct cairn_buf *b, const char *s)
{
        cairn_buf_addc(b, '"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        cairn_buf_printf(b, "\\%c", c);
                else if (c == '\n')
                        cairn_buf_adds(b, "\\n");
                else if (c == '\t')
                        cairn_buf_adds(b, "\\t");
                else if (c == '\r')
                        cairn_buf_adds(b, "\\r");
                else if (c < 0x20 || c == 0x7f)
                        cairn_buf_printf(b, "\\u%04x", c);
                else
                        cairn_buf_addc(b, (char) c);
        }
        cairn_buf_addc(b, '"');
}

static void add_mount(struct writer *w, const struct cairn_spec_op *op, const char *type,
                      const struct cairn_spec_mount *m, const struct user *u)
{
        cairn_buf_printf(w->b, "--mount=type=%s,id=%s,target=%s", type, m->id, m->target);
        if (!u->by_name)
                cairn_buf_printf(w->b, ",uid=%" PRId64, u->uid);
        else
                warn(w, op, "the %s mount gets no uid= option: BuildKit needs a numeric user id, and the user is a name",
                     type);
        for (size_t i = 0; i < m->n_buildkit_options; i++)
                cairn_buf_printf(w->b, ",%s=%s", m->buildkit_options[i].key, m->buildkit_options[i].value);
        cairn_buf_addc(w->b, ' ');
}

static void add_run(struct writer *w, const struct cairn_spec_op *op, const struct user *u)
{
        const struct cairn_spec_run *run = &op->run;
        cairn_buf_adds(w->b, "RUN ");
        if (w->opts->buildkit) {
                for (size_t i = 0; i < run->n_secrets; i++)
                        add_mount(w, op, "secret", &run->secrets[i], u);
                for (size_t i = 0; i < run->n_caches; i++)
                        add_mount(w, op, "cache", &run->caches[i], u);
        } else {
                if (run->n_caches)
                        warn(w, op, "%s dropped: a plain Dockerfile has no cache mounts (use --buildkit)", "caches");
                if (run->n_secrets)
                        warn(w, op, "%s dropped: a plain Dockerfile has no secret mounts (use --buildkit)", "secrets");
        }
        add_wrapped(w, run->shell);
}

static void add_copy(struct writer *w, const struct cairn_spec_op *op, const struct user *u)
{
        const struct cairn_spec_copy *c = &op->copy;
        cairn_buf_adds(w->b, "COPY ");
        /* OBuilder writes --chown for a uid:gid user only: a user by name
         * is its Windows user, never chowned (reference, Dockerfile). */
        if (!is_root(u)) {
                if (!u->by_name)
                        cairn_buf_printf(w->b, "--chown=%" PRId64 ":%" PRId64 " ", u->uid, u->gid);
                else if (w->opts->os == CAIRN_DOCKERFILE_UNIX)
                        warn(w, op, "no --chown for the user \"%s\", as OBuilder writes it: docker build leaves the "
                                    "copied files root's, where cairn makes them the user's", u->name);
        }
        if (c->from_build)
                cairn_buf_printf(w->b, "--from=%s ", c->from_build);
        for (size_t i = 0; i < c->n_src; i++)
                cairn_buf_printf(w->b, "%s%s", i ? " " : "", c->src[i]);
        cairn_buf_printf(w->b, " %s", c->dst);
        if (c->n_exclude)
                warn(w, op, "%s dropped: COPY has no equivalent of (exclude ...)", "excludes");
}

static void add_env(struct writer *w, const char *name, const char *value)
{
        cairn_buf_printf(w->b, "ENV %s=\"", name);
        for (const char *p = value; *p; p++) {
                if (*p == '"' || *p == w->escape)
                        cairn_buf_addc(w->b, w->escape);
                cairn_buf_addc(w->b, *p);
        }
        cairn_buf_addc(w->b, '"');
}

static void add_op(struct writer *w, const struct cairn_spec_op *op, struct user *u)
{
        switch (op->kind) {
        case CAIRN_SPEC_COMMENT:
                for (const char *p = op->comment;;) {
                        const char *nl = strchr(p, '\n');
                        cairn_buf_adds(w->b, "# ");
                        cairn_buf_add(w->b, p, nl ? (size_t) (nl - p) : strlen(p));
                        if (!nl)
                                break;
                        cairn_buf_addc(w->b, '\n');
                        p = nl + 1;
                }
                break;
        case CAIRN_SPEC_WORKDIR:
                cairn_buf_printf(w->b, "WORKDIR %s", op->workdir);
                break;
        case CAIRN_SPEC_SHELL:
                cairn_buf_adds(w->b, "SHELL [ ");
                for (size_t i = 0; i < op->shell.n; i++) {
                        if (i)
                                cairn_buf_adds(w->b, ", ");
                        add_json_string(w->b, op->shell.args[i]);
                }
                cairn_buf_adds(w->b, " ]");
                break;
        case CAIRN_SPEC_RUN:
                add_run(w, op, u);
                break;
        case CAIRN_SPEC_COPY:
                add_copy(w, op, u);
                break;
        case CAIRN_SPEC_USER:
                *u = (struct user) { op->user.by_name, op->user.uid, op->user.gid, op->user.name };
                if (u->by_name)
                        cairn_buf_printf(w->b, "USER %s", u->name);
                else
                        cairn_buf_printf(w->b, "USER %" PRId64 ":%" PRId64, u->uid, u->gid);
                break;
        case CAIRN_SPEC_ENV:
                add_env(w, op->env.name, op->env.value);
                break;
        }
        cairn_buf_addc(w->b, '\n');
}

static void add_stage(struct writer *w, const char *name, const struct cairn_spec *spec)
{
        for (size_t i = 0; i < spec->n_stages; i++) {
                add_stage(w, spec->stages[i].name, spec->stages[i].spec);
                cairn_buf_addc(w->b, '\n');
        }
        cairn_buf_printf(w->b, "FROM %s", spec->from);
        if (name)
                cairn_buf_printf(w->b, " as %s", name);
        cairn_buf_addc(w->b, '\n');
        struct user u = w->opts->os == CAIRN_DOCKERFILE_WINDOWS
                                ? (struct user) { .by_name = true, .name = "ContainerAdministrator" }
                                : (struct user) { .by_name = false, .uid = 0, .gid = 0 };
        for (size_t i = 0; i < spec->n_ops; i++)
                add_op(w, &spec->ops[i], &u);
}

void cairn_dockerfile_write(struct cairn_buf *b, const struct cairn_spec *spec,
                            const struct cairn_dockerfile_options *opts, struct cairn_error **warnings)
{
        struct writer w = {
                .b = b, .opts = opts, .warnings = warnings,
                .filename = spec->filename ? spec->filename : "<spec>",
                .escape = opts->os == CAIRN_DOCKERFILE_WINDOWS ? '`' : '\\',
        };
        if (opts->os == CAIRN_DOCKERFILE_WINDOWS)
                cairn_buf_adds(b, "#escape=`\n");
        add_stage(&w, NULL, spec);
}
