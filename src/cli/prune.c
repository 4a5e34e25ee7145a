/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "base/units.h"
#include "cli/cli.h"

const struct cairn_verb cairn_prune_verb = {
        .name = "prune",
        .run = cmd_prune,
        .summary = "delete least recently used results until limits hold",
        .help = "Usage: cairn prune [--store=KIND:PATH] [--keep-free=SIZE|PERCENT%] [--max-items=N]\n"
                "                   [--max-size=SIZE] [--older-than=DURATION]\n"
                "\n"
                "Delete results, least recently used leaves first (a result goes only after\n"
                "everything built on it), until every limit given holds.  Prints \"Removing ID\"\n"
                "for each and then \"Removed N items\".\n"
                "\n" CAIRN_CLI_STORE_HELP
                "      --keep-free=SIZE|P%  keep at least this much free space on the store's\n"
                "                           filesystem (10G, 500M, or a percentage)\n"
                "      --max-items=N        keep at most N results\n"
                "      --max-size=SIZE      keep the results' disk use under SIZE\n"
                "      --older-than=DURATION  delete results unused for longer (30s, 10m, 2h, 7d, 2w)\n",
};

/* 123, 10K, 500M, 2G, 1T (binary units; a trailing B or iB is allowed). */
/* A duration in whole seconds (--older-than). */
static int parse_seconds(const char *s, long long *ret)
{
        long long ms;
        int r = cairn_parse_duration_ms(s, &ms);
        if (r == 0)
                *ret = ms / 1000;
        return r;
}

static void removing(const char *id, void *ud)
{
        (void) ud;
        printf("Removing %s\n", id);
        fflush(stdout);
}


int cairn_cli_parse_keep_free(const char *verb, const char *arg, unsigned long long *ret_bytes, double *ret_percent)
{
        size_t len = strlen(arg);
        char *end;
        if (len > 1 && arg[len - 1] == '%') {
                double v = strtod(arg, &end);
                if (end != arg + len - 1 || !(v > 0 && v < 100))
                        return cairn_cli_usage_error(verb, "--keep-free: \"%s\" is not a percentage above 0 and below 100",
                                                     arg);
                *ret_percent = v;
                return 0;
        }
        unsigned long long v = 0;
        if (cairn_parse_size(arg, &v) < 0 || v == 0)
                return cairn_cli_usage_error(verb, "--keep-free: \"%s\" is not a size (above 0) or a percentage", arg);
        *ret_bytes = v;
        return 0;
}

int cmd_prune(int argc, char **argv)
{
        enum { OPT_KEEP_FREE = 256, OPT_MAX_ITEMS, OPT_MAX_SIZE, OPT_OLDER_THAN };
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "keep-free", required_argument, NULL, OPT_KEEP_FREE },
                { "max-items", required_argument, NULL, OPT_MAX_ITEMS },
                { "max-size", required_argument, NULL, OPT_MAX_SIZE },
                { "older-than", required_argument, NULL, OPT_OLDER_THAN },
                {},
        };
        struct cairn_prune_policy p = { .older_than = -1, .max_items = -1 };
        bool any = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                char *end;
                switch (c) {
                case OPT_KEEP_FREE:
                        if (cairn_cli_parse_keep_free("prune", optarg, &p.keep_free_bytes, &p.keep_free_percent))
                                return CAIRN_EXIT_USAGE;
                        any = true;
                        break;
                case OPT_MAX_ITEMS:
                        p.max_items = strtol(optarg, &end, 10);
                        if (*end || end == optarg || p.max_items < 0)
                                return cairn_cli_usage_error("prune", "--max-items: \"%s\" is not a count", optarg);
                        any = true;
                        break;
                case OPT_MAX_SIZE:
                        if (cairn_parse_size(optarg, &p.max_bytes) < 0)
                                return cairn_cli_usage_error("prune", "--max-size: \"%s\" is not a size", optarg);
                        if (p.max_bytes == 0)
                                p.max_items = 0;   /* nothing may stay */
                        any = true;
                        break;
                case OPT_OLDER_THAN:
                        if (parse_seconds(optarg, &p.older_than) < 0)
                                return cairn_cli_usage_error("prune", "--older-than: \"%s\" is not a duration", optarg);
                        any = true;
                        break;
                default:
                        return cairn_cli_usage_error("prune", "unknown option or missing value \"%s\"", argv[optind - 1]);
                }
        }
        if (optind != argc)
                return cairn_cli_usage_error("prune", "unexpected argument \"%s\"", argv[optind]);
        if (!any)
                return cairn_cli_usage_error("prune", "give at least one limit (--keep-free, --max-items, --max-size, "
                                                      "--older-than); cairn clean deletes everything");
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_OK;
        long n = cairn_engine_prune_policy(e, &p, removing, NULL, &err);
        if (n < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Removed %ld items\n", n);
        }
        cairn_engine_close(e);
        return status;
}
