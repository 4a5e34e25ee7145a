/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line layer: main.c dispatches through a verb table to one
 * cmd_VERB() per file.  Only this layer prints errors and chooses exit
 * statuses.
 */
#ifndef CAIRN_CLI_CLI_H
#define CAIRN_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

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

/* The verbs this build has, sorted by name (cli/verbs-posix.c, or
 * cli/verbs-win.c for cairn.exe). */
extern const struct cairn_verb *const cairn_verbs[];
extern const size_t cairn_n_verbs;

int cmd_fmt(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_dockerfile(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_job(int argc, char **argv);
/* cli/cluster-admin.c: `cairn cluster` but init; init's roles; submit's
 * --estimate (weight false) and --weight (true), and the help they add. */
int cmd_cluster_admin(int argc, char **argv);
struct cairn_cluster;
struct cairn_cluster_job_request;
int cairn_cli_cluster_init_roles(struct cairn_cluster *c);
int cairn_cli_fair_share_option(bool weight, const char *arg, struct cairn_cluster_job_request *rq);
#define CAIRN_CLUSTER_ADMIN_USAGE \
        "       cairn cluster show [POOL] | workers POOL | metrics [POOL]  --db=URL\n" \
        "       cairn cluster pause|unpause POOL (WORKER|--all)  --db=URL\n" \
        "       cairn cluster drain POOL (WORKER|--all) [--wait] [--timeout=D]  --db=URL\n" \
        "       cairn cluster forget POOL WORKER | set-rate POOL CLIENT RATE  --db=URL\n" \
        "       cairn cluster add-client POOL NAME [--rate=R]  --db=URL\n"
#define CAIRN_CLUSTER_ADMIN_HELP \
        "\n" \
        "  show       per pool: queued jobs (urgent, normal), workers connected, ready,\n" \
        "             paused, draining, their capacity, running jobs\n" \
        "  workers    one line per worker: name, state, incarnation, capacity, running,\n" \
        "             last seen, store epoch, version\n" \
        "  pause      the worker claims nothing until unpaused (kept across restarts)\n" \
        "  unpause    it claims again at once\n" \
        "  drain      it finishes its running jobs, claims nothing, exits 0; --wait returns\n" \
        "             once it runs no job (at most --timeout, default 1h)\n" \
        "  forget     delete a worker's row (refused while it holds running jobs)\n" \
        "  set-rate   a client's share of the pool (jobs' cost / rate spaces its jobs)\n" \
        "  add-client add a client, with --rate (default 1)\n" \
        "  metrics    the pools' metrics in Prometheus text format\n"

int cmd_images(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
/* `cairn hcn` (Windows; cli/hcn.c), also cairn-hcn.exe's main: argv[0] is
 * the verb or the program. */
int cmd_hcn(int argc, char **argv);

extern const struct cairn_verb cairn_fmt_verb;
extern const struct cairn_verb cairn_hcn_verb;
extern const struct cairn_verb cairn_check_verb;
extern const struct cairn_verb cairn_dockerfile_verb;
extern const struct cairn_verb cairn_build_verb;
extern const struct cairn_verb cairn_image_verb;
extern const struct cairn_verb cairn_delete_verb;
extern const struct cairn_verb cairn_clean_verb;
extern const struct cairn_verb cairn_healthcheck_verb;
extern const struct cairn_verb cairn_ls_verb;
extern const struct cairn_verb cairn_pull_verb;
extern const struct cairn_verb cairn_export_verb;
extern const struct cairn_verb cairn_prune_verb;
extern const struct cairn_verb cairn_du_verb;
extern const struct cairn_verb cairn_fsck_verb;
extern const struct cairn_verb cairn_cache_verb;
extern const struct cairn_verb cairn_cluster_verb;
extern const struct cairn_verb cairn_submit_verb;
extern const struct cairn_verb cairn_worker_verb;
extern const struct cairn_verb cairn_job_verb;
extern const struct cairn_verb cairn_images_verb;
extern const struct cairn_verb cairn_inspect_verb;

/* Registry options shared by the verbs that may pull (getopt values). */
enum {
        CAIRN_OPT_PLATFORM = 512,
        CAIRN_OPT_REGISTRY_AUTH,
        CAIRN_OPT_INSECURE_REGISTRY,
};
#define CAIRN_CLI_REGISTRY_OPTIONS \
        { "platform", required_argument, NULL, CAIRN_OPT_PLATFORM }, \
        { "registry-auth", required_argument, NULL, CAIRN_OPT_REGISTRY_AUTH }, \
        { "insecure-registry", required_argument, NULL, CAIRN_OPT_INSECURE_REGISTRY }
#define CAIRN_CLI_REGISTRY_HELP \
        "      --platform=OS/ARCH   the platform to pull (default this machine's)\n" \
        "      --registry-auth=USER:PASSWORD|@FILE|-  credentials, given or read from FILE or\n" \
        "                           standard input (default ~/.docker/config.json)\n" \
        "      --insecure-registry=HOST  allow plain HTTP to HOST (loopback always may)\n"
struct cairn_registry_options;
/* Handle one registry option; returns 0 if opt is not one. */
int cairn_cli_registry_option(int opt, const char *arg, struct cairn_registry_options *o);
void cairn_cli_registry_options_free(struct cairn_registry_options *o);


/* A step's limits, for build and healthcheck; the store's cairn.conf takes
 * the same names without the dashes. */
enum {
        CAIRN_OPT_MEMORY = 700,
        CAIRN_OPT_PIDS_LIMIT,
        CAIRN_OPT_CPUS,
        CAIRN_OPT_STEP_TIMEOUT,
};
#define CAIRN_CLI_LIMIT_OPTIONS \
        { "memory", required_argument, NULL, CAIRN_OPT_MEMORY }, \
        { "pids-limit", required_argument, NULL, CAIRN_OPT_PIDS_LIMIT }, \
        { "cpus", required_argument, NULL, CAIRN_OPT_CPUS }, \
        { "step-timeout", required_argument, NULL, CAIRN_OPT_STEP_TIMEOUT }
#define CAIRN_CLI_LIMITS_HELP \
        "      --memory=SIZE        limit each step's memory, swap included (512M, 2G)\n" \
        "      --pids-limit=N       limit each step's processes and threads (default 8192)\n" \
        "      --cpus=N             limit each step's CPU time to N CPUs' worth (0.5, 2)\n" \
        "      --step-timeout=D     kill a step that runs longer (90s, 10m, 2h)\n" \
        "                           (each also \"none\"; defaults from the store's cairn.conf)\n"
struct cairn_step_limits;
/* Handle one limit option: 1 if it was one, 0 if opt is not one, -1 after
 * reporting a bad value. */
int cairn_cli_limit_option(const char *verb, int opt, const char *arg, struct cairn_step_limits *l);

/* --store=KIND:PATH (else $CAIRN_STORE, else the default), --store-opt
 * KEY=VALUE (repeatable, after the words of $CAIRN_STORE_OPTS; a later KEY
 * wins) and OBuilder's --hcs-ctr-path, for every verb that opens a store:
 * the verb adds CAIRN_CLI_STORE_OPT_OPTIONS to its getopt table and passes
 * each option to cairn_cli_store_opt, and cairn_cli_open_engine uses
 * them. */
enum {
        CAIRN_OPT_STORE = 600,
        CAIRN_OPT_STORE_OPT,
        CAIRN_OPT_HCS_CTR_PATH,
};
#define CAIRN_CLI_STORE_OPT_OPTIONS \
        { "store", required_argument, NULL, CAIRN_OPT_STORE }, \
        { "store-opt", required_argument, NULL, CAIRN_OPT_STORE_OPT }, \
        { "hcs-ctr-path", required_argument, NULL, CAIRN_OPT_HCS_CTR_PATH }
/* Handle one of those (--store too); returns 0 if opt is not one. */
int cairn_cli_store_opt(int opt, const char *arg);

/* Help text shared by the verbs that take --store. */
#define CAIRN_CLI_STORE_HELP \
        "      --store=KIND:PATH    the store (default $CAIRN_STORE, else overlayfs:/var/lib/cairn,\n" \
        "                           on Windows hcs:C:\\ProgramData\\cairn);\n" \
        "                           KIND is overlayfs, copy (or rsync), containerd or hcs\n" \
        "      --store-opt=KEY=VALUE  a store option (containerd: ctr, address, namespace,\n" \
        "                           snapshotter, runtime, platform, cni-conf-dir, hcn-namespace)\n"

/*
 * Parse a verb's command line when its only options are the store's:
 * returns the index of the first operand, or -1 after printing a usage
 * error.
 */
int cairn_cli_store_options(const char *verb, int argc, char **argv);

struct cairn_engine;
/* Open the engine on the store the options chose, reporting errors; NULL
 * on failure. */
struct cairn_engine *cairn_cli_open_engine(void);

/* Print every diagnostic in the chain on stderr, one per line. */
void cairn_cli_report(const struct cairn_error *err);
/* The usage error for what getopt_long returned that no case took: an
 * option missing its value (':') or an unknown one.  Returns
 * CAIRN_EXIT_USAGE. */
int cairn_cli_bad_option(const char *verb, int c, char **argv);

/* Print "cairn VERB: MESSAGE" and a pointer to --help; returns CAIRN_EXIT_USAGE. */
int cairn_cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --keep-free=SIZE|P% of verb (prune, worker): a size above 0 into
 * *ret_bytes, or a percentage above 0 and below 100 into *ret_percent, and
 * 0; otherwise the usage error is printed and CAIRN_EXIT_USAGE returned. */
int cairn_cli_parse_keep_free(const char *verb, const char *arg, unsigned long long *ret_bytes, double *ret_percent);
/* If argv holds --help or -h before any "--", print the verb's help and return true. */
int cairn_cli_want_help(const struct cairn_verb *verb, int argc, char **argv);

/* `cairn cache push` and `cairn cache pull` (cli/cache-steps.c), run by
 * `cairn cache` with argv[0] the subcommand. */
int cairn_cli_cache_push(int argc, char **argv);
int cairn_cli_cache_pull(int argc, char **argv);

#endif
