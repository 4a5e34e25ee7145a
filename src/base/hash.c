/* SPDX-License-Identifier: Apache-2.0 */
#include "base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cairn_hex_encode(const unsigned char *data, size_t len, char *out)
{
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = hex[data[i] >> 4];
                out[2 * i + 1] = hex[data[i] & 15];
        }
        out[2 * len] = '\0';
}

void cairn_sha256_hex(const void *data, size_t len, char out[CAIRN_SHA256_HEX_LEN + 1])
{
        struct cairn_sha256 h;
        cairn_sha256_init(&h);
        cairn_sha256_update(&h, data, len);
        cairn_sha256_final_hex(&h, out);
}

int cairn_is_sha256_hex(const char *s)
{
        if (strlen(s) != 64)
                return 0;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return 0;
        return 1;
}
