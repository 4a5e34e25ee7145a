/* SPDX-License-Identifier: Apache-2.0 */
#include "spec/sexp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/cleanup.h"

struct reader {
        struct cairn_arena *arena;
        const char *filename;
        const char *p, *end;
        unsigned line, col;
        unsigned depth;
        unsigned comments;
        struct cairn_error **err;
};

static int peek(const struct reader *r, size_t ahead)
{
        if ((size_t) (r->end - r->p) <= ahead)
                return -1;
        return (unsigned char) r->p[ahead];
}

static void advance(struct reader *r)
{
        if (*r->p == '\n') {
                r->line++;
                r->col = 1;
        } else {
                r->col++;
        }
        r->p++;
}

static int fail_at(struct reader *r, unsigned line, unsigned col, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail_at(struct reader *r, unsigned line, unsigned col, const char *fmt, ...)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        cairn_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        int ret = cairn_error_set(r->err, -EINVAL, "%s:%u:%u: %s", r->filename, line, col, cairn_buf_str(&b));
        cairn_buf_release(&b);
        return ret;
}

static bool is_blank(int c)
{
        /* sexplib: space, tab, form feed, LF; CR is accepted too so that files
         * with DOS line endings read the same. */
        return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r';
}

static bool is_atom_char(int c)
{
        return c >= 0 && !is_blank(c) && c != '(' && c != ')' && c != '"' && c != ';';
}

static int read_datum(struct reader *r, struct cairn_sexp **ret);

/* Skip a quoted string without keeping it (inside block comments). */
static int skip_string(struct reader *r)
{
        unsigned line = r->line, col = r->col;
        advance(r); /* '"' */
        while (r->p < r->end) {
                if (*r->p == '"') {
                        advance(r);
                        return 0;
                }
                if (*r->p == '\\' && r->p + 1 < r->end)
                        advance(r);
                advance(r);
        }
        return fail_at(r, line, col, "unterminated string inside a block comment");
}

static int skip_block_comment(struct reader *r)
{
        unsigned line = r->line, col = r->col;
        unsigned nest = 1;
        advance(r);
        advance(r); /* "#|" */
        while (r->p < r->end) {
                int c = peek(r, 0), n = peek(r, 1);
                if (c == '#' && n == '|') {
                        nest++;
                        advance(r);
                        advance(r);
                } else if (c == '|' && n == '#') {
                        advance(r);
                        advance(r);
                        if (--nest == 0)
                                return 0;
                } else if (c == '"') {
                        int k = skip_string(r);
                        if (k < 0)
                                return k;
                } else {
                        advance(r);
                }
        }
        return fail_at(r, line, col, "unterminated block comment: '#|' has no matching '|#'");
}

/* Skip blanks and comments of every kind. */
static int skip_layout(struct reader *r)
{
        while (r->p < r->end) {
                int c = peek(r, 0);
                if (is_blank(c)) {
                        advance(r);
                } else if (c == ';') {
                        r->comments++;
                        while (r->p < r->end && *r->p != '\n')
                                advance(r);
                } else if (c == '#' && peek(r, 1) == '|') {
                        r->comments++;
                        int k = skip_block_comment(r);
                        if (k < 0)
                                return k;
                } else if (c == '|' && peek(r, 1) == '#') {
                        return fail_at(r, r->line, r->col, "'|#' closes no block comment");
                } else if (c == '#' && peek(r, 1) == ';') {
                        unsigned line = r->line, col = r->col;
                        r->comments++;
                        advance(r);
                        advance(r);
                        int k = skip_layout(r);
                        if (k < 0)
                                return k;
                        if (r->p >= r->end || *r->p == ')')
                                return fail_at(r, line, col,
                                               "'#;' must be followed by the S-expression it comments out");
                        struct cairn_sexp *ignored;
                        k = read_datum(r, &ignored);
                        if (k < 0)
                                return k;
                } else {
                        break;
                }
        }
        return 0;
}

static bool is_digit(int c)
{
        return c >= '0' && c <= '9';
}

