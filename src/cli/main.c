/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <stdbool.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "build/engine.h"
#include "cairn-config.h"
#include "cli/cli.h"
#include "store/store.h"

static const struct cairn_verb *const verbs[] = {
        &cairn_build_verb,
        &cairn_check_verb,
        &cairn_clean_verb,
        &cairn_delete_verb,
        &cairn_dockerfile_verb,
        &cairn_du_verb,
        &cairn_export_verb,
        &cairn_fmt_verb,
        &cairn_fsck_verb,
        &cairn_healthcheck_verb,
        &cairn_image_verb,
        &cairn_images_verb,
        &cairn_inspect_verb,
        &cairn_ls_verb,
        &cairn_prune_verb,
        &cairn_pull_verb,
};

static void print_help(FILE *out)
{
        fprintf(out,
                "Usage: cairn [--version] [--help] VERB [ARGS...]\n"
                "\n"
                "cairn runs the steps of a build spec in sandboxes and caches each step's\n"
                "result, so that a rebuild reuses every step that has not changed.  It reads\n"
                "OBuilder's spec language.\n"
                "\n"
                "Verbs:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(out, "  %-12s %s\n", verbs[i]->name, verbs[i]->summary);
        fprintf(out, "\nRun 'cairn VERB --help' for the options of a verb.\n");
}

void cairn_cli_report(const struct cairn_error *err)
{
        for (; err; err = err->next)
                fprintf(stderr, "%s\n", err->message);
}

const char *cairn_cli_store(const char *option)
{
        if (option)
                return option;
        const char *env = getenv("CAIRN_STORE");
        return env && *env ? env : CAIRN_STORE_DEFAULT;
}

static char **store_opts;
static size_t n_store_opts;
static bool env_read;

static void add_store_opt(char *opt)
{
        store_opts = cairn_xreallocarray(store_opts, n_store_opts + 2, sizeof(char *));
        store_opts[n_store_opts++] = opt;
        store_opts[n_store_opts] = NULL;
}

/* $CAIRN_STORE_OPTS, split on blanks, comes before the command line's
 * options, so that a later one overrides. */
static void read_env_opts(void)
{
        if (env_read)
                return;
        env_read = true;
        const char *env = getenv("CAIRN_STORE_OPTS");
        _cleanup_free_ char *copy = cairn_xstrdup(env ? env : "");
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
                add_store_opt(cairn_xstrdup(w));
}

int cairn_cli_store_opt(int opt, const char *arg)
{
        if (opt != CAIRN_OPT_STORE_OPT && opt != CAIRN_OPT_HCS_CTR_PATH)
                return 0;
        read_env_opts();
        add_store_opt(opt == CAIRN_OPT_STORE_OPT ? cairn_xstrdup(arg) : cairn_xasprintf("ctr=%s", arg));
        return 1;
}

static const char *const *cli_store_opts(void)
{
        read_env_opts();
        return (const char *const *) store_opts;
}

int cairn_cli_store_options(const char *verb, int argc, char **argv, const char **ret_store)
{
        static const struct option options[] = {
                { "store", required_argument, NULL, 's' },
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        opterr = 0;
        optind = 1;
        *ret_store = NULL;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == 's') {
                        *ret_store = optarg;
                        continue;
                }
                if (c == ':')
                        cairn_cli_usage_error(verb, "option \"%s\" needs a value", argv[optind - 1]);
                else
                        cairn_cli_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
                return -1;
        }
        return optind;
}

struct cairn_engine *cairn_cli_open_engine(const char *store_option)
{
        struct cairn_engine *e = NULL;
        struct cairn_error *err = NULL;
        if (cairn_engine_open(cairn_cli_store(store_option), cli_store_opts(), &e, &err) < 0) {
                cairn_cli_report(err);
                cairn_error_free(err);
                return NULL;
        }
        return e;
}

int cairn_cli_usage_error(const char *verb, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "cairn%s%s: ", verb ? " " : "", verb ? verb : "");
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'cairn%s%s --help'.\n", verb ? " " : "", verb ? verb : "");
        return CAIRN_EXIT_USAGE;
}

int cairn_cli_want_help(const struct cairn_verb *verb, int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        fputs(verb->help, stdout);
                        return 1;
                }
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return cairn_cli_usage_error(NULL, "a verb is required");
        const char *verb = argv[1];
        if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
                if (argc > 2 && strcmp(verb, "help") == 0) {
                        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                                if (strcmp(verbs[i]->name, argv[2]) == 0) {
                                        fputs(verbs[i]->help, stdout);
                                        return CAIRN_EXIT_OK;
                                }
                        return cairn_cli_usage_error(NULL, "unknown verb \"%s\"", argv[2]);
                }
                print_help(stdout);
                return CAIRN_EXIT_OK;
        }
        if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
                printf("cairn %s\n", CAIRN_VERSION);
                return CAIRN_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(verbs[i]->name, verb) != 0)
                        continue;
                if (cairn_cli_want_help(verbs[i], argc - 1, argv + 1))
                        return CAIRN_EXIT_OK;
                return verbs[i]->run(argc - 1, argv + 1);
        }
        if (verb[0] == '-')
                return cairn_cli_usage_error(NULL, "unknown option \"%s\"", verb);
        return cairn_cli_usage_error(NULL, "unknown verb \"%s\"", verb);
}
