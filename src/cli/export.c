/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_export_verb = {
        .name = "export",
        .run = cmd_export,
        .summary = "write a result as an OCI image",
        .help = "Usage: cairn export [--store=KIND:PATH] [--tag=TAG] ID --oci DIR|FILE.tar\n"
                "\n"
                "Write result ID as an OCI image layout (a directory, or a tarball when the\n"
                "name ends in .tar): one layer per snapshot layer, and a config with the\n"
                "environment, working directory and user of the step that made it.  Run it\n"
                "with podman, push it with skopeo (oci:DIR:TAG), or import it back.\n"
                "\n" CAIRN_CLI_STORE_HELP
                "      --oci=DIR|FILE.tar   where to write the image\n"
                "      --tag=TAG            the name of the image in the layout (default latest)\n",
};

int cmd_export(int argc, char **argv)
{
        enum { OPT_OCI = 256, OPT_TAG };
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "oci", required_argument, NULL, OPT_OCI },
                { "tag", required_argument, NULL, OPT_TAG },
                {},
        };
        const char *oci = NULL, *tag = NULL;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == OPT_OCI)
                        oci = optarg;
                else if (c == OPT_TAG)
                        tag = optarg;
                else
                        return cairn_cli_usage_error("export", "unknown option or missing value \"%s\"", argv[optind - 1]);
        }
        if (argc - optind != 1 || !oci)
                return cairn_cli_usage_error("export", "expected an ID and --oci DIR|FILE.tar");
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_export_oci(e, argv[optind], oci, tag, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Exported %s to %s\n", argv[optind], oci);
        }
        cairn_engine_close(e);
        return status;
}
