/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"
#include "fetch/image.h"

const struct cairn_verb cairn_image_verb = {
        .name = "image",
        .run = cmd_image,
        .summary = "import, list and remove base images",
        .help = "Usage: cairn image import [--store=KIND:PATH] [--env K=V]... NAME FILE|DIR\n"
                "       cairn image ls [--store=KIND:PATH]\n"
                "       cairn image rm [--store=KIND:PATH] NAME...\n"
                "\n"
                "import reads an OCI image layout (a directory, or a tarball of one), a\n"
                "docker-archive tarball (docker save), or a plain root filesystem tarball\n"
                "(whose environment is Docker's default PATH), and stores it as NAME, which\n"
                "(from NAME) then uses.  --env sets a variable in the image's environment,\n"
                "replacing one of the same name.  An image is its config: importing NAME\n"
                "again with other contents or env makes the next build replace what was\n"
                "built on the old one.  Layers are checked as they are unpacked: nothing in\n"
                "an image can write outside its root.\n"
                "\n"
                CAIRN_CLI_STORE_HELP
                "      --env=K=V            set K in the image's environment (import)\n",
};

static int image_import(int argc, char **argv)
{
        enum { OPT_ENV = 256 };
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "env", required_argument, NULL, OPT_ENV },
                {},
        };
        const char **env = NULL;
        size_t n_env = 0;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == OPT_ENV) {
                        env = cairn_xreallocarray(env, n_env + 1, sizeof(*env));
                        env[n_env++] = optarg;
                } else {
                        free(env);
                        return cairn_cli_usage_error("image import", "unknown option or missing value \"%s\"",
                                                     argv[optind - 1]);
                }
        }
        if (argc - optind != 2) {
                free(env);
                return cairn_cli_usage_error("image import", "expected NAME and FILE|DIR");
        }
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e) {
                free(env);
                return CAIRN_EXIT_FAILURE;
        }
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_image *img = NULL, *old = NULL;
        const char *name = argv[optind];
        int status = CAIRN_EXIT_OK;
        if (cairn_image_lookup(cairn_engine_store_root(e), name, &old, NULL) <= 0)
                old = NULL;
        if (cairn_image_import(cairn_engine_store_root(e), name, argv[optind + 1], env, n_env, &img, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                printf("Imported %s (%s, %zu layer%s, %s, config %s)\n", img->name, img->format, img->n_layers,
                       img->n_layers == 1 ? "" : "s", img->digest, img->config);
                /* (from NAME) results are keyed by the name alone (as in
                 * OBuilder): the next build sees that the image changed and
                 * replaces what was built on the old one, under the step
                 * locks that keep it from a build using it now. */
                if (old && strcmp(old->name, img->name) == 0 && !cairn_image_same(old, img))
                        printf("The image changed: what was built on the previous %s is rebuilt by the next build\n",
                               img->name);
                cairn_image_free(img);
        }
        cairn_image_free(old);
        cairn_engine_close(e);
        free(env);
        return status;
}

static int image_ls(int argc, char **argv)
{
        int first = cairn_cli_store_options("image ls", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (first != argc)
                return cairn_cli_usage_error("image ls", "unexpected argument \"%s\"", argv[first]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        struct cairn_image **all = NULL;
        size_t n = 0;
        cairn_image_list(cairn_engine_store_root(e), &all, &n, NULL);
        printf("%-30s %-14s %-19s %-19s %10s  %s\n", "NAME", "FORMAT", "CONFIG", "DIGEST", "SIZE", "IMPORTED");
        for (size_t i = 0; i < n; i++) {
                printf("%-30s %-14s %-19.19s %-19.19s %10llu  %s\n", all[i]->name, all[i]->format,
                       *all[i]->config ? all[i]->config : "-", all[i]->digest, (unsigned long long) all[i]->size,
                       all[i]->created);
                cairn_image_free(all[i]);
        }
        free(all);
        cairn_engine_close(e);
        return CAIRN_EXIT_OK;
}

static int image_rm(int argc, char **argv)
{
        int first = cairn_cli_store_options("image rm", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (first == argc)
                return cairn_cli_usage_error("image rm", "expected at least one NAME");
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        int status = CAIRN_EXIT_OK;
        for (int i = first; i < argc; i++) {
                _cleanup_error_ struct cairn_error *err = NULL;
                if (cairn_image_remove(cairn_engine_store_root(e), argv[i], &err) < 0) {
                        cairn_cli_report(err);
                        status = CAIRN_EXIT_FAILURE;
                } else {
                        printf("Removed %s\n", argv[i]);
                }
        }
        cairn_engine_close(e);
        return status;
}

const struct cairn_verb cairn_images_verb = {
        .name = "images",
        .run = cmd_images,
        .summary = "list images (cairn image ls)",
        .help = "Usage: cairn images [--store=KIND:PATH]\n"
                "\n"
                "The images (from NAME) can use: name, format, config digest (what the image\n"
                "is: its environment and layers), manifest or layer digest, size, when imported.\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

int cmd_images(int argc, char **argv)
{
        return image_ls(argc, argv);
}

int cmd_image(int argc, char **argv)
{
        if (argc < 2)
                return cairn_cli_usage_error("image", "expected import, ls or rm");
        if (strcmp(argv[1], "import") == 0)
                return image_import(argc - 1, argv + 1);
        if (strcmp(argv[1], "ls") == 0)
                return image_ls(argc - 1, argv + 1);
        if (strcmp(argv[1], "rm") == 0)
                return image_rm(argc - 1, argv + 1);
        return cairn_cli_usage_error("image", "unknown subcommand \"%s\": expected import, ls or rm", argv[1]);
}
