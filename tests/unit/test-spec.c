/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spec language: every golden and error case of the OBuilder reference
 * (sections 1.2-1.6), plus cairn's own edge cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "spec/spec.h"
#include "tap.h"

static struct cairn_spec *parse(const char *text, struct cairn_error **err)
{
        struct cairn_spec *spec = NULL;
        if (cairn_spec_parse("t.spec", text, strlen(text), &spec, err) < 0)
                return NULL;
        return spec;
}

static char *all_messages(const struct cairn_error *err)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        for (; err; err = err->next)
                cairn_buf_printf(&b, "%s%s", b.len ? "\n" : "", err->message);
        return cairn_buf_steal(&b, NULL);
}

/* input parses and prints exactly as expected */
static void fmt_is(const char *input, const char *expected, const char *name)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse(input, &err);
        if (!ok(spec != NULL, "parses: %s", name)) {
                char *m = all_messages(err);
                tap_diag("%s", m);
                free(m);
                cairn_error_free(err);
                return;
        }
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_spec_print(&b, spec);
        is_str(cairn_buf_str(&b), expected, "canonical form: %s", name);
        cairn_buf_release(&b);
        cairn_spec_free(spec);
}

static void round_trip(const char *text, const char *name)
{
        fmt_is(text, text, name);
}

/* input is rejected with a message containing expected */
static void rejects(const char *input, const char *expected, const char *name)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse(input, &err);
        ok(spec == NULL && err != NULL, "rejected: %s", name);
        char *m = all_messages(err);
        has_str(m, expected, "message: %s", name);
        free(m);
        cairn_error_free(err);
        cairn_spec_free(spec);
}

static const char golden[] =
        "((build tools\n"
        "        ((from base)\n"
        "         (run (shell \"make tools\"))))\n"
        " (from base)\n"
        " (comment \"A test comment\")\n"
        " (workdir /src)\n"
        " (run (shell \"a command\"))\n"
        " (run (cache (a (target /data)) (b (target /srv)))\n"
        "      (secrets (a (target /run/secrets/a)) (b (target /b)))\n"
        "      (shell \"a very very very very very very very very very very very very very very very long command\"))\n"
        " (copy (src a b) (dst c))\n"
        " (copy (src a b) (dst c) (exclude .git _build))\n"
        " (copy (from (build tools)) (src binary) (dst /usr/local/bin/))\n"
        " (env DEBUG 1)\n"
        " (user (uid 1) (gid 2))\n"
        ")";

static void test_goldens(void)
{
        round_trip(golden, "reference 1.6 round-trip (upstream spec/Sexp)");
        fmt_is("((from a) (run (shell x) (network host) (cache (c (target /t)))))",
               "((from a)\n"
               " (run (cache (c (target /t)))\n"
               "      (network host)\n"
               "      (shell x))\n"
               ")",
               "run fields in canonical order, one per line");
        fmt_is("((from a) (copy (from context) (src x) (dst y) (exclude)))",
               "((from a)\n (copy (src x) (dst y))\n)", "default from and empty exclude are left out");
        fmt_is("((from a))", "((from a)\n)", "a spec with no operations");
        fmt_is("((from ocaml/opam:debian-12-ocaml-4.14) (workdir /home/opam/src)"
               " (copy (src a-rather-long-file-name.opam another-long-file-name.opam) (dst /home/opam/src/)"
               " (exclude .git _build _opam)))",
               "((from ocaml/opam:debian-12-ocaml-4.14)\n"
               " (workdir /home/opam/src)\n"
               " (copy (src a-rather-long-file-name.opam another-long-file-name.opam)\n"
               "       (dst /home/opam/src/)\n"
               "       (exclude .git _build _opam))\n"
               ")",
               "a copy longer than the margin goes one field per line");
        /* " (copy " is 7 columns, the fields then end strictly before 78. */
        fmt_is("((from a) (copy (src aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) (dst /x)))",
               "((from a)\n"
               " (copy (src aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) (dst /x))\n"
               ")",
               "a copy of exactly 78 columns stays on one line");
        fmt_is("((from a) (copy (src aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) (dst /x)))",
               "((from a)\n"
               " (copy (src aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)\n"
               "       (dst /x))\n"
               ")",
               "a copy of 79 columns breaks");
        fmt_is("((from a) (run (shell \"line1\nline2\")))",
               "((from a)\n"
               " (run (shell  \"line1\\\n"
               "             \\nline2\"))\n"
               ")",
               "a command with a newline uses sexplib's multi-line layout");
        fmt_is("((build a ((build b ((from x) (run (shell y)))) (from b) (copy (from (build b)) (src s) (dst d))))"
               " (from c) (copy (from (build a)) (src s) (dst d)))",
               "((build a\n"
               "        ((build b\n"
               "                ((from x)\n"
               "                 (run (shell y))))\n"
               "         (from b)\n"
               "         (copy (from (build b)) (src s) (dst d))))\n"
               " (from c)\n"
               " (copy (from (build a)) (src s) (dst d))\n"
               ")",
               "nested stages are aligned under their names");
        fmt_is("((from \"\") (comment \"\") (workdir \"a b\") (shell) (env \"\" \"\"))",
               "((from \"\")\n (comment \"\")\n (workdir \"a b\")\n (shell)\n (env \"\" \"\")\n)",
               "empty strings and an empty shell");
        fmt_is("((from a) (run (shell x) (cache) (network) (secrets)) (copy (src) (dst d)))",
               "((from a)\n (run (shell x))\n (copy (src) (dst d))\n)", "empty lists");
        fmt_is("((from a) (run (cache (c (target /t) (buildkit_options ((sharing locked) (mode 0755)))) "
               "(d (target /u) (buildkit_options ()))) (shell x)))",
               "((from a)\n"
               " (run (cache (c (target /t) (buildkit_options ((sharing locked) (mode 0755)))) (d (target /u)))\n"
               "      (shell x))\n"
               ")",
               "buildkit_options kept, left out when empty; a field is never broken");
        fmt_is("((build a ((from b))) (from a) (copy (dst d) (exclude x) (src s) (from (build a))))",
               "((build a\n        ((from b)))\n (from a)\n (copy (from (build a)) (src s) (dst d) (exclude x))\n)", "copy fields in any order")
                ;
}