static int read_string(struct reader *r, struct cairn_sexp *node)
{
        unsigned line = r->line, col = r->col;
        struct cairn_buf b = CAIRN_BUF_INIT;
        int ret = 0;
        advance(r); /* '"' */
        for (;;) {
                if (r->p >= r->end) {
                        ret = fail_at(r, line, col, "unterminated string: the closing '\"' is missing");
                        goto out;
                }
                int c = peek(r, 0);
                if (c == '"') {
                        advance(r);
                        break;
                }
                if (c != '\\') {
                        cairn_buf_addc(&b, (char) c);
                        advance(r);
                        continue;
                }
                unsigned eline = r->line, ecol = r->col;
                int n = peek(r, 1);
                if (n == '\n' || (n == '\r' && peek(r, 2) == '\n')) {
                        /* Line continuation: drop the newline and the next
                         * line's leading spaces and tabs. */
                        advance(r);
                        if (n == '\r')
                                advance(r);
                        advance(r);
                        while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
                                advance(r);
                        continue;
                }
                char out;
                size_t used = 2;
                switch (n) {
                case '\\': out = '\\'; break;
                case '"': out = '"'; break;
                case '\'': out = '\''; break;
                case ' ': out = ' '; break;
                case 'n': out = '\n'; break;
                case 't': out = '\t'; break;
                case 'r': out = '\r'; break;
                case 'b': out = '\b'; break;
                case 'x':
                        if (cairn_hex_value(peek(r, 2)) >= 0 && cairn_hex_value(peek(r, 3)) >= 0) {
                                out = (char) (cairn_hex_value(peek(r, 2)) * 16 + cairn_hex_value(peek(r, 3)));
                                used = 4;
                                break;
                        }
                        goto literal;
                default:
                        if (is_digit(n) && is_digit(peek(r, 2)) && is_digit(peek(r, 3))) {
                                int v = (n - '0') * 100 + (peek(r, 2) - '0') * 10 + (peek(r, 3) - '0');
                                if (v > 255) {
                                        ret = fail_at(r, eline, ecol,
                                                      "illegal escape '\\%c%c%c': a decimal escape must be at most 255",
                                                      n, peek(r, 2), peek(r, 3));
                                        goto out;
                                }
                                out = (char) v;
                                used = 4;
                                break;
                        }
                literal:
                        /* sexplib keeps an unknown escape as written. */
                        if (n < 0) {
                                ret = fail_at(r, line, col, "unterminated string: the closing '\"' is missing");
                                goto out;
                        }
                        cairn_buf_addc(&b, '\\');
                        advance(r);
                        continue;
                }
                cairn_buf_addc(&b, out);
                for (size_t i = 0; i < used; i++)
                        advance(r);
        }
        node->kind = CAIRN_SEXP_ATOM;
        node->quoted = true;
        node->len = b.len;
        node->atom = cairn_arena_strndup(r->arena, cairn_buf_str(&b), b.len);
out:
        cairn_buf_release(&b);
        return ret;
}

static int read_atom(struct reader *r, struct cairn_sexp *node)
{
        const char *start = r->p;
        unsigned line = r->line, col = r->col;
        while (r->p < r->end && is_atom_char(peek(r, 0))) {
                int c = peek(r, 0), n = peek(r, 1);
                if ((c == '#' && n == '|') || (c == '|' && n == '#'))
                        return fail_at(r, line, col,
                                       "comment token '%c%c' inside an unquoted atom (quote the atom with \"...\")",
                                       c, n);
                advance(r);
        }
        node->kind = CAIRN_SEXP_ATOM;
        node->len = (size_t) (r->p - start);
        node->atom = cairn_arena_strndup(r->arena, start, node->len);
        return 0;
}

