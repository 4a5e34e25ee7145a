/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File locks between processes, for POSIX and Windows alike.  A lock
 * belongs to the open file (the fd), not the process: two opens of one
 * file conflict even within one process, as between two processes.  A
 * file is locked either whole (cairn_lock_file) or byte by byte
 * (cairn_lock_byte), not both ways.
 *
 * POSIX: open-file-description locks (F_OFD_SETLK) and flock.  Windows:
 * LockFileEx on the fd's handle; there a change of kind is an unlock then a
 * lock, not atomic.
 */
#ifndef CAIRN_BASE_LOCK_H
#define CAIRN_BASE_LOCK_H

#include <stdbool.h>
#include <stdint.h>

enum cairn_lock_kind {
        CAIRN_UNLOCK,
        CAIRN_LOCK_SHARED,
        CAIRN_LOCK_EXCLUSIVE,
};

/* Lock (or unlock) byte `offset` of fd.  wait: block until granted.
 * Returns 0, -EAGAIN when another open file holds it (without wait), or
 * another negative errno. */
int cairn_lock_byte(int fd, uint64_t offset, enum cairn_lock_kind kind, bool wait);

/* The whole file, likewise; a new kind replaces the one held. */
int cairn_lock_file(int fd, enum cairn_lock_kind kind, bool wait);

#endif
