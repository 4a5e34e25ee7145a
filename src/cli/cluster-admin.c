/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn cluster` but init (cli/cluster-verbs.c): show, workers, pause,
 * unpause, drain, forget, set-rate, add-client, metrics; init's roles;
 * submit's fair-share options (docs/cluster.md). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/strbuf.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cluster/cluster.h"

/* Report err for `cairn cluster SUB`, naming the role a denied command
 * needs. */
static void report(const char *sub, const struct cairn_error *err)
{
        fprintf(stderr, "cairn cluster %s: ", sub);
        cairn_cli_report(err);
        if (err && err->code == -EACCES)
                fprintf(stderr, "cairn cluster %s: permission denied: this needs the cairn_admin role "
                                "(docs/cluster.md, \"Roles\")\n", sub);
}

int cairn_cli_fair_share_option(bool weight, const char *arg, struct cairn_cluster_job_request *rq)
{
        char *end;
        if (weight) {
                errno = 0;
                long v = strtol(arg, &end, 10);
                if (errno || *end || end == arg || v < 1 || v > 256) {
                        cairn_cli_usage_error("submit", "--weight takes 1 to 256, not \"%s\"", arg);
                        return -1;
                }
                rq->weight = (int) v;
                return 0;
        }
        errno = 0;
        long cached = strtol(arg, &end, 10), uncached = -1;
        if (!errno && end != arg && *end == ',') {
                const char *u = end + 1;
                uncached = strtol(u, &end, 10);
                if (end == u)
                        uncached = -1;
        }
        if (errno || *end || cached < 1 || uncached < 1 || cached > 604800 || uncached > 604800) {
                cairn_cli_usage_error("submit", "--estimate takes CACHED,UNCACHED seconds (1 to 604800 each), not "
                                                "\"%s\"", arg);
                return -1;
        }
        rq->est_cached_s = (int) cached;
        rq->est_uncached_s = (int) uncached;
        return 0;
}

int cairn_cli_cluster_init_roles(struct cairn_cluster *c)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        _cleanup_free_ char *why = NULL;
        int r = cairn_cluster_init_roles(c, &why, &err);
        if (r < 0) {
                report("init", err);
                return CAIRN_EXIT_FAILURE;
        }
        if (r == 0)
                fprintf(stderr, "cairn cluster init: roles skipped: %s; the tables are the connecting users' "
                                "alone\n", why);
        else
                fprintf(stderr, "cairn cluster init: roles cairn_submitter, cairn_worker, cairn_admin granted "
                                "(GRANT cairn_submitter TO someone;)\n");
        return CAIRN_EXIT_OK;
}

static int show(struct cairn_cluster *c, const char *pool)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster_pool_info *v = NULL;
        int n = cairn_cluster_pools(c, pool, &v, &err);
        if (n < 0) {
                report("show", err);
                return CAIRN_EXIT_FAILURE;
        }
        if (n == 0 && pool) {
                fprintf(stderr, "cairn cluster show: no pool \"%s\" (no worker, job or client names it)\n", pool);
                return CAIRN_EXIT_FAILURE;
        }
        for (int i = 0; i < n; i++)
                printf("pool %s: queued %ld (urgent %ld, normal %ld); workers %ld connected, %ld ready, %ld paused, "
                       "%ld draining; capacity %ld; running %ld\n",
                       v[i].pool, v[i].queued_urgent + v[i].queued_normal, v[i].queued_urgent, v[i].queued_normal,
                       v[i].connected, v[i].ready, v[i].paused, v[i].draining, v[i].capacity, v[i].running);
        cairn_cluster_pool_info_free(v, n);
        return CAIRN_EXIT_OK;
}

static int workers(struct cairn_cluster *c, const char *pool)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster_worker_info *v = NULL;
        int n = cairn_cluster_workers(c, pool, &v, &err);
        if (n < 0) {
                report("workers", err);
                return CAIRN_EXIT_FAILURE;
        }
        if (n == 0) {
                fprintf(stderr, "cairn cluster workers: no worker in pool \"%s\"\n", pool);
                return CAIRN_EXIT_FAILURE;
        }
        printf("NAME\tSTATE\tINCARNATION\tCAPACITY\tRUNNING\tLAST-SEEN\tSTORE-EPOCH\tVERSION\n");
        for (int i = 0; i < n; i++) {
                char seen[32];
                if (v[i].seen_ago_s < 0)
                        snprintf(seen, sizeof(seen), "never");
                else
                        snprintf(seen, sizeof(seen), "%llds-ago", v[i].seen_ago_s);
                printf("%s\t%s\t%lld\t%d\t%d\t%s\t%lld\t%s\n", v[i].name, v[i].state, (long long) v[i].incarnation,
                       v[i].capacity, v[i].running, seen, (long long) v[i].store_epoch,
                       v[i].version[0] ? v[i].version : "-");
        }
        cairn_cluster_worker_info_free(v, n);
        return CAIRN_EXIT_OK;
}

static int set_workers(struct cairn_cluster *c, const char *sub, const char *pool, const char *worker,
                       enum cairn_cluster_worker_op op, bool wait, long long timeout_ms)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        int n = cairn_cluster_worker_set(c, pool, worker, op, &err);
        if (n < 0) {
                report(sub, err);
                return CAIRN_EXIT_FAILURE;
        }
        if (n == 0) {
                if (worker)
                        fprintf(stderr, "cairn cluster %s: no worker \"%s\" in pool \"%s\"\n", sub, worker, pool);
                else
                        fprintf(stderr, "cairn cluster %s: no worker in pool \"%s\"\n", sub, pool);
                return CAIRN_EXIT_FAILURE;
        }
        static const char *const done[] = { [CAIRN_CLUSTER_PAUSE] = "paused", [CAIRN_CLUSTER_UNPAUSE] = "unpaused",
                                            [CAIRN_CLUSTER_DRAIN] = "draining" };
        fprintf(stderr, "cairn cluster %s: %s %s\n", sub, worker ? worker : "every worker of the pool", done[op]);
        if (!wait)
                return CAIRN_EXIT_OK;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool said = false;
        for (;;) {
                int running = cairn_cluster_running_jobs(c, pool, worker, &err);
                if (running < 0) {
                        report(sub, err);
                        return CAIRN_EXIT_FAILURE;
                }
                if (running == 0) {
                        fprintf(stderr, "cairn cluster %s: no job running\n", sub);
                        return CAIRN_EXIT_OK;
                }
                clock_gettime(CLOCK_MONOTONIC, &t);
                long long ms = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
                if (ms >= timeout_ms) {
                        fprintf(stderr, "cairn cluster %s: %d job(s) still running after the timeout\n", sub, running);
                        return CAIRN_EXIT_FAILURE;
                }
                if (!said) {
                        fprintf(stderr, "cairn cluster %s: waiting for %d running job(s)\n", sub, running);
                        said = true;
                }
                struct timespec ts = { 0, 250000000 };
                nanosleep(&ts, NULL);
        }
}

static int parse_rate(const char *arg, double *ret)
{
        char *end;
        errno = 0;
        double r = strtod(arg, &end);
        if (errno || *end || end == arg || !isfinite(r) || r <= 0 || r > 1e6) {
                cairn_cli_usage_error("cluster", "a rate is a number above 0 (up to 1e6), not \"%s\"", arg);
                return -1;
        }
        *ret = r;
        return 0;
}

int cmd_cluster_admin(int argc, char **argv)
{
        enum { OPT_DB = 256, OPT_ALL, OPT_WAIT, OPT_TIMEOUT, OPT_RATE };
        static const struct option options[] = {
                { "db", required_argument, NULL, OPT_DB },
                { "all", no_argument, NULL, OPT_ALL },
                { "wait", no_argument, NULL, OPT_WAIT },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "rate", required_argument, NULL, OPT_RATE },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *db = NULL, *rate_arg = NULL;
        bool all = false, wait = false, timeout_given = false;
        long long timeout_ms = 3600 * 1000LL;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_DB: db = optarg; break;
                case OPT_ALL: all = true; break;
                case OPT_WAIT: wait = true; break;
                case OPT_RATE: rate_arg = optarg; break;
                case OPT_TIMEOUT:
                        if (cairn_parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms < 0)
                                return cairn_cli_usage_error("cluster", "--timeout takes a duration (90s, 10m, 2h), "
                                                                        "not \"%s\"", optarg);
                        timeout_given = true;
                        break;
                default:
                        return cairn_cli_bad_option("cluster", c, argv);
                }
        }
        char **args = argv + optind;
        int n = argc - optind;
        const char *sub = n > 0 ? args[0] : "";
        /* Operands each subcommand takes: at least min, at most max. */
        static const struct {
                const char *name;
                int min, max;
                bool worker_or_all;
        } subs[] = {
                { "show", 0, 1, false },      { "workers", 1, 1, false }, { "metrics", 0, 1, false },
                { "pause", 1, 2, true },      { "unpause", 1, 2, true },  { "drain", 1, 2, true },
                { "forget", 2, 2, false },    { "set-rate", 3, 3, false }, { "add-client", 2, 2, false },
        };
        int k = -1;
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
                if (strcmp(sub, subs[i].name) == 0)
                        k = (int) i;
        if (k < 0)
                return cairn_cli_usage_error("cluster", "unknown subcommand \"%s\"", sub);
        if (n - 1 < subs[k].min || n - 1 > subs[k].max)
                return cairn_cli_usage_error("cluster", "%s: wrong number of operands", sub);
        if (subs[k].worker_or_all && (n - 1 == 2) == all)
                return cairn_cli_usage_error("cluster", "%s takes POOL and either a WORKER or --all", sub);
        if (all && !subs[k].worker_or_all)
                return cairn_cli_usage_error("cluster", "%s takes no --all", sub);
        if ((wait || timeout_given) && strcmp(sub, "drain") != 0)
                return cairn_cli_usage_error("cluster", "--wait and --timeout are drain's");
        if (rate_arg && strcmp(sub, "add-client") != 0)
                return cairn_cli_usage_error("cluster", "--rate is add-client's (set-rate takes the rate as operand)");
        double rate = 1.0;
        if (rate_arg && parse_rate(rate_arg, &rate) < 0)
                return CAIRN_EXIT_USAGE;
        if (strcmp(sub, "set-rate") == 0 && parse_rate(args[3], &rate) < 0)
                return CAIRN_EXIT_USAGE;
        if (!db)
                db = getenv("CAIRN_DB");
        if (!db)
                return cairn_cli_usage_error("cluster", "--db=URL is required (or $CAIRN_DB)");

        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster *cl = NULL;
        if (cairn_cluster_connect(db, false, &cl, &err) < 0) {
                report(sub, err);
                return CAIRN_EXIT_FAILURE;
        }
        const char *pool = n > 1 ? args[1] : NULL, *name = n > 2 ? args[2] : NULL;
        int status = CAIRN_EXIT_FAILURE, r;
        if (strcmp(sub, "show") == 0) {
                status = show(cl, pool);
        } else if (strcmp(sub, "workers") == 0) {
                status = workers(cl, pool);
        } else if (strcmp(sub, "pause") == 0 || strcmp(sub, "unpause") == 0 || strcmp(sub, "drain") == 0) {
                enum cairn_cluster_worker_op op = sub[0] == 'p' ? CAIRN_CLUSTER_PAUSE
                                                  : sub[0] == 'u' ? CAIRN_CLUSTER_UNPAUSE
                                                                  : CAIRN_CLUSTER_DRAIN;
                status = set_workers(cl, sub, pool, name, op, wait, timeout_ms);
        } else if (strcmp(sub, "forget") == 0) {
                if ((r = cairn_cluster_forget(cl, pool, name, &err)) < 0)
                        report(sub, err);
                else if (r == 0)
                        fprintf(stderr, "cairn cluster forget: no worker \"%s\" in pool \"%s\"\n", name, pool);
                else
                        status = CAIRN_EXIT_OK;
        } else if (strcmp(sub, "set-rate") == 0) {
                if ((r = cairn_cluster_set_rate(cl, pool, name, rate, &err)) < 0)
                        report(sub, err);
                else if (r == 0)
                        fprintf(stderr, "cairn cluster set-rate: no client \"%s\" in pool \"%s\" (add-client adds "
                                        "one)\n", name, pool);
                else
                        status = CAIRN_EXIT_OK;
        } else if (strcmp(sub, "add-client") == 0) {
                if ((r = cairn_cluster_add_client(cl, pool, name, rate, &err)) < 0)
                        report(sub, err);
                else if (r == 0)
                        fprintf(stderr, "cairn cluster add-client: client \"%s\" is already in pool \"%s\" (its rate "
                                        "is unchanged: set-rate changes it)\n", name, pool);
                else
                        status = CAIRN_EXIT_OK;
        } else {
                struct cairn_buf out = CAIRN_BUF_INIT;
                if (cairn_cluster_metrics(cl, pool, &out, &err) < 0) {
                        report(sub, err);
                } else {
                        fwrite(out.data ? out.data : "", 1, out.len, stdout);
                        status = fflush(stdout) == 0 ? CAIRN_EXIT_OK : CAIRN_EXIT_FAILURE;
                }
                cairn_buf_release(&out);
        }
        cairn_cluster_close(cl);
        return status;
}