static int read_list(struct reader *r, struct cairn_sexp *node)
{
        unsigned line = r->line, col = r->col;
        if (++r->depth > CAIRN_SEXP_MAX_DEPTH)
                return fail_at(r, line, col, "lists nested deeper than %d levels", CAIRN_SEXP_MAX_DEPTH);
        advance(r); /* '(' */
        struct cairn_sexp **items = NULL;
        size_t n = 0, alloc = 0;
        int ret;
        for (;;) {
                ret = skip_layout(r);
                if (ret < 0)
                        goto out;
                if (r->p >= r->end) {
                        ret = fail_at(r, line, col, "unbalanced parentheses: this '(' is never closed");
                        goto out;
                }
                if (*r->p == ')') {
                        advance(r);
                        break;
                }
                struct cairn_sexp *item;
                ret = read_datum(r, &item);
                if (ret < 0)
                        goto out;
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 8;
                        items = cairn_xreallocarray(items, alloc, sizeof(*items));
                }
                items[n++] = item;
        }
        node->kind = CAIRN_SEXP_LIST;
        node->n = n;
        node->items = cairn_arena_array(r->arena, n, sizeof(*items));
        if (n)
                memcpy(node->items, items, n * sizeof(*items));
        r->depth--;
        ret = 0;
out:
        free(items);
        return ret;
}

static int read_datum(struct reader *r, struct cairn_sexp **ret)
{
        struct cairn_sexp *node = cairn_arena_alloc(r->arena, sizeof(*node));
        node->line = r->line;
        node->col = r->col;
        int c = peek(r, 0);
        int k;
        if (c == '(')
                k = read_list(r, node);
        else if (c == ')')
                k = fail_at(r, r->line, r->col, "unbalanced parentheses: unexpected ')'");
        else if (c == '"')
                k = read_string(r, node);
        else
                k = read_atom(r, node);
        if (k < 0)
                return k;
        *ret = node;
        return 0;
}

int cairn_sexp_read(struct cairn_arena *arena, const char *filename, const char *data, size_t len,
                    struct cairn_sexp **ret, struct cairn_sexp_info *ret_info,
                    struct cairn_error **err)
{
        struct reader r = {
                .arena = arena, .filename = filename, .p = data, .end = data + len,
                .line = 1, .col = 1, .err = err,
        };
        if (len > CAIRN_SEXP_MAX_INPUT)
                return cairn_error_set(err, -EFBIG, "%s: input is %zu bytes, more than the limit of %u",
                                       filename, len, CAIRN_SEXP_MAX_INPUT);
        int k = skip_layout(&r);
        if (k < 0)
                return k;
        if (r.p >= r.end)
                return fail_at(&r, r.line, r.col, "expected one S-expression, found only blanks and comments");
        struct cairn_sexp *root;
        k = read_datum(&r, &root);
        if (k < 0)
                return k;
        k = skip_layout(&r);
        if (k < 0)
                return k;
        if (r.p < r.end && *r.p == ')')
                return fail_at(&r, r.line, r.col, "unbalanced parentheses: unexpected ')'");
        if (r.p < r.end)
                return fail_at(&r, r.line, r.col,
                               "more than one S-expression in the file: a spec is a single list, and this is after its end");
        *ret = root;
        if (ret_info)
                ret_info->comments = r.comments;
        return 0;
}

struct cairn_sexp *cairn_sexp_atomn(struct cairn_arena *a, const char *s, size_t len)
{
        struct cairn_sexp *n = cairn_arena_alloc(a, sizeof(*n));
        n->kind = CAIRN_SEXP_ATOM;
        n->atom = cairn_arena_strndup(a, s, len);
        n->len = len;
        return n;
}

struct cairn_sexp *cairn_sexp_atom(struct cairn_arena *a, const char *s)
{
        return cairn_sexp_atomn(a, s, strlen(s));
}

struct cairn_sexp *cairn_sexp_listv(struct cairn_arena *a, struct cairn_sexp *const *items, size_t n)
{
        struct cairn_sexp *l = cairn_arena_alloc(a, sizeof(*l));
        l->kind = CAIRN_SEXP_LIST;
        l->n = n;
        l->items = cairn_arena_array(a, n, sizeof(*items));
        if (n)
                memcpy(l->items, items, n * sizeof(*items));
        return l;
}

