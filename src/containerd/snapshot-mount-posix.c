/* SPDX-License-Identifier: Apache-2.0 */
/* Mounting containerd's snapshots on Linux (containerd/snapshot-mount-win.c
 * on Windows, where the shim mounts them). */
#include "containerd/snapshot-mount.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "store/store-backend.h"

/* Unmount rootfs if something is mounted there. */
void cairn_snapshot_unmount_quiet(const char *rootfs)
{
        if (umount2(rootfs, 0) < 0 && errno != EINVAL && errno != ENOENT && umount2(rootfs, MNT_DETACH) < 0 &&
            errno != EINVAL)
                cairn_warn("cannot unmount \"%s\": %s", rootfs, strerror(errno));
}

/* Mount what `ctr snapshot prepare --mounts` returned at target (Linux). */
int cairn_snapshot_mount(const struct cairn_ctr_mount *m, size_t n, const char *linkdir, const char *target,
                          struct cairn_error **err)
{
        if (n != 1)
                return cairn_error_set(err, -EINVAL, "snapshot mounts: expected one mount, got %zu", n);
        if (strcmp(m->type, "bind") == 0) {
                unsigned long flags = MS_BIND | MS_REC;
                for (char **o = m->options; *o; o++)
                        if (strcmp(*o, "ro") == 0)
                                flags |= MS_RDONLY;
                if (mount(m->source, target, NULL, flags, NULL) < 0)
                        return cairn_error_set_errno(err, errno, "cannot bind \"%s\" on \"%s\"", m->source, target);
                return 0;
        }
        if (strcmp(m->type, "overlay") != 0)
                return cairn_error_set(err, -EINVAL, "snapshot mounts: cannot mount type \"%s\" on Linux", m->type);
        const char *lower = cairn_ctr_mount_option(m, "lowerdir");
        const char *upper = cairn_ctr_mount_option(m, "upperdir");
        const char *work = cairn_ctr_mount_option(m, "workdir");
        if (!lower)
                return cairn_error_set(err, -EINVAL, "snapshot mounts: an overlay without lowerdir");
        char **lowers = NULL;
        size_t nl = 0;
        _cleanup_free_ char *copy = cairn_xstrdup(lower);
        char *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
                lowers = cairn_xreallocarray(lowers, nl + 1, sizeof(char *));
                lowers[nl++] = p;
        }
        /* containerd's own absolute lowerdirs pass the one page of mount
         * data at about 50 layers; the store's helper names them through
         * short relative links instead. */
        int r = cairn_store_mount_overlay(linkdir, lowers, nl, upper, upper ? work : NULL, target, err);
        free(lowers);
        return r;
}


int cairn_snapshot_unmount(const char *target)
{
        if (umount2(target, 0) < 0 && umount2(target, MNT_DETACH) < 0)
                return -errno;
        return 0;
}
