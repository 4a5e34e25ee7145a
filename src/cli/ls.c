/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_ls_verb = {
        .name = "ls",
        .run = cmd_ls,
        .summary = "list the results in the store",
        .help = "Usage: cairn ls [--store=KIND:PATH]\n"
                "\n"
                "One line per result, least recently used first: its ID, its parent, the\n"
                "disk space of its own layer, when it was created and last used (UTC), and\n"
                "how many results are built on it.\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

static void human(unsigned long long b, char out[16])
{
        const char *units = "BKMGT";
        double v = (double) b;
        int u = 0;
        while (v >= 1024 && u < 4) {
                v /= 1024;
                u++;
        }
        snprintf(out, 16, u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static int row(const struct cairn_result_info *r, void *ud)
{
        (void) ud;
        char size[16];
        human(r->bytes, size);
        printf("%-64s  %-12.12s  %8s  %s  %s  %ld\n", r->id, r->parent[0] ? r->parent : "-", size, r->created, r->used,
               r->children);
        return 0;
}

int cmd_ls(int argc, char **argv)
{
        int first = cairn_cli_store_options("ls", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (first != argc)
                return cairn_cli_usage_error("ls", "unexpected argument \"%s\"", argv[first]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        printf("%-64s  %-12s  %8s  %-19s  %-19s  %s\n", "ID", "PARENT", "SIZE", "CREATED", "USED", "CHILDREN");
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_list(e, row, NULL, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        }
        cairn_engine_close(e);
        return status;
}
