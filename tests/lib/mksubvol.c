/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run inside a step (statically linked, so any root can run it): make each
 * argument, a path in a btrfs directory, an empty subvolume, as `btrfs
 * subvolume create` would.  The btrfs store's tests use it to leave
 * subvolumes nested in a step's result and caches.
 */
#include <fcntl.h>
#include <libgen.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                char dir[4096], base[4096];
                snprintf(dir, sizeof(dir), "%s", argv[i]);
                snprintf(base, sizeof(base), "%s", argv[i]);
                int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
                struct btrfs_ioctl_vol_args args = { 0 };
                snprintf(args.name, sizeof(args.name), "%s", basename(base));
                if (fd < 0 || ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                close(fd);
        }
        return 0;
}
