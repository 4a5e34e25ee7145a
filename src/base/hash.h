/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 as lowercase hex: the form of every cairn ID.  The digest is
 * OpenSSL's libcrypto (sha256-openssl.c), or Windows' CNG
 * (windows/sha256-bcrypt.c). */
#ifndef CAIRN_BASE_HASH_H
#define CAIRN_BASE_HASH_H

#include <stddef.h>

#define CAIRN_SHA256_HEX_LEN 64

struct cairn_sha256 {
        void *ctx;   /* the backend's: an EVP_MD_CTX, or a CNG hash */
};

void cairn_sha256_init(struct cairn_sha256 *h);
void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t len);
/* Write 64 hex digits and a NUL into out, and release the context. */
void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX_LEN + 1]);
/* One-shot. */
void cairn_sha256_hex(const void *data, size_t len, char out[CAIRN_SHA256_HEX_LEN + 1]);
/* A hex digit's value (either case), or -1. */
static inline int cairn_hex_value(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* len bytes as 2 * len lowercase hex digits and a NUL. */
void cairn_hex_encode(const unsigned char *data, size_t len, char *out);
/* Whether s is exactly 64 lowercase hex digits. */
int cairn_is_sha256_hex(const char *s);

#endif
