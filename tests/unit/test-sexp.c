/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/strbuf.h"
#include "spec/sexp.h"
#include "tap.h"

static struct cairn_arena *arena;

static struct cairn_sexp *read_ok(const char *text, const char *name)
{
        struct cairn_sexp *s = NULL;
        struct cairn_error *err = NULL;
        int r = cairn_sexp_read(arena, "t", text, strlen(text), &s, NULL, &err);
        if (!ok(r == 0, "reads: %s", name))
                tap_diag("error: %s", err ? err->message : "(none)");
        cairn_error_free(err);
        return s;
}

/* Read text and compare the machine form. */
static void mach(const char *text, const char *expected, const char *name)
{
        struct cairn_sexp *s = read_ok(text, name);
        if (!s)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_sexp_print_mach(&b, s);
        is_str(cairn_buf_str(&b), expected, "machine form: %s", name);
        cairn_buf_release(&b);
}

/* Read text expecting a failure whose message contains `expected`. */
static void read_fails(const char *text, size_t len, const char *expected, const char *name)
{
        struct cairn_sexp *s = NULL;
        struct cairn_error *err = NULL;
        int r = cairn_sexp_read(arena, "f.spec", text, len, &s, NULL, &err);
        ok(r < 0, "rejected: %s", name);
        has_str(err ? err->message : NULL, expected, "message: %s", name);
        cairn_error_free(err);
}

static void test_lexical(void)
{
        mach("(a b c)", "(a b c)", "atoms");
        mach("  ; leading comment\n(a ; trailing\n b)\n; end\n", "(a b)", "line comments");
        mach("(a #| block #| nested |# still |# b)", "(a b)", "nested block comments");
        mach("(a #| has \"|#\" in a string |# b)", "(a b)", "a string inside a block comment hides |#");
        mach("(a #;(ignored (x)) b #; c d)", "(a b d)", "datum comments");
        mach("(a #; #; b c d)", "(a d)", "stacked datum comments");
        mach("(|x| #x a#b)", "(|x| #x a#b)", "| and # alone are atom characters");
        mach("(a#;comment\n)", "(a#)", "# then ; ends the atom at the ;");
        mach("(\"a\"b\"c d\"e)", "(a b\"c d\"e)", "quoted atoms need no separators; quoting is lexical");
        mach("(a(b)c)", "(a(b)c)", "parentheses separate atoms");
        mach("(x\r\ny\fz\tw)", "(x y z w)", "CR LF, form feed and tab are blanks");
        mach("()", "()", "empty list");
        mach("((from base)(run(shell\"a command\"))(copy(src a b)(dst c))(user(uid 1)(gid 2)))",
             "((from base)(run(shell\"a command\"))(copy(src a b)(dst c))(user(uid 1)(gid 2)))",
             "reference machine form round-trips");
}

static void test_escapes(void)
{
        struct cairn_sexp *s = read_ok("\"\\\\ \\\" \\' \\n \\t \\r \\b \\ x\"", "simple escapes");
        if (s)
                ok(s->len == 16 && memcmp(s->atom, "\\ \" ' \n \t \r \b  x", 16) == 0, "simple escapes decoded");
        s = read_ok("\"\\065\\066\\255\\x41\\x7e\\xFF\"", "numeric escapes");
        if (s)
                ok(s->len == 6 && memcmp(s->atom, "AB\xff" "A~\xff", 6) == 0, "\\DDD and \\xHH decoded");
        s = read_ok("\"\\000\"", "NUL escape");
        if (s)
                ok(s->len == 1 && s->atom[0] == '\0', "\\000 gives a NUL byte, kept with its length");
        s = read_ok("\"a\\q\\x4\\12z\"", "unknown escapes");
        if (s)
                is_str(s->atom, "a\\q\\x4\\12z", "unknown and incomplete escapes are kept as written");
        s = read_ok("\"line one \\\n      line two\"", "continuation");
        if (s)
                is_str(s->atom, "line one line two", "backslash-newline swallows the next line's blanks");
        s = read_ok("\"a\\\r\n\t b\"", "DOS continuation");
        if (s)
                is_str(s->atom, "ab", "backslash-CRLF is a continuation too");
        s = read_ok("\"multi\nline\"", "raw newline");
        if (s)
                is_str(s->atom, "multi\nline", "a raw newline stays in the string");
        s = read_ok("\"\xc3\xa9t\xc3\xa9\"", "UTF-8");
        if (s)
                is_str(s->atom, "\xc3\xa9t\xc3\xa9", "non-ASCII bytes are accepted raw");
        read_fails("\"\\256\"", 6, "f.spec:1:2: illegal escape '\\256'", "decimal escape above 255");
}

