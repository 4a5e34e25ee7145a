/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/cleanup.h"
#include "cli/cli.h"
#include "spec/dockerfile.h"
#include "spec/spec.h"

const struct cairn_verb cairn_dockerfile_verb = {
        .name = "dockerfile",
        .run = cmd_dockerfile,
        .summary = "convert a spec to a Dockerfile",
        .help = "Usage: cairn dockerfile -f SPEC [--buildkit] [--escape=unix|windows]\n"
                "\n"
                "Print the Dockerfile equivalent of SPEC, exactly as `obuilder dockerfile`\n"
                "prints it (including its final blank line), with OBuilder's bugs fixed:\n"
                "SHELL arguments are valid JSON, and a named user with a cache or secret does\n"
                "not crash the conversion.  What a Dockerfile cannot express is reported on\n"
                "stderr as a warning.\n"
                "\n"
                "  -f, --file=SPEC          the spec to convert (\"-\" reads standard input)\n"
                "      --buildkit           keep caches and secrets as RUN --mount options\n"
                "      --escape=unix|windows  the Dockerfile escape character: \\ (unix, the\n"
                "                           default on this host) or ` (windows, which also\n"
                "                           starts the file with #escape=`)\n",
};

int cmd_dockerfile(int argc, char **argv)
{
        enum { OPT_BUILDKIT = 256, OPT_ESCAPE };
        static const struct option options[] = {
                { "file", required_argument, NULL, 'f' },
                { "buildkit", no_argument, NULL, OPT_BUILDKIT },
                { "escape", required_argument, NULL, OPT_ESCAPE },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *file = NULL;
        struct cairn_dockerfile_options opts = {
#ifdef _WIN32
                .os = CAIRN_DOCKERFILE_WINDOWS,
#else
                .os = CAIRN_DOCKERFILE_UNIX,
#endif
        };
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+:f:h", options, NULL)) >= 0) {
                switch (c) {
                case 'f': file = optarg; break;
                case OPT_BUILDKIT: opts.buildkit = true; break;
                case OPT_ESCAPE:
                        if (strcmp(optarg, "unix") == 0)
                                opts.os = CAIRN_DOCKERFILE_UNIX;
                        else if (strcmp(optarg, "windows") == 0)
                                opts.os = CAIRN_DOCKERFILE_WINDOWS;
                        else
                                return cairn_cli_usage_error("dockerfile",
                                                             "--escape must be \"unix\" or \"windows\", not \"%s\"",
                                                             optarg);
                        break;
                case ':':
                        return cairn_cli_usage_error("dockerfile", "option \"%s\" needs a value", argv[optind - 1]);
                default:
                        return cairn_cli_usage_error("dockerfile", "unknown option \"%s\"", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return cairn_cli_usage_error("dockerfile", "unexpected argument \"%s\" (the spec is given with -f)",
                                             argv[optind]);
        if (!file)
                return cairn_cli_usage_error("dockerfile", "the spec file is required: -f SPEC");
        _cleanup_error_ struct cairn_error *err = NULL;
        _cleanup_spec_ struct cairn_spec *spec = NULL;
        if (cairn_spec_load(file, &spec, &err) < 0) {
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        _cleanup_buf_ struct cairn_buf out = CAIRN_BUF_INIT;
        _cleanup_error_ struct cairn_error *warnings = NULL;
        cairn_dockerfile_write(&out, spec, &opts, &warnings);
        for (const struct cairn_error *w = warnings; w; w = w->next)
                fprintf(stderr, "warning: %s\n", w->message);
        /* OBuilder prints the Dockerfile with print_endline: one more newline. */
        cairn_buf_addc(&out, '\n');
        fwrite(out.data, 1, out.len, stdout);
        if (fflush(stdout) != 0) {
                perror("cairn dockerfile: writing standard output");
                return CAIRN_EXIT_FAILURE;
        }
        return CAIRN_EXIT_OK;
}
