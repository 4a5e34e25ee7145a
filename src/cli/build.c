/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/compat.h"
#include "base/interrupt.h"
#include "base/process.h"
#include "base/file.h"
#include "engine/engine.h"
#include "base/units.h"
#include "fetch/fetcher.h"
#include "sandbox/sandbox.h"
#include "fetch/registry.h"
#include "cli/cli.h"
#include "spec/spec.h"

const struct cairn_verb cairn_build_verb = {
        .name = "build",
        .run = cmd_build,
        .summary = "build a spec, reusing every cached step",
        .help = "Usage: cairn build -f SPEC [--store=KIND:PATH] [--secret ID:FILE]... [--pull=WHEN] [--jobs=N] CONTEXT\n"
                "\n"
                "Run each step of SPEC in a sandbox and snapshot its result, reusing every step\n"
                "whose inputs are unchanged.  CONTEXT is the directory (copy (src ...)) reads\n"
                "from.  The build log goes to stdout and ends with Got: \"ID\", the ID of the\n"
                "final result.\n"
                "\n"
                "  -f, --file=SPEC          the spec (\"-\" reads standard input)\n"
                CAIRN_CLI_STORE_HELP
                "      --secret=ID:FILE     the value of secret ID, read whole from FILE (repeatable)\n"
                CAIRN_CLI_LIMITS_HELP
                "      --show-usage         print what each step used (CPU time, peak memory) before\n"
                "                           its \"saved as\" line; always on a terminal\n"
                "      --security-opt=seccomp=unconfined  run steps without the seccomp filter\n"
                "      --pull=WHEN          when to pull a (from IMAGE) from its registry: missing\n"
                "                           (only when not at hand; the default), always (follow a\n"
                "                           tag that moved: what was built on the old image is\n"
                "                           removed), never (an image not at hand is an error)\n"
                "      --cache-from=REGISTRY/REPO  look steps the store lacks up in this step cache\n"
                "                           and pull them instead of running them (repeatable;\n"
                "                           docs/step-cache.md)\n"
                "      --cache-to=REGISTRY/REPO  push each step built or reused to this step cache,\n"
                "                           in the background; a failed push is only a warning\n"
                "      --share-secret-steps push steps that mounted secrets too, and what is built\n"
                "                           on them (by default they are never pushed)\n"
                "      --no-remote-cache    ignore the cache-from and cache-to of the store's cairn.conf\n"
                "  -j, --jobs=N             build up to N (build ...) stages that do not copy from\n"
                "                           each other at once, each in a process of its own; the\n"
                "                           log and the result are the sequential build's (default:\n"
                "                           `jobs` in cairn.conf, else the number of CPUs; 1: one\n"
                "                           after another)\n"
                CAIRN_CLI_REGISTRY_HELP
                "\n"
                "Exit status: 0 on success; 1 if the spec is invalid or a step failed\n"
                "(\"Build step failed: ...\" on stderr); 130 or 143 when SIGINT or SIGTERM\n"
                "cancelled it (\"Cancelled at user's request\").\n",
};

static volatile sig_atomic_t cancelled;


struct log_state {
        bool tty;
        bool at_line_start;
        bool show_usage;
};

static void print_log(enum cairn_log_kind kind, const char *data, size_t len, void *ud)
{
        struct log_state *s = ud;
        if (kind == CAIRN_LOG_OUTPUT) {
                fwrite(data, 1, len, stdout);
                if (len)
                        s->at_line_start = data[len - 1] == '\n';
                fflush(stdout);
                return;
        }
        /* On a terminal, or when asked: the output stays OBuilder's for
         * whatever reads it. */
        if (kind == CAIRN_LOG_USAGE && !s->show_usage)
                return;
        /* Headings and notes start on a fresh line even after output that
         * did not end with a newline. */
        if (!s->at_line_start)
                fputc('\n', stdout);
        if (s->tty)
                fputs(kind == CAIRN_LOG_HEADING ? "\033[94m" : kind == CAIRN_LOG_USAGE ? "\033[2m" : "\033[33m", stdout);
        size_t n = len && data[len - 1] == '\n' ? len - 1 : len;
        fwrite(data, 1, n, stdout);
        if (s->tty)
                fputs("\033[0m", stdout);
        fputc('\n', stdout);
        s->at_line_start = true;
        fflush(stdout);
}