struct cairn_sexp *cairn_sexp_list(struct cairn_arena *a, ...)
{
        struct cairn_sexp *items[64];
        size_t n = 0;
        va_list ap;
        va_start(ap, a);
        for (struct cairn_sexp *s; (s = va_arg(ap, struct cairn_sexp *));) {
                if (n == CAIRN_ARRAY_SIZE(items))
                        abort();
                items[n++] = s;
        }
        va_end(ap);
        return cairn_sexp_listv(a, items, n);
}

bool cairn_sexp_is_atom(const struct cairn_sexp *s, const char *text)
{
        return s->kind == CAIRN_SEXP_ATOM && s->len == strlen(text) && memcmp(s->atom, text, s->len) == 0;
}

bool cairn_sexp_equal(const struct cairn_sexp *a, const struct cairn_sexp *b)
{
        if (a->kind != b->kind)
                return false;
        if (a->kind == CAIRN_SEXP_ATOM)
                return a->len == b->len && memcmp(a->atom, b->atom, a->len) == 0;
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!cairn_sexp_equal(a->items[i], b->items[i]))
                        return false;
        return true;
}

bool cairn_sexp_must_quote(const char *s, size_t len)
{
        if (len == 0)
                return true;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c <= ' ' || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ';' || c == '\\')
                        return true;
                if (i > 0 && ((c == '|' && s[i - 1] == '#') || (c == '#' && s[i - 1] == '|')))
                        return true;
        }
        return false;
}

/* OCaml's String.escaped, without the surrounding quotes. */
static void add_escaped(struct cairn_buf *b, const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"': cairn_buf_adds(b, "\\\""); break;
                case '\\': cairn_buf_adds(b, "\\\\"); break;
                case '\n': cairn_buf_adds(b, "\\n"); break;
                case '\t': cairn_buf_adds(b, "\\t"); break;
                case '\r': cairn_buf_adds(b, "\\r"); break;
                case '\b': cairn_buf_adds(b, "\\b"); break;
                default:
                        if (c >= ' ' && c <= '~')
                                cairn_buf_addc(b, (char) c);
                        else
                                cairn_buf_printf(b, "\\%03u", c);
                }
        }
}

void cairn_sexp_print_quoted(struct cairn_buf *b, const char *s, size_t len)
{
        cairn_buf_addc(b, '"');
        add_escaped(b, s, len);
        cairn_buf_addc(b, '"');
}

void cairn_sexp_print_atom(struct cairn_buf *b, const char *s, size_t len)
{
        if (!cairn_sexp_must_quote(s, len))
                cairn_buf_add(b, s, len);
        else
                cairn_sexp_print_quoted(b, s, len);
}

/* Only two bare atoms in a row are separated, as sexplib does. */
void cairn_sexp_write_atomn(struct cairn_sexp_writer *w, const char *s, size_t len)
{
        bool bare = !cairn_sexp_must_quote(s, len);
        if (!bare) {
                cairn_sexp_print_quoted(w->buf, s, len);
        } else {
                if (w->after_bare)
                        cairn_buf_addc(w->buf, ' ');
                cairn_buf_add(w->buf, s, len);
        }
        w->after_bare = bare;
}

void cairn_sexp_write_atom(struct cairn_sexp_writer *w, const char *s)
{
        cairn_sexp_write_atomn(w, s, strlen(s));
}

void cairn_sexp_write_open(struct cairn_sexp_writer *w)
{
        cairn_buf_addc(w->buf, '(');
        w->after_bare = false;
}

void cairn_sexp_write_close(struct cairn_sexp_writer *w)
{
        cairn_buf_addc(w->buf, ')');
        w->after_bare = false;
}

void cairn_sexp_write(struct cairn_sexp_writer *w, const struct cairn_sexp *s)
{
        if (s->kind == CAIRN_SEXP_ATOM) {
                cairn_sexp_write_atomn(w, s->atom, s->len);
                return;
        }
        cairn_sexp_write_open(w);
        for (size_t i = 0; i < s->n; i++)
                cairn_sexp_write(w, s->items[i]);
        cairn_sexp_write_close(w);
}