static void test_machine_form(void)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((from base) (run (shell \"a command\")) (copy (src a b) (dst c))"
                                        " (user (uid 1) (gid 2)))", &err);
        ok(spec != NULL, "parses for the machine form");
        struct cairn_buf b = CAIRN_BUF_INIT;
        if (spec)
                cairn_spec_print_mach(&b, spec);
        is_str(cairn_buf_str(&b), "((from base)(run(shell\"a command\"))(copy(src a b)(dst c))(user(uid 1)(gid 2)))",
               "reference 1.6 machine form");
        cairn_buf_release(&b);
        cairn_spec_free(spec);
        cairn_error_free(err);
}

static void test_capitalised(void)
{
        fmt_is("((from a) (Workdir /x) (Comment hi) (Shell a b) (Env (K v)) (Copy ((src s) (dst d)))"
               " (Run ((shell x))) (User ((uid 1) (gid 2))) (User ((name n))))",
               "((from a)\n (workdir /x)\n (comment hi)\n (shell a b)\n (env K v)\n (copy (src s) (dst d))\n"
               " (run (shell x))\n (user (uid 1) (gid 2))\n (user (name n))\n)",
               "OBuilder's capitalised spellings are accepted and printed lower-case");
        rejects("((from a) (RUN (shell x)))", "t.spec:1:12: unknown operation RUN: did you mean \"run\"?", "RUN");
        rejects("((from a) (rUN (shell x)))", "unknown operation rUN", "rUN");
        rejects("((from a) (Env a b))", "t.spec:1:11: env: the capitalised form Env takes its fields as one list",
                "(Env a b)");
        rejects("((from a) (Run (shell x)))", "run: expected a field (NAME VALUE...), found shell",
                "(Run (shell x)) is not a record");
        rejects("((from a) (env (a b)))", "env: expected (env NAME VALUE), found 1 argument", "(env (a b))");
}

static void test_users(void)
{
        static const struct {
                const char *in, *out;
        } ints[] = {
                { "-1", "-1" },          { "0x10", "16" },     { "0o7", "7" },
                { "0b101", "5" },        { "1_000", "1000" },  { "+5", "5" },
                { "0X1F", "31" },        { "0u42", "42" },     { "007", "7" },
                { "4611686018427387903", "4611686018427387903" },
                { "-4611686018427387904", "-4611686018427387904" },
                { "0x7fffffffffffffff", "-1" },
                { "0x4000000000000000", "-4611686018427387904" },
        };
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
                char in[128], out[128];
                snprintf(in, sizeof(in), "((from a) (user (uid %s) (gid 0)))", ints[i].in);
                snprintf(out, sizeof(out), "((from a)\n (user (uid %s) (gid 0))\n)", ints[i].out);
                fmt_is(in, out, ints[i].in);
        }
        static const char *const bad[] = {
                "abc", "", "_1", "0x", "1.5", "4611686018427387904", "-4611686018427387905",
                "0x8000000000000000", "0b2", "1 2", "--1", "0o8",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char in[128];
                snprintf(in, sizeof(in), "((from a) (user (uid \"%s\") (gid 0)))", bad[i]);
                rejects(in, "user: uid must be an integer", bad[i]);
        }
        rejects("((from a) (user (uid 1)))",
                "t.spec:1:17: user: expected (user (uid N) (gid N)) or (user (name NAME)), found the fields ((uid 1))",
                "reference 1.4: (user (uid 1))");
        rejects("((from a) (user (gid 1) (uid 2)))", "found the fields ((gid 1) (uid 2))", "uid and gid out of order");
        rejects("((from a) (user))", "t.spec:1:11: user: expected (user (uid N) (gid N))", "no fields");
        rejects("((from a) (user (name a) (uid 1)))", "user: expected", "name with uid");
        rejects("((from a) (user (name (a))))", "user: expected the user name (a string)", "name must be a string");
        rejects("((from a) (user (uid 1) (gid x)))", "t.spec:1:30: user: gid must be an integer, found x", "bad gid");
}

