/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation that never returns NULL.
 *
 * cairn is a command-line program: when memory runs out there is nothing
 * sensible to recover, so these print one line to stderr and abort.  Sizes an
 * attacker controls (file contents, layer sizes) are capped before they reach
 * an allocation, so running out here means the machine is out of memory, not
 * that an input was hostile.
 */
#ifndef CAIRN_BASE_ALLOC_H
#define CAIRN_BASE_ALLOC_H

#include <stddef.h>

void *cairn_xmalloc(size_t size);
/* Before work that allocates many megabytes at once (a build: manifests,
 * records and caches of every file of a context): make fresh memory cheap
 * to touch (base/memory-posix.c).  Once per process; a long-lived process
 * that only waits should not call it. */
void cairn_memory_for_large_work(void);
void *cairn_xzalloc(size_t size);
void *cairn_xrealloc(void *ptr, size_t size);
/* nmemb * size with an overflow check. */
void *cairn_xreallocarray(void *ptr, size_t nmemb, size_t size);
char *cairn_xstrdup(const char *s);
char *cairn_xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *cairn_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Free a NULL-terminated array of strings (NULL is fine). */
void cairn_strv_free(char **v);
/* The number of strings in a NULL-terminated array (0 for NULL). */
size_t cairn_strv_length(const char *const *v);

#endif
