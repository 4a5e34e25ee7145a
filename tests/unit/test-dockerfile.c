/* SPDX-License-Identifier: Apache-2.0 */
/* Dockerfile export: the goldens of the OBuilder reference (section 1.8) and
 * the bugs cairn fixes. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "spec/dockerfile.h"
#include "spec/spec.h"
#include "tap.h"

static const struct cairn_dockerfile_options unix_plain = { false, CAIRN_DOCKERFILE_UNIX };
static const struct cairn_dockerfile_options unix_bk = { true, CAIRN_DOCKERFILE_UNIX };
static const struct cairn_dockerfile_options win_plain = { false, CAIRN_DOCKERFILE_WINDOWS };
static const struct cairn_dockerfile_options win_bk = { true, CAIRN_DOCKERFILE_WINDOWS };

/* Convert; returns the warnings joined by newlines (caller frees) via ret_warnings. */
static void convert_is(const char *input, const struct cairn_dockerfile_options *o, const char *expected,
                       const char *expected_warnings, const char *name)
{
        struct cairn_spec *spec = NULL;
        struct cairn_error *err = NULL;
        if (!ok(cairn_spec_parse("d.spec", input, strlen(input), &spec, &err) == 0, "parses: %s", name)) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
                return;
        }
        struct cairn_buf b = CAIRN_BUF_INIT, w = CAIRN_BUF_INIT;
        struct cairn_error *warnings = NULL;
        cairn_dockerfile_write(&b, spec, o, &warnings);
        is_str(cairn_buf_str(&b), expected, "Dockerfile: %s", name);
        for (struct cairn_error *e = warnings; e; e = e->next)
                cairn_buf_printf(&w, "%s\n", e->message);
        is_str(cairn_buf_str(&w), expected_warnings ? expected_warnings : "", "warnings: %s", name);
        cairn_buf_release(&b);
        cairn_buf_release(&w);
        cairn_error_free(warnings);
        cairn_spec_free(spec);
}

static const char upstream_unix[] =
        "((from base)\n"
        " (comment \"A test comment\")\n"
        " (workdir /src)\n"
        " (run (shell \"command1\"))\n"
        " (shell /bin/sh -c)\n"
        " (run (cache (a (target /data)) (b (target /srv)))\n"
        "      (shell \"command2 &&\n"
        "              command3\"))\n"
        " (copy (src a b) (dst c))\n"
        " (copy (src a b) (dst c) (exclude .git _build))\n"
        " (env DEBUG 1)\n"
        " (env ESCAPE \"\\\"quote\\\\sla\\\\sh\\\"\")\n"
        " (user (uid 1) (gid 2))\n"
        " (copy (src a b) (dst c)))";

