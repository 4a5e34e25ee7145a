/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing and opening the store: --store, --store-opt and the engine. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "engine/backends.h"
#include "engine/engine.h"
#include "cli/cli.h"
#include "fetch/registry.h"
#include "store/store.h"

static const char *store_option;

/* --store, else $CAIRN_STORE, else the default. */
static const char *chosen_store(void)
{
        if (store_option)
                return store_option;
        const char *env = getenv("CAIRN_STORE");
        return env && *env ? env : cairn_default_store;
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
        if (opt == CAIRN_OPT_STORE) {
                store_option = arg;
                return 1;
        }
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

int cairn_cli_store_options(const char *verb, int argc, char **argv)
{
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                cairn_cli_bad_option(verb, c, argv);
                return -1;
        }
        return optind;
}

struct cairn_engine *cairn_cli_open_engine(void)
{
        struct cairn_engine *e = NULL;
        struct cairn_error *err = NULL;
        if (cairn_engine_open(chosen_store(), cli_store_opts(), &e, &err) < 0) {
                cairn_cli_report(err);
                cairn_error_free(err);
                return NULL;
        }
        return e;
}

/* --registry-auth @FILE or - (standard input): the credentials read, kept
 * until the options are freed. */
static char *credentials_read;

/* A password's bytes, gone (the stores the compiler may not drop). */
static void wipe(void *p, size_t n)
{
        volatile unsigned char *v = p;
        while (n--)
                *v++ = 0;
}

static const char *read_credentials(const char *arg)
{
        FILE *f = strcmp(arg, "-") == 0 ? stdin : fopen(arg + 1, "re");
        if (!f)
                return NULL;
        char line[4096];
        bool got = fgets(line, sizeof(line), f) != NULL;
        if (f != stdin)
                fclose(f);
        if (!got)
                return NULL;
        line[strcspn(line, "\r\n")] = '\0';
        free(credentials_read);
        credentials_read = strdup(line);
        wipe(line, sizeof(line));
        return credentials_read;
}

void cairn_cli_registry_options_free(struct cairn_registry_options *o)
{
        if (credentials_read) {
                wipe(credentials_read, strlen(credentials_read));
                free(credentials_read);
                credentials_read = NULL;
        }
        free((void *) o->insecure);
        memset(o, 0, sizeof(*o));
}

int cairn_cli_registry_option(int opt, const char *arg, struct cairn_registry_options *o)
{
        switch (opt) {
        case CAIRN_OPT_PLATFORM:
                o->platform = arg;
                return 1;
        case CAIRN_OPT_REGISTRY_AUTH:
                /* @FILE and - keep the password out of ps. */
                if (arg[0] == '@' || strcmp(arg, "-") == 0) {
                        o->credentials = read_credentials(arg);
                        if (!o->credentials || !strchr(o->credentials, ':')) {
                                fprintf(stderr, "cairn: --registry-auth %s: cannot read USER:PASSWORD from it\n", arg);
                                exit(CAIRN_EXIT_USAGE);
                        }
                } else {
                        o->credentials = arg;
                }
                return 1;
        case CAIRN_OPT_INSECURE_REGISTRY: {
                const char **v = cairn_xreallocarray((void *) o->insecure, o->n_insecure + 1, sizeof(char *));
                v[o->n_insecure++] = arg;
                o->insecure = v;
                return 1;
        }
        default:
                return 0;
        }
}
