/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_clean_verb = {
        .name = "clean",
        .run = cmd_clean,
        .summary = "delete every result in the store",
        .help = "Usage: cairn clean [--store=KIND:PATH]\n"
                "\n"
                "Delete every result, leaves first, printing \"Removing ID\" for each and then\n"
                "\"Removed N items\", as OBuilder does.  Imported images are kept.\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

static void removing(const char *id, void *ud)
{
        (void) ud;
        printf("Removing %s\n", id);
        fflush(stdout);
}

int cmd_clean(int argc, char **argv)
{
        int first = cairn_cli_store_options("clean", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (first != argc)
                return cairn_cli_usage_error("clean", "unexpected argument \"%s\"", argv[first]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_OK;
        /* "before now" must include results used this very second. */
        long n = cairn_engine_prune(e, time(NULL) + 1, LONG_MAX, removing, NULL, &err);
        if (n < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Removed %ld items\n", n);
        }
        cairn_engine_close(e);
        return status;
}