int cmd_build(int argc, char **argv)
{
        enum { OPT_SECRET = 256, OPT_PULL, OPT_SECURITY, OPT_SHOW_USAGE, OPT_CACHE_FROM, OPT_CACHE_TO, OPT_SHARE_SECRET,
               OPT_NO_REMOTE };
        static const struct option options[] = {
                { "file", required_argument, NULL, 'f' },
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "secret", required_argument, NULL, OPT_SECRET },
                { "pull", required_argument, NULL, OPT_PULL },
                { "security-opt", required_argument, NULL, OPT_SECURITY },
                { "show-usage", no_argument, NULL, OPT_SHOW_USAGE },
                { "cache-from", required_argument, NULL, OPT_CACHE_FROM },
                { "cache-to", required_argument, NULL, OPT_CACHE_TO },
                { "share-secret-steps", no_argument, NULL, OPT_SHARE_SECRET },
                { "no-remote-cache", no_argument, NULL, OPT_NO_REMOTE },
                { "jobs", required_argument, NULL, 'j' },
                CAIRN_CLI_LIMIT_OPTIONS,
                { "help", no_argument, NULL, 'h' },
                CAIRN_CLI_REGISTRY_OPTIONS,
                {},
        };
        const char *file = NULL;
        struct cairn_registry_options registry = { 0 };
        char **secret_args = NULL;
        size_t n_secret_args = 0;
        int pull = CAIRN_PULL_MISSING;
        bool seccomp_unconfined = false, show_usage = false, share_secret = false, no_remote = false;
        struct cairn_step_limits limits = { 0 };
        const char **cache_from = NULL;
        size_t n_cache_from = 0;
        const char *cache_to = NULL, *why = NULL;
        unsigned jobs = 0;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":f:j:h", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                int l = cairn_cli_limit_option("build", c, optarg, &limits);
                if (l < 0) {
                        free(secret_args);
                        free(cache_from);
                        cairn_cli_registry_options_free(&registry);
                        return CAIRN_EXIT_USAGE;
                }
                if (l > 0)
                        continue;
                switch (c) {
                case 'f': file = optarg; break;
                case 'j':
                        if (!cairn_parse_jobs(optarg, &jobs)) {
                                free(secret_args);
                                free(cache_from);
                                cairn_cli_registry_options_free(&registry);
                                return cairn_cli_usage_error("build", "--jobs takes a number from 1 to %u, not \"%s\"",
                                                             CAIRN_MAX_JOBS, optarg);
                        }
                        break;
                case OPT_SECRET:
                        secret_args = cairn_xreallocarray(secret_args, n_secret_args + 1, sizeof(char *));
                        secret_args[n_secret_args++] = optarg;
                        break;
                case OPT_PULL:
                        if ((pull = cairn_pull_policy_parse(optarg)) < 0) {
                                free(secret_args);
                                cairn_cli_registry_options_free(&registry);
                                return cairn_cli_usage_error("build", "--pull takes missing, always or never, not \"%s\"",
                                                             optarg);
                        }
                        break;
                case OPT_SHOW_USAGE:
                        show_usage = true;
                        break;
                case OPT_CACHE_FROM:
                case OPT_CACHE_TO:
                        if (!cairn_cache_repo_valid(optarg, &why)) {
                                free(secret_args);
                                free(cache_from);
                                cairn_cli_registry_options_free(&registry);
                                return cairn_cli_usage_error("build", "%s takes a repository REGISTRY/PATH, not \"%s\": %s",
                                                             c == OPT_CACHE_TO ? "--cache-to" : "--cache-from", optarg,
                                                             why);
                        }
                        if (c == OPT_CACHE_TO) {
                                cache_to = optarg;
                        } else {
                                cache_from = cairn_xreallocarray(cache_from, n_cache_from + 1, sizeof(char *));
                                cache_from[n_cache_from++] = optarg;
                        }
                        break;
                case OPT_SHARE_SECRET:
                        share_secret = true;
                        break;
                case OPT_NO_REMOTE:
                        no_remote = true;
                        break;
                case OPT_SECURITY:
                        if (strcmp(optarg, "seccomp=unconfined") != 0) {
                                free(secret_args);
                                cairn_cli_registry_options_free(&registry);
                                return cairn_cli_usage_error("build", "--security-opt takes seccomp=unconfined, not "
                                                                      "\"%s\"", optarg);
                        }
                        seccomp_unconfined = true;
                        break;
                case ':':
                        free(secret_args);
                        cairn_cli_registry_options_free(&registry);
                        return cairn_cli_usage_error("build", "option \"%s\" needs a value", argv[optind - 1]);
                default:
                        if (cairn_cli_registry_option(c, optarg, &registry))
                                break;
                        free(secret_args);
                        cairn_cli_registry_options_free(&registry);
                        return cairn_cli_usage_error("build", "unknown option \"%s\"", argv[optind - 1]);
                }
        }
        if (!file || optind != argc - 1) {
                free(secret_args);
                return cairn_cli_usage_error("build", !file ? "the spec file is required: -f SPEC"
                                                            : "exactly one CONTEXT directory is required");
        }
        const char *context = argv[optind];
        int status = CAIRN_EXIT_FAILURE;
        _cleanup_free_ char *abs_context = NULL;
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_secret *secrets = cairn_xzalloc((n_secret_args + 1) * sizeof(*secrets));
        struct cairn_spec *spec = NULL;
        struct cairn_engine *e = NULL;
        /* Everything about the input is checked before the store is touched. */
        for (size_t i = 0; i < n_secret_args; i++) {
                char *colon = strchr(secret_args[i], ':');
                if (!colon || colon == secret_args[i] || !colon[1]) {
                        status = cairn_cli_usage_error("build", "--secret takes ID:FILE, not \"%s\"", secret_args[i]);
                        goto out;
                }
                secrets[i].id = cairn_xstrndup(secret_args[i], (size_t) (colon - secret_args[i]));
                char *data = NULL;
                size_t len = 0;
                if (cairn_read_file(colon + 1, 1 << 20, &data, &len, &err) < 0) {
                        cairn_error_prefix(&err, "secret \"%s\"", secrets[i].id);
                        cairn_cli_report(err);
                        goto out;
                }
                secrets[i].value = data;
                secrets[i].len = len;
        }
        if (access(context, R_OK | X_OK) < 0) {
                fprintf(stderr, "cairn build: cannot use the context directory \"%s\": %s\n", context, strerror(errno));
                goto out;
        }
        if (cairn_spec_load(file, &spec, &err) < 0) {
                cairn_cli_report(err);
                goto out;
        }
        {
                _cleanup_error_ struct cairn_error *warnings = NULL;
                cairn_spec_warnings(spec, &warnings);
                cairn_cli_report(warnings);
        }
        if (!(e = cairn_cli_open_engine()))
                goto out;
        cairn_cancel_on_interrupt(&cancelled);
        abs_context = realpath(context, NULL);
        struct log_state ls = { .tty = isatty(STDOUT_FILENO), .at_line_start = true };
        ls.show_usage = show_usage || ls.tty;
        struct cairn_build_request req = {
                .spec = spec, .context_dir = abs_context ? abs_context : context, .secrets = secrets,
                .n_secrets = n_secret_args, .log = print_log, .log_userdata = &ls, .cancel = &cancelled,
                .registry = &registry, .pull = pull, .seccomp_unconfined = seccomp_unconfined, .limits = &limits,
                .cache_from = cache_from, .n_cache_from = n_cache_from, .cache_to = cache_to,
                .share_secret_steps = share_secret, .no_remote_cache = no_remote,
        };
        const struct cairn_engine_config *conf = cairn_engine_config(e);
        req.jobs = jobs ? jobs : conf->jobs ? conf->jobs : cairn_cpu_count();
        if (seccomp_unconfined || conf->seccomp_unconfined)
                fprintf(stderr, "cairn build: warning: steps run without the seccomp filter (%s%s)\n",
                        seccomp_unconfined ? "--security-opt " : "security-opt = ",
                        seccomp_unconfined ? "seccomp=unconfined" : "seccomp=unconfined in the store's cairn.conf");
        char id[65];
        if (cairn_engine_build(e, &req, id, &err) < 0) {
                fflush(stdout);
                if (err->code == -ECANCELED || cancelled) {
                        fprintf(stderr, "Cancelled at user's request\n");
                        /* The conventional status of death by that signal. */
                        status = 128 + (cancelled ? (int) cancelled : SIGINT);
                } else {
                        fprintf(stderr, "Build step failed: %s\n", err->message);
                }
                goto out;
        }
        printf("Got: \"%s\"\n", id);
        status = fflush(stdout) == 0 ? CAIRN_EXIT_OK : CAIRN_EXIT_FAILURE;
out:
        cairn_engine_close(e);
        cairn_spec_free(spec);
        for (size_t i = 0; i < n_secret_args; i++) {
                free((char *) secrets[i].id);
                free((char *) secrets[i].value);
        }
        free(secrets);
        free(secret_args);
        free(cache_from);
        cairn_cli_registry_options_free(&registry);
        return status;
}