static void test_positions(void)
{
        struct cairn_sexp *s = read_ok("; c\n((from base)\n  (run\n   (shell \"x\")))", "positions");
        if (!s)
                return;
        is_int(s->line, 2, "root line");
        is_int(s->col, 1, "root column");
        struct cairn_sexp *run = s->items[1];
        is_int(run->line, 3, "op line");
        is_int(run->col, 3, "op column");
        struct cairn_sexp *cmd = run->items[1]->items[1];
        is_int(cmd->line, 4, "quoted atom line");
        is_int(cmd->col, 11, "quoted atom column");
        ok(cmd->quoted && !run->items[0]->quoted, "quoted flag");
        struct cairn_sexp_info info;
        struct cairn_error *err = NULL;
        const char *text = "(a ; one\n #| two |# #;three b)";
        cairn_sexp_read(arena, "t", text, strlen(text), &s, &info, &err);
        is_int(info.comments, 3, "comments counted");
}

static void test_errors(void)
{
        read_fails("", 0, "f.spec:1:1: expected one S-expression", "empty file");
        read_fails("  ; only a comment\n", 19, "f.spec:2:1: expected one S-expression", "only comments");
        read_fails("(a) (b)", 7, "f.spec:1:5: more than one S-expression", "two S-expressions");
        read_fails("a b", 3, "more than one S-expression", "two atoms");
        read_fails("((a)\n (b", 8, "f.spec:2:2: unbalanced parentheses: this '(' is never closed", "unclosed list");
        read_fails("(a))", 4, "f.spec:1:4: unbalanced parentheses: unexpected ')'", "extra )");
        read_fails(")", 1, "f.spec:1:1: unbalanced parentheses", "lone )");
        read_fails("(a \"b)", 6, "f.spec:1:4: unterminated string", "unterminated string");
        read_fails("(a #| b)", 8, "f.spec:1:4: unterminated block comment", "unterminated block comment");
        read_fails("(a |# b)", 8, "f.spec:1:4: '|#' closes no block comment", "stray |#");
        read_fails("(ab#|c)", 7, "f.spec:1:2: comment token '#|' inside an unquoted atom", "#| inside an atom");
        read_fails("(ab|#c)", 7, "comment token '|#' inside an unquoted atom", "|# inside an atom");
        read_fails("(a #;)", 6, "f.spec:1:4: '#;' must be followed", "datum comment with nothing after");
        read_fails("(a \"\\", 5, "unterminated string", "backslash at end of input");

        /* Depth limit. */
        size_t depth = CAIRN_SEXP_MAX_DEPTH + 1;
        char *deep = malloc(2 * depth + 1);
        memset(deep, '(', depth);
        memset(deep + depth, ')', depth);
        deep[2 * depth] = '\0';
        read_fails(deep, 2 * depth, "nested deeper than 200 levels", "nesting limit");
        deep[2 * depth - 1] = '\0';
        struct cairn_sexp *s;
        struct cairn_error *err = NULL;
        ok(cairn_sexp_read(arena, "t", deep + 1, 2 * depth - 2, &s, NULL, &err) == 0,
           "nesting at the limit is accepted");
        cairn_error_free(err);
        free(deep);

        /* Size limit: checked before reading anything. */
        read_fails("x", (size_t) CAIRN_SEXP_MAX_INPUT + 1, "more than the limit", "input size limit");
}

