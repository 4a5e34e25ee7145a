/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4).  On x86-64 CPUs with the SHA extensions (Intel
 * since Goldmont and Ice Lake, AMD since Zen) the compression runs on
 * them, as fast as OpenSSL's; elsewhere in portable C, about half the
 * speed of OpenSSL's vector code for large inputs and the same for the
 * small ones IDs are made of.  Windows uses CNG (sha256-bcrypt.c).
 */
#include "base/hash.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI 1
#endif

static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
        return (x >> n) | (x << (32 - n));
}

static void compress_portable(uint32_t st[8], const unsigned char *p, size_t blocks)
{
        for (; blocks--; p += 64) {
                uint32_t w[64];
                for (int i = 0; i < 16; i++)
                        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
                               (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
                for (int i = 16; i < 64; i++) {
                        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
                        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
                        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
                }
                uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
                for (int i = 0; i < 64; i++) {
                        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
                        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                        h = g;
                        g = f;
                        f = e;
                        e = d + t1;
                        d = c;
                        c = b;
                        b = a;
                        a = t1 + t2;
                }
                st[0] += a;
                st[1] += b;
                st[2] += c;
                st[3] += d;
                st[4] += e;
                st[5] += f;
                st[6] += g;
                st[7] += h;
        }
}

#ifdef HAVE_SHANI
/* Four rounds a step on the SHA extensions, the state held as ABEF and
 * CDGH (the instructions' layout); the message schedule four words at a
 * time: W[t..t+3] = msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..]). */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_shani(uint32_t st[8], const unsigned char *p,
                                                                       size_t blocks)
{
        const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
        __m128i tmp = _mm_loadu_si128((const __m128i *) &st[0]);
        __m128i s1 = _mm_loadu_si128((const __m128i *) &st[4]);
        tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
        s1 = _mm_shuffle_epi32(s1, 0x1B);            /* EFGH */
        __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
        s1 = _mm_blend_epi16(s1, tmp, 0xF0);         /* CDGH */
        for (; blocks--; p += 64) {
                __m128i abef = s0, cdgh = s1, w[4];
                for (int g = 0; g < 16; g++) {
                        __m128i x;
                        if (g < 4) {
                                x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (p + 16 * g)), bswap);
                        } else {
                                x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                                x = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
                        }
                        w[g & 3] = x;
                        __m128i m = _mm_add_epi32(x, _mm_loadu_si128((const __m128i *) &K[4 * g]));
                        s1 = _mm_sha256rnds2_epu32(s1, s0, m);
                        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
                }
                s0 = _mm_add_epi32(s0, abef);
                s1 = _mm_add_epi32(s1, cdgh);
        }
        tmp = _mm_shuffle_epi32(s0, 0x1B);           /* FEBA */
        s1 = _mm_shuffle_epi32(s1, 0xB1);            /* DCHG */
        s0 = _mm_blend_epi16(tmp, s1, 0xF0);         /* DCBA */
        s1 = _mm_alignr_epi8(s1, tmp, 8);            /* HGFE */
        _mm_storeu_si128((__m128i *) &st[0], s0);
        _mm_storeu_si128((__m128i *) &st[4], s1);
}

static bool cpu_has_shani(void)
{
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
                return false;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
                return false;
        return (b & bit_SHA) != 0;
}
#endif

typedef void compress_fn(uint32_t st[8], const unsigned char *p, size_t blocks);

/* 0 not chosen yet, 1 portable, 2 SHA extensions; a race only chooses
 * twice, the same way. */
static int chosen;

static compress_fn *compressor(void)
{
        int c = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
        if (c == 0) {
                c = 1;
#ifdef HAVE_SHANI
                if (cpu_has_shani())
                        c = 2;
#endif
                __atomic_store_n(&chosen, c, __ATOMIC_RELAXED);
        }
#ifdef HAVE_SHANI
        if (c == 2)
                return compress_shani;
#endif
        return compress_portable;
}

void cairn_sha256_force_portable(bool on)
{
        __atomic_store_n(&chosen, on ? 1 : 0, __ATOMIC_RELAXED);
}

void cairn_sha256_init(struct cairn_sha256 *h)
{
        static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        memcpy(h->state, iv, sizeof(iv));
        h->bytes = 0;
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t len)
{
        const unsigned char *p = data;
        compress_fn *compress = compressor();
        size_t have = (size_t) (h->bytes % 64);
        h->bytes += len;
        if (have) {
                size_t take = 64 - have < len ? 64 - have : len;
                memcpy(h->block + have, p, take);
                p += take;
                len -= take;
                if (have + take < 64)
                        return;
                compress(h->state, h->block, 1);
        }
        if (len >= 64) {
                compress(h->state, p, len / 64);
                p += len / 64 * 64;
                len %= 64;
        }
        if (len)
                memcpy(h->block, p, len);
}

void cairn_sha256_final_hex(struct cairn_sha256 *h, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        uint64_t bits = h->bytes * 8;
        static const unsigned char pad[64] = { 0x80 };
        size_t have = (size_t) (h->bytes % 64);
        cairn_sha256_update(h, pad, have < 56 ? 56 - have : 120 - have);
        unsigned char len[8];
        for (int i = 0; i < 8; i++)
                len[i] = (unsigned char) (bits >> (56 - 8 * i));
        cairn_sha256_update(h, len, 8);
        unsigned char md[32];
        for (int i = 0; i < 8; i++) {
                md[4 * i] = (unsigned char) (h->state[i] >> 24);
                md[4 * i + 1] = (unsigned char) (h->state[i] >> 16);
                md[4 * i + 2] = (unsigned char) (h->state[i] >> 8);
                md[4 * i + 3] = (unsigned char) h->state[i];
        }
        cairn_hex_encode(md, 32, out);
}
