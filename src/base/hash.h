/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 as lowercase hex: the form of every cairn ID.  The digest is
 * cairn's own (sha256-posix.c: the x86 SHA extensions where the CPU has
 * them, portable C elsewhere), or Windows' CNG (sha256-bcrypt.c).  Not
 * OpenSSL's: loading libcrypto costs a cached build more than all of its
 * hashing. */
#ifndef CAIRN_BASE_HASH_H
#define CAIRN_BASE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_HEX_LEN 64

struct cairn_sha256 {
#ifdef _WIN32
        void *ctx;                 /* a CNG hash */
#else
        /* OpenSSL's SHA256_CTX (sha256-openssl.c checks that it fits),
         * kept here so that hashing allocates nothing. */
        _Alignas(8) unsigned char ctx[128];
#endif
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
