/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The diff layers of the step cache, for tests/integration/diff-layer.sh:
 *
 *   layer-tool diff STORE ID PARENT|- BLOBROOT
 *       engine_diff_layer; prints "DIGEST DIFF_ID SIZE"
 *   layer-tool apply ROOTDIR BLOB...
 *       each blob in turn with the hardened extractor (cairn_extract_layer)
 *   layer-tool view STORE ID COMMAND [ARG...]
 *       run COMMAND ARG... ROOT, ROOT the store's view of ID's whole root
 *
 * STORE is "KIND:PATH"; $CAIRN_STORE_OPTS, split on blanks, are the store's
 * options, as for cairn.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/tar.h"
#include "engine/engine-internal.h"
#include "fetch/extract.h"

static int fail(struct cairn_error *err)
{
        fprintf(stderr, "layer-tool: %s\n", err ? err->message : "failed");
        cairn_error_free(err);
        return 1;
}

static int open_engine(const char *spec, struct cairn_engine **ret)
{
        char *opts[64] = { NULL };
        size_t n = 0;
        _cleanup_free_ char *env = cairn_xstrdup(getenv("CAIRN_STORE_OPTS") ? getenv("CAIRN_STORE_OPTS") : "");
        for (char *save = NULL, *w = strtok_r(env, " \t\n", &save); w && n < 63; w = strtok_r(NULL, " \t\n", &save))
                opts[n++] = w;
        struct cairn_error *err = NULL;
        if (cairn_engine_open(spec, n ? (const char *const *) opts : NULL, ret, &err) < 0)
                return fail(err);
        return 0;
}

static int cmd_view(int argc, char **argv)
{
        struct cairn_engine *e = NULL;
        if (open_engine(argv[0], &e))
                return 1;
        struct cairn_error *err = NULL;
        char *root = NULL;
        void *handle = NULL;
        engine_step_lock(e, argv[1], CAIRN_LOCK_SHARED, true);
        if (cairn_store_view(cairn_engine_store(e), argv[1], &root, &handle, &err) < 0) {
                cairn_engine_close(e);
                return fail(err);
        }
        char **args = cairn_xzalloc((size_t) (argc + 1) * sizeof(char *));
        for (int i = 2; i < argc; i++)
                args[i - 2] = argv[i];
        args[argc - 2] = root;
        int status = 1;
        pid_t pid = fork();
        if (pid == 0) {
                execvp(args[0], args);
                _exit(127);
        }
        if (pid > 0 && waitpid(pid, &status, 0) == pid)
                status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        free(args);
        cairn_store_view_release(cairn_engine_store(e), handle);
        free(root);
        cairn_engine_close(e);
        return status;
}

static int cmd_diff(char **argv)
{
        struct cairn_error *err = NULL;
        struct cairn_engine *e = NULL;
        if (open_engine(argv[0], &e))
                return 1;
        const char *id = argv[1];
        const char *parent = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
        /* What the caller of engine_diff_layer holds. */
        engine_step_lock(e, id, CAIRN_LOCK_SHARED, true);
        if (parent)
                engine_step_lock(e, parent, CAIRN_LOCK_SHARED, true);
        struct engine_layer l;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = engine_diff_layer(e, parent, id, argv[3], &l, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cairn_engine_close(e);
        if (r < 0)
                return fail(err);
        printf("%s %s %" PRIu64 "\n", l.digest, l.diff_id, l.size);
        fprintf(stderr, "layer-tool: diff in %.3f s\n",
                (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        return 0;
}

static int cmd_apply(int argc, char **argv)
{
        int rootfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                fprintf(stderr, "layer-tool: cannot open \"%s\": %s\n", argv[0], strerror(errno));
                return 1;
        }
        for (int i = 1; i < argc; i++) {
                struct cairn_error *err = NULL;
                if (cairn_extract_layer(rootfd, argv[i], NULL, NULL, &err) < 0) {
                        close(rootfd);
                        return fail(err);
                }
        }
        close(rootfd);
        return 0;
}

int main(int argc, char **argv)
{
        cairn_tar_locale();
        if (argc == 6 && strcmp(argv[1], "diff") == 0)
                return cmd_diff(argv + 2);
        if (argc >= 3 && strcmp(argv[1], "apply") == 0)
                return cmd_apply(argc - 2, argv + 2);
        if (argc >= 5 && strcmp(argv[1], "view") == 0)
                return cmd_view(argc - 2, argv + 2);
        fprintf(stderr, "usage: layer-tool diff STORE ID PARENT|- BLOBROOT | apply ROOTDIR BLOB... | "
                        "view STORE ID COMMAND [ARG...]\n");
        return 2;
}