void cairn_sexp_print_mach(struct cairn_buf *b, const struct cairn_sexp *s)
{
        struct cairn_sexp_writer w = CAIRN_SEXP_WRITER_INIT(b);
        cairn_sexp_write(&w, s);
}

void cairn_pp_text(struct cairn_pp *pp, const char *s, size_t len)
{
        cairn_buf_add(pp->buf, s, len);
        pp->col += len;
}

void cairn_pp_str(struct cairn_pp *pp, const char *s)
{
        cairn_pp_text(pp, s, strlen(s));
}

void cairn_pp_newline(struct cairn_pp *pp, size_t indent)
{
        if (indent > CAIRN_PP_MAX_INDENT)
                indent = CAIRN_PP_MAX_INDENT;
        cairn_buf_addc(pp->buf, '\n');
        cairn_buf_addn(pp->buf, ' ', indent);
        pp->col = indent;
}

static bool has_newline(const struct cairn_sexp *s)
{
        return memchr(s->atom, '\n', s->len) != NULL;
}

/*
 * sexplib prints an atom holding newlines one source line per output line,
 * each ending in a backslash-continuation: it opens a box where it stands,
 * prints a space (so the lines line up) and the opening quote, then for each
 * newline "\" + line break + "\n".
 */
static void pp_multiline_atom(struct cairn_pp *pp, const struct cairn_sexp *s)
{
        size_t box = pp->col;
        struct cairn_buf tmp = CAIRN_BUF_INIT;
        cairn_pp_str(pp, " \"");
        const char *p = s->atom, *end = s->atom + s->len;
        for (;;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *stop = nl ? nl : end;
                cairn_buf_reset(&tmp);
                add_escaped(&tmp, p, (size_t) (stop - p));
                cairn_pp_text(pp, tmp.data ? tmp.data : "", tmp.len);
                if (!nl)
                        break;
                cairn_pp_str(pp, "\\");
                cairn_pp_newline(pp, box);
                cairn_pp_str(pp, "\\n");
                p = nl + 1;
        }
        cairn_pp_str(pp, "\"");
        cairn_buf_release(&tmp);
}

void cairn_sexp_pp_line(struct cairn_pp *pp, const struct cairn_sexp *s)
{
        if (s->kind == CAIRN_SEXP_ATOM) {
                if (cairn_sexp_must_quote(s->atom, s->len) && has_newline(s)) {
                        pp_multiline_atom(pp, s);
                        return;
                }
                size_t before = pp->buf->len;
                cairn_sexp_print_atom(pp->buf, s->atom, s->len);
                pp->col += pp->buf->len - before;
                return;
        }
        cairn_pp_str(pp, "(");
        for (size_t i = 0; i < s->n; i++) {
                if (i)
                        cairn_pp_str(pp, " ");
                cairn_sexp_pp_line(pp, s->items[i]);
        }
        cairn_pp_str(pp, ")");
}

size_t cairn_sexp_line_width(const struct cairn_sexp *s)
{
        if (s->kind == CAIRN_SEXP_ATOM) {
                struct cairn_buf b = CAIRN_BUF_INIT;
                struct cairn_pp pp = { &b, 0 };
                cairn_sexp_pp_line(&pp, s);
                /* Count what Format counts: printed text, not the forced line
                 * breaks nor the indentation after them. */
                size_t width = 0;
                for (size_t i = 0; i < b.len; i++) {
                        if (b.data[i] == '\n') {
                                while (i + 1 < b.len && b.data[i + 1] == ' ')
                                        i++;
                                continue;
                        }
                        width++;
                }
                cairn_buf_release(&b);
                return width;
        }
        size_t w = 2;
        for (size_t i = 0; i < s->n; i++)
                w += cairn_sexp_line_width(s->items[i]) + (i ? 1 : 0);
        return w;
}

char *cairn_sexp_to_line(const struct cairn_sexp *s)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_pp pp = { &b, 0 };
        cairn_sexp_pp_line(&pp, s);
        return cairn_buf_steal(&b, NULL);
}
