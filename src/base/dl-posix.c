/* SPDX-License-Identifier: Apache-2.0 */
#include "base/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

int cairn_dl_load(struct cairn_dl *dl, struct cairn_error **err)
{
        if (__atomic_load_n(&dl->state, __ATOMIC_ACQUIRE) == 1)
                return 0;
        pthread_mutex_lock(&dl_lock);
        int r = 0;
        if (dl->state == 1)
                goto out;
        void *h = NULL;
        const char *why = "no file name";
        const char *const *so;
        for (so = dl->sonames; *so && !h; so++) {
                /* RTLD_LOCAL: its symbols must not satisfy the stubs'
                 * names in later loads. */
                h = dlopen(*so, RTLD_NOW | RTLD_LOCAL);
                if (!h)
                        why = dlerror();
        }
        if (!h) {
                r = cairn_error_set(err, -ENOENT, "%s is needed here and cannot be loaded: %s (install %s)", dl->name,
                                    why, dl->hint);
                goto out;
        }
        for (size_t i = 0; dl->symbols[i]; i++) {
                dlerror();
                void *f = dlsym(h, dl->symbols[i]);
                if (!f) {
                        const char *e = dlerror();
                        r = cairn_error_set(err, -ENOENT, "%s (%s) lacks %s: %s; cairn needs a newer %s", dl->name,
                                            so[-1], dl->symbols[i], e ? e : "no such symbol", dl->name);
                        goto out;   /* h stays open, unused: dlclose is not worth its risks */
                }
                dl->fns[i] = f;
        }
        if (dl->loaded)
                dl->loaded();
        __atomic_store_n(&dl->state, 1, __ATOMIC_RELEASE);
out:
        pthread_mutex_unlock(&dl_lock);
        return r;
}

void *cairn_dl_fn(struct cairn_dl *dl, size_t i)
{
        if (__atomic_load_n(&dl->state, __ATOMIC_ACQUIRE) != 1) {
                struct cairn_error *err = NULL;
                if (cairn_dl_load(dl, &err) < 0) {
                        fprintf(stderr, "cairn: %s\n", err->message);
                        exit(1);
                }
        }
        return dl->fns[i];
}
