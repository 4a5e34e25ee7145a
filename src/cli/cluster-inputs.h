/* SPDX-License-Identifier: Apache-2.0 */
/* What `cairn submit` sends besides the spec (a context, sealed secrets),
 * and `cairn cluster keygen` (cli/cluster-inputs.c, docs/cluster.md). */
#ifndef CAIRN_CLI_CLUSTER_INPUTS_H
#define CAIRN_CLI_CLUSTER_INPUTS_H

#include <stddef.h>

#include "cluster/cluster.h"

struct cairn_cli_submit_inputs {
        /* In, from the command line (borrowed). */
        const char *context;       /* directory, or NULL */
        const char *context_repo;  /* REGISTRY/REPO, or NULL */
        const char **secret_args;  /* ID:FILE */
        size_t n_secret_args;
        /* Out. */
        char *context_json;
        unsigned char *sealed;
        size_t sealed_len;
};

/* Check what needs no database (a usage error is CAIRN_EXIT_USAGE, after a
 * message); 0 when fine. */
int cairn_cli_submit_inputs_check(struct cairn_cli_submit_inputs *in);

/* Seal the secrets to pool's key and upload the context; prints why on
 * failure and returns CAIRN_EXIT_FAILURE, else 0. */
int cairn_cli_submit_inputs_prepare(struct cairn_cluster *cl, const char *pool, struct cairn_cli_submit_inputs *in);
void cairn_cli_submit_inputs_release(struct cairn_cli_submit_inputs *in);

/* `cairn cluster keygen` (argv as cmd_cluster has it, "keygen" among them). */
int cairn_cli_cluster_keygen(int argc, char **argv);

#endif
