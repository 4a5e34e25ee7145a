/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing secrets to a pool key (cluster/seal.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "cluster/cluster-internal.h"
#include "cluster/seal.h"

#define MAGIC "CSS\x01"
#define MAGIC_LEN 4
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (MAGIC_LEN + CAIRN_SEAL_KEY_LEN + NONCE_LEN)
#define INFO "cairn secrets v1"
/* Bounds on what an unsealed blob may claim. */
#define MAX_SECRETS 1024
#define MAX_SEALED (UINT32_C(64) << 20)

static int ssl_error(struct cairn_error **err, const char *what)
{
        char buf[256] = "";
        unsigned long e = ERR_get_error();
        if (e)
                ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return cairn_error_set(err, -EIO, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static void pkey_freep(EVP_PKEY **p)
{
        EVP_PKEY_free(*p);
}
#define _cleanup_pkey_ _cleanup_(pkey_freep)

int cairn_seal_keygen(char **ret_pem, size_t *ret_pem_len, unsigned char ret_public[CAIRN_SEAL_KEY_LEN],
                      struct cairn_error **err)
{
        if (cairn_crypto_load(err) < 0)
                return (*err)->code;
        _cleanup_pkey_ EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        if (!k)
                return ssl_error(err, "generating an X25519 key");
        size_t plen = CAIRN_SEAL_KEY_LEN;
        if (EVP_PKEY_get_raw_public_key(k, ret_public, &plen) != 1 || plen != CAIRN_SEAL_KEY_LEN)
                return ssl_error(err, "reading the public key");
        BIO *b = BIO_new(BIO_s_secmem());
        if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
                BIO_free(b);
                return ssl_error(err, "writing the private key");
        }
        char *data = NULL;
        long len = BIO_get_mem_data(b, &data);
        char *pem = cairn_xzalloc((size_t) len + 1);
        memcpy(pem, data, (size_t) len);
        BIO_free(b);
        *ret_pem = pem;
        *ret_pem_len = (size_t) len;
        return 0;
}

static int load_key(const char *path, EVP_PKEY **ret, struct cairn_error **err)
{
        char *pem = NULL;
        size_t len = 0;
        int r = cairn_read_file(path, 64 << 10, &pem, &len, err);
        if (r < 0)
                return r;
        BIO *b = BIO_new_mem_buf(pem, (int) len);
        EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        OPENSSL_cleanse(pem, len);
        free(pem);
        if (!k)
                return ssl_error(err, "not a PEM private key");
        if (EVP_PKEY_get_base_id(k) != EVP_PKEY_X25519) {
                EVP_PKEY_free(k);
                return cairn_error_set(err, -EINVAL, "not an X25519 key (make one with 'cairn cluster keygen')");
        }
        *ret = k;
        return 0;
}

int cairn_seal_key_check(const char *path, unsigned char ret_public[CAIRN_SEAL_KEY_LEN], struct cairn_error **err)
{
        if (cairn_crypto_load(err) < 0)
                return (*err)->code;
        _cleanup_pkey_ EVP_PKEY *k = NULL;
        int r = load_key(path, &k, err);
        if (r < 0)
                return cairn_error_prefix(err, "pool key \"%s\"", path);
        unsigned char pub[CAIRN_SEAL_KEY_LEN];
        size_t plen = sizeof(pub);
        if (EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1)
                return ssl_error(err, "reading the public key");
        if (ret_public)
                memcpy(ret_public, pub, sizeof(pub));
        return 0;
}

/* The AEAD key from our private key and their public key. */
static int derive(EVP_PKEY *mine, const unsigned char peer_public[CAIRN_SEAL_KEY_LEN],
                  const unsigned char salt[2 * CAIRN_SEAL_KEY_LEN], unsigned char key[32], struct cairn_error **err)
{
        _cleanup_pkey_ EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_public,
                                                                     CAIRN_SEAL_KEY_LEN);
        if (!peer)
                return ssl_error(err, "public key");
        unsigned char shared[32];
        size_t slen = sizeof(shared);
        EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(mine, NULL);
        int ok = dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, peer) == 1 &&
                 EVP_PKEY_derive(dc, shared, &slen) == 1 && slen == sizeof(shared);
        EVP_PKEY_CTX_free(dc);
        if (!ok)
                return ssl_error(err, "X25519");
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
        size_t klen = 32;
        ok = kc && EVP_PKEY_derive_init(kc) == 1 && EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set1_hkdf_salt(kc, salt, 2 * CAIRN_SEAL_KEY_LEN) == 1 &&
             EVP_PKEY_CTX_set1_hkdf_key(kc, shared, sizeof(shared)) == 1 &&
             EVP_PKEY_CTX_add1_hkdf_info(kc, (const unsigned char *) INFO, sizeof(INFO) - 1) == 1 &&
             EVP_PKEY_derive(kc, key, &klen) == 1 && klen == 32;
        EVP_PKEY_CTX_free(kc);
        OPENSSL_cleanse(shared, sizeof(shared));
        return ok ? 0 : ssl_error(err, "HKDF");
}

