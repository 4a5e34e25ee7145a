/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn worker`: a cluster worker (cluster/worker.c, docs/cluster.md). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "cluster/context.h"
#include "cluster/seal.h"
#include "engine/engine.h"

const struct cairn_verb cairn_worker_verb = {
        .name = "worker",
        .run = cmd_worker,
        .summary = "build the jobs of a cluster's pool",
        .help = "Usage: cairn worker --db=URL --pool=POOL --name=NAME --capacity=K --store=KIND:PATH\n"
                "                    [--cache-from=R]... [--cache-to=R] [--lease=D] [--heartbeat=D]\n"
                "                    [--metrics-listen=HOST:PORT] [--keep-free=SIZE|P%]\n"
                "                    [--pool-key=KEYFILE]\n"
                "\n"
                "Register as NAME in POOL (a new incarnation each start), then claim and build up\n"
                "to K jobs at a time in the store, each in a child process.  SIGTERM or SIGINT\n"
                "drains (so does 'cairn cluster drain'): running jobs finish, no new one is\n"
                "taken, then the worker exits.\n"
                "What the worker does goes to stderr, one line each.\n"
                "\n"
                "      --db=URL             the PostgreSQL database (default $CAIRN_DB)\n"
                "      --pool=POOL, --name=NAME, --capacity=K (default 1)\n"
                "      --store=KIND:PATH    the store the jobs are built in\n"
                "      --cache-from=REGISTRY/REPO, --cache-to=REGISTRY/REPO  the step cache\n"
                "                           (docs/step-cache.md)\n"
                "      --lease=D            a claimed job's lease (default 30s)\n"
                "      --heartbeat=D        how often leases are renewed (default a third of the lease)\n"
                "      --affinity-wait=D    how long a job with a cache hint waits for a worker that\n"
                "                           ran the hint (default 30s)\n"
                "      --metrics-listen=HOST:PORT  serve this worker's metrics at GET /metrics\n"
                "                           (Prometheus text; docs/cluster.md)\n"
                "      --keep-free=SIZE|P%  below this much free space on the store's filesystem,\n"
                "                           pause, prune once the running jobs end, then resume\n"
                "      --pool-key=KEYFILE   the pool's private key (cairn cluster keygen), to unseal\n"
                "                           the secrets of its jobs\n"
                "\n"
                "Exit status: 0 after a drain; 1 on an error (a database of another schema).\n",
};

static volatile sig_atomic_t drain;

static void on_drain(int sig)
{
        drain = sig;
}

static void report(const char *line, void *ud)
{
        (void) ud;
        char ts[32];
        time_t t = time(NULL);
        strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
        size_t n = strlen(line);
        while (n && line[n - 1] == '\n')
                n--;
        fprintf(stderr, "%s cairn worker: %.*s\n", ts, (int) n, line);
}

static int seconds(const char *opt, const char *arg, int *ret)
{
        long long ms;
        if (cairn_parse_duration_ms(arg, &ms) < 0 || ms < 1000 || ms > 86400000LL) {
                cairn_cli_usage_error("worker", "--%s takes a duration from 1s to 24h, not \"%s\"", opt, arg);
                return -1;
        }
        *ret = (int) (ms / 1000);
        return 0;
}

int cmd_worker(int argc, char **argv)
{
        enum { OPT_DB = 256, OPT_POOL, OPT_NAME, OPT_CAPACITY, OPT_CACHE_FROM, OPT_CACHE_TO, OPT_LEASE,
               OPT_HEARTBEAT, OPT_AFFINITY, OPT_METRICS, OPT_KEEP_FREE, OPT_POOL_KEY };
        static const struct option options[] = {
                { "db", required_argument, NULL, OPT_DB },
                { "pool", required_argument, NULL, OPT_POOL },
                { "name", required_argument, NULL, OPT_NAME },
                { "capacity", required_argument, NULL, OPT_CAPACITY },
                { "store", required_argument, NULL, CAIRN_OPT_STORE },
                { "cache-from", required_argument, NULL, OPT_CACHE_FROM },
                { "cache-to", required_argument, NULL, OPT_CACHE_TO },
                { "lease", required_argument, NULL, OPT_LEASE },
                { "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
                { "affinity-wait", required_argument, NULL, OPT_AFFINITY },
                { "metrics-listen", required_argument, NULL, OPT_METRICS },
                { "keep-free", required_argument, NULL, OPT_KEEP_FREE },
                { "pool-key", required_argument, NULL, OPT_POOL_KEY },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct cairn_cluster_worker_config cfg = { .capacity = 1, .lease_s = 30, .affinity_wait_s = 30,
                                                   .drain = &drain, .report = report };
        const char **cache_from = NULL;
        const char *why;
        /* Before any goto out: a cleanup variable must not be jumped over. */
        _cleanup_error_ struct cairn_error *err = NULL;
        int c, status = CAIRN_EXIT_USAGE;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_DB: cfg.url = optarg; break;
                case OPT_POOL: cfg.pool = optarg; break;
                case OPT_NAME: cfg.name = optarg; break;
                case CAIRN_OPT_STORE: cfg.store = optarg; break;
                case OPT_METRICS: cfg.metrics_listen = optarg; break;
                case OPT_KEEP_FREE:
                        if (cairn_cli_parse_keep_free("worker", optarg, &cfg.keep_free_bytes, &cfg.keep_free_percent))
                                goto out;
                        break;
                case OPT_POOL_KEY: cfg.pool_key = optarg; break;
                case OPT_CAPACITY:
                        cfg.capacity = atoi(optarg);
                        if (cfg.capacity < 1 || cfg.capacity > 256) {
                                cairn_cli_usage_error("worker", "--capacity takes 1 to 256, not \"%s\"", optarg);
                                goto out;
                        }
                        break;
                case OPT_LEASE:
                        if (seconds("lease", optarg, &cfg.lease_s) < 0)
                                goto out;
                        break;
                case OPT_HEARTBEAT:
                        if (seconds("heartbeat", optarg, &cfg.heartbeat_s) < 0)
                                goto out;
                        break;
                case OPT_AFFINITY:
                        if (seconds("affinity-wait", optarg, &cfg.affinity_wait_s) < 0)
                                goto out;
                        break;
                case OPT_CACHE_FROM:
                case OPT_CACHE_TO:
                        if (!cairn_cache_repo_valid(optarg, &why)) {
                                cairn_cli_usage_error("worker", "%s takes a repository REGISTRY/PATH, not \"%s\": %s",
                                                      c == OPT_CACHE_TO ? "--cache-to" : "--cache-from", optarg, why);
                                goto out;
                        }
                        if (c == OPT_CACHE_TO) {
                                cfg.cache_to = optarg;
                        } else {
                                cache_from = cairn_xreallocarray(cache_from, cfg.n_cache_from + 1, sizeof(char *));
                                cache_from[cfg.n_cache_from++] = optarg;
                        }
                        break;
                default:
                        status = cairn_cli_bad_option("worker", c, argv);
                        goto out;
                }
        }
        cfg.cache_from = cache_from;
        if (!cfg.url)
                cfg.url = getenv("CAIRN_DB");
        if (optind != argc) {
                cairn_cli_usage_error("worker", "unexpected argument \"%s\"", argv[optind]);
                goto out;
        }
        if (!cfg.url || !cfg.pool || !cfg.name || !cfg.store) {
                cairn_cli_usage_error("worker", "--db, --pool, --name and --store are required");
                goto out;
        }
        if (cfg.heartbeat_s == 0)
                cfg.heartbeat_s = cfg.lease_s >= 3 ? cfg.lease_s / 3 : 1;
        if (cfg.heartbeat_s >= cfg.lease_s) {
                cairn_cli_usage_error("worker", "--heartbeat must be shorter than --lease");
                goto out;
        }
        status = CAIRN_EXIT_FAILURE;
        /* A key that cannot be read fails here, not in every job; one
         * that is not the pool's (as far as the database can say now) is
         * worth a warning. */
        if (cfg.pool_key) {
                unsigned char mine[CAIRN_SEAL_KEY_LEN], pools[CAIRN_SEAL_KEY_LEN];
                struct cairn_cluster *cl = NULL;
                if (cairn_seal_key_check(cfg.pool_key, mine, &err) < 0) {
                        fprintf(stderr, "cairn worker: ");
                        cairn_cli_report(err);
                        goto out;
                }
                if (cairn_cluster_connect(cfg.url, false, &cl, NULL) == 0) {
                        int r = cairn_cluster_pool_key(cl, cfg.pool, pools, NULL);
                        if (r == 0 || (r > 0 && memcmp(mine, pools, sizeof(mine)) != 0))
                                report(r == 0 ? "warning: the pool has no key yet (cairn cluster keygen)"
                                              : "warning: --pool-key is not the pool's current key: its jobs' "
                                                "secrets will not unseal", NULL);
                        cairn_cluster_close(cl);
                }
        }
        {
                /* The store is checked once here; each job opens it anew in
                 * its own process. */
                struct cairn_engine *e = NULL;
                if (cairn_engine_open(cfg.store, NULL, &e, &err) < 0) {
                        fprintf(stderr, "cairn worker: ");
                        cairn_cli_report(err);
                        goto out;
                }
                cairn_engine_close(e);
        }
        struct sigaction sa = { .sa_handler = on_drain };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (cairn_cluster_worker_run(&cfg, &err) < 0) {
                fprintf(stderr, "cairn worker: ");
                cairn_cli_report(err);
                goto out;
        }
        report("drained, exiting", NULL);
        status = CAIRN_EXIT_OK;
out:
        free(cache_from);
        return status;
}