static void test_errors(void)
{
        rejects("()", "t.spec:1:1: invalid spec: missing (from IMAGE)", "reference 1.4: ()");
        rejects("foo", "t.spec:1:1: invalid spec foo: expected a list", "reference 1.4: foo");
        rejects("((run (shell x)))", "t.spec:1:2: invalid spec item (run (shell x))", "reference 1.4: op before from");
        rejects("((from a) (frob x))",
                "t.spec:1:12: unknown operation frob: expected comment, workdir, shell, run, copy, user or env",
                "reference 1.4: unknown op");
        rejects("((from a) (from b))", "t.spec:1:11: from: a stage has exactly one (from IMAGE)",
                "reference 1.4: two froms");
        rejects("((from (a b)))", "t.spec:1:2: from: expected (from IMAGE) with IMAGE a single string",
                "reference 1.2: from with a list");
        rejects("((from a b))", "from: expected (from IMAGE)", "from with two atoms");
        rejects("((from a) (workdir a b))", "t.spec:1:11: workdir: expected exactly one argument, as in (workdir PATH), found 2",
                "reference 1.4: (workdir a b)");
        rejects("((from a) (workdir))", "workdir: expected exactly one argument, as in (workdir PATH), found 0",
                "reference 1.4: (workdir)");
        rejects("((from a) (comment))", "comment: expected exactly one argument, as in (comment TEXT), found 0",
                "reference 1.4: (comment)");
        rejects("((from a) (workdir (x)))", "workdir: expected the directory (a string), found the list (x)",
                "workdir must be a string");
        rejects("((from a) (env A))", "t.spec:1:11: env: expected (env NAME VALUE), found 1 argument",
                "reference 1.4: (env A)");
        rejects("((from a) (env A b c))", "env: expected (env NAME VALUE), found 3 arguments",
                "reference 1.4: (env A b c)");
        rejects("((from a) (run (network host)))", "t.spec:1:11: run: missing required field (shell COMMAND)",
                "reference 1.4: run without shell");
        rejects("((from a) (run (shell x) (shell y)))",
                "t.spec:1:26: run: duplicate field (shell ...); it was already given at line 1, column 16",
                "reference 1.4: duplicate shell");
        rejects("((from a) (run (shell x) (foo y)))",
                "t.spec:1:26: run: unknown field foo: expected cache, network, secrets or shell",
                "reference 1.4: extra field");
        rejects("((from a) (run (shell x y)))", "run: field (shell COMMAND) takes exactly one value, found 2",
                "shell with two values");
        rejects("((from a) (run (shell)))", "run: field (shell COMMAND) takes exactly one value, found 0",
                "shell with no value");
        rejects("((from a) (run (shell (x))))", "run: expected the command of (shell COMMAND) (a string)",
                "shell with a list");
        rejects("((from a) (run (cache (c)) (shell x)))",
                "t.spec:1:23: run: cache \"c\": missing required field (target PATH)", "reference 1.4: cache without target");
        rejects("((from a) (run (secrets (s)) (shell x)))", "run: secrets \"s\": missing required field (target PATH)",
                "secret without target");
        rejects("((from a) (run (cache c) (shell x)))", "run: cache: expected (NAME (target PATH)), found c",
                "cache entry that is an atom");
        rejects("((from a) (run (cache (c (target /t) (mode 1))) (shell x)))",
                "run: cache \"c\": unknown field mode: expected target or buildkit_options", "unknown cache field");
        rejects("((from a) (run (cache (c (target /t) (buildkit_options (a b)))) (shell x)))",
                "expected a (KEY VALUE) pair in buildkit_options, found a", "bad buildkit_options");
        rejects("((from a) (run (network (host)) (shell x)))", "run: network: expected a network name (a string)",
                "network names are strings");
        rejects("((from a) (copy (from foo) (src a) (dst b)))",
                "t.spec:1:23: copy: invalid data source foo: expected (from context) or (from (build NAME))",
                "reference 1.4: bad data source");
        rejects("((from a) (copy (src a)))", "t.spec:1:11: copy: missing required field (dst PATH)", "copy without dst");
        rejects("((from a) (copy (dst a)))", "copy: missing required field (src PATH ...)", "copy without src");
        rejects("((from a) (copy (src a) (dst b c)))", "copy: field (dst PATH) takes exactly one value, found 2",
                "dst with two values");
        rejects("((from a) x)", "t.spec:1:11: expected an operation (NAME ARGS...), found x", "an atom op");
        rejects("((from a) ())", "expected an operation (NAME ARGS...), found ()", "an empty op");
        rejects("((from a) ((run) x))", "expected an operation", "an op whose head is a list");
        rejects("((from a) (build x ((from b))))", "t.spec:1:11: build: (build NAME SPEC) stages must come before",
                "a stage after from");
        rejects("((build x) (from a))", "t.spec:1:2: build: expected (build NAME SPEC)", "a stage without a spec");
        rejects("((build x y) (from a))", "t.spec:1:11: invalid spec y: expected a list", "a stage whose spec is an atom");
        rejects("((build x ()) (from a))", "t.spec:1:11: invalid spec: missing (from IMAGE)", "an empty stage spec");
        rejects("((from a) (comment \"a\\000b\"))", "comment: the comment text contains a NUL byte",
                "NUL bytes are refused");
}

