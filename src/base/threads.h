/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A short burst of work on several threads, all ended before it returns:
 * the sandbox clones, and a process cloned while another thread holds a
 * lock (malloc's) could never take it, so no thread of cairn outlives the
 * call that started it.
 */
#ifndef CAIRN_BASE_THREADS_H
#define CAIRN_BASE_THREADS_H

/* The most threads cairn_run_threads starts. */
#define CAIRN_THREADS_MAX 16

/* Run fn(arg) on n threads at once (at most CAIRN_THREADS_MAX; the calling
 * thread is one of them, and fewer run if the system refuses more) and
 * return when every one has returned.  fn shares out the work itself. */
void cairn_run_threads(unsigned n, void *(*fn)(void *), void *arg);

#endif