static void test_upstream(void)
{
        convert_is(upstream_unix, &unix_plain,
                   "FROM base\n"
                   "# A test comment\n"
                   "WORKDIR /src\n"
                   "RUN command1\n"
                   "SHELL [ \"/bin/sh\", \"-c\" ]\n"
                   "RUN command2 && \\\n"
                   "    command3\n"
                   "COPY a b c\n"
                   "COPY a b c\n"
                   "ENV DEBUG=\"1\"\n"
                   "ENV ESCAPE=\"\\\"quote\\\\sla\\\\sh\\\"\"\n"
                   "USER 1:2\n"
                   "COPY --chown=1:2 a b c\n",
                   "d.spec:6:2: run: caches dropped: a plain Dockerfile has no cache mounts (use --buildkit)\n"
                   "d.spec:10:2: copy: excludes dropped: COPY has no equivalent of (exclude ...)\n",
                   "upstream Docker UNIX, plain");
        convert_is("((from base)\n"
                   " (comment \"A test comment\")\n"
                   " (workdir /src)\n"
                   " (run (shell \"command1\"))\n"
                   " (shell /bin/sh -c)\n"
                   " (run (cache (a (target /data)) (b (target /srv))) (shell \"command2\"))\n"
                   " (copy (src a b) (dst c))\n"
                   " (copy (src a b) (dst c) (exclude .git _build))\n"
                   " (env DEBUG 1)\n"
                   " (user (uid 1) (gid 2))\n"
                   " (copy (src a b) (dst c)))",
                   &unix_bk,
                   "FROM base\n"
                   "# A test comment\n"
                   "WORKDIR /src\n"
                   "RUN command1\n"
                   "SHELL [ \"/bin/sh\", \"-c\" ]\n"
                   "RUN --mount=type=cache,id=a,target=/data,uid=0 --mount=type=cache,id=b,target=/srv,uid=0 command2\n"
                   "COPY a b c\n"
                   "COPY a b c\n"
                   "ENV DEBUG=\"1\"\n"
                   "USER 1:2\n"
                   "COPY --chown=1:2 a b c\n",
                   "d.spec:8:2: copy: excludes dropped: COPY has no equivalent of (exclude ...)\n",
                   "upstream Docker UNIX, BuildKit");
        static const char multi[] = "((build tools ((from base) (run (shell \"make tools\"))))"
                                    " (from base) (copy (from (build tools)) (src binary) (dst /usr/local/bin/)))";
        convert_is(multi, &unix_plain,
                   "FROM base as tools\n"
                   "RUN make tools\n"
                   "\n"
                   "FROM base\n"
                   "COPY --from=tools binary /usr/local/bin/\n",
                   NULL, "upstream multi-stage");
        convert_is(multi, &win_plain,
                   "#escape=`\n"
                   "FROM base as tools\n"
                   "RUN make tools\n"
                   "\n"
                   "FROM base\n"
                   "COPY --from=tools binary /usr/local/bin/\n",
                   NULL, "upstream multi-stage, Windows");
        convert_is("((build tools ((from base)"
                   " (run (secrets (a (target /secrets/a)) (b (target /secrets/b))) (shell command1))))"
                   " (from base) (copy (from (build tools)) (src binary) (dst /usr/local/bin/)))",
                   &unix_bk,
                   "FROM base as tools\n"
                   "RUN --mount=type=secret,id=a,target=/secrets/a,uid=0 --mount=type=secret,id=b,target=/secrets/b,uid=0 "
                   "command1\n"
                   "\n"
                   "FROM base\n"
                   "COPY --from=tools binary /usr/local/bin/\n",
                   NULL, "upstream secrets, BuildKit");
        convert_is("((from base)\n"
                   " (comment \"A test comment\")\n"
                   " (workdir C:/src)\n"
                   " (run (shell \"command1\"))\n"
                   " (shell C:/Windows/System32/cmd.exe /c)\n"
                   " (run (cache (a (target /data)) (b (target /srv)))\n"
                   "      (shell \"command2 &&\n"
                   "              command3\"))\n"
                   " (copy (src a b) (dst c))\n"
                   " (copy (src a b) (dst c) (exclude .git _build))\n"
                   " (env DEBUG 1)\n"
                   " (user (name Zaphod))\n"
                   " (copy (src a b) (dst c)))",
                   &win_plain,
                   "#escape=`\n"
                   "FROM base\n"
                   "# A test comment\n"
                   "WORKDIR C:/src\n"
                   "RUN command1\n"
                   "SHELL [ \"C:/Windows/System32/cmd.exe\", \"/c\" ]\n"
                   "RUN command2 && `\n"
                   "    command3\n"
                   "COPY a b c\n"
                   "COPY a b c\n"
                   "ENV DEBUG=\"1\"\n"
                   "USER Zaphod\n"
                   "COPY a b c\n",
                   "d.spec:6:2: run: caches dropped: a plain Dockerfile has no cache mounts (use --buildkit)\n"
                   "d.spec:10:2: copy: excludes dropped: COPY has no equivalent of (exclude ...)\n",
                   "upstream Docker Windows");
}