static unsigned char *aad_of(const char *pool, size_t *ret_len)
{
        size_t n = sizeof(INFO) + strlen(pool);   /* INFO, its NUL, the pool */
        unsigned char *a = cairn_xzalloc(n);
        memcpy(a, INFO, sizeof(INFO));
        memcpy(a + sizeof(INFO), pool, strlen(pool));
        *ret_len = n;
        return a;
}

static void put32(unsigned char *p, uint32_t v)
{
        p[0] = (unsigned char) (v >> 24), p[1] = (unsigned char) (v >> 16), p[2] = (unsigned char) (v >> 8),
        p[3] = (unsigned char) v;
}

static uint32_t get32(const unsigned char *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int cairn_seal_secrets(const unsigned char pool_public[CAIRN_SEAL_KEY_LEN], const char *pool,
                       const struct cairn_secret *secrets, size_t n, unsigned char **ret, size_t *ret_len,
                       struct cairn_error **err)
{
        if (cairn_crypto_load(err) < 0)
                return (*err)->code;
        if (n > MAX_SECRETS)
                return cairn_error_set(err, -E2BIG, "more than %d secrets", MAX_SECRETS);
        size_t plen = 4;
        for (size_t i = 0; i < n; i++)
                plen += 8 + strlen(secrets[i].id) + secrets[i].len;
        if (plen > MAX_SEALED)
                return cairn_error_set(err, -E2BIG, "the secrets are larger than %u bytes", (unsigned) MAX_SEALED);
        unsigned char *plain = cairn_xzalloc(plen);
        unsigned char *p = plain;
        put32(p, (uint32_t) n), p += 4;
        for (size_t i = 0; i < n; i++) {
                size_t il = strlen(secrets[i].id);
                put32(p, (uint32_t) il), p += 4;
                memcpy(p, secrets[i].id, il), p += il;
                put32(p, (uint32_t) secrets[i].len), p += 4;
                memcpy(p, secrets[i].value, secrets[i].len), p += secrets[i].len;
        }
        size_t out_len = HEADER_LEN + plen + TAG_LEN;
        unsigned char *out = cairn_xzalloc(out_len);
        unsigned char key[32], salt[2 * CAIRN_SEAL_KEY_LEN];
        size_t alen = 0;
        _cleanup_free_ unsigned char *aad = aad_of(pool, &alen);
        int r = -EIO;
        EVP_CIPHER_CTX *cc = NULL;
        _cleanup_pkey_ EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        size_t klen = CAIRN_SEAL_KEY_LEN;
        memcpy(out, MAGIC, MAGIC_LEN);
        if (!eph || EVP_PKEY_get_raw_public_key(eph, out + MAGIC_LEN, &klen) != 1) {
                ssl_error(err, "ephemeral key");
                goto out;
        }
        memcpy(salt, out + MAGIC_LEN, CAIRN_SEAL_KEY_LEN);
        memcpy(salt + CAIRN_SEAL_KEY_LEN, pool_public, CAIRN_SEAL_KEY_LEN);
        if (RAND_bytes(out + MAGIC_LEN + CAIRN_SEAL_KEY_LEN, NONCE_LEN) != 1) {
                ssl_error(err, "random nonce");
                goto out;
        }
        if (derive(eph, pool_public, salt, key, err) < 0)
                goto out;
        int len = 0, fl = 0;
        cc = EVP_CIPHER_CTX_new();
        if (!cc || EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, out + MAGIC_LEN + CAIRN_SEAL_KEY_LEN) != 1 ||
            EVP_EncryptUpdate(cc, NULL, &len, aad, (int) alen) != 1 ||
            EVP_EncryptUpdate(cc, out + HEADER_LEN, &len, plain, (int) plen) != 1 ||
            EVP_EncryptFinal_ex(cc, out + HEADER_LEN + len, &fl) != 1 || (size_t) (len + fl) != plen ||
            EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + HEADER_LEN + plen) != 1) {
                ssl_error(err, "AES-256-GCM");
                goto out;
        }
        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        r = 0;