static void test_stages(void)
{
        rejects("((build tools ((from base))) (from base) (copy (from (build tool)) (src x) (dst /y)))",
                "t.spec:1:42: copy: unknown build \"tool\" in (copy (from (build tool)) (src x) (dst /y)).\n"
                "Did you mean \"tools\" ?",
                "reference 1.4: unknown stage, one hint");
        rejects("((build b1 ((from x))) (build a1 ((from x))) (from base) (copy (from (build c)) (src x) (dst /y)))",
                "unknown build \"c\" in (copy (from (build c)) (src x) (dst /y)).\nDid you mean either \"a1\" or \"b1\" ?",
                "reference 1.4: unknown stage, two hints");
        rejects("((build b ((from x))) (build a ((from x))) (build c ((from x))) (from base) "
                "(copy (from (build d)) (src x) (dst /y)))",
                "Did you mean one of \"a\", \"b\", or \"c\" ?", "three hints");
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((from base) (copy (from (build tools)) (src x) (dst /y)))", &err);
        ok(spec == NULL, "reference 1.4: unknown stage with no stages is rejected");
        is_str(err ? err->message : NULL,
               "t.spec:1:14: copy: unknown build \"tools\" in (copy (from (build tools)) (src x) (dst /y)).",
               "no hint when no stage is in scope");
        cairn_error_free(err);
        err = NULL;

        /* Scope: earlier siblings and enclosing levels, never itself or later ones. */
        spec = parse("((build a ((from x)))"
                     " (build b ((build c ((from x) (copy (from (build a)) (src s) (dst d))))"
                     "           (from x) (copy (from (build c)) (src s) (dst d)) (copy (from (build a)) (src s) (dst d))))"
                     " (from x) (copy (from (build a)) (src s) (dst d)) (copy (from (build b)) (src s) (dst d)))",
                     &err);
        ok(spec != NULL, "stages see earlier siblings and enclosing levels");
        if (!spec) {
                char *m = all_messages(err);
                tap_diag("%s", m);
                free(m);
        }
        cairn_spec_free(spec);
        cairn_error_free(err);
        rejects("((build a ((from x) (copy (from (build b)) (src s) (dst d)))) (build b ((from x))) (from x))",
                "unknown build \"b\"", "a stage cannot see a later sibling");
        rejects("((build a ((from x) (copy (from (build a)) (src s) (dst d)))) (from x))",
                "unknown build \"a\"", "a stage cannot see itself");
        rejects("((build a ((build inner ((from x))) (from x))) (from x) (copy (from (build inner)) (src s) (dst d)))",
                "unknown build \"inner\"", "a parent cannot see a child's stages");
}

