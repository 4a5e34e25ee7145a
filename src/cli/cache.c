/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn cache`: the step cache kept in a registry repository, one image
 * manifest per step tagged with the step ID (fetch/repo.h). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/units.h"
#include "cli/cli.h"
#include "fetch/repo.h"

#define CREATED_ANNOTATION "org.opencontainers.image.created"

static int cache_ls(int argc, char **argv);
static int cache_prune(int argc, char **argv);

/* The subcommands; `cairn cache NAME ...` runs fn with argv[0] = NAME. */
static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} subcommands[] = {
        { "push", cairn_cli_cache_push, "push one step (and the layers of its chain) to a step cache" },
        { "pull", cairn_cli_cache_pull, "pull one step (and what of its chain the store lacks)" },
        { "ls", cache_ls, "list the step results in a registry repository" },
        { "prune", cache_prune, "delete old step results from a registry repository" },
};

const struct cairn_verb cairn_cache_verb = {
        .name = "cache",
        .run = cmd_cache,
        .summary = "list and prune the step cache in a registry",
        .help = "Usage: cairn cache push [--repo=REGISTRY/REPO] [--share-secret-steps] [OPTIONS] ID\n"
                "       cairn cache pull [--repo=REGISTRY/REPO] [OPTIONS] ID\n"
                "       cairn cache ls [--remote] [--quiet] [OPTIONS] REGISTRY/REPO\n"
                "       cairn cache prune --remote --older-than=DURATION [--dry-run] [OPTIONS] REGISTRY/REPO\n"
                "\n"
                "A registry repository can hold build steps' results, one OCI image manifest\n"
                "per step, tagged with its 64-hex step ID (its log as the tag ID-log).\n"
                "\n"
                "push sends step ID of the store, with the layers of its chain, its config\n"
                "and its log, to the repository (--repo, or the store's cache-to); a step\n"
                "that mounted secrets, or is built on one, is refused unless\n"
                "--share-secret-steps.  pull takes step ID (and the steps of its chain the\n"
                "store lacks) from the repository (--repo, or the store's first cache-from).\n"
                "See docs/step-cache.md.\n"
                "\n"
                "ls prints one line per step: ID, its manifest's creation time\n"
                "(org.opencontainers.image.created) and the size of its layers in bytes;\n"
                "--quiet prints the IDs alone.\n"
                "\n"
                "prune deletes (by digest) each step manifest created longer than DURATION\n"
                "ago (30s, 15m, 12h, 14d), and its log's, and prints what it deleted.  The\n"
                "registry must allow deletes (distribution: storage: delete: enabled: true);\n"
                "its blobs are freed by the registry's garbage collection (docker-registry\n"
                "garbage-collect CONFIG, with the registry stopped or read-only).  --remote\n"
                "is required: `cairn prune` prunes the local store.\n"
                "\n"
                "      --remote             the registry's cache (the only one for now)\n"
                "      --quiet, -q          ls: the step IDs only\n"
                "      --older-than=DURATION  prune: what was created longer ago\n"
                "      --dry-run, -n        prune: say what would be deleted, delete nothing\n"
                "      --registry-auth=USER:PASSWORD|@FILE|-  credentials, given or read from FILE or\n"
                "                           standard input (default ~/.docker/config.json)\n"
                "      --insecure-registry=HOST  allow plain HTTP to HOST (loopback always may)\n",
};

static bool is_step_id(const char *tag)
{
        return cairn_is_sha256_hex(tag);
}

/* RFC 3339 (2026-12-07T08:00:00Z, with fractions and offsets) as a time;
 * false if it is not one. */
static bool parse_rfc3339(const char *s, time_t *ret)
{
        struct tm tm = { 0 };
        int n = 0;
        if (!s || sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                         &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0)
                return false;
        const char *p = s + n;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        long offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int hh, mm, k = 0;
                if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5)
                        return false;
                offset = (hh * 60L + mm) * 60L * (*p == '-' ? -1 : 1);
                p += 1 + k;
        } else {
                return false;
        }
        if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
                return false;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *ret = timegm(&tm) - offset;
        return true;
}

/* A step's manifest: its digest, created annotation (or NULL) and the sum
 * of its layers' sizes.  1, 0 when it went away, < 0. */
struct step {
        char *digest;
        char *created;
        unsigned long long size;
};

static void step_release(struct step *s)
{
        free(s->digest);
        free(s->created);
        memset(s, 0, sizeof(*s));
}

static int read_step(struct cairn_repo *r, const char *id, struct step *ret, struct cairn_error **err)
{
        _cleanup_free_ char *body = NULL;
        size_t len = 0;
        char *digest = NULL;
        int rc = cairn_repo_manifest_get(r, id, &body, &len, &digest, NULL, err);
        if (rc <= 0)
                return rc;
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        if (!j) {
                free(digest);
                return cairn_error_set(err, -EINVAL, "%s: the manifest %s is not valid JSON: %s", cairn_repo_name(r),
                                       id, je.text);
        }
        const char *created = json_string_value(json_object_get(json_object_get(j, "annotations"),
                                                                 CREATED_ANNOTATION));
        unsigned long long size = 0;
        size_t i;
        json_t *layer;
        json_array_foreach(json_object_get(j, "layers"), i, layer) {
                json_int_t s = json_integer_value(json_object_get(layer, "size"));
                if (s > 0)
                        size += (unsigned long long) s;
        }
        *ret = (struct step) { .digest = digest, .created = created ? cairn_xstrdup(created) : NULL, .size = size };
        json_decref(j);
        return 1;
}

static void print_line(const char *line, void *ud)
{
        (void) ud;
        fputs(line, stderr);
}

enum { OPT_REMOTE = 256, OPT_OLDER_THAN, OPT_DRY_RUN, OPT_QUIET };

/* The options both take; *ret_operand the one REGISTRY/REPO.  -1 after a
 * usage error. */
static int parse(const char *verb, int argc, char **argv, struct cairn_registry_options *o, bool *remote,
                 bool *quiet, const char **older_than, bool *dry_run, const char **ret_operand)
{
        static const struct option ls_options[] = {
                CAIRN_CLI_REGISTRY_OPTIONS,
                { "remote", no_argument, NULL, OPT_REMOTE },
                { "quiet", no_argument, NULL, OPT_QUIET },
                {},
        };
        static const struct option prune_options[] = {
                CAIRN_CLI_REGISTRY_OPTIONS,
                { "remote", no_argument, NULL, OPT_REMOTE },
                { "older-than", required_argument, NULL, OPT_OLDER_THAN },
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                {},
        };
        /* ls has quiet, prune older_than and dry_run. */
        const struct option *options = quiet ? ls_options : prune_options;
        const char *shorts = quiet ? ":q" : ":n";
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, shorts, options, NULL)) >= 0) {
                if (c != CAIRN_OPT_PLATFORM && cairn_cli_registry_option(c, optarg, o))
                        continue;
                switch (c) {
                case OPT_REMOTE:
                        *remote = true;
                        break;
                case OPT_QUIET:
                case 'q':
                        *quiet = true;
                        break;
                case OPT_OLDER_THAN:
                        *older_than = optarg;
                        break;
                case OPT_DRY_RUN:
                case 'n':
                        *dry_run = true;
                        break;
                default:
                        cairn_cli_bad_option(verb, c, argv);
                        return -1;
                }
        }
        if (argc - optind != 1) {
                cairn_cli_usage_error(verb, argc == optind ? "expected REGISTRY/REPO" : "expected one REGISTRY/REPO, "
                                      "not \"%s\" too", argv[argc - 1]);
                return -1;
        }
        *ret_operand = argv[optind];
        return 0;
}

static int open_repo(const char *name, bool push, struct cairn_registry_options *o, struct cairn_repo **ret)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        o->log = print_line;
        if (cairn_repo_open(name, push, o, ret, &err) < 0) {
                cairn_cli_report(err);
                return -1;
        }
        return 0;
}

static int cache_ls(int argc, char **argv)
{
        struct cairn_registry_options o = { 0 };
        bool remote = false, quiet = false;
        const char *name = NULL;
        if (parse("cache ls", argc, argv, &o, &remote, &quiet, NULL, NULL, &name) < 0) {
                cairn_cli_registry_options_free(&o);
                return CAIRN_EXIT_USAGE;
        }
        struct cairn_repo *r = NULL;
        if (open_repo(name, false, &o, &r) < 0) {
                cairn_cli_registry_options_free(&o);
                return CAIRN_EXIT_FAILURE;
        }
        _cleanup_error_ struct cairn_error *err = NULL;
        char **tags = NULL;
        int status = CAIRN_EXIT_OK;
        if (cairn_repo_tags(r, &tags, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        }
        for (size_t i = 0; tags && tags[i] && status == CAIRN_EXIT_OK; i++) {
                if (!is_step_id(tags[i]))
                        continue;
                if (quiet) {
                        printf("%s\n", tags[i]);
                        continue;
                }
                struct step s = { 0 };
                int rc = read_step(r, tags[i], &s, &err);
                if (rc < 0) {
                        cairn_cli_report(err);
                        status = CAIRN_EXIT_FAILURE;
                } else if (rc > 0) {
                        printf("%s  %s  %llu\n", tags[i], s.created ? s.created : "-", s.size);
                }
                step_release(&s);
        }
        cairn_strv_free(tags);
        cairn_repo_close(r);
        cairn_cli_registry_options_free(&o);
        return status;
}

static bool has_tag(char **tags, const char *tag)
{
        for (size_t i = 0; tags[i]; i++)
                if (strcmp(tags[i], tag) == 0)
                        return true;
        return false;
}

/* Delete tag's manifest (its digest is *digest, else looked up): 1 deleted,
 * 0 it was gone, < 0 reported. */
static int delete_tag(struct cairn_repo *r, const char *tag, const char *digest)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        _cleanup_free_ char *looked_up = NULL;
        int rc = 1;
        if (!digest) {
                rc = cairn_repo_manifest_head(r, tag, &looked_up, &err);
                if (rc > 0 && !looked_up)
                        rc = cairn_error_set(&err, -EIO, "%s: the registry gave no digest for %s", cairn_repo_name(r),
                                             tag);
                digest = looked_up;
        }
        if (rc > 0)
                rc = cairn_repo_manifest_delete(r, digest, &err);
        if (rc < 0)
                cairn_cli_report(err);
        return rc;
}

static int cache_prune(int argc, char **argv)
{
        struct cairn_registry_options o = { 0 };
        bool remote = false, dry_run = false;
        const char *name = NULL, *older_than = NULL;
        int status = CAIRN_EXIT_USAGE;
        long long ms = 0;
        struct cairn_repo *r = NULL;
        _cleanup_error_ struct cairn_error *err = NULL;
        char **tags = NULL;
        if (parse("cache prune", argc, argv, &o, &remote, NULL, &older_than, &dry_run, &name) < 0)
                goto out;
        if (!remote) {
                cairn_cli_usage_error("cache prune", "--remote is required (a local prune is `cairn prune`)");
                goto out;
        }
        if (!older_than) {
                cairn_cli_usage_error("cache prune", "--older-than=DURATION is required");
                goto out;
        }
        if (cairn_parse_duration_ms(older_than, &ms) < 0) {
                cairn_cli_usage_error("cache prune", "--older-than: \"%s\" is not a duration (30s, 15m, 12h, 14d)",
                                      older_than);
                goto out;
        }
        status = CAIRN_EXIT_FAILURE;
        if (open_repo(name, !dry_run, &o, &r) < 0)
                goto out;
        status = CAIRN_EXIT_OK;
        time_t cutoff = time(NULL) - (time_t) (ms / 1000);
        if (cairn_repo_tags(r, &tags, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
                goto out;
        }
        size_t steps = 0, logs = 0, kept = 0;
        const char *would = dry_run ? "Would delete" : "Deleted";
        for (size_t i = 0; tags[i]; i++) {
                if (!is_step_id(tags[i]))
                        continue;
                struct step s = { 0 };
                int rc = read_step(r, tags[i], &s, &err);
                if (rc < 0) {
                        cairn_cli_report(err);
                        cairn_error_free(err);
                        err = NULL;
                        status = CAIRN_EXIT_FAILURE;
                        continue;
                }
                time_t created;
                if (rc == 0) {
                        /* Gone since the list was read. */
                } else if (!parse_rfc3339(s.created, &created)) {
                        fprintf(stderr, "cairn cache prune: %s: keeping %s: its manifest has no valid %s (%s)\n",
                                cairn_repo_name(r), tags[i], CREATED_ANNOTATION, s.created ? s.created : "none");
                        kept++;
                } else if (created >= cutoff) {
                        kept++;
                } else {
                        rc = dry_run ? 1 : delete_tag(r, tags[i], s.digest);
                        if (rc < 0)
                                status = CAIRN_EXIT_FAILURE;
                        if (rc > 0) {
                                printf("%s %s (created %s)\n", would, tags[i], s.created);
                                steps++;
                        }
                        _cleanup_free_ char *log = cairn_xasprintf("%s-log", tags[i]);
                        if (rc >= 0 && has_tag(tags, log)) {
                                rc = dry_run ? 1 : delete_tag(r, log, NULL);
                                if (rc < 0)
                                        status = CAIRN_EXIT_FAILURE;
                                if (rc > 0) {
                                        printf("%s %s\n", would, log);
                                        logs++;
                                }
                        }
                }
                fflush(stdout);
                step_release(&s);
        }
        printf("%s %zu step result%s and %zu log%s from %s (%zu kept)%s\n", would, steps, steps == 1 ? "" : "s", logs,
               logs == 1 ? "" : "s", cairn_repo_name(r), kept,
               dry_run ? "" : "; the registry's garbage-collect frees their blobs");
out:
        cairn_strv_free(tags);
        cairn_repo_close(r);
        cairn_cli_registry_options_free(&o);
        return status;
}

int cmd_cache(int argc, char **argv)
{
        _cleanup_free_ char *names = NULL;
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(subcommands); i++) {
                char *more = cairn_xasprintf("%s%s%s", names ? names : "", i == 0 ? "" :
                                             i + 1 == CAIRN_ARRAY_SIZE(subcommands) ? " or " : ", ", subcommands[i].name);
                free(names);
                names = more;
        }
        if (argc < 2)
                return cairn_cli_usage_error("cache", "expected %s", names);
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(subcommands); i++)
                if (strcmp(argv[1], subcommands[i].name) == 0)
                        return subcommands[i].fn(argc - 1, argv + 1);
        return cairn_cli_usage_error("cache", "unknown subcommand \"%s\": expected %s", argv[1], names);
}
