/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <sys/statvfs.h>

#include "base/cleanup.h"
#include "engine/engine.h"
#include "cli/cli.h"

const struct cairn_verb cairn_du_verb = {
        .name = "du",
        .run = cmd_du,
        .summary = "show the store's results, disk use and cache hit rate",
        .help = "Usage: cairn du [--store=KIND:PATH]\n"
                "\n"
                "How many results the store holds, the disk space they use, the space left on\n"
                "the store's filesystem (on btrfs, with the deleted subvolumes whose space the\n"
                "filesystem is still freeing), and how often steps came from the cache.\n"
                "\n" CAIRN_CLI_STORE_HELP,
};

static int add(const struct cairn_result_info *r, void *ud)
{
        *(unsigned long long *) ud += r->bytes;
        return 0;
}

int cmd_du(int argc, char **argv)
{
        int first = cairn_cli_store_options("du", argc, argv);
        if (first < 0)
                return CAIRN_EXIT_USAGE;
        if (first != argc)
                return cairn_cli_usage_error("du", "unexpected argument \"%s\"", argv[first]);
        struct cairn_engine *e = cairn_cli_open_engine();
        if (!e)
                return CAIRN_EXIT_FAILURE;
        _cleanup_error_ struct cairn_error *err = NULL;
        unsigned long long bytes = 0;
        int status = CAIRN_EXIT_OK;
        if (cairn_engine_list(e, add, &bytes, &err) < 0) {
                cairn_cli_report(err);
                status = CAIRN_EXIT_FAILURE;
        } else {
                long hits = cairn_engine_stat(e, "hits"), misses = cairn_engine_stat(e, "misses");
                struct statvfs sv;
                unsigned long long free_b = 0;
                double pct = 0;
                if (statvfs(cairn_engine_store_root(e), &sv) == 0) {
                        free_b = (unsigned long long) sv.f_bavail * sv.f_frsize;
                        pct = sv.f_blocks ? 100.0 * (double) sv.f_bavail / (double) sv.f_blocks : 0;
                }
                printf("results: %ld\n", cairn_engine_count(e));
                printf("disk use: %llu bytes\n", bytes);
                printf("free: %llu bytes (%.1f%%)\n", free_b, pct);
                /* btrfs frees a deleted result's space after the delete
                 * returns: the free space above does not count it yet. */
                long pending = cairn_engine_pending_deletes(e);
                if (pending >= 0)
                        printf("pending deletes: %ld (space the filesystem is still freeing)\n", pending);
                printf("cache hits: %ld, misses: %ld, hit rate: %.1f%%\n", hits, misses,
                       hits + misses ? 100.0 * (double) hits / (double) (hits + misses) : 0.0);
        }
        cairn_engine_close(e);
        return status;
}
