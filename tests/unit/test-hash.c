/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 (base/hash.h): FIPS 180-4's examples, and the digest fed in
 * uneven pieces against the one-shot on every length around the block and
 * padding boundaries. */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "tap.h"

static void hex_of(const void *p, size_t n, char out[65])
{
        cairn_sha256_hex(p, n, out);
}

static void test_vectors(void)
{
        const char *how = "one-shot and streamed";
        char out[65];
        hex_of("", 0, out);
        is_str(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "\"\" (%s)", how);
        hex_of("abc", 3, out);
        is_str(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc (%s)", how);
        const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        hex_of(two, strlen(two), out);
        is_str(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks (%s)", how);
        struct cairn_sha256 h;
        cairn_sha256_init(&h);
        char a[1000];
        memset(a, 'a', sizeof(a));
        for (int i = 0; i < 1000; i++)
                cairn_sha256_update(&h, a, sizeof(a));
        cairn_sha256_final_hex(&h, out);
        is_str(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a (%s)", how);
}

static void test_same(void)
{
        unsigned char buf[1100];
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (unsigned char) (i * 131 + 7);
        int bad = 0;
        for (size_t n = 0; n <= sizeof(buf); n++) {
                char whole[65], portable[65];
                struct cairn_sha256 h;
                cairn_sha256_init(&h);
                /* In uneven pieces: partial blocks on both sides of each. */
                for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 % 71 + 1)
                        cairn_sha256_update(&h, buf + off, off + step > n ? n - off : step);
                cairn_sha256_final_hex(&h, whole);
                hex_of(buf, n, portable);
                if (strcmp(whole, portable) != 0 && bad++ < 5)
                        tap_diag("length %zu: %s and %s", n, whole, portable);
        }
        is_int(bad, 0, "every length from 0 to 1100, in pieces, equals the one-shot digest");
}

int main(void)
{
        test_vectors();
        test_same();
        return tap_done();
}
