/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "spec/spec.h"

const struct cairn_verb cairn_check_verb = {
        .name = "check",
        .run = cmd_check,
        .summary = "parse and validate specs, reporting every error",
        .help = "Usage: cairn check SPEC...\n"
                "\n"
                "Parse and validate each SPEC (\"-\" reads standard input) without building\n"
                "anything.  Every error found is printed on stderr as FILE:LINE:COL: message,\n"
                "and so is each warning (FILE:LINE:COL: warning: ...), which does not fail it.\n"
                "\n"
                "Exit status: 0 when every spec is valid, 1 when any is not.\n",
};

int cmd_check(int argc, char **argv)
{
        int first = 1;
        if (first < argc && strcmp(argv[first], "--") == 0)
                first++;
        else if (first < argc && argv[first][0] == '-' && argv[first][1] != '\0')
                return cairn_cli_usage_error("check", "unknown option \"%s\"", argv[first]);
        if (first >= argc)
                return cairn_cli_usage_error("check", "at least one SPEC file is required");
        int status = CAIRN_EXIT_OK;
        for (int i = first; i < argc; i++) {
                _cleanup_error_ struct cairn_error *err = NULL;
                _cleanup_spec_ struct cairn_spec *spec = NULL;
                if (cairn_spec_load(argv[i], &spec, &err) < 0) {
                        cairn_cli_report(err);
                        status = CAIRN_EXIT_FAILURE;
                        continue;
                }
                _cleanup_error_ struct cairn_error *warnings = NULL;
                cairn_spec_warnings(spec, &warnings);
                cairn_cli_report(warnings);
        }
        return status;
}
