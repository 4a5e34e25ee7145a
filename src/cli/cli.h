/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line layer: main.c dispatches through a verb table to one
 * cmd_VERB() per file.  Only this layer prints errors and chooses exit
 * statuses.
 */
#ifndef CAIRN_CLI_CLI_H
#define CAIRN_CLI_CLI_H

#include "base/error.h"

/* Exit statuses (docs/cli.md). */
enum {
        CAIRN_EXIT_OK = 0,
        CAIRN_EXIT_FAILURE = 1,   /* the command ran and failed (bad spec, build step failed, ...) */
        CAIRN_EXIT_USAGE = 124,   /* bad command line, as OBuilder's cmdliner */
};

struct cairn_verb {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
        const char *help;         /* full text for `cairn VERB --help` */
};

int cmd_fmt(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_dockerfile(int argc, char **argv);

extern const struct cairn_verb cairn_fmt_verb;
extern const struct cairn_verb cairn_check_verb;
extern const struct cairn_verb cairn_dockerfile_verb;

/* Print every diagnostic in the chain on stderr, one per line. */
void cairn_cli_report(const struct cairn_error *err);
/* Print "cairn VERB: MESSAGE" and a pointer to --help; returns CAIRN_EXIT_USAGE. */
int cairn_cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* If argv holds --help or -h before any "--", print the verb's help and return true. */
int cairn_cli_want_help(const struct cairn_verb *verb, int argc, char **argv);

#endif