static void test_many_errors(void)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((from a)\n"
                                        " (run (network host))\n"
                                        " (workdir)\n"
                                        " (env A)\n"
                                        " (copy (from (build nope)) (src a) (dst b))\n"
                                        " (run (shell ok)))\n",
                                        &err);
        ok(spec == NULL, "a spec with several errors is rejected");
        is_int(cairn_error_count(err), 4, "every error is reported");
        char *m = all_messages(err);
        is_str(m,
               "t.spec:2:2: run: missing required field (shell COMMAND)\n"
               "t.spec:3:2: workdir: expected exactly one argument, as in (workdir PATH), found 0\n"
               "t.spec:4:2: env: expected (env NAME VALUE), found 1 argument\n"
               "t.spec:5:2: copy: unknown build \"nope\" in (copy (from (build nope)) (src a) (dst b)).",
               "each with its position, in order");
        free(m);
        cairn_error_free(err);
}

static void test_failed_op_leaves_nothing(void)
{
        /* A failed op must not leave fields behind for the next one
         * (found by the fuzzer). */
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((from a) (copy (from (build nope)) (src a) (dst (x))) (copy (src b) (dst c)))", &err);
        ok(spec == NULL, "a spec with a broken copy is rejected");
        is_int(cairn_error_count(err), 1, "only the broken copy is reported");
        is_str(err ? err->message : NULL, "t.spec:1:50: copy: expected the destination of (dst PATH) (a string), found the list (x)", "the error");
        cairn_error_free(err);
}

static void test_op_printer(void)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((from a)"
                                        " (run (secrets (test (target /testsecret)) (test2 (target /run/secrets/test2)))"
                                        " (shell Append)) (copy (src x) (dst y)))",
                                        &err);
        ok(spec != NULL, "parses for the op printer");
        if (!spec)
                return;
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_pp pp = { &b, 0 };
        cairn_pp_str(&pp, "/: ");
        cairn_spec_print_op(&pp, &spec->ops[0]);
        is_str(cairn_buf_str(&b),
               "/: (run (secrets (test (target /testsecret)) (test2 (target /run/secrets/test2)))\n"
               "        (shell Append))",
               "reference 9: a log heading for a run with secrets");
        cairn_buf_reset(&b);
        pp.col = 0;
        cairn_spec_print_op(&pp, &spec->ops[1]);
        is_str(cairn_buf_str(&b), "(copy (src x) (dst y))", "a short copy heading");
        cairn_buf_release(&b);
        cairn_spec_free(spec);
}

static void test_ast(void)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse("((build s ((from img2))) (from img) (shell /bin/sh -c)"
                                        " (run (cache (c (target /c))) (network host) (secrets (k (target /k))) (shell cmd))"
                                        " (copy (from (build s)) (src a b) (dst /d) (exclude .git))"
                                        " (user (uid 1000) (gid 100)) (env K V) (workdir w) (comment c))",
                                        &err);
        if (!ok(spec != NULL, "parses for the AST"))
                return;
        is_str(spec->from, "img", "from");
        is_int(spec->n_stages, 1, "one stage");
        is_str(spec->stages[0].name, "s", "stage name");
        is_str(spec->stages[0].spec->from, "img2", "stage from");
        is_int(spec->n_ops, 7, "seven ops");
        const struct cairn_spec_op *op = spec->ops;
        ok(op[0].kind == CAIRN_SPEC_SHELL && op[0].shell.n == 2 && strcmp(op[0].shell.args[1], "-c") == 0, "shell");
        ok(op[1].kind == CAIRN_SPEC_RUN && op[1].run.n_caches == 1 && strcmp(op[1].run.caches[0].target, "/c") == 0 &&
           op[1].run.n_network == 1 && op[1].run.n_secrets == 1 && strcmp(op[1].run.shell, "cmd") == 0, "run");
        ok(op[2].kind == CAIRN_SPEC_COPY && strcmp(op[2].copy.from_build, "s") == 0 && op[2].copy.n_src == 2 &&
           strcmp(op[2].copy.dst, "/d") == 0 && op[2].copy.n_exclude == 1, "copy");
        ok(op[3].kind == CAIRN_SPEC_USER && !op[3].user.by_name && op[3].user.uid == 1000 && op[3].user.gid == 100, "user");
        ok(op[4].kind == CAIRN_SPEC_ENV && strcmp(op[4].env.name, "K") == 0 && strcmp(op[4].env.value, "V") == 0, "env");
        ok(op[5].kind == CAIRN_SPEC_WORKDIR && strcmp(op[5].workdir, "w") == 0, "workdir");
        ok(op[6].kind == CAIRN_SPEC_COMMENT && strcmp(op[6].comment, "c") == 0, "comment");
        is_int(op[1].line, 1, "op line");
        cairn_spec_free(spec);
}

