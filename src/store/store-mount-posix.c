/* SPDX-License-Identifier: Apache-2.0 */
/* Mounts for the Linux backends: overlays of many layers, and what a crash
 * left mounted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "store/store-backend.h"

/* Unmount everything mounted below root, deepest first. */
void cairn_store_unmount_below(const char *root)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        char **points = NULL;
        size_t n = 0;
        char *line = NULL;
        size_t cap = 0;
        size_t rlen = strlen(root);
        while (getline(&line, &cap, f) > 0) {
                char mp[4096];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                if (strncmp(mp, root, rlen) == 0 && mp[rlen] == '/') {
                        points = cairn_xreallocarray(points, n + 1, sizeof(*points));
                        points[n++] = cairn_xstrdup(mp);
                }
        }
        free(line);
        fclose(f);
        for (size_t i = n; i-- > 0;) {
                cairn_warn("unmounting \"%s\", left over from an earlier run", points[i]);
                if (umount2(points[i], MNT_DETACH) < 0)
                        cairn_warn("cannot unmount \"%s\": %s", points[i], strerror(errno));
                free(points[i]);
        }
        free(points);
}

/*
 * Mount an overlay at `merged` with `lowers` (top first).  The lower paths go
 * through a directory of short symlinks named by index, and the mount is made
 * with that directory as the working directory, so each layer costs a few
 * bytes of mount data instead of a full path.
 */
/*
 * The overlay through the mount API's file descriptor (Linux 6.8 and
 * later): each lower layer is handed over on its own ("lowerdir+"), so no
 * option string grows with the chain and no names have to be made for the
 * layers.  Returns 0, -EOPNOTSUPP when the kernel has no "lowerdir+" (the
 * caller falls back to the mount(2) string), or another error.
 */
static int mount_overlay_fd(char *const *lowers, size_t n, const char *upper, const char *work, const char *merged,
                            struct cairn_error **err)
{
        static int unsupported;   /* once the kernel said so */
        if (__atomic_load_n(&unsupported, __ATOMIC_RELAXED))
                return -EOPNOTSUPP;
        /* The older way on demand, so that it stays tested on new kernels. */
        const char *how = getenv("CAIRN_OVERLAY_MOUNT");
        if (how && strcmp(how, "string") == 0)
                return -EOPNOTSUPP;
        _cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs < 0) {
                __atomic_store_n(&unsupported, 1, __ATOMIC_RELAXED);
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n; i++) {
                if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0) {
                        if (i == 0 && errno == EINVAL) {
                                __atomic_store_n(&unsupported, 1, __ATOMIC_RELAXED);
                                return -EOPNOTSUPP;
                        }
                        return cairn_error_set_errno(err, errno, "cannot use \"%s\" as an overlay layer", lowers[i]);
                }
        }
        static const char *const off[] = { "index", "redirect_dir", "metacopy" };
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(off); i++)
                if (fsconfig(fs, FSCONFIG_SET_STRING, off[i], "off", 0) < 0)
                        return cairn_error_set_errno(err, errno, "cannot set the overlay's %s option", off[i]);
        if (upper && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
                      fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0))
                return cairn_error_set_errno(err, errno, "cannot use \"%s\" as the overlay's upper directory", upper);
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return cairn_error_set_errno(err, errno, "cannot mount an overlay of %zu layers on \"%s\"", n, merged);
        _cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
        if (mnt < 0 || move_mount(mnt, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return cairn_error_set_errno(err, errno, "cannot mount an overlay of %zu layers on \"%s\"", n, merged);
        return 0;
}

int cairn_store_mount_overlay(const char *linkdir, char *const *lowers, size_t n, const char *upper, const char *work,
                         const char *merged, struct cairn_error **err)
{
        if (n > CAIRN_OVERLAY_MAX_LAYERS)
                return cairn_error_set(err, -E2BIG, "%zu layers: overlayfs stacks at most %d", n, CAIRN_OVERLAY_MAX_LAYERS);
        int r = mount_overlay_fd(lowers, n, upper, work, merged, err);
        if (r != -EOPNOTSUPP)
                return r;
        /* Older kernels: one mount(2) string, which must fit in a page, so
         * the layers are named through short symlinks in linkdir. */
        r = cairn_mkdir_p(linkdir, 0700, err);
        if (r < 0)
                return r;
        struct cairn_buf opts = CAIRN_BUF_INIT;
        cairn_buf_adds(&opts, "lowerdir=");
        for (size_t i = 0; i < n; i++) {
                char name[16];
                snprintf(name, sizeof(name), "%zx", i);
                _cleanup_free_ char *link = cairn_xasprintf("%s/%s", linkdir, name);
                if (symlink(lowers[i], link) < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot create \"%s\"", link);
                        goto out;
                }
                cairn_buf_printf(&opts, "%s%s", i ? ":" : "", name);
        }
        if (upper)
                cairn_buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
        cairn_buf_adds(&opts, ",index=off,redirect_dir=off,metacopy=off");
        if (opts.len >= 4096) {
                r = cairn_error_set(err, -E2BIG, "overlay mount options too long (%zu bytes)", opts.len);
                goto out;
        }
        int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cwd < 0 || chdir(linkdir) < 0) {
                r = cairn_error_set_errno(err, errno, "cannot enter \"%s\"", linkdir);
                if (cwd >= 0)
                        close(cwd);
                goto out;
        }
        if (mount("overlay", merged, "overlay", upper ? 0 : MS_RDONLY, opts.data) < 0)
                r = cairn_error_set_errno(err, errno, "cannot mount an overlay of %zu layers on \"%s\"", n, merged);
        if (fchdir(cwd) < 0)
                cairn_warn("cannot return to the working directory: %s", strerror(errno));
        close(cwd);
out:
        cairn_buf_release(&opts);
        struct cairn_error *ignored = NULL;
        cairn_rm_rf(linkdir, &ignored);
        cairn_error_free(ignored);
        return r;
}

