/* SPDX-License-Identifier: Apache-2.0 */
/*
 * S-expressions as OBuilder's specs write them (sexplib's lexical rules).
 *
 * Reading: exactly one S-expression per input; ';' line comments, nestable
 * '#| |#' block comments (which may contain quoted strings), '#;' datum
 * comments; unquoted atoms; quoted strings with OCaml escapes (\\ \" \' \n \t
 * \r \b \space, \DDD decimal, \xHH, backslash-newline continuation that also
 * swallows the next line's leading blanks; any other escape is kept as
 * written).  Every node records the line and column (1-based, in bytes) where
 * it starts.  Input size and nesting depth are capped.
 *
 * Printing: the machine form used in cache keys (sexplib's to_string_mach),
 * and a column-tracking writer used by the human printers (see spec-print.c),
 * whose one-line form matches sexplib's pp_hum, including its layout for
 * atoms that contain newlines.
 *
 * Nodes live in the arena passed to the reader or constructors; they are
 * freed with it.
 */
#ifndef CAIRN_SPEC_SEXP_H
#define CAIRN_SPEC_SEXP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/strbuf.h"

/* Limits on what the reader accepts. */
#define CAIRN_SEXP_MAX_INPUT (16u * 1024 * 1024)
#define CAIRN_SEXP_MAX_DEPTH 200

enum cairn_sexp_kind {
        CAIRN_SEXP_ATOM,
        CAIRN_SEXP_LIST,
};

struct cairn_sexp {
        enum cairn_sexp_kind kind;
        unsigned line, col;   /* where the node starts; 0 for constructed nodes */
        bool quoted;          /* atom written as "..." in the input */
        /* CAIRN_SEXP_ATOM: bytes, NUL-terminated; may contain NUL (len says) */
        char *atom;
        size_t len;
        /* CAIRN_SEXP_LIST */
        struct cairn_sexp **items;
        size_t n;
};

/* What the reader saw besides the tree. */
struct cairn_sexp_info {
        unsigned comments;    /* number of comments of any kind */
};

/*
 * Read exactly one S-expression from data[0..len).  filename is used only in
 * messages, which read "FILE:LINE:COL: what is wrong".  Nodes are allocated in
 * arena.  ret_info may be NULL.
 */
int cairn_sexp_read(struct cairn_arena *arena, const char *filename, const char *data, size_t len,
                    struct cairn_sexp **ret, struct cairn_sexp_info *ret_info,
                    struct cairn_error **err);

/* Constructors (nodes get line/col 0). */
struct cairn_sexp *cairn_sexp_atom(struct cairn_arena *a, const char *s);
struct cairn_sexp *cairn_sexp_atomn(struct cairn_arena *a, const char *s, size_t len);
/* A list of the given items; the array is copied. */
struct cairn_sexp *cairn_sexp_listv(struct cairn_arena *a, struct cairn_sexp *const *items, size_t n);
/* A list of the NULL-terminated argument items. */
struct cairn_sexp *cairn_sexp_list(struct cairn_arena *a, ...) __attribute__((sentinel));

bool cairn_sexp_is_atom(const struct cairn_sexp *s, const char *text);
bool cairn_sexp_equal(const struct cairn_sexp *a, const struct cairn_sexp *b);

/* Whether sexplib quotes this atom when printing (sexplib0's must_escape). */
bool cairn_sexp_must_quote(const char *s, size_t len);

/* Append s in sexplib's machine form (to_string_mach). */
void cairn_sexp_print_mach(struct cairn_buf *b, const struct cairn_sexp *s);

/*
 * The machine form written piece by piece, without building a tree (a copy
 * ID's manifest of 20,000 files): open, atoms and close in order give the
 * bytes cairn_sexp_print_mach gives for the same tree.
 */
struct cairn_sexp_writer {
        struct cairn_buf *buf;
        bool after_bare;      /* the last thing written was a bare atom */
};

#define CAIRN_SEXP_WRITER_INIT(b) { (b), false }

void cairn_sexp_write_open(struct cairn_sexp_writer *w);
void cairn_sexp_write_close(struct cairn_sexp_writer *w);
void cairn_sexp_write_atomn(struct cairn_sexp_writer *w, const char *s, size_t len);
void cairn_sexp_write_atom(struct cairn_sexp_writer *w, const char *s);
void cairn_sexp_write(struct cairn_sexp_writer *w, const struct cairn_sexp *s);

/* Append an atom as sexplib prints it on one line: bare when safe,
 * otherwise quoted with OCaml escapes. */
void cairn_sexp_print_atom(struct cairn_buf *b, const char *s, size_t len);

/* Append s always quoted with OCaml escapes (OCaml's %S). */
void cairn_sexp_print_quoted(struct cairn_buf *b, const char *s, size_t len);

/*
 * A writer that tracks the output column, for layouts that mimic OCaml's
 * Format with margin 78: indentation after a line break is capped at 68, the
 * Format module's default max_indent.
 */
struct cairn_pp {
        struct cairn_buf *buf;
        size_t col;
};

#define CAIRN_PP_MARGIN 78
#define CAIRN_PP_MAX_INDENT 68

void cairn_pp_text(struct cairn_pp *pp, const char *s, size_t len);
void cairn_pp_str(struct cairn_pp *pp, const char *s);
/* Start a new line indented to column indent (capped). */
void cairn_pp_newline(struct cairn_pp *pp, size_t indent);

/* Print s on one line, elements separated by single spaces (sexplib's
 * pp_hum inside an hbox).  Only atoms containing newlines break lines. */
void cairn_sexp_pp_line(struct cairn_pp *pp, const struct cairn_sexp *s);

/* The width Format would measure for cairn_sexp_pp_line(s): all characters
 * printed, not counting forced line breaks and their indentation. */
size_t cairn_sexp_line_width(const struct cairn_sexp *s);

/* The one-line form as a new string (for messages). */
char *cairn_sexp_to_line(const struct cairn_sexp *s);

#endif
