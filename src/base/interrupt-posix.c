/* SPDX-License-Identifier: Apache-2.0 */
/* base/interrupt.h on POSIX (base/interrupt-win.c on Windows). */
#include "base/interrupt.h"

#include <unistd.h>

static volatile sig_atomic_t *interrupt_flag, *alarm_flag;

static void on_interrupt(int sig)
{
        *interrupt_flag = sig;
}

static void on_alarm(int sig)
{
        (void) sig;
        *alarm_flag = 1;
}

void cairn_cancel_on_interrupt(volatile sig_atomic_t *flag)
{
        interrupt_flag = flag;
        struct sigaction sa = { .sa_handler = on_interrupt };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

void cairn_cancel_after(unsigned seconds, volatile sig_atomic_t *flag)
{
        alarm_flag = flag;
        struct sigaction sa = { .sa_handler = on_alarm };
        sigaction(SIGALRM, &sa, NULL);
        alarm(seconds);
}
