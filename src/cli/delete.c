/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_delete_verb = {
        .name = "delete",
        .run = cmd_delete,
        .summary = "delete a result and everything built on it",
        .help = "Usage: cairn delete [--store=KIND:PATH] ID\n"
                "\n"
                "Delete result ID and every result built on it, children first, printing\n"
                "\"Removing ID\" for each, as OBuilder does.\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

static void removing(const char *id, void *ud)
{
        (void) ud;
        printf("Removing %s\n", id);
}

int cmd_delete(int argc, char **argv)
{
        int first = cairn_cli_store_options("delete", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (argc - first != 1)
                return cairn_cli_usage_error("delete", "expected exactly one ID");
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_delete(e, argv[first], removing, NULL, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        }
        cairn_engine_close(e);
        return status;
}
