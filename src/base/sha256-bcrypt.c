/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 with Windows' CNG (bcrypt.dll), so the Windows build needs no
 * OpenSSL: the same IDs as src/base/sha256-openssl.c. */
#include "base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
#include <bcrypt.h>

static _Noreturn void crypto_failure(void)
{
        fputs("cairn: Windows CNG failed to compute SHA-256\n", stderr);
        abort();
}

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static BCRYPT_ALG_HANDLE provider;

static BOOL CALLBACK open_provider(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
        return BCRYPT_SUCCESS(BCryptOpenAlgorithmProvider(&provider, BCRYPT_SHA256_ALGORITHM, NULL, 0));
}

void cairn_sha256_init(struct cairn_sha256 *h)
{
        BCRYPT_HASH_HANDLE hash = NULL;
        /* One provider for the process, opened once (hashes may be made
         * on several threads). */
        if (!InitOnceExecuteOnce(&once, open_provider, NULL, NULL) ||
            !BCRYPT_SUCCESS(BCryptCreateHash(provider, &hash, NULL, 0, NULL, 0, 0)))
                crypto_failure();
        h->ctx = hash;
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t len)
{
        const unsigned char *p = data;
        while (len) {
                ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG) len;
                if (!BCRYPT_SUCCESS(BCryptHashData(h->ctx, (PUCHAR) p, n, 0)))
                        crypto_failure();
                p += n;
                len -= n;
        }
}

void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        unsigned char md[32];
        if (!BCRYPT_SUCCESS(BCryptFinishHash(h->ctx, md, sizeof(md), 0)))
                crypto_failure();
        BCryptDestroyHash(h->ctx);
        h->ctx = NULL;
        cairn_hex_encode(md, 32, out);
}