out:
        EVP_CIPHER_CTX_free(cc);
        OPENSSL_cleanse(key, sizeof(key));
        OPENSSL_cleanse(plain, plen);
        free(plain);
        free(out);
        return r;
}

void cairn_seal_secrets_free(struct cairn_secret *s, size_t n)
{
        if (!s)
                return;
        for (size_t i = 0; i < n; i++) {
                if (s[i].value)
                        OPENSSL_cleanse((void *) s[i].value, s[i].len);
                free((char *) s[i].id);
                free((char *) s[i].value);
        }
        free(s);
}

static int unpack(const unsigned char *p, size_t len, struct cairn_secret **ret, size_t *ret_n,
                  struct cairn_error **err)
{
        const unsigned char *end = p + len;
        if (len < 4 || get32(p) > MAX_SECRETS)
                return cairn_error_set(err, -EBADMSG, "malformed secrets");
        size_t n = get32(p);
        p += 4;
        struct cairn_secret *s = cairn_xzalloc((n + 1) * sizeof(*s));
        for (size_t i = 0; i < n; i++) {
                uint32_t il, vl;
                if (end - p < 4 || (size_t) (end - p - 4) < (il = get32(p)))
                        goto bad;
                s[i].id = cairn_xstrndup((const char *) p + 4, il);
                p += 4 + il;
                if (end - p < 4 || (size_t) (end - p - 4) < (vl = get32(p)))
                        goto bad;
                char *v = cairn_xzalloc((size_t) vl + 1);
                memcpy(v, p + 4, vl);
                s[i].value = v;
                s[i].len = vl;
                p += 4 + vl;
        }
        if (p != end)
                goto bad;
        *ret = s;
        *ret_n = n;
        return 0;
bad:
        cairn_seal_secrets_free(s, n);
        return cairn_error_set(err, -EBADMSG, "malformed secrets");
}

int cairn_unseal_secrets(const char *key_path, const char *pool, const unsigned char *sealed, size_t len,
                         struct cairn_secret **ret, size_t *ret_n, struct cairn_error **err)
{
        if (cairn_crypto_load(err) < 0)
                return (*err)->code;
        if (len < HEADER_LEN + TAG_LEN || memcmp(sealed, MAGIC, MAGIC_LEN) != 0 || len > MAX_SEALED + 1024)
                return cairn_error_set(err, -EBADMSG, "the sealed secrets are not in a format this cairn reads");
        _cleanup_pkey_ EVP_PKEY *k = NULL;
        int r = load_key(key_path, &k, err);
        if (r < 0)
                return cairn_error_prefix(err, "pool key \"%s\"", key_path);
        unsigned char salt[2 * CAIRN_SEAL_KEY_LEN], key[32];
        size_t plen_pub = CAIRN_SEAL_KEY_LEN;
        memcpy(salt, sealed + MAGIC_LEN, CAIRN_SEAL_KEY_LEN);
        if (EVP_PKEY_get_raw_public_key(k, salt + CAIRN_SEAL_KEY_LEN, &plen_pub) != 1)
                return ssl_error(err, "pool key");
        if (derive(k, sealed + MAGIC_LEN, salt, key, err) < 0)
                return -EIO;
        size_t clen = len - HEADER_LEN - TAG_LEN, alen = 0;
        _cleanup_free_ unsigned char *aad = aad_of(pool, &alen);
        unsigned char *plain = cairn_xzalloc(clen + 1);
        unsigned char tag[TAG_LEN];
        memcpy(tag, sealed + len - TAG_LEN, TAG_LEN);
        int l = 0, fl = 0;
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        bool ok = cc && EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, sealed + MAGIC_LEN + CAIRN_SEAL_KEY_LEN) == 1 &&
                  EVP_DecryptUpdate(cc, NULL, &l, aad, (int) alen) == 1 &&
                  EVP_DecryptUpdate(cc, plain, &l, sealed + HEADER_LEN, (int) clen) == 1 &&
                  EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
                  EVP_DecryptFinal_ex(cc, plain + l, &fl) == 1;
        EVP_CIPHER_CTX_free(cc);
        ERR_clear_error();
        OPENSSL_cleanse(key, sizeof(key));
        if (ok)
                r = unpack(plain, clen, ret, ret_n, err);
        else
                r = cairn_error_set(err, -EKEYREJECTED, "cannot unseal the job's secrets for pool \"%s\" with the key "
                                    "\"%s\": wrong pool key? (sealed to another key, or altered)", pool, key_path);
        OPENSSL_cleanse(plain, clen);
        free(plain);
        return r;
}
