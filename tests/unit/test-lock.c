/* SPDX-License-Identifier: Apache-2.0 */
/* base/lock.h: locks between open files, natively and (built for Windows)
 * under wine. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/fs.h"
#include "base/lock.h"
#include "tap.h"

int main(void)
{
        char dir[] = "cairn-test-lock-XXXXXX";
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        char *path = cairn_path_join(dir, "lock");
        int a = open(path, O_RDWR | O_CREAT | CAIRN_O_BINARY, 0600);
        int b = open(path, O_RDWR | CAIRN_O_BINARY);
        ok(a >= 0 && b >= 0, "one file opened twice");

        is_int(cairn_lock_byte(a, 5, CAIRN_LOCK_EXCLUSIVE, false), 0, "an exclusive lock on a byte");
        is_int(cairn_lock_byte(b, 5, CAIRN_LOCK_EXCLUSIVE, false), -EAGAIN, "the other open file cannot take it");
        is_int(cairn_lock_byte(b, 5, CAIRN_LOCK_SHARED, false), -EAGAIN, "nor share it");
        is_int(cairn_lock_byte(b, 6, CAIRN_LOCK_EXCLUSIVE, false), 0, "another byte is free");
        is_int(cairn_lock_byte(a, 5, CAIRN_UNLOCK, false), 0, "unlock");
        is_int(cairn_lock_byte(b, 5, CAIRN_LOCK_SHARED, false), 0, "then the other can share it");
        is_int(cairn_lock_byte(a, 5, CAIRN_LOCK_SHARED, false), 0, "with the first");
        is_int(cairn_lock_byte(a, 6, CAIRN_LOCK_SHARED, false), -EAGAIN, "a shared lock waits for an exclusive one");
        uint64_t far = 0x0fffffffffffffffULL;
        is_int(cairn_lock_byte(a, far, CAIRN_LOCK_EXCLUSIVE, false), 0, "a byte 2^60 into the file (a step ID's prefix)");
        is_int(cairn_lock_byte(b, far, CAIRN_LOCK_EXCLUSIVE, false), -EAGAIN, "is locked as well");
        cairn_lock_byte(a, 5, CAIRN_UNLOCK, false);
        cairn_lock_byte(b, 5, CAIRN_UNLOCK, false);
        cairn_lock_byte(b, 6, CAIRN_UNLOCK, false);
        cairn_lock_byte(a, far, CAIRN_UNLOCK, false);

        char *whole = cairn_path_join(dir, "store-lock");
        int c = open(whole, O_RDWR | O_CREAT | CAIRN_O_BINARY, 0600);
        int d = open(whole, O_RDWR | CAIRN_O_BINARY);
        is_int(cairn_lock_file(c, CAIRN_LOCK_EXCLUSIVE, false), 0, "a whole file, exclusively");
        is_int(cairn_lock_file(d, CAIRN_LOCK_SHARED, false), -EAGAIN, "keeps others out");
        is_int(cairn_lock_file(c, CAIRN_LOCK_SHARED, false), 0, "turned into a shared lock");
        is_int(cairn_lock_file(d, CAIRN_LOCK_SHARED, false), 0, "others may share it");
        is_int(cairn_lock_file(c, CAIRN_LOCK_EXCLUSIVE, false), -EAGAIN, "and then nobody takes it exclusively");
        is_int(cairn_lock_file(d, CAIRN_UNLOCK, false), 0, "until they let go");
        is_int(cairn_lock_file(c, CAIRN_LOCK_EXCLUSIVE, false), 0, "after which it can");
        close(a);
        close(b);
        close(c);
        close(d);
        struct cairn_error *err = NULL;
        if (cairn_rm_rf(dir, &err) < 0) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
        }
        free(path);
        free(whole);
        return tap_done();
}
