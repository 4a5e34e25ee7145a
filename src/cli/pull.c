/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"
#include "fetch/registry.h"

const struct cairn_verb cairn_pull_verb = {
        .name = "pull",
        .run = cmd_pull,
        .summary = "pull an image from a registry",
        .help = "Usage: cairn pull [OPTIONS] REF\n"
                "\n"
                "Download image REF (busybox, ocaml/opam:debian, host:port/name@sha256:...)\n"
                "from its registry into the store's images, where (from REF) finds it.\n"
                "Layers are verified against their digests and downloaded several at once.\n"
                "(from REF) pulls by itself when the image is missing.\n"
                "\n"
                CAIRN_CLI_STORE_HELP
                CAIRN_CLI_REGISTRY_HELP,
};

static void print_line(const char *line, void *ud)
{
        (void) ud;
        fputs(line, stdout);
        fflush(stdout);
}

int cmd_pull(int argc, char **argv)
{
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                CAIRN_CLI_REGISTRY_OPTIONS,
                {},
        };
        struct cairn_registry_options o = { 0 };
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (!cairn_cli_registry_option(c, optarg, &o)) {
                        cairn_cli_registry_options_free(&o);
                        return cairn_cli_usage_error("pull", "unknown option or missing value \"%s\"", argv[optind - 1]);
                }
        }
        if (argc - optind != 1) {
                cairn_cli_registry_options_free(&o);
                return cairn_cli_usage_error("pull", "expected exactly one image reference");
        }
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e) {
                cairn_cli_registry_options_free(&o);
                return CAIRN_EXIT_FAILURE;
        }
        o.log = print_line;
        o.tty = isatty(STDOUT_FILENO);
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_image *img = NULL;
        int status = CAIRN_EXIT_OK;
        if (cairn_registry_pull(cairn_engine_store_root(e), argv[optind], argv[optind], &o, &img, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Pulled %s (%zu layer%s, %s)\n", img->name, img->n_layers, img->n_layers == 1 ? "" : "s",
                       img->digest);
                cairn_image_free(img);
        }
        cairn_engine_close(e);
        cairn_cli_registry_options_free(&o);
        return status;
}