/* Cache names OBuilder would turn into paths are warned about, in every
 * stage, with their position; others are not. */
static void test_cache_warnings(void)
{
        static const char text[] = "((build b ((from x) (run (cache (. (target /a))) (shell true))))\n"
                                   " (from y)\n"
                                   " (run (cache (ok (target /a)) (\"x/y\" (target /b)) (\"..\" (target /c))) (shell true)))";
        struct cairn_spec *spec = NULL;
        struct cairn_error *err = NULL;
        ok(cairn_spec_parse("w.spec", text, sizeof(text) - 1, &spec, &err) == 0, "a spec with odd cache names parses");
        struct cairn_error *w = NULL;
        is_int(spec ? cairn_spec_warnings(spec, &w) : 0, 3, "three warnings: \".\" in the stage, \"x/y\", \"..\"");
        is_str(w ? w->message : "", "w.spec:1:21: warning: the cache name \".\" is a path to OBuilder: on its overlayfs, "
                                    "rsync and xfs stores it would not be kept in cache/ (cairn keeps it there under a "
                                    "name of its own)", "the stage's, first, with its position");
        has_str(w && w->next ? w->next->message : "", "w.spec:3:2: warning: the cache name \"x/y\"", "then x/y");
        cairn_error_free(w);
        cairn_error_free(err);
        cairn_spec_free(spec);
}

/* Which stages wait for which (engine: stages at once). */
static void test_stage_needs(void)
{
        static const char text[] = "((build a ((from x)))\n"
                                   " (build b ((from x) (run (shell true))))\n"
                                   " (build c ((from x) (copy (from (build a)) (src f) (dst /))))\n"
                                   " (build d ((build n ((from x) (copy (from (build b)) (src f) (dst /))))\n"
                                   "           (from x)))\n"
                                   " (build a ((from x)))\n"
                                   " (build e ((from x) (copy (from (build a)) (src f) (dst /))))\n"
                                   " (from y))";
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = parse(text, &err);
        if (!ok(spec != NULL, "a spec of stages parses")) {
                cairn_error_free(err);
                return;
        }
        ok(!cairn_spec_stage_needs(spec, 1, 0), "b does not need a");
        ok(cairn_spec_stage_needs(spec, 2, 0), "c needs a (copies from it)");
        ok(!cairn_spec_stage_needs(spec, 2, 1), "c does not need b");
        ok(cairn_spec_stage_needs(spec, 3, 1), "d needs b (a stage nested in d copies from it)");
        ok(!cairn_spec_stage_needs(spec, 3, 0), "d does not need a");
        ok(cairn_spec_stage_needs(spec, 5, 4), "e needs the second a");
        ok(cairn_spec_stage_needs(spec, 5, 0), "and, shadowed or not, the first (a scheduler errs towards waiting)");
        ok(!cairn_spec_stage_needs(spec, 0, 2), "never a later stage");
        ok(!cairn_spec_stage_needs(spec, 2, 2), "nor itself");
        ok(!cairn_spec_stage_needs(spec, 9, 0), "nor one out of range");
        cairn_spec_free(spec);
}

int main(void)
{
        test_stage_needs();
        test_cache_warnings();
        test_goldens();
        test_machine_form();
        test_capitalised();
        test_users();
        test_errors();
        test_stages();
        test_many_errors();
        test_failed_op_leaves_nothing();
        test_op_printer();
        test_ast();
        return tap_done();
}
