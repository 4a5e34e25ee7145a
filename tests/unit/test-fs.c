/* SPDX-License-Identifier: Apache-2.0 */
/* base/fs.h's host-side helpers, natively and (built for Windows) under
 * wine: mkdir -p, writing, disk use, free space, times, rm -rf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/compat.h"
#include "base/fs.h"
#include "tap.h"

int main(void)
{
        char dir[] = "cairn-test-fs-XXXXXX";
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        struct cairn_error *err = NULL;
        char *deep = cairn_path_join(dir, "a");
        char *deeper = cairn_path_join(deep, "b");
        char *file = cairn_path_join(deeper, "f");
        ok(cairn_mkdir_p(deeper, 0755, &err) == 0, "mkdir -p");
        ok(cairn_mkdir_p(deeper, 0755, &err) == 0, "again: an existing directory is fine");
        static char data[100000];
        memset(data, 'x', sizeof(data));
        ok(cairn_write_file(file, data, sizeof(data), 0644, &err) == 0, "write a 100 kB file");
        unsigned long long used = cairn_disk_usage(dir);
        ok(used >= sizeof(data) && used < 10 * sizeof(data), "disk use counts it (%llu bytes)", used);
        unsigned long long avail = 0, total = 0;
        ok(cairn_fs_space(dir, &avail, &total) == 0 && total > 0 && avail <= total, "free space of the filesystem");
        struct timespec t;
        ok(cairn_file_mtime(file, &t) == 0 && (long long) (time(NULL) - t.tv_sec) < 60 &&
                   (long long) (t.tv_sec - time(NULL)) < 60,
           "a new file's modification time is now");
        ok(cairn_file_mtime("no-such-file-here", &t) < 0, "a missing file has none");
        ok(cairn_fs_sync(dir) == 0 && cairn_fs_sync_dir(deep) == 0, "flushing a filesystem and a directory");
        ok(cairn_remove_contents(dir, &err) == 0, "emptying a directory");
        ok(cairn_disk_usage(dir) == 0 && cairn_file_mtime(file, &t) < 0, "leaves nothing inside it");
        ok(cairn_mkdir_p(deep, 0755, &err) == 0, "but keeps it");
        ok(cairn_rm_rf(dir, &err) == 0, "rm -rf");
        ok(cairn_disk_usage(dir) == 0 && cairn_rm_rf(dir, &err) == 0, "it is gone, and removing it again is fine");
        if (err)
                tap_diag("%s", err->message);
        cairn_error_free(err);
        free(deep);
        free(deeper);
        free(file);
        return tap_done();
}
