/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing secrets to a pool key (cluster/seal.h): what opens, and what must not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "cluster/seal.h"
#include "tap.h"

static char *write_key(const char *dir, const char *name, unsigned char pub[CAIRN_SEAL_KEY_LEN])
{
        char *pem = NULL;
        size_t len = 0;
        struct cairn_error *err = NULL;
        if (cairn_seal_keygen(&pem, &len, pub, &err) < 0) {
                tap_diag("keygen: %s", err->message);
                cairn_error_free(err);
                return NULL;
        }
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                abort();
        FILE *f = fopen(path, "w");
        if (!f || fwrite(pem, 1, len, f) != len || fclose(f) != 0)
                abort();
        free(pem);
        return path;
}

int main(void)
{
        char dir[] = "/tmp/test-seal.XXXXXX";
        if (!mkdtemp(dir))
                return 1;
        unsigned char pub[CAIRN_SEAL_KEY_LEN], pub2[CAIRN_SEAL_KEY_LEN], check[CAIRN_SEAL_KEY_LEN];
        char *key = write_key(dir, "a.key", pub), *key2 = write_key(dir, "b.key", pub2);
        ok(key && key2, "two key pairs");
        ok(memcmp(pub, pub2, sizeof(pub)) != 0, "that differ");
        struct cairn_error *err = NULL;
        ok(cairn_seal_key_check(key, check, &err) == 0 && memcmp(check, pub, sizeof(pub)) == 0,
           "the key file's public half is the one keygen gave");

        static const char bin[] = { 'a', 0, 'b', '\n', (char) 0xff };
        struct cairn_secret in[] = { { "token", "hunter2-secret", 14 }, { "bin", bin, sizeof(bin) }, { "empty", "", 0 } };
        unsigned char *sealed = NULL;
        size_t len = 0;
        ok(cairn_seal_secrets(pub, "pool-a", in, 3, &sealed, &len, &err) == 0, "seal three secrets");
        ok(memmem(sealed, len, "hunter2", 7) == NULL && memmem(sealed, len, "token", 5) == NULL,
           "neither a value nor an ID is in the sealed blob in clear");
        unsigned char *sealed2 = NULL;
        size_t len2 = 0;
        ok(cairn_seal_secrets(pub, "pool-a", in, 3, &sealed2, &len2, &err) == 0 && len2 == len &&
           memcmp(sealed, sealed2, len) != 0, "sealing again gives other bytes (a fresh ephemeral key and nonce)");

        struct cairn_secret *out = NULL;
        size_t n = 0;
        int r = cairn_unseal_secrets(key, "pool-a", sealed, len, &out, &n, &err);
        ok(r == 0 && n == 3, "unseal with the pool's key");
        if (r == 0 && n == 3) {
                is_str(out[0].id, "token", "first ID");
                ok(out[0].len == 14 && memcmp(out[0].value, "hunter2-secret", 14) == 0, "first value");
                ok(out[1].len == sizeof(bin) && memcmp(out[1].value, bin, sizeof(bin)) == 0, "a binary value");
                ok(strcmp(out[2].id, "empty") == 0 && out[2].len == 0, "an empty value");
                cairn_seal_secrets_free(out, n);
        }

        out = NULL;
        r = cairn_unseal_secrets(key2, "pool-a", sealed, len, &out, &n, &err);
        ok(r == -EKEYREJECTED && out == NULL, "another key does not open it");
        has_str(err ? err->message : "", "wrong pool key?", "saying so");
        cairn_error_free(err);
        err = NULL;

        r = cairn_unseal_secrets(key, "pool-b", sealed, len, &out, &n, &err);
        ok(r == -EKEYREJECTED, "the pool name is bound: it does not open as another pool's");
        cairn_error_free(err);
        err = NULL;

        for (size_t i = 4; i < len; i += 7) {
                sealed[i] ^= 1;
                r = cairn_unseal_secrets(key, "pool-a", sealed, len, &out, &n, &err);
                sealed[i] ^= 1;
                cairn_error_free(err);
                err = NULL;
                if (r == 0) {
                        cairn_seal_secrets_free(out, n);
                        break;
                }
        }
        ok(r < 0, "a flipped bit anywhere after the magic fails");
        r = cairn_unseal_secrets(key, "pool-a", sealed, len - 1, &out, &n, &err);
        ok(r < 0, "a truncated blob fails");
        cairn_error_free(err);
        err = NULL;
        r = cairn_unseal_secrets(key, "pool-a", (const unsigned char *) "garbage", 7, &out, &n, &err);
        ok(r == -EBADMSG, "garbage is not in the format");
        cairn_error_free(err);
        err = NULL;

        unsigned char *none = NULL;
        size_t nlen = 0;
        ok(cairn_seal_secrets(pub, "pool-a", NULL, 0, &none, &nlen, &err) == 0 &&
           cairn_unseal_secrets(key, "pool-a", none, nlen, &out, &n, &err) == 0 && n == 0, "no secrets round-trip");
        if (n == 0)
                cairn_seal_secrets_free(out, 0);
        r = cairn_seal_key_check("/nonexistent/key", NULL, &err);
        ok(r < 0, "a missing key file is an error");
        cairn_error_free(err);
        err = NULL;

        free(sealed);
        free(sealed2);
        free(none);
        unlink(key);
        unlink(key2);
        free(key);
        free(key2);
        rmdir(dir);
        return tap_done();
}
