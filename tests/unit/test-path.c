/* SPDX-License-Identifier: Apache-2.0 */
/* Host paths, with the platform's rules: built natively and for Windows
 * (run under wine). */
#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "tap.h"

static void join_is(const char *a, const char *b, const char *want, const char *name)
{
        char *got = cairn_path_join(a, b);
        is_str(got, want, "%s", name);
        free(got);
}

int main(void)
{
        char *n = cairn_path_normalise("/./a//b/./c/");
        is_str(n, "a/b/c", "container paths normalise with \"/\" on every platform");
        free(n);
        ok(cairn_path_normalise("a/../b") == NULL, "\"..\" is refused");
        n = cairn_escape_filename("c-", "a/b:c");
        is_str(n, "c-a%2fb%3ac", "escaped file names are the same everywhere");
        free(n);
#ifdef _WIN32
        n = cairn_ocaml_concat("C:/src", "x");
        is_str(n, "C:/src\\x", "OCaml's Filename.concat on Windows joins with a backslash");
        free(n);
        n = cairn_ocaml_concat("C:", "x");
        is_str(n, "C:x", "not after a drive's colon");
        free(n);
        ok(!cairn_ocaml_is_relative("C:x") && !cairn_ocaml_is_relative("\\x") && cairn_ocaml_is_relative("x"),
           "and Filename.is_relative knows drive letters");
        join_is("C:\\store", "result", "C:\\store\\result", "Windows: joined with a backslash");
        join_is("C:\\store\\", "\\result", "C:\\store\\result", "one separator between");
        join_is("C:/store/", "result", "C:/store/result", "a forward slash counts as a separator");
        join_is("C:\\", "x", "C:\\x", "the root of a drive keeps its separator");
        ok(cairn_path_is_absolute("C:\\x") && cairn_path_is_absolute("c:/x") && cairn_path_is_absolute("\\\\srv\\share"),
           "drive letters and UNC paths are absolute");
        ok(!cairn_path_is_absolute("C:x") && !cairn_path_is_absolute("x\\y") && !cairn_path_is_absolute("/x"),
           "a drive-relative path, a relative one, and a POSIX one are not");
#else
        n = cairn_ocaml_concat("/src", "x");
        is_str(n, "/src/x", "OCaml's Filename.concat");
        free(n);
        n = cairn_ocaml_concat("/src/", "./x");
        is_str(n, "/src/./x", "without normalising");
        free(n);
        ok(cairn_ocaml_is_relative("C:x") && !cairn_ocaml_is_relative("/x"), "and Filename.is_relative");
        join_is("/store", "result", "/store/result", "POSIX: joined with a slash");
        join_is("/store//", "/result", "/store/result", "one separator between");
        join_is("/", "x", "/x", "the root keeps its separator");
        ok(cairn_path_is_absolute("/x") && !cairn_path_is_absolute("x/y") && !cairn_path_is_absolute("C:\\x"),
           "only a leading slash makes a path absolute");
#endif
        return tap_done();
}
