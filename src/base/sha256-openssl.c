/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 with OpenSSL's libcrypto (sha256-bcrypt.c on Windows), linked
 * statically: only the digest's code comes in (with OpenSSL's assembly for
 * the CPU's SHA extensions), no shared library is loaded at start-up, and
 * the one-shot functions need no provider, config file or allocation --
 * a cached build hashes every step's ID, so this is on every run's path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "base/hash.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct cairn_sha256 *) 0)->ctx), "SHA256_CTX fits");

static _Noreturn void crypto_failure(void)
{
        fputs("cairn: libcrypto failed to compute SHA-256\n", stderr);
        abort();
}

void cairn_sha256_init(struct cairn_sha256 *h)
{
        if (SHA256_Init((SHA256_CTX *) h->ctx) != 1)
                crypto_failure();
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t len)
{
        if (len && SHA256_Update((SHA256_CTX *) h->ctx, data, len) != 1)
                crypto_failure();
}

void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        unsigned char md[SHA256_DIGEST_LENGTH];
        if (SHA256_Final(md, (SHA256_CTX *) h->ctx) != 1)
                crypto_failure();
        cairn_hex_encode(md, sizeof(md), out);
}
