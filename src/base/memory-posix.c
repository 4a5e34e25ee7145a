/* SPDX-License-Identifier: Apache-2.0 */
#include "base/alloc.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t) 2 << 20)
/* Heap set aside at once; memory is only used as it is touched. */
#define HEAP_SET_ASIDE ((size_t) 30 << 20)

void cairn_memory_for_large_work(void)
{
        static bool done;
        if (done)
                return;
        done = true;
        /* Large blocks come from the heap, which is kept rather than given
         * back (glibc's defaults mmap and munmap each block of 128 KiB or
         * more, and every 4 KiB of it faults anew). */
        mallopt(M_MMAP_THRESHOLD, 32 << 20);   /* glibc's most */
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
        /* volatile: a compiler may drop a malloc whose block is unused. */
        static void *volatile block;
        char *before = sbrk(0);
        block = malloc(HEAP_SET_ASIDE);
        char *after = sbrk(0);
        free(block);
        block = NULL;
        if (before == (char *) -1 || after == (char *) -1 || after <= before)
                return;
        /* Transparent huge pages where the system gives them on request
         * (madvise mode, Debian's default), as glibc.malloc.hugetlb=1 does:
         * one fault per 2 MiB.  Without them this does nothing. */
        uintptr_t from = ((uintptr_t) before + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t to = (uintptr_t) after & ~(HUGE_PAGE - 1);
        if (to > from)
                madvise((void *) from, to - from, MADV_HUGEPAGE);
}
