/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn cluster init`, `cairn submit`, `cairn job` (docs/cluster.md);
 * `cairn worker` is cli/worker.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cli/cluster-inputs.h"
#include "cluster/cluster.h"
#include "cluster/context.h"
#include "spec/sexp.h"
#include "spec/spec.h"

#define DB_HELP "      --db=URL             the PostgreSQL database (libpq URI or keywords; default $CAIRN_DB)\n"

const struct cairn_verb cairn_cluster_verb = {
        .name = "cluster",
        .run = cmd_cluster,
        .summary = "set up, inspect and administer a build cluster",
        .help = "Usage: cairn cluster init --db=URL\n"
                CAIRN_CLUSTER_ADMIN_USAGE
                "       cairn cluster keygen --db=URL --pool=POOL --out=KEYFILE [--rotate]\n"
                "\n"
                "init creates the cluster's schema in the PostgreSQL database URL (docs/cluster.md),\n"
                "and the roles cairn_submitter, cairn_worker and cairn_admin when the user may.\n"
                "Idempotent: on a database that has it, only checks its version.\n"
                CAIRN_CLUSTER_ADMIN_HELP
                "\n"
                "keygen: make POOL's X25519 key pair for sealing job secrets: the private key\n"
                "goes to KEYFILE (PEM, mode 0600, never overwritten), for the pool's workers\n"
                "(cairn worker --pool-key), the public key into the database.  --rotate\n"
                "replaces a key the pool has (jobs sealed to the old key then fail).\n"
                "\n"
                DB_HELP
                "\n"
                "Exit status: 0 on success; 1 on an error (a schema of another version, an unknown\n"
                "pool or worker, a permission denied, a pool that has a key without --rotate, an\n"
                "existing KEYFILE); 124 on a usage error.\n",
};

const struct cairn_verb cairn_submit_verb = {
        .name = "submit",
        .run = cmd_submit,
        .summary = "queue a build on a cluster and follow its log",
        .help = "Usage: cairn submit --db=URL --pool=POOL -f SPEC [--cache-hint=H] [--urgent] [--timeout=D]\n"
                "                    [--secret=ID:FILE]... [--context-repo=REGISTRY/REPO] [CONTEXT]\n"
                "\n"
                "Queue SPEC on the cluster's POOL, print \"job ID\" on stderr and the job's ID on\n"
                "stdout, then follow its log live on stdout until it ends.  Ctrl-C (or SIGTERM)\n"
                "detaches: the job goes on ('cairn job log ID' follows it again).\n"
                "\n"
                "  -f, --file=SPEC          the spec (\"-\" reads standard input)\n"
                DB_HELP
                "      --pool=POOL          the pool whose workers may build it\n"
                "      --cache-hint=H       jobs with one hint prefer the workers that ran it (default:\n"
                "                           a digest of the spec up to its first copy from the\n"
                "                           context; '' for none)\n"
                "      --urgent             before every non-urgent job of the pool\n"
                "      --timeout=D          fail the build if it runs longer (90s, 10m, 2h)\n"
                "      --max-attempts=N     fail the job after its worker was lost N times (default 3)\n"
                "      --client=NAME        who submits, for fair share (default $USER)\n"
                "      --estimate=CACHED,UNCACHED  the build's seconds with its hint cached or not\n"
                "                           (default 10,600): its cost to the client's share\n"
                "      --weight=N           the worker slots it takes (default 1)\n"
                "      --no-follow          print the ID and return at once\n"
                "      --cancel-on-disconnect  Ctrl-C or SIGTERM cancels the job instead of detaching\n"
                "      --context=DIR        the build context (or the CONTEXT operand): uploaded to\n"
                "                           the --context-repo registry repository unless it is there\n"
                "      --context-repo=REGISTRY/REPO  where contexts travel (default $CAIRN_CONTEXT_REPO)\n"
                "      --secret=ID:FILE     the value of secret ID, read whole from FILE (repeatable),\n"
                "                           sealed to the pool's key (cairn cluster keygen)\n"
                "\n"
                "Exit status: 0 if the build succeeded; 1 if it failed or was cancelled;\n"
                "130 when detached (or cancelled) by Ctrl-C; 124 on a usage error.\n",
};

const struct cairn_verb cairn_job_verb = {
        .name = "job",
        .run = cmd_job,
        .summary = "status, log, cancel or wait for a cluster job",
        .help = "Usage: cairn job status|log|cancel|wait ID --db=URL [--from=OFFSET] [--follow]\n"
                "\n"
                "  status   print state, attempt, worker, result and error (KEY: VALUE lines)\n"
                "  log      print the job's log from byte OFFSET (default 0) up to now; with\n"
                "           --follow, until the job ends\n"
                "  cancel   a queued job is cancelled at once, a running one when its worker's\n"
                "           next heartbeat sees the request\n"
                "  wait     wait until the job ends, print its state\n"
                "\n"
                DB_HELP
                "      --from=OFFSET        log: the byte offset to start at\n"
                "\n"
                "Exit status: status, log, wait: 0 if the job succeeded (or is not finished,\n"
                "for status and log), 1 if it failed or was cancelled, or on an error;\n"
                "cancel: 0 when cancelled or requested, 1 if the job had already ended.\n",
};

static const char *db_default(const char *db)
{
        return db ? db : getenv("CAIRN_DB");
}

static struct cairn_cluster *open_cluster(const char *verb, const char *db, bool init)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster *c = NULL;
        if (cairn_cluster_connect(db, init, &c, &err) < 0) {
                fprintf(stderr, "cairn %s: ", verb);
                cairn_cli_report(err);
                return NULL;
        }
        return c;
}

int cmd_cluster(int argc, char **argv)
{
        static const struct option options[] = {
                { "db", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *db = NULL;
        int c;
        /* Every subcommand but init is cli/cluster-admin.c's. */
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                if (argv[i][0] != '-') {
                        if (strcmp(argv[i], "keygen") == 0)
                                return cairn_cli_cluster_keygen(argc, argv);
                        if (strcmp(argv[i], "init") != 0)
                                return cmd_cluster_admin(argc, argv);
                        break;
                }
                if (strcmp(argv[i], "--db") == 0)
                        i++;
        }
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                if (c == 'd')
                        db = optarg;
                else
                        return cairn_cli_bad_option("cluster", c, argv);
        }
        if (optind != argc - 1 || strcmp(argv[optind], "init") != 0)
                return cairn_cli_usage_error("cluster", "a subcommand is required: init, keygen, show, workers, "
                                                        "pause, unpause, drain, forget, set-rate, add-client, metrics");
        if (!(db = db_default(db)))
                return cairn_cli_usage_error("cluster", "--db=URL is required (or $CAIRN_DB)");
        struct cairn_cluster *cl = open_cluster("cluster init", db, true);
        if (!cl)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int r = cairn_cluster_init(cl, &err);
        if (r < 0) {
                cairn_cluster_close(cl);
                fprintf(stderr, "cairn cluster init: ");
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        fprintf(stderr, "cairn cluster init: %s (schema version %d)\n", r == 1 ? "schema created" : r == 2 ? "schema upgraded" : "schema already there",
                CAIRN_CLUSTER_SCHEMA_VERSION);
        int status = cairn_cli_cluster_init_roles(cl);
        cairn_cluster_close(cl);
        return status;
}

static int write_stdout(const char *data, size_t len, void *ud)
{
        (void) ud;
        if (fwrite(data, 1, len, stdout) != len)
                return -1;
        return fflush(stdout) == 0 ? 0 : -1;
}

static volatile sig_atomic_t detach;

static void on_detach(int sig)
{
        detach = sig;
}

static void follow_note(const char *msg, void *ud)
{
        if (msg)
                fprintf(stderr, "cairn %s: lost the database (%s); reconnecting, the job goes on\n", (const char *) ud,
                        msg);
        else
                fprintf(stderr, "cairn %s: reconnected\n", (const char *) ud);
}

/* Follow job id from *from until it ends or the user detaches (or, with
 * cancel_on_detach, cancels it); the exit status of submit and job log
 * --follow. */
static int follow(const char *verb, struct cairn_cluster *cl, int64_t id, int64_t from, bool cancel_on_detach)
{
        struct sigaction sa = { .sa_handler = on_detach };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster_job_status s;
        int r = cairn_cluster_follow_resilient(cl, id, &from, write_stdout, (void *) verb, 1000, 600, &detach,
                                               follow_note, &s, &err);
        if (r < 0) {
                fprintf(stderr, "cairn %s: ", verb);
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        if (r == 0 && cancel_on_detach) {
                int c = cairn_cluster_job_cancel(cl, id, &err);
                if (c < 0) {
                        fprintf(stderr, "cairn %s: cancelling job %" PRId64 ": ", verb, id);
                        cairn_cli_report(err);
                        return CAIRN_EXIT_FAILURE;
                }
                fprintf(stderr, "cairn %s: job %" PRId64 " %s (--cancel-on-disconnect)\n", verb, id,
                        c == 1 ? "cancelled" : c == 2 ? "cancel requested" : "had already finished");
                return 130;
        }
        if (r == 0) {
                fprintf(stderr, "cairn %s: detached; job %" PRId64 " goes on: cairn job log %" PRId64 " --from %" PRId64
                        " --follow\n", verb, id, id, from);
                return 130;
        }
        int status = strcmp(s.state, "succeeded") == 0 ? CAIRN_EXIT_OK : CAIRN_EXIT_FAILURE;
        if (status != CAIRN_EXIT_OK)
                fprintf(stderr, "job %" PRId64 " %s: %s\n", id, s.state, s.error ? s.error : "");
        cairn_cluster_job_status_release(&s);
        return status;
}

/*
 * The hint a job gets when it is given none: what it shares with the jobs
 * whose builds would reuse its steps.  That is the design's "last step before
 * the first one that reads the build context" (the dependencies, as
 * ocaml-ci's hints approximate them); the step IDs need the store, so the
 * hint is a digest of what they are computed from here: the base image's
 * name and the operations before the first copy from the context, as
 * printed.  Stages are left out.  "auto-" and 16 hex digits.
 */
static void default_hint(const struct cairn_spec *spec, char out[32])
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        struct cairn_pp pp = { &b, 0 };
        cairn_buf_adds(&b, spec->from);
        for (size_t i = 0; i < spec->n_ops; i++) {
                const struct cairn_spec_op *op = &spec->ops[i];
                if (op->kind == CAIRN_SPEC_COPY && !op->copy.from_build)
                        break;
                cairn_buf_addc(&b, '\n');
                cairn_spec_print_op(&pp, op);
        }
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(b.data ? b.data : "", b.len, hex);
        snprintf(out, 32, "auto-%.16s", hex);
        cairn_buf_release(&b);
}

int cmd_submit(int argc, char **argv)
{
        enum { OPT_DB = 256, OPT_POOL, OPT_HINT, OPT_URGENT, OPT_TIMEOUT, OPT_CONTEXT, OPT_SECRET, OPT_ATTEMPTS,
               OPT_CLIENT, OPT_NO_FOLLOW, OPT_ESTIMATE, OPT_WEIGHT, OPT_CONTEXT_REPO, OPT_CANCEL_ON_DISCONNECT };
        static const struct option options[] = {
                { "file", required_argument, NULL, 'f' },
                { "db", required_argument, NULL, OPT_DB },
                { "pool", required_argument, NULL, OPT_POOL },
                { "cache-hint", required_argument, NULL, OPT_HINT },
                { "urgent", no_argument, NULL, OPT_URGENT },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "secret", required_argument, NULL, OPT_SECRET },
                { "context-repo", required_argument, NULL, OPT_CONTEXT_REPO },
                { "max-attempts", required_argument, NULL, OPT_ATTEMPTS },
                { "client", required_argument, NULL, OPT_CLIENT },
                { "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
                { "cancel-on-disconnect", no_argument, NULL, OPT_CANCEL_ON_DISCONNECT },
                { "estimate", required_argument, NULL, OPT_ESTIMATE },
                { "weight", required_argument, NULL, OPT_WEIGHT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *file = NULL, *db = NULL;
        struct cairn_cluster_job_request rq = { .cache_hint = NULL, .max_attempts = 3 };
        bool no_follow = false, cancel_on_disconnect = false;
        char auto_hint[32];
        /* A context and secrets (cli/cluster-inputs.c). */
        struct cairn_cli_submit_inputs inputs = { 0 };
        _cleanup_free_ const char **secret_args = NULL;
        long long ms;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) >= 0) {
                switch (c) {
                case 'f': file = optarg; break;
                case OPT_DB: db = optarg; break;
                case OPT_POOL: rq.pool = optarg; break;
                case OPT_HINT: rq.cache_hint = optarg; break;
                case OPT_URGENT: rq.urgent = true; break;
                case OPT_CLIENT: rq.client = optarg; break;
                case OPT_NO_FOLLOW: no_follow = true; break;
                case OPT_CANCEL_ON_DISCONNECT: cancel_on_disconnect = true; break;
                case OPT_TIMEOUT:
                        if (cairn_parse_duration_ms(optarg, &ms) < 0 || ms < 1000)
                                return cairn_cli_usage_error("submit", "--timeout takes a duration of 1s or more "
                                                                       "(90s, 10m, 2h), not \"%s\"", optarg);
                        rq.timeout_s = (ms + 999) / 1000;
                        break;
                case OPT_ATTEMPTS:
                        rq.max_attempts = atoi(optarg);
                        if (rq.max_attempts < 1 || rq.max_attempts > 100)
                                return cairn_cli_usage_error("submit", "--max-attempts takes 1 to 100, not \"%s\"",
                                                             optarg);
                        break;
                case OPT_ESTIMATE:
                case OPT_WEIGHT:
                        if (cairn_cli_fair_share_option(c == OPT_WEIGHT, optarg, &rq) < 0)
                                return CAIRN_EXIT_USAGE;
                        break;
                case OPT_CONTEXT: inputs.context = optarg; break;
                case OPT_CONTEXT_REPO: inputs.context_repo = optarg; break;
                case OPT_SECRET:
                        secret_args = cairn_xreallocarray(secret_args, inputs.n_secret_args + 1, sizeof(char *));
                        secret_args[inputs.n_secret_args++] = optarg;
                        inputs.secret_args = secret_args;
                        break;
                default:
                        return cairn_cli_bad_option("submit", c, argv);
                }
        }
        if (optind < argc && !inputs.context && optind == argc - 1)
                inputs.context = argv[optind++];
        if (optind != argc)
                return cairn_cli_usage_error("submit", "unexpected argument \"%s\" (one context at most)",
                                             argv[optind]);
        if (!file)
                return cairn_cli_usage_error("submit", "the spec file is required: -f SPEC");
        if (!rq.pool || !rq.pool[0])
                return cairn_cli_usage_error("submit", "--pool=POOL is required");
        if (!(db = db_default(db)))
                return cairn_cli_usage_error("submit", "--db=URL is required (or $CAIRN_DB)");
        if (!rq.client) {
                /* Fair share is per client: a service without $USER (a
                 * systemd unit) is still its user, not "". */
                struct passwd *pw = getenv("USER") ? NULL : getpwuid(getuid());
                rq.client = getenv("USER") ? getenv("USER") : pw ? pw->pw_name : "";
        }
        int ir = cairn_cli_submit_inputs_check(&inputs);
        if (ir != 0)
                return ir;
        _cleanup_error_ struct cairn_error *err = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        /* Read and checked here, so that a bad spec never reaches a worker. */
        if (cairn_read_file(file, 1 << 20, &text, &len, &err) < 0) {
                fprintf(stderr, "cairn submit: ");
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        if (strlen(text) != len) {
                fprintf(stderr, "cairn submit: the spec \"%s\" holds a NUL byte\n", file);
                return CAIRN_EXIT_FAILURE;
        }
        struct cairn_spec *spec = NULL;
        if (cairn_spec_parse(file, text, len, &spec, &err) < 0) {
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        if (!rq.cache_hint) {
                default_hint(spec, auto_hint);
                rq.cache_hint = auto_hint;
        }
        cairn_spec_free(spec);
        rq.spec = text;
        struct cairn_cluster *cl = open_cluster("submit", db, false);
        if (!cl)
                return CAIRN_EXIT_FAILURE;
        int64_t id;
        if ((ir = cairn_cli_submit_inputs_prepare(cl, rq.pool, &inputs)) != 0) {
                cairn_cli_submit_inputs_release(&inputs);
                cairn_cluster_close(cl);
                return ir;
        }
        rq.context_json = inputs.context_json;
        rq.sealed_secrets = inputs.sealed;
        rq.sealed_secrets_len = inputs.sealed_len;
        if (cairn_cluster_submit(cl, &rq, &id, &err) < 0) {
                fprintf(stderr, "cairn submit: ");
                cairn_cli_report(err);
                cairn_cli_submit_inputs_release(&inputs);
                cairn_cluster_close(cl);
                return CAIRN_EXIT_FAILURE;
        }
        cairn_cli_submit_inputs_release(&inputs);
        fprintf(stderr, "job %" PRId64 "\n", id);
        int status = CAIRN_EXIT_OK;
        if (no_follow) {
                printf("%" PRId64 "\n", id);
        } else {
                status = follow("submit", cl, id, 0, cancel_on_disconnect);
        }
        cairn_cluster_close(cl);
        return status;
}

int cmd_job(int argc, char **argv)
{
        enum { OPT_DB = 256, OPT_FROM, OPT_FOLLOW };
        static const struct option options[] = {
                { "db", required_argument, NULL, OPT_DB },
                { "from", required_argument, NULL, OPT_FROM },
                { "follow", no_argument, NULL, OPT_FOLLOW },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *db = NULL;
        long long from = 0;
        bool do_follow = false;
        char *end;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_DB: db = optarg; break;
                case OPT_FOLLOW: do_follow = true; break;
                case OPT_FROM:
                        errno = 0;
                        from = strtoll(optarg, &end, 10);
                        if (errno || *end || end == optarg || from < 0)
                                return cairn_cli_usage_error("job", "--from takes a byte offset, not \"%s\"", optarg);
                        break;
                default:
                        return cairn_cli_bad_option("job", c, argv);
                }
        }
        if (optind != argc - 2)
                return cairn_cli_usage_error("job", "a subcommand (status, log, cancel, wait) and a job ID are required");
        const char *sub = argv[optind];
        errno = 0;
        long long id = strtoll(argv[optind + 1], &end, 10);
        if (errno || *end || id <= 0)
                return cairn_cli_usage_error("job", "not a job ID: \"%s\"", argv[optind + 1]);
        if (strcmp(sub, "status") && strcmp(sub, "log") && strcmp(sub, "cancel") && strcmp(sub, "wait"))
                return cairn_cli_usage_error("job", "unknown subcommand \"%s\"", sub);
        if (!(db = db_default(db)))
                return cairn_cli_usage_error("job", "--db=URL is required (or $CAIRN_DB)");
        struct cairn_cluster *cl = open_cluster("job", db, false);
        if (!cl)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        int status = CAIRN_EXIT_FAILURE;
        struct cairn_cluster_job_status s;
        if (strcmp(sub, "log") == 0 && do_follow) {
                status = follow("job log", cl, id, from, false);
        } else if (strcmp(sub, "log") == 0) {
                int64_t next = from, at;
                do {
                        at = next;
                        if (cairn_cluster_job_log(cl, id, at, write_stdout, NULL, &next, &err) < 0)
                                goto fail;
                } while (next != at);
                status = CAIRN_EXIT_OK;
        } else if (strcmp(sub, "wait") == 0) {
                static volatile sig_atomic_t never;
                int64_t f = INT64_MAX / 2;
                /* No log to print: from far past its end. */
                int r = cairn_cluster_follow(cl, id, &f, write_stdout, NULL, 1000, &never, &s, &err);
                if (r < 0)
                        goto fail;
                printf("%s\n", s.state);
                status = strcmp(s.state, "succeeded") == 0 ? CAIRN_EXIT_OK : CAIRN_EXIT_FAILURE;
                cairn_cluster_job_status_release(&s);
        } else if (strcmp(sub, "status") == 0) {
                int r = cairn_cluster_job_status(cl, id, &s, &err);
                if (r < 0)
                        goto fail;
                if (r == 0) {
                        fprintf(stderr, "cairn job status: no job %lld\n", id);
                        goto out;
                }
                printf("state: %s\nattempt: %d/%d\nworker: %s\ncancel_requested: %s\nlog_bytes: %" PRId64 "\n",
                       s.state, s.attempt, s.max_attempts, s.worker, s.cancel_requested ? "yes" : "no", s.log_end);
                if (s.output)
                        printf("output: %s\n", s.output);
                if (s.error)
                        printf("error: %s\n", s.error);
                status = strcmp(s.state, "failed") == 0 || strcmp(s.state, "cancelled") == 0 ? CAIRN_EXIT_FAILURE
                                                                                            : CAIRN_EXIT_OK;
                cairn_cluster_job_status_release(&s);
        } else {
                int r = cairn_cluster_job_cancel(cl, id, &err);
                if (r < 0)
                        goto fail;
                static const char *const what[] = { "no such job", "cancelled", "cancel requested", "already finished" };
                fprintf(stderr, "job %lld: %s\n", id, what[r]);
                status = r == 1 || r == 2 ? CAIRN_EXIT_OK : CAIRN_EXIT_FAILURE;
        }
        goto out;
fail:
        fprintf(stderr, "cairn job %s: ", sub);
        cairn_cli_report(err);
out:
        cairn_cluster_close(cl);
        return status;
}
