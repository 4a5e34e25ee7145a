/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcrypto's functions as the sealing of secrets calls them (cluster/
 * seal.c), forwarded to the shared library loaded on first use (base/dl.h),
 * as libpq's are (cluster/pq-dl.c).  cairn links libcrypto statically for
 * SHA-256 alone (base/sha256-openssl.c); linked so, these functions pulled
 * in most of OpenSSL -- providers, ASN.1, object tables -- whose 360 KiB of
 * pointers the loader relocated at every start, doubling the pages a
 * `cairn --version` touched.  OPENSSL_cleanse stays the static one, which
 * SHA-256 brings in.  A function used in seal.c and missing here is an
 * undefined symbol at link time.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "base/dl.h"
#include "cluster/cluster-internal.h"

/* X(return type, name, (parameters), (arguments)); XV for void functions;
 * XX for the variadic ones, whose stubs are written out below (base/dl.h). */
#define CRYPTO_FUNCTIONS(X, XV, XX)                                                                                  \
        X(int, BIO_free, (BIO * a), (a))                                                                        \
        X(long, BIO_ctrl, (BIO * b, int cmd, long larg, void *parg), (b, cmd, larg, parg))                      \
        X(BIO *, BIO_new, (const BIO_METHOD *type), (type))                                                     \
        X(BIO *, BIO_new_mem_buf, (const void *buf, int len), (buf, len))                                       \
        X(const BIO_METHOD *, BIO_s_secmem, (void), ())                                                         \
        XV(ERR_clear_error, (void), ())                                                                         \
        XV(ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len))                         \
        X(unsigned long, ERR_get_error, (void), ())                                                             \
        X(int, EVP_CIPHER_CTX_ctrl, (EVP_CIPHER_CTX * c, int type, int arg, void *ptr), (c, type, arg, ptr))    \
        XV(EVP_CIPHER_CTX_free, (EVP_CIPHER_CTX * c), (c))                                                      \
        X(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_new, (void), ())                                                     \
        X(int, EVP_DecryptFinal_ex, (EVP_CIPHER_CTX * c, unsigned char *out, int *outl), (c, out, outl))        \
        X(int, EVP_DecryptInit_ex,                                                                              \
          (EVP_CIPHER_CTX * c, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key,                \
           const unsigned char *iv),                                                                            \
          (c, cipher, impl, key, iv))                                                                           \
        X(int, EVP_DecryptUpdate, (EVP_CIPHER_CTX * c, unsigned char *out, int *outl, const unsigned char *in,  \
                                   int inl),                                                                    \
          (c, out, outl, in, inl))                                                                              \
        X(int, EVP_EncryptFinal_ex, (EVP_CIPHER_CTX * c, unsigned char *out, int *outl), (c, out, outl))        \
        X(int, EVP_EncryptInit_ex,                                                                              \
          (EVP_CIPHER_CTX * c, const EVP_CIPHER *cipher, ENGINE *impl, const unsigned char *key,                \
           const unsigned char *iv),                                                                            \
          (c, cipher, impl, key, iv))                                                                           \
        X(int, EVP_EncryptUpdate, (EVP_CIPHER_CTX * c, unsigned char *out, int *outl, const unsigned char *in,  \
                                   int inl),                                                                    \
          (c, out, outl, in, inl))                                                                              \
        X(int, EVP_PKEY_CTX_add1_hkdf_info, (EVP_PKEY_CTX * c, const unsigned char *info, int len),             \
          (c, info, len))                                                                                       \
        XV(EVP_PKEY_CTX_free, (EVP_PKEY_CTX * c), (c))                                                          \
        X(EVP_PKEY_CTX *, EVP_PKEY_CTX_new, (EVP_PKEY * k, ENGINE *e), (k, e))                                  \
        X(EVP_PKEY_CTX *, EVP_PKEY_CTX_new_id, (int id, ENGINE *e), (id, e))                                    \
        X(int, EVP_PKEY_CTX_set1_hkdf_key, (EVP_PKEY_CTX * c, const unsigned char *key, int len), (c, key, len)) \
        X(int, EVP_PKEY_CTX_set1_hkdf_salt, (EVP_PKEY_CTX * c, const unsigned char *salt, int len),             \
          (c, salt, len))                                                                                       \
        X(int, EVP_PKEY_CTX_set_hkdf_md, (EVP_PKEY_CTX * c, const EVP_MD *md), (c, md))                         \
        X(int, EVP_PKEY_derive, (EVP_PKEY_CTX * c, unsigned char *key, size_t *len), (c, key, len))             \
        X(int, EVP_PKEY_derive_init, (EVP_PKEY_CTX * c), (c))                                                   \
        X(int, EVP_PKEY_derive_set_peer, (EVP_PKEY_CTX * c, EVP_PKEY *peer), (c, peer))                         \
        XV(EVP_PKEY_free, (EVP_PKEY * k), (k))                                                                  \
        X(int, EVP_PKEY_get_base_id, (const EVP_PKEY *k), (k))                                                  \
        X(int, EVP_PKEY_get_raw_public_key, (const EVP_PKEY *k, unsigned char *pub, size_t *len), (k, pub, len)) \
        X(EVP_PKEY *, EVP_PKEY_new_raw_public_key, (int type, ENGINE *e, const unsigned char *pub, size_t len), \
          (type, e, pub, len))                                                                                  \
        X(const EVP_CIPHER *, EVP_aes_256_gcm, (void), ())                                                      \
        X(const EVP_MD *, EVP_sha256, (void), ())                                                               \
        X(EVP_PKEY *, PEM_read_bio_PrivateKey, (BIO * b, EVP_PKEY **x, pem_password_cb *cb, void *u),           \
          (b, x, cb, u))                                                                                        \
        X(int, PEM_write_bio_PrivateKey,                                                                        \
          (BIO * b, const EVP_PKEY *x, const EVP_CIPHER *enc, const unsigned char *kstr, int klen,              \
           pem_password_cb *cb, void *u),                                                                       \
          (b, x, enc, kstr, klen, cb, u))                                                                       \
        X(int, RAND_bytes, (unsigned char *buf, int num), (buf, num))                                            \
        XX(EVP_PKEY_Q_keygen)

CAIRN_DL_LIBRARY(CRYPTO_FUNCTIONS, .name = "libcrypto",
                 .sonames = (const char *const[]) { "libcrypto.so.3", NULL },
                 .hint = "libssl3 (Debian, Ubuntu) or openssl-libs (Fedora, Alpine: libcrypto3)")

/* Only key types that take no further argument (X25519) are asked for. */
EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...)
{
        return ((EVP_PKEY * (*) (OSSL_LIB_CTX *, const char *, const char *, ...))
                        CAIRN_DL_FN(EVP_PKEY_Q_keygen))(libctx, propq, type);
}

int cairn_crypto_load(struct cairn_error **err)
{
        return cairn_dl_load(&dl_library, err);
}
