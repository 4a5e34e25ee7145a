/* SPDX-License-Identifier: Apache-2.0 */
/* `cairn submit`'s context and secrets, and `cairn cluster keygen`
 * (cli/cluster-inputs.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/hash.h"
#include "cli/cli.h"
#include "cli/cluster-inputs.h"
#include "cluster/context.h"
#include "cluster/seal.h"
#include "fetch/fetcher.h"

int cairn_cli_submit_inputs_check(struct cairn_cli_submit_inputs *in)
{
        const char *why;
        for (size_t i = 0; i < in->n_secret_args; i++) {
                /* cairn build --secret's syntax. */
                const char *colon = strchr(in->secret_args[i], ':');
                if (!colon || colon == in->secret_args[i] || !colon[1])
                        return cairn_cli_usage_error("submit", "--secret takes ID:FILE, not \"%s\"",
                                                     in->secret_args[i]);
        }
        if (!in->context)
                return 0;
        if (!in->context_repo)
                in->context_repo = getenv("CAIRN_CONTEXT_REPO");
        if (!in->context_repo || !in->context_repo[0])
                return cairn_cli_usage_error("submit", "a context needs a registry repository to travel through: "
                                                       "--context-repo=REGISTRY/REPO (or $CAIRN_CONTEXT_REPO)");
        if (!cairn_cache_repo_valid(in->context_repo, &why))
                return cairn_cli_usage_error("submit", "--context-repo takes a repository REGISTRY/PATH, not \"%s\": %s",
                                             in->context_repo, why);
        if (access(in->context, R_OK | X_OK) < 0) {
                fprintf(stderr, "cairn submit: cannot use the context directory \"%s\": %s\n", in->context,
                        strerror(errno));
                return CAIRN_EXIT_USAGE;
        }
        return 0;
}

int cairn_cli_submit_inputs_prepare(struct cairn_cluster *cl, const char *pool, struct cairn_cli_submit_inputs *in)
{
        _cleanup_error_ struct cairn_error *err = NULL;
        if (in->n_secret_args) {
                unsigned char pub[CAIRN_SEAL_KEY_LEN];
                int r = cairn_cluster_pool_key(cl, pool, pub, &err);
                if (r < 0)
                        goto fail;
                if (r == 0) {
                        fprintf(stderr, "cairn submit: pool \"%s\" has no key to seal secrets to: run 'cairn cluster "
                                        "keygen --pool %s --out KEYFILE' and start its workers with "
                                        "--pool-key KEYFILE\n", pool, pool);
                        return CAIRN_EXIT_FAILURE;
                }
                struct cairn_secret *s = cairn_xzalloc(in->n_secret_args * sizeof(*s));
                for (size_t i = 0; i < in->n_secret_args && r >= 0; i++) {
                        const char *colon = strchr(in->secret_args[i], ':');
                        s[i].id = cairn_xstrndup(in->secret_args[i], (size_t) (colon - in->secret_args[i]));
                        char *data = NULL;
                        size_t len = 0;
                        r = cairn_read_file(colon + 1, 1 << 20, &data, &len, &err);
                        if (r < 0)
                                cairn_error_prefix(&err, "secret \"%s\"", s[i].id);
                        s[i].value = data;
                        s[i].len = len;
                }
                if (r >= 0)
                        r = cairn_seal_secrets(pub, pool, s, in->n_secret_args, &in->sealed, &in->sealed_len, &err);
                cairn_seal_secrets_free(s, in->n_secret_args);
                if (r < 0)
                        goto fail;
        }
        if (in->context) {
                bool uploaded = false;
                if (cairn_cluster_context_upload(in->context, in->context_repo, &in->context_json, &uploaded, &err) < 0)
                        goto fail;
                fprintf(stderr, "context %s\n", uploaded ? "uploaded" : "already in the registry");
        }
        return 0;
fail:
        fprintf(stderr, "cairn submit: ");
        cairn_cli_report(err);
        return CAIRN_EXIT_FAILURE;
}

