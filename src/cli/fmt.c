/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/strbuf.h"
#include "base/cleanup.h"
#include "cli/cli.h"
#include "spec/spec.h"

const struct cairn_verb cairn_fmt_verb = {
        .name = "fmt",
        .run = cmd_fmt,
        .summary = "print specs in canonical form, or rewrite them",
        .help = "Usage: cairn fmt [-w | --check] [--drop-comments] SPEC...\n"
                "\n"
                "Print each SPEC (\"-\" reads standard input) in the canonical form that\n"
                "OBuilder prints in its build logs: fields in canonical order, defaults left\n"
                "out, one operation per line.\n"
                "\n"
                "  -w, --write        rewrite each file that is not canonical, in place and\n"
                "                     atomically, instead of printing it\n"
                "      --check        print nothing but the names of the files that are not\n"
                "                     canonical; exit 1 if there are any\n"
                "      --drop-comments  let -w rewrite a file that has comments (the\n"
                "                     canonical form has none, so they are lost)\n"
                "\n"
                "Exit status: 0 on success, 1 if a spec is invalid, could not be written, or\n"
                "(with --check) is not canonical.\n",
};

int cmd_fmt(int argc, char **argv)
{
        enum { OPT_CHECK = 256, OPT_DROP_COMMENTS };
        static const struct option options[] = {
                { "write", no_argument, NULL, 'w' },
                { "check", no_argument, NULL, OPT_CHECK },
                { "drop-comments", no_argument, NULL, OPT_DROP_COMMENTS },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool write = false, check = false, drop_comments = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+wh", options, NULL)) >= 0) {
                switch (c) {
                case 'w': write = true; break;
                case OPT_CHECK: check = true; break;
                case OPT_DROP_COMMENTS: drop_comments = true; break;
                default: return cairn_cli_usage_error("fmt", "unknown option \"%s\"", argv[optind - 1]);
                }
        }
        if (write && check)
                return cairn_cli_usage_error("fmt", "-w and --check cannot be used together");
        if (optind >= argc)
                return cairn_cli_usage_error("fmt", "at least one SPEC file is required");
        int status = CAIRN_EXIT_OK;
        for (int i = optind; i < argc; i++) {
                const char *path = argv[i];
                if (write && strcmp(path, "-") == 0)
                        return cairn_cli_usage_error("fmt", "-w cannot rewrite standard input");
                _cleanup_error_ struct cairn_error *err = NULL;
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                _cleanup_spec_ struct cairn_spec *spec = NULL;
                if (cairn_read_file(path, CAIRN_SEXP_MAX_INPUT, &data, &len, &err) < 0 ||
                    cairn_spec_parse(strcmp(path, "-") == 0 ? "<stdin>" : path, data, len, &spec, &err) < 0) {
                        cairn_cli_report(err);
                        status = CAIRN_EXIT_FAILURE;
                        continue;
                }
                _cleanup_buf_ struct cairn_buf out = CAIRN_BUF_INIT;
                cairn_spec_print(&out, spec);
                cairn_buf_addc(&out, '\n');
                bool canonical = out.len == len && memcmp(out.data, data, len) == 0;
                if (check) {
                        if (!canonical) {
                                printf("%s\n", path);
                                status = CAIRN_EXIT_FAILURE;
                        }
                } else if (write) {
                        if (canonical)
                                continue;
                        if (spec->comments && !drop_comments) {
                                fprintf(stderr,
                                        "%s: not rewritten: it has %u comment%s, which the canonical form cannot keep "
                                        "(--drop-comments rewrites it anyway)\n",
                                        path, spec->comments, spec->comments == 1 ? "" : "s");
                                status = CAIRN_EXIT_FAILURE;
                                continue;
                        }
                        if (cairn_write_file_atomic(path, out.data, out.len, &err) < 0) {
                                cairn_cli_report(err);
                                status = CAIRN_EXIT_FAILURE;
                        }
                } else {
                        fwrite(out.data, 1, out.len, stdout);
                }
        }
        if (fflush(stdout) != 0) {
                perror("cairn fmt: writing standard output");
                status = CAIRN_EXIT_FAILURE;
        }
        return status;
}