static void test_reference_extras(void)
{
        convert_is("((from a) (user (uid 1000) (gid 1000))"
                   " (run (cache (c (target /t) (buildkit_options ((sharing locked)(mode 0755))))) (shell x)))",
                   &unix_bk,
                   "FROM a\nUSER 1000:1000\nRUN --mount=type=cache,id=c,target=/t,uid=1000,sharing=locked,mode=0755 x\n",
                   NULL, "buildkit_options after uid=");
        convert_is("((from a) (env A \"x\\\"y\\\\z`w\"))", &unix_plain, "FROM a\nENV A=\"x\\\"y\\\\z`w\"\n", NULL,
                   "env escaping, Unix");
        convert_is("((from a) (env A \"x\\\"y\\\\z`w\"))", &win_plain, "#escape=`\nFROM a\nENV A=\"x`\"y\\z``w\"\n", NULL,
                   "env escaping, Windows");
        convert_is("((from a) (user (uid 0) (gid 0)) (copy (src a) (dst b)))", &unix_plain,
                   "FROM a\nUSER 0:0\nCOPY a b\n", NULL, "root gets no --chown");
        convert_is("((from a) (workdir rel) (run (network host) (shell x)))", &unix_plain,
                   "FROM a\nWORKDIR rel\nRUN x\n", NULL, "relative workdir kept, network dropped");
        convert_is("((from a) (run (shell \"x\n\")))", &unix_plain, "FROM a\nRUN x \\\n    \n", NULL,
                   "a trailing newline gives an empty continuation, as in OBuilder");
        convert_is("((from a) (run (shell \"  a  \n\t  b  \")))", &unix_plain, "FROM a\nRUN a \\\n    b\n", NULL,
                   "each line of a command is trimmed");
        convert_is("((from a) (shell))", &unix_plain, "FROM a\nSHELL [  ]\n", NULL, "an empty shell");
        convert_is("((build s ((from b) (user (uid 5) (gid 5)))) (from a) (copy (src x) (dst y)))", &unix_plain,
                   "FROM b as s\nUSER 5:5\n\nFROM a\nCOPY x y\n", NULL, "each stage starts as root");
        convert_is("((build a ((build b ((from x))) (from y))) (from z))", &unix_plain,
                   "FROM x as b\n\nFROM y as a\n\nFROM z\n", NULL, "nested stages come first, depth-first");
        convert_is("((from a) (user (name ContainerAdministrator)) (copy (src x) (dst y)))", &win_plain,
                   "#escape=`\nFROM a\nUSER ContainerAdministrator\nCOPY x y\n", NULL,
                   "ContainerAdministrator gets no --chown");
        convert_is("((from a) (user (name opam)) (copy (src x) (dst y)))", &unix_plain,
                   "FROM a\nUSER opam\nCOPY x y\n",
                   "d.spec:1:30: copy: no --chown for the user \"opam\", as OBuilder writes it: docker build leaves the "
                   "copied files root's, where cairn makes them the user's\n",
                   "a named user on Unix gets no --chown, as in OBuilder, and a warning");
}

static void test_fixed_bugs(void)
{
        convert_is("((from a) (shell \"/bin/sh\" \"-c \\\"x\\\"\" \"C:\\\\bin\\\\bash.exe\" \"tab\\there\"))", &unix_plain,
                   "FROM a\nSHELL [ \"/bin/sh\", \"-c \\\"x\\\"\", \"C:\\\\bin\\\\bash.exe\", \"tab\\there\" ]\n", NULL,
                   "SHELL arguments are valid JSON (OBuilder prints \"-c \"x\"\")");
        convert_is("((from a) (user (name Zaphod))"
                   " (run (cache (c (target /t))) (secrets (s (target /s))) (shell x)))",
                   &win_bk,
                   "#escape=`\nFROM a\nUSER Zaphod\nRUN --mount=type=secret,id=s,target=/s --mount=type=cache,id=c,target=/t x\n",
                   "d.spec:1:32: run: the secret mount gets no uid= option: BuildKit needs a numeric user id, and the user is a name\n"
                   "d.spec:1:32: run: the cache mount gets no uid= option: BuildKit needs a numeric user id, and the user is a name\n",
                   "a Windows user with a cache or secret does not crash");
        convert_is("((from a) (run (cache (c (target /t))) (secrets (s (target /s))) (shell x)))", &unix_plain,
                   "FROM a\nRUN x\n",
                   "d.spec:1:11: run: caches dropped: a plain Dockerfile has no cache mounts (use --buildkit)\n"
                   "d.spec:1:11: run: secrets dropped: a plain Dockerfile has no secret mounts (use --buildkit)\n",
                   "dropped caches and secrets are warned about");
        convert_is("((from a) (comment \"one\ntwo\"))", &unix_plain, "FROM a\n# one\n# two\n", NULL,
                   "a multi-line comment stays a comment");
}

int main(void)
{
        test_upstream();
        test_reference_extras();
        test_fixed_bugs();
        return tap_done();
}
