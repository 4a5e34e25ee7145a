/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_inspect_verb = {
        .name = "inspect",
        .run = cmd_inspect,
        .summary = "describe a result as JSON",
        .help = "Usage: cairn inspect [--store=KIND:PATH] ID\n"
                "\n"
                "Print result ID as JSON: its parent, when it was created and last used,\n"
                "how many results are built on it, its size, the environment, working\n"
                "directory and user of the step that made it (\"context\"), how many steps\n"
                "lie between it and its base (\"depth\"), and the image that base was\n"
                "unpacked from (\"base\": the (from ...) string, the image's name, its\n"
                "manifest digest and its layers).\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

int cmd_inspect(int argc, char **argv)
{
        int first = cairn_cli_store_options("inspect", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (argc - first != 1)
                return cairn_cli_usage_error("inspect", "expected exactly one ID");
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        char *text = NULL;
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_inspect(e, argv[first], &text, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("%s\n", text);
                free(text);
        }
        cairn_engine_close(e);
        return status;
}