void cairn_cli_submit_inputs_release(struct cairn_cli_submit_inputs *in)
{
        free(in->context_json);
        free(in->sealed);
        in->context_json = NULL;
        in->sealed = NULL;
}

int cairn_cli_cluster_keygen(int argc, char **argv)
{
        static const struct option options[] = {
                { "db", required_argument, NULL, 'd' },
                { "pool", required_argument, NULL, 'p' },
                { "out", required_argument, NULL, 'o' },
                { "rotate", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *db = NULL, *pool = NULL, *out = NULL;
        bool rotate = false;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'd': db = optarg; break;
                case 'p': pool = optarg; break;
                case 'o': out = optarg; break;
                case 'r': rotate = true; break;
                default: return cairn_cli_bad_option("cluster", c, argv);
                }
        }
        if (optind != argc - 1 || strcmp(argv[optind], "keygen") != 0)
                return cairn_cli_usage_error("cluster", "keygen takes no argument but its options");
        if (!db)
                db = getenv("CAIRN_DB");
        if (!db || !pool || !pool[0] || !out)
                return cairn_cli_usage_error("cluster", "keygen needs --db=URL (or $CAIRN_DB), --pool=POOL and "
                                                        "--out=KEYFILE");
        _cleanup_error_ struct cairn_error *err = NULL;
        struct cairn_cluster *cl = NULL;
        if (cairn_cluster_connect(db, false, &cl, &err) < 0) {
                fprintf(stderr, "cairn cluster keygen: ");
                cairn_cli_report(err);
                return CAIRN_EXIT_FAILURE;
        }
        unsigned char pub[CAIRN_SEAL_KEY_LEN];
        if (!rotate) {
                int r = cairn_cluster_pool_key(cl, pool, pub, &err);
                if (r != 0) {
                        if (r > 0)
                                fprintf(stderr, "cairn cluster keygen: pool \"%s\" has a key already: --rotate "
                                                "replaces it (jobs sealed to the old key then fail)\n", pool);
                        else
                                cairn_cli_report(err);
                        cairn_cluster_close(cl);
                        return CAIRN_EXIT_FAILURE;
                }
        }
        /* The private key never overwrites a file, and is never readable
         * by anyone else, not even for a moment. */
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                fprintf(stderr, "cairn cluster keygen: \"%s\": %s%s\n", out, strerror(errno),
                        errno == EEXIST ? " (refusing to overwrite a key file)" : "");
                cairn_cluster_close(cl);
                return CAIRN_EXIT_FAILURE;
        }
        char *pem = NULL;
        size_t len = 0;
        int status = CAIRN_EXIT_FAILURE;
        if (cairn_seal_keygen(&pem, &len, pub, &err) < 0) {
                fprintf(stderr, "cairn cluster keygen: ");
                cairn_cli_report(err);
        } else if (write(fd, pem, len) != (ssize_t) len || fsync(fd) < 0) {
                fprintf(stderr, "cairn cluster keygen: writing \"%s\": %s\n", out, strerror(errno));
        } else {
                int r = cairn_cluster_set_pool_key(cl, pool, pub, rotate, &err);
                if (r < 0) {
                        fprintf(stderr, "cairn cluster keygen: ");
                        cairn_cli_report(err);
                } else if (r == 0) {
                        fprintf(stderr, "cairn cluster keygen: pool \"%s\" has a key already: --rotate replaces it\n",
                                pool);
                } else {
                        char hex[CAIRN_SHA256_HEX_LEN + 1];
                        cairn_sha256_hex(pub, sizeof(pub), hex);
                        fprintf(stderr, "cairn cluster keygen: pool \"%s\": %s key written to \"%s\" (public key "
                                        "sha256:%.16s)\n", pool, rotate ? "new" : "a", out, hex);
                        status = CAIRN_EXIT_OK;
                }
        }
        if (pem) {
                OPENSSL_cleanse(pem, len);
                free(pem);
        }
        close(fd);
        if (status != CAIRN_EXIT_OK)
                unlink(out);
        cairn_cluster_close(cl);
        return status;
}
