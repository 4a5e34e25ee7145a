/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 with OpenSSL's libcrypto (windows/sha256-bcrypt.c on Windows). */
#include "base/hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

static _Noreturn void crypto_failure(void)
{
        fputs("cairn: libcrypto failed to compute SHA-256\n", stderr);
        abort();
}

void cairn_sha256_init(struct cairn_sha256 *h)
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                crypto_failure();
        h->ctx = ctx;
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t len)
{
        if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
                crypto_failure();
}

void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        unsigned char md[32];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
                crypto_failure();
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
        cairn_hex_encode(md, 32, out);
}

