/* SPDX-License-Identifier: Apache-2.0 */
#include "base/threads.h"

#include <pthread.h>

void cairn_run_threads(unsigned n, void *(*fn)(void *), void *arg)
{
        if (n > CAIRN_THREADS_MAX)
                n = CAIRN_THREADS_MAX;
        pthread_t tids[CAIRN_THREADS_MAX];
        unsigned started = 0;
        for (unsigned i = 1; i < n; i++)
                if (pthread_create(&tids[started], NULL, fn, arg) == 0)
                        started++;
        fn(arg);
        for (unsigned i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
}
