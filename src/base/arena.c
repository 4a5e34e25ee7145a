/* SPDX-License-Identifier: Apache-2.0 */
#include "base/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct chunk {
        struct chunk *next;
        size_t size;
        size_t used;
        alignas(max_align_t) unsigned char data[];
};

struct cairn_arena {
        struct chunk *head;
};

enum { CHUNK_SIZE = 16384 };

struct cairn_arena *cairn_arena_new(void)
{
        return cairn_xzalloc(sizeof(struct cairn_arena));
}

void cairn_arena_free(struct cairn_arena *a)
{
        if (!a)
                return;
        struct chunk *c = a->head;
        while (c) {
                struct chunk *next = c->next;
                free(c);
                c = next;
        }
        free(a);
}

void *cairn_arena_alloc(struct cairn_arena *a, size_t size)
{
        const size_t align = alignof(max_align_t);
        if (size > SIZE_MAX - align)
                abort();
        size = (size + align - 1) & ~(align - 1);
        struct chunk *c = a->head;
        if (!c || c->size - c->used < size) {
                size_t n = size > CHUNK_SIZE ? size : CHUNK_SIZE;
                c = cairn_xmalloc(sizeof(struct chunk) + n);
                c->size = n;
                c->used = 0;
                c->next = a->head;
                a->head = c;
        }
        void *p = c->data + c->used;
        c->used += size;
        memset(p, 0, size);
        return p;
}

void *cairn_arena_array(struct cairn_arena *a, size_t n, size_t size)
{
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
                abort();
        return cairn_arena_alloc(a, total);
}

char *cairn_arena_strndup(struct cairn_arena *a, const char *s, size_t n)
{
        char *p = cairn_arena_alloc(a, n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *cairn_arena_strdup(struct cairn_arena *a, const char *s)
{
        return cairn_arena_strndup(a, s, strlen(s));
}
