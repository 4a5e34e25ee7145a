/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn cache push` and `cairn cache pull`: one step by hand, to or from
 * a registry step cache (docs/step-cache.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/hash.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "fetch/registry.h"

static void print_log(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        (void) kind;
        (void) ud;
        fwrite(data, 1, len, stdout);
        fflush(stdout);
}

/* push: 1, pull: 0. */
static int push_or_pull(const char *verb, bool push, int argc, char **argv)
{
        enum { OPT_REPO = 256, OPT_SHARE };
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                CAIRN_CLI_REGISTRY_OPTIONS,
                { "repo", required_argument, NULL, OPT_REPO },
                { "share-secret-steps", no_argument, NULL, OPT_SHARE },
                {},
        };
        struct cairn_registry_options o = { 0 };
        const char *repo = NULL, *why = NULL;
        bool share = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == OPT_REPO) {
                        repo = optarg;
                } else if (c == OPT_SHARE && push) {
                        share = true;
                } else if (!cairn_cli_registry_option(c, optarg, &o)) {
                        cairn_cli_registry_options_free(&o);
                        return cairn_cli_usage_error(verb, "unknown option or missing value \"%s\"", argv[optind - 1]);
                }
        }
        if (argc - optind != 1 || !cairn_is_sha256_hex(argv[optind]) || strlen(argv[optind]) != 64) {
                cairn_cli_registry_options_free(&o);
                return cairn_cli_usage_error(verb, "expected one step ID (64 hex digits)");
        }
        if (repo && !cairn_cache_repo_valid(repo, &why)) {
                cairn_cli_registry_options_free(&o);
                return cairn_cli_usage_error(verb, "--repo takes a repository REGISTRY/PATH, not \"%s\": %s", repo, why);
        }
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e) {
                cairn_cli_registry_options_free(&o);
                return CAIRN_EXIT_FAILURE;
        }
        const struct cairn_engine_config *conf = cairn_engine_config(e);
        if (!repo)
                repo = push ? conf->cache_to : conf->cache_from ? conf->cache_from[0] : NULL;
        int status = CAIRN_EXIT_OK;
        _cleanup_error_ struct cairn_error *err = NULL;
        if (!repo) {
                fprintf(stderr, "cairn %s: no step cache: give --repo REGISTRY/PATH, or set %s in the store's cairn.conf\n",
                        verb, push ? "cache-to" : "cache-from");
                status = CAIRN_EXIT_FAILURE;
        } else if ((push ? cairn_engine_cache_push(e, argv[optind], repo, &o, share, print_log, NULL, &err)
                         : cairn_engine_cache_pull(e, argv[optind], repo, &o, print_log, NULL, &err)) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        }
        cairn_engine_close(e);
        cairn_cli_registry_options_free(&o);
        return status;
}

int cairn_cli_cache_push(int argc, char **argv)
{
        return push_or_pull("cache push", true, argc, argv);
}

int cairn_cli_cache_pull(int argc, char **argv)
{
        return push_or_pull("cache pull", false, argc, argv);
}
