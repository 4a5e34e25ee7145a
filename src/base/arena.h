/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bump allocator for trees that live and die together (an S-expression,
 * a parsed spec).  Freeing the arena frees every allocation made from it, so
 * parsers can bail out from any depth without unwinding their partial trees.
 */
#ifndef CAIRN_BASE_ARENA_H
#define CAIRN_BASE_ARENA_H

#include <stddef.h>

struct cairn_arena;

struct cairn_arena *cairn_arena_new(void);
void cairn_arena_free(struct cairn_arena *a);

/* Zeroed, aligned for any type; never NULL. */
void *cairn_arena_alloc(struct cairn_arena *a, size_t size);
/* n * size with an overflow check. */
void *cairn_arena_array(struct cairn_arena *a, size_t n, size_t size);
char *cairn_arena_strndup(struct cairn_arena *a, const char *s, size_t n);
char *cairn_arena_strdup(struct cairn_arena *a, const char *s);

#endif