static void test_quoting(void)
{
        static const struct {
                const char *atom;
                const char *printed;
        } cases[] = {
                { "plain", "plain" },
                { "", "\"\"" },
                { "a b", "\"a b\"" },
                { "a(b", "\"a(b\"" },
                { "semi;colon", "\"semi;colon\"" },
                { "back\\slash", "\"back\\\\slash\"" },
                { "q\"uote", "\"q\\\"uote\"" },
                { "tab\there", "\"tab\\there\"" },
                { "x#|y", "\"x#|y\"" },
                { "x|#y", "\"x|#y\"" },
                { "#|", "\"#|\"" },
                { "|x|", "|x|" },
                { "a#", "a#" },
                { "it's", "it's" },
                { "\xc3\xa9", "\"\\195\\169\"" },
                { "del\x7f", "\"del\\127\"" },
                { "bell\a", "\"bell\\007\"" },
                { "/usr/local/bin/", "/usr/local/bin/" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct cairn_buf b = CAIRN_BUF_INIT;
                cairn_sexp_print_atom(&b, cases[i].atom, strlen(cases[i].atom));
                is_str(cairn_buf_str(&b), cases[i].printed, "atom printed as %s", cases[i].printed);
                cairn_buf_release(&b);
        }
        /* Two bare atoms in a row get a space; a quoted one needs none. */
        struct cairn_sexp *s = cairn_sexp_list(arena, cairn_sexp_atom(arena, "a"), cairn_sexp_atom(arena, "b c"),
                                               cairn_sexp_atom(arena, "d"), cairn_sexp_atom(arena, "e"),
                                               cairn_sexp_list(arena, NULL), cairn_sexp_atom(arena, "f"), NULL);
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_sexp_print_mach(&b, s);
        is_str(cairn_buf_str(&b), "(a\"b c\"d e()f)", "machine form spacing");
        cairn_buf_release(&b);
}

static void test_reference_keys(void)
{
        /* The run-step key serialisation of reference section 2.2. */
        mach("((base 9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91)\n"
             " (workdir /) (user ((uid 0) (gid 0)))\n"
             " (env ((PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)))\n"
             " (cmd \"echo healthcheck\") (shell (/bin/sh -c)) (network ()) (mount_secrets ()))",
             "((base 9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91)(workdir /)(user((uid 0)(gid 0)))"
             "(env((PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)))(cmd\"echo healthcheck\")"
             "(shell(/bin/sh -c))(network())(mount_secrets()))",
             "reference 2.2 run key");
        mach("(((value \"s3cr3t\\n\") (target /run/secrets/t)))", "(((value\"s3cr3t\\n\")(target /run/secrets/t)))",
             "secret values in keys");
}

static void test_pp_line(void)
{
        struct cairn_sexp *s = read_ok("(shell \"line1\nline2 \\\"q\\\"\")", "multi-line atom");
        if (!s)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_pp pp = { &b, 6 };
        cairn_sexp_pp_line(&pp, s);
        /* The box opens at column 13 where the leading space goes. */
        is_str(cairn_buf_str(&b), "(shell  \"line1\\\n             \\nline2 \\\"q\\\"\")",
               "sexplib's multi-line string layout");
        is_int(pp.col, 28, "column after the multi-line atom");
        is_int(cairn_sexp_line_width(s), 30, "Format width ignores the forced break");
        cairn_buf_release(&b);
        char *line = cairn_sexp_to_line(read_ok("(a \"b c\" (d))", "one line"));
        is_str(line, "(a \"b c\" (d))", "one-line form");
        free(line);
}

int main(void)
{
        arena = cairn_arena_new();
        test_lexical();
        test_escapes();
        test_positions();
        test_errors();
        test_quoting();
        test_reference_keys();
        test_pp_line();
        cairn_arena_free(arena);
        return tap_done();
}
