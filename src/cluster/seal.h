/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealing a job's secrets to its pool's key (OpenSSL libcrypto).
 *
 * A pool has an X25519 key pair: the public half in pool_keys, the
 * private half in a PEM file on its workers (cairn cluster keygen).  A
 * sealed blob is
 *
 *   "CSS" 0x01 | ephemeral public key (32) | nonce (12) | ciphertext | tag (16)
 *
 * with key = HKDF-SHA256(ikm = X25519(ephemeral, pool), salt = ephemeral
 * public || pool public, info = "cairn secrets v1"), AES-256-GCM, and
 * associated data "cairn secrets v1\0POOL": a blob sealed for one pool
 * does not open as another's, and a changed byte fails the tag.  The
 * plaintext is the secrets packed: a count, then for each an ID and a
 * value, every length a big-endian uint32.
 */
#ifndef CAIRN_CLUSTER_SEAL_H
#define CAIRN_CLUSTER_SEAL_H

#include <stddef.h>

#include "base/error.h"
#include "engine/engine.h"

#define CAIRN_SEAL_KEY_LEN 32

/* A new key pair: *ret_pem, the private key as PKCS#8 PEM (the caller's,
 * to wipe and free), and its public half. */
int cairn_seal_keygen(char **ret_pem, size_t *ret_pem_len, unsigned char ret_public[CAIRN_SEAL_KEY_LEN],
                      struct cairn_error **err);

/* Check the private key file at path: its public half in ret_public (may
 * be NULL). */
int cairn_seal_key_check(const char *path, unsigned char ret_public[CAIRN_SEAL_KEY_LEN], struct cairn_error **err);

/* Seal secrets[0..n) for pool: *ret (the caller's), *ret_len bytes. */
int cairn_seal_secrets(const unsigned char pool_public[CAIRN_SEAL_KEY_LEN], const char *pool,
                       const struct cairn_secret *secrets, size_t n, unsigned char **ret, size_t *ret_len,
                       struct cairn_error **err);

/* Open a sealed blob with the private key file at key_path: *ret an array
 * of *ret_n secrets, ids and values the caller's (cairn_seal_secrets_free). */
int cairn_unseal_secrets(const char *key_path, const char *pool, const unsigned char *sealed, size_t len,
                         struct cairn_secret **ret, size_t *ret_n, struct cairn_error **err);

/* Wipe and free what cairn_unseal_secrets returned. */
void cairn_seal_secrets_free(struct cairn_secret *s, size_t n);

#endif
