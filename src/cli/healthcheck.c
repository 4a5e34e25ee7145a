/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/interrupt.h"
#include "base/strbuf.h"
#include "engine/engine.h"
#include "sandbox/sandbox.h"
#include "cli/cli.h"

#define HEALTHCHECK_SECONDS 300

const struct cairn_verb cairn_healthcheck_verb = {
        .name = "healthcheck",
        .run = cmd_healthcheck,
        .summary = "check that the store and sandbox work",
        .help = "Usage: cairn healthcheck [--store=KIND:PATH] [--memory=SIZE]...\n"
                "\n"
                "Run \"echo healthcheck\" with /bin/sh -c on the image \"busybox\" (with\n"
                "Windows containers, with cmd /S /C on nanoserver of the host's build) and\n"
                "delete the result, within 300 seconds.  Prints \"Healthcheck passed\", or\n"
                "the error and the captured log on stderr.\n"
                "\n" CAIRN_CLI_STORE_HELP CAIRN_CLI_LIMITS_HELP,
};

static volatile sig_atomic_t timed_out;


static void capture(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        (void) kind;
        cairn_buf_add(ud, data, len);
}

int cmd_healthcheck(int argc, char **argv)
{
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                CAIRN_CLI_LIMIT_OPTIONS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct cairn_step_limits limits = { 0 };
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                int l = cairn_cli_limit_option("healthcheck", c, optarg, &limits);
                if (l < 0)
                        return CAIRN_EXIT_USAGE;
                if (l > 0)
                        continue;
                return cairn_cli_bad_option("healthcheck", c, argv);
        }
        if (optind != argc)
                return cairn_cli_usage_error("healthcheck", "unexpected argument \"%s\"", argv[optind]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        _cleanup_buf_ struct cairn_buf log = CAIRN_BUF_INIT;
        int status = CAIRN_EXIT_OK;
        /* OBuilder gives the check 300 seconds. */
        cairn_cancel_after(HEALTHCHECK_SECONDS, &timed_out);
        if (cairn_engine_healthcheck(e, &limits, capture, &log, &timed_out, &err) < 0) {
                if (timed_out)
                        fprintf(stderr, "Healthcheck failed: Timeout running healthcheck\n%s", cairn_buf_str(&log));
                else
                        fprintf(stderr, "Healthcheck failed: %s\n%s", err->message, cairn_buf_str(&log));
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Healthcheck passed\n");
        }
        cairn_engine_close(e);
        return status;
}
