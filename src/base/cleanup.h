/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound cleanup, in the style of systemd and crun.
 *
 *   _cleanup_free_ char *s = NULL;      freed when s goes out of scope
 *   return TAKE_PTR(s);                 hand ownership to the caller
 *
 * Always initialise a _cleanup_ variable: the cleanup runs on every exit
 * from the scope, including an early return before the first assignment.
 */
#ifndef CAIRN_BASE_CLEANUP_H
#define CAIRN_BASE_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void cairn_freep(void *p)
{
        free(*(void **) p);
}

static inline void cairn_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void cairn_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cairn_freep)
#define _cleanup_close_ _cleanup_(cairn_closep)
#define _cleanup_fclose_ _cleanup_(cairn_fclosep)

/* Return the pointer and clear the variable so its cleanup does nothing. */
#define TAKE_PTR(p)                                \
        ({                                         \
                __typeof__(p) _take_tmp = (p);     \
                (p) = NULL;                        \
                _take_tmp;                         \
        })

#define TAKE_FD(fd)                                \
        ({                                         \
                int _take_fd = (fd);               \
                (fd) = -1;                         \
                _take_fd;                          \
        })

#define CAIRN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
