/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning the user's interruptions and time limits into a cancel flag (the
 * engine's `cancel`), for POSIX and Windows alike.  Only one flag of each
 * kind per process.
 */
#ifndef CAIRN_BASE_INTERRUPT_H
#define CAIRN_BASE_INTERRUPT_H

#include <signal.h>

/* On SIGINT or SIGTERM (Windows: Ctrl-C, Ctrl-Break, closing the console),
 * set *flag to that signal's number (SIGINT or SIGTERM). */
void cairn_cancel_on_interrupt(volatile sig_atomic_t *flag);

/* After seconds, set *flag to 1 (SIGALRM on POSIX, a timer thread on
 * Windows). */
void cairn_cancel_after(unsigned seconds, volatile sig_atomic_t *flag);

#endif
