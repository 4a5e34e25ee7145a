/* SPDX-License-Identifier: Apache-2.0 */
/* The dispatcher: portable, for cairn and cairn.exe alike (each has its
 * own verb table: cli/verbs-posix.c, cli/verbs-win.c). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <stdbool.h>
#include <stdlib.h>

#include "cairn-config.h"
#include "cli/cli.h"


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
        for (size_t i = 0; i < cairn_n_verbs; i++)
                fprintf(out, "  %-12s %s\n", cairn_verbs[i]->name, cairn_verbs[i]->summary);
        fprintf(out, "\nRun 'cairn VERB --help' for the options of a verb.\n");
}

void cairn_cli_report(const struct cairn_error *err)
{
        for (; err; err = err->next)
                fprintf(stderr, "%s\n", err->message);
}

int cairn_cli_bad_option(const char *verb, int c, char **argv)
{
        if (c == ':')
                return cairn_cli_usage_error(verb, "option \"%s\" needs a value", argv[optind - 1]);
        return cairn_cli_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
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
                        for (size_t i = 0; i < cairn_n_verbs; i++)
                                if (strcmp(cairn_verbs[i]->name, argv[2]) == 0) {
                                        fputs(cairn_verbs[i]->help, stdout);
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
        for (size_t i = 0; i < cairn_n_verbs; i++) {
                if (strcmp(cairn_verbs[i]->name, verb) != 0)
                        continue;
                if (cairn_cli_want_help(cairn_verbs[i], argc - 1, argv + 1))
                        return CAIRN_EXIT_OK;
                return cairn_verbs[i]->run(argc - 1, argv + 1);
        }
        if (verb[0] == '-')
                return cairn_cli_usage_error(NULL, "unknown option \"%s\"", verb);
        return cairn_cli_usage_error(NULL, "unknown verb \"%s\"", verb);
}
