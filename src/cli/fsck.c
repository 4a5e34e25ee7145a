/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_fsck_verb = {
        .name = "fsck",
        .run = cmd_fsck,
        .summary = "check and repair the store",
        .help = "Usage: cairn fsck [--store=KIND:PATH] [--check]\n"
                "\n"
                "Check the store against its database: temporary results and mounts left by\n"
                "an interrupted build, database rows whose result is gone, results the\n"
                "database does not know, wrong counts of children.  Each finding is printed\n"
                "and repaired; with --check nothing is changed.\n"
                "\n" CAIRN_CLI_STORE_HELP
                "      --check              only report; exit 1 if anything is wrong\n",
};

static void print_line(const char *line, void *ud)
{
        (void) ud;
        printf("%s\n", line);
}

int cmd_fsck(int argc, char **argv)
{
        enum { OPT_CHECK = 256 };
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "check", no_argument, NULL, OPT_CHECK },
                {},
        };
        bool check = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == OPT_CHECK)
                        check = true;
                else
                        return cairn_cli_usage_error("fsck", "unknown option or missing value \"%s\"", argv[optind - 1]);
        }
        if (optind != argc)
                return cairn_cli_usage_error("fsck", "unexpected argument \"%s\"", argv[optind]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_OK;
        long n = cairn_engine_fsck(e, !check, print_line, NULL, &err);
        if (n < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else if (n == 0) {
                printf("The store is consistent\n");
        } else {
                printf("%ld problem%s %s\n", n, n == 1 ? "" : "s", check ? "found" : "repaired");
                if (check)
                        status = CAIRN_EXIT_FAILURE;
        }
        cairn_engine_close(e);
        return status;
}
