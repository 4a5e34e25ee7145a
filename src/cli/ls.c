/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_ls_verb = {
        .name = "ls",
        .run = cmd_ls,
        .summary = "list the results in the store",
        .help = "Usage: cairn ls [--store=KIND:PATH] [--total]\n"
                "\n"
                "One line per result, least recently used first: its ID, its parent, the\n"
                "disk space of its own layer, when it was created and last used (UTC), and\n"
                "how many results are built on it.\n"
                "\n"
                "      --total              also TOTAL, the space of the result's whole chain\n"
                "                           (its layer and its ancestors'; on stores whose\n"
                "                           results are whole roots, its own)\n"
                CAIRN_CLI_STORE_HELP,
};

static void human(unsigned long long b, char out[16])
{
        const char *units = "BKMGT";
        double v = (double) b;
        int u = 0;
        while (v >= 1024 && u < 4) {
                v /= 1024;
                u++;
        }
        snprintf(out, 16, u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

struct listed {
        char id[65];
        char parent[65];
        char *created, *used;
        long children;
        unsigned long long bytes;
};

struct listing {
        struct listed *v;
        size_t n;
};

static int collect(const struct cairn_result_info *r, void *ud)
{
        struct listing *l = ud;
        l->v = cairn_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
        struct listed *x = &l->v[l->n++];
        snprintf(x->id, sizeof(x->id), "%s", r->id);
        snprintf(x->parent, sizeof(x->parent), "%s", r->parent);
        x->created = cairn_xstrdup(r->created);
        x->used = cairn_xstrdup(r->used);
        x->children = r->children;
        x->bytes = r->bytes;
        return 0;
}

static int by_id(const void *a, const void *b)
{
        return strcmp(((const struct listed *) a)->id, ((const struct listed *) b)->id);
}

int cmd_ls(int argc, char **argv)
{
        static const struct option options[] = {
                CAIRN_CLI_STORE_OPT_OPTIONS,
                { "total", no_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool total = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":", options, NULL)) >= 0) {
                if (cairn_cli_store_opt(c, optarg))
                        continue;
                if (c == 't') {
                        total = true;
                        continue;
                }
                return cairn_cli_bad_option("ls", c, argv);
        }
        if (optind != argc)
                return cairn_cli_usage_error("ls", "unexpected argument \"%s\"", argv[optind]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        struct listing l = { 0 };
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_list(e, collect, &l, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        }
        /* The chain's space: looked up by ID in a sorted copy. */
        struct listed *sorted = cairn_xreallocarray(NULL, l.n ? l.n : 1, sizeof(*sorted));
        memcpy(sorted, l.v, l.n * sizeof(*sorted));
        qsort(sorted, l.n, sizeof(*sorted), by_id);
        bool layered = cairn_engine_results_layered(e);
        printf("%-64s  %-12s  %8s  %-19s  %-19s  %8s%s\n", "ID", "PARENT", "SIZE", "CREATED", "USED", "CHILDREN",
               total ? "     TOTAL" : "");
        for (size_t i = 0; status == CAIRN_EXIT_OK && i < l.n; i++) {
                const struct listed *x = &l.v[i];
                char size[16], sum[16] = "";
                human(x->bytes, size);
                if (total) {
                        unsigned long long t = x->bytes;
                        const struct listed *p = x;
                        /* Bounded: a database with a cycle must not hang ls. */
                        for (size_t depth = 0; layered && p->parent[0] && depth < l.n; depth++) {
                                struct listed key;
                                snprintf(key.id, sizeof(key.id), "%s", p->parent);
                                p = bsearch(&key, sorted, l.n, sizeof(*sorted), by_id);
                                if (!p)
                                        break;
                                t += p->bytes;
                        }
                        human(t, sum);
                }
                printf("%-64s  %-12.12s  %8s  %s  %s  %8ld%s%s\n", x->id, x->parent[0] ? x->parent : "-", size,
                       x->created, x->used, x->children, total ? "  " : "", total ? sum : "");
        }
        for (size_t i = 0; i < l.n; i++) {
                free(l.v[i].created);
                free(l.v[i].used);
        }
        free(l.v);
        free(sorted);
        cairn_engine_close(e);
        return status;
}
